"""Hardware evidence in the manager's decisions (issue 6 items 2-3; docs/hardware-evidence.md,
"Policy and issuance"): the attestation policy of an account and its apps, and issuance with the
REAL quotes and reports of ../shared/testvectors/ as evidence.

The real evidence cannot bind our nonce (its report_data was fixed when it was captured), and
the Intel vectors' collateral has expired by now; the manager has no clock override, so the
acceptance path at each vector's pinned time is checked by tests/unit/test-hw-policy.c (the
same verification code, hw-verify.c, against a store on both backends). Here: the refusals real
evidence can show, each named and audited.
"""

import base64
import hashlib

import pytest

from cloister_testlib import Team, expect, rand_hex64, unique
from collateral_server import TESTVECTORS
from test_collateral import files_of
from test_issuance import Node, check_refused, join_token

DEFAULT_POLICY = {
    "accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"],
    "accepted_advisory_ids": None,
    "allow_debug": False,
    "min_isvsvn": 0,
    "allow_missing_crls": False,
    "require_zero_mrservicetd": False,
    "snp_max_vmpl": None,
    "snp_allow_migration_agent": False,
    "snp_forbid_smt": False,
}


@pytest.fixture(scope="module")
def team(manager):
    return Team(manager, settings={"allow_simulation": True})


@pytest.fixture(scope="module")
def node(manager, team, tmp_path_factory):
    zone = team.owner.list("/v1/zones")["items"][0]
    return Node(manager, join_token(team.writer, zone["zone_id"]),
                tmp_path_factory.mktemp("node"))


def account(client, acct_id):
    return expect(client.get(f"/v1/accounts/{acct_id}"), 200)


def policy_patch(client, acct_id, policy):
    return client.patch(f"/v1/accounts/{acct_id}", json={"settings": {"attestation_policy": policy}})


# ---- the account's policy ----

def test_account_policy_defaults_and_changes(manager):
    t = Team(manager)
    assert account(t.owner, t.acct_id)["settings"]["attestation_policy"] == DEFAULT_POLICY
    got = expect(policy_patch(t.owner, t.acct_id, {
        "accepted_tcb_statuses": ["UpToDate", "OutOfDate"], "min_isvsvn": 3}), 200)
    policy = got["settings"]["attestation_policy"]
    assert policy == {**DEFAULT_POLICY, "accepted_tcb_statuses": ["UpToDate", "OutOfDate"],
                      "min_isvsvn": 3}
    # members not given stay; a null member goes back to its default
    got = expect(policy_patch(t.owner, t.acct_id, {"allow_debug": True, "min_isvsvn": None}), 200)
    assert got["settings"]["attestation_policy"] == {
        **DEFAULT_POLICY, "accepted_tcb_statuses": ["UpToDate", "OutOfDate"], "allow_debug": True}
    assert account(t.reader, t.acct_id)["settings"]["attestation_policy"]["allow_debug"] is True
    # a null policy restores every default
    got = expect(policy_patch(t.owner, t.acct_id, None), 200)
    assert got["settings"]["attestation_policy"] == DEFAULT_POLICY
    # other settings leave it alone
    expect(policy_patch(t.owner, t.acct_id, {"snp_max_vmpl": 1}), 200)
    got = expect(t.owner.patch(f"/v1/accounts/{t.acct_id}",
                               json={"settings": {"renewal_threshold": 40}}), 200)
    assert got["settings"]["attestation_policy"]["snp_max_vmpl"] == 1


@pytest.mark.parametrize("policy, message", [
    ({"accepted_tcb_statuses": ["UpToDate", "Foo"]},
     "settings.attestation_policy.accepted_tcb_statuses[1]: unknown TCB status"),
    ({"accepted_tcb_statuses": ["SimulatedInsecure"]},
     "settings.attestation_policy.accepted_tcb_statuses[0]: unknown TCB status"),
    ({"accepted_tcb_statuses": []},
     "settings.attestation_policy.accepted_tcb_statuses: must have 1 to 7 items"),
    ({"accepted_advisory_ids": ["sa-1"]},
     "settings.attestation_policy.accepted_advisory_ids[0]: must be an advisory id"),
    ({"min_isvsvn": 65536}, "settings.attestation_policy.min_isvsvn: must be between"),
    ({"snp_max_vmpl": 4}, "settings.attestation_policy.snp_max_vmpl: must be between"),
    ({"allow_debug": "yes"}, "settings.attestation_policy.allow_debug: must be"),
    ({"debug": True}, "settings.attestation_policy.debug: unknown field"),
    ([], "settings.attestation_policy: must be"),
])
def test_account_policy_bad_input(team, policy, message):
    r = policy_patch(team.owner, team.acct_id, policy)
    body = expect(r, 400, "INVALID_BODY_PARAMETER")
    assert body["message"].startswith(message), body


def test_account_policy_permissions(team):
    # as the other account settings: MANAGER only; a non-member sees 404
    expect(policy_patch(team.writer, team.acct_id, {"allow_debug": True}), 403)
    expect(policy_patch(team.reader, team.acct_id, {"allow_debug": True}), 403)
    expect(policy_patch(team.outsider, team.acct_id, {"allow_debug": True}), 404)
    assert account(team.owner, team.acct_id)["settings"]["attestation_policy"]["allow_debug"] \
        is False


# ---- the app's overrides ----

def test_app_overrides(team):
    app = team.writer.create_app(name=unique("app"), attestation_policy={"allow_debug": True})
    assert app["attestation_policy"] == {"allow_debug": True}
    plain = team.writer.create_app(name=unique("app"))
    assert plain["attestation_policy"] == {}
    # PATCH replaces the overrides whole; a null member overrides nothing
    got = expect(team.writer.patch(f"/v1/apps/{app['app_id']}", json={
        "attestation_policy": {"min_isvsvn": 2, "snp_max_vmpl": None}}), 200)
    assert got["attestation_policy"] == {"min_isvsvn": 2}
    got = expect(team.writer.patch(f"/v1/apps/{app['app_id']}",
                                   json={"attestation_policy": None}), 200)
    assert got["attestation_policy"] == {}
    r = team.writer.patch(f"/v1/apps/{app['app_id']}", json={
        "attestation_policy": {"accepted_tcb_statuses": ["Foo"]}})
    assert expect(r, 400, "INVALID_BODY_PARAMETER")["message"].startswith(
        "attestation_policy.accepted_tcb_statuses[0]: unknown TCB status")
    expect(team.reader.patch(f"/v1/apps/{app['app_id']}",
                             json={"attestation_policy": {"allow_debug": True}}), 403)


# ---- issuance with real evidence ----

def evidence(case, kind):
    name = "report.bin" if kind == "snp" else "quote.bin"
    data = (TESTVECTORS / case / name).read_bytes()
    return data


def hw_request(node, kind, data, manifest_digest):
    nonce = node.nonce()
    from test_issuance import make_csr
    from cryptography.hazmat.primitives.asymmetric import ec
    return {
        "csr": make_csr(ec.generate_private_key(ec.SECP256R1())),
        "evidence": {"type": kind, "data": base64.b64encode(data).decode()},
        "nonce": nonce,
        "manifest_digest": manifest_digest,
    }


def test_tdx_collateral_missing_then_expired(manager, team, node):
    digest = rand_hex64()
    quote = evidence("tdx-v4-phala-p2", "tdx")
    answer = node.issue(hw_request(node, "tdx", quote, digest))
    check_refused(team, node, answer,
                  "evidence refused at step 'collateral': collateral missing: intel_tcb_info "
                  "tdx/b0c06f000000")
    admin = manager.admin_client()
    acct = admin.create_account(unique("admin-acct"))
    admin.select(acct["acct_id"])
    expect(admin.post("/v1/collateral", json=files_of("tdx-v4-phala-p2")), 200)
    # the collateral's nextUpdate is in 2025: refused at step 'expired', never fetched
    answer = node.issue(hw_request(node, "tdx", quote, digest))
    check_refused(team, node, answer, "evidence refused at step 'expired'")
    # a quote cut short does not parse
    answer = node.issue(hw_request(node, "tdx", quote[:600], digest))
    check_refused(team, node, answer, "evidence refused at step 'parse'")
    # an SGX quote sent as tdx is refused by its type
    answer = node.issue(hw_request(node, "tdx", evidence("sgx-v3-phala-p1", "sgx-dcap"), digest))
    assert answer["task_status"] == "DENIED", answer
    assert "evidence refused at step" in answer["message"], answer


def test_snp_report_data_binding_refused(manager, team, node):
    report = evidence("snp-milan-trustee", "snp")
    digest = rand_hex64()
    answer = node.issue(hw_request(node, "snp", report, digest))
    check_refused(team, node, answer,
                  "evidence refused at step 'collateral': collateral missing: amd_vcek")
    admin = manager.admin_client()
    acct = admin.create_account(unique("admin-acct"))
    admin.select(acct["acct_id"])
    expect(admin.post("/v1/collateral", json=files_of("snp-milan-trustee")), 200)
    # the VCEK chain verifies today; the report's report_data was fixed when it was captured
    answer = node.issue(hw_request(node, "snp", report, digest))
    check_refused(team, node, answer, "report_data does not bind the CSR key and nonce")
    # a flipped byte of the signed part: the signature (trustee's report[42] += 1)
    flipped = bytearray(report)
    flipped[42] = (flipped[42] + 1) & 0xFF
    answer = node.issue(hw_request(node, "snp", bytes(flipped), digest))
    check_refused(team, node, answer, "evidence refused at step 'signature'")


# ---- TDX and SNP builds ----

def test_builds_with_tdx_and_snp_identity(team):
    app = team.writer.create_app(name=unique("app"))
    mrtd = "AB" * 48
    build = team.writer.create_build(app["app_id"], platform="tdx",
                                     tdx={"mrtd": mrtd, "rtmr3": "00" * 48, "mrconfigid": None})
    got = team.reader.build(build["build_id"])
    assert got["tdx"] == {"mrtd": "ab" * 48, "rtmr3": "00" * 48}
    assert got["snp"] is None
    build = team.writer.create_build(app["app_id"], platform="snp",
                                     snp={"measurement": "01" * 48, "host_data": "02" * 32})
    got = team.reader.build(build["build_id"])
    assert got["snp"] == {"measurement": "01" * 48, "host_data": "02" * 32}
    assert got["tdx"] is None
    plain = team.writer.create_build(app["app_id"], platform="sgx")
    assert team.reader.build(plain["build_id"])["tdx"] is None


@pytest.mark.parametrize("fields, message", [
    ({"platform": "sgx", "tdx": {"mrtd": "00" * 48}}, "tdx: only for a build of platform tdx"),
    ({"platform": "tdx", "snp": {"host_data": "00" * 32}},
     "snp: only for a build of platform snp"),
    ({"platform": "tdx", "tdx": {"mrtd": "00" * 32}}, "tdx.mrtd: must be 96 hexadecimal digits"),
    ({"platform": "tdx", "tdx": {"rtmr4": "00" * 48}}, "tdx.rtmr4: unknown field"),
    ({"platform": "snp", "snp": {"host_data": "00" * 48}},
     "snp.host_data: must be 64 hexadecimal digits"),
    ({"platform": "snp", "snp": {"measurement": "zz" * 48}},
     "snp.measurement: must be 96 hexadecimal digits"),
])
def test_build_identity_bad_input(team, fields, message):
    app = team.writer.create_app(name=unique("app"))
    before = team.reader.count("/v1/builds")
    r = team.writer.post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": rand_hex64(),
                                             "mrsigner": rand_hex64(), **fields})
    assert expect(r, 400, "INVALID_BODY_PARAMETER")["message"].startswith(message)
    assert team.reader.count("/v1/builds") == before


# ---- node attestation at enrollment ----

def enroll(manager, token, request):
    import requests
    from cryptography.hazmat.primitives.asymmetric import ec
    from test_issuance import make_csr
    body = {"name": unique("node"), "ipaddress": "127.0.0.1", "agent_version": "test",
            "attestation_request": {"csr": make_csr(ec.generate_private_key(ec.SECP256R1()),
                                                    "node"), **request}}
    return requests.post(manager.url + "/v1/nodes", json=body, verify=str(manager.ca),
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)


def hw_evidence(case, kind):
    return {"type": kind, "data": base64.b64encode(evidence(case, kind)).decode()}


def test_enrollment_with_hardware_evidence(manager_factory):
    # a manager of its own: collateral is deployment-wide, and this test starts without any
    manager = manager_factory(name="enroll-hw")
    t = Team(manager)
    zone = t.owner.list("/v1/zones")["items"][0]
    token = join_token(t.writer, zone["zone_id"])
    snp = hw_evidence("snp-milan-trustee", "snp")
    r = enroll(manager, token, {"evidence": snp})
    body = expect(r, 403, "ATTESTATION_FAILED")
    assert body["message"].startswith(
        "evidence refused at step 'collateral': collateral missing: amd_vcek"), body
    admin = manager.admin_client()
    admin.select(admin.create_account(unique("admin-acct"))["acct_id"])
    expect(admin.post("/v1/collateral", json=files_of("snp-milan-trustee")), 200)
    expect(admin.post("/v1/collateral", json=files_of("tdx-v4-phala-p2")), 200)
    # the real report's report_data was not made from our join token and CSR key
    body = expect(enroll(manager, token, {"evidence": snp}), 403, "ATTESTATION_FAILED")
    assert body["message"] == ("evidence refused at step 'report_data': report_data[0..32] does "
                               "not bind the join token and the CSR key"), body
    body = expect(enroll(manager, token, {"evidence": hw_evidence("tdx-v4-phala-p2", "tdx")}),
                  403, "ATTESTATION_FAILED")
    assert body["message"].startswith("evidence refused at step 'expired'"), body
    flipped = bytearray(evidence("snp-milan-trustee", "snp"))
    flipped[42] ^= 1
    body = expect(enroll(manager, token, {"evidence": {
        "type": "snp", "data": base64.b64encode(bytes(flipped)).decode()}}),
        403, "ATTESTATION_FAILED")
    assert body["message"].startswith("evidence refused at step 'signature'"), body
    # bad input
    body = expect(enroll(manager, token, {"evidence": {"type": "sim", "data": "AAAA"}}), 400,
                  "INVALID_BODY_PARAMETER")
    assert body["message"].startswith("attestation_request.evidence.type"), body
    expect(enroll(manager, token, {"evidence": {"type": "snp"}}), 400, "INVALID_BODY_PARAMETER")
    body = expect(enroll(manager, token, {"evidence": snp, "sim_key": "AAAA"}), 400,
                  "INVALID_BODY_PARAMETER")
    assert "either sim_key or evidence" in body["message"], body
    # refusals did not use the token up: it still enrolls a node without attestation
    node = expect(enroll(manager, token, {}), 201)
    got = expect(t.reader.get(f"/v1/nodes/{node['node_id']}"), 200)
    assert got["attestation_type"] == "NONE" and not got.get("tcb_status"), got


def test_agent_uses_the_tee_it_finds(manager, team, tmp_path):
    """The agent looks for a TEE before enrolling (roots overridable as for cloister-init): a
    Gramine that cannot make DCAP quotes stops it, never a silent fall-back to the sim key."""
    import os
    import subprocess
    import cloister_testlib as lib
    gramine = tmp_path / "attestation"
    gramine.mkdir()
    (gramine / "attestation_type").write_text("epid")
    zone = team.owner.list("/v1/zones")["items"][0]
    env = {**os.environ, "CLOISTER_GRAMINE_ROOT": str(gramine),
           "CLOISTER_TSM_ROOT": str(tmp_path / "no-tsm")}
    run = subprocess.run([str(lib.agent_binary()), "--state-dir", str(tmp_path / "state"),
                          "--listen", f"127.0.0.1:{lib.free_port()}", "--manager", manager.url,
                          "--join-token", join_token(team.writer, zone["zone_id"]),
                          "--ca-file", str(manager.ca), "--name", unique("hw")],
                         capture_output=True, text=True, timeout=30, env=env,
                         stdin=subprocess.DEVNULL)
    assert run.returncode != 0, run
    assert "TEE interface that cannot be used" in run.stdout + run.stderr, run
