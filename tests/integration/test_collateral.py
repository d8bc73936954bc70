"""Hardware verification collateral in the manager (docs/hardware-evidence.md, "Collateral in
the manager"; docs/api.md, "Collateral"): import through REST and the CLI of every test-vector
case, status, the read endpoints for users and nodes, refusals of bad uploads with nothing
written, permissions, replicas on one store, and the refresher against a local PCCS/KDS.

Every item is checked by the manager with libattest's verifiers before it is stored; the
test vectors' collateral has expired by now (their cases pin the verification time), which the
status must say.
"""

import base64
import calendar
import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import cloister_testlib as lib
from cloister_testlib import expect
from collateral_server import TESTVECTORS, CollateralServer, amd_chain
from test_cli import Cli

INTEL_CASES = ["sgx-v3-phala-p1", "tdx-v4-phala-p2", "tdx-v5-phala-p3", "tdx-v4-oasis",
               "tdx-v4-oasis-trailing", "tdx-v4-oasis-outofdate", "tdx-v4-trustee-debug",
               "tdx-v5-automata-a1"]
AMD_CASES = ["snp-milan-gosevguest", "snp-milan-trustee", "snp-vlek-trustee",
             "snp-genoa-veraison-tsm"]
COLLATERAL_SUFFIXES = (".json", ".pem", ".der")


def case(name):
    return json.loads((TESTVECTORS / name / "case.json").read_text())


def files_of(name):
    """{"files": {...}} of a case folder: its collateral files, base64."""
    d = TESTVECTORS / name
    return {"files": {f.name: base64.b64encode(f.read_bytes()).decode()
                      for f in sorted(d.iterdir())
                      if f.suffix in COLLATERAL_SUFFIXES and f.name != "case.json"
                      and not f.name.startswith(("collateral_", "pck_chain", "tsm_report"))}}


def expected_keys(name):
    """{(kind, key)} a case's folder must give, from its case.json."""
    c = case(name)
    d = TESTVECTORS / name
    if name.startswith("snp-"):
        ident = c["identity"]
        product = c["product"]
        if ident["signing_key"] == "VLEK":
            vlek = x509.load_der_x509_certificate((d / "vlek.der").read_bytes())
            spki = vlek.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            return {("amd_vlek", f"{product}/{hashlib.sha256(spki).hexdigest()}"),
                    ("amd_asvk", product), ("amd_ark", product)}
        hwid = ident["chip_id"] if product != "Turin" else ident["chip_id"][:16]
        return {("amd_vcek", f"{product}/{hwid}/{ident['reported_tcb_hex']}"),
                ("amd_ask", product), ("amd_ark", product)}
    kind = "tdx" if c["evidence_type"].startswith("tdx") else "sgx"
    keys = {("intel_tcb_info", f"{kind}/{c['platform']['fmspc'].lower()}"),
            ("intel_qe_identity", "td_qe" if kind == "tdx" else "qe")}
    if (d / "pck_crl.der").exists():
        ca = "platform" if "Platform" in c["platform"]["pck_issuer_ca"] else "processor"
        keys |= {("intel_pck_crl", ca), ("intel_root_ca_crl", "root")}
    return keys


def item_keys(resp_json):
    return {(i["kind"], i["key"]) for i in resp_json["items"]}


def matches(expected, got):
    for item in expected:
        assert item in got, (item, got)


def status(client, **params):
    return client.list_all("/v1/collateral/status", **params)


def status_map(client):
    return {(i["kind"], i["key"]): i for i in status(client)}


@pytest.fixture(scope="module")
def imported(manager, admin):
    """Every case's collateral imported over REST (files), in the order of the lists, by the
    system administrator (with an account selected: collateral is not the account's)."""
    answers = {}
    for name in INTEL_CASES + AMD_CASES:
        answers[name] = expect(admin.post("/v1/collateral", json=files_of(name)), 200)
    return answers


# ---- import over REST ------------------------------------------------------------------------

@pytest.mark.parametrize("name", INTEL_CASES + AMD_CASES)
def test_rest_import_of_each_case(imported, name):
    got = imported[name]
    assert got["shape"] == "directory"
    matches(expected_keys(name), item_keys(got))
    for item in got["items"]:
        assert item["result"] in ("stored", "unchanged", "kept_newer"), item
        assert lib.TIME_RE.match(item["issued"]) and lib.TIME_RE.match(item["not_after"])
        assert (item["next_update"] is None) == item["kind"].startswith("amd_"), item


def test_rest_import_results_follow_issue_dates(imported):
    # tdx-v4-oasis-trailing repeats tdx-v4-oasis's collateral byte for byte; its TD_QE identity
    # (2024-09-02) is older than tdx-v5-phala-p3's (2026-02-18), imported before it
    trailing = {(i["kind"], i["key"]): i["result"]
                for i in imported["tdx-v4-oasis-trailing"]["items"]}
    assert trailing == {("intel_tcb_info", "tdx/c0806f000000"): "unchanged",
                        ("intel_qe_identity", "td_qe"): "kept_newer"}
    # tdx-v5-automata-a1's TCB info (2025-06-05) is older than tdx-v5-phala-p3's (2026-02-18),
    # imported before it: the newer one is kept
    a1 = {(i["kind"], i["key"]): i for i in imported["tdx-v5-automata-a1"]["items"]}
    assert a1[("intel_tcb_info", "tdx/90c06f000000")]["result"] == "kept_newer"
    assert a1[("intel_pck_crl", "platform")]["result"] == "kept_newer"


def test_dcap_qvl_documents(manager, admin, imported):
    """The original dcap-qvl JSON of the Phala cases, as the request body: the same bytes as the
    split files, so nothing changes."""
    for name in ("sgx-v3-phala-p1", "tdx-v4-phala-p2", "tdx-v5-phala-p3"):
        doc = json.loads((TESTVECTORS / name / "collateral_dcap_qvl.json").read_text())
        got = expect(admin.post("/v1/collateral", json=doc), 200)
        assert got["shape"] == "dcap-qvl"
        matches(expected_keys(name), item_keys(got))


def pccs_bundle():
    """PCCS's platform_collaterals.json with five platforms (four TDX, one SGX), TCB infos as
    strings and as objects, no chain but the bundle's certificates."""
    def text(case, name):
        return (TESTVECTORS / case / name).read_text()
    tdx = {"tdx-v4-phala-p2": "string", "tdx-v5-phala-p3": "object",
           "tdx-v4-oasis": "string", "tdx-v4-oasis-outofdate": "object"}
    tcbinfos = []
    for name, form in tdx.items():
        body = text(name, "tcb_info.json")
        tcbinfos.append({"fmspc": case(name)["platform"]["fmspc"],
                         "tdx_tcbinfo": json.loads(body) if form == "object" else body})
    tcbinfos.append({"fmspc": "00A067110000",
                     "sgx_tcbinfo": json.loads(text("sgx-v3-phala-p1", "tcb_info.json"))})
    p3 = TESTVECTORS / "tdx-v5-phala-p3"
    return {"platforms": [], "collaterals": {
        "version": "4.0",
        "tcbinfos": tcbinfos,
        "qeidentity": text("sgx-v3-phala-p1", "qe_identity.json"),
        "tdqeidentity": text("tdx-v5-phala-p3", "qe_identity.json"),
        "pckcacrl": {"platformCrl": (p3 / "pck_crl.der").read_bytes().hex()},
        "rootcacrl": (p3 / "root_ca_crl.der").read_bytes().hex(),
        "certificates": {
            "TCB-Info-Issuer-Chain": text("tdx-v5-phala-p3", "tcb_info_issuer_chain.pem"),
            "SGX-Enclave-Identity-Issuer-Chain":
                text("tdx-v5-phala-p3", "qe_identity_issuer_chain.pem"),
            "SGX-PCK-Certificate-Issuer-Chain": {
                "PLATFORM": text("tdx-v5-phala-p3", "pck_crl_issuer_chain.pem")},
        },
    }}


def test_pccs_bundle_with_several_platforms(manager_factory):
    m = manager_factory(name="collateral-pccs-bundle")
    a = m.admin_client()
    got = expect(a.post("/v1/collateral", json=pccs_bundle()), 200)
    assert got["shape"] == "pccs-platform-collaterals"
    assert item_keys(got) == {
        ("intel_tcb_info", "tdx/b0c06f000000"), ("intel_tcb_info", "tdx/90c06f000000"),
        ("intel_tcb_info", "tdx/c0806f000000"), ("intel_tcb_info", "tdx/50806f000000"),
        ("intel_tcb_info", "sgx/00a067110000"), ("intel_qe_identity", "qe"),
        ("intel_qe_identity", "td_qe"), ("intel_pck_crl", "platform"),
        ("intel_root_ca_crl", "root")}
    assert {i["result"] for i in got["items"]} == {"stored"}
    # the bodies given as objects were written back byte for byte as PCS serves them (their
    # signatures verified; the test vector's file ends with a newline of its own)
    bundle = expect(a.get("/v1/collateral/intel", params={"fmspc": "50806F000000",
                                                          "type": "tdx"}), 200)
    assert bundle["tcb_info"].encode() == \
        (TESTVECTORS / "tdx-v4-oasis-outofdate" / "tcb_info.json").read_bytes().rstrip(b"\n")
    # TCB infos alone, without chains or QE identities: checked with what the store holds
    alone = pccs_bundle()
    for name in ("qeidentity", "tdqeidentity", "pckcacrl", "rootcacrl", "certificates"):
        del alone["collaterals"][name]
    got = expect(a.post("/v1/collateral", json=alone), 200)
    assert len(got["items"]) == 5 and {i["result"] for i in got["items"]} == {"unchanged"}
    # a bundle with one platform's TCB info changed is refused whole
    bad = pccs_bundle()
    bad["collaterals"]["tcbinfos"][1]["tdx_tcbinfo"]["tcbInfo"]["tcbType"] = 1
    msg = expect(a.post("/v1/collateral", json=bad), 400, "INVALID_BODY_PARAMETER")["message"]
    assert "tcb_info signature does not verify" in msg, msg


def test_status_lists_everything(manager, admin, imported):
    items = status_map(admin)
    for name in INTEL_CASES + AMD_CASES:
        matches(expected_keys(name), set(items))
    now = time.time()
    for (kind, key), it in items.items():
        assert it["source"] == "import"
        assert lib.TIME_RE.match(it["imported_at"])
        assert len(it["sha256"]) == 64
        not_after = calendar.timegm(time.strptime(it["not_after"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert it["expired"] == (not_after < now), it
        if kind.startswith("intel_"):
            assert it["expired"], it            # every Intel vector's collateral has expired
            assert it["next_update"] is not None
    assert not items[("amd_ark", "Milan")]["expired"]     # valid to 2045
    vlek = [it for (k, _), it in items.items() if k == "amd_vlek"]
    assert len(vlek) == 1 and vlek[0]["expired"]          # the VLEK ended 2025-12-10
    # the newest TCB info of the FMSPC two cases share
    assert items[("intel_tcb_info", "tdx/90c06f000000")]["issued"] == "2026-02-18T10:58:51.000Z"


def test_status_filters_and_sorting(admin, imported):
    tcb = status(admin, kind="intel_tcb_info")
    assert tcb and all(i["kind"] == "intel_tcb_info" for i in tcb)
    page = admin.list("/v1/collateral/status", kind="amd_ark", sort_by="key:DESC")
    assert [i["key"] for i in page["items"]] == ["Milan", "Genoa"]
    assert page["metadata"]["filtered_count"] == 2
    assert page["metadata"]["total_count"] >= 15
    assert status(admin, source="pccs") == []
    assert [i["key"] for i in status(admin, all_search="c0806f")] == ["tdx/c0806f000000"]
    expect(admin.get("/v1/collateral/status", params={"kind": "pck"}), 400, "BAD_REQUEST")
    expect(admin.get("/v1/collateral/status", params={"sort_by": "sha256:ASC"}), 400)


# ---- refusals: nothing is written ------------------------------------------------------------

def flipped_tcb_info(name, where=b'"tcbEvaluationDataNumber":'):
    raw = bytearray((TESTVECTORS / name / "tcb_info.json").read_bytes())
    i = raw.index(where) + len(where)
    raw[i] = ord("9") if raw[i] != ord("9") else ord("8")   # one byte of the signed body
    return bytes(raw)


def test_tcb_info_with_one_byte_changed_is_refused(manager, admin, imported):
    before = status_map(admin)
    body = files_of("sgx-v3-phala-p1")
    body["files"]["tcb_info.json"] = base64.b64encode(flipped_tcb_info("sgx-v3-phala-p1")).decode()
    msg = expect(admin.post("/v1/collateral", json=body), 400,
                 "INVALID_BODY_PARAMETER")["message"]
    assert "tcb_info" in msg and "signature" in msg, msg
    assert status_map(admin) == before


def test_a_bad_item_refuses_the_whole_upload(manager_factory):
    """A good TCB info, CRLs and AMD chain with a QE identity whose signature fails, into an
    empty store: nothing at all is stored, and the same upload without the bad item is."""
    m = manager_factory(name="collateral-atomic")
    a = m.admin_client()
    body = files_of("tdx-v4-phala-p2")
    qe = bytearray((TESTVECTORS / "tdx-v4-phala-p2" / "qe_identity.json").read_bytes())
    i = qe.index(b'"isvprodid":') + len(b'"isvprodid":')
    qe[i] = ord("7")
    body["files"]["qe_identity.json"] = base64.b64encode(bytes(qe)).decode()
    body["files"].update(files_of("snp-milan-trustee")["files"])
    msg = expect(a.post("/v1/collateral", json=body), 400,
                 "INVALID_BODY_PARAMETER")["message"]
    assert msg.startswith("files: qe_identity signature does not verify"), msg
    assert status(a) == []
    body["files"]["qe_identity.json"] = files_of("tdx-v4-phala-p2")["files"]["qe_identity.json"]
    got = expect(a.post("/v1/collateral", json=body), 200)
    assert len(got["items"]) == 7 and {i["result"] for i in got["items"]} == {"stored"}
    assert len(status(a)) == 7


@pytest.mark.parametrize("body,status_code,code,words", [
    ({"foo": 1}, 400, "INVALID_BODY_PARAMETER", "unknown shape"),
    ({"tcb_info": "not json"}, 400, "INVALID_BODY_PARAMETER", "tcb_info"),
    ({"files": {}}, 400, "INVALID_BODY_PARAMETER", "no collateral"),
    ({"files": {"tcb_info.json": "%%%"}}, 400, "INVALID_BODY_PARAMETER",
     "files.tcb_info.json: not base64"),
    ({"files": {"../tcb_info.json": "e30="}}, 400, "INVALID_BODY_PARAMETER", "plain file name"),
    ({"files": {"tcb_info.json": 5}}, 400, "INVALID_BODY_PARAMETER", "files.tcb_info.json"),
    ({"files": "x"}, 400, "INVALID_BODY_PARAMETER", "files"),
    ({"files": {"notes.txt": "aGVsbG8="}}, 400, "INVALID_BODY_PARAMETER", "no collateral"),
    ({"files": {"tcb_info.json": "e30="}}, 400, "INVALID_BODY_PARAMETER", "tcb_info.json"),
    ({"files": {"vcek.der": "MIIB"}}, 400, "INVALID_BODY_PARAMETER", "vcek.der"),
    ({"files": {"ark.pem": "e30="}, "shape": "x"}, 400, "INVALID_BODY_PARAMETER", "shape"),
])
def test_bad_uploads(admin, imported, body, status_code, code, words):
    before = status_map(admin)
    got = expect(admin.post("/v1/collateral", json=body), status_code, code)
    assert words in got["message"], got
    assert status_map(admin) == before


def test_file_names_never_reach_outside(manager, admin, imported):
    """A name with a path is refused before anything is written, and removing the upload's
    files afterwards does not follow it either."""
    tmp = Path(lib.os.environ.get("TMPDIR") or "/tmp")
    victim = tmp / lib.unique("victim")
    victim.write_text("keep me")
    try:
        body = files_of("tdx-v4-oasis")
        body["files"]["../" + victim.name] = "e30="
        expect(admin.post("/v1/collateral", json=body), 400, "INVALID_BODY_PARAMETER")
        assert victim.read_text() == "keep me"
    finally:
        victim.unlink()


def test_malformed_json_and_wrong_bodies(manager, admin):
    r = admin.request("POST", "/v1/collateral", data=b'{"tcb_info": ',
                      headers={"Content-Type": "application/json"})
    expect(r, 400, "BAD_REQUEST")
    expect(admin.request("POST", "/v1/collateral", data=b"[1]",
                         headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")
    expect(admin.post("/v1/collateral"), 400, "BAD_REQUEST")


def test_amd_certificate_changed_is_refused(admin, imported):
    before = status_map(admin)
    body = files_of("snp-milan-trustee")
    der = bytearray((TESTVECTORS / "snp-milan-trustee" / "vcek.der").read_bytes())
    der[-10] ^= 0x01                                      # inside the signature
    body["files"]["vcek.der"] = base64.b64encode(bytes(der)).decode()
    msg = expect(admin.post("/v1/collateral", json=body), 400,
                 "INVALID_BODY_PARAMETER")["message"]
    assert "amd certificates (Milan)" in msg and "cert_chain" in msg, msg
    assert status_map(admin) == before


def test_amd_chain_of_another_product_is_refused(admin, imported):
    body = files_of("snp-milan-trustee")
    body["files"]["ask.pem"] = base64.b64encode(
        (TESTVECTORS / "roots" / "amd" / "genoa" / "ask.pem").read_bytes()).decode()
    msg = expect(admin.post("/v1/collateral", json=body), 400,
                 "INVALID_BODY_PARAMETER")["message"]
    assert "two products" in msg, msg


def test_items_checked_with_what_the_store_holds(manager, admin, imported):
    """A bare PCS TCB info (no chain) is checked with the stored TD_QE and TCB Signing chain; a
    VCEK alone with the stored ASK and ARK."""
    doc = json.loads((TESTVECTORS / "tdx-v4-phala-p2" / "tcb_info.json").read_text())
    got = expect(admin.post("/v1/collateral", json=doc), 200)
    assert got["shape"] == "pcs-tcb-info"
    assert item_keys(got) == {("intel_tcb_info", "tdx/b0c06f000000")}
    assert got["items"][0]["result"] == "unchanged"
    vcek = TESTVECTORS / "snp-genoa-veraison-tsm" / "vcek.der"
    got = expect(admin.post("/v1/collateral", json={"files": {
        "vcek.der": base64.b64encode(vcek.read_bytes()).decode()}}), 200)
    assert [i["kind"] for i in got["items"]] == ["amd_vcek"]


# ---- permissions -----------------------------------------------------------------------------

def test_only_administrators_import(manager, team, imported):
    body = files_of("tdx-v4-oasis")
    for who in (team.reader, team.writer, team.owner):
        expect(who.post("/v1/collateral", json=body), 403, "FORBIDDEN")
    anon = lib.Client(manager)
    expect(anon.post("/v1/collateral", json=body), 401, "UN_AUTHORIZED")
    # every logged-in user reads the status and fetches collateral; nobody else
    for who in (team.reader, team.outsider):
        assert status(who)
        expect(who.get("/v1/collateral/intel",
                       params={"fmspc": "00A067110000", "ca": "processor"}), 200)
    expect(anon.get("/v1/collateral/status"), 401, "UN_AUTHORIZED")
    expect(anon.get("/v1/collateral/intel", params={"fmspc": "00A067110000"}), 401)
    expect(anon.get("/v1/collateral/amd", params={"product": "Milan"}), 401)
    # the node routes take a node certificate (mTLS) only
    expect(team.owner.get("/v1/node/collateral/intel", params={"fmspc": "00A067110000"}), 401)


def test_import_is_audited_in_the_system_chain(manager, admin, imported):
    events = admin.list_all("/v1/events", chain="system", action_type="ADMIN")
    imports = [e for e in events if e["message"].startswith("Imported collateral")]
    assert len(imports) >= len(INTEL_CASES + AMD_CASES)
    assert any("intel_tcb_info sgx/00a067110000" in e["message"] for e in imports)
    assert all(e["actor"]["type"] == "USER" for e in imports)


# ---- reading -----------------------------------------------------------------------------------

def test_intel_bundle(admin, imported):
    # both PCK CRLs are stored (the SGX case's Processor CA, the TDX cases' Platform CA): the
    # caller names the one that issued its PCK certificate
    expect(admin.get("/v1/collateral/intel", params={"fmspc": "00a067110000"}), 400,
           "BAD_REQUEST")
    got = expect(admin.get("/v1/collateral/intel", params={
        "fmspc": "00a067110000", "type": "sgx", "ca": "processor"}), 200)
    assert set(got) == {"tcb_info", "tcb_info_issuer_chain", "qe_identity",
                        "qe_identity_issuer_chain", "pck_crl", "pck_crl_issuer_chain",
                        "root_ca_crl"}
    d = TESTVECTORS / "sgx-v3-phala-p1"
    assert got["tcb_info"].encode() == (d / "tcb_info.json").read_bytes()
    assert got["qe_identity"].encode() == (d / "qe_identity.json").read_bytes()
    assert bytes.fromhex(got["pck_crl"]) == (d / "pck_crl.der").read_bytes()
    assert got["tcb_info_issuer_chain"].startswith("-----BEGIN CERTIFICATE-----")
    got = expect(admin.get("/v1/collateral/intel", params={
        "fmspc": "B0C06F000000", "type": "tdx", "ca": "platform"}), 200)
    assert json.loads(got["tcb_info"])["tcbInfo"]["id"] == "TDX"


@pytest.mark.parametrize("params,status_code,words", [
    ({"fmspc": "00A067110001", "ca": "processor"}, 404, "collateral missing: intel_tcb_info sgx/00a067110001"),
    ({"fmspc": "00A06711000"}, 400, "fmspc"),
    ({}, 400, "fmspc"),
    ({"fmspc": "00A067110000", "type": "snp"}, 400, "type"),
    ({"fmspc": "00A067110000", "ca": "root"}, 400, "ca"),
    ({"fmspc": "00A067110000", "type": "tdx", "ca": "platform"}, 404, "collateral missing: intel_tcb_info tdx/"),
])
def test_intel_bundle_errors(admin, imported, params, status_code, words):
    got = expect(admin.get("/v1/collateral/intel", params=params), status_code)
    assert words in got["message"], got


def pem_blocks(text):
    return [b for b in text.split("-----END CERTIFICATE-----") if "BEGIN" in b]


def test_amd_bundles(admin, imported):
    ident = case("snp-milan-trustee")["identity"]
    r = admin.get("/v1/collateral/amd", params={
        "product": "Milan", "hwid": ident["chip_id"].upper(),
        "reported_tcb": ident["reported_tcb_hex"]})
    expect(r, 200)
    assert r.headers["Content-Type"] == "application/x-pem-file"
    assert len(pem_blocks(r.text)) == 3
    # a version 2 report does not name its product: the chip's VCEK does
    r = admin.get("/v1/collateral/amd", params={
        "hwid": ident["chip_id"], "reported_tcb": ident["reported_tcb_hex"]})
    expect(r, 200)
    assert len(pem_blocks(r.text)) == 3
    got = expect(admin.get("/v1/collateral/amd", params={
        "hwid": "00" * 64, "reported_tcb": ident["reported_tcb_hex"]}), 404)
    assert "no product holds one" in got["message"], got
    r = admin.get("/v1/collateral/amd", params={"product": "Genoa"})
    expect(r, 200)
    assert len(pem_blocks(r.text)) == 2
    r = admin.get("/v1/collateral/amd", params={"product": "Milan", "chain": "vlek"})
    expect(r, 200)
    assert len(pem_blocks(r.text)) == 2
    got = expect(admin.get("/v1/collateral/amd", params={
        "product": "Milan", "hwid": "00" * 64, "reported_tcb": "00" * 8}), 404, "NOT_FOUND")
    assert "collateral missing: amd_vcek Milan/" in got["message"]
    expect(admin.get("/v1/collateral/amd", params={"product": "Turin"}), 404, "NOT_FOUND")
    expect(admin.get("/v1/collateral/amd", params={"product": "Rome"}), 400, "BAD_REQUEST")
    expect(admin.get("/v1/collateral/amd"), 400, "BAD_REQUEST")
    expect(admin.get("/v1/collateral/amd", params={"product": "Milan", "hwid": "ab"}), 400)


def test_nodes_fetch_collateral_over_mtls(manager, team, imported, tmp_path):
    from test_issuance import Node, join_token
    o = team.owner
    expect(o.patch(f"/v1/accounts/{team.acct_id}",
                   json={"settings": {"allow_simulation": True}}), 200)
    zone_id = o.list("/v1/zones")["items"][0]["zone_id"]
    node = Node(manager, join_token(o, zone_id), tmp_path)
    got = expect(node.get("/v1/node/collateral/intel?fmspc=00A067110000&ca=processor"), 200)
    assert json.loads(got["tcb_info"])["tcbInfo"]["fmspc"] == "00A067110000"
    r = node.get("/v1/node/collateral/amd?product=Genoa")
    expect(r, 200)
    assert len(pem_blocks(r.text)) == 2
    got = expect(node.get("/v1/node/collateral/intel?fmspc=FFFFFFFFFFFF&ca=processor"), 404)
    assert got["message"] == "collateral missing: intel_tcb_info sgx/ffffffffffff"


# ---- the CLI -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def admin_cli(manager, tmp_path_factory):
    c = Cli(manager, tmp_path_factory.mktemp("collateral-cli") / "home")
    c.login(*manager.admin)
    return c


def test_cli_import_of_every_case(admin_cli, admin, imported):
    """The same folders through the CLI: what it loads is what REST took, so nothing changes."""
    folders = [str(TESTVECTORS / n) for n in INTEL_CASES + AMD_CASES]
    p = admin_cli.run("--json", "collateral", "import", *folders[:1])
    got = json.loads(p.stdout)
    assert {i["result"] for i in got["items"]} <= {"unchanged", "kept_newer"}
    p = admin_cli.run("collateral", "import", *folders)
    for n in INTEL_CASES + AMD_CASES:
        assert f"{TESTVECTORS / n} (directory):" in p.stdout
    assert "stored" not in p.stdout.replace("kept_newer", ""), p.stdout
    # a dcap-qvl document and KDS's cert_chain.pem as files
    admin_cli.run("collateral", "import",
                  str(TESTVECTORS / "tdx-v4-phala-p2" / "collateral_dcap_qvl.json"))


def test_cli_import_into_a_fresh_manager(manager_factory, tmp_path):
    m = manager_factory(name="collateral-cli-fresh")
    c = Cli(m, tmp_path / "home")
    c.login(*m.admin)
    p = c.run("collateral", "import", str(TESTVECTORS / "sgx-v3-phala-p1"),
              str(TESTVECTORS / "snp-vlek-trustee"))
    assert p.stdout.count(" stored ") >= 7, p.stdout
    p = c.run("--json", "collateral", "status", "--kind", "intel_tcb_info")
    items = json.loads(p.stdout)["items"]
    assert [i["key"] for i in items] == ["sgx/00a067110000"]
    p = c.run("collateral", "status")
    assert "EXPIRED" in p.stdout and "amd_asvk" in p.stdout and "import" in p.stdout
    # a cert_chain.pem of KDS is checked with the stored VLEK
    chain = tmp_path / "cert_chain.pem"
    chain.write_bytes(amd_chain("milan", vlek=True))
    p = c.run("--json", "collateral", "import", str(chain))
    assert {i["result"] for i in json.loads(p.stdout)["items"]} == {"unchanged"}


def test_cli_refusals(admin_cli, tmp_path, admin, imported):
    before = status_map(admin)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tcb_info.json").write_bytes(flipped_tcb_info("tdx-v4-oasis"))
    (bad / "tcb_info_issuer_chain.pem").write_bytes(
        (TESTVECTORS / "tdx-v4-oasis" / "tcb_info_issuer_chain.pem").read_bytes())
    p = admin_cli.run("collateral", "import", str(bad), expect_rc=1)
    assert "signature" in p.stderr and "INVALID_BODY_PARAMETER" in p.stderr, p.stderr
    (bad / "tcb_info.json").write_text("{not json")
    p = admin_cli.run("collateral", "import", str(bad), expect_rc=1)
    assert "tcb_info.json" in p.stderr, p.stderr           # refused by the CLI's own loading
    p = admin_cli.run("collateral", "import", str(tmp_path / "missing"), expect_rc=1)
    assert "missing" in p.stderr
    admin_cli.run("collateral", "import", expect_rc=2)
    assert status_map(admin) == before


def test_cli_reader_cannot_import(manager, team, tmp_path):
    c = Cli(manager, tmp_path / "home")
    c.login(team.reader.email, team.reader.password)
    p = c.run("collateral", "import", str(TESTVECTORS / "tdx-v4-oasis"), expect_rc=1)
    assert "FORBIDDEN" in p.stderr and "system administrator" in p.stderr, p.stderr
    c.run("collateral", "status")


# ---- the collateral round-trips into a verification --------------------------------------------

def verify(cli, evidence, collateral, at):
    p = cli.run("--json", "attest", "verify", str(evidence), "--collateral", str(collateral),
                "--at", str(at), expect_rc=None)
    return p


def test_fetched_bundles_verify_the_quotes(manager_factory, tmp_path):
    """A manager holding one case's collateral hands out what verifies the case's evidence."""
    m = manager_factory(name="collateral-roundtrip")
    a = m.admin_client()
    c = Cli(m, tmp_path / "home")
    c.login(*m.admin)
    for name, kind, ca in (("sgx-v3-phala-p1", "sgx", "processor"),
                           ("tdx-v4-phala-p2", "tdx", "platform")):
        expect(a.post("/v1/collateral", json=files_of(name)), 200)
        meta = case(name)
        bundle = expect(a.get("/v1/collateral/intel", params={
            "fmspc": meta["platform"]["fmspc"], "type": kind, "ca": ca}), 200)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle))
        p = verify(c, TESTVECTORS / name / "quote.bin", path, meta["verification_time"]["unix"])
        assert p.returncode == 0, p.stderr
        got = json.loads(p.stdout)
        assert got["tcb_status"] == meta["expected"]["result"], got
        assert got["advisory_ids"] == meta["expected"]["advisory_ids"], got
    expect(a.post("/v1/collateral", json=files_of("snp-milan-trustee")), 200)
    meta = case("snp-milan-trustee")
    r = a.get("/v1/collateral/amd", params={
        "product": "Milan", "hwid": meta["identity"]["chip_id"],
        "reported_tcb": meta["identity"]["reported_tcb_hex"]})
    expect(r, 200)
    pem = tmp_path / "milan.pem"
    pem.write_text(r.text)
    p = verify(c, TESTVECTORS / "snp-milan-trustee" / "report.bin", pem,
               meta["verification_time"]["unix"])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["verified"] is True


# ---- replicas ------------------------------------------------------------------------------------

def test_a_replica_sees_the_same_collateral(manager, admin, imported, tmp_path):
    r = manager.replica(tmp_path / "replica")
    try:
        r.start()
        ra = r.admin_client()
        assert status_map(ra) == status_map(admin)
        expect(ra.get("/v1/collateral/intel",
                      params={"fmspc": "00A067110000", "ca": "processor"}), 200)
    finally:
        r.stop()
        r.close()


# ---- the refresher -------------------------------------------------------------------------------

def wait_for(client, predicate, what, timeout=30):
    lib.wait_until(lambda: predicate(status_map(client)), timeout, interval=0.2, what=what)
    return status_map(client)


def test_refresh_from_pccs_and_kds(manager_factory):
    with CollateralServer() as srv:
        m = manager_factory({"collateral": {"pccs_url": srv.url + "/", "kds_url": srv.url,
                                            "refresh_seconds": 1}}, name="collateral-fetch")
        a = m.admin_client()
        a.select(a.create_account(lib.unique("fetch"))["acct_id"])    # to read the audit log
        # nothing known yet: nothing asked for
        time.sleep(1.5)
        assert srv.seen("/sgx/certification/v4/tcb") == []
        assert srv.seen("/tdx/certification/v4/tcb") == []
        # the store knows FMSPC 90C06F000000 from tdx-v5-automata-a1 (June 2025)
        expect(a.post("/v1/collateral", json=files_of("tdx-v5-automata-a1")), 200)
        expect(a.post("/v1/collateral", json=files_of("snp-milan-trustee")), 200)
        srv.routes.update({
            ("tcb", "tdx", "90C06F000000"): "tdx-v5-phala-p3",
            ("qe", "tdx"): "tdx-v5-phala-p3",
            ("qe", "sgx"): "sgx-v3-phala-p1",
            ("pckcrl", "platform"): "tdx-v5-phala-p3",
            ("pckcrl", "processor"): "sgx-v3-phala-p1",
            ("rootcacrl",): "tdx-v5-phala-p3",
            ("cert_chain", "vcek", "Milan"): amd_chain("milan"),
        })
        items = wait_for(a, lambda s: s[("intel_tcb_info", "tdx/90c06f000000")]["source"]
                         == "pccs" and ("intel_pck_crl", "processor") in s
                         and s[("intel_pck_crl", "platform")]["source"] == "pccs"
                         and ("intel_qe_identity", "qe") in s
                         and s[("intel_qe_identity", "td_qe")]["source"] == "pccs",
                         "the refreshed TCB info, QE identities and CRLs")
        assert items[("intel_tcb_info", "tdx/90c06f000000")]["issued"] == \
            "2026-02-18T10:58:51.000Z"
        assert items[("intel_pck_crl", "platform")]["source"] == "pccs"
        assert items[("intel_pck_crl", "processor")]["source"] == "pccs"
        assert items[("intel_root_ca_crl", "root")]["issued"] >= "2025"
        # the chain of the VCEK's product was asked for and matched what was stored
        lib.wait_until(lambda: srv.seen("/vcek/v1/Milan/cert_chain"), 10, what="KDS fetch")
        assert items[("amd_ask", "Milan")]["source"] == "import"
        assert srv.seen("/vcek/v1/Genoa") == []
        # the fetch asked with the FMSPC it knew
        assert srv.seen("/tdx/certification/v4/tcb?fmspc=90C06F000000")
        events = a.list_all("/v1/events", chain="system")
        refreshed = [e for e in events if e["message"].startswith("Refreshed collateral from")]
        assert refreshed and refreshed[0]["actor"]["type"] == "SYSTEM"

        # a tampered TCB info and an older QE identity from the service change nothing
        before = status_map(a)
        raw = bytearray((TESTVECTORS / "tdx-v5-phala-p3" / "tcb_info.json").read_bytes())
        i = raw.index(b'"tcbType":') + len(b'"tcbType":')
        raw[i] = ord("1")
        srv.bodies[("tcb", "tdx", "90C06F000000")] = bytes(raw)
        srv.routes[("qe", "tdx")] = "tdx-v5-automata-a1"
        start = m.log_size()
        lib.wait_until(lambda: "signature does not verify" in m.log_text(start), 15,
                       what="the refresher refusing the tampered TCB info")
        time.sleep(1.5)
        after = status_map(a)
        assert after[("intel_tcb_info", "tdx/90c06f000000")] == \
            before[("intel_tcb_info", "tdx/90c06f000000")]
        assert after[("intel_qe_identity", "td_qe")] == before[("intel_qe_identity", "td_qe")]
        # the service going away leaves the store as it is, and requests never wait for it
        srv.routes.clear()
        t0 = time.monotonic()
        expect(a.get("/v1/collateral/intel", params={"fmspc": "90C06F000000", "type": "tdx",
                                                     "ca": "platform"}), 200)
        assert time.monotonic() - t0 < 2
