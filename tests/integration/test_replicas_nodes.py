"""Nodes and issuance across manager replicas on one PostgreSQL database (issue 4 item 7): zone
CA keys live sealed in the store, so the CA process of any replica signs for any zone; nonces are
stateless, so any replica checks one another issued, and consumed once across all; a single-use
join token raced from every replica enrolls one node.

Runs in the PostgreSQL pass only, like test_replicas.py (whose cluster fixture it shares)."""

import tempfile
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509

import cloister_testlib as lib
from cloister_testlib import Team, expect, unique

if lib.STORE != "postgres" or not lib.PG_BASE:
    pytest.skip("replica tests run in the postgres pass", allow_module_level=True)

from test_issuance import Node, approved_app, join_token, make_csr, measurement, spki_der  # noqa
from test_replicas import cluster  # noqa: F401  (the module's fixture)


@pytest.fixture(scope="module")
def team(cluster):  # noqa: F811
    return Team(cluster.replicas[0], settings={"allow_simulation": True})


def zone_id(team):
    return team.owner.list("/v1/zones")["items"][0]["zone_id"]


def at(node, replica):
    """The node's next calls go to replica (all replicas share one TLS certificate)."""
    node.m = replica
    return node


def test_join_token_race_across_replicas(cluster, team):
    from cryptography.hazmat.primitives.asymmetric import ec
    token = join_token(team.owner, zone_id(team))
    results = []
    lock = threading.Lock()

    def enroll(i):
        replica = cluster.replicas[i % len(cluster.replicas)]
        key = ec.generate_private_key(ec.SECP256R1())
        body = {"name": unique("racer"), "ipaddress": "127.0.0.1",
                "attestation_request": {"csr": make_csr(key, "node")}}
        r = requests.post(replica.url + "/v1/nodes", json=body, verify=str(replica.ca),
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=enroll, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 1, [lib.describe(r) for r in results if r.status_code != 401]
    assert statuses.count(401) == 29, statuses
    for r in results:
        if r.status_code == 401:
            assert "used" in r.json()["message"], r.json()


def test_enroll_nonce_issue_checkin_on_different_replicas(cluster, team):
    r0, r1, r2 = cluster.replicas
    # Enrolled through r0's CA process; every later call on another replica.
    node = Node(r0, join_token(team.owner, zone_id(team)), Path(tempfile.mkdtemp()))
    app, build, domain = approved_app(team)
    body = at(node, r1).request(*measurement(build))     # nonce from r1
    answer = at(node, r2).issue(body)                     # issued by r2's CA process
    assert answer["task_status"] == "SUCCESS", answer
    cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert domain in names.get_values_for_type(x509.DNSName)

    # The nonce is spent everywhere: replaying it on the other replicas is refused.
    for replica in (r0, r1):
        again = at(node, replica).issue(body)
        assert again["task_status"] == "DENIED" and "nonce" in again["message"], again

    # Check-ins land anywhere; the instance is RUNNING whichever replica is asked.
    for replica in (r0, r1, r2):
        got = expect(at(node, replica).post("/v1/node/status",
                                            {"instances": [{"instance_id":
                                                            answer["instance_id"]}]}), 200)
        assert got["node_status"] == "RUNNING", got
    for replica in (r0, r1, r2):
        c = lib.Client(replica, token=team.owner.token)
        deployments = expect(c.get(f"/v1/builds/deployments/{build['build_id']}"), 200)
        assert any(i["node_id"] == node.node_id for i in deployments["items"]), deployments


def test_crl_signed_by_any_replica_lists_a_revocation_made_on_another(cluster, team):
    r0, r1, r2 = cluster.replicas
    node = Node(r0, join_token(team.owner, zone_id(team)), Path(tempfile.mkdtemp()))
    c1 = lib.Client(r1, token=team.owner.token)
    expect(c1.post(f"/v1/nodes/{node.node_id}/deactivate", json={}), 200)
    serial = x509.load_pem_x509_certificate(node.enrolled["certificate"].encode()).serial_number
    c2 = lib.Client(r2, token=team.owner.token)
    resp = c2.get(f"/v1/zones/{zone_id(team)}/crl")
    expect(resp, 200)
    crl = x509.load_der_x509_crl(resp.content)
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    # ... and r0 refuses the deactivated node's next call.
    expect(at(node, r0).post("/v1/node/status", {}), 403, "NODE_NOT_ENROLLED")
