"""A converted image, end to end (issue 5): "the converted image ... gets its certificate
through the agent; a tampered image (one file changed after conversion) refuses to start; a
different build of the same app is refused until approved".

Done with what exists now, without a registry or podman:

  1. oci_fixtures writes an input OCI layout (two gzip layers, with a whiteout, an opaque
     directory, a cross-layer hard link and a changed file, so that flattening matters) whose
     root file system runs: Debian's static busybox as /bin/busybox, /bin/sh and friends as
     symlinks to it, a non-root user `app` (1000:1000) in /etc/passwd, and an entrypoint
     `/bin/sh -c SCRIPT` that prints who it runs as, its environment, the key's first line and
     the certificate, then exits 0;
  2. the app is created through the manager's REST API and read back (GET /v1/apps/{id}): that
     JSON is the converter's --app-config. `cloister image convert` converts the layout, and
     `umoci unpack` (as root, to keep the owners) unpacks the result exactly as a runtime would;
  3. the printed mrenclave/mrsigner are registered as a `sim` build (POST /v1/builds), the build
     and the app's domains are approved, and the image's own /.cloister/cloister-init runs the
     way test_init.py runs it: as root with CLOISTER_ROOT pointing at the unpacked rootfs and
     NODE_AGENT_BASE_URL at a real cloister-agent enrolled with the real manager. With a
     static cloister-init it also runs with the rootfs as `/` (unshare -m -p -f + chroot, as
     real root, so that switching to uid 1000 is possible), exactly as in a container;
  4. one byte of a file the manifest lists is changed in a fresh unpack: cloister-init refuses
     to start, naming the file, and no certificate is issued;
  5. a second conversion of the same app from an input with one file changed has another
     mrenclave: denied while unregistered, PENDING_WHITELIST while registered and not approved,
     issued once approved.

One more run starts the bundle as a runtime would: the user and arguments of umoci's
config.json (root: the converted config has no User), the rootfs as `/`. Then 3 to 5 again the
way users run images: `podman pull oci:DIR:TAG` into podman's store and `podman --runtime runc
run` (the tampered image is the converted one with a layer on top that changes one file).

Needs: root (umoci keeps owners only as root; cloister-init switches users only as root),
umoci, podman and runc, /bin/busybox from Debian's busybox-static (statically linked), cloister-agent and the
manager's node API. Each missing piece skips with a message saying which.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

import cloister_testlib as lib
import oci_fixtures as fx
from cloister_testlib import expect, unique
# cloister-init and cloister-manifest as the build under test has them (test_init.py).
from test_init import INIT_BIN, binaries, check_sanitizers, is_static

BUSYBOX = Path("/bin/busybox")
RUN_TIMEOUT = 120
INIT_PATH = ".cloister/cloister-init"
TAG = "v1"

APP_UID = APP_GID = 1000
KEY_PATH, CERT_PATH, CHAIN_PATH = "/tls/key.pem", "/tls/cert.pem", "/tls/chain.pem"

# What the application (busybox sh) does: everything it prints is checked; `set -e` makes any
# failure (a file it cannot read, for one) its exit status.
APP_SCRIPT = "; ".join([
    "set -e",
    'echo "app: uid=$(id -u) gid=$(id -g) cwd=$(pwd)"',
    'echo "app: greeting=$GREETING image_only=$IMAGE_ONLY outside=${OUTSIDE-unset}"',
    'echo "app: release=$(cat /etc/app-release)"',
    f"head -n 1 {KEY_PATH}",
    f"cat {CERT_PATH}",
    "exit 0",
])
IMAGE_CONFIG = {
    "User": "app",
    "Entrypoint": ["/bin/sh", "-c", APP_SCRIPT],
    "Env": ["PATH=/bin", "GREETING=from the image", "IMAGE_ONLY=kept"],
    "WorkingDir": "/home/app",
    "Labels": {"org.example.test": "convert-run"},
}
MANIFEST_ENV = ["GREETING=from the manifest"]
APPLETS = ("sh", "cat", "echo", "head", "ls")

# Paths the two layers make, and what a runtime must see once they are applied.
GONE = ("/var/cache/stale.bin", "/opt/old/a", "/opt/old/b")
MOTD = b"motd of layer 2\n"

needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None,
                                 reason="umoci not installed (apt-get install umoci)")


# --------------------------------------------------------------------------------------------
# preconditions


def busybox_bytes():
    """The static busybox, or a skip saying how to get one."""
    if not BUSYBOX.exists():
        pytest.skip(f"{BUSYBOX} missing: install Debian's busybox-static "
                    "(apt-get install busybox-static)")
    if not is_static(BUSYBOX):
        pytest.skip(f"{BUSYBOX} is not statically linked: install Debian's busybox-static "
                    "(the busybox package is dynamic and cannot run in a libc-less image)")
    return BUSYBOX.read_bytes()


def preconditions():
    binaries()
    assert lib.CLI_BIN.exists(), f"CLI binary not found: {lib.CLI_BIN} (set CLOISTER_BUILD_DIR)"
    if os.geteuid() != 0:
        pytest.skip("needs root: umoci keeps the image's owners, and cloister-init switches to "
                    "the image's user, only as root")
    if not lib.AGENT_BIN.exists():
        pytest.skip(f"needs cloister-agent ({lib.AGENT_BIN} not built)")
    return busybox_bytes()


# --------------------------------------------------------------------------------------------
# the image


def input_layers(busybox, release, cross_layer_link=True):
    """Layer 1: the root file system; layer 2: a whiteout, an opaque directory, a hard link to
    a layer-1 file, a changed file. `release` is the content of /etc/app-release (layer 2):
    the one file in which two builds of the app differ. Without `cross_layer_link` the hard
    link /bin/id is in layer 1 with its target: containers/storage (podman) refuses links to
    an earlier layer's file (the OCI image spec leaves them undefined; Docker never makes
    them), umoci and the converter accept them."""
    link = fx.hardlink("/bin/id", "bin/busybox", mode=0o755)
    base = fx.Layer([
        fx.dir("/bin"), fx.dir("/etc"), fx.dir("/home"),
        fx.dir("/home/app", mode=0o755, uid=APP_UID, gid=APP_GID),
        fx.dir("/var"), fx.dir("/var/cache"), fx.dir("/opt"), fx.dir("/opt/old"),
        fx.file("/bin/busybox", busybox, mode=0o755),
        *[fx.symlink(f"/bin/{name}", "busybox") for name in APPLETS],
        fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                               f"app:x:{APP_UID}:{APP_GID}:app:/home/app:/bin/sh\n"),
        fx.file("/etc/group", f"root:x:0:\napp:x:{APP_GID}:\n"),
        fx.file("/etc/motd", "motd of layer 1\n"),
        fx.file("/var/cache/stale.bin", "deleted by layer 2\n"),
        fx.file("/opt/old/a", "a\n"), fx.file("/opt/old/b", "b\n"),
        *([] if cross_layer_link else [link]),
    ])
    changes = fx.Layer([
        fx.dir("/var"), fx.dir("/var/cache"), fx.whiteout("/var/cache/stale.bin"),
        fx.dir("/opt"), fx.dir("/opt/old"), fx.opaque("/opt/old"), fx.file("/opt/old/new", "n\n"),
        *([fx.dir("/bin"), link] if cross_layer_link else []),
        fx.dir("/etc"), fx.file("/etc/motd", MOTD), fx.file("/etc/app-release", release),
    ])
    return [base, changes]


def write_input(path, busybox, release, cross_layer_link=True):
    return fx.write_layout(path, input_layers(busybox, release, cross_layer_link), IMAGE_CONFIG,
                           tag=TAG, compression="gzip")


def run(cmd, timeout=RUN_TIMEOUT):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stderr}"
    return p.stdout


def convert(src, dst, app_json, *extra):
    """`cloister image convert`; returns the printed values (and the time it took)."""
    start = time.monotonic()
    p = subprocess.run([str(lib.CLI_BIN), "image", "convert", "--input", f"oci:{src}:{TAG}",
                        "--output", f"oci:{dst}:{TAG}", "--app-config", str(app_json),
                        "--init", str(INIT_BIN), *map(str, extra)],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    check_sanitizers(p.stderr)
    assert p.returncode == 0, f"convert: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    values = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    for name in ("mrenclave", "mrsigner", "tree_digest"):
        assert re.fullmatch(r"[0-9a-f]{64}", values.get(name, "")), p.stdout
    values["seconds"] = time.monotonic() - start
    return values


def unpack(layout, bundle):
    """`umoci unpack` of the converted image: the root file system a runtime would run."""
    run(["umoci", "unpack", "--image", f"{layout}:{TAG}", bundle])
    return Path(bundle) / "rootfs"


def load_pems(data):
    """Every certificate of a PEM bundle (Debian's cryptography 38 has no
    x509.load_pem_x509_certificates)."""
    end = b"-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate(part + end)
            for part in data.split(end) if b"-----BEGIN CERTIFICATE-----" in part]


def manifest_paths(rootfs):
    m = json.loads((rootfs / ".cloister" / "manifest.json").read_text())
    return {e["path"]: e for e in m["tree"]["entries"]}


# --------------------------------------------------------------------------------------------
# manager, agent, app


@pytest.fixture(scope="module")
def node_api(manager):
    import test_agent
    if not test_agent.has_node_api(manager):
        pytest.skip("needs the manager's node API (POST /v1/nodes): not in this manager build")
    return manager


@pytest.fixture(scope="module")
def team(node_api):
    return lib.Team(node_api, settings={"allow_simulation": True})


@pytest.fixture(scope="module")
def zone(team):
    return team.owner.list("/v1/zones")["items"][0]


@pytest.fixture(scope="module")
def agent(node_api, team, zone, tmp_path_factory):
    preconditions()
    import test_agent
    token = expect(team.writer.get(f"/v1/zones/{zone['zone_id']}/token"), 200)["token"]
    a = test_agent.Agent(tmp_path_factory.mktemp("agent"), node_api.url, token,
                         ca=node_api.ca, name=unique("node"))
    a.start()
    yield a
    try:
        assert a.stop() == 0, a.log_text()
    finally:
        a.kill()


@pytest.fixture(scope="module")
def zone_ca(team, zone, tmp_path_factory):
    """The zone's issuing CA and root, from the manager (not from the files cloister-init
    wrote): (issuing.pem, root.pem)."""
    r = team.owner.get(f"/v1/zones/{zone['zone_id']}/ca")
    expect(r, 200)
    certs = load_pems(r.content)
    assert len(certs) == 2, r.text
    d = tmp_path_factory.mktemp("zone-ca")
    paths = []
    for name, cert in zip(("issuing.pem", "root.pem"), certs):
        (d / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(d / name)
    assert certs[1].subject == certs[1].issuer and certs[0].issuer == certs[1].subject
    return tuple(paths)


class Image:
    """One conversion: the app, the input and output layouts, the printed values, the build."""

    def __init__(self, app, app_json, src, out, values):
        self.app, self.app_json, self.src, self.out, self.values = \
            app, app_json, src, out, values
        self.build = None

    def register(self, team, approve):
        """The printed measurement as a sim build of the app (POST /v1/builds)."""
        v = self.values
        self.build = expect(team.writer.post("/v1/builds", json={
            "app_id": self.app["app_id"], "platform": "sim", "mrenclave": v["mrenclave"],
            "mrsigner": v["mrsigner"], "isvprodid": int(v["isvprodid"]),
            "isvsvn": int(v["isvsvn"]), "docker_image_sha": v["image_digest"]}), 201)
        assert self.build["status"]["status"] == "PENDING", self.build
        if approve:
            team.owner.approve(self.build["pending_task_id"])
            assert team.owner.build(self.build["build_id"])["status"]["status"] == "WHITELISTED"
        return self.build


@pytest.fixture(scope="module")
def app(team):
    """The app with a certificate for a fresh domain (and one alt name), domains approved,
    read back as the manager returns it."""
    domain = f"{unique('svc')}.example.com"
    body = lib.app_body(domain=domain)
    body["advanced_settings"] = {
        "certificate": {"issuer": "MANAGER_CA", "subject": domain,
                        "alt_names": [domain, f"www.{domain}"], "key_type": "EC",
                        "key_param": {"curve": "P-256"}, "key_path": KEY_PATH,
                        "cert_path": CERT_PATH, "chain_path": CHAIN_PATH},
        "manifest_env": MANIFEST_ENV,
    }
    created = expect(team.writer.post("/v1/apps", json=body), 201)
    assert created["pending_task_id"], created
    team.owner.approve(created["pending_task_id"])
    shown = team.owner.app(created["app_id"])
    assert sorted(shown["whitelisted_domains"]) == sorted([domain, f"www.{domain}"]), shown
    shown["domain"] = domain
    return shown


@pytest.fixture(scope="module")
def app_json(app, tmp_path_factory):
    path = tmp_path_factory.mktemp("app") / "app.json"
    path.write_text(json.dumps({k: v for k, v in app.items() if k != "domain"}))
    return path


@pytest.fixture(scope="module")
def first(team, app, app_json, agent, tmp_path_factory):
    """Release 1, converted, registered and approved."""
    busybox = preconditions()
    d = tmp_path_factory.mktemp("release-1")
    src = write_input(d / "in", busybox, "release 1\n")
    img = Image(app, app_json, src.path, d / "out", convert(src.path, d / "out", app_json))
    img.register(team, approve=True)
    return img


# --------------------------------------------------------------------------------------------
# running cloister-init


def init_env(agent, **extra):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
         "NODE_AGENT_BASE_URL": agent.url,
         "CLOISTER_INIT_BACKOFF_MAX_MS": "200", "CLOISTER_INIT_MAX_ATTEMPTS": "3",
         # The container's environment is not the application's: this must not reach it.
         "OUTSIDE": "from the container"}
    e.update(extra)
    return e


def run_init(rootfs, agent, **env):
    """The image's own /.cloister/cloister-init, as root, with CLOISTER_ROOT (test_init.py)."""
    start = time.monotonic()
    p = subprocess.run([str(rootfs / INIT_PATH)],
                       env=init_env(agent, CLOISTER_ROOT=str(rootfs), **env),
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    p.seconds = time.monotonic() - start
    check_sanitizers(p.stderr)
    return p


def run_init_chrooted(rootfs, agent, **env):
    """The same image with its rootfs as `/`: new mount and PID namespaces (cloister-init is
    PID 1 and /proc/self/exe is the image's file), real root so that it can switch users."""
    (rootfs / "proc").mkdir(exist_ok=True)  # /proc is in tree.skip: the runtime mounts it
    cmd = [shutil.which("unshare") or "/usr/bin/unshare", "-m", "-p", "-f",
           f"--mount-proc={rootfs / 'proc'}", shutil.which("chroot") or "/usr/sbin/chroot",
           str(rootfs), "/" + INIT_PATH]
    start = time.monotonic()
    p = subprocess.run(cmd, env=init_env(agent, PATH="/bin", **env), capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    p.seconds = time.monotonic() - start
    check_sanitizers(p.stderr)
    return p


def app_certificates(team, app):
    return team.owner.list_all("/v1/certificates", app_id=app["app_id"], kind="APP")


def check_app_output(p, img, release):
    """cloister-init checked the tree, attested, ran the entrypoint as the image's user with
    the image's environment, and the app could read its key. Returns the certificate PEM the
    app printed."""
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 0, out
    v = img.values
    assert f"Measurement (mrenclave) {v['mrenclave']}" in p.stderr, out
    assert "File tree matches the manifest" in p.stderr, out
    assert "Certificate issued" in p.stderr, out
    assert "Started /bin/sh as pid" in p.stderr and f"(uid {APP_UID}, gid {APP_GID})" \
        in p.stderr, out

    # What the application printed: who it ran as, where, with which environment.
    lines = p.stdout.splitlines()
    assert lines[0] == f"app: uid={APP_UID} gid={APP_GID} cwd=/home/app", out
    assert lines[1] == "app: greeting=from the manifest image_only=kept outside=unset", out
    assert lines[2] == f"app: release={release}", out
    assert lines[3] == "-----BEGIN PRIVATE KEY-----", out  # it can read its key
    return "\n".join(lines[4:]).strip() + "\n"


def check_issued(cert_file, img, team, zone_ca):
    """The certificate is the manager's, for the app's domains, for this build, and chains to
    the zone's CA."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    domain = img.app["domain"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == domain
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [domain, f"www.{domain}"]

    # The chain, against the zone CA the manager publishes (not the chain file alone).
    issuing, root = zone_ca
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted",
                             str(issuing), str(cert_file)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # The manager's record: an APP certificate for this build with this serial.
    records = [c for c in app_certificates(team, img.app)
               if c["build_id"] == img.build["build_id"]]
    serials = {int(c["serial"], 16) for c in records}
    assert cert.serial_number in serials, (cert.serial_number, records)
    return cert


def check_started(p, img, rootfs, team, zone_ca, release):
    """check_app_output and check_issued, plus the files cloister-init wrote in the rootfs:
    the certificate the app printed, a key only the app's user reads, the zone's chain."""
    printed = check_app_output(p, img, release)
    tls = rootfs / "tls"
    cert_pem = (tls / "cert.pem").read_bytes()
    assert printed.strip() == cert_pem.decode().strip(), p.stdout
    key_st = (tls / "key.pem").stat()
    assert (key_st.st_mode & 0o777, key_st.st_uid, key_st.st_gid) == (0o600, APP_UID, APP_GID)
    cert = check_issued(tls / "cert.pem", img, team, zone_ca)
    key = serialization.load_pem_private_key((tls / "key.pem").read_bytes(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    chain = load_pems((tls / "chain.pem").read_bytes())
    assert chain[0].public_bytes(serialization.Encoding.PEM) == zone_ca[0].read_bytes()
    return cert


# --------------------------------------------------------------------------------------------
# 1. the input image and its conversion


@needs_umoci
def test_input_fixture_unpacks_as_intended(tmp_path):
    """The fixture without the converter: umoci applies the whiteout, the opaque directory
    and the hard link as intended, so that a later failure is not the fixture's."""
    busybox = busybox_bytes()
    if os.geteuid() != 0:
        pytest.skip("umoci keeps owners only as root")
    src = write_input(tmp_path / "in", busybox, "release 1\n")
    root = unpack(src.path, tmp_path / "bundle")
    for path in GONE:
        assert not (root / path.lstrip("/")).exists(), path
    assert sorted(p.name for p in (root / "opt/old").iterdir()) == ["new"]
    assert (root / "etc/motd").read_bytes() == MOTD
    assert (root / "bin/id").stat().st_ino == (root / "bin/busybox").stat().st_ino
    assert (root / "bin/sh").readlink() == Path("busybox")
    home = (root / "home/app").stat()
    assert (home.st_uid, home.st_gid) == (APP_UID, APP_GID)
    # busybox runs from the image as the entrypoint would (no cloister-init yet).
    p = subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", str(root), "/bin/sh", "-c",
                        "echo ok; cat /etc/app-release"],
                       capture_output=True, text=True, env={"PATH": "/bin"})
    assert (p.returncode, p.stdout) == (0, "ok\nrelease 1\n"), p.stderr


@needs_umoci
def test_converted_image_unpacks_with_init_and_manifest(first, tmp_path):
    """The converted image as a runtime unpacks it: cloister-init and the manifest in
    /.cloister, the whited-out files gone from both the rootfs and the manifest, the config's
    entrypoint cloister-init."""
    rootfs = unpack(first.out, tmp_path / "bundle")
    assert (rootfs / INIT_PATH).read_bytes() == INIT_BIN.read_bytes()
    entries = manifest_paths(rootfs)
    for path in GONE:
        assert path not in entries and not (rootfs / path.lstrip("/")).exists(), path
    assert entries["/bin/id"]["sha256"] == hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()
    assert entries["/etc/motd"]["sha256"] == hashlib.sha256(MOTD).hexdigest()
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert config["process"]["args"] == ["/" + INIT_PATH]
    manifest = json.loads((rootfs / ".cloister" / "manifest.json").read_text())
    assert manifest["image"]["entrypoint"] == IMAGE_CONFIG["Entrypoint"]
    assert manifest["image"]["user"] == "app"
    assert manifest["app"]["manifest_env"] == MANIFEST_ENV


# --------------------------------------------------------------------------------------------
# 3. the converted image gets its certificate through the agent


@needs_umoci
def test_converted_image_gets_its_certificate(first, team, agent, zone_ca, tmp_path):
    rootfs = unpack(first.out, tmp_path / "bundle")
    p = run_init(rootfs, agent)
    check_started(p, first, rootfs, team, zone_ca, "release 1")


@needs_umoci
def test_converted_image_runs_with_its_rootfs_as_root_directory(first, team, agent, zone_ca,
                                                                tmp_path):
    """No CLOISTER_ROOT: the image's rootfs is `/` (chroot), cloister-init is PID 1 of a new
    PID namespace, /proc/self/exe is the image's own /.cloister/cloister-init."""
    if not is_static(INIT_BIN):
        pytest.skip("cloister-init is not static in this build (sanitizers): it cannot run in "
                    "an image without the host's libraries")
    rootfs = unpack(first.out, tmp_path / "bundle")
    p = run_init_chrooted(rootfs, agent)
    assert "CLOISTER_ROOT" not in p.stderr, p.stderr
    check_started(p, first, rootfs, team, zone_ca, "release 1")


@needs_umoci
def test_converted_image_runs_as_the_runtime_config_says(first, team, agent, zone_ca,
                                                        tmp_path):
    """As a runtime runs the unpacked bundle: the user and arguments of umoci's config.json
    (generated from the converted image's config), the rootfs as `/`: the converted config has
    no User, so cloister-init starts as root, writes the key, and runs the app as `app`."""
    if not is_static(INIT_BIN):
        pytest.skip("cloister-init is not static in this build (sanitizers): it cannot run in "
                    "an image without the host's libraries")
    rootfs = unpack(first.out, tmp_path / "bundle")
    process = json.loads((tmp_path / "bundle" / "config.json").read_text())["process"]
    assert process["args"] == ["/" + INIT_PATH]
    user = process["user"]
    (rootfs / "proc").mkdir(exist_ok=True)
    cmd = [shutil.which("unshare") or "/usr/bin/unshare", "-m", "-p", "-f",
           f"--mount-proc={rootfs / 'proc'}", shutil.which("chroot") or "/usr/sbin/chroot",
           f"--userspec={user['uid']}:{user['gid']}", str(rootfs), *process["args"]]
    env = dict(e.split("=", 1) for e in process["env"])
    p = subprocess.run(cmd, env=init_env(agent, **env), capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    check_sanitizers(p.stderr)
    assert (user["uid"], user["gid"]) == (0, 0), user
    check_started(p, first, rootfs, team, zone_ca, "release 1")


# --------------------------------------------------------------------------------------------
# 3b. a signed image: cloister-init claims the signer only when the signature verifies


def new_key(path, algorithm="EC"):
    """A private key made by openssl: EC P-256, or ED25519 (what the manager signs with)."""
    curve = ["-pkeyopt", "ec_paramgen_curve:P-256"] if algorithm == "EC" else []
    run(["openssl", "genpkey", "-algorithm", algorithm, *curve, "-out", path])
    return path


def public_pem(key_path):
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_sha256(pem):
    key = serialization.load_pem_public_key(pem)
    return hashlib.sha256(key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


@pytest.fixture(scope="module")
def signed(team, app, app_json, agent, tmp_path_factory):
    """Release 1 signed with an Ed25519 key (as the manager signs), registered with its
    mrsigner and approved."""
    busybox = preconditions()
    d = tmp_path_factory.mktemp("signed")
    key = new_key(d / "signer-key.pem", "ED25519")
    src = write_input(d / "in", busybox, "signed release\n")
    img = Image(app, app_json, src.path, d / "out",
                convert(src.path, d / "out", app_json, "--signer-key", key))
    assert img.values["mrsigner"] == spki_sha256(public_pem(key))
    img.register(team, approve=True)
    img.key = key
    return img


@needs_umoci
def test_signed_image_gets_its_certificate(signed, team, agent, zone_ca, tmp_path):
    rootfs = unpack(signed.out, tmp_path / "bundle")
    p = run_init(rootfs, agent)
    assert f"Manifest signature verifies (mrsigner {signed.values['mrsigner']})" in p.stderr, \
        p.stderr
    check_started(p, signed, rootfs, team, zone_ca, "signed release")


def swap_signer_key(rootfs, tmp_path):
    """Another key's public key as signer.pem: the signature no longer matches the signer."""
    (rootfs / ".cloister/signer.pem").write_bytes(public_pem(new_key(tmp_path / "other.pem")))


def remove_signature(rootfs, tmp_path):
    (rootfs / ".cloister/manifest.sig").unlink()


def claim_other_signer(rootfs, tmp_path):
    """The manifest claims another signer (outside the measurement, as MRSIGNER is), with that
    key's signer.pem, but keeps the original signature: it must not verify."""
    pem = public_pem(new_key(tmp_path / "other.pem"))
    manifest = rootfs / ".cloister/manifest.json"
    text = manifest.read_text()
    old = json.loads(text)["signer"]
    manifest.write_text(text.replace(old, spki_sha256(pem)))
    (rootfs / ".cloister/signer.pem").write_bytes(pem)


def unsign(rootfs, tmp_path):
    """Both files removed: the manifest still names the signer, so it is not 'unsigned'."""
    remove_signature(rootfs, tmp_path)
    (rootfs / ".cloister/signer.pem").unlink()


@needs_umoci
@pytest.mark.parametrize("tamper,problem", [
    (swap_signer_key, "signer.pem is not the key the manifest's signer names"),
    (remove_signature, "the manifest names a signer but manifest.sig is missing"),
    (claim_other_signer, "manifest.sig does not verify with signer.pem"),
    (unsign, "the manifest names a signer but"),
], ids=["other-key", "no-signature", "claimed-signer", "both-removed"])
def test_bad_signature_refuses_to_start(signed, team, agent, tmp_path, tamper, problem):
    rootfs = unpack(signed.out, tmp_path / "bundle")
    tamper(rootfs, tmp_path)
    issued_before = len(app_certificates(team, signed.app))
    p = run_init(rootfs, agent)
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1, out
    assert f"Manifest signature check failed: {problem}" in p.stderr, out
    assert "Certificate" not in p.stderr and p.stdout == "", out
    assert not (rootfs / "tls").exists(), out
    assert len(app_certificates(team, signed.app)) == issued_before


# --------------------------------------------------------------------------------------------
# 4. a tampered image refuses to start


def flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def uid_zero(path):
    """The app user made root without changing the file's size: `1000:1000` -> `0000:0000`."""
    text = path.read_text()
    assert f"app:x:{APP_UID}:{APP_GID}:" in text
    path.write_text(text.replace(f"app:x:{APP_UID}:{APP_GID}:", "app:x:0000:0000:"))


@needs_umoci
@pytest.mark.parametrize("path,tamper", [("/bin/busybox", flip_byte), ("/etc/passwd", uid_zero)],
                         ids=["busybox-byte", "passwd-uid0"])
def test_tampered_image_refuses_to_start(first, team, agent, tmp_path, path, tamper):
    rootfs = unpack(first.out, tmp_path / "bundle")
    target = rootfs / path.lstrip("/")
    assert path in manifest_paths(rootfs), f"{path} is not in the manifest: not a tamper test"
    before = target.stat()
    tamper(target)
    after = target.stat()
    assert (after.st_size, after.st_mode, after.st_uid) == \
        (before.st_size, before.st_mode, before.st_uid), "only the content may change"
    issued_before = len(app_certificates(team, first.app))
    p = run_init(rootfs, agent)
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1, out
    assert f"File tree check failed: {path}: content differs" in p.stderr, out
    assert "Certificate issued" not in p.stderr and "Started" not in p.stderr, out
    assert p.stdout == "", out  # the entrypoint never ran
    assert not (rootfs / "tls").exists(), out
    assert len(app_certificates(team, first.app)) == issued_before


# --------------------------------------------------------------------------------------------
# 5. a different build of the same app is refused until approved


@needs_umoci
def test_other_build_refused_until_approved(first, team, app, app_json, agent, zone_ca,
                                            tmp_path):
    busybox = preconditions()
    src = write_input(tmp_path / "in", busybox, "release 2\n")
    second = Image(app, app_json, src.path, tmp_path / "out",
                   convert(src.path, tmp_path / "out", app_json))
    v1, v2 = first.values, second.values
    assert v2["mrenclave"] != v1["mrenclave"] and v2["tree_digest"] != v1["tree_digest"]
    assert (v2["mrsigner"], v2["isvprodid"], v2["isvsvn"]) == \
        (v1["mrsigner"], v1["isvprodid"], v1["isvsvn"])
    issued = lambda: len(app_certificates(team, app))  # noqa: E731
    before = issued()

    # Not registered: denied at once, naming the measurement.
    rootfs = unpack(second.out, tmp_path / "bundle-1")
    p = run_init(rootfs, agent)
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1, out
    assert "File tree matches the manifest" in p.stderr, out
    assert "Certificate request DENIED" in p.stderr, out
    assert v2["mrenclave"] in p.stderr.split("DENIED", 1)[1], out
    assert "Retrying" not in p.stderr and p.stdout == "", out
    assert not (rootfs / "tls").exists()

    # Registered, not approved: PENDING_WHITELIST on every round, then it gives up.
    build = second.register(team, approve=False)
    rootfs = unpack(second.out, tmp_path / "bundle-2")
    p = run_init(rootfs, agent, CLOISTER_INIT_MAX_ATTEMPTS="2")
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1, out
    assert p.stderr.count("waiting for approval (PENDING_WHITELIST)") == 2, out
    assert build["pending_task_id"] in p.stderr, out
    assert "Giving up after 2 attempts" in p.stderr, out
    assert p.stdout == "" and not (rootfs / "tls").exists(), out
    assert issued() == before
    assert team.owner.build(build["build_id"])["status"]["status"] == "PENDING"

    # Approved: the same unpacked image now starts.
    team.owner.approve(build["pending_task_id"])
    p = run_init(rootfs, agent)
    check_started(p, second, rootfs, team, zone_ca, "release 2")
    assert issued() == before + 1


# --------------------------------------------------------------------------------------------
# 6. the same, the way users run it: pulled into podman's store and run with `podman run`

PODMAN = shutil.which("podman")
needs_podman = pytest.mark.skipif(PODMAN is None or shutil.which("runc") is None,
                                  reason="podman and runc not installed "
                                         "(apt-get install podman runc)")
# ENVIRONMENT.md: crun fails on cgroups here, and the sandbox refuses podman's default rlimits.
PODMAN_RUN = ["--runtime", "runc", "run", "--rm", "--network", "host",
              "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def podman(*args):
    return subprocess.run([PODMAN, *map(str, args)], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


@pytest.fixture
def podman_images():
    """Pulls OCI layouts into podman's store (`podman pull oci:DIR:TAG`, as `podman run` of a
    registry image would), returns the image ID; removes them afterwards."""
    if not is_static(INIT_BIN):
        pytest.skip("cloister-init is not static in this build (sanitizers): it cannot run in "
                    "an image without the host's libraries")
    pulled = []

    def pull(layout):
        p = podman("pull", "--quiet", f"oci:{layout}:{TAG}")
        assert p.returncode == 0, f"podman pull oci:{layout}:{TAG}: {p.stderr}"
        image_id = p.stdout.split()[-1]
        pulled.append(image_id)
        return image_id

    yield pull
    for image_id in pulled:
        podman("rmi", "--force", image_id)


@pytest.fixture(scope="module")
def podman_first(team, app, app_json, agent, tmp_path_factory):
    """A release without the cross-layer hard link (input_layers), registered and approved."""
    busybox = preconditions()
    d = tmp_path_factory.mktemp("podman-release-1")
    src = write_input(d / "in", busybox, "podman release 1\n", cross_layer_link=False)
    img = Image(app, app_json, src.path, d / "out", convert(src.path, d / "out", app_json))
    img.register(team, approve=True)
    return img


def podman_run(image_id, agent, **env):
    """`podman run` of the image with the environment a user gives it: the agent's URL (and
    a variable the application must not see)."""
    env = {"NODE_AGENT_BASE_URL": agent.url, "CLOISTER_INIT_BACKOFF_MAX_MS": "200",
           "CLOISTER_INIT_MAX_ATTEMPTS": "3", "OUTSIDE": "from the container", **env}
    flags = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    name = unique("cloister-test").lower()
    p = podman(*PODMAN_RUN, "--name", name, *flags, image_id)
    check_sanitizers(p.stderr)
    return p


@needs_umoci
@needs_podman
def test_podman_runs_the_converted_image(podman_first, team, agent, zone_ca,
                                         podman_images, tmp_path):
    p = podman_run(podman_images(podman_first.out), agent)
    cert_file = tmp_path / "cert.pem"
    cert_file.write_text(check_app_output(p, podman_first, "podman release 1"))
    check_issued(cert_file, podman_first, team, zone_ca)


@needs_umoci
@needs_podman
def test_podman_refuses_a_tampered_image(podman_first, team, agent, podman_images, tmp_path):
    """One byte of /bin/busybox changed in a layer added on top of the converted image (umoci
    repack): the image podman runs has the converted config and manifest, not its content."""
    layout = tmp_path / "tampered"
    shutil.copytree(podman_first.out, layout)
    rootfs = unpack(layout, tmp_path / "bundle")
    flip_byte(rootfs / "bin" / "busybox")
    run(["umoci", "repack", "--image", f"{layout}:{TAG}", tmp_path / "bundle"])
    issued_before = len(app_certificates(team, podman_first.app))
    p = podman_run(podman_images(layout), agent)
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1, out
    assert "File tree check failed: /bin/busybox: content differs" in p.stderr, out
    assert "Certificate issued" not in p.stderr and p.stdout == "", out
    assert len(app_certificates(team, podman_first.app)) == issued_before


@needs_umoci
@needs_podman
def test_podman_other_build_refused_until_approved(podman_first, team, app, app_json, agent,
                                                   zone_ca, podman_images, tmp_path):
    busybox = preconditions()
    src = write_input(tmp_path / "in", busybox, "podman release 2\n",
                       cross_layer_link=False)
    second = Image(app, app_json, src.path, tmp_path / "out",
                   convert(src.path, tmp_path / "out", app_json))
    assert second.values["mrenclave"] != podman_first.values["mrenclave"]
    image_id = podman_images(second.out)
    before = len(app_certificates(team, app))

    p = podman_run(image_id, agent)
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1 and "Certificate request DENIED" in p.stderr, out
    assert second.values["mrenclave"] in p.stderr.split("DENIED", 1)[1], out

    build = second.register(team, approve=False)
    p = podman_run(image_id, agent, CLOISTER_INIT_MAX_ATTEMPTS="2")
    out = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == 1, out
    assert p.stderr.count("waiting for approval (PENDING_WHITELIST)") == 2, out
    assert build["pending_task_id"] in p.stderr and p.stdout == "", out
    assert len(app_certificates(team, app)) == before

    team.owner.approve(build["pending_task_id"])
    p = podman_run(image_id, agent)
    cert_file = tmp_path / "cert.pem"
    cert_file.write_text(check_app_output(p, second, "podman release 2"))
    check_issued(cert_file, second, team, zone_ca)
    assert len(app_certificates(team, app)) == before + 1
