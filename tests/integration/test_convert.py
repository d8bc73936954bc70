"""`cloister image convert`: a local OCI image in, the same image plus cloister-init and its
manifest out (issue 5).

    cloister image convert --input oci:DIR[:TAG] --output oci:DIR[:TAG] --app-config APP.json
                           [--signer-key PEM] [--init PATH_TO_cloister-init]

Inputs are built by oci_fixtures.py (standard library only). Results are judged by tools that
share no code with the converter: skopeo and umoci read and unpack the output the way a
registry and a container runtime would, cloister-manifest scans the unpacked root file system
(the tree the converter computed from the layers must be the tree a runtime really unpacks),
Python `cryptography` computes the signer.

umoci 0.4 reads neither zstd layers nor image indexes, so unpack() goes through a gzip-only,
single-platform copy made by skopeo first; the Docker-typed case (gzip only) is also unpacked by
umoci directly. umoci must run as root to keep the owners the tree check compares.

The first tests check the fixtures themselves with skopeo and umoci, without the converter, so
that a broken fixture is not mistaken for a broken converter.
"""

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import cloister_testlib as lib
import oci_fixtures as fx
# cloister-init and cloister-manifest are located (and their absence reported) by test_init.py.
from test_init import INIT_BIN, MANIFEST_BIN, binaries, check_sanitizers

RUN_TIMEOUT = 120
HEX64 = re.compile(r"[0-9a-f]{64}")

APP = {
    "isvprodid": 1, "isvsvn": 1, "mem_size": 1 << 30, "threads": 128,
    "advanced_settings": {"certificate": {
        "subject": lib.REFERENCE_DOMAIN, "key_type": "RSA", "key_param": {"size": 2048},
        "key_path": "/appkey.pem", "cert_path": "/appcert.pem"}},
}
VALUE_NAMES = {"mrenclave", "mrsigner", "manifest_digest", "tree_digest", "isvprodid", "isvsvn",
               "image_digest"}
INIT_PATH = "/.cloister/cloister-init"
CLOISTER_LAYER = {  # member (normalised) -> (type, mode)
    ".cloister": (tarfile.DIRTYPE, 0o755),
    ".cloister/cloister-init": (tarfile.REGTYPE, 0o755),
    ".cloister/manifest.json": (tarfile.REGTYPE, 0o644),
}

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci not installed")


# --------------------------------------------------------------------------------------------
# running things


def run(cmd, timeout=RUN_TIMEOUT):
    """Runs a helper tool that must succeed; its output is in the assertion if it does not."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stderr}"
    return p.stdout


def convert(src, dst, app, *extra, init=INIT_BIN):
    """Runs the converter; returns the CompletedProcess whatever it did."""
    assert lib.CLI_BIN.exists(), f"CLI binary not found: {lib.CLI_BIN} (set CLOISTER_BUILD_DIR)"
    binaries()
    cmd = [lib.CLI_BIN, "image", "convert", "--input", src, "--output", dst,
           "--app-config", app, "--init", init, *extra]
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    check_sanitizers(p.stderr)
    return p


def parse_values(stdout):
    """The `name value` lines; anything else on stdout (progress) is a failure."""
    values = {}
    for line in stdout.splitlines():
        name, sep, value = line.partition(" ")
        assert sep and name not in values, f"not a `name value` line on stdout: {line!r}"
        values[name] = value
    assert set(values) == VALUE_NAMES, stdout
    for name in ("mrenclave", "mrsigner", "manifest_digest", "tree_digest"):
        assert HEX64.fullmatch(values[name]), f"{name}: {values[name]!r}"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", values["image_digest"]), values["image_digest"]
    return values


def converted(src, dst, app, *extra, init=INIT_BIN):
    """Converts and insists on success; returns the printed values."""
    p = convert(src, dst, app, *extra, init=init)
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return parse_values(p.stdout)


def skopeo_inspect(ref, *flags):
    return json.loads(run(["skopeo", "inspect", *flags, ref]))


def unpack(layout_dir, tag, dest):
    """What a runtime would unpack: skopeo copies the image to a gzip-only single-platform
    (linux/amd64) layout, which umoci 0.4 can read, and umoci unpacks it. Returns the rootfs."""
    dest.mkdir(parents=True, exist_ok=True)
    flat = dest / "flat-layout"
    run(["skopeo", "copy", "--insecure-policy", "--override-os", "linux", "--override-arch",
         "amd64", "--dest-compress", "--dest-compress-format", "gzip",
         f"oci:{layout_dir}:{tag}", f"oci:{flat}:{tag}"])
    return umoci_unpack(flat, tag, dest / "bundle")


def umoci_unpack(layout_dir, tag, bundle):
    run(["umoci", "unpack", "--image", f"{layout_dir}:{tag}", bundle])
    return bundle / "rootfs"


def member_name(name):
    """`./.cloister/`, `/.cloister` and `.cloister` all name the same member."""
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def cloister_layer(layout, tag="latest"):
    """{member: (TarInfo, content)} of the output's last layer, the one the converter adds."""
    _, manifest = layout.manifest(tag)
    desc = manifest["layers"][-1]
    assert desc["mediaType"] == fx.OCI_LAYER["gzip"], desc
    blob = layout.blob(desc["digest"])
    assert blob[:2] == b"\x1f\x8b", "the cloister layer is not gzip"
    out = {}
    with tarfile.open(fileobj=io.BytesIO(fx.decompress(blob))) as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isreg() else b""
            assert member_name(m.name) not in out, f"{m.name} twice in the cloister layer"
            out[member_name(m.name)] = (m, data)
    return out


def image_manifest(layout, tag="latest"):
    """The /.cloister/manifest.json the converter put in the image."""
    return json.loads(cloister_layer(layout, tag)[".cloister/manifest.json"][1])


def entries_by_path(manifest):
    return {e["path"]: e for e in manifest["tree"]["entries"]}


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# module fixtures: each input is built and converted once


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("convert")


@pytest.fixture(scope="module")
def app_json(work):
    path = work / "app.json"
    path.write_text(json.dumps(APP))
    return path


@pytest.fixture(scope="module")
def rich_in(work):
    return fx.rich_image(work / "rich-in")


@pytest.fixture(scope="module")
def rich_out(work, rich_in, app_json):
    """The rich image converted with the default tags (`oci:DIR` both ways means :latest)."""
    out = work / "rich-out"
    values = converted(f"oci:{rich_in.path}", f"oci:{out}", app_json)
    return {"values": values, "layout": fx.OciLayout(out)}


@pytest.fixture(scope="module")
def rich_rootfs(work, rich_out):
    return unpack(rich_out["layout"].path, "latest", work / "rich-unpacked")


@pytest.fixture(scope="module")
def kept_output(work, app_json):
    """An output layout that already holds a converted image tagged `keep`: refused
    conversions into it must leave it exactly as it is."""
    src = fx.tiny_image(work / "tiny-in")
    out = work / "kept-out"
    converted(f"oci:{src.path}:latest", f"oci:{out}:keep", app_json)
    return out


# --------------------------------------------------------------------------------------------
# the fixtures, checked without the converter


@needs_skopeo
@needs_umoci
def test_fixture_rich_image_unpacks_as_intended(tmp_path, rich_in):
    info = skopeo_inspect(f"oci:{rich_in.path}:latest")
    assert info["Labels"] == {"org.example.team": "blue"}
    assert len(info["Layers"]) == 3
    root = unpack(rich_in.path, "latest", tmp_path)
    check_rich_rootfs(root)


def check_rich_rootfs(root):
    """What the three rich layers make once a runtime applied them."""
    for path in fx.RICH_GONE:
        assert not (root / path.lstrip("/")).exists(), f"{path} should be gone"
    for path in fx.RICH_PRESENT:
        assert (root / path.lstrip("/")).exists(), f"{path} missing"
    assert sorted(p.name for p in (root / "opt/data").iterdir()) == ["new"]
    assert (root / "etc/motd").read_bytes() == fx.MOTD_NEW
    tool, tool2 = (root / "usr/bin/tool").stat(), (root / "usr/bin/tool2").stat()
    assert tool.st_mode & 0o7777 == 0o4755
    assert (tool2.st_ino, tool2.st_mode) == (tool.st_ino, tool.st_mode)
    assert (root / "usr/lib/libx.so").readlink() == Path("libx.so.1")
    assert (root / "usr/bin/python").readlink() == Path("/usr/bin/tool")
    home = (root / "home/app").stat()
    assert (home.st_uid, home.st_gid, home.st_mode & 0o7777) == (1000, 1000, 0o700)
    assert (root / fx.UTF8_NAME.lstrip("/")).read_bytes() == fx.UTF8_DATA


@needs_skopeo
@needs_umoci
def test_fixture_docker_media_types(tmp_path):
    """skopeo 1.9 ignores Docker-typed descriptors in an OCI index.json (docker save writes
    them), so the blobs are checked through skopeo's `dir:` transport instead."""
    layout = fx.rich_image(tmp_path / "in", compression="gzip", docker_media_types=True)
    desc, manifest = layout.manifest()
    assert desc["mediaType"] == manifest["mediaType"] == fx.DOCKER_MANIFEST
    as_dir = tmp_path / "dir"
    as_dir.mkdir()
    (as_dir / "version").write_text("Directory Transport Version: 1.1\n")
    (as_dir / "manifest.json").write_bytes(layout.blob(desc["digest"]))
    for d in [manifest["config"], *manifest["layers"]]:
        shutil.copy(layout.blob_path(d["digest"]), as_dir / d["digest"].split(":")[1])
    assert skopeo_inspect(f"dir:{as_dir}")["Labels"] == {"org.example.team": "blue"}
    run(["skopeo", "copy", "--insecure-policy", f"dir:{as_dir}", f"oci:{tmp_path / 'oci'}:x"])
    check_rich_rootfs(umoci_unpack(tmp_path / "oci", "x", tmp_path / "bundle"))


@needs_skopeo
@needs_umoci
def test_fixture_image_index(tmp_path):
    layout = multi_arch_image(tmp_path / "in")
    assert layout.descriptor()["mediaType"] == fx.OCI_INDEX
    info = skopeo_inspect(f"oci:{layout.path}:latest", "--override-arch", "arm64")
    assert info["Architecture"] == "arm64"
    root = unpack(layout.path, "latest", tmp_path / "amd64")
    assert (root / "bin/marker").read_bytes() == b"marker amd64\n"


@needs_umoci
def test_fixture_tampered_diff_id_is_caught_by_umoci(tmp_path):
    layout = fx.tiny_image(tmp_path / "in")
    layout.rewrite_config(tamper_diff_id)
    p = subprocess.run(["umoci", "unpack", "--image", f"{layout.path}:latest",
                        str(tmp_path / "bundle")], capture_output=True, text=True)
    assert p.returncode != 0 and "diffid mismatch" in p.stderr, p.stderr


# --------------------------------------------------------------------------------------------
# a. the rich image


def test_printed_values(rich_out):
    values, layout = rich_out["values"], rich_out["layout"]
    assert values["isvprodid"] == "1" and values["isvsvn"] == "1"
    desc = layout.descriptor("latest")
    assert desc["mediaType"] == fx.OCI_MANIFEST
    assert values["image_digest"] == desc["digest"]
    assert layout.tags() == ["latest"]


@needs_skopeo
def test_output_config(rich_out, rich_in):
    values, ref = rich_out["values"], f"oci:{rich_out['layout'].path}:latest"
    info = skopeo_inspect(ref)
    assert info["Digest"] == values["image_digest"]
    assert info["Labels"] == {"org.example.team": "blue",
                              "dev.cloister.mrenclave": values["mrenclave"],
                              "dev.cloister.mrsigner": values["mrsigner"]}
    config = skopeo_inspect(ref, "--config")
    c = config["config"]
    assert c["Entrypoint"] == [INIT_PATH]
    assert c.get("Cmd") is None
    for key in ("Env", "WorkingDir", "ExposedPorts"):
        assert c[key] == fx.RICH_CONFIG[key], key
    # cloister-init starts as root and runs the entrypoint as the image's user (the manifest's).
    assert not c.get("User")
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    new_layer = rich_out["layout"].manifest()[1]["layers"][-1]
    new_diff_id = "sha256:" + sha256_hex(rich_out["layout"].layer_tar(new_layer))
    assert config["rootfs"]["diff_ids"] == rich_in.config()["rootfs"]["diff_ids"] + [new_diff_id]


def test_input_layers_kept_and_one_layer_added(rich_out, rich_in):
    _, out_manifest = rich_out["layout"].manifest()
    _, in_manifest = rich_in.manifest()
    assert out_manifest["mediaType"] == fx.OCI_MANIFEST
    assert out_manifest["config"]["mediaType"] == fx.OCI_CONFIG
    assert out_manifest["layers"][:-1] == in_manifest["layers"]
    assert len(out_manifest["layers"]) == len(in_manifest["layers"]) + 1


def test_cloister_layer_contents(rich_out):
    members = cloister_layer(rich_out["layout"])
    assert set(members) == set(CLOISTER_LAYER)
    for name, (kind, mode) in CLOISTER_LAYER.items():
        info, _ = members[name]
        assert (info.type, info.mode) == (kind, mode), name
    assert members[".cloister/cloister-init"][1] == INIT_BIN.read_bytes()


def test_manifest_matches_printed_values(tmp_path, rich_out):
    """The manifest in the image is the one measured: cloister-manifest measure agrees."""
    values = rich_out["values"]
    raw = cloister_layer(rich_out["layout"])[".cloister/manifest.json"][1]
    manifest = json.loads(raw)
    assert manifest["tree"]["digest"] == values["tree_digest"]
    assert manifest["signer"] == values["mrsigner"]
    path = tmp_path / "manifest.json"
    path.write_bytes(raw)
    measured = dict(line.split(" ", 1) for line in
                    run([MANIFEST_BIN, "measure", "--manifest", path, "--init", INIT_BIN])
                    .splitlines())
    assert measured["mrenclave"] == values["mrenclave"]


def test_manifest_image_section_from_input_config(rich_out):
    c = fx.RICH_CONFIG
    assert image_manifest(rich_out["layout"])["image"] == {
        "entrypoint": c["Entrypoint"], "cmd": c["Cmd"], "env": c["Env"],
        "workdir": c["WorkingDir"], "user": c["User"]}


def test_manifest_tree_is_flattened(rich_out):
    """Whiteouts and the opaque directory applied, the hard link a file with its target's
    content and mode, symlinks hashed by target, no marker file left, /.cloister left out."""
    entries = entries_by_path(image_manifest(rich_out["layout"]))
    for path in fx.RICH_GONE:
        assert path not in entries, path
    for path in fx.RICH_PRESENT:
        assert path in entries, path
    assert not [p for p in entries if ".wh." in p or p.startswith("/.cloister")]
    tool = {"type": "file", "mode": 0o4755, "uid": 0, "gid": 0, "size": len(fx.TOOL_BINARY),
            "sha256": sha256_hex(fx.TOOL_BINARY)}
    assert entries["/usr/bin/tool"] == {"path": "/usr/bin/tool", **tool}
    assert entries["/usr/bin/tool2"] == {"path": "/usr/bin/tool2", **tool}
    assert entries["/usr/lib/libx.so"]["sha256"] == sha256_hex(b"libx.so.1")
    assert entries["/usr/bin/python"]["sha256"] == sha256_hex(b"/usr/bin/tool")
    assert entries["/etc/motd"]["sha256"] == sha256_hex(fx.MOTD_NEW)
    assert (entries["/home/app"]["uid"], entries["/home/app"]["mode"]) == (1000, 0o700)
    assert entries[fx.UTF8_NAME]["sha256"] == sha256_hex(fx.UTF8_DATA)


@needs_skopeo
@needs_umoci
def test_unpacked_output(rich_rootfs):
    check_rich_rootfs(rich_rootfs)
    init = rich_rootfs / INIT_PATH.lstrip("/")
    assert init.read_bytes() == INIT_BIN.read_bytes()
    assert init.stat().st_mode & 0o7777 == 0o755
    assert (rich_rootfs / ".cloister").stat().st_mode & 0o7777 == 0o755
    json.loads((rich_rootfs / ".cloister/manifest.json").read_text())


# --------------------------------------------------------------------------------------------
# b. the tree the converter computed is the tree a runtime unpacks


@needs_skopeo
@needs_umoci
def test_tree_matches_a_scan_of_the_unpacked_image(tmp_path, rich_out, rich_rootfs):
    manifest = json.loads((rich_rootfs / ".cloister/manifest.json").read_text())
    config = tmp_path / "app-with-image.json"
    config.write_text(json.dumps({**APP, "image": manifest["image"]}))
    out = tmp_path / "scan.json"
    scanned = dict(line.split(" ", 1) for line in
                   run([MANIFEST_BIN, "create", "--rootfs", rich_rootfs, "--config", config,
                        "--init", INIT_BIN, "-o", out]).splitlines())
    # Entries first: a difference shows up as a readable diff, not as two digests.
    assert json.loads(out.read_text())["tree"]["entries"] == manifest["tree"]["entries"]
    values = rich_out["values"]
    for name in ("tree_digest", "manifest_digest", "mrenclave"):
        assert scanned[name] == values[name], name


# --------------------------------------------------------------------------------------------
# c. determinism


def test_same_input_same_output(tmp_path, rich_in, rich_out, app_json):
    first = converted(f"oci:{rich_in.path}:latest", f"oci:{tmp_path / 'a'}:latest", app_json)
    second = converted(f"oci:{rich_in.path}:latest", f"oci:{tmp_path / 'b'}:latest", app_json)
    assert first == second == rich_out["values"]
    assert fx.OciLayout(tmp_path / "a").files() == fx.OciLayout(tmp_path / "b").files()
    # The input layout was only read: it is still what the fixture writes.
    assert rich_in.files() == fx.rich_image(tmp_path / "again").files()


def test_existing_output_layout_keeps_other_tags(tmp_path, rich_in, app_json):
    out = fx.OciLayout(tmp_path / "out")
    tiny = fx.tiny_image(tmp_path / "tiny")
    converted(f"oci:{tiny.path}", f"oci:{out.path}:one", app_json)
    one = out.descriptor("one")
    values = converted(f"oci:{rich_in.path}", f"oci:{out.path}:two", app_json)
    assert sorted(out.tags()) == ["one", "two"]
    assert out.descriptor("one") == one
    assert out.descriptor("two")["digest"] == values["image_digest"]


# --------------------------------------------------------------------------------------------
# d. Docker media types and image indexes


def multi_arch_image(path):
    """An index listing linux/arm64 first, then linux/amd64: two tiny images that differ."""
    arm64 = ("linux/arm64", fx.tiny_layers("arm64"), fx.tiny_config("arm64"))
    return fx.write_layout(path, fx.tiny_layers("amd64"), fx.tiny_config("amd64"),
                           index_platforms=[arm64, "linux/amd64"])


@needs_umoci
def test_docker_media_types_in_oci_out(tmp_path, rich_out, app_json):
    src = fx.rich_image(tmp_path / "in", compression="gzip", docker_media_types=True)
    out = fx.OciLayout(tmp_path / "out")
    values = converted(f"oci:{src.path}", f"oci:{out.path}", app_json)
    desc, manifest = out.manifest()
    assert desc["mediaType"] == manifest["mediaType"] == fx.OCI_MANIFEST
    assert manifest["config"]["mediaType"] == fx.OCI_CONFIG
    in_layers = src.manifest()[1]["layers"]
    assert [(d["mediaType"], d["digest"], d["size"]) for d in manifest["layers"][:-1]] == \
        [(fx.OCI_LAYER["gzip"], d["digest"], d["size"]) for d in in_layers]
    # Same files and settings as the OCI-typed rich image, so the same measurement.
    for name in ("tree_digest", "manifest_digest", "mrenclave"):
        assert values[name] == rich_out["values"][name], name
    # All gzip: umoci reads this output directly.
    check_rich_rootfs(umoci_unpack(out.path, "latest", tmp_path / "bundle"))


def test_image_index_picks_linux_amd64(tmp_path, app_json):
    src = multi_arch_image(tmp_path / "in")
    out = fx.OciLayout(tmp_path / "out")
    converted(f"oci:{src.path}", f"oci:{out.path}", app_json)
    manifest = image_manifest(out)
    marker = entries_by_path(manifest)["/bin/marker"]
    assert marker["sha256"] == sha256_hex(b"marker amd64\n")
    assert manifest["image"]["cmd"] == ["amd64"]
    amd64_layers = src.manifest(platform="linux/amd64")[1]["layers"]
    assert out.manifest()[1]["layers"][:-1] == amd64_layers
    assert out.descriptor()["mediaType"] == fx.OCI_MANIFEST
    assert out.config()["architecture"] == "amd64"


def test_devices_under_dev_are_left_out(tmp_path, app_json):
    """/dev is in the default skip list: a device there is not refused, and not recorded."""
    devs = [fx.dir("/dev"), fx.device("/dev/null"), fx.device("/dev/tty", 5, 0)]
    src = fx.tiny_image(tmp_path / "in", extra_layers=[devs])
    out = fx.OciLayout(tmp_path / "out")
    converted(f"oci:{src.path}", f"oci:{out.path}", app_json)
    paths = entries_by_path(image_manifest(out))
    assert not [p for p in paths if p == "/dev" or p.startswith("/dev/")]


# --------------------------------------------------------------------------------------------
# e. refusals


def tamper_diff_id(config):
    config["rootfs"]["diff_ids"][0] = "sha256:" + sha256_hex(b"not the layer")


def escape_case(d):
    fx.tiny_image(d, extra_layers=[[fx.raw("../escape", b"out of the root\n")]])
    return f"oci:{d}", ["../escape"]


def below_symlink_case(d):
    fx.tiny_image(d, extra_layers=[[fx.symlink("/etc2", "/etc")],
                                   [fx.file("/etc2/passwd", b"evil:x:0:0::/:/bin/sh\n")]])
    return f"oci:{d}", ["etc2", "symlink"]


def device_case(d):
    fx.tiny_image(d, extra_layers=[[fx.dir("/opt"), fx.device("/opt/tty", 5, 0)]])
    return f"oci:{d}", ["opt/tty", "device"]


def fifo_case(d):
    fx.tiny_image(d, extra_layers=[[fx.dir("/opt"), fx.fifo("/opt/pipe")]])
    return f"oci:{d}", ["opt/pipe"]


def dangling_hardlink_case(d):
    fx.tiny_image(d, extra_layers=[[fx.hardlink("/bin/dangling", "bin/nowhere")]])
    return f"oci:{d}", [("dangling", "nowhere"), "link"]


def corrupt_blob_case(d):
    """One byte of the gzip header's MTIME field: the stream still decompresses to the very
    same tar, so only the blob digest can tell."""
    layout = fx.tiny_image(d)
    layout.flip_blob_byte(layout.manifest()[1]["layers"][0]["digest"], 4)
    return f"oci:{d}", ["digest"]


def diff_id_case(d):
    """Config, manifest and tag rewritten consistently: only the diff_id is wrong."""
    fx.tiny_image(d).rewrite_config(tamper_diff_id)
    return f"oci:{d}", [("diff_id", "diffid", "diff id", "digest")]


def missing_tag_case(d):
    fx.tiny_image(d)
    return f"oci:{d}:nosuchtag", ["nosuchtag"]


def missing_input_case(d):
    return f"oci:{d}/does-not-exist", ["does-not-exist"]


REFUSALS = [escape_case, below_symlink_case, device_case, fifo_case, dangling_hardlink_case,
            corrupt_blob_case, diff_id_case, missing_tag_case, missing_input_case]


def error_line(stderr, expected):
    """The `error:` line that names the problem: it contains every expected item (a tuple is
    a choice of spellings), compared without case."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert lines, f"no `error:` line on stderr:\n{stderr}"

    def names_it(line):
        low = line.lower()
        return all(any(s.lower() in low for s in (item if isinstance(item, tuple) else (item,)))
                   for item in expected)
    found = [line for line in lines if names_it(line)]
    assert found, f"no error line mentions {expected}:\n{stderr}"
    return found[0]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.__name__.removesuffix("_case"))
def test_refused(case, tmp_path, kept_output, app_json):
    out = tmp_path / "out"
    shutil.copytree(kept_output, out)
    before = (out / "index.json").read_bytes()
    src, expected = case(tmp_path / "in")
    p = convert(src, f"oci:{out}:bad", app_json)
    assert p.returncode == 1, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    error_line(p.stderr, expected)
    assert "image_digest" not in p.stdout
    assert (out / "index.json").read_bytes() == before
    assert fx.OciLayout(out).tags() == ["keep"]


def test_huge_pax_header_handled_cleanly(tmp_path, kept_output, app_json):
    """A pax header over 2 MiB: the contract does not say whether it is refused, only that
    nothing may crash or be half-written, so either outcome is checked for that."""
    out = tmp_path / "out"
    shutil.copytree(kept_output, out)
    before = (out / "index.json").read_bytes()
    src = fx.tiny_image(tmp_path / "in", extra_layers=[[fx.huge_pax("/big")]])
    p = convert(f"oci:{src.path}", f"oci:{out}:big", app_json)
    assert p.returncode in (0, 1), p.stderr
    if p.returncode == 1:
        error_line(p.stderr, [])
        assert (out / "index.json").read_bytes() == before
    else:
        assert "/big" in entries_by_path(image_manifest(fx.OciLayout(out), "big"))


# --------------------------------------------------------------------------------------------
# f. signer key


def test_signer_key_sets_mrsigner(tmp_path, rich_in, rich_out, app_json):
    key = tmp_path / "signer.pem"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", key])
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    spki = private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    out = fx.OciLayout(tmp_path / "out")
    values = converted(f"oci:{rich_in.path}", f"oci:{out.path}", app_json,
                       "--signer-key", key)
    assert values["mrsigner"] == sha256_hex(spki)
    assert image_manifest(out)["signer"] == values["mrsigner"]
    assert out.config()["config"]["Labels"]["dev.cloister.mrsigner"] == values["mrsigner"]
    # The signer is outside the measurement (docs/manifest.md).
    assert values["mrenclave"] == rich_out["values"]["mrenclave"]


# --------------------------------------------------------------------------------------------
# g. usage


@pytest.mark.parametrize("drop", [None, "--input", "--output", "--app-config"])
def test_usage_errors(tmp_path, app_json, drop):
    assert lib.CLI_BIN.exists(), f"CLI binary not found: {lib.CLI_BIN}"
    opts = {"--input": f"oci:{tmp_path / 'in'}", "--output": f"oci:{tmp_path / 'out'}",
            "--app-config": str(app_json)}
    args = [] if drop is None else [a for k, v in opts.items() if k != drop for a in (k, v)]
    p = subprocess.run([str(lib.CLI_BIN), "image", "convert", *args], capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    check_sanitizers(p.stderr)
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stderr}"
    # Says what is missing (so an unknown `image` verb, also status 2, does not pass).
    hints = (drop.lstrip("-"),) if drop else ("input", "usage", "convert")
    assert any(h in p.stderr.lower() for h in hints), p.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# h. cloister image inspect: the measurement read back, the signature and labels checked


def inspect(ref, *extra):
    p = subprocess.run([str(lib.CLI_BIN), "image", "inspect", ref, *map(str, extra)],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    check_sanitizers(p.stderr)
    return p


def inspected(ref):
    p = inspect(ref)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr}"
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


def signed_copy(tmp_path, rich_in, app_json):
    key = tmp_path / "signer.pem"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", key])
    out = fx.OciLayout(tmp_path / "signed")
    values = converted(f"oci:{rich_in.path}", f"oci:{out.path}", app_json, "--signer-key", key)
    return out, values


def test_inspect_reads_back_the_printed_values(tmp_path, rich_in, app_json):
    out, values = signed_copy(tmp_path, rich_in, app_json)
    shown = inspected(f"oci:{out.path}")
    for name in VALUE_NAMES:
        assert shown[name] == values[name], name
    assert shown["signature"] == "valid"
    assert shown["labels"] == "match"
    assert shown["init_digest"] == sha256_hex(Path(INIT_BIN).read_bytes())
    p = inspect(f"oci:{out.path}", "--manifest")
    assert p.returncode == 0 and json.loads(p.stdout) == image_manifest(out)


def test_inspect_unsigned_and_not_converted(rich_in, rich_out):
    assert inspected(f"oci:{rich_out['layout'].path}")["signature"] == "unsigned"
    p = inspect(f"oci:{rich_in.path}")
    assert p.returncode == 1 and "not a converted image" in p.stderr, p.stderr


def rewrite_last_layer(layout, edit, tag="latest"):
    """Rewrites the /.cloister layer with edit(name, data) -> data, then fixes its digest, the
    diff_id, the config and the manifest so that only what edit changed is wrong."""
    desc, manifest = layout.manifest(tag)
    last = manifest["layers"][-1]
    src = tarfile.open(fileobj=io.BytesIO(layout.blob(last["digest"])), mode="r:gz")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None:
                data = edit(m.name, data)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    tar = raw.getvalue()
    manifest["layers"][-1] = layout.put_blob(fx.compress(tar, "gzip"), last["mediaType"])
    config = layout.json_blob(manifest["config"]["digest"])
    config["rootfs"]["diff_ids"][-1] = "sha256:" + sha256_hex(tar)
    manifest["config"] = layout.put_blob(fx.json_bytes(config), manifest["config"]["mediaType"])
    layout.set_tag(tag, layout.put_blob(fx.json_bytes(manifest), desc["mediaType"]))


def test_inspect_refuses_a_bad_signature(tmp_path, rich_in, app_json):
    out, _ = signed_copy(tmp_path, rich_in, app_json)

    def break_signature(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.endswith("manifest.sig") else data

    rewrite_last_layer(out, break_signature)
    p = inspect(f"oci:{out.path}")
    assert p.returncode == 1, p.stdout
    assert "signature INVALID" in p.stdout and "signature" in p.stderr, p.stderr


def test_inspect_refuses_a_changed_manifest(tmp_path, rich_in, app_json):
    """A manifest edited after conversion measures differently from the labels (and breaks the
    signature)."""
    out, _ = signed_copy(tmp_path, rich_in, app_json)

    def change(name, data):
        if not name.endswith("manifest.json"):
            return data
        assert b'"threads":128' in data
        return data.replace(b'"threads":128', b'"threads":129')

    rewrite_last_layer(out, change)
    p = inspect(f"oci:{out.path}")
    assert p.returncode == 1, p.stdout
    assert "labels DIFFER" in p.stdout and "signature INVALID" in p.stdout, p.stdout


# --------------------------------------------------------------------------------------------
# i. docker-archive in and out (what `docker save` writes), read back by skopeo


@needs_skopeo
@needs_umoci
def test_docker_archive_in_and_out(tmp_path, app_json):
    src = fx.tiny_image(tmp_path / "tiny")
    archive_in, archive_out = tmp_path / "in.tar", tmp_path / "out.tar"
    run(["skopeo", "copy", "--insecure-policy", f"oci:{src.path}:latest",
         f"docker-archive:{archive_in}:tiny:1.0"])
    via_oci = converted(f"oci:{src.path}", f"oci:{tmp_path / 'oci-out'}:x", app_json)
    values = converted(f"docker-archive:{archive_in}:tiny:1.0",
                       f"docker-archive:{archive_out}:tiny-conf:1.0", app_json)
    # skopeo writes the layers uncompressed: other blobs, the same files, the same measurement.
    assert values["mrenclave"] == via_oci["mrenclave"]
    info = skopeo_inspect(f"docker-archive:{archive_out}")
    assert info["Labels"]["dev.cloister.mrenclave"] == values["mrenclave"]
    with tarfile.open(archive_out) as t:
        listed = json.load(t.extractfile("manifest.json"))
    assert listed[0]["RepoTags"] == ["tiny-conf:1.0"], listed
    run(["skopeo", "copy", "--insecure-policy", f"docker-archive:{archive_out}",
         f"oci:{tmp_path / 'back'}:x"])
    rootfs = umoci_unpack(tmp_path / "back", "x", tmp_path / "bundle")
    assert (rootfs / ".cloister" / "cloister-init").read_bytes() == \
        Path(INIT_BIN).read_bytes()


def test_docker_archive_errors(tmp_path, app_json):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        data = b"{}"
        info = tarfile.TarInfo("x.json")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    p = convert(f"docker-archive:{bad}", f"oci:{tmp_path / 'o'}", app_json)
    assert p.returncode == 1 and "manifest.json" in p.stderr, p.stderr
    p = convert(f"docker-archive:{tmp_path / 'missing.tar'}", f"oci:{tmp_path / 'o'}", app_json)
    assert p.returncode == 1 and "missing.tar" in p.stderr, p.stderr
    assert not (tmp_path / "o" / "index.json").exists()
