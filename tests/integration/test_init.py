"""cloister-init (docs/init.md, SPEC 6.2 and 7) and cloister-manifest (docs/manifest.md).

Each test builds a tiny root file system in a temporary directory, makes its manifest with
cloister-manifest, and runs the real cloister-init against it: with CLOISTER_ROOT pointing at the
rootfs (tests and development only), or, where user namespaces allow it, inside the rootfs with
`unshare -r ... chroot` exactly as in an image.

Two groups:
  - no agent needed: tampered trees, unexpected arguments, bad manifests and an unreachable agent
    are refused clearly and before any network traffic (a listening socket counts connections);
  - end to end (manager + cloister-agent + cloister-init + tiny-https): skipped, saying so, while
    the manager under test has no node API or the agent is not built.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import types
from pathlib import Path

import pytest
from cryptography import x509

import cloister_testlib as lib
from cloister_testlib import expect, unique, wait_until

INIT_BIN = Path(os.environ.get("CLOISTER_INIT_BIN")
                or (lib.BUILD_DIR / "src" / "init" / "cloister-init"))
MANIFEST_BIN = Path(os.environ.get("CLOISTER_MANIFEST_BIN")
                    or (lib.BUILD_DIR / "src" / "init" / "cloister-manifest"))
# The application: a static HTTPS server (tests/helpers), built only without sanitizers, so the
# sanitizer build borrows the plain build's copy when there is one.
TINY_HTTPS = next((p for p in (lib.BUILD_DIR / "tests" / "helpers" / "tiny-https",
                               lib.REPO_ROOT / "build" / "tests" / "helpers" / "tiny-https")
                   if p.exists()), None)

RUN_TIMEOUT = 60


def binaries():
    for p in (INIT_BIN, MANIFEST_BIN):
        if not p.exists():
            raise AssertionError(f"{p} not built (meson/ninja into <repo>/build)")


def end_init_and_agent(proc, agent):
    """The end of an end-to-end run: init (and its application) killed if still running, then
    the agent stopped, which must exit cleanly."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    try:
        assert agent.stop() == 0, agent.log_text()
    finally:
        agent.kill()


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def is_static(path):
    out = subprocess.run(["file", "-L", str(path)], capture_output=True, text=True).stdout
    return "statically linked" in out


def app_config(domain="app.example.com", *, key_type="EC", allow_args=False, rw_dirs=("/data",),
               user="1000:1000", cmd=None, check=None):
    """An app as the manager stores it, plus the image's own settings."""
    cert = {"issuer": "MANAGER_CA", "subject": domain, "alt_names": [domain],
            "key_type": key_type,
            "key_param": {"curve": "P-256"} if key_type == "EC" else {"size": 2048},
            "key_path": "/tls/key.pem", "cert_path": "/tls/cert.pem",
            "chain_path": "/tls/chain.pem"}
    cfg = {
        "name": unique("app"), "isvprodid": 1, "isvsvn": 1, "mem_size": 1 << 30, "threads": 4,
        "advanced_settings": {"certificate": cert, "rw_dirs": list(rw_dirs),
                              "allow_cmdline_args": allow_args,
                              "manifest_env": ["GREETING=hello from the enclave"]},
        "image": {"entrypoint": ["/bin/app"],
                  "cmd": cmd or ["/tls/cert.pem", "/tls/key.pem", "8443"],
                  "env": ["PATH=/bin"], "workdir": "/", "user": user},
    }
    if check:
        cfg["tree"] = check
    return cfg


class Rootfs:
    """A root file system with /bin/app, /etc/passwd, a read-write /data and its manifest."""

    def __init__(self, base, config, app_binary=None, with_init=False):
        self.base = Path(base)
        self.root = self.base / "root"
        self.config = config
        (self.root / "bin").mkdir(parents=True)
        (self.root / "etc").mkdir()
        (self.root / "data").mkdir()
        (self.root / ".cloister").mkdir()
        app = app_binary or TINY_HTTPS or MANIFEST_BIN
        shutil.copy2(app, self.root / "bin" / "app")
        (self.root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/app\n"
                                                  "app:x:1000:1000::/:/bin/app\n")
        (self.root / "etc" / "motd").write_text("welcome\n")
        self.init = INIT_BIN
        if with_init:
            # Inside the image cloister-init lives in /.cloister, which the tree leaves out.
            shutil.copy2(INIT_BIN, self.root / ".cloister" / "cloister-init")
            self.init = self.root / ".cloister" / "cloister-init"
        self.measure()

    def measure(self):
        cfg_path = self.base / "app.json"
        cfg_path.write_text(json.dumps(self.config))
        out = subprocess.run([str(MANIFEST_BIN), "create", "--rootfs", str(self.root),
                              "--config", str(cfg_path), "--init", str(self.init),
                              "-o", str(self.root / ".cloister" / "manifest.json")],
                             capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert out.returncode == 0, out.stderr
        self.values = dict(line.split(" ", 1) for line in out.stdout.splitlines())
        assert re.fullmatch(r"[0-9a-f]{64}", self.values["mrenclave"]), out.stdout
        return self.values

    @property
    def manifest(self):
        return json.loads((self.root / ".cloister" / "manifest.json").read_text())


class CountingListener:
    """A TCP listener that only counts connections: proves that nothing was sent."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            c.close()

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    lst = CountingListener()
    yield lst
    lst.close()


def run_init(rootfs, *args, agent_url=None, env=None, timeout=RUN_TIMEOUT):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
         "CLOISTER_ROOT": str(rootfs.root),
         "NODE_AGENT_BASE_URL": agent_url or "http://127.0.0.1:9",
         "CLOISTER_INIT_BACKOFF_MAX_MS": "200", "CLOISTER_INIT_MAX_ATTEMPTS": "2"}
    e.update(env or {})
    p = subprocess.run([str(rootfs.init), *args], env=e, capture_output=True, text=True,
                       timeout=timeout)
    check_sanitizers(p.stderr)
    return p


def check_sanitizers(text):
    for pattern in lib.SANITIZER_PATTERNS:
        assert pattern not in text, text


# --------------------------------------------------------------------------------------------
# no agent needed


def test_static_binary():
    binaries()
    if not is_static(INIT_BIN):
        pytest.skip("this build links cloister-init dynamically (sanitizer builds cannot be "
                    "static)")
    out = subprocess.run(["ldd", str(INIT_BIN)], capture_output=True, text=True)
    assert "not a dynamic executable" in (out.stdout + out.stderr)


def test_manifest_tool_is_deterministic(tmp_path):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    first = dict(rootfs.values)
    again = rootfs.measure()
    assert again == first
    m = rootfs.manifest
    assert m["version"] == 1
    paths = [e["path"] for e in m["tree"]["entries"]]
    assert paths == sorted(paths, key=lambda p: p.encode())
    assert "/etc/motd" in paths and "/.cloister" not in paths
    assert all(not p.startswith("/.cloister") for p in paths)
    motd = next(e for e in m["tree"]["entries"] if e["path"] == "/etc/motd")
    import hashlib
    assert motd == {"path": "/etc/motd", "type": "file",
                    "mode": (rootfs.root / "etc" / "motd").stat().st_mode & 0o7777,
                    "uid": os.getuid(), "gid": os.getgid(), "size": 8,
                    "sha256": hashlib.sha256(b"welcome\n").hexdigest()}
    # The measurement depends on the settings and on the init binary.
    rootfs.config["threads"] = 5
    assert rootfs.measure()["mrenclave"] != first["mrenclave"]
    assert rootfs.values["tree_digest"] == first["tree_digest"]
    measured = subprocess.run([str(MANIFEST_BIN), "measure", "--manifest",
                               str(rootfs.root / ".cloister" / "manifest.json"),
                               "--init", str(MANIFEST_BIN)], capture_output=True, text=True)
    assert measured.returncode == 0, measured.stderr
    assert measured.stdout.split()[1] != rootfs.values["mrenclave"]


@pytest.mark.parametrize("tamper,path,what", [
    ("change", "/etc/motd", "content differs"),
    ("chmod", "/etc/motd", "mode differs"),
    ("remove", "/etc/motd", "missing"),
    ("add", "/etc/extra", "not in the manifest"),
    ("symlink", "/bin/sh", "not in the manifest"),
])
def test_tampered_tree_refused_before_network(tmp_path, listener, tamper, path, what):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    target = rootfs.root / path.lstrip("/")
    if tamper == "change":
        target.write_text("WELCOME\n")
    elif tamper == "chmod":
        target.chmod(0o666)
    elif tamper == "remove":
        target.unlink()
    elif tamper == "add":
        target.write_text("")
    elif tamper == "symlink":
        target.symlink_to("app")
    p = run_init(rootfs, agent_url=listener.url)
    assert p.returncode == 1, p.stderr
    assert f"File tree check failed: {path}: {what}" in p.stderr, p.stderr
    assert listener.count == 0, "cloister-init connected to the agent before checking the tree"


def test_rw_dirs_and_certificate_files_not_checked(tmp_path, listener):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    (rootfs.root / "data" / "written-by-app").write_text("x")
    (rootfs.root / "tls").mkdir()
    (rootfs.root / "tls" / "cert.pem").write_text("old")
    p = run_init(rootfs, agent_url=listener.url,
                 env={"CLOISTER_INIT_MAX_ATTEMPTS": "1"})
    assert "File tree matches the manifest" in p.stderr, p.stderr
    assert listener.count >= 1  # it went on to the agent
    assert p.returncode == 1


def test_unexpected_arguments_refused(tmp_path, listener):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    p = run_init(rootfs, "--debug", "x", agent_url=listener.url)
    assert p.returncode == 2, p.stderr
    assert "Refusing 2 unexpected command-line arguments (first: \"--debug\")" in p.stderr
    assert "allow_cmdline_args" in p.stderr
    assert listener.count == 0


def test_arguments_allowed_when_the_manifest_says_so(tmp_path, listener):
    binaries()
    rootfs = Rootfs(tmp_path / "allowed", app_config(allow_args=True))
    p = run_init(rootfs, "--debug", agent_url=listener.url,
                 env={"CLOISTER_INIT_MAX_ATTEMPTS": "1"})
    assert "unexpected command-line" not in p.stderr
    assert "File tree matches the manifest" in p.stderr, p.stderr


def test_unreachable_agent_backoff_then_gives_up(tmp_path):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    port = lib.free_port()
    start = time.monotonic()
    p = run_init(rootfs, agent_url=f"http://127.0.0.1:{port}",
                 env={"CLOISTER_INIT_BACKOFF_MAX_MS": "1600", "CLOISTER_INIT_MAX_ATTEMPTS": "4"})
    elapsed = time.monotonic() - start
    assert p.returncode == 1, p.stderr
    reach = f"Cannot reach the node agent at http://127.0.0.1:{port}: Connection refused"
    assert p.stderr.count(reach) == 4, p.stderr
    # Exponential, capped: 1000, 1600, 1600 ms.
    delays = [int(d) for d in re.findall(r"Retrying in (\d+) ms", p.stderr)]
    assert delays == [1000, 1600, 1600], p.stderr
    assert "Giving up after 4 attempts" in p.stderr
    assert elapsed >= 4.0


def test_stop_signal_while_waiting(tmp_path):
    """Before the application runs, SIGTERM ends cloister-init (also as PID 1, where a signal
    without a handler would be ignored): status 128 + 15."""
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    log_path = tmp_path / "init.log"
    proc = start_init(rootfs, f"http://127.0.0.1:{lib.free_port()}", log_path,
                      env={"CLOISTER_INIT_BACKOFF_MAX_MS": "30000"})
    try:
        wait_until(lambda: "Retrying in 1000 ms" in log_path.read_text(), 30,
                   what="the first backoff")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=5) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check_sanitizers(log_path.read_text())


def test_unreachable_unix_socket(tmp_path):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    sock = tmp_path / "no-agent.sock"
    p = run_init(rootfs, agent_url=f"unix:{sock}", env={"CLOISTER_INIT_MAX_ATTEMPTS": "1"})
    assert p.returncode == 1
    assert f"Cannot reach the node agent at unix:{sock}: No such file or directory" in p.stderr


@pytest.mark.parametrize("url", ["http://localhost:9092", "https://127.0.0.1:9092", "tcp:x"])
def test_bad_agent_url(tmp_path, url):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    p = run_init(rootfs, agent_url=url)
    assert p.returncode == 1
    assert f'Bad NODE_AGENT_BASE_URL "{url}"' in p.stderr, p.stderr


@pytest.mark.parametrize("value", ["0", "3601", "abc", "-1", "10s", " 5", "+5",
                                   "99999999999999999999"])
def test_bad_heartbeat_interval_refused(tmp_path, listener, value):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    p = run_init(rootfs, agent_url=listener.url,
                 env={"CLOISTER_INIT_HEARTBEAT_SECONDS": value})
    assert p.returncode == 2, p.stderr
    assert f'Bad CLOISTER_INIT_HEARTBEAT_SECONDS="{value}"' in p.stderr, p.stderr
    assert "from 1 to 3600" in p.stderr
    assert listener.count == 0


def test_bad_manifests(tmp_path, listener):
    binaries()
    rootfs = Rootfs(tmp_path, app_config())
    path = rootfs.root / ".cloister" / "manifest.json"
    good = path.read_text()
    cases = [
        (good.replace('"version": 1', '"version": 2'), "manifest version must be 1"),
        (good.replace('"threads":4', '"threads":4,"threads":4'), "not valid strict JSON"),
        ("\n".join(line.replace('"size":8,', '"size":9,') if '"/etc/motd"' in line else line
                   for line in good.split("\n")),
         "tree.digest does not match tree.entries"),
        (good[:-10], "not valid strict JSON"),
    ]
    for text, message in cases:
        assert text != good
        path.write_text(text)
        p = run_init(rootfs, agent_url=listener.url)
        assert p.returncode == 1
        assert f"Invalid manifest /.cloister/manifest.json: {message}" in p.stderr, p.stderr
    path.unlink()
    p = run_init(rootfs, agent_url=listener.url)
    assert "Cannot read the manifest /.cloister/manifest.json: No such file or directory" \
        in p.stderr
    assert listener.count == 0


def unshare_chroot_works(root):
    try:
        p = subprocess.run([shutil.which("unshare") or "unshare", "-r", "-m", "-p", "-f",
                            "--mount-proc=" + str(root / "proc"),
                            shutil.which("chroot") or "chroot", str(root),
                            "/.cloister/cloister-init", "--version-probe"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "cloister-init" in p.stderr


def test_runs_inside_an_empty_image(tmp_path, listener):
    """The static binary in a rootfs that has no libc at all, as in a `scratch` image."""
    binaries()
    if not is_static(INIT_BIN):
        pytest.skip("cloister-init is not static in this build (sanitizers)")
    rootfs = Rootfs(tmp_path, app_config(), with_init=True)
    (rootfs.root / "proc").mkdir()
    rootfs.measure()
    if not unshare_chroot_works(rootfs.root):
        pytest.skip("unshare -r with a chroot is not permitted here")
    env = {"PATH": "/bin", "NODE_AGENT_BASE_URL": listener.url,
           "CLOISTER_INIT_BACKOFF_MAX_MS": "100", "CLOISTER_INIT_MAX_ATTEMPTS": "2"}
    cmd = [shutil.which("unshare"), "-r", "-m", "-p", "-f",
           "--mount-proc=" + str(rootfs.root / "proc"), shutil.which("chroot"), str(rootfs.root),
           "/.cloister/cloister-init"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert "File tree matches the manifest" in p.stderr, p.stderr
    assert f"Measurement (mrenclave) {rootfs.values['mrenclave']}" in p.stderr
    assert listener.count >= 1
    (rootfs.root / "etc" / "motd").write_text("changed\n")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 1
    assert "File tree check failed: /etc/motd: content differs" in p.stderr


# --------------------------------------------------------------------------------------------
# end to end: manager + agent + cloister-init (+ tiny-https as the application)


def agent_module():
    """The agent helpers of test_agent.py (the Agent process wrapper), or a skip."""
    if not lib.AGENT_BIN.exists():
        pytest.skip(f"needs cloister-agent ({lib.AGENT_BIN} not built)")
    import test_agent
    return test_agent


@pytest.fixture(scope="module")
def node_api(manager):
    ta = agent_module()
    if not ta.has_node_api(manager):
        pytest.skip("needs the manager's node API (POST /v1/nodes): not in this manager build")
    return manager


@pytest.fixture(scope="module")
def team(node_api):
    return lib.Team(node_api, settings={"allow_simulation": True})


@pytest.fixture
def agent(node_api, team, tmp_path):
    ta = agent_module()
    zones = team.owner.list("/v1/zones")["items"]
    token = expect(team.writer.get(f"/v1/zones/{zones[0]['zone_id']}/token"), 200)["token"]
    a = ta.Agent(tmp_path / "agent", node_api.url, token, ca=node_api.ca, name=unique("node"))
    a.start()
    a.zone_id = zones[0]["zone_id"]
    yield a
    try:
        assert a.stop() == 0, a.log_text()
    finally:
        a.kill()


def start_init(rootfs, agent_url, log_path, *args, env=None):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CLOISTER_ROOT": str(rootfs.root),
         "NODE_AGENT_BASE_URL": agent_url, "CLOISTER_INIT_BACKOFF_MAX_MS": "500"}
    e.update(env or {})
    log = open(log_path, "ab")
    try:
        return subprocess.Popen([str(rootfs.init), *args], env=e, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def register_app(team, rootfs, approve=True):
    """The app and a sim build with the rootfs's measurement; approve: its domain and build."""
    cfg = rootfs.config
    body = lib.app_body(cfg["name"], domain=cfg["advanced_settings"]["certificate"]["subject"])
    body["advanced_settings"] = cfg["advanced_settings"]
    app = expect(team.writer.post("/v1/apps", json=body), 201)
    build = expect(team.writer.post("/v1/builds", json={
        "app_id": app["app_id"], "platform": "sim", "mrenclave": rootfs.values["mrenclave"],
        "mrsigner": rootfs.values["mrsigner"], "isvprodid": 1, "isvsvn": 1}), 201)
    for task_id in (app.get("pending_task_id"), build.get("pending_task_id")):
        if approve and task_id:
            team.owner.approve(task_id)
    return app, build


def test_end_to_end_pending_then_issued(team, agent, tmp_path):
    if TINY_HTTPS is None:
        pytest.skip("needs tests/helpers/tiny-https (built without sanitizers)")
    domain = f"{unique('svc')}.example.com"
    port = lib.free_port()
    # As root, cloister-init chroots the application into CLOISTER_ROOT, so it sees the paths
    # of its image; it runs as the image's user "app" (1000), who must be able to read the key.
    rootfs = Rootfs(tmp_path, app_config(domain, cmd=["/tls/cert.pem", "/tls/key.pem",
                                                      str(port)], user="app"))
    app, build = register_app(team, rootfs, approve=False)
    log_path = tmp_path / "init.log"
    proc = start_init(rootfs, agent.url, log_path)
    try:
        wait_until(lambda: "PENDING_WHITELIST" in log_path.read_text(), 60,
                   what="a PENDING_WHITELIST message")
        assert "Retrying in" in log_path.read_text()
        for task_id in (app.get("pending_task_id"), build.get("pending_task_id")):
            if task_id:
                team.owner.approve(task_id)
        wait_until(lambda: "Started" in log_path.read_text() or proc.poll() is not None, 60,
                   what="the application to start")
        assert proc.poll() is None, log_path.read_text()
        key = rootfs.root / "tls" / "key.pem"
        assert (key.stat().st_mode & 0o777) == 0o600
        if os.geteuid() == 0:
            assert (key.stat().st_uid, key.stat().st_gid) == (1000, 1000)
            assert "(uid 1000, gid 1000)" in log_path.read_text()
        cert = x509.load_pem_x509_certificate((rootfs.root / "tls" / "cert.pem").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert domain in san.get_values_for_type(x509.DNSName)
        chain = rootfs.root / "tls" / "chain.pem"
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(chain),
                                 str(rootfs.root / "tls" / "cert.pem")],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr

        # A client completes a TLS handshake with the application.
        ctx = ssl.create_default_context(cafile=str(chain))
        ctx.check_hostname = False

        def handshake():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    with ctx.wrap_socket(s) as tls:
                        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                        return tls.recv(100)
            except OSError:
                return None
        wait_until(handshake, 30, what="a TLS handshake with the application")

        # SIGTERM goes to the application; init exits with its status.
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_path.read_text()
        assert "Forwarding signal 15" in log_path.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    check_sanitizers(log_path.read_text())


def test_end_to_end_wrong_measurement_denied(team, agent, tmp_path):
    rootfs = Rootfs(tmp_path, app_config(f"{unique('svc')}.example.com"))
    register_app(team, rootfs)
    # The image the build was registered for, with one setting changed: another measurement,
    # which no build has. A denial is final: no retry, a non-zero exit naming the reason.
    rootfs.config["threads"] = 8
    measured = rootfs.measure()["mrenclave"]
    p = run_init(rootfs, agent_url=agent.url, env={"CLOISTER_INIT_MAX_ATTEMPTS": "3"})
    assert p.returncode == 1, p.stderr
    assert "Certificate request DENIED" in p.stderr, p.stderr
    assert measured in p.stderr.split("DENIED", 1)[1], p.stderr
    assert "Retrying" not in p.stderr
    assert not (rootfs.root / "tls" / "key.pem").exists()


def test_end_to_end_renewal_keeps_the_application(team, agent, tmp_path):
    """With 300 s certificates renewed at 1 % of their validity, the supervisor attests again
    within seconds and replaces the certificate while the application keeps running."""
    path = f"/v1/accounts/{team.acct_id}"
    expect(team.owner.patch(path, json={"settings": {"certificate_validity": 300,
                                                     "renewal_threshold": 1}}), 200)
    proc = None
    try:
        rootfs = Rootfs(tmp_path, app_config(f"{unique('svc')}.example.com",
                                             cmd=["/tls/cert.pem", "/tls/key.pem",
                                                  str(lib.free_port())]))
        register_app(team, rootfs)
        log_path = tmp_path / "init.log"
        proc = start_init(rootfs, agent.url, log_path)
        cert_path = rootfs.root / "tls" / "cert.pem"
        wait_until(lambda: cert_path.exists() or proc.poll() is not None, 60,
                   what="the first certificate")
        assert proc.poll() is None, log_path.read_text()
        # renew_after is already past here (the CA backdates not_before), so the supervisor
        # renews at once, then every RENEW_RETRY_MIN_S (5 s): compare two renewals.
        def renewals():
            if proc.poll() is not None:
                raise AssertionError(log_path.read_text())
            return log_path.read_text().count("Certificate renewed")
        key_before = (rootfs.root / "tls" / "key.pem").read_bytes()
        wait_until(lambda: renewals() >= 1, 60, what="a renewal")
        while True:  # a certificate read between two renewals, not during one
            seen = renewals()
            first = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if renewals() == seen:
                break
        assert (first.not_valid_after - first.not_valid_before).total_seconds() <= 400
        wait_until(lambda: renewals() >= seen + 1, 60, what="a second renewal")
        second = x509.load_pem_x509_certificate(cert_path.read_bytes())
        assert second.serial_number != first.serial_number
        # The key of this start stays: the key file never disagrees with the certificate file.
        assert second.public_key().public_numbers() == first.public_key().public_numbers()
        assert (rootfs.root / "tls" / "key.pem").read_bytes() == key_before
        assert log_path.read_text().count("Started /bin/app") == 1
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_path.read_text()
        check_sanitizers(log_path.read_text())
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        expect(team.owner.patch(path, json={"settings": {"certificate_validity": 86400,
                                                         "renewal_threshold": 50}}), 200)


def test_end_to_end_over_the_unix_socket(node_api, team, tmp_path):
    """NODE_AGENT_BASE_URL=unix:/path: the same flow over the agent's Unix socket; the image's
    user is numeric here and the key is RSA."""
    if TINY_HTTPS is None:
        pytest.skip("needs tests/helpers/tiny-https (built without sanitizers)")
    ta = agent_module()
    zones = team.owner.list("/v1/zones")["items"]
    token = expect(team.writer.get(f"/v1/zones/{zones[0]['zone_id']}/token"), 200)["token"]
    a = ta.Agent(tmp_path / "agent", node_api.url, token, ca=node_api.ca, name=unique("node"),
                 unix_socket=True)
    a.start()
    proc = None
    try:
        port = lib.free_port()
        rootfs = Rootfs(tmp_path, app_config(f"{unique('svc')}.example.com", key_type="RSA",
                                             user="1000:1000",
                                             cmd=["/tls/cert.pem", "/tls/key.pem", str(port)]))
        register_app(team, rootfs)
        log_path = tmp_path / "init.log"
        proc = start_init(rootfs, f"unix:{a.unix_path}", log_path)
        wait_until(lambda: "Started /bin/app" in log_path.read_text() or proc.poll() is not None,
                   60, what="the application to start")
        assert proc.poll() is None, log_path.read_text()
        key = (rootfs.root / "tls" / "key.pem").read_text()
        assert key.startswith("-----BEGIN PRIVATE KEY-----")
        cert = x509.load_pem_x509_certificate((rootfs.root / "tls" / "cert.pem").read_bytes())
        assert cert.public_key().key_size == 2048
        # SIGTERM only once the application serves: before it has installed its handler, the
        # signal would end it with status 143 (init forwards it either way).
        wait_until(lambda: port_open(port), 30, what="the application to listen")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_path.read_text()
        check_sanitizers(log_path.read_text())
    finally:
        end_init_and_agent(proc, a)


@pytest.fixture(scope="module")
def fast_team(node_api):
    """An account whose zone asks for check-ins every 5 s (the shortest the manager allows)."""
    return lib.Team(node_api, settings={"allow_simulation": True, "node_refresh_interval": 5})


@pytest.fixture
def heartbeating_app(node_api, fast_team, tmp_path):
    """A node agent, and init running an application with heartbeats every second, past its
    first heartbeat: {agent, node_id, proc, log_path, port, instance_id}. Both are ended (init
    killed if still running, the agent stopped cleanly) when the test ends."""
    if TINY_HTTPS is None:
        pytest.skip("needs tests/helpers/tiny-https (built without sanitizers)")
    ta = agent_module()
    zones = fast_team.owner.list("/v1/zones")["items"]
    token = expect(fast_team.writer.get(f"/v1/zones/{zones[0]['zone_id']}/token"), 200)["token"]
    a = ta.Agent(tmp_path / "agent", node_api.url, token, ca=node_api.ca, name=unique("node"))
    a.start()
    proc = None
    try:
        run = types.SimpleNamespace(agent=a, node_id=a.node_json()["node_id"],
                                    port=lib.free_port(), log_path=tmp_path / "init.log")
        rootfs = Rootfs(tmp_path, app_config(f"{unique('svc')}.example.com",
                                             cmd=["/tls/cert.pem", "/tls/key.pem", str(run.port)]))
        register_app(fast_team, rootfs)
        proc = run.proc = start_init(rootfs, a.url, run.log_path,
                                     env={"CLOISTER_INIT_HEARTBEAT_SECONDS": "1"})
        started = re.compile(r"Heartbeats for instance (\S+) every 1 s")
        found = wait_until(lambda: (started.search(run.log_path.read_text())
                                    or proc.poll() is not None), 60, what="the first heartbeat")
        assert proc.poll() is None, run.log_path.read_text()
        run.instance_id = found.group(1)
        yield run
    finally:
        end_init_and_agent(proc, a)


def stop_application(run):
    """SIGTERM to init once the application listens: init (and the application) exit with 0."""
    wait_until(lambda: port_open(run.port), 30, what="the application to listen")
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.proc.wait(timeout=30) == 0, run.log_path.read_text()


def test_end_to_end_heartbeats_keep_the_instance_running(fast_team, heartbeating_app):
    """The agent's check-in lists only instances that sent a heartbeat lately, and the manager
    marks every instance a check-in leaves out STOPPED: with heartbeats every second the
    instance stays RUNNING across check-ins; once the application (and so init) exits, the
    agent forgets it after three intervals and the next check-in marks it STOPPED."""
    run = heartbeating_app
    log_path = run.log_path

    def node():
        return expect(fast_team.reader.get(f"/v1/nodes/{run.node_id}"), 200)

    def instance_status(n):
        mine = [i for i in n["instances"] if i["instance_id"] == run.instance_id]
        assert len(mine) == 1, n["instances"]
        return mine[0]["status"]["status"]

    # Two check-ins after the start (last_seen_at moves twice): RUNNING all along.
    seen = [node()["status"]["last_seen_at"]]
    deadline = time.monotonic() + 20
    while len(seen) < 3:
        assert time.monotonic() < deadline, f"fewer than two check-ins in 20 s: {seen}"
        n = node()
        assert instance_status(n) == "RUNNING", (n, log_path.read_text())
        if n["status"]["last_seen_at"] != seen[-1]:
            seen.append(n["status"]["last_seen_at"])
        time.sleep(0.2)
    assert run.proc.poll() is None, log_path.read_text()
    assert f"Instance {run.instance_id} is running" in run.agent.log_text()
    assert "Heartbeat for instance" not in log_path.read_text()  # no failure logged

    # The application exits; init with it; the heartbeats stop.
    stop_application(run)
    wait_until(lambda: instance_status(node()) == "STOPPED", 25, interval=0.5,
               what="the instance to be STOPPED after the application exited")
    check_sanitizers(log_path.read_text())


def test_end_to_end_heartbeat_failures_never_stop_the_application(heartbeating_app):
    """The agent goes away for a while: one warning for the streak of failed heartbeats, the
    application runs on, and the heartbeats resume when the agent is back."""
    run = heartbeating_app
    assert run.agent.stop() == 0, run.agent.log_text()
    time.sleep(2.2)  # two heartbeats or more fail
    text = run.log_path.read_text()
    assert text.count("Heartbeat for instance") == 1, text
    assert "cannot reach the node agent" in text, text
    assert run.proc.poll() is None, text
    run.agent.start(with_token=False)
    wait_until(lambda: "Heartbeats reach the node agent again" in run.log_path.read_text(), 10,
               what="the heartbeats to resume")
    assert run.proc.poll() is None, run.log_path.read_text()
    stop_application(run)
    check_sanitizers(run.log_path.read_text())
