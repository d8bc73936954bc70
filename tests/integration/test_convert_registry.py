"""`cloister image convert` with registries: docker://HOST:PORT/REPO[:TAG|@sha256:...] as input
and output, against a real CNCF distribution registry (`docker-registry serve`) on loopback.

    cloister image convert --input docker://H/R:T --output docker://H/R2:T2 --plain-http
        [--src-creds U:P] [--dest-creds U:P] [--chunk-size SIZE] ...

Three registries (registry_server.py): no authentication, htpasswd (Basic) and token (a bearer
token service in this process signing ES256 JWTs). Images are put in with skopeo and read back
with skopeo, umoci and plain HTTP; what the converter asked of a registry is read from the
registry's own log (its "response completed" lines: method, URI, status).

Every converter run gets a fresh, empty $TMPDIR, which must be empty again afterwards, whether
the conversion succeeded or not.

Needs docker-registry, skopeo, umoci and htpasswd (apache2-utils); tests that need a missing
one are skipped.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import cloister_testlib as lib
import oci_fixtures as fx
import registry_server as rs
from test_convert import (APP, INIT_PATH, check_rich_rootfs, error_line, image_manifest,
                          entries_by_path, multi_arch_image, parse_values, sha256_hex, unpack)
from test_init import INIT_BIN, binaries, check_sanitizers

RUN_TIMEOUT = 120
USER, PASSWORD = "alice", "s3cret-pw"
CREDS = f"{USER}:{PASSWORD}"
USERS = {USER: PASSWORD}

needs_registry = pytest.mark.skipif(
    rs.REGISTRY_BIN is None or shutil.which("skopeo") is None,
    reason="docker-registry and skopeo are needed (apt-get install docker-registry skopeo)")
needs_htpasswd = pytest.mark.skipif(
    rs.HTPASSWD_BIN is None, reason="htpasswd is needed (apt-get install apache2-utils)")
needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci not installed")
pytestmark = needs_registry

OCI_ACCEPT = ", ".join([fx.OCI_MANIFEST, fx.OCI_INDEX, fx.DOCKER_MANIFEST,
                        "application/vnd.docker.distribution.manifest.list.v2+json"])


# --------------------------------------------------------------------------------------------
# running things


def run(cmd, timeout=RUN_TIMEOUT, env=None):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       env=env)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stderr}"
    return p.stdout


class Scratch:
    """Fresh $TMPDIR directories, one per converter run, and the cloister-init the runs put in
    their images unless told otherwise: a small stand-in, as the converter only copies and
    hashes it, which keeps each conversion (and each chunked upload) short. The tests that
    push a real image (a, b) use the real one."""

    def __init__(self, root, init):
        self.root = Path(root)
        self.init = init
        self.count = 0

    def new(self):
        self.count += 1
        d = self.root / f"tmpdir-{self.count}"
        d.mkdir(parents=True)
        return d


def converter_env(tmpdir, extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLOISTER_SRC_CREDS", "CLOISTER_DEST_CREDS")
           and "proxy" not in k.lower()}
    env["TMPDIR"] = str(tmpdir)
    env["no_proxy"] = env["NO_PROXY"] = "*"
    env.update(extra or {})
    return env


def convert(scratch, src, dst, app, *extra, env=None, wrap=(), tmpdir=None, init=None):
    """Runs the converter with a fresh $TMPDIR; returns the CompletedProcess with `leftovers`:
    what the run left in its $TMPDIR."""
    assert lib.CLI_BIN.exists(), f"CLI binary not found: {lib.CLI_BIN} (set CLOISTER_BUILD_DIR)"
    binaries()
    tmpdir = tmpdir or scratch.new()
    cmd = [*wrap, lib.CLI_BIN, "image", "convert", "--input", src, "--output", dst,
           "--app-config", app, "--init", init or scratch.init, *extra]
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT, env=converter_env(tmpdir, env))
    check_sanitizers(p.stderr)
    p.leftovers = sorted(x.name for x in tmpdir.iterdir()) if tmpdir.is_dir() else []
    return p


def converted(scratch, src, dst, app, *extra, **kw):
    p = convert(scratch, src, dst, app, *extra, **kw)
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    assert p.leftovers == [], f"left in $TMPDIR: {p.leftovers}"
    return parse_values(p.stdout)


def refused(p, *expected, status=1):
    """A failed run: exit status, an `error:` line naming every expected item, no values
    printed, nothing left in $TMPDIR. Returns the error line."""
    assert p.returncode == status, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    line = error_line(p.stderr, list(expected))
    assert "image_digest" not in p.stdout and "mrenclave" not in p.stdout, p.stdout
    assert p.leftovers == [], f"left in $TMPDIR after a failure: {p.leftovers}"
    return line


def skopeo_push(reg, layout, tag, repo, dest_tag, all_images=False):
    creds = ["--dest-creds", CREDS] if reg.auth != "none" else []
    run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false", *creds,
         *(["--all"] if all_images else []), f"oci:{layout.path}:{tag}",
         f"docker://{reg.host}/{repo}:{dest_tag}"])


def skopeo_inspect(reg, repo, tag, *flags):
    creds = ["--creds", CREDS] if reg.auth != "none" else []
    return json.loads(run(["skopeo", "inspect", "--tls-verify=false", *creds, *flags,
                           f"docker://{reg.host}/{repo}:{tag}"]))


def skopeo_pull(reg, repo, tag, dest, dest_tag="pulled"):
    """Copies the image back into an OCI layout, digests unchanged."""
    creds = ["--src-creds", CREDS] if reg.auth != "none" else []
    run(["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false", "--preserve-digests",
         *creds, f"docker://{reg.host}/{repo}:{tag}", f"oci:{dest}:{dest_tag}"])
    return fx.OciLayout(dest)


def blob_pushes(requests):
    """{digest: [method, ...]} of the upload requests in requests, by upload session: the PATCH
    chunks and the closing PUT (which names the digest) of each."""
    sessions, digests = {}, {}
    for method, uri, status in requests:
        m = re.match(r"/v2/.+/blobs/uploads/([0-9a-f-]{36})(\?.*)?$", uri)
        if not m or method not in ("PATCH", "PUT"):
            continue
        sessions.setdefault(m.group(1), []).append((method, status))
        d = re.search(r"[?&]digest=(sha256(?::|%3A)[0-9a-f]{64})", uri)
        if method == "PUT" and d:
            digests[m.group(1)] = d.group(1).replace("%3A", ":")
    return {digests.get(s, f"(unfinished {s})"): calls for s, calls in sessions.items()}


def mounts(requests):
    """[(digest, from, status)] of the cross-repository mount requests."""
    out = []
    for method, uri, status in requests:
        m = re.match(r"/v2/.+/blobs/uploads/\?(.*)$", uri)
        if method == "POST" and m and "mount=" in m.group(1):
            q = dict(kv.split("=", 1) for kv in m.group(1).split("&"))
            out.append((q["mount"].replace("%3A", ":"), q.get("from", "").replace("%2F", "/"),
                        status))
    return out


def manifest_put(repo, tag):
    """A predicate on requests: the manifest was PUT (the last request of a push)."""
    return lambda requests: any(m == "PUT" and uri == f"/v2/{repo}/manifests/{tag}"
                                for m, uri, _ in requests)


def no_new_requests(reg, since):
    return [r for r in reg.requests(since) if r[1] != "/v2/"]


# --------------------------------------------------------------------------------------------
# module fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("convert-registry")


@pytest.fixture(scope="module")
def scratch(work):
    init = work / "small-init"
    init.write_bytes(b"\x7fELF (a stand-in for cloister-init)\n" + os.urandom(3000))
    init.chmod(0o755)
    return Scratch(work / "tmpdirs", init)


@pytest.fixture(scope="module")
def app_json(work):
    path = work / "app.json"
    path.write_text(json.dumps(APP))
    return path


@pytest.fixture(scope="module")
def registry_factory(work):
    """Starts registries ("none", "htpasswd" or "token" auth) for this module; all of them are
    stopped at its end."""
    started = []

    def make(auth="none", name=None):
        name = name or f"registry-{auth}-{len(started)}"
        reg = rs.Registry(work / name, auth, USERS)
        started.append(reg)
        return reg.start()

    yield make
    for reg in started:
        reg.close()


@pytest.fixture(scope="module")
def plain_reg(registry_factory):
    return registry_factory("none", "registry-none")


@pytest.fixture(scope="module")
def basic_reg(registry_factory):
    if rs.HTPASSWD_BIN is None:
        pytest.skip("htpasswd is needed (apt-get install apache2-utils)")
    return registry_factory("htpasswd", "registry-htpasswd")


@pytest.fixture(scope="module")
def token_reg(registry_factory):
    return registry_factory("token", "registry-token")


@pytest.fixture(scope="module")
def rich_in(work):
    return fx.rich_image(work / "rich-in")


@pytest.fixture(scope="module")
def tiny_in(work):
    return fx.tiny_image(work / "tiny-in")


@pytest.fixture(scope="module")
def rich_local(work, scratch, rich_in, app_json):
    """The rich image converted OCI layout to OCI layout: what every registry conversion of
    the same input must reproduce (the converter is deterministic)."""
    out = fx.OciLayout(work / "rich-local")
    values = converted(scratch, f"oci:{rich_in.path}", f"oci:{out.path}:conf", app_json,
                       init=INIT_BIN)
    return {"values": values, "layout": out}


@pytest.fixture(scope="module")
def rich_local_small(work, scratch, rich_in, app_json):
    """The same with the small stand-in cloister-init."""
    out = fx.OciLayout(work / "rich-local-small")
    values = converted(scratch, f"oci:{rich_in.path}", f"oci:{out.path}:conf", app_json)
    return {"values": values, "layout": out}


@pytest.fixture(scope="module")
def tiny_local(work, scratch, tiny_in, app_json):
    out = fx.OciLayout(work / "tiny-local")
    values = converted(scratch, f"oci:{tiny_in.path}", f"oci:{out.path}:conf", app_json)
    return {"values": values, "layout": out}


@pytest.fixture(scope="module")
def plain_tiny(plain_reg, tiny_in):
    skopeo_push(plain_reg, tiny_in, "latest", "src/tiny", "v1")
    return plain_reg


# --------------------------------------------------------------------------------------------
# the registries themselves, without the converter


def test_registries_work_with_skopeo(plain_reg, basic_reg, token_reg, tiny_in):
    """A broken fixture is not a broken converter: each registry takes and serves an image with
    skopeo, and the authenticated ones turn away anonymous clients."""
    digest = tiny_in.descriptor()["digest"]
    for reg in (plain_reg, basic_reg, token_reg):
        skopeo_push(reg, tiny_in, "latest", "fixture/tiny", "v1")
        assert skopeo_inspect(reg, "fixture/tiny", "v1")["Digest"] == digest
        assert reg.manifest_status("fixture/tiny", "v1") == 200
    for reg in (basic_reg, token_reg):
        p = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                            f"docker://{reg.host}/fixture/tiny:v1"], capture_output=True,
                           text=True, timeout=RUN_TIMEOUT)
        assert p.returncode != 0, f"{reg.auth}: anonymous inspect worked"
    assert any(r["user"] == USER and r["status"] == 200 for r in token_reg.token_server.requests)


# --------------------------------------------------------------------------------------------
# a, b. registry to registry (same registry): layers mounted, not uploaded


def registry_to_registry(reg, scratch, rich_in, rich_local, app_json, repo_in, repo_out,
                         creds_from_env="dest"):
    skopeo_push(reg, rich_in, "latest", repo_in, "1.0")
    start = reg.log_size()
    # One side's credentials by flag, the other's from the environment.
    if creds_from_env == "dest":
        creds, env = ["--src-creds", CREDS], {"CLOISTER_DEST_CREDS": CREDS}
    else:
        creds, env = ["--dest-creds", CREDS], {"CLOISTER_SRC_CREDS": CREDS}
    p = convert(scratch, reg.ref(repo_in, "1.0"), reg.ref(repo_out, "1.0"), app_json,
                "--plain-http", *creds, env=env, init=INIT_BIN)
    assert p.returncode == 0, f"exit {p.returncode}\nstderr: {p.stderr}\n" \
                              f"registry requests: {reg.requests(start)}"
    assert p.leftovers == [], p.leftovers
    values = parse_values(p.stdout)
    requests = reg.requests(start, until=manifest_put(repo_out, "1.0"))

    info = skopeo_inspect(reg, repo_out, "1.0")
    assert info["Digest"] == values["image_digest"]
    assert info["Labels"]["dev.cloister.mrenclave"] == values["mrenclave"]
    assert info["Labels"]["dev.cloister.mrsigner"] == values["mrsigner"]
    in_layers = [d["digest"] for d in rich_in.manifest()[1]["layers"]]
    assert info["Layers"][:-1] == in_layers and len(info["Layers"]) == len(in_layers) + 1
    # The same image as the one converted from the layout.
    assert values == rich_local["values"]

    # The input's layers were mounted from the input's repository, not uploaded.
    mounted = {d for d, src, status in mounts(requests) if status == 201}
    assert set(in_layers) <= mounted, f"mounts: {mounts(requests)}"
    assert all(src == repo_in for _, src, _ in mounts(requests)), mounts(requests)
    pushed = blob_pushes(requests)
    assert not set(pushed) & set(in_layers), f"input layers uploaded: {pushed}"
    # Only what the conversion made was uploaded: the config and the /.cloister layer.
    _, out_manifest = rich_local["layout"].manifest("conf")
    assert set(pushed) == {out_manifest["config"]["digest"], out_manifest["layers"][-1]["digest"]}
    return values, requests


@needs_htpasswd
@needs_umoci
def test_registry_to_registry_htpasswd(basic_reg, scratch, work, rich_in, rich_local,
                                       app_json):
    values, _ = registry_to_registry(basic_reg, scratch, rich_in, rich_local, app_json,
                                     "src/rich", "conf/rich")
    # What a runtime would pull and unpack.
    back = skopeo_pull(basic_reg, "conf/rich", "1.0", work / "htpasswd-back")
    assert back.descriptor("pulled")["digest"] == values["image_digest"]
    root = unpack(back.path, "pulled", work / "htpasswd-unpacked")
    check_rich_rootfs(root)
    assert (root / INIT_PATH.lstrip("/")).read_bytes() == INIT_BIN.read_bytes()
    assert json.loads((root / ".cloister/manifest.json").read_text())["tree"]["digest"] == \
        values["tree_digest"]


@pytest.mark.parametrize("token_service", ["spec", "lenient"])
def test_registry_to_registry_token(token_service, token_reg, scratch, rich_in, rich_local,
                                    app_json):
    """The bearer flow end to end. "spec": the token service reads each `scope` parameter as
    one resource scope, as the distribution token spec says of its GET form (a client asking
    for several scopes repeats the parameter). "lenient": it also splits a parameter on spaces
    (the OAuth2 form), which tells a scope-format problem from any other."""
    ts = token_reg.token_server
    ts.split_spaces = token_service == "lenient"
    first = len(ts.requests)
    try:
        repo_out = f"conf/rich-{token_service}"
        registry_to_registry(token_reg, scratch, rich_in, rich_local, app_json,
                             f"src/rich-{token_service}", repo_out, creds_from_env="src")
    finally:
        ts.split_spaces = False
        asked = ts.requests[first:]
    assert asked and all(r["user"] == USER and r["status"] == 200 for r in asked), asked
    assert all(r["service"] == rs.SERVICE for r in asked), asked
    if token_service == "spec":
        bad = [s for r in asked for s in r["scopes"] if ts.parse_scope(s) is None]
        assert not bad, f"scope parameters that are not one resource scope each: {bad}"
    assert any(a["name"] == repo_out and "push" in a["actions"]
               for r in asked for a in r["access"]), asked


# --------------------------------------------------------------------------------------------
# c. OCI layout to registry, in chunks


CHUNK = 1024


@needs_umoci
def test_oci_to_registry_chunked(plain_reg, scratch, work, rich_in, rich_local_small,
                                 app_json):
    rich_local = rich_local_small
    start = plain_reg.log_size()
    values = converted(scratch, f"oci:{rich_in.path}", plain_reg.ref("chunked/rich", "c1"),
                       app_json, "--plain-http", "--chunk-size", "1K")
    # Same input, same image, wherever it is written.
    assert values == rich_local["values"]
    requests = plain_reg.requests(start, until=manifest_put("chunked/rich", "c1"))
    pushed = blob_pushes(requests)
    desc, manifest = rich_local["layout"].manifest("conf")
    blobs = [manifest["config"], *manifest["layers"]]
    assert set(pushed) == {b["digest"] for b in blobs}, pushed
    assert any(b["size"] > CHUNK for b in blobs) and any(b["size"] <= CHUNK for b in blobs)
    for b in blobs:
        calls = pushed[b["digest"]]
        if b["size"] > CHUNK:  # PATCH chunks of 1 KiB, then a closing PUT
            n = math.ceil(b["size"] / CHUNK)
            assert calls == [("PATCH", 202)] * n + [("PUT", 201)], (b, calls)
        else:  # one PUT
            assert calls == [("PUT", 201)], (b, calls)
    assert ("PUT", "/v2/chunked/rich/manifests/c1", 201) in requests

    # Read back: the very image the layout conversion made, byte for byte.
    back = skopeo_pull(plain_reg, "chunked/rich", "c1", work / "chunked-back")
    back_desc, back_manifest = back.manifest("pulled")
    assert back_desc["digest"] == desc["digest"] == values["image_digest"]
    for b in blobs:
        assert back.blob(b["digest"]) == rich_local["layout"].blob(b["digest"]), b
    assert skopeo_inspect(plain_reg, "chunked/rich", "c1")["Digest"] == values["image_digest"]
    root = unpack(back.path, "pulled", work / "chunked-unpacked")
    check_rich_rootfs(root)
    assert (root / INIT_PATH.lstrip("/")).read_bytes() == scratch.init.read_bytes()


def test_oci_to_registry_whole_blobs_by_default(plain_reg, scratch, tiny_in, tiny_local,
                                                app_json):
    """Without --chunk-size (64 MiB) every blob goes in one PUT; pushing the same image again
    uploads nothing (the registry has every blob)."""
    start = plain_reg.log_size()
    values = converted(scratch, f"oci:{tiny_in.path}", plain_reg.ref("whole/tiny", "w1"),
                       app_json, "--plain-http")
    assert values == tiny_local["values"]
    pushed = blob_pushes(plain_reg.requests(start, until=manifest_put("whole/tiny", "w1")))
    assert len(pushed) == 3 and all(calls == [("PUT", 201)] for calls in pushed.values()), pushed
    start = plain_reg.log_size()
    again = converted(scratch, f"oci:{tiny_in.path}", plain_reg.ref("whole/tiny", "w2"),
                      app_json, "--plain-http")
    assert again == values
    assert blob_pushes(plain_reg.requests(start, until=manifest_put("whole/tiny", "w2"))) == {}
    assert sorted(plain_reg.tags("whole/tiny")) == ["w1", "w2"]


# --------------------------------------------------------------------------------------------
# d. registry to OCI layout: image index, digest references


def test_registry_index_input_picks_linux_amd64(plain_reg, scratch, work, app_json):
    src = multi_arch_image(work / "multi-in")
    skopeo_push(plain_reg, src, "latest", "src/multi", "m1", all_images=True)
    index_digest = src.descriptor()["digest"]
    status, headers, _ = plain_reg.get("/v2/src/multi/manifests/m1", accept=OCI_ACCEPT)
    assert status == 200 and headers["Docker-Content-Digest"] == index_digest

    out = fx.OciLayout(work / "multi-out")
    by_tag = converted(scratch, plain_reg.ref("src/multi", "m1"), f"oci:{out.path}:tag",
                       app_json, "--plain-http")
    manifest = image_manifest(out, "tag")
    assert entries_by_path(manifest)["/bin/marker"]["sha256"] == sha256_hex(b"marker amd64\n")
    assert manifest["image"]["cmd"] == ["amd64"]
    # The same as converting the layout's index.
    local = converted(scratch, f"oci:{src.path}", f"oci:{work / 'multi-local'}", app_json)
    assert by_tag == local

    # By the index's digest, and by the amd64 manifest's digest.
    by_index = converted(scratch, plain_reg.ref("src/multi", index_digest),
                         f"oci:{out.path}:index", app_json, "--plain-http")
    amd64 = src.manifest()[0]["digest"]
    by_manifest = converted(scratch, plain_reg.ref("src/multi", amd64),
                            f"oci:{out.path}:manifest", app_json, "--plain-http")
    assert by_index == by_manifest == by_tag
    assert sorted(out.tags()) == ["index", "manifest", "tag"]


def test_registry_to_oci_by_digest(plain_tiny, scratch, work, tiny_in, tiny_local, app_json):
    digest = tiny_in.descriptor()["digest"]
    out = fx.OciLayout(work / "tiny-by-digest")
    values = converted(scratch, plain_tiny.ref("src/tiny", digest), f"oci:{out.path}", app_json,
                       "--plain-http")
    assert values == tiny_local["values"]
    assert out.descriptor("latest")["digest"] == values["image_digest"]
    blobs = {k: v for k, v in out.files().items() if k.startswith("blobs/")}
    assert blobs == {k: v for k, v in tiny_local["layout"].files().items()
                     if k.startswith("blobs/")}


# --------------------------------------------------------------------------------------------
# e. errors: exit 1, an `error:` line that names the problem, nothing pushed


def test_wrong_credentials_htpasswd(basic_reg, scratch, tiny_in, app_json):
    skopeo_push(basic_reg, tiny_in, "latest", "src/tiny", "v1")
    p = convert(scratch, basic_reg.ref("src/tiny", "v1"), basic_reg.ref("conf/wrong", "v1"),
                app_json, "--plain-http", "--src-creds", f"{USER}:wrong", "--dest-creds", CREDS)
    refused(p, "credentials", basic_reg.host)
    assert basic_reg.tags("conf/wrong") == []


def test_wrong_dest_credentials_htpasswd(basic_reg, scratch, tiny_in, app_json):
    start = basic_reg.log_size()
    p = convert(scratch, f"oci:{tiny_in.path}", basic_reg.ref("conf/wrong-dest", "v1"),
                app_json, "--plain-http", "--dest-creds", f"{USER}:wrong")
    refused(p, "credentials", basic_reg.host)
    assert basic_reg.tags("conf/wrong-dest") == []
    assert not [r for r in basic_reg.requests(start) if r[0] in ("POST", "PATCH", "PUT")
                and r[2] < 400]


def test_no_credentials_htpasswd(basic_reg, scratch, tiny_in, app_json):
    skopeo_push(basic_reg, tiny_in, "latest", "src/tiny", "v1")
    p = convert(scratch, basic_reg.ref("src/tiny", "v1"), basic_reg.ref("conf/anon", "v1"),
                app_json, "--plain-http")
    refused(p, "credentials", basic_reg.host)
    assert basic_reg.tags("conf/anon") == []


def test_wrong_credentials_token(token_reg, scratch, tiny_in, app_json):
    skopeo_push(token_reg, tiny_in, "latest", "src/tiny", "v1")
    first = len(token_reg.token_server.requests)
    p = convert(scratch, token_reg.ref("src/tiny", "v1"), token_reg.ref("conf/wrong", "v1"),
                app_json, "--plain-http", "--src-creds", f"{USER}:wrong", "--dest-creds", CREDS)
    refused(p, "credentials", token_reg.host)
    assert [r["status"] for r in token_reg.token_server.requests[first:]] == [401]
    assert token_reg.tags("conf/wrong") == []


def test_no_credentials_token(token_reg, scratch, tiny_in, app_json):
    skopeo_push(token_reg, tiny_in, "latest", "src/tiny", "v1")
    p = convert(scratch, token_reg.ref("src/tiny", "v1"), token_reg.ref("conf/anon", "v1"),
                app_json, "--plain-http")
    refused(p, "credentials", token_reg.host)
    assert token_reg.tags("conf/anon") == []


@pytest.mark.parametrize("what", ["tag", "repository", "digest"])
def test_missing_image(what, plain_tiny, scratch, work, app_json):
    ref, name, code = {
        "tag": ("src/tiny:no-such-tag", "no-such-tag", "MANIFEST_UNKNOWN"),
        "repository": ("no/such-repo:v1", "no/such-repo", "NAME_UNKNOWN"),
        "digest": ("src/tiny@sha256:" + "0" * 64, "sha256:" + "0" * 64, "MANIFEST_UNKNOWN"),
    }[what]
    out = work / f"missing-{what}"
    p = convert(scratch, f"docker://{plain_tiny.host}/{ref}", f"oci:{out}", app_json,
                "--plain-http")
    # The message says which image is missing: input and output may be on one registry.
    refused(p, "404", (code, "not found", "unknown"), name)
    assert not out.exists() or fx.OciLayout(out).tags() == []


@pytest.mark.parametrize("side", ["input", "output"])
def test_connection_refused(side, scratch, work, tiny_in, app_json):
    port = rs.free_port()  # nothing listens there
    dead = f"docker://127.0.0.1:{port}/some/repo:v1"
    if side == "input":
        src, dst = dead, f"oci:{work / 'refused-out'}"
    else:
        src, dst = f"oci:{tiny_in.path}", dead
    p = convert(scratch, src, dst, app_json, "--plain-http")
    refused(p, f"127.0.0.1:{port}", ("connect", "refused"))
    assert not (work / "refused-out").exists()


def big_image(path, size):
    """tiny_image plus a layer holding `size` random bytes (stored uncompressed, so the blob
    is as large as that)."""
    return fx.tiny_image(path, marker="big",
                         extra_layers=[[fx.file("/big.bin", os.urandom(size))]],
                         compression="none")


@pytest.fixture(scope="module")
def big_in(work):
    return big_image(work / "big-in", 8 << 20)


@pytest.mark.parametrize("how", ["connection-cut", "registry-killed"])
def test_registry_dies_mid_push(how, registry_factory, scratch, big_in, app_json):
    """A proxy in front of the registry forwards 3 MiB of the 8 MiB layer's chunks (1 MiB
    each), then cuts every connection ("connection-cut") or SIGKILLs the registry
    ("registry-killed", restarted afterwards on the same storage). The converter fails cleanly
    and no tag exists."""
    reg = registry_factory("none", f"registry-dies-{how}")
    big = max(big_in.manifest()[1]["layers"], key=lambda d: d["size"])
    assert big["size"] > 8 << 20
    proxy = rs.CutProxy(reg.port, 3 << 20,
                        on_limit=reg.kill if how == "registry-killed" else None)
    try:
        started = time.monotonic()
        p = convert(scratch, f"oci:{big_in.path}", f"docker://{proxy.host}/cut/big:v1",
                    app_json, "--plain-http", "--chunk-size", "1M")
        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert proxy.cut.is_set(), "the proxy never reached its limit"
    refused(p, proxy.host, ("connection", "reset", "closed", "empty reply", "send fail",
                            "recv fail", "couldn't connect"))
    assert elapsed < 30, f"the converter took {elapsed:.0f} s to notice"
    if how == "registry-killed":
        assert reg.proc is None
        reg.start()
    requests = reg.requests(until=lambda rs_: any(m == "PATCH" for m, _, _ in rs_))
    assert any(m == "PATCH" for m, _, _ in requests), requests
    assert not any(m == "PUT" and "/manifests/" in uri for m, uri, _ in requests), requests
    assert reg.manifest_status("cut/big", "v1") == 404
    assert reg.tags("cut/big") == []
    q = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                        f"docker://{reg.host}/cut/big:v1"], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    assert q.returncode != 0


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_server_closes_reused_connection(direction, plain_tiny, scratch, work, tiny_in,
                                         tiny_local, app_json):
    """A server may close a kept-alive connection just as the client sends its next request
    (an idle timeout); HTTP clients retry such a request on a fresh connection. Here every
    second request on a connection meets that fate (registry_server.OneRequestProxy): pulls
    and pushes still succeed, bodies (PUT, PATCH) being sent again."""
    proxy = rs.OneRequestProxy(plain_tiny.port)
    try:
        if direction == "pull":
            out = fx.OciLayout(work / "reused-conn-out")
            values = converted(scratch, f"docker://{proxy.host}/src/tiny:v1", f"oci:{out.path}",
                               app_json, "--plain-http")
        else:
            values = converted(scratch, f"oci:{tiny_in.path}",
                               f"docker://{proxy.host}/reused/tiny:v1", app_json,
                               "--plain-http", "--chunk-size", "1K")
    finally:
        proxy.close()
    assert proxy.closed_reused > 0, "the proxy never closed a reused connection"
    assert values == tiny_local["values"]
    if direction == "push":
        assert plain_tiny.tags("reused/tiny") == ["v1"]


def flip_layer(reg, layout):
    digest = layout.manifest()[1]["layers"][0]["digest"]
    path = reg.blob_data_path(digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return digest


def flip_manifest(reg, layout):
    """Changes one hex digit of the config digest in the stored manifest: still a manifest the
    registry serves, no longer the bytes its digest names."""
    digest = layout.descriptor()["digest"]
    path = reg.blob_data_path(digest)
    text = path.read_text()
    config = layout.manifest()[1]["config"]["digest"]
    last = config[-1]
    path.write_text(text.replace(config, config[:-1] + ("0" if last != "0" else "1")))
    return digest


@pytest.mark.parametrize("tamper", [flip_layer, flip_manifest], ids=["layer", "manifest"])
def test_registry_serves_bad_content(tamper, plain_reg, scratch, work, app_json):
    """A blob (or manifest) in the registry's storage whose bytes no longer match its digest:
    the pull is refused, naming the digest."""
    name = tamper.__name__
    src = fx.tiny_image(work / f"{name}-in", marker=name)  # blobs of its own: nothing shared
    skopeo_push(plain_reg, src, "latest", f"tampered/{name}", "v1")
    digest = tamper(plain_reg, src)
    out = work / f"{name}-out"
    p = convert(scratch, plain_reg.ref(f"tampered/{name}", "v1"),
                plain_reg.ref(f"conf/{name}", "v1"), app_json, "--plain-http")
    refused(p, "digest", (digest, f"tampered/{name}"))
    assert plain_reg.tags(f"conf/{name}") == []
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# f. plain HTTP only to loopback; reference syntax


def netns_wrap():
    """`unshare --net`: with no network at all, a converter that wrongly tries a non-loopback
    host fails to resolve it instead of sending anything anywhere."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return (unshare, "--net")
    return None


NON_LOOPBACK = [("input", h) for h in (
    "registry.example.com", "registry.example.com:5000", "10.1.2.3:5000",
    "localhost.example.com", "127.0.0.1.example.com:5000", "127.0.0.1@example.com")] + \
    [("output", h) for h in ("registry.example.com", "127.0.0.1@example.com")]


@pytest.mark.parametrize("side,host", NON_LOOPBACK, ids=[f"{s}-{h}" for s, h in NON_LOOPBACK])
def test_plain_http_refused_for_non_loopback(side, host, scratch, work, tiny_in, app_json):
    wrap = netns_wrap()
    if wrap is None:
        pytest.skip("unshare --net is not available (needed to keep the test off the network)")
    ref = f"docker://{host}/repo/x:v1"
    src, dst = (ref, f"oci:{work / 'plain-out'}") if side == "input" \
        else (f"oci:{tiny_in.path}", ref)
    p = convert(scratch, src, dst, app_json, "--plain-http", wrap=wrap)
    assert p.returncode in (1, 2), f"exit {p.returncode}\n{p.stderr}"
    assert "resolve" not in p.stderr.lower(), f"it tried to reach {host}:\n{p.stderr}"
    if p.returncode == 2 and "@" in host:  # a host with user info may be bad syntax instead
        assert f"--{side}" in p.stderr, p.stderr
    else:
        refused(p, ("plain http", "plain-http"), ("loopback", "localhost"), status=p.returncode)
    assert p.leftovers == []
    assert not (work / "plain-out").exists()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_plain_http_loopback_names(host, plain_tiny, scratch, work, tiny_local, app_json):
    ref = f"docker://{host.format(port=plain_tiny.port)}/src/tiny:v1"
    values = converted(scratch, ref, f"oci:{work / ('loopback-' + host[:5])}", app_json,
                       "--plain-http")
    assert values == tiny_local["values"]


BAD_REFS = {
    "uppercase-repo": "docker://127.0.0.1:{port}/Repo/x:v1",
    "empty-tag": "docker://127.0.0.1:{port}/repo/x:",
    "empty-repo": "docker://127.0.0.1:{port}/:v1",
    "no-repo": "docker://127.0.0.1:{port}",
    "trailing-slash": "docker://127.0.0.1:{port}/repo/",
    "double-slash": "docker://127.0.0.1:{port}/repo//x:v1",
    "tag-with-plus": "docker://127.0.0.1:{port}/repo:v1+x",
    "tag-too-long": "docker://127.0.0.1:{port}/repo:" + "t" * 129,
    "short-digest": "docker://127.0.0.1:{port}/repo@sha256:abcd",
    "digest-uppercase": "docker://127.0.0.1:{port}/repo@sha256:" + "A" * 64,
    "empty-host": "docker:///repo:v1",
}


@pytest.mark.parametrize("side", ["input", "output"])
@pytest.mark.parametrize("case", sorted(BAD_REFS))
def test_bad_reference_is_usage_error(case, side, plain_reg, scratch, work, tiny_in, app_json):
    ref = BAD_REFS[case].format(port=plain_reg.port)
    flag = f"--{side}"
    src, dst = (ref, f"oci:{work / 'bad-out'}") if side == "input" \
        else (f"oci:{tiny_in.path}", ref)
    start = plain_reg.log_size()
    p = convert(scratch, src, dst, app_json, "--plain-http")
    assert p.returncode == 2, f"{ref}: exit {p.returncode}\n{p.stderr}"
    assert flag in p.stderr, p.stderr
    assert p.leftovers == []
    assert no_new_requests(plain_reg, start) == []
    assert not (work / "bad-out").exists()


def test_output_by_digest_is_usage_error(plain_reg, scratch, tiny_in, app_json):
    p = convert(scratch, f"oci:{tiny_in.path}", plain_reg.ref("repo", "sha256:" + "a" * 64),
                app_json, "--plain-http")
    assert p.returncode == 2, p.stderr
    assert "--output" in p.stderr and "digest" in p.stderr, p.stderr


def test_bad_credentials_syntax_is_usage_error(plain_tiny, scratch, work, app_json):
    p = convert(scratch, plain_tiny.ref("src/tiny", "v1"), f"oci:{work / 'creds-out'}", app_json,
                "--plain-http", "--src-creds", "no-colon")
    assert p.returncode == 2 and "--src-creds" in p.stderr, p.stderr


# --------------------------------------------------------------------------------------------
# g. temporary directories


def test_temporary_directory_is_under_tmpdir(plain_tiny, scratch, work, app_json):
    """The scratch layouts go under $TMPDIR: one that cannot be created there is an error
    (so the empty $TMPDIR every other test checks does prove the cleanup)."""
    missing = work / "no-such-dir" / "tmp"
    out = work / "tmpdir-out"
    p = convert(scratch, plain_tiny.ref("src/tiny", "v1"), f"oci:{out}", app_json,
                "--plain-http", tmpdir=missing)
    refused(p, "temporary")
    assert not out.exists()


def test_no_temporary_directory_left(plain_tiny, scratch, work, tiny_in, app_json):
    """After a success and after failures at each stage (pull, convert, push), $TMPDIR is as
    it was, and /var/tmp got no cloister-convert-* directory either."""
    var_tmp = Path("/var/tmp")
    before = {p.name for p in var_tmp.glob("cloister-convert-*")}
    runs = {
        "success": (plain_tiny.ref("src/tiny", "v1"), plain_tiny.ref("conf/tmp", "ok"), 0),
        "pull fails": (plain_tiny.ref("src/tiny", "nope"), plain_tiny.ref("conf/tmp", "x"), 1),
        "push fails": (plain_tiny.ref("src/tiny", "v1"),
                       f"docker://127.0.0.1:{rs.free_port()}/conf/tmp:y", 1),
    }
    bad_app = work / "bad-app.json"
    bad_app.write_text("{not json")
    for what, (src, dst, status) in runs.items():
        tmpdir = scratch.new()
        (tmpdir / "keep-me").write_text("someone else's")
        p = convert(scratch, src, dst, app_json, "--plain-http", tmpdir=tmpdir)
        assert p.returncode == status, f"{what}: exit {p.returncode}\n{p.stderr}"
        assert p.leftovers == ["keep-me"], f"{what}: {p.leftovers}"
    # The conversion itself fails (a bad app config) after the pull.
    p = convert(scratch, plain_tiny.ref("src/tiny", "v1"), plain_tiny.ref("conf/tmp", "z"),
                bad_app, "--plain-http")
    assert p.returncode != 0 and p.leftovers == [], (p.returncode, p.leftovers, p.stderr)
    assert plain_tiny.tags("conf/tmp") == ["ok"]
    after = {p.name for p in var_tmp.glob("cloister-convert-*")}
    assert after <= before, f"new in /var/tmp: {sorted(after - before)}"


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_push_leaves_no_temporary_directory(sig, plain_reg, scratch, big_in,
                                                        app_json):
    """Ctrl-C (or a service manager's SIGTERM) during a long push: the temporary directory
    holds a copy of the input and the whole output, so it must not stay behind either. The
    registry hangs (a proxy stops forwarding after 2 MiB) so that the signal lands mid-push."""
    proxy = rs.CutProxy(plain_reg.port, 2 << 20, stall=True)
    tmpdir = scratch.new()
    cmd = [lib.CLI_BIN, "image", "convert", "--input", f"oci:{big_in.path}",
           "--output", f"docker://{proxy.host}/interrupted/big:v1", "--app-config", app_json,
           "--init", scratch.init, "--plain-http", "--chunk-size", "1M"]
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=converter_env(tmpdir))
    try:
        assert proxy.cut.wait(60), "the push never reached the proxy's limit"
        assert proc.poll() is None, "the converter ended before the signal"
        time.sleep(0.2)
        proc.send_signal(getattr(signal, sig))
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proxy.close()
    check_sanitizers(stderr)
    assert proc.returncode != 0, stderr
    left = sorted(x.name for x in tmpdir.iterdir())
    assert left == [], f"left in $TMPDIR after {sig}: {left}"
    assert plain_reg.tags("interrupted/big") == []
