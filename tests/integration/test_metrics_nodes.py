"""Observability of nodes and issuance (SPEC 8, SPEC 3): the Prometheus counters of
attestations, certificates and enrollments move by exactly the events a node causes, the node
gauge counts nodes by status, and a build's deployment_status.count is the number of its
RUNNING instances (GET /v1/builds/{id} and the list).

Nodes and evidence are made as tests/integration/test_issuance.py makes them (its helpers).
The manager of this module serves only this module, but the counters are compared before and
after, so the checks do not depend on the order of the tests.
"""

import re

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from cloister_testlib import Team, expect
from test_issuance import Node, approved_app, join_token, make_csr, measurement

SAMPLE = re.compile(r"^(cloister_[a-z_]+)(\{[^}]*\})?\s+(\S+)\s*$", re.M)


def scrape(client):
    """{(name, labels text): value} of every cloister_* sample of /metrics."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return {(name, labels or ""): float(value) for name, labels, value in SAMPLE.findall(r.text)}


def delta(before, after):
    """The samples that changed, by how much."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys
            if after.get(k, 0) != before.get(k, 0)}


def event_counters(samples):
    """The counters of issuance and enrollment (not the HTTP ones, which every call moves)."""
    return {k: v for k, v in samples.items()
            if k[0] in ("cloister_attestations_total", "cloister_certificates_issued_total",
                        "cloister_node_enrollments_total")}


def attestation(platform, result):
    return ("cloister_attestations_total", f'{{platform="{platform}",result="{result}"}}')


def certificates(kind):
    return ("cloister_certificates_issued_total", f'{{kind="{kind}"}}')


def enrollments(result):
    return ("cloister_node_enrollments_total", f'{{result="{result}"}}')


def nodes_gauge(samples):
    return {status: samples.get(("cloister_nodes", f'{{status="{status}"}}'))
            for status in ("RUNNING", "STOPPED", "DEACTIVATED")}


@pytest.fixture(scope="module")
def team(manager):
    return Team(manager, settings={"allow_simulation": True})


@pytest.fixture(scope="module")
def zone(team):
    zones = team.owner.list("/v1/zones")["items"]
    assert len(zones) == 1, zones
    return zones[0]


def enroll(manager, team, zone, tmp_path_factory):
    return Node(manager, join_token(team.writer, zone["zone_id"]),
                tmp_path_factory.mktemp("node"))


# ---- counters ----

def test_counters_move_by_the_events(manager, anon, team, zone, tmp_path_factory):
    before = scrape(anon)
    for series in (attestation("sim", "success"), attestation("sim", "pending_whitelist"),
                   attestation("sim", "denied"), attestation("sim", "failed"),
                   certificates("app"), certificates("node"), enrollments("success"),
                   enrollments("token_refused")):
        assert series in before, f"{series} not exposed (zeros included):\n{sorted(before)}"

    # one enrollment: a node certificate
    node = enroll(manager, team, zone, tmp_path_factory)
    # one enrollment refused: an unknown join token
    r = requests.post(manager.url + "/v1/nodes", json={}, verify=str(manager.ca),
                      headers={"Authorization": "Bearer not-a-join-token"}, timeout=30)
    expect(r, 401)
    # one attestation that succeeds: an app certificate
    _, build, _ = approved_app(team)
    body = node.request(*measurement(build))
    assert node.issue(body)["task_status"] == "SUCCESS"
    # the same nonce again: denied
    assert node.issue(body)["task_status"] == "DENIED"
    # a build not approved yet: pending
    _, pending, _ = approved_app(team, build_status="PENDING")
    assert node.issue(node.request(*measurement(pending)))["task_status"] == \
        "PENDING_WHITELIST"
    # a malformed body is no attestation: 400, not counted
    node.issue({"csr": "x"}, 400)
    # one renewal: a node certificate
    key = ec.generate_private_key(ec.SECP256R1())
    expect(node.post("/v1/node/certificate/renew", {"csr": make_csr(key, "node")}), 200)

    moved = delta(event_counters(before), event_counters(scrape(anon)))
    assert moved == {
        enrollments("success"): 1,
        enrollments("token_refused"): 1,
        certificates("node"): 2,
        attestation("sim", "success"): 1,
        attestation("sim", "denied"): 1,
        attestation("sim", "pending_whitelist"): 1,
        certificates("app"): 1,
    }, moved


def test_nodes_gauge(manager, anon, team, zone, tmp_path_factory):
    before = nodes_gauge(scrape(anon))
    assert None not in before.values(), f"no cloister_nodes gauge: {before}"
    node = enroll(manager, team, zone, tmp_path_factory)
    after = nodes_gauge(scrape(anon))
    assert after["RUNNING"] == before["RUNNING"] + 1, (before, after)
    expect(team.writer.post(f"/v1/nodes/{node.node_id}/deactivate"), 200)
    final = nodes_gauge(scrape(anon))
    assert final == {**before, "DEACTIVATED": before["DEACTIVATED"] + 1}, (before, final)


# ---- deployment_status.count ----

def deployment_counts(team, build):
    """The count of GET /v1/builds/{id} and of the build in GET /v1/builds."""
    one = team.reader.build(build["build_id"])["deployment_status"]["count"]
    listed = [b for b in team.reader.list("/v1/builds", app_id=build["app_id"])["items"]
              if b["build_id"] == build["build_id"]]
    assert len(listed) == 1, listed
    return one, listed[0]["deployment_status"]["count"]


def test_deployment_count_is_running_instances(manager, team, zone, tmp_path_factory):
    _, build, _ = approved_app(team)
    _, other, _ = approved_app(team)  # its instance must not count for build
    first = enroll(manager, team, zone, tmp_path_factory)
    second = enroll(manager, team, zone, tmp_path_factory)
    assert deployment_counts(team, build) == (0, 0)

    a = first.issue(first.request(*measurement(build)))
    assert a["task_status"] == "SUCCESS", a
    assert deployment_counts(team, build) == (1, 1)
    b = second.issue(second.request(*measurement(build)))
    assert b["task_status"] == "SUCCESS", b
    c = second.issue(second.request(*measurement(other)))
    assert c["task_status"] == "SUCCESS", c
    assert deployment_counts(team, build) == (2, 2)
    assert deployment_counts(team, other) == (1, 1)
    # attesting again on the same node is the same instance
    assert first.issue(first.request(*measurement(build)))["task_status"] == "SUCCESS"
    assert deployment_counts(team, build) == (2, 2)

    # a check-in of the second node that lists only other's instance stops build's there
    expect(second.post("/v1/node/status", {"instances": [{"instance_id": c["instance_id"]}]}),
           200)
    assert deployment_counts(team, build) == (1, 1)
    assert deployment_counts(team, other) == (1, 1)
    # a deactivated node runs nothing
    expect(team.writer.post(f"/v1/nodes/{first.node_id}/deactivate"), 200)
    assert deployment_counts(team, build) == (0, 0)
    # the deployments list agrees
    items = team.reader.list(f"/v1/builds/deployments/{build['build_id']}")["items"]
    assert sorted(i["status"]["status"] for i in items) == ["STOPPED", "STOPPED"], items
