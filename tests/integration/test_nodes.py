"""Zones, join tokens, node enrollment and the node API (SPEC 3, 4; docs/nodes.md).

Every certificate the manager hands out is checked with code that is not ours: the `openssl`
command and Python `cryptography`. Node calls use real mTLS (requests with a client
certificate)."""

import base64
import hashlib
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

import cloister_testlib as lib
from cloister_testlib import Team, expect, new_user, unique


# ---------------------------------------------------------------------------------------------
# helpers


def zone_of(c):
    zones = c.list("/v1/zones")["items"]
    assert len(zones) == 1, zones
    return zones[0]


def make_key(curve=ec.SECP256R1):
    return ec.generate_private_key(curve())


def make_csr(key, cn="node"):
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM).decode())


def spki_b64(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def mint(c, zone_id, **params):
    return c.get(f"/v1/zones/{zone_id}/token", params=params or None)


def token_of(c, zone_id=None, **params):
    zone_id = zone_id or zone_of(c)["zone_id"]
    return expect(mint(c, zone_id, **params), 200)["token"]


def enroll_body(key=None, name=None, **overrides):
    body = {"name": unique("node") if name is None else name, "ipaddress": "10.0.0.7",
            "attestation_request": {"csr": make_csr(key or make_key())}}
    body.update(overrides)
    return body


def enroll(m, token, body, session=None):
    s = session or requests.Session()
    s.trust_env = False
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return s.post(m.url + "/v1/nodes", json=body, headers=headers, verify=str(m.ca), timeout=60)


class Node:
    """An enrolled node: its key, certificate files and an mTLS session to the manager."""

    def __init__(self, m, tmp_path, token, key=None, **body):
        self.m = m
        self.key = key or make_key()
        self.body = enroll_body(self.key, **body)
        self.enrolled = expect(enroll(m, token, self.body), 201)
        self.node_id = self.enrolled["node_id"]
        self.dir = tmp_path / self.node_id
        self.dir.mkdir()
        self.use(self.key, self.enrolled["certificate"], self.enrolled["chain"])

    def use(self, key, cert_pem, chain_pem, name="node"):
        self.cert_file = self.dir / f"{name}.crt"
        self.key_file = self.dir / f"{name}.key"
        self.cert_file.write_text(cert_pem + chain_pem)
        self.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        self.key_file.chmod(0o600)

    def call(self, path, body=None, cert=True):
        s = requests.Session()
        s.trust_env = False
        kw = {"cert": (str(self.cert_file), str(self.key_file))} if cert else {}
        return s.post(self.m.url + path, json={} if body is None else body, verify=str(self.m.ca),
                      timeout=60, **kw)


def signed_by(cert, issuer):
    """Raises unless issuer's key signed cert (cryptography < 40 has no verify_directly_issued_by)."""
    assert cert.issuer == issuer.subject
    issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                               ec.ECDSA(cert.signature_hash_algorithm))


def openssl(*args, input=None):
    p = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=60)
    return p


def split_pem(text):
    marker = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + marker + "\n" for part in text.split(marker) if part.strip()]


@pytest.fixture(scope="module")
def team(manager):
    return Team(manager)


@pytest.fixture
def sim_team(manager):
    return Team(manager, settings={"allow_simulation": True})


# ---------------------------------------------------------------------------------------------
# zones


def test_every_account_has_a_default_zone(team):
    zone = zone_of(team.reader)
    assert zone["name"] == "default"
    assert lib.UUID_RE.match(zone["zone_id"])
    assert zone["acct_id"] == team.acct_id
    assert zone["trust_domain"] == f"{zone['zone_id']}.cloister.local"
    assert zone["key_type"] == "P-256"
    assert zone["node_refresh_interval"] == 30
    assert zone["node_renewal_threshold"] == 50
    assert "BEGIN CERTIFICATE" in zone["certificate"]
    for key in ("root_key_sealed", "issuing_key_sealed", "root_cert_pem"):
        assert key not in zone
    assert expect(team.reader.get(f"/v1/zones/{zone['zone_id']}"), 200) == zone
    other = zone_of(team.outsider)
    assert other["zone_id"] != zone["zone_id"]


def test_zone_ca_chain_verifies_independently(team, tmp_path):
    zone = zone_of(team.reader)
    r = expect(team.reader.get(f"/v1/zones/{zone['zone_id']}/ca"), 200)
    r = team.reader.get(f"/v1/zones/{zone['zone_id']}/ca")
    assert r.headers["Content-Type"] == "application/x-pem-file"
    issuing_pem, root_pem = split_pem(r.text)
    issuing = x509.load_pem_x509_certificate(issuing_pem.encode())
    root = x509.load_pem_x509_certificate(root_pem.encode())
    assert root.subject == root.issuer
    signed_by(root, root)
    signed_by(issuing, root)
    assert root_pem.strip() == zone["certificate"].strip()
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "issuing.pem").write_text(issuing_pem)
    p = openssl("verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "issuing.pem"))
    assert p.returncode == 0, p.stderr


def test_zone_crl_der_and_pem(team, tmp_path):
    zone = zone_of(team.reader)
    r = team.reader.get(f"/v1/zones/{zone['zone_id']}/crl")
    assert r.status_code == 200, lib.describe(r)
    assert r.headers["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(r.content)
    (tmp_path / "crl.der").write_bytes(r.content)
    p = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text")
    assert p.returncode == 0, p.stderr
    ca = split_pem(team.reader.get(f"/v1/zones/{zone['zone_id']}/ca").text)
    issuing = x509.load_pem_x509_certificate(ca[0].encode())
    assert crl.is_signature_valid(issuing.public_key())
    pem = team.reader.get(f"/v1/zones/{zone['zone_id']}/crl", params={"format": "pem"})
    assert pem.status_code == 200
    assert "BEGIN X509 CRL" in pem.text
    x509.load_pem_x509_crl(pem.text.encode())
    expect(team.reader.get(f"/v1/zones/{zone['zone_id']}/crl", params={"format": "xml"}), 400,
           "BAD_REQUEST", "format")


def test_zones_are_account_scoped(team):
    zone = zone_of(team.reader)
    out = team.session("outsider")
    for suffix in ("", "/ca", "/crl", "/token"):
        expect(out.get(f"/v1/zones/{zone['zone_id']}{suffix}"), 404, "NOT_FOUND")
    expect(team.reader.get("/v1/zones/not-a-uuid"), 404, "NOT_FOUND")
    assert all(z["acct_id"] == team.other_acct_id for z in out.list("/v1/zones")["items"])


# ---------------------------------------------------------------------------------------------
# join tokens


def test_token_defaults_and_storage(manager, team):
    zone = zone_of(team.writer)
    before = time.time()
    body = expect(mint(team.writer, zone["zone_id"]), 200)
    assert set(body) == {"token", "zone_id", "expires_at", "uses"}
    assert body["zone_id"] == zone["zone_id"] and body["uses"] == 1
    assert lib.b64url_decoded_len(body["token"]) == 32
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    assert before + 590 <= expires <= time.time() + 610
    digest = hashlib.sha256(body["token"].encode()).hexdigest()
    rows = manager.sql("SELECT uses_left, uses_total FROM join_tokens WHERE token_hash = ?",
                       (digest,))
    assert rows == [(1, 1)]
    for _, blob in manager.store_contents():
        assert body["token"].encode() not in blob
    events = team.writer.events()
    assert any(e["action_type"] == "ADMIN" and zone["zone_id"] in e["message"]
               and "Join token" in e["message"] for e in events)
    assert not any(body["token"] in e["message"] for e in events)
    assert body["token"] not in manager.log_text()


def test_token_bounds(team):
    zone_id = zone_of(team.writer)["zone_id"]
    body = expect(mint(team.writer, zone_id, ttl=60, uses=1000), 200)
    assert body["uses"] == 1000
    expect(mint(team.writer, zone_id, ttl=30 * 86400), 200)
    for params, field in (({"ttl": 59}, "ttl"), ({"ttl": 30 * 86400 + 1}, "ttl"),
                          ({"ttl": "ten"}, "ttl"), ({"ttl": ""}, "ttl"),
                          ({"uses": 0}, "uses"), ({"uses": 1001}, "uses"),
                          ({"uses": "-1"}, "uses"), ({"uses": "1.5"}, "uses")):
        expect(mint(team.writer, zone_id, **params), 400, "BAD_REQUEST", field)


def test_token_permissions(team):
    zone_id = zone_of(team.reader)["zone_id"]
    expect(mint(team.reader, zone_id), 403, "FORBIDDEN")
    expect(mint(team.session("none"), zone_id), 401, "UN_AUTHORIZED")
    expect(mint(team.session("outsider"), zone_id), 404, "NOT_FOUND")
    expect(mint(team.owner, zone_id), 200)


# ---------------------------------------------------------------------------------------------
# enrollment


def test_enrollment_issues_a_node_certificate(manager, team, tmp_path):
    zone = zone_of(team.writer)
    token = token_of(team.writer)
    key = make_key()
    body = enroll_body(key, description="rack 4", host_id="host-17", agent_version="0.1.0",
                       ipaddress="2001:db8::7")
    out = expect(enroll(manager, token, body), 201)
    assert out["zone_id"] == zone["zone_id"] and out["acct_id"] == team.acct_id
    assert out["trust_domain"] == zone["trust_domain"]
    assert out["node_refresh_interval"] == 30 and out["node_renewal_threshold"] == 50
    issuing_pem, root_pem = split_pem(out["chain"])
    assert root_pem.strip() == out["ca_certificate"].strip()

    cert = x509.load_pem_x509_certificate(out["certificate"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    uris = cert.extensions.get_extension_for_oid(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    assert uris == [f"spiffe://{zone['trust_domain']}/node/{out['node_id']}"]
    life = cert.not_valid_after - cert.not_valid_before
    assert timedelta(days=29, hours=23) <= life <= timedelta(days=30, minutes=2)
    issuing = x509.load_pem_x509_certificate(issuing_pem.encode())
    signed_by(cert, issuing)
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "issuing.pem").write_text(issuing_pem)
    (tmp_path / "node.pem").write_text(out["certificate"])
    p = openssl("verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                str(tmp_path / "issuing.pem"), "-purpose", "sslclient", str(tmp_path / "node.pem"))
    assert p.returncode == 0, p.stderr + p.stdout

    node = expect(team.reader.get(f"/v1/nodes/{out['node_id']}"), 200)
    assert node["name"] == body["name"] and node["ipaddress"] == "2001:db8::7"
    assert node["description"] == "rack 4" and node["host_id"] == "host-17"
    assert node["agent_version"] == "0.1.0" and node["attestation_type"] == "NONE"
    assert node["status"]["status"] == "RUNNING"
    assert lib.TIME_RE.match(node["status"]["last_seen_at"])
    assert node["certificate"].strip() == out["certificate"].strip()
    assert node["instances"] == []
    cert_obj = expect(team.reader.get(f"/v1/nodes/{out['node_id']}/certificate"), 200)
    assert cert_obj["certificate_id"] == out["certificate_id"]
    assert cert_obj["status"] == "ISSUED" and cert_obj["serial"] == format(cert.serial_number,
                                                                             "032x")
    listed = team.reader.list("/v1/nodes")["items"]
    assert out["node_id"] in [n["node_id"] for n in listed]
    events = [e for e in team.reader.events() if e["action_type"] == "NODE_ATTESTATION"
              and out["node_id"] in ((e.get("entity") or {}).get("id") or "")]
    assert events and events[0]["actor"]["type"] == "NODE"
    # The token was single-use.
    expect(enroll(manager, token, enroll_body()), 401, "UN_AUTHORIZED")


def test_token_reused_expired_unknown(manager, team):
    token = token_of(team.writer)
    expect(enroll(manager, token, enroll_body()), 201)
    r = expect(enroll(manager, token, enroll_body()), 401, "UN_AUTHORIZED")
    assert "already used" in r["message"]

    token = token_of(team.writer, ttl=60)
    manager.sql("UPDATE join_tokens SET expires_ms = ? WHERE token_hash = ?",
                (int(time.time() * 1000) - 1, hashlib.sha256(token.encode()).hexdigest()))
    r = expect(enroll(manager, token, enroll_body()), 401, "UN_AUTHORIZED")
    assert "expired" in r["message"]

    r = expect(enroll(manager, "x" * 43, enroll_body()), 401, "UN_AUTHORIZED")
    assert "unknown" in r["message"]
    r = expect(enroll(manager, None, enroll_body()), 401, "UN_AUTHORIZED")
    assert "join token" in r["message"]
    refusals = [e for e in team.reader.events() if e["action_type"] == "NODE_ATTESTATION"
                and "refused" in e["message"]]
    assert any("expired" in e["message"] for e in refusals)
    assert any("already used" in e["message"] for e in refusals)


def test_multi_use_token(manager, team):
    token = token_of(team.writer, uses=3)
    for _ in range(3):
        expect(enroll(manager, token, enroll_body()), 201)
    r = expect(enroll(manager, token, enroll_body()), 401, "UN_AUTHORIZED")
    assert "already used" in r["message"] and "3 uses" in r["message"]


def test_refused_enrollment_keeps_the_token(manager, team):
    token = token_of(team.writer)
    expect(enroll(manager, token, enroll_body(ipaddress="300.1.1.1")), 400,
           "INVALID_BODY_PARAMETER", "ipaddress")
    expect(enroll(manager, token, enroll_body()), 201)


def test_concurrent_enrollments_race_one_token(manager, team):
    token = token_of(team.writer)
    bodies = [enroll_body() for _ in range(50)]
    results = [None] * 50
    barrier = threading.Barrier(50)

    def run(i):
        s = requests.Session()
        barrier.wait()
        results[i] = enroll(manager, token, bodies[i], s)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(401) == 49, statuses
    for r in results:
        if r.status_code == 401:
            assert "already used" in r.json()["message"]
    names = {n["name"] for n in team.reader.list_all("/v1/nodes")}
    assert len(names & {b["name"] for b in bodies}) == 1


def test_simulated_attestation_needs_the_account_setting(manager, team, sim_team):
    sim = make_key()
    token = token_of(team.writer)
    r = expect(enroll(manager, token, enroll_body(attestation_request={
        "csr": make_csr(make_key()), "sim_key": spki_b64(sim)})), 403, "ATTESTATION_FAILED")
    assert "simulated attestation is not allowed in this account" in r["message"]
    # Refused: the token is still good.
    expect(enroll(manager, token, enroll_body()), 201)

    token = token_of(sim_team.writer)
    out = expect(enroll(manager, token, enroll_body(attestation_request={
        "csr": make_csr(make_key()), "sim_key": spki_b64(sim)})), 201)
    node = expect(sim_team.reader.get(f"/v1/nodes/{out['node_id']}"), 200)
    assert node["attestation_type"] == "SIM"
    [(stored,)] = manager.sql("SELECT attestation_key FROM nodes WHERE node_id = ?",
                              (out["node_id"],))
    assert stored == spki_b64(sim)


def test_enrollment_bad_input(manager, team):
    token = token_of(team.writer)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k1 = ec.generate_private_key(ec.SECP521R1())
    cases = [
        ({"ipaddress": "10.0.0.1", "attestation_request": {"csr": make_csr(make_key())}},
         "name"),
        (enroll_body(name=""), "name"),
        (enroll_body(name="n" * 256), "name"),
        (enroll_body(name=7), "name"),
        (enroll_body(ipaddress="10.0.0"), "ipaddress"),
        (enroll_body(ipaddress="node.example.com"), "ipaddress"),
        ({"name": "n", "attestation_request": {"csr": make_csr(make_key())}}, "ipaddress"),
        (enroll_body(description="d" * 1025), "description"),
        (enroll_body(host_id="h" * 256), "host_id"),
        (enroll_body(agent_version="v" * 65), "agent_version"),
        (enroll_body(colour="blue"), "colour"),
        ({"name": "n", "ipaddress": "10.0.0.1"}, "attestation_request"),
        (enroll_body(attestation_request={}), "attestation_request.csr"),
        (enroll_body(attestation_request={"csr": "not a csr"}), "attestation_request.csr"),
        (enroll_body(attestation_request={
            "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}),
         "attestation_request.csr"),
        (enroll_body(attestation_request={"csr": make_csr(rsa_key)}), "attestation_request.csr"),
        (enroll_body(attestation_request={"csr": make_csr(k1)}), "attestation_request.csr"),
        (enroll_body(attestation_request={"csr": make_csr(make_key()), "sim_key": "!!"}),
         "attestation_request.sim_key"),
        (enroll_body(attestation_request={"csr": make_csr(make_key()),
                                          "sim_key": spki_b64(make_key(ec.SECP384R1))}),
         "attestation_request.sim_key"),
        (enroll_body(attestation_request={"csr": make_csr(make_key()), "extra": 1}),
         "attestation_request.extra"),
    ]
    for body, field in cases:
        expect(enroll(manager, token, body), 400, "INVALID_BODY_PARAMETER", field)
    s = requests.Session()
    r = s.post(manager.url + "/v1/nodes", data="{not json", verify=str(manager.ca),
               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    expect(r, 400, "BAD_REQUEST")
    # None of that used the token.
    expect(enroll(manager, token, enroll_body()), 201)


# ---------------------------------------------------------------------------------------------
# the node API (mTLS)


def test_node_calls_with_mtls(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    out = expect(node.call("/v1/node/status", {"agent_version": "0.2.0", "instances": []}), 200)
    assert out == {"node_refresh_interval": 30, "node_renewal_threshold": 50,
                   "node_status": "RUNNING"}
    assert expect(team.reader.get(f"/v1/nodes/{node.node_id}"), 200)["agent_version"] == "0.2.0"

    nonce = expect(node.call("/v1/node/nonce"), 200)
    assert 0 < len(nonce["nonce"]) < 64
    assert lib.TIME_RE.match(nonce["expires_at"])
    assert nonce != expect(node.call("/v1/node/nonce"), 200)

    for path in ("/v1/node/status", "/v1/node/nonce", "/v1/node/certificate/renew"):
        expect(node.call(path, cert=False), 401, "UN_AUTHORIZED")


def test_node_status_bad_input(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    for body, field in (({"instances": "x"}, "instances"),
                        ({"instances": [{"instance_id": "nope"}]}, "instances[0]"),
                        ({"instances": [{"instance_id": lib.UUID_RE.pattern}]}, "instances[0]"),
                        ({"instances": [{"instance_id": "0" * 36, "x": 1}]}, "instances[0]"),
                        ({"instances": [{}] * 1001}, "instances"),
                        ({"agent_version": 5}, "agent_version"),
                        ({"agent_version": "v" * 65}, "agent_version"),
                        ({"colour": "blue"}, "colour")):
        expect(node.call("/v1/node/status", body), 400, "INVALID_BODY_PARAMETER", field)


def test_node_renewal(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    old_serial = x509.load_pem_x509_certificate(node.enrolled["certificate"].encode()).serial_number
    new_key = make_key(ec.SECP384R1)
    out = expect(node.call("/v1/node/certificate/renew", {"csr": make_csr(new_key)}), 200)
    cert = x509.load_pem_x509_certificate(out["certificate"].encode())
    assert cert.serial_number != old_serial
    assert cert.public_key().public_numbers() == new_key.public_key().public_numbers()
    assert out["chain"] == node.enrolled["chain"]
    current = expect(team.reader.get(f"/v1/nodes/{node.node_id}/certificate"), 200)
    assert current["serial"] == format(cert.serial_number, "032x")
    # The old certificate keeps working until it expires; the new one works.
    expect(node.call("/v1/node/status", {}), 200)
    node.use(new_key, out["certificate"], out["chain"], name="renewed")
    expect(node.call("/v1/node/status", {}), 200)
    expect(node.call("/v1/node/certificate/renew", {"csr": "garbage"}), 400,
           "INVALID_BODY_PARAMETER", "csr")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expect(node.call("/v1/node/certificate/renew", {"csr": make_csr(rsa_key)}), 400,
           "INVALID_BODY_PARAMETER", "csr")
    expect(node.call("/v1/node/certificate/renew", {}), 400, "INVALID_BODY_PARAMETER", "csr")
    assert any(e["action_type"] == "CERTIFICATE" and node.node_id == (e.get("entity") or {}).get("id")
               for e in team.reader.events())


def test_status_is_computed_from_check_ins(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    path = f"/v1/nodes/{node.node_id}"
    assert expect(team.reader.get(path), 200)["status"]["status"] == "RUNNING"
    # Four refresh intervals without a check-in.
    manager.sql("UPDATE nodes SET last_seen_ms = last_seen_ms - 120000 WHERE node_id = ?",
                (node.node_id,))
    assert expect(team.reader.get(path), 200)["status"]["status"] == "STOPPED"
    ids = {n["node_id"] for n in team.reader.list_all("/v1/nodes", status="STOPPED")}
    assert node.node_id in ids
    assert node.node_id not in {n["node_id"] for n in
                                team.reader.list_all("/v1/nodes", status="RUNNING")}
    expect(node.call("/v1/node/status", {}), 200)
    assert expect(team.reader.get(path), 200)["status"]["status"] == "RUNNING"
    assert node.node_id in {n["node_id"] for n in
                            team.reader.list_all("/v1/nodes", status="RUNNING")}
    assert any(e["action_type"] == "NODE_STATUS" and "STOPPED -> RUNNING" in e["message"]
               and (e.get("entity") or {}).get("id") == node.node_id for e in team.reader.events())
    expect(team.reader.get("/v1/nodes", params={"status": "GONE"}), 400, "BAD_REQUEST", "status")


def test_check_in_updates_app_instances(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    app = team.writer.create_app()
    build = team.writer.create_build(app["app_id"])
    ids = [str(uuid.uuid4()) for _ in range(3)]
    now_ms = int(time.time() * 1000)
    for i, instance_id in enumerate(ids):
        # One instance per (app, node, build): only the first can use the real app/build triple;
        # the others get builds of their own.
        b = build if i == 0 else team.writer.create_build(app["app_id"])
        manager.sql("INSERT INTO app_instances (instance_id, acct_id, app_id, build_id, node_id,"
                    " attested_at, last_seen_ms, status_updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (instance_id, team.acct_id, app["app_id"], b["build_id"], node.node_id,
                     "2026-01-01T00:00:00.000Z", now_ms - 10_000_000, "2026-01-01T00:00:00.000Z"))

    def states():
        got = expect(team.reader.get(f"/v1/nodes/{node.node_id}"), 200)["instances"]
        return {i["instance_id"]: i["status"]["status"] for i in got}

    assert set(states().values()) == {"STOPPED"}
    unknown = str(uuid.uuid4())
    expect(node.call("/v1/node/status", {"instances": [{"instance_id": ids[0]},
                                                       {"instance_id": ids[1]},
                                                       {"instance_id": unknown}]}), 200)
    assert states() == {ids[0]: "RUNNING", ids[1]: "RUNNING", ids[2]: "STOPPED"}
    expect(node.call("/v1/node/status", {"instances": [{"instance_id": ids[1]}]}), 200)
    assert states() == {ids[0]: "STOPPED", ids[1]: "RUNNING", ids[2]: "STOPPED"}
    expect(node.call("/v1/node/status", {"instances": []}), 200)
    assert set(states().values()) == {"STOPPED"}
    # A full check-in (the maximum) in one statement.
    many = [{"instance_id": ids[2]}] + [{"instance_id": str(uuid.uuid4())}
                                        for _ in range(999)]
    expect(node.call("/v1/node/status", {"instances": many}), 200)
    assert states()[ids[2]] == "RUNNING"


def test_forged_and_foreign_certificates_are_refused(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    zone = zone_of(team.reader)
    # A self-made CA imitating the zone's names, signing a certificate for the node.
    fake_key = make_key()
    ca_cert = x509.load_pem_x509_certificate(split_pem(node.enrolled["chain"])[0].encode())
    now = datetime.now(timezone.utc)
    forged = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node.node_id)]))
              .issuer_name(ca_cert.subject)
              .public_key(node.key.public_key())
              .serial_number(x509.load_pem_x509_certificate(
                  node.enrolled["certificate"].encode()).serial_number)
              .not_valid_before(now - timedelta(minutes=1))
              .not_valid_after(now + timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
                  f"spiffe://{zone['trust_domain']}/node/{node.node_id}")]), critical=False)
              .sign(fake_key, hashes.SHA256()))
    node.use(node.key, forged.public_bytes(serialization.Encoding.PEM).decode(), "",
             name="forged")
    r = expect(node.call("/v1/node/status", {}), 401, "UN_AUTHORIZED")
    assert "zone CA" in r["message"]

    # A genuine node certificate of another account's zone, presented for a node that (in the
    # store) sits in this account's zone.
    other = Node(manager, tmp_path, token_of(team.outsider))
    expect(other.call("/v1/node/status", {}), 200)
    manager.sql("UPDATE nodes SET zone_id = ?, acct_id = ? WHERE node_id = ?",
                (zone["zone_id"], team.acct_id, other.node_id))
    expect(other.call("/v1/node/status", {}), 401, "UN_AUTHORIZED")


def test_deactivation_revokes_and_refuses(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    zone_id = node.enrolled["zone_id"]
    serial = x509.load_pem_x509_certificate(node.enrolled["certificate"].encode()).serial_number
    expect(team.reader.post(f"/v1/nodes/{node.node_id}/deactivate"), 403, "FORBIDDEN")
    expect(team.session("outsider").post(f"/v1/nodes/{node.node_id}/deactivate"), 404,
           "NOT_FOUND")
    out = expect(team.writer.post(f"/v1/nodes/{node.node_id}/deactivate"), 200)
    assert out["status"]["status"] == "DEACTIVATED"
    expect(team.writer.post(f"/v1/nodes/{node.node_id}/deactivate"), 409, "INVALID_STATE")
    cert = expect(team.reader.get(f"/v1/nodes/{node.node_id}/certificate"), 200)
    assert cert["status"] == "REVOKED"

    crl = x509.load_der_x509_crl(team.reader.get(f"/v1/zones/{zone_id}/crl").content)
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    (tmp_path / "crl.pem").write_text(
        team.reader.get(f"/v1/zones/{zone_id}/crl", params={"format": "pem"}).text)
    p = openssl("crl", "-in", str(tmp_path / "crl.pem"), "-noout", "-text")
    assert p.returncode == 0 and format(serial, "X") in p.stdout.decode().replace(":", "").upper()

    for path in ("/v1/node/status", "/v1/node/nonce", "/v1/node/certificate/renew"):
        expect(node.call(path, {"csr": make_csr(node.key)}
                         if path.endswith("renew") else {}), 403, "NODE_NOT_ENROLLED")
    assert node.node_id in {n["node_id"] for n in
                            team.reader.list_all("/v1/nodes", status="DEACTIVATED")}
    assert any(e["action_type"] == "NODE_STATUS" and (e.get("entity") or {}).get("id") == node.node_id
               and "Deactivated" in e["message"] for e in team.reader.events())


def test_node_update_and_permissions(manager, team, tmp_path):
    node = Node(manager, tmp_path, token_of(team.writer))
    path = f"/v1/nodes/{node.node_id}"
    out = expect(team.writer.patch(path, json={"name": "renamed", "labels": {"rack": "4"}}), 200)
    assert out["name"] == "renamed" and out["labels"] == {"rack": "4"}
    assert out["ipaddress"] == node.body["ipaddress"]
    out = expect(team.writer.patch(path, json={"description": "d"}), 200)
    assert out["name"] == "renamed" and out["description"] == "d"
    expect(team.reader.patch(path, json={"name": "x"}), 403, "FORBIDDEN")
    expect(team.writer.patch(path, json={"name": ""}), 400, "INVALID_BODY_PARAMETER", "name")
    expect(team.writer.patch(path, json={"name": None}), 400, "INVALID_BODY_PARAMETER", "name")
    expect(team.writer.patch(path, json={"ipaddress": "1.2.3.4"}), 400,
           "INVALID_BODY_PARAMETER", "ipaddress")
    expect(team.writer.patch(path, json={}), 400, "INVALID_BODY_PARAMETER")
    out_client = team.session("outsider")
    for p in (path, path + "/certificate"):
        expect(out_client.get(p), 404, "NOT_FOUND")
    expect(out_client.patch(path, json={"name": "x"}), 404, "NOT_FOUND")
    assert node.node_id not in {n["node_id"] for n in out_client.list_all("/v1/nodes")}
    expect(team.reader.get("/v1/nodes/not-a-uuid"), 404, "NOT_FOUND")
    expect(team.session("none").get("/v1/nodes"), 401, "UN_AUTHORIZED")


# ---------------------------------------------------------------------------------------------
# the CLI


def run_cli(m, client, home, *args, expect_rc=0):
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOISTER_", "XDG_"))}
    env.update(HOME=str(home), CLOISTER_URL=m.url, CLOISTER_CA=str(m.ca),
               CLOISTER_TOKEN=client.token, LC_ALL="C.UTF-8")
    p = subprocess.run([str(lib.CLI_BIN), *args], capture_output=True, env=env, timeout=60)
    assert p.returncode == expect_rc, (f"cloister {' '.join(args)}: exit {p.returncode}\n"
                                       f"stdout: {p.stdout!r}\nstderr: {p.stderr!r}")
    return p


def test_cli_zone_and_node_verbs(manager, team, tmp_path):
    zone = zone_of(team.reader)
    out = run_cli(manager, team.reader, tmp_path, "zone", "list").stdout.decode()
    assert zone["zone_id"] in out and "default" in out and "P-256" in out
    out = run_cli(manager, team.reader, tmp_path, "--json", "zone", "show", zone["zone_id"])
    assert __import__("json").loads(out.stdout)["trust_domain"] == zone["trust_domain"]
    run_cli(manager, team.reader, tmp_path, "zone", "ca", zone["zone_id"], "-o",
            str(tmp_path / "chain.pem"))
    assert split_pem((tmp_path / "chain.pem").read_text())[1].strip() == \
        zone["certificate"].strip()
    pem = run_cli(manager, team.reader, tmp_path, "zone", "crl", zone["zone_id"]).stdout
    x509.load_pem_x509_crl(pem)
    run_cli(manager, team.reader, tmp_path, "zone", "crl", zone["zone_id"], "--der", "-o",
            str(tmp_path / "crl.der"))
    x509.load_der_x509_crl((tmp_path / "crl.der").read_bytes())
    run_cli(manager, team.reader, tmp_path, "zone", "show", "not-a-zone", expect_rc=1)

    # A token minted by the CLI enrolls a node.
    token = run_cli(manager, team.writer, tmp_path, "-q", "node", "token", "--ttl", "120",
                    "--uses", "2").stdout.decode().strip()
    assert lib.b64url_decoded_len(token) == 32
    node = Node(manager, tmp_path, token)
    err = run_cli(manager, team.reader, tmp_path, "node", "token", expect_rc=1).stderr.decode()
    assert "WRITER" in err
    run_cli(manager, team.writer, tmp_path, "node", "token", "--ttl", "5", expect_rc=2)
    run_cli(manager, team.writer, tmp_path, "node", "token", "--uses", "0", expect_rc=2)

    out = run_cli(manager, team.reader, tmp_path, "node", "list").stdout.decode()
    assert node.node_id in out and "RUNNING" in out
    out = run_cli(manager, team.reader, tmp_path, "-q", "node", "list", "--status",
                  "DEACTIVATED").stdout.decode()
    assert node.node_id not in out
    out = run_cli(manager, team.reader, tmp_path, "node", "show", node.node_id).stdout.decode()
    assert node.body["name"] in out
    run_cli(manager, team.reader, tmp_path, "node", "deactivate", node.node_id, expect_rc=1)
    out = run_cli(manager, team.writer, tmp_path, "node", "deactivate", node.node_id)
    assert "Deactivated node" in out.stdout.decode()
    out = run_cli(manager, team.reader, tmp_path, "-q", "node", "list", "--status",
                  "DEACTIVATED").stdout.decode()
    assert node.node_id in out.split()
    run_cli(manager, team.writer, tmp_path, "node", "deactivate", node.node_id, expect_rc=1)
