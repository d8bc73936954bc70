"""cloister-agent, the node agent (docs/agent.md, SPEC 5), against the real manager.

Every test starts a real cloister-agent process on a free loopback port with its own state
directory. Evidence the agent signs is checked here with Python's `cryptography`, from the bytes
up (docs/sim-evidence.md), against the sim key read from the agent's state directory: nothing of
ours is trusted to check our output.

Tests marked "needs the node API" enroll with the manager (POST /v1/nodes with a join token from
GET /v1/zones/{id}/token); they are skipped, saying so, while the manager under test has no
POST /v1/nodes.
"""

import atexit
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cloister_testlib as lib
from cloister_testlib import expect, free_port, unique, wait_until

AGENT_START_TIMEOUT = 30
SIM_BODY = 192
NONCE_POOL = 128  # AGENT_NONCES_MAX: the nonces an agent prefetches (src/agent/agent-nonces.h)


# --------------------------------------------------------------------------------------------
# the agent process


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


LIVE_AGENTS = []     # every Agent started in this run, killed at exit if still running


@atexit.register
def _kill_agents():
    for a in LIVE_AGENTS:
        a.kill()


class Agent:
    """One cloister-agent process with its own state directory, port and log."""

    def __init__(self, base_dir, manager_url, token=None, ca=None, name=None, unix_socket=False,
                 state_dir=None, extra=()):
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(state_dir) if state_dir else self.dir / "state"
        self.log_path = self.dir / "agent.log"
        self.port = free_port()
        self.manager_url = manager_url
        self.token = token
        self.ca = ca
        self.name = name
        self.unix_path = str(self.dir / "agent.sock") if unix_socket else None
        self.extra = list(extra)
        self.proc = None
        self.http = requests.Session()
        self.http.trust_env = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def command(self, with_manager=True, with_token=True):
        cmd = [str(lib.agent_binary()), "--state-dir", str(self.state_dir),
               "--listen", f"127.0.0.1:{self.port}"]
        if with_manager and self.manager_url:
            cmd += ["--manager", self.manager_url]
        if with_token and self.token:
            cmd += ["--join-token", self.token]
        if self.ca:
            cmd += ["--ca-file", str(self.ca)]
        if self.name:
            cmd += ["--name", self.name]
        if self.unix_path:
            cmd += ["--unix-socket", self.unix_path]
        return cmd + self.extra

    def start(self, wait=True, with_manager=True, with_token=True):
        assert self.proc is None, "agent already running"
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(with_manager, with_token),
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        LIVE_AGENTS.append(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=AGENT_START_TIMEOUT):
        """Until /healthz says enrolled (200)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(f"agent exited with status {rc} during start-up; log:\n"
                                     f"{self.log_text()}")
            try:
                r = self.http.get(self.url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return
                last = r.status_code
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"agent not ready after {timeout} s (last: {last}); log:\n"
                             f"{self.log_text()}")

    def wait_listening(self, timeout=AGENT_START_TIMEOUT):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited: {self.log_text()}")
            try:
                self.http.get(self.url + "/healthz", timeout=2)
                return True
            except requests.RequestException:
                return False
        wait_until(up, timeout, what="the agent to listen")

    def wait_exit(self, timeout=AGENT_START_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"agent still running after {timeout} s; log:\n"
                                 f"{self.log_text()}")
        self.proc = None
        self.check_sanitizers()
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the agent and returns its exit status (which must come in time)."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
            self.proc = None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_sanitizers(self):
        text = self.log_text()
        for pat in lib.SANITIZER_PATTERNS:
            assert pat not in text, f"sanitizer report in agent log:\n{text}"

    # the agent API
    def get(self, path, **kw):
        return self.http.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path, **kw):
        return self.http.post(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def unix_request(self, method, path, body=None):
        conn = UnixHTTPConnection(self.unix_path)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    # the state directory
    def node_json(self):
        return json.loads((self.state_dir / "node.json").read_text())

    def sim_key(self):
        return serialization.load_pem_private_key((self.state_dir / "sim-key.pem").read_bytes(),
                                                  None)

    def node_key_pem(self):
        text = (self.state_dir / "node.pem").read_text()
        end = text.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----")
        return text[:end]


@pytest.fixture
def agents(tmp_path):
    """Factory of Agents; every one still running at the end must stop with status 0 on SIGTERM."""
    made = []

    def make(*args, **kw):
        a = Agent(tmp_path / f"agent-{len(made)}", *args, **kw)
        made.append(a)
        return a

    yield make
    errors = []
    for a in made:
        if a.proc is not None:
            try:
                rc = a.stop()
                if rc != 0:
                    errors.append(f"agent exited {rc} on SIGTERM; log:\n{a.log_text()}")
            except AssertionError as e:
                errors.append(str(e))
            finally:
                a.kill()
    if errors:
        pytest.fail("\n".join(errors))


# --------------------------------------------------------------------------------------------
# the manager side


def has_node_api(manager):
    """Whether the manager under test serves POST /v1/nodes (issue 4, item 3)."""
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(manager.url + "/v1/nodes", json={}, verify=str(manager.ca), timeout=30)
    return r.status_code != 404


@pytest.fixture(scope="module")
def node_api(manager):
    if not has_node_api(manager):
        pytest.skip("needs the manager's node API (POST /v1/nodes): not in this manager build")
    return manager


def account_client(manager):
    c = manager.admin_client()
    # The shortest check-in interval the manager allows, so that check-ins happen during a test.
    acct = c.create_account(unique("agent-acct"),
                            settings={"allow_simulation": True, "node_refresh_interval": 5})
    c.select(acct["acct_id"])
    return c


def zone_token(client, **params):
    """(zone_id, join token) of the selected account's first zone."""
    zones = client.list("/v1/zones")["items"]
    assert zones, "the account has no zone"
    zone_id = zones[0]["zone_id"]
    body = expect(client.get(f"/v1/zones/{zone_id}/token", params=params or None), 200)
    return zone_id, body["token"]


@pytest.fixture(scope="module")
def owner(node_api):
    return account_client(node_api)


@pytest.fixture
def enrolled(node_api, owner, agents):
    """A running agent enrolled in the owner's zone, with a Unix socket too."""
    zone_id, token = zone_token(owner)
    a = agents(node_api.url, token, ca=node_api.ca, name=unique("node"), unix_socket=True)
    a.start()
    a.zone_id = zone_id
    return a


# --------------------------------------------------------------------------------------------
# sim evidence, read independently (docs/sim-evidence.md)


def parse_sim(data):
    assert len(data) >= SIM_BODY + 2, f"sim report too short: {len(data)} bytes"
    body = data[:SIM_BODY]
    assert body[:5] == b"CLSIM" and body[5] == 0
    version, flags, reserved = struct.unpack_from("<HII", body, 6)
    isvprodid, isvsvn, reserved2, attributes = struct.unpack_from("<HHIQ", body, 80)
    (sig_size,) = struct.unpack_from("<H", data, SIM_BODY)
    assert 8 <= sig_size <= 72 and len(data) == SIM_BODY + 2 + sig_size
    assert reserved == 0 and reserved2 == 0
    return {
        "version": version, "flags": flags,
        "mrenclave": body[16:48], "mrsigner": body[48:80],
        "isvprodid": isvprodid, "isvsvn": isvsvn, "attributes": attributes,
        "report_data": body[96:160], "key_id": body[160:192],
        "body": body, "signature": data[SIM_BODY + 2:],
    }


def quote_body(**overrides):
    body = {"report_data": hashlib.sha512(b"binding").hexdigest(),
            "mrenclave": hashlib.sha256(b"enclave").hexdigest(),
            "mrsigner": hashlib.sha256(b"signer").hexdigest(),
            "isvprodid": 513, "isvsvn": 7, "debug": False}
    body.update(overrides)
    return body


def check_quote(agent, resp, req):
    body = expect(resp, 200)
    assert set(body) == {"evidence"} and set(body["evidence"]) == {"type", "data"}
    assert body["evidence"]["type"] == "sim"
    data = base64.b64decode(body["evidence"]["data"], validate=True)
    rep = parse_sim(data)
    assert rep["version"] == 1 and rep["flags"] == 0
    assert rep["mrenclave"].hex() == req["mrenclave"].lower()
    assert rep["mrsigner"].hex() == req["mrsigner"].lower()
    assert rep["report_data"].hex() == req["report_data"].lower()
    assert (rep["isvprodid"], rep["isvsvn"]) == (req["isvprodid"], req["isvsvn"])
    assert bool(rep["attributes"] & 0x2) == bool(req.get("debug"))
    assert rep["attributes"] & 0x1, "INIT attribute"
    pub = agent.sim_key().public_key()
    spki = pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert rep["key_id"] == hashlib.sha256(spki).digest()
    assert isinstance(pub.curve, ec.SECP256R1)
    pub.verify(rep["signature"], rep["body"], ec.ECDSA(hashes.SHA256()))
    return rep


# --------------------------------------------------------------------------------------------
# without the node API: arguments, first start against an unreachable or refusing manager


def run_agent(args, timeout=20):
    return subprocess.run([str(lib.agent_binary())] + args, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_arguments_refused(tmp_path):
    state = str(tmp_path / "state")
    port = str(free_port())
    p = run_agent(["--manager", "https://127.0.0.1:1"])
    assert p.returncode == 2 and "--state-dir" in p.stderr
    p = run_agent(["--state-dir", state, "--manager", "http://127.0.0.1:1", "--join-token", "t"])
    assert p.returncode == 2 and "--manager" in p.stderr
    p = run_agent(["--state-dir", state, "--bogus"])
    assert p.returncode == 2
    p = run_agent(["--state-dir", state, "extra-argument"])
    assert p.returncode == 2 and "extra-argument" in p.stderr
    p = run_agent(["--state-dir", state, "--pool", "0"])
    assert p.returncode == 2 and "--pool" in p.stderr
    # Not enrolled, no token: refused before anything is listened on or made.
    p = run_agent(["--state-dir", state, "--manager", "https://127.0.0.1:1",
                   "--listen", f"127.0.0.1:{port}"])
    assert p.returncode == 1 and "--join-token" in p.stderr
    assert not (tmp_path / "state" / "node.pem").exists()
    p = run_agent(["--state-dir", state, "--manager", "https://127.0.0.1:1", "--join-token", "t",
                   "--listen", "no-port"])
    assert p.returncode == 1 and "--listen" in p.stderr
    p = run_agent(["--version"])
    assert p.returncode == 0 and p.stdout.startswith("cloister-agent ")


def test_port_in_use_costs_no_token(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_agent(["--state-dir", str(tmp_path / "state"), "--manager",
                       "https://127.0.0.1:1", "--join-token", "t", "--listen",
                       f"127.0.0.1:{port}"])
    assert p.returncode == 1 and "Cannot listen" in p.stderr


def test_unreachable_manager_first_start(agents, tmp_path):
    """First start while the manager cannot be reached: the agent keeps its keys, retries with
    backoff, answers 503 NOT_ENROLLED meanwhile, and stops cleanly on SIGTERM."""
    a = agents(f"https://127.0.0.1:{free_port()}", "some-token")
    a.start(wait=False)
    a.wait_listening()
    r = a.get("/healthz")
    assert r.status_code == 503
    expect(a.get("/v1/sys/version"), 503, "NOT_ENROLLED")
    expect(a.post("/v1/sim/quote", json=quote_body()), 503, "NOT_ENROLLED")
    for name in ("sim-key.pem", "node.pem"):
        st = (a.state_dir / name).stat()
        assert stat.S_IMODE(st.st_mode) == 0o600, name
    assert stat.S_IMODE(a.state_dir.stat().st_mode) == 0o700
    assert not (a.state_dir / "node.json").exists()
    sim_before = (a.state_dir / "sim-key.pem").read_bytes()
    wait_until(lambda: "Cannot enroll yet" in a.log_text(), 10, what="the retry log line")
    time.sleep(1.5)
    assert a.log_text().count("Cannot enroll yet") == 1, "logged once, not per attempt"
    assert a.stop() == 0
    # A second attempt registers the same keys (a crash mid-enrollment cannot orphan them).
    a.start(wait=False)
    a.wait_listening()
    assert a.stop() == 0
    assert (a.state_dir / "sim-key.pem").read_bytes() == sim_before


def test_enrollment_refused_exits_nonzero(manager, agents):
    """A token the manager does not know: a clear error and exit status 1 (with the node API:
    401 UN_AUTHORIZED; without it, the manager's refusal all the same)."""
    a = agents(manager.url, "not-a-real-token-" + unique("t"), ca=manager.ca)
    a.start(wait=False)
    assert a.wait_exit() == 1
    log = a.log_text()
    assert "Enrollment refused by the manager" in log
    if has_node_api(manager):
        assert "401" in log and "join token" in log
    assert not (a.state_dir / "node.json").exists()


def test_untrusted_manager_certificate(manager, agents, tmp_path):
    """Without the manager's certificate in --ca-file the agent does not talk to it."""
    other = tmp_path / "other-ca.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the manager")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    a = agents(manager.url, "some-token", ca=other)
    a.start(wait=False)
    a.wait_listening()
    wait_until(lambda: "Cannot enroll yet" in a.log_text(), 10, what="the retry log line")
    assert a.get("/healthz").status_code == 503
    assert "Enrolled" not in a.log_text()


# --------------------------------------------------------------------------------------------
# with the node API


def test_enroll_version_challenge_quote(enrolled):
    a = enrolled
    node = a.node_json()
    for name in ("node.json", "node.pem", "sim-key.pem"):
        assert stat.S_IMODE((a.state_dir / name).stat().st_mode) == 0o600, name
    assert not list(a.state_dir.glob("*.tmp"))
    assert node["zone_id"] == a.zone_id
    version = expect(a.get("/v1/sys/version"), 200)
    assert version == {"version": version["version"], "node_id": node["node_id"],
                       "platform": "sim", "zone_id": a.zone_id}
    assert lib.UUID_RE.match(node["node_id"]) or node["node_id"]
    # The node certificate verifies against the chain the manager gave.
    from cryptography import x509
    pem = (a.state_dir / "node.pem").read_bytes()
    marker = b"-----BEGIN CERTIFICATE-----"
    certs = [x509.load_pem_x509_certificate(marker + part) for part in pem.split(marker)[1:]]
    assert len(certs) >= 2
    certs[1].public_key().verify(certs[0].signature, certs[0].tbs_certificate_bytes,
                                 ec.ECDSA(certs[0].signature_hash_algorithm))
    assert certs[0].issuer == certs[1].subject
    key = serialization.load_pem_private_key(a.node_key_pem().encode(), None)
    assert certs[0].public_key().public_numbers() == key.public_key().public_numbers()

    ch = expect(a.get("/v1/challenge"), 200)
    assert isinstance(ch["nonce"], str) and 0 < len(ch["nonce"]) < 64
    assert isinstance(ch["expires_at"], str)
    ch2 = expect(a.get("/v1/challenge"), 200)
    assert ch2["nonce"] != ch["nonce"]

    req = quote_body()
    check_quote(a, a.post("/v1/sim/quote", json=req), req)
    req = quote_body(debug=True, isvprodid=0, isvsvn=65535, mrenclave="AB" * 32)
    check_quote(a, a.post("/v1/sim/quote", json=req), req)

    # The same API on the Unix socket.
    status, raw = a.unix_request("GET", "/v1/sys/version")
    assert status == 200 and json.loads(raw)["node_id"] == node["node_id"]
    req = quote_body()
    status, raw = a.unix_request("POST", "/v1/sim/quote", json.dumps(req))
    assert status == 200
    rep = parse_sim(base64.b64decode(json.loads(raw)["evidence"]["data"]))
    a.sim_key().public_key().verify(rep["signature"], rep["body"], ec.ECDSA(hashes.SHA256()))

    assert a.post("/v1/heartbeat", json={"instance_id": str(uuid.uuid4())}).status_code == 204


def test_issue_and_result_are_forwarded(enrolled):
    """The manager's answers come back through the agent with their status and body: a
    malformed CSR is the manager's 400 (or a DENIED/FAILED task), never an agent error."""
    a = enrolled
    nonce = expect(a.get("/v1/challenge"), 200)["nonce"]
    req = quote_body()
    ev = expect(a.post("/v1/sim/quote", json=req), 200)["evidence"]
    r = a.post("/v1/certificate/issue", json={"csr": "not a csr", "evidence": ev, "nonce": nonce})
    assert r.status_code in (200, 400), lib.describe(r)
    body = r.json()
    if r.status_code == 200:
        assert body["task_status"] in ("DENIED", "FAILED"), body
    else:
        assert body["code"] != "MANAGER_UNREACHABLE"
    r = a.post("/v1/certificate/result/00000000-0000-4000-8000-000000000000")
    assert r.status_code in (200, 404), lib.describe(r)
    assert r.json().get("code") != "MANAGER_UNREACHABLE"


def make_csr(key):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")]))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM).decode())


def test_issue_end_to_end_through_the_agent(enrolled, owner):
    """An app's whole flow through the agent, computed here: nonce, binding of the CSR key,
    sim quote, issue; PENDING_WHITELIST until the approvals are given, then SUCCESS with a
    certificate for the app's domain, chained to the zone; then the result and a heartbeat."""
    from cryptography import x509
    a = enrolled
    app = owner.create_app()
    mrenclave, mrsigner = lib.rand_hex64(), lib.rand_hex64()
    owner.create_build(app["app_id"], mrenclave=mrenclave, mrsigner=mrsigner)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(key)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    approved = set()
    for attempt in range(10):
        nonce = expect(a.get("/v1/challenge"), 200)["nonce"]
        binding = hashlib.sha256(nonce.encode("ascii") + hashlib.sha256(spki).digest()).digest()
        req = quote_body(report_data=(binding + bytes(32)).hex(), mrenclave=mrenclave,
                         mrsigner=mrsigner, isvprodid=app["isvprodid"],
                         isvsvn=app["isvsvn"])
        ev = check_quote(a, a.post("/v1/sim/quote", json=req), req)
        assert ev["report_data"][:32] == binding
        evidence = expect(a.post("/v1/sim/quote", json=req), 200)["evidence"]
        ans = expect(a.post("/v1/certificate/issue",
                            json={"csr": csr, "evidence": evidence, "nonce": nonce}), 200)
        assert ans["task_status"] in ("PENDING_WHITELIST", "SUCCESS"), ans
        if ans["task_status"] == "SUCCESS":
            break
        assert ans.get("message") and ans.get("task_id"), ans
        # The manager's approval task, seen through the agent.
        res = expect(a.post(f"/v1/certificate/result/{ans['task_id']}"), 200)
        assert res["task_id"] == ans["task_id"]
        assert ans["task_id"] not in approved, f"approved {ans['task_id']} already: {ans}"
        owner.approve(ans["task_id"])
        approved.add(ans["task_id"])
    else:
        raise AssertionError(f"no certificate after {attempt + 1} attempts: {ans}")
    assert approved, "a new build and domain were issued for without approval"
    cert = x509.load_pem_x509_certificate(ans["certificate"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert lib.REFERENCE_DOMAIN in sans.get_values_for_type(x509.DNSName)
    marker = "-----BEGIN CERTIFICATE-----"
    issuing = x509.load_pem_x509_certificate((marker + ans["chain"].split(marker)[1]).encode())
    issuing.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                ec.ECDSA(cert.signature_hash_algorithm))
    res = expect(a.post(f"/v1/certificate/result/{ans['task_id']}"), 200)
    assert res["task_status"] == "SUCCESS"
    if ans.get("instance_id"):
        assert a.post("/v1/heartbeat",
                      json={"instance_id": ans["instance_id"]}).status_code == 204


def test_bad_bodies_name_the_field(enrolled):
    a = enrolled
    cases = [
        (quote_body(report_data="ab"), "report_data"),
        (quote_body(report_data="zz" * 64), "report_data"),
        (quote_body(mrenclave="00" * 31), "mrenclave"),
        (quote_body(mrsigner=5), "mrsigner"),
        (quote_body(isvprodid=65536), "isvprodid"),
        (quote_body(isvprodid=-1), "isvprodid"),
        (quote_body(isvsvn=1.5), "isvsvn"),
        (quote_body(debug="yes"), "debug"),
        ({k: v for k, v in quote_body().items() if k != "mrsigner"}, "mrsigner"),
        (dict(quote_body(), attributes=7), "attributes"),
    ]
    for body, field in cases:
        expect(a.post("/v1/sim/quote", json=body), 400, "BAD_REQUEST", field)
    expect(a.post("/v1/sim/quote", data=b"{not json",
                  headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST", "body")
    expect(a.post("/v1/heartbeat", json={"instance_id": "a b"}), 400, "BAD_REQUEST",
           "instance_id")
    expect(a.post("/v1/heartbeat", json={}), 400, "BAD_REQUEST", "instance_id")
    expect(a.post("/v1/heartbeat", json={"instance_id": "not-a-uuid"}), 400, "BAD_REQUEST",
           "instance_id")
    expect(a.post("/v1/certificate/issue", json={"evidence": {}, "nonce": "n"}), 400,
           "BAD_REQUEST", "csr")
    expect(a.post("/v1/certificate/issue", json={"csr": "c", "evidence": "x", "nonce": "n"}),
           400, "BAD_REQUEST", "evidence")
    expect(a.post("/v1/certificate/result/..%2f..%2fx"), 400, "BAD_REQUEST", "task_id")
    expect(a.get("/v1/nothing"), 404, "NOT_FOUND")
    expect(a.post("/v1/sys/version"), 405, "METHOD_NOT_ALLOWED")
    r = a.post("/v1/sim/quote", data=b"{" + b" " * (65 << 10) + b"}",
               headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # Still serving after all that.
    check_quote(a, a.post("/v1/sim/quote", json=quote_body()), quote_body())


def test_restart_reuses_state_and_token_is_single_use(node_api, owner, agents):
    zone_id, token = zone_token(owner)
    a = agents(node_api.url, token, ca=node_api.ca, name=unique("node"))
    a.start()
    node = a.node_json()
    key_before = a.node_key_pem()
    sim_before = (a.state_dir / "sim-key.pem").read_bytes()
    assert a.stop() == 0
    saved_ca = a.state_dir / "manager-ca.pem"
    assert saved_ca.read_bytes() == Path(node_api.ca).read_bytes()
    assert stat.S_IMODE(saved_ca.stat().st_mode) == 0o600
    # Restart without token, --manager or --ca-file: the enrolled manager and its trust are kept.
    a.ca = None
    a.start(with_token=False, with_manager=False)
    assert expect(a.get("/v1/sys/version"), 200)["node_id"] == node["node_id"]
    assert a.node_key_pem() == key_before
    assert (a.state_dir / "sim-key.pem").read_bytes() == sim_before
    expect(a.get("/v1/challenge"), 200)
    # The same (single-use) token again, for a new node: refused clearly, exit 1.
    b = agents(node_api.url, token, ca=node_api.ca, name=unique("node"))
    b.start(wait=False)
    assert b.wait_exit() == 1
    assert "401" in b.log_text() and "join token" in b.log_text()


def test_many_concurrent_requests(enrolled):
    """Forwarded and local requests from many clients at once all complete."""
    a = enrolled

    def one(i):
        with requests.Session() as s:
            s.trust_env = False
            if i % 2:
                r = s.get(a.url + "/v1/challenge", timeout=60)
                return r.status_code, r.json().get("nonce")
            r = s.post(a.url + "/v1/sim/quote", json=quote_body(), timeout=60)
            return r.status_code, None

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(200)))
    assert all(code == 200 for code, _ in results), results
    nonces = [n for _, n in results if n]
    assert len(set(nonces)) == len(nonces) == 100
    # The memory target (SPEC 9: agent RSS <= 10 MiB under load), where it means something:
    # not in sanitizer builds, whose shadow memory and quarantine dwarf it.
    if b"__asan_init" not in lib.agent_binary().read_bytes():
        status = Path(f"/proc/{a.proc.pid}/status").read_text()
        hwm_kib = int(next(line for line in status.splitlines()
                           if line.startswith("VmHWM:")).split()[1])
        assert hwm_kib <= 10 * 1024, f"agent peak RSS {hwm_kib} KiB > 10 MiB"


def test_slow_manager_blocks_nothing_else(node_api, enrolled):
    """The manager stops answering (SIGSTOP): requests waiting for it do not hold up the agent's
    local answers, and complete once it answers again. (Task results: a challenge may be
    answered from the agent's nonce pool without waiting for the manager at all.)"""
    a = enrolled
    expect(a.get("/v1/challenge"), 200)
    result = "/v1/certificate/result/00000000-0000-4000-8000-000000000000"
    pgid = node_api.proc.pid
    os.killpg(pgid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            waiting = [pool.submit(a.post, result, timeout=60) for _ in range(20)]
            time.sleep(0.5)
            assert not any(f.done() for f in waiting)
            t0 = time.monotonic()
            for _ in range(20):
                check_quote(a, a.post("/v1/sim/quote", json=quote_body()), quote_body())
                expect(a.get("/v1/sys/version"), 200)
            assert time.monotonic() - t0 < 5
            os.killpg(pgid, signal.SIGCONT)
            results = [f.result() for f in waiting]
    finally:
        os.killpg(pgid, signal.SIGCONT)
    # Within the agent's 15 s timeout: every one answered by the manager (an unknown task).
    assert all(r.status_code in (200, 404) and r.json().get("code") != "MANAGER_UNREACHABLE"
               for r in results), [lib.describe(r) for r in results]


def test_manager_down_then_back(node_api, manager_factory, agents):
    """The manager goes away: local calls go on, forwarded ones answer 502 MANAGER_UNREACHABLE,
    the state change is logged once; the manager comes back: forwarding and check-ins resume."""
    m = manager_factory(name="agent-restart")
    owner = account_client(m)
    zone_id, token = zone_token(owner)
    a = agents(m.url, token, ca=m.ca, name=unique("node"))
    a.start()
    expect(a.get("/v1/challenge"), 200)
    wait_until(lambda: "reachable: check-in accepted" in a.log_text(), 30,
               what="the first check-in")
    # Instances heard of go into the next check-in, which the manager accepts.
    node_id = a.node_json()["node_id"]
    seen = expect(owner.get(f"/v1/nodes/{node_id}"), 200)["status"].get("last_seen_at")
    assert a.post("/v1/heartbeat", json={"instance_id": str(uuid.uuid4())}).status_code == 204
    wait_until(lambda: expect(owner.get(f"/v1/nodes/{node_id}"), 200)["status"]
               .get("last_seen_at") != seen, 15, what="a check-in after the heartbeat")
    assert "refused the check-in" not in a.log_text()
    m.stop()
    # Challenges come from the agent's nonce pool while it lasts, then 502.
    for _ in range(NONCE_POOL + 1):
        r = a.get("/v1/challenge")
        if r.status_code != 200:
            break
    expect(r, 502, "MANAGER_UNREACHABLE")
    expect(a.post("/v1/certificate/issue", json={"csr": "c", "evidence": {}, "nonce": "n"}), 502,
           "MANAGER_UNREACHABLE")
    expect(a.get("/v1/sys/version"), 200)
    check_quote(a, a.post("/v1/sim/quote", json=quote_body()), quote_body())
    wait_until(lambda: "unreachable" in a.log_text(), 90, what="the agent to notice")
    time.sleep(3)
    assert a.log_text().count("unreachable") == 1, a.log_text()
    m.start()
    wait_until(lambda: a.get("/v1/challenge").status_code == 200, 30,
               what="forwarding to resume")
    wait_until(lambda: a.log_text().count("reachable: check-in accepted") >= 2, 45,
               what="check-ins to resume")


def nonce_calls(m):
    """POST /v1/node/nonce calls the manager answered with 2xx, from its /metrics."""
    r = lib.Client(m).get("/metrics")
    assert r.status_code == 200, lib.describe(r)
    found = re.search(r'^cloister_http_requests_total\{route="node_nonce",code="2xx"\} (\d+)$',
                      r.text, re.M)
    return int(found.group(1)) if found else 0


def issue_with_nonce(a, app, mrenclave, mrsigner, nonce):
    """One issuance through the agent for a new key, bound to nonce (SPEC 6.2)."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    binding = hashlib.sha256(nonce.encode("ascii") + hashlib.sha256(spki).digest()).digest()
    req = quote_body(report_data=(binding + bytes(32)).hex(), mrenclave=mrenclave,
                     mrsigner=mrsigner, isvprodid=app["isvprodid"], isvsvn=app["isvsvn"])
    evidence = expect(a.post("/v1/sim/quote", json=req), 200)["evidence"]
    return expect(a.post("/v1/certificate/issue",
                         json={"csr": make_csr(key), "evidence": evidence, "nonce": nonce}), 200)


def approved_through_agent(a, owner):
    """(app, mrenclave, mrsigner) of a new app and build, approved through the agent's issuance
    (which raises the tasks): issues until SUCCESS, approving each task it is pending on."""
    app = owner.create_app()
    mrenclave, mrsigner = lib.rand_hex64(), lib.rand_hex64()
    owner.create_build(app["app_id"], mrenclave=mrenclave, mrsigner=mrsigner)
    for _ in range(10):
        nonce = expect(a.get("/v1/challenge"), 200)["nonce"]
        ans = issue_with_nonce(a, app, mrenclave, mrsigner, nonce)
        if ans["task_status"] == "SUCCESS":
            return app, mrenclave, mrsigner
        assert ans["task_status"] == "PENDING_WHITELIST", ans
        owner.approve(ans["task_id"])
    raise AssertionError(f"no certificate after 10 attempts: {ans}")


def issue_calls(m, route):
    """Calls of route the manager answered with 2xx, from its /metrics."""
    r = lib.Client(m).get("/metrics")
    assert r.status_code == 200, lib.describe(r)
    found = re.search(rf'^cloister_http_requests_total\{{route="{route}",code="2xx"\}} (\d+)$',
                      r.text, re.M)
    return int(found.group(1)) if found else 0


def test_requests_waiting_for_the_manager_go_in_batches(node_api, enrolled, owner):
    """Certificate requests that arrive while the manager is busy go to it together
    (docs/agent.md "Certificate requests in batches"): with the manager stopped (SIGSTOP), 40
    apps ask at once; once it runs again, they are served in a few batch calls, and each app gets
    a certificate for its own key, one certificate each."""
    from cryptography import x509
    a = enrolled
    app, mrenclave, mrsigner = approved_through_agent(a, owner)

    def ready(_):
        """key, and the issue body bound to it (nonce and quote made before the stop)."""
        key = ec.generate_private_key(ec.SECP256R1())
        nonce = expect(a.get("/v1/challenge"), 200)["nonce"]
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        binding = hashlib.sha256(nonce.encode("ascii") + hashlib.sha256(spki).digest()).digest()
        req = quote_body(report_data=(binding + bytes(32)).hex(), mrenclave=mrenclave,
                         mrsigner=mrsigner, isvprodid=app["isvprodid"], isvsvn=app["isvsvn"])
        evidence = expect(a.post("/v1/sim/quote", json=req), 200)["evidence"]
        return key, {"csr": make_csr(key), "evidence": evidence, "nonce": nonce}

    prepared = [ready(i) for i in range(40)]
    singles = issue_calls(node_api, "node_certificate_issue")
    batches = issue_calls(node_api, "node_certificate_issue_batch")
    os.killpg(node_api.proc.pid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            waiting = [pool.submit(a.post, "/v1/certificate/issue", json=body, timeout=60)
                       for _, body in prepared]
            time.sleep(1)
            os.killpg(node_api.proc.pid, signal.SIGCONT)
            answers = [expect(f.result(), 200) for f in waiting]
    finally:
        os.killpg(node_api.proc.pid, signal.SIGCONT)
    assert [x["task_status"] for x in answers] == ["SUCCESS"] * 40, answers
    for (key, _), answer in zip(prepared, answers):
        cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
        assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert len({x["certificate_id"] for x in answers}) == 40
    singles = issue_calls(node_api, "node_certificate_issue") - singles
    batches = issue_calls(node_api, "node_certificate_issue_batch") - batches
    # AGENT_ISSUE_IN_FLIGHT (3) went out alone before the stop was noticed; the other 37 waited
    # and went in batches of at most 32.
    assert singles <= 3 and 2 <= batches <= 6, (singles, batches)


def test_challenges_come_from_the_nonce_pool(manager_factory, agents):
    """GET /v1/challenge answers from the agent's nonce pool (docs/agent.md): 200 challenges in a
    row cost the manager a handful of POST /v1/node/nonce calls (its /metrics), with 200 distinct
    nonces of at least 4 minutes to live. A fresh agent's first challenge fills the pool: with the
    manager stopped, exactly NONCE_POOL more challenges are answered, all distinct, then 502; once
    the manager is back, those pooled nonces are good for one issuance each, and not two."""
    m = manager_factory(name="agent-pool")
    owner = account_client(m)
    zone_id, token = zone_token(owner)
    a = agents(m.url, token, ca=m.ca, name=unique("node"), extra=["--debug"])
    a.start()
    app, mrenclave, mrsigner = approved_through_agent(a, owner)

    before = nonce_calls(m)
    seen = set()
    for _ in range(200):
        ch = expect(a.get("/v1/challenge"), 200)
        assert set(ch) == {"nonce", "expires_at"}, ch
        assert lib.TIME_RE.match(ch["expires_at"]), ch
        expires = datetime.fromisoformat(ch["expires_at"].replace("Z", "+00:00")).timestamp()
        assert expires - time.time() >= 235, f"{ch} has less than 4 minutes to live"
        seen.add(ch["nonce"])
    calls = nonce_calls(m) - before
    assert len(seen) == 200
    assert 1 <= calls <= 12, f"{calls} POST /v1/node/nonce for 200 challenges"

    # A new agent process starts with an empty pool: the first challenge goes to the manager
    # and starts a refill of NONCE_POOL; both calls done, the manager goes away.
    assert a.stop() == 0
    a.start(with_token=False)
    before = nonce_calls(m)
    seen.add(expect(a.get("/v1/challenge"), 200)["nonce"])
    wait_until(lambda: nonce_calls(m) - before >= 2, 30, what="the pool's refill")
    time.sleep(1)  # for the agent to read the answer
    assert nonce_calls(m) - before == 2
    m.stop()
    pooled = [expect(a.get("/v1/challenge"), 200)["nonce"] for _ in range(NONCE_POOL)]
    expect(a.get("/v1/challenge"), 502, "MANAGER_UNREACHABLE")
    assert len(set(pooled)) == NONCE_POOL and not set(pooled) & seen
    m.start()
    for nonce in (pooled[0], pooled[NONCE_POOL // 2], pooled[-1]):
        ans = issue_with_nonce(a, app, mrenclave, mrsigner, nonce)
        assert ans["task_status"] == "SUCCESS", ans
    ans = issue_with_nonce(a, app, mrenclave, mrsigner, pooled[-1])
    assert ans["task_status"] == "DENIED" and "nonce already used" in ans["message"], ans


CLOCK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
/* time() moved forward by CLOCK_SHIM_OFFSET seconds: what the agent (and OpenSSL in it) see. */
time_t time(time_t *t)
{
    static time_t (*real)(time_t *);
    const char *off = getenv("CLOCK_SHIM_OFFSET");
    time_t now;
    if (!real)
        real = (time_t (*)(time_t *))dlsym(RTLD_NEXT, "time");
    now = real(NULL) + (off ? strtol(off, NULL, 10) : 0);
    if (t)
        *t = now;
    return now;
}
"""


@pytest.fixture(scope="module")
def clock_shim(tmp_path_factory):
    """A tiny LD_PRELOAD library moving time() forward, built here with the system compiler."""
    d = tmp_path_factory.mktemp("clock-shim")
    src, lib_path = d / "shim.c", d / "shim.so"
    src.write_text(CLOCK_SHIM)
    try:
        p = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(lib_path), str(src),
                            "-ldl"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("no C compiler (cc) to build the clock shim")
    assert p.returncode == 0, p.stderr
    return lib_path


def test_node_certificate_renewal(node_api, owner, agents, clock_shim):
    """Past node_renewal_threshold percent of its validity (the agent's clock is moved 20 days
    ahead: node certificates live 30 days, the threshold is 50 %), the agent renews: a new key
    and certificate from the zone CA replace node.pem, and calls to the manager go on with them."""
    zone_id, token = zone_token(owner)
    a = agents(node_api.url, token, ca=node_api.ca, name=unique("node"))
    a.start()
    key_before = a.node_key_pem()
    pem_before = (a.state_dir / "node.pem").read_text()
    assert a.stop() == 0
    os.environ["LD_PRELOAD"] = str(clock_shim)
    os.environ["CLOCK_SHIM_OFFSET"] = str(20 * 86400)
    try:
        a.start(with_token=False)
    finally:
        del os.environ["LD_PRELOAD"]
        del os.environ["CLOCK_SHIM_OFFSET"]
    wait_until(lambda: "Node certificate renewed" in a.log_text(), 30, what="a renewal")
    assert "renewal failed" not in a.log_text()
    pem_after = (a.state_dir / "node.pem").read_text()
    assert pem_after != pem_before and a.node_key_pem() != key_before
    assert stat.S_IMODE((a.state_dir / "node.pem").stat().st_mode) == 0o600
    from cryptography import x509
    marker = "-----BEGIN CERTIFICATE-----"
    old = x509.load_pem_x509_certificate((marker + pem_before.split(marker)[1]).encode())
    new = x509.load_pem_x509_certificate((marker + pem_after.split(marker)[1]).encode())
    key = serialization.load_pem_private_key(a.node_key_pem().encode(), None)
    assert new.public_key().public_numbers() == key.public_key().public_numbers()
    assert new.serial_number != old.serial_number and new.subject == old.subject
    issuer = x509.load_pem_x509_certificate((marker + pem_after.split(marker)[2]).encode())
    issuer.public_key().verify(new.signature, new.tbs_certificate_bytes,
                               ec.ECDSA(new.signature_hash_algorithm))
    # The manager takes the renewed certificate.
    expect(a.get("/v1/challenge"), 200)
    assert a.stop() == 0
