"""The issuance pipeline (SPEC 6.2-6.3, docs/issuance.md) and the certificates API, driven over
mTLS exactly as a node agent would: this module enrolls nodes with join tokens, makes `sim`
evidence itself with Python's cryptography (docs/sim-evidence.md) signed by the node attestation
key it enrolled, and checks every certificate it gets with code that is not ours (`openssl verify`
against the zone chain; SANs, SPIFFE URI and the claims extension read with cryptography).

Every negative case must be refused with the named reason and leave an audit event.

Not covered here: an expired nonce (one older than 300 s cannot be made from outside without
the manager's nonce key, and the test cannot wait): tests/unit/test-policy.c checks that branch
with a fixed clock (test_nonce).
"""

import base64
import datetime
import hashlib
import json
import os
import struct
import subprocess
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

import cloister_testlib as lib
from cloister_testlib import Team, expect, unique

CLAIMS_OID = ObjectIdentifier("1.3.6.1.4.1.32473.1.1")  # src/manager/ca/ca-issue.h
SIM_DEBUG = 0x2
SIM_ATTRS = 0x5  # INIT | MODE64BIT


# ---- sim evidence (docs/sim-evidence.md) ----

def spki_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def report_data(nonce, csr_public_key):
    """SPEC 6.2: SHA-256(nonce ASCII || SHA-256(SPKI of the CSR key)) || 32 zero bytes."""
    inner = hashlib.sha256(spki_der(csr_public_key)).digest()
    return hashlib.sha256(nonce.encode("ascii") + inner).digest() + bytes(32)


def sim_report(signing_key, named_key, mrenclave, mrsigner, isvprodid, isvsvn, attributes,
               rdata):
    """A version 1 sim report naming named_key (key_id) and signed by signing_key."""
    body = b"CLSIM" + b"\0" + struct.pack("<HII", 1, 0, 0)
    body += bytes.fromhex(mrenclave) + bytes.fromhex(mrsigner)
    body += struct.pack("<HHIQ", isvprodid, isvsvn, 0, attributes)
    body += rdata
    body += hashlib.sha256(spki_der(named_key.public_key())).digest()
    assert len(body) == 192
    sig = signing_key.sign(body, ec.ECDSA(hashes.SHA256()))
    return body + struct.pack("<H", len(sig)) + sig


def make_csr(key, cn="ignored.example.net"):
    """A CSR whose names must be ignored: the certificate's names come from the app."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def der_octet_string(data):
    assert data[0] == 0x04, "not an OCTET STRING"
    length, i = data[1], 2
    if length & 0x80:
        n = length & 0x7F
        length, i = int.from_bytes(data[2:2 + n], "big"), 2 + n
    assert len(data) == i + length
    return data[i:]


# ---- a node, as the agent would be ----

class Node:
    """An enrolled node: its TLS identity (for mTLS) and its sim attestation key."""

    def __init__(self, manager, token, directory, name=None):
        self.m = manager
        self.dir = directory
        self.tls_key = ec.generate_private_key(ec.SECP256R1())
        self.sim_key = ec.generate_private_key(ec.SECP256R1())
        body = {
            "name": name or unique("node"),
            "ipaddress": "127.0.0.1",
            "agent_version": "test",
            "attestation_request": {
                "csr": make_csr(self.tls_key, "node"),
                "sim_key": base64.b64encode(spki_der(self.sim_key.public_key())).decode(),
            },
        }
        r = requests.post(manager.url + "/v1/nodes", json=body, verify=str(manager.ca),
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.enrolled = expect(r, 201)
        self.node_id = self.enrolled["node_id"]
        self.zone_id = self.enrolled["zone_id"]
        self.cert_path = directory / f"{self.node_id}.crt"
        self.key_path = directory / f"{self.node_id}.key"
        self.cert_path.write_text(self.enrolled["certificate"] + self.enrolled.get("chain", ""))
        self.key_path.write_bytes(self.tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = str(manager.ca)
        self.http.cert = (str(self.cert_path), str(self.key_path))

    def post(self, path, body):
        return self.http.post(self.m.url + path, json=body, timeout=30)

    def get(self, path):
        return self.http.get(self.m.url + path, timeout=30)

    def nonce(self):
        return expect(self.post("/v1/node/nonce", {}), 200)["nonce"]

    def request(self, mrenclave, mrsigner, *, isvprodid=1, isvsvn=1, attributes=SIM_ATTRS,
                nonce=None, app_key=None, bind_key=None, signing_key=None):
        """An issue body: fresh nonce, an app key and CSR, evidence binding them."""
        nonce = nonce or self.nonce()
        app_key = app_key or ec.generate_private_key(ec.SECP256R1())
        bind_key = bind_key or app_key
        rdata = report_data(nonce, bind_key.public_key())
        report = sim_report(signing_key or self.sim_key, self.sim_key, mrenclave, mrsigner,
                            isvprodid, isvsvn, attributes, rdata)
        return {
            "csr": make_csr(app_key),
            "evidence": {"type": "sim", "data": base64.b64encode(report).decode()},
            "nonce": nonce,
        }

    def issue(self, body, status=200):
        return expect(self.post("/v1/node/certificate/issue", body), status)


# ---- fixtures ----

@pytest.fixture(scope="module")
def team(manager):
    return Team(manager, settings={"allow_simulation": True})


@pytest.fixture(scope="module")
def zone(team):
    zones = team.owner.list("/v1/zones")["items"]
    assert len(zones) == 1, zones
    return zones[0]


def join_token(client, zone_id):
    body = expect(client.get(f"/v1/zones/{zone_id}/token"), 200)
    return body.get("token") or body.get("join_token")


@pytest.fixture(scope="module")
def node(manager, team, zone, tmp_path_factory):
    return Node(manager, join_token(team.writer, zone["zone_id"]),
                tmp_path_factory.mktemp("node"))


@pytest.fixture(scope="module")
def zone_chain(team, zone, tmp_path_factory):
    r = team.reader.get(f"/v1/zones/{zone['zone_id']}/ca")
    assert r.status_code == 200, lib.describe(r)
    path = tmp_path_factory.mktemp("zone") / "chain.pem"
    path.write_text(r.text)
    return path


def approved_app(team, domain=None, build_status="WHITELISTED", debug=False, name=None):
    """An app whose domain is whitelisted and a build of it (approved unless build_status)."""
    domain = domain or f"{unique('svc')}.example.com"
    app = team.writer.create_app(name=name or unique("app"), domain=domain)
    if app.get("pending_task_id"):
        team.owner.approve(app["pending_task_id"])
    build = team.writer.create_build(app["app_id"], platform="sim", debug=debug)
    if build_status == "WHITELISTED":
        team.owner.approve(build["pending_task_id"])
    return team.writer.app(app["app_id"]), team.writer.build(build["build_id"]), domain


def measurement(build):
    return build["enclave_info"]["mrenclave"], build["enclave_info"]["mrsigner"]


def refusal_events(team, needle):
    return [e for e in team.owner.events()
            if "Certificate refused" in e["message"] and needle in e["message"]]


def check_refused(team, node, answer, needle):
    assert answer["task_status"] == "DENIED", answer
    assert needle in answer["message"], answer
    events = refusal_events(team, needle)
    assert events, f"no audit event naming '{needle}'"
    event = events[-1]
    assert event["severity"] == "WARNING"
    actor = event.get("actor") or {}
    assert actor.get("type") == "NODE" and actor.get("id") == node.node_id, event


# ---- success ----

def test_issue_success(team, node, zone, zone_chain, tmp_path):
    app, build, domain = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    body = node.request(mrenclave, mrsigner)
    answer = node.issue(body)
    assert answer["task_status"] == "SUCCESS", answer
    for key in ("task_id", "certificate", "chain", "certificate_id", "instance_id", "valid_until",
                "renew_after"):
        assert answer.get(key), f"{key} missing: {answer}"

    # openssl verify against the zone chain, not ours
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(answer["certificate"])
    run = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", "sslserver",
                          "-CAfile", str(zone_chain), str(leaf)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr

    cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [domain]
    assert "ignored.example.net" not in san.get_values_for_type(x509.DNSName)
    trust_domain = node.enrolled["trust_domain"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == \
        [f"spiffe://{trust_domain}/app/{app['name']}"]
    claims_ext = cert.extensions.get_extension_for_oid(CLAIMS_OID)
    assert not claims_ext.critical
    claims = json.loads(der_octet_string(claims_ext.value.value))
    assert claims["measurement"] == mrenclave
    assert claims["signer"] == mrsigner
    assert claims["isvprodid"] == 1 and claims["isvsvn"] == 1
    assert claims["platform"] == "sim"
    assert claims["tcb_status"] == "SimulatedInsecure"
    assert claims["node_id"] == node.node_id
    # the key is the CSR's
    app_pub = cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    assert app_pub == spki_der(csr.public_key())

    # validity and renewal from the account settings (24 h, 50 %)
    until = datetime.datetime.strptime(answer["valid_until"][:19], "%Y-%m-%dT%H:%M:%S")
    renew = datetime.datetime.strptime(answer["renew_after"][:19], "%Y-%m-%dT%H:%M:%S")
    assert abs((until - cert.not_valid_after).total_seconds()) <= 1
    lifetime = cert.not_valid_after - cert.not_valid_before
    assert abs((renew - cert.not_valid_before).total_seconds() - lifetime.total_seconds() / 2) <= 2

    # recorded: the certificate, the instance and its deployment, the audit event
    record = expect(team.reader.get(f"/v1/certificates/{answer['certificate_id']}"), 200)
    assert record["kind"] == "APP" and record["status"] == "ISSUED"
    assert record["app_id"] == app["app_id"] and record["build_id"] == build["build_id"]
    assert record["node_id"] == node.node_id
    assert record["instance_id"] == answer["instance_id"]
    assert record["dns_names"] == [domain]
    assert record["claims"]["measurement"] == mrenclave
    assert record["certificate"].strip() == answer["certificate"].strip()
    inst = expect(team.reader.get(
        f"/v1/apps/{app['app_id']}/node/{node.node_id}/certificate"), 200)
    assert inst["certificate_id"] == answer["certificate_id"]
    deployments = team.reader.list(f"/v1/builds/deployments/{build['build_id']}")
    assert [d["instance_id"] for d in deployments["items"]] == [answer["instance_id"]]
    assert deployments["items"][0]["status"]["status"] == "RUNNING"
    assert deployments["items"][0]["node_id"] == node.node_id
    # the account-wide list has it too, found by each filter, with its image and certificate
    for filters in ({}, {"build_id": build["build_id"]}, {"app_id": app["app_id"]},
                    {"node_id": node.node_id}, {"status": "RUNNING"}):
        found = team.reader.list_all("/v1/instances", **filters)
        assert answer["instance_id"] in [i["instance_id"] for i in found], filters
    [listed] = team.reader.list("/v1/instances", build_id=build["build_id"])["items"]
    assert {k: v for k, v in listed.items() if k not in ("build", "certificate")} \
        == deployments["items"][0]
    assert listed["build"] == {"docker_image_name": build["docker_info"]["docker_image_name"],
                               "docker_version": build["docker_info"]["docker_version"],
                               "mrenclave": mrenclave}
    assert listed["certificate"] == {"status": "ISSUED", "valid_until": record["valid_until"]}
    stopped = team.reader.list_all("/v1/instances", status="STOPPED")
    assert answer["instance_id"] not in [i["instance_id"] for i in stopped]
    issued = [e for e in team.owner.events(entity_id=answer["certificate_id"])
              if e["action_type"] == "CERTIFICATE"]
    assert issued and issued[0]["actor"]["type"] == "NODE"

    # result/{task_id} of a success
    result = expect(node.get(f"/v1/node/certificate/result/{answer['task_id']}"), 200)
    assert result["task_status"] == "SUCCESS"

    # attesting again renews the same instance
    again = node.issue(node.request(mrenclave, mrsigner))
    assert again["task_status"] == "SUCCESS"
    assert again["instance_id"] == answer["instance_id"]
    assert again["certificate_id"] != answer["certificate_id"]


# ---- pending approvals ----

def test_unapproved_build_then_approved(team, node):
    app, build, _ = approved_app(team, build_status="PENDING")
    mrenclave, mrsigner = measurement(build)
    answer = node.issue(node.request(mrenclave, mrsigner))
    assert answer["task_status"] == "PENDING_WHITELIST", answer
    assert answer["task_id"] == build["pending_task_id"]
    assert build["build_id"] in answer["message"]
    result = expect(node.get(f"/v1/node/certificate/result/{answer['task_id']}"), 200)
    assert result["task_status"] == "PENDING_WHITELIST"
    events = [e for e in team.owner.events(entity_id=answer["task_id"])
              if "pending approval" in e["message"]]
    assert events and events[-1]["actor"] == {**events[-1]["actor"], "type": "NODE",
                                              "id": node.node_id}
    assert build["build_id"] in events[-1]["message"]
    # asking again does not raise another task
    again = node.issue(node.request(mrenclave, mrsigner))
    assert again["task_id"] == answer["task_id"]

    team.owner.approve(answer["task_id"])
    result = expect(node.get(f"/v1/node/certificate/result/{answer['task_id']}"), 200)
    assert result["task_status"] == "SUCCESS"
    ok = node.issue(node.request(mrenclave, mrsigner))
    assert ok["task_status"] == "SUCCESS", ok


def test_unapproved_domain_then_approved(team, node):
    domain = f"{unique('pending')}.example.com"
    app = team.writer.create_app(name=unique("app"), domain=domain)
    task_id = app["pending_task_id"]
    assert task_id
    build = team.writer.create_build(app["app_id"], platform="sim")
    team.owner.approve(build["pending_task_id"])
    mrenclave, mrsigner = measurement(team.writer.build(build["build_id"]))

    answer = node.issue(node.request(mrenclave, mrsigner))
    assert answer["task_status"] == "PENDING_WHITELIST", answer
    assert answer["task_id"] == task_id
    assert domain in answer["message"]
    events = [e for e in team.owner.events() if "pending approval" in e["message"]
              and domain in e["message"]]
    assert events and events[-1]["actor"]["type"] == "NODE"

    team.owner.approve(task_id)
    ok = node.issue(node.request(mrenclave, mrsigner))
    assert ok["task_status"] == "SUCCESS", ok
    cert = x509.load_pem_x509_certificate(ok["certificate"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [domain]


def test_domain_task_raised_when_none_pending(team, node):
    """A denied domain task leaves no pending task: the next request raises a new one."""
    domain = f"{unique('again')}.example.com"
    app = team.writer.create_app(name=unique("app"), domain=domain)
    expect(team.owner.vote(app["pending_task_id"], "DENIED"), 200)
    build = team.writer.create_build(app["app_id"], platform="sim")
    team.owner.approve(build["pending_task_id"])
    mrenclave, mrsigner = measurement(team.writer.build(build["build_id"]))
    answer = node.issue(node.request(mrenclave, mrsigner))
    assert answer["task_status"] == "PENDING_WHITELIST", answer
    assert answer["task_id"] != app["pending_task_id"]
    task = team.owner.task(answer["task_id"])
    assert task["task_type"] == "DOMAIN_WHITELIST"
    assert task["domains_added"] == [domain]
    assert task["requester_info"]["user_name"].startswith("node ")  # raised by the node
    assert team.writer.app(app["app_id"])["pending_task_id"] == answer["task_id"]


# ---- denials ----

def test_wrong_measurement(team, node):
    unknown = lib.rand_hex64()
    answer = node.issue(node.request(unknown, lib.rand_hex64()))
    check_refused(team, node, answer, f"no build of this account has measurement {unknown}")


def test_debug_evidence(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    answer = node.issue(node.request(mrenclave, mrsigner, attributes=SIM_ATTRS | SIM_DEBUG))
    check_refused(team, node, answer, "debug evidence refused")
    # a debug build is refused too: nothing allows debug by default
    _, dbuild, _ = approved_app(team, debug=True)
    mrenclave, mrsigner = measurement(dbuild)
    answer = node.issue(node.request(mrenclave, mrsigner, attributes=SIM_ATTRS | SIM_DEBUG))
    check_refused(team, node, answer, "does not allow debug")


def test_replayed_nonce(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    body = node.request(mrenclave, mrsigner)
    assert node.issue(body)["task_status"] == "SUCCESS"
    answer = node.issue(body)
    check_refused(team, node, answer, "nonce already used")


def test_concurrent_requests_and_replays(team, node):
    """Many requests of one app at once all succeed on one instance; one nonce sent many times at
    once is used exactly once (the account's lock and used_nonces' key)."""
    from concurrent.futures import ThreadPoolExecutor

    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)

    def send(body):
        s = requests.Session()
        s.trust_env = False
        s.verify, s.cert = node.http.verify, node.http.cert
        r = s.post(node.m.url + "/v1/node/certificate/issue", json=body, timeout=60)
        assert r.status_code == 200, lib.describe(r)
        return r.json()

    bodies = [node.request(mrenclave, mrsigner) for _ in range(16)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, bodies))
    assert [a["task_status"] for a in answers] == ["SUCCESS"] * 16, answers
    assert len({a["instance_id"] for a in answers}) == 1
    assert len({a["certificate_id"] for a in answers}) == 16

    replayed = node.request(mrenclave, mrsigner)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, [replayed] * 12))
    statuses = sorted(a["task_status"] for a in answers)
    assert statuses == ["DENIED"] * 11 + ["SUCCESS"], answers
    assert all("nonce already used" in a["message"]
               for a in answers if a["task_status"] == "DENIED")


def test_invalid_nonce(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    fake = base64.urlsafe_b64encode(bytes(41)).decode().rstrip("=")
    answer = node.issue(node.request(mrenclave, mrsigner, nonce=fake))
    check_refused(team, node, answer, "nonce invalid")


def test_nonce_batch(team, node):
    """POST /v1/node/nonce {"count": N} (an agent's nonce pool, docs/agent.md): N distinct
    nonces with one expiry, the first also as "nonce"; no body or {} is one nonce as before.
    Every nonce of a batch is good for one issuance, and a replay of one is refused."""
    for r in (node.post("/v1/node/nonce", {}), node.http.post(node.m.url + "/v1/node/nonce",
                                                               timeout=30)):
        assert set(expect(r, 200)) == {"nonce", "expires_at"}
    one = expect(node.post("/v1/node/nonce", {"count": 1}), 200)
    assert one["nonces"] == [one["nonce"]]
    batch = expect(node.post("/v1/node/nonce", {"count": 128}), 200)
    assert set(batch) == {"nonce", "nonces", "expires_at"}
    nonces = batch["nonces"]
    assert len(nonces) == len(set(nonces)) == 128 and batch["nonce"] == nonces[0]
    assert all(isinstance(n, str) and 0 < len(n) < 64 for n in nonces)
    assert lib.TIME_RE.match(batch["expires_at"])
    expires = datetime.datetime.fromisoformat(batch["expires_at"].replace("Z", "+00:00"))
    left = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 290 <= left <= 301, batch["expires_at"]
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    for nonce in (nonces[0], nonces[31], nonces[127]):
        answer = node.issue(node.request(mrenclave, mrsigner, nonce=nonce))
        assert answer["task_status"] == "SUCCESS", answer
    check_refused(team, node, node.issue(node.request(mrenclave, mrsigner, nonce=nonces[31])),
                  "nonce already used")


def test_nonce_batch_bad_count(node):
    for body, field, why in (({"count": 0}, "count", "between 1 and 128"),
                             ({"count": 129}, "count", "between 1 and 128"),
                             ({"count": -1}, "count", "between 1 and 128"),
                             ({"count": 2 ** 63 - 1}, "count", "between 1 and 128"),
                             ({"count": "3"}, "count", "integer"),
                             ({"count": 2.0}, "count", "integer"),
                             ({"count": True}, "count", "integer"),
                             ({"count": [3]}, "count", "integer"),
                             ({"count": 3, "counts": 3}, "counts", "unknown field")):
        answer = expect(node.post("/v1/node/nonce", body), 400, "INVALID_BODY_PARAMETER", field)
        assert why in answer["message"], answer
    for raw in (b"{not json", b"[3]", b'{"count": 1, "count": 2}'):
        expect(node.http.post(node.m.url + "/v1/node/nonce", data=raw, timeout=30,
                              headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST",
               "body")
    r = node.http.post(node.m.url + "/v1/node/nonce", data=b"{" + b" " * (1 << 20) + b"}",
                       timeout=30,
                       headers={"Content-Type": "application/json"})
    expect(r, 413, "BAD_REQUEST", "body")
    # A good body is still served afterwards.
    assert len(expect(node.post("/v1/node/nonce", {"count": 2}), 200)["nonces"]) == 2


def test_report_data_mismatch(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    other = ec.generate_private_key(ec.SECP256R1())
    answer = node.issue(node.request(mrenclave, mrsigner, bind_key=other))
    check_refused(team, node, answer, "report_data does not bind the CSR key and nonce")
    # bound to another nonce than the one sent
    body = node.request(mrenclave, mrsigner)
    body["nonce"] = node.nonce()
    check_refused(team, node, node.issue(body), "report_data does not bind")


def test_forged_signature(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    forger = ec.generate_private_key(ec.SECP256R1())
    answer = node.issue(node.request(mrenclave, mrsigner, signing_key=forger))
    check_refused(team, node, answer, "step 'signature'")
    # a measurement changed after signing
    body = node.request(mrenclave, mrsigner)
    raw = bytearray(base64.b64decode(body["evidence"]["data"]))
    raw[16] ^= 1
    body["evidence"]["data"] = base64.b64encode(bytes(raw)).decode()
    check_refused(team, node, node.issue(body), "step 'signature'")


def test_simulation_not_allowed(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    path = f"/v1/accounts/{team.acct_id}"
    expect(team.owner.patch(path, json={"settings": {"allow_simulation": False}}), 200)
    try:
        answer = node.issue(node.request(mrenclave, mrsigner))
        check_refused(team, node, answer, "allow_simulation")
    finally:
        expect(team.owner.patch(path, json={"settings": {"allow_simulation": True}}), 200)


def test_app_name_not_a_spiffe_segment(team, node):
    """Allowed for an app, but not in a SPIFFE ID: FAILED, named, audited (never a mangled ID
    that another app's name could collide with)."""
    app, build, _ = approved_app(team, name=unique("My App"))
    answer = node.issue(node.request(*measurement(build)))
    assert answer["task_status"] == "FAILED", answer
    assert "SPIFFE" in answer["message"]
    events = [e for e in team.owner.events() if "Certificate issuance failed" in e["message"]]
    assert events and events[-1]["severity"] == "ERROR"
    assert events[-1]["actor"]["id"] == node.node_id


def test_bad_bodies(team, node):
    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    good = node.request(mrenclave, mrsigner)
    for field in ("csr", "evidence", "nonce"):
        body = {k: v for k, v in good.items() if k != field}
        expect(node.post("/v1/node/certificate/issue", body), 400, "INVALID_BODY_PARAMETER",
               field)
    cases = [
        ({**good, "csr": "not a csr"}, "csr"),
        ({**good, "nonce": "n" * 200}, "nonce"),
        ({**good, "extra": 1}, "extra"),
        ({**good, "evidence": {"type": "sim"}}, "evidence.data"),
        ({**good, "evidence": {**good["evidence"], "more": "x"}}, "evidence.more"),
        ({**good, "manifest_digest": "zz"}, "manifest_digest"),
    ]
    for body, field in cases:
        expect(node.post("/v1/node/certificate/issue", body), 400, "INVALID_BODY_PARAMETER",
               field)
    # unknown evidence type and bad base64: refused by the evidence step, audited
    body = {**good, "evidence": {"type": "tpm", "data": good["evidence"]["data"]}}
    check_refused(team, node, node.issue(body), "evidence refused at step")


def test_needs_node_certificate(manager, team, node):
    anon = requests.post(manager.url + "/v1/node/certificate/issue", json={},
                         verify=str(manager.ca), timeout=30)
    expect(anon, 401, "UN_AUTHORIZED")
    # a user's bearer token is no node identity
    expect(team.owner.post("/v1/node/certificate/issue", json={}), 401, "UN_AUTHORIZED")
    expect(node.get(f"/v1/node/certificate/result/{uuid.uuid4()}"), 404, "NOT_FOUND")
    expect(node.get("/v1/node/certificate/result/not-a-uuid"), 404, "NOT_FOUND")


# ---- batches (POST /v1/node/certificate/issue-batch) ----

def answer_records(r):
    """The answer of a batch (docs/issuance.md "Batches"): records "<status> <length>\\n<body>\\n",
    read here independently of the agent's reader: [{status, body}] with body parsed."""
    assert r.status_code == 200, lib.describe(r)
    assert r.headers["Content-Type"] == "application/vnd.cloister.answers", r.headers
    data, results = r.content, []
    while data:
        head, _, rest = data.partition(b"\n")
        status, length = head.split(b" ")
        assert status.isdigit() and length.isdigit() and len(status) == 3, head
        body, end = rest[:int(length)], rest[int(length):int(length) + 1]
        assert end == b"\n", data[:200]
        results.append({"status": int(status), "body": json.loads(body)})
        data = rest[int(length) + 1:]
    return results


def batch(node, bodies):
    results = answer_records(node.post("/v1/node/certificate/issue-batch", {"requests": bodies}))
    assert len(results) == len(bodies), results
    return {"results": results}


def test_batch_answers_each_request_as_alone(team, node, zone_chain, tmp_path):
    """Each request of a batch gets what the single route would have answered, in order: the
    certificates for the right keys, a replay inside the batch refused and audited, a bad body
    a 400 naming its field, an unapproved domain PENDING_WHITELIST; one commit for all."""
    _, build, domain = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    good = [node.request(mrenclave, mrsigner, app_key=k) for k in keys]
    bad = {**good[0], "csr": "not a csr"}
    unapproved_domain = f"{unique('pending')}.example.com"
    app2 = team.writer.create_app(name=unique("app"), domain=unapproved_domain)
    build2 = team.writer.create_build(app2["app_id"], platform="sim")
    team.owner.approve(build2["pending_task_id"])
    pending = node.request(*measurement(team.writer.build(build2["build_id"])))
    results = batch(node, [good[0], bad, good[1], dict(good[1]), pending, good[2]])["results"]
    assert [r["status"] for r in results] == [200, 400, 200, 200, 200, 200], results
    statuses = [r["body"].get("task_status") for r in results]
    assert statuses == ["SUCCESS", None, "SUCCESS", "DENIED", "PENDING_WHITELIST", "SUCCESS"]
    assert results[1]["body"]["code"] == "INVALID_BODY_PARAMETER"
    assert "csr" in results[1]["body"]["message"]
    assert "nonce already used" in results[3]["body"]["message"]
    assert unapproved_domain in results[4]["body"]["message"]
    for key, r in zip(keys, (results[0], results[2], results[5])):
        cert = x509.load_pem_x509_certificate(r["body"]["certificate"].encode())
        assert spki_der(cert.public_key()) == spki_der(key.public_key())
        assert cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [domain]
        leaf = tmp_path / "leaf.pem"
        leaf.write_text(r["body"]["certificate"])
        run = subprocess.run(["openssl", "verify", "-CAfile", str(zone_chain), str(leaf)],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stdout + run.stderr
        record = expect(team.reader.get(f"/v1/certificates/{r['body']['certificate_id']}"), 200)
        assert record["status"] == "ISSUED"
    assert len({r["body"]["instance_id"] for r in (results[0], results[2], results[5])}) == 1
    check_refused(team, node, results[3]["body"], "nonce already used")
    # the nonces are spent: sending the same batch again issues nothing
    again = batch(node, [good[0], good[2]])["results"]
    assert [r["body"]["task_status"] for r in again] == ["DENIED", "DENIED"], again


def test_batch_requests_see_what_earlier_ones_wrote(team, node):
    """A request of a batch sees what the requests before it in the same batch wrote: the domain
    task the first one raises is the one the others wait for (one task, not one each), and once
    it is approved the next batch issues for all."""
    domain = f"{unique('batchraise')}.example.com"
    app = team.writer.create_app(name=unique("app"), domain=domain)
    expect(team.owner.vote(app["pending_task_id"], "DENIED"), 200)
    build = team.writer.create_build(app["app_id"], platform="sim")
    team.owner.approve(build["pending_task_id"])
    mrenclave, mrsigner = measurement(team.writer.build(build["build_id"]))
    results = batch(node, [node.request(mrenclave, mrsigner) for _ in range(4)])["results"]
    assert [r["body"]["task_status"] for r in results] == ["PENDING_WHITELIST"] * 4, results
    task_ids = {r["body"]["task_id"] for r in results}
    assert len(task_ids) == 1 and app["pending_task_id"] not in task_ids, results
    assert team.writer.app(app["app_id"])["pending_task_id"] in task_ids
    team.owner.approve(task_ids.pop())
    results = batch(node, [node.request(mrenclave, mrsigner) for _ in range(4)])["results"]
    assert [r["body"]["task_status"] for r in results] == ["SUCCESS"] * 4, results


def test_batch_survives_the_ca_process_killed(manager, team, node):
    """The CA process killed during a burst of batches: a batch is answered whole or fails whole
    (503, Retry-After), never half recorded: every certificate answered is stored ISSUED, and the
    requests of a failed batch were not consumed, so the same bodies succeed once resent."""
    import signal
    import threading

    _, build, _ = approved_app(team)
    mrenclave, mrsigner = measurement(build)
    done, failed, stop = [], [], threading.Event()
    lock = threading.Lock()

    def run():
        s = requests.Session()
        s.trust_env = False
        s.verify, s.cert = node.http.verify, node.http.cert
        while not stop.is_set():
            bodies = [node.request(mrenclave, mrsigner) for _ in range(4)]
            r = s.post(node.m.url + "/v1/node/certificate/issue-batch",
                       json={"requests": bodies}, timeout=60)
            with lock:
                if r.status_code == 503:
                    assert r.headers.get("Retry-After"), lib.describe(r)
                    failed.append(bodies)
                else:
                    done.extend(answer_records(r))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    lib.wait_until(lambda: len(done) >= 8, 30, what="first batches")
    [old] = manager.pids("cl-ca")
    os.kill(old, signal.SIGKILL)
    lib.wait_until(lambda: manager.pids("cl-ca") and manager.pids("cl-ca") != [old], 10,
                   what="a new CA process")
    n = len(done)
    lib.wait_until(lambda: len(done) >= n + 8, 60, what="batches after the restart")
    stop.set()
    for t in threads:
        t.join(60)
    assert [r["body"]["task_status"] for r in done] == ["SUCCESS"] * len(done), done
    for r in done:
        record = expect(team.reader.get(f"/v1/certificates/{r['body']['certificate_id']}"), 200)
        assert record["status"] == "ISSUED"
    for bodies in failed:
        again = batch(node, bodies)["results"]
        assert [r["body"]["task_status"] for r in again] == ["SUCCESS"] * 4, again
    manager.check_sanitizers()


def test_batch_fails_whole_when_the_ca_process_does_not_answer(manager, team, node):
    """A CA process that does not answer (stopped past the workers' 10 s wait): the batch fails
    whole with 503 and Retry-After and records nothing, so the same requests succeed once it
    answers again."""
    import signal

    _, build, _ = approved_app(team)
    bodies = [node.request(*measurement(build)) for _ in range(3)]
    [ca] = manager.pids("cl-ca")
    os.kill(ca, signal.SIGSTOP)
    try:
        r = node.post("/v1/node/certificate/issue-batch", {"requests": bodies})
    finally:
        os.kill(ca, signal.SIGCONT)
    expect(r, 503)
    assert r.headers.get("Retry-After"), lib.describe(r)
    results = batch(node, bodies)["results"]
    assert [x["body"]["task_status"] for x in results] == ["SUCCESS"] * 3, results


def test_batch_bad_bodies(team, node):
    _, build, _ = approved_app(team)
    one = node.request(*measurement(build))
    for body in ({}, {"requests": []}, {"requests": {}}, {"requests": [one] * 33},
                 {"requests": [one], "extra": 1}):
        expect(node.post("/v1/node/certificate/issue-batch", body), 400,
               "INVALID_BODY_PARAMETER", "requests")
    expect(node.post("/v1/node/certificate/issue-batch", [one]), 400, "BAD_REQUEST", "body")
    results = batch(node, [{}, 1, {**one, "nonce": 5}])["results"]
    assert [r["status"] for r in results] == [400, 400, 400], results
    assert "nonce" in results[2]["body"]["message"]
    # nothing of those was spent: the good request still goes through
    assert batch(node, [one])["results"][0]["body"]["task_status"] == "SUCCESS"


def test_batch_needs_active_node_certificate(manager, team, zone, tmp_path):
    anon = requests.post(manager.url + "/v1/node/certificate/issue-batch",
                         json={"requests": []}, verify=str(manager.ca), timeout=30)
    expect(anon, 401, "UN_AUTHORIZED")
    expect(team.owner.post("/v1/node/certificate/issue-batch", json={"requests": []}), 401,
           "UN_AUTHORIZED")
    other = Node(manager, join_token(team.writer, zone["zone_id"]), tmp_path)
    _, build, _ = approved_app(team)
    body = other.request(*measurement(build))
    r = team.writer.post(f"/v1/nodes/{other.node_id}/deactivate", json={})
    assert r.status_code in (200, 204), lib.describe(r)
    expect(other.post("/v1/node/certificate/issue-batch", {"requests": [body]}), 403,
           "NODE_NOT_ENROLLED")


# ---- certificates API ----

def issued_certificate(team, node):
    _, build, _ = approved_app(team)
    answer = node.issue(node.request(*measurement(build)))
    assert answer["task_status"] == "SUCCESS", answer
    return answer


def test_certificates_list_and_filters(team, node):
    answer = issued_certificate(team, node)
    record = expect(team.reader.get(f"/v1/certificates/{answer['certificate_id']}"), 200)
    page = team.reader.list("/v1/certificates", app_id=record["app_id"])
    assert [c["certificate_id"] for c in page["items"]] == [answer["certificate_id"]]
    assert "certificate" not in page["items"][0] and "csr" not in page["items"][0]
    by_node = team.reader.list_all("/v1/certificates", node_id=node.node_id)
    kinds = {c["kind"] for c in by_node}
    assert "APP" in kinds
    assert answer["certificate_id"] in [c["certificate_id"] for c in by_node]
    apps = team.reader.list_all("/v1/certificates", kind="APP")
    assert all(c["kind"] == "APP" for c in apps)
    nodes = team.reader.list_all("/v1/certificates", kind="NODE")
    assert all(c["kind"] == "NODE" for c in nodes)
    issued = team.reader.list_all("/v1/certificates", status="ISSUED")
    assert all(c["status"] == "ISSUED" for c in issued)
    assert team.reader.list("/v1/certificates", status="EXPIRED")["metadata"]["filtered_count"] \
        == 0
    expect(team.reader.get("/v1/certificates", params={"status": "BOGUS"}), 400)
    expect(team.reader.get("/v1/certificates", params={"kind": "USER"}), 400)
    expect(team.reader.get("/v1/certificates", params={"limit": "-1"}), 400)
    expect(team.reader.get("/v1/certificates", params={"sort_by": "serial:ASC"}), 400)
    expect(team.reader.get("/v1/certificates/not-a-uuid"), 404, "NOT_FOUND")
    expect(team.reader.get(f"/v1/certificates/{uuid.uuid4()}"), 404, "NOT_FOUND")
    expect(team.reader.get(f"/v1/builds/deployments/{uuid.uuid4()}"), 404, "NOT_FOUND")
    expect(team.reader.get(f"/v1/apps/{record['app_id']}/node/{uuid.uuid4()}/certificate"), 404,
           "NOT_FOUND")
    expect(team.reader.get("/v1/instances", params={"status": "ISSUED"}), 400,
           "BAD_REQUEST", "status")
    expect(team.reader.get("/v1/instances", params={"sort_by": "node_name:ASC"}), 400)
    expect(team.reader.get("/v1/instances", params={"limit": "0"}), 400)
    assert team.reader.list("/v1/instances", build_id=str(uuid.uuid4()))["items"] == []


def test_revoke_and_crl(team, node, zone):
    answer = issued_certificate(team, node)
    cert_id = answer["certificate_id"]
    expect(team.reader.post(f"/v1/certificates/{cert_id}/revoke", json={}), 403, "FORBIDDEN")
    expect(team.writer.post(f"/v1/certificates/{cert_id}/revoke", json={"reason": 7}), 400,
           "INVALID_BODY_PARAMETER", "reason")
    revoked = expect(team.writer.post(f"/v1/certificates/{cert_id}/revoke",
                                      json={"reason": "key compromise drill"}), 200)
    assert revoked["status"] == "REVOKED"
    assert revoked["revocation_reason"] == "key compromise drill"
    assert revoked["revoked_at"]
    expect(team.writer.post(f"/v1/certificates/{cert_id}/revoke", json={}), 409, "INVALID_STATE")
    expect(team.writer.post(f"/v1/certificates/{uuid.uuid4()}/revoke", json={}), 404, "NOT_FOUND")
    assert cert_id in [c["certificate_id"] for c in
                       team.reader.list_all("/v1/certificates", status="REVOKED")]
    events = [e for e in team.owner.events(entity_id=cert_id) if "Revoked" in e["message"]]
    assert events and events[0]["actor"]["type"] == "USER"

    r = team.reader.get(f"/v1/zones/{zone['zone_id']}/crl", params={"format": "pem"})
    assert r.status_code == 200, lib.describe(r)
    crl = x509.load_pem_x509_crl(r.content)
    serial = x509.load_pem_x509_certificate(answer["certificate"].encode()).serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None


def test_tenant_isolation(manager, team, node, tmp_path):
    answer = issued_certificate(team, node)
    cert_id = answer["certificate_id"]
    outsider = team.outsider
    expect(outsider.get(f"/v1/certificates/{cert_id}"), 404, "NOT_FOUND")
    expect(outsider.post(f"/v1/certificates/{cert_id}/revoke", json={}), 404, "NOT_FOUND")
    assert cert_id not in [c["certificate_id"] for c in outsider.list_all("/v1/certificates")]
    record = expect(team.reader.get(f"/v1/certificates/{cert_id}"), 200)
    expect(outsider.get(f"/v1/builds/deployments/{record['build_id']}"), 404, "NOT_FOUND")
    assert outsider.list("/v1/instances", build_id=record["build_id"])["items"] == []
    assert record["instance_id"] not in [i["instance_id"]
                                         for i in outsider.list_all("/v1/instances")]
    expect(outsider.get(f"/v1/apps/{record['app_id']}/node/{node.node_id}/certificate"), 404,
           "NOT_FOUND")

    # a node of another account can use none of this account's builds, tasks or certificates
    expect(outsider.patch(f"/v1/accounts/{team.other_acct_id}",
                          json={"settings": {"allow_simulation": True}}), 200)
    other_zone = outsider.list("/v1/zones")["items"][0]
    assert other_zone["zone_id"] != node.zone_id
    stranger = Node(manager, join_token(outsider, other_zone["zone_id"]), tmp_path)
    mrenclave = record["claims"]["measurement"]
    answer = stranger.issue(stranger.request(mrenclave, record["claims"]["signer"]))
    assert answer["task_status"] == "DENIED", answer
    assert f"no build of this account has measurement {mrenclave}" in answer["message"]
    expect(stranger.get(f"/v1/node/certificate/result/{cert_id}"), 404, "NOT_FOUND")
    app = team.reader.app(record["app_id"])
    build = team.reader.build(record["build_id"])
    for task_id in (app.get("pending_task_id"), build.get("pending_task_id")):
        if task_id:
            expect(stranger.get(f"/v1/node/certificate/result/{task_id}"), 404, "NOT_FOUND")
    # the refusal is in the stranger's account's log, not in this one
    assert any(stranger.node_id == (e.get("actor") or {}).get("id")
               for e in outsider.events() if "Certificate refused" in e["message"])
    assert not any(stranger.node_id == (e.get("actor") or {}).get("id")
                   for e in team.owner.events())


def test_deactivated_node(manager, team, zone, tmp_path):
    other = Node(manager, join_token(team.writer, zone["zone_id"]), tmp_path)
    _, build, _ = approved_app(team)
    issued = other.issue(other.request(*measurement(build)))
    assert issued["task_status"] == "SUCCESS", issued
    deployments = team.reader.list(f"/v1/builds/deployments/{build['build_id']}")["items"]
    assert [d["status"]["status"] for d in deployments] == ["RUNNING"]
    body = other.request(*measurement(build))
    r = team.writer.post(f"/v1/nodes/{other.node_id}/deactivate", json={})
    assert r.status_code in (200, 204), lib.describe(r)
    expect(other.post("/v1/node/certificate/issue", body), 403, "NODE_NOT_ENROLLED")
    expect(other.get(f"/v1/node/certificate/result/{issued['task_id']}"), 403,
           "NODE_NOT_ENROLLED")
    # its instance stops and the app's certificate is revoked with the node's
    deployments = team.reader.list(f"/v1/builds/deployments/{build['build_id']}")["items"]
    assert [d["status"]["status"] for d in deployments] == ["STOPPED"]
    instance_id = issued["instance_id"]
    assert instance_id in [i["instance_id"] for i in
                           team.reader.list_all("/v1/instances", status="STOPPED")]
    assert instance_id not in [i["instance_id"] for i in
                               team.reader.list_all("/v1/instances", status="RUNNING")]
    [listed] = team.reader.list("/v1/instances", node_id=other.node_id)["items"]
    assert listed["status"]["status"] == "STOPPED"
    assert listed["certificate"]["status"] == "REVOKED"
    record = expect(team.reader.get(f"/v1/certificates/{issued['certificate_id']}"), 200)
    assert record["status"] == "REVOKED"


# ---- the CLI ----

def cloister(manager, client, home, *args, rc=0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOISTER_")}
    env.update(HOME=str(home), CLOISTER_URL=manager.url, CLOISTER_CA=str(manager.ca),
               CLOISTER_TOKEN=client.token)
    p = subprocess.run([str(lib.CLI_BIN), *args], capture_output=True, text=True, env=env,
                       timeout=60, cwd=str(home))
    assert p.returncode == rc, f"cloister {' '.join(args)} -> {p.returncode}\n{p.stdout}{p.stderr}"
    return p.stdout


def test_cli_cert(manager, team, node, tmp_path):
    answer = issued_certificate(team, node)
    cert_id = answer["certificate_id"]
    record = expect(team.reader.get(f"/v1/certificates/{cert_id}"), 200)

    listed = cloister(manager, team.reader, tmp_path, "cert", "list", "--app", record["app_id"])
    assert cert_id in listed and "ISSUED" in listed
    ids = cloister(manager, team.reader, tmp_path, "-q", "cert", "list", "--kind", "APP",
                   "--node", node.node_id).split()
    assert cert_id in ids
    shown = json.loads(cloister(manager, team.reader, tmp_path, "--json", "cert", "show",
                                cert_id))
    assert shown["certificate_id"] == cert_id and shown["claims"]["node_id"] == node.node_id
    cloister(manager, team.reader, tmp_path, "cert", "list", "--status", "BOGUS", rc=2)
    cloister(manager, team.reader, tmp_path, "cert", "revoke", cert_id, rc=1)  # READER
    out = cloister(manager, team.writer, tmp_path, "cert", "revoke", cert_id, "--reason", "cli")
    assert f"Revoked certificate {cert_id}" in out
    revoked = expect(team.reader.get(f"/v1/certificates/{cert_id}"), 200)
    assert revoked["status"] == "REVOKED" and revoked["revocation_reason"] == "cli"
    cloister(manager, team.writer, tmp_path, "cert", "revoke", cert_id, rc=1)  # already


def test_cli_instances(manager, team, node, tmp_path):
    answer = issued_certificate(team, node)
    record = expect(team.reader.get(f"/v1/certificates/{answer['certificate_id']}"), 200)
    instance_id = answer["instance_id"]

    table = cloister(manager, team.reader, tmp_path, "instance", "list", "--status", "RUNNING")
    assert "RUNNING" in table and "ISSUED" in table and instance_id[:8] in table, table
    ids = cloister(manager, team.reader, tmp_path, "-q", "instance", "list", "--app",
                   record["app_id"], "--node", node.node_id).split()
    assert ids == [instance_id]
    by_build = json.loads(cloister(manager, team.reader, tmp_path, "--json", "instance", "list",
                                   "--build", record["build_id"]))
    assert [i["instance_id"] for i in by_build["items"]] == [instance_id]
    assert by_build["items"][0]["certificate"]["status"] == "ISSUED"
    assert cloister(manager, team.reader, tmp_path, "-q", "instance", "list", "--status",
                    "STOPPED", "--build", record["build_id"]).split() == []
    cloister(manager, team.reader, tmp_path, "instance", "list", "--status", "GONE", rc=2)
