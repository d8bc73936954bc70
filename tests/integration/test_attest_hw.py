"""`cloister attest verify` on real hardware evidence (../shared/testvectors), checked against each
case's case.json and, for the Intel cases with full collateral, against an independent verifier:
the npm package @phala/dcap-qvl 0.3.9 (tests/oracle/, installed by scripts/install-deps), which
shares no code with libattest.

Contract of the CLI under test:
  cloister attest verify FILE --collateral DIR|FILE [--at UNIX_TIME] [--json] [--allow-debug]
      [--allow-missing-crls] [--accept-status S1,S2]
prints with --json one object {verified, platform, failed_step, reason, and once the evidence
verified tcb_status, advisory_ids, claims (attest_claims_to_json), for Intel quotes qe_status,
tdx_module_status, crls_checked, trailing_bytes} and exits 0 when verified, 1 otherwise. DIR is
a case folder. Every case is verified at its pinned time (verification_time.unix), never at
"now": all the collateral has expired since.

ratls-interop/ is not run here: it has no collateral (its quotes are checked by the RA-TLS unit
tests). Needs no manager."""

import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography import x509

import cloister_testlib as lib

VECTORS = Path(os.environ.get("CLOISTER_TESTVECTORS")
               or (lib.REPO_ROOT.parent / "shared" / "testvectors"))
ORACLE_DIR = lib.REPO_ROOT / "tests" / "oracle"
ORACLE = ORACLE_DIR / "dcap-qvl-verify.mjs"
DAY = 86400

STATUSES = ("UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
            "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded")
# What dcap-qvl accepts: any status but Revoked (its TcbStatus.isValid()), and no debug.
ALL_VALID = ",".join(STATUSES)
# The CLI's default: it reports the status and accepts every one but Revoked (which fails
# verification anyway); --accept-status narrows that. (The library's policy.h default, for the
# manager, is UpToDate and SWHardeningNeeded.)
DEFAULT_ACCEPTED = STATUSES
POLICY_DEFAULT = ("UpToDate", "SWHardeningNeeded")

# Always in the output; the rest once the evidence verified (claims, statuses), and the Intel
# details for Intel quotes.
JSON_KEYS = {"verified", "platform", "failed_step", "reason"}
VERIFIED_KEYS = JSON_KEYS | {"tcb_status", "advisory_ids", "claims"}
INTEL_KEYS = VERIFIED_KEYS | {"qe_status", "tdx_module_status", "crls_checked", "trailing_bytes"}

# The failure step of the CLI that matches each kind of dcap-qvl error (its messages, from
# node_modules/@phala/dcap-qvl/src/verify.js), to check that both refuse for the same reason.
ORACLE_ERROR_STEPS = [
    (re.compile(r"No matching TCB level found"), {"tcb"}),
    (re.compile(r"Debug mode is enabled"), {"policy"}),
    (re.compile(r"expired|issue date is in the future", re.I), {"expired"}),
    (re.compile(r"ISV enclave report signature is invalid"), {"signature"}),
    (re.compile(r"Signature is invalid for qe_report"), {"qe_report"}),
    (re.compile(r"Failed to decode quote"), {"parse"}),
    (re.compile(r"Fmspc mismatch|non-(SGX|TDX) TCB info|QE Identity id/version"),
     {"collateral", "tcb", "qe_identity"}),
]

# Where dcap-qvl applies a stricter default than Intel's QVL (testvectors/README.md): it refuses
# any non-zero MRSERVICETD of a TD 1.5 quote; Intel QVL (and libattest's default policy) do not
# look at it. dcap-qvl runs that check last (validateAttrs, after every signature, chain and TCB
# check passed), so this error also says that everything else verified.
ORACLE_STRICTER = {"tdx-v5-automata-a1": "Invalid mr service td"}


def load_case(name):
    return json.loads((VECTORS / name / "case.json").read_text())


def case_names(kind):
    names = []
    for d in sorted(VECTORS.glob("*/case.json")):
        etype = json.loads(d.read_text())["evidence_type"]
        if etype.startswith(kind):
            names.append(d.parent.name)
    return names


INTEL_CASES = case_names("sgx-dcap") + case_names("tdx")
SNP_CASES = case_names("snp")
ORACLE_CASES = [n for n in INTEL_CASES if load_case(n).get("independent_oracle")]
NO_CRL_CASES = [n for n in INTEL_CASES if not (VECTORS / n / "pck_crl.der").exists()]


def test_vectors_are_there():
    """The cases this module runs on; fewer would silently test less."""
    assert VECTORS.is_dir(), f"{VECTORS}: the shared test vectors are missing"
    assert len(INTEL_CASES) == 8 and len(SNP_CASES) == 4, (INTEL_CASES, SNP_CASES)
    assert len(ORACLE_CASES) == 6 and NO_CRL_CASES == ["tdx-v4-oasis", "tdx-v4-oasis-trailing"]


# --- running the CLI and the oracle ------------------------------------------------------------

def evidence_file(name):
    return VECTORS / name / ("report.bin" if name.startswith("snp") else "quote.bin")


def at_of(name):
    return load_case(name)["verification_time"]["unix"]


def cli_verify(evidence, collateral, *flags, at):
    """Runs the CLI with --json; checks the output's shape and the exit code against it."""
    args = ["attest", "verify", str(evidence), "--collateral", str(collateral), "--json",
            "--at", str(at), *flags]
    p = subprocess.run([str(lib.CLI_BIN), *args], capture_output=True, text=True, timeout=60)
    assert not any(s in p.stderr for s in lib.SANITIZER_PATTERNS), p.stderr
    try:
        out = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"cloister {' '.join(args)}: exit {p.returncode}, not one JSON object on "
                    f"stdout:\n{p.stdout}\n{p.stderr}")
    assert JSON_KEYS <= out.keys(), (sorted(JSON_KEYS - out.keys()), out)
    assert p.returncode == (0 if out["verified"] else 1), (p.returncode, out, p.stderr)
    assert (out["failed_step"] == "none") == out["verified"], out
    return out


def run_case(name, *flags, at=None):
    return cli_verify(evidence_file(name), VECTORS / name, *flags,
                      at=at_of(name) if at is None else at)


def oracle_run(case_dir, at):
    if shutil.which("node") is None or not (ORACLE_DIR / "node_modules" / "@phala").is_dir():
        pytest.fail("the oracle @phala/dcap-qvl is not installed: run scripts/install-deps "
                    "(npm ci in tests/oracle)")
    p = subprocess.run(["node", str(ORACLE), str(case_dir), str(at)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@lru_cache(maxsize=None)
def oracle_case(name, at):
    return oracle_run(VECTORS / name, at)


def oracle_steps(error):
    for pattern, steps in ORACLE_ERROR_STEPS:
        if pattern.search(error):
            return steps
    pytest.fail(f"dcap-qvl error not in ORACLE_ERROR_STEPS: {error!r}")


# --- what case.json expects ----------------------------------------------------------------------

def expected_outcome(name):
    """case.json's expected.result as {step, status, debug}; an unknown wording fails the test
    rather than being guessed at."""
    case = load_case(name)
    exp = case["expected"]
    text = exp["result"]
    if text in STATUSES:
        return {"step": "none", "status": text}
    if text.startswith("TCB_NOT_SUPPORTED (must fail)"):
        return {"step": "tcb"}
    if text.startswith("must fail: debug TD"):
        return {"step": "policy", "debug": True,
                "status": exp["tcb_status_if_debug_allowed"].split()[0]}
    if name.startswith("snp") and text.startswith("valid"):
        return {"step": "none", "status": "UpToDate"}
    if name.startswith("snp") and text.startswith("must fail under a no-debug policy"):
        assert case["identity"]["policy_debug"] is True
        return {"step": "policy", "debug": True, "status": "UpToDate"}
    pytest.fail(f"{name}: case.json expected.result not understood: {text!r}")


def platform_of(name):
    etype = load_case(name)["evidence_type"]
    return "sgx-dcap" if etype.startswith("sgx") else etype.split("-")[0]


# Claims compared byte for byte with case.json's identity (lowercase hex on both sides).
TDX_BYTE_CLAIMS = ("mrtd", "mrseam", "mrsignerseam", "mrconfigid", "mrowner", "mrownerconfig",
                   "rtmr0", "rtmr1", "rtmr2", "rtmr3", "tee_tcb_svn")
SNP_BYTE_CLAIMS = ("measurement", "host_data", "family_id", "image_id", "id_key_digest",
                   "author_key_digest", "report_id", "chip_id")


def check_verified(name, out, status):
    """A verified result against every detail case.json gives."""
    case = load_case(name)
    exp, ident = case["expected"], case["identity"]
    assert out["verified"] is True and out["failed_step"] == "none", out
    assert out["platform"] == platform_of(name)
    keys = VERIFIED_KEYS if name.startswith("snp") else INTEL_KEYS
    assert keys <= out.keys(), sorted(keys - out.keys())
    assert out["tcb_status"] == status
    claims = out["claims"]
    assert claims["platform"] == out["platform"]
    assert claims["report_data"] == ident["report_data"]
    if name.startswith("snp"):
        assert claims["debug"] is ident["policy_debug"]
        for k in SNP_BYTE_CLAIMS:
            assert claims[k] == ident[k], k
        assert (claims["version"], claims["vmpl"], claims["guest_svn"]) == \
            (ident["version"], ident["vmpl"], ident["guest_svn"])
        assert claims["vlek"] is (ident["signing_key"] == "VLEK")
        return
    if out["platform"] == "tdx":
        for k in TDX_BYTE_CLAIMS:
            assert claims[k] == ident[k], k
    assert sorted(out["advisory_ids"]) == sorted(exp.get("advisory_ids", []))
    if "qe_identity_status" in exp:
        assert out["qe_status"] == exp["qe_identity_status"]
    if exp.get("tdx_module"):
        assert out["tdx_module_status"] == exp["tdx_module"].split("-> ")[1]
    if out["platform"] == "sgx-dcap":
        assert out["tdx_module_status"] is None
        for k in ("mrenclave", "mrsigner", "isvprodid", "isvsvn"):
            assert claims[k] == ident[k], k
    assert claims["debug"] is ident["debug"]
    assert out["trailing_bytes"] == case["quote_layout"]["trailing_bytes_after_sig_data"]


# --- every case against case.json --------------------------------------------------------------

@pytest.mark.parametrize("name", INTEL_CASES + SNP_CASES)
def test_case_gives_its_expected_result(name):
    """The CLI's defaults (every status but Revoked, no debug, CRLs required): the result the
    case names, or the policy / revocation refusal it must lead to by default."""
    exp = expected_outcome(name)
    out = run_case(name)
    if name in NO_CRL_CASES:
        assert out["failed_step"] == "revocation", out
        assert out["reason"].startswith("collateral missing"), out
    elif exp["step"] == "none" and exp["status"] not in DEFAULT_ACCEPTED:
        assert out["failed_step"] == "policy", out
        assert exp["status"] in out["reason"], out
        assert out["tcb_status"] == exp["status"]
    elif exp["step"] == "none":
        check_verified(name, out, exp["status"])
        if not name.startswith("snp"):
            assert out["crls_checked"] is True
    else:
        assert out["failed_step"] == exp["step"], out
        if exp["step"] == "tcb":
            assert "not supported" in out["reason"].lower(), out
        if exp.get("debug"):
            assert "debug" in out["reason"].lower(), out


@pytest.mark.parametrize("name", INTEL_CASES + SNP_CASES)
def test_case_verifies_with_its_documented_allowances(name):
    """With every allowance the case documents (--allow-missing-crls where it has no CRLs,
    --allow-debug for a debug TD or guest, --accept-status for a status outside the default
    set) the case verifies with exactly its expected details, or fails at its expected step."""
    exp = expected_outcome(name)
    flags = []
    if name in NO_CRL_CASES:
        flags.append("--allow-missing-crls")
    if exp.get("debug"):
        flags.append("--allow-debug")
    if exp.get("status") and exp["status"] not in DEFAULT_ACCEPTED:
        flags += ["--accept-status", ",".join(DEFAULT_ACCEPTED + (exp["status"],))]
    out = run_case(name, *flags)
    if exp["step"] == "tcb":
        assert out["failed_step"] == "tcb", out
        return
    check_verified(name, out, exp["status"])
    if exp.get("debug"):
        assert out["claims"]["debug"] is True
    if not name.startswith("snp"):
        assert out["crls_checked"] is (name not in NO_CRL_CASES)


def test_accepted_statuses_are_the_callers():
    """--accept-status replaces the default set: the library's default policy (UpToDate,
    SWHardeningNeeded) refuses the SGX case's ConfigurationAndSWHardeningNeeded, still reporting
    the status and advisories; OutOfDate alone refuses an UpToDate TDX quote."""
    out = run_case("sgx-v3-phala-p1", "--accept-status", ",".join(POLICY_DEFAULT))
    assert out["failed_step"] == "policy" and "ConfigurationAndSWHardeningNeeded" in out["reason"]
    assert out["tcb_status"] == "ConfigurationAndSWHardeningNeeded"
    assert sorted(out["advisory_ids"]) == ["INTEL-SA-00289", "INTEL-SA-00615"]
    out = run_case("sgx-v3-phala-p1", "--accept-status", "UpToDate")
    assert out["failed_step"] == "policy" and "ConfigurationAndSWHardeningNeeded" in out["reason"]
    out = run_case("tdx-v4-phala-p2", "--accept-status", "OutOfDate")
    assert out["failed_step"] == "policy" and "UpToDate" in out["reason"], out
    out = run_case("tdx-v4-phala-p2", "--accept-status", "OutOfDate,UpToDate")
    assert out["verified"] is True


# --- time ---------------------------------------------------------------------------------------

def parse_time(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def intel_window(name):
    """[latest issueDate, earliest nextUpdate] of the TCB info and QE identity."""
    d = VECTORS / name
    tcb = json.loads((d / "tcb_info.json").read_text())["tcbInfo"]
    qe = json.loads((d / "qe_identity.json").read_text())["enclaveIdentity"]
    return (max(parse_time(tcb["issueDate"]), parse_time(qe["issueDate"])),
            min(parse_time(tcb["nextUpdate"]), parse_time(qe["nextUpdate"])))


def snp_leaf(name):
    d = VECTORS / name
    path = d / "vcek.der" if (d / "vcek.der").exists() else d / "vlek.der"
    return x509.load_der_x509_certificate(path.read_bytes())


def snp_window(name):
    leaf = snp_leaf(name)
    # naive UTC datetimes (python3-cryptography 38 has no *_with_timezone)
    return (int(leaf.not_valid_before.replace(tzinfo=timezone.utc).timestamp()),
            int(leaf.not_valid_after.replace(tzinfo=timezone.utc).timestamp()))


def window(name):
    return snp_window(name) if name.startswith("snp") else intel_window(name)


@pytest.mark.parametrize("side", ["before", "after"])
@pytest.mark.parametrize("name", INTEL_CASES + SNP_CASES)
def test_outside_the_collateral_window_is_expired(name, side):
    """Three days before the collateral was issued (before the VCEK/VLEK for SNP) or after it
    ran out: "expired", whatever else the case would give (every allowance on)."""
    start, end = window(name)
    assert start <= at_of(name) <= end
    at = start - 3 * DAY if side == "before" else end + 3 * DAY
    out = run_case(name, "--allow-debug", "--allow-missing-crls", "--accept-status", ALL_VALID,
                   at=at)
    assert out["failed_step"] == "expired", out


def test_vlek_expires_to_the_second():
    """snp-vlek-trustee: valid up to the VLEK's notAfter (2025-12-10T22:14:21Z), expired after."""
    end = snp_window("snp-vlek-trustee")[1]
    assert end == parse_time("2025-12-10T22:14:21Z")
    assert run_case("snp-vlek-trustee", at=end - 1)["verified"] is True
    assert run_case("snp-vlek-trustee", at=end + 1)["failed_step"] == "expired"


# --- SNP negatives the source repositories assert (case.json expected.repo_asserted_negatives) ----

def copy_case(name, dest):
    dest.mkdir()
    for f in (VECTORS / name).iterdir():
        shutil.copyfile(f, dest / f.name)
    return dest


def bump(data, offset):
    b = bytearray(data)
    b[offset] = (b[offset] + 1) & 0xFF
    return bytes(b)


@pytest.mark.parametrize("name", ["snp-milan-trustee", "snp-vlek-trustee"])
@pytest.mark.parametrize("offset, steps", [(42, {"signature"}), (384, {"tcb"})])
def test_snp_report_byte_changed_is_refused(tmp_path, name, offset, steps):
    """report[42] += 1: the signature; report[384] += 1 (REPORTED_TCB.bl): no longer the TCB the
    VCEK/VLEK certifies, refused at "tcb" before the signature is even checked."""
    report = tmp_path / "report.bin"
    report.write_bytes(bump(evidence_file(name).read_bytes(), offset))
    out = cli_verify(report, VECTORS / name, at=at_of(name))
    assert out["failed_step"] in steps, out


def test_snp_vcek_byte_changed_is_refused(tmp_path):
    """vcek.der[42] += 1 (inside the TBS signature algorithm): the VCEK no longer verifies under
    the ASK. "collateral" is accepted too, for a loader that refuses the changed algorithm while
    parsing; either way the report must not verify."""
    d = copy_case("snp-milan-trustee", tmp_path / "case")
    (d / "vcek.der").write_bytes(bump((d / "vcek.der").read_bytes(), 42))
    out = cli_verify(d / "report.bin", d, at=at_of("snp-milan-trustee"))
    assert out["failed_step"] in {"cert_chain", "collateral"}, out


def test_snp_report_of_another_chip_is_refused(tmp_path):
    """A Milan report checked against another Milan chip's VCEK (a valid chain to the same ARK):
    the hwID is not the report's CHIP_ID, and the key did not sign it. snp.h names no step for
    the hwID check, so any step that judges the certificate or the signature will do."""
    d = copy_case("snp-milan-trustee", tmp_path / "case")
    shutil.copyfile(VECTORS / "snp-milan-gosevguest" / "vcek.der", d / "vcek.der")
    out = cli_verify(d / "report.bin", d, at=at_of("snp-milan-trustee"))
    assert out["verified"] is False, out
    assert out["failed_step"] in {"tcb", "signature", "cert_chain", "collateral"}, out


# --- the independent oracle -------------------------------------------------------------------

def recorded_oracle(name):
    """case.json's independent_oracle.output: "STATUS [ids]" or "ERROR message"."""
    text = load_case(name)["independent_oracle"]["output"]
    if text.startswith("ERROR "):
        return {"error": text[len("ERROR "):]}
    status, ids = text.split(" ", 1)
    return {"status": status, "advisory_ids": json.loads(ids)}


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_oracle_gives_what_the_collector_recorded(name):
    """Our build of dcap-qvl's collateral from the split files gives what the collector
    recorded with the same package: the oracle itself is set up right."""
    assert oracle_case(name, at_of(name)) == recorded_oracle(name)


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_cli_agrees_with_the_oracle(name):
    """At the case's time, with dcap-qvl's own policy (any status but Revoked, no debug): both
    accept with the same status and advisories, or both refuse for the same kind of reason;
    the one documented difference is asserted as such."""
    oracle = oracle_case(name, at_of(name))
    out = run_case(name, "--accept-status", ALL_VALID)
    if name in ORACLE_STRICTER:
        assert oracle == {"error": ORACLE_STRICTER[name]}
        mrservicetd = load_case(name)["identity"]["mrservicetd"]
        assert int(mrservicetd, 16) != 0
        assert out["claims"]["mrservicetd"] == mrservicetd
        check_verified(name, out, expected_outcome(name)["status"])
        return
    if "error" in oracle:
        assert out["verified"] is False, (oracle, out)
        assert out["failed_step"] in oracle_steps(oracle["error"]), (oracle, out)
        return
    assert out["verified"] is True, (oracle, out)
    assert out["tcb_status"] == oracle["status"]
    assert sorted(out["advisory_ids"]) == sorted(oracle["advisory_ids"])


@pytest.mark.parametrize("side", ["before", "after"])
@pytest.mark.parametrize("name", ORACLE_CASES)
def test_cli_and_oracle_refuse_outside_the_window(name, side):
    start, end = intel_window(name)
    at = start - 3 * DAY if side == "before" else end + 3 * DAY
    oracle = oracle_case(name, at)
    assert "expired" in oracle_steps(oracle.get("error", "accepted")), oracle
    out = run_case(name, "--accept-status", ALL_VALID, "--allow-debug", at=at)
    assert out["failed_step"] == "expired", out


def damaged_quote(name, damage):
    layout = load_case(name)["quote_layout"]
    quote = evidence_file(name).read_bytes()
    if damage == "report_data":
        return bump(quote, layout["offset_report_data"])
    if damage == "quote_signature":
        return bump(quote, layout["offset_isv_signature"] + 5)
    if damage == "qe_report":  # a byte of the QE's MRENCLAVE: the PCK key's signature fails
        return bump(quote, layout["offset_qe_report"] + 70)
    if damage == "truncated":
        return quote[:layout["signed_region_len"] + 100]
    raise AssertionError(damage)


@pytest.mark.parametrize("damage, step", [
    ("report_data", "signature"),
    ("quote_signature", "signature"),
    ("qe_report", "qe_report"),
    ("truncated", "parse"),
])
@pytest.mark.parametrize("name", ["sgx-v3-phala-p1", "tdx-v4-phala-p2", "tdx-v5-automata-a1"])
def test_cli_and_oracle_refuse_a_damaged_quote(tmp_path, name, damage, step):
    d = copy_case(name, tmp_path / "case")
    (d / "quote.bin").write_bytes(damaged_quote(name, damage))
    oracle = oracle_run(d, at_of(name))
    assert "error" in oracle and step in oracle_steps(oracle["error"]), oracle
    out = cli_verify(d / "quote.bin", VECTORS / name, "--accept-status", ALL_VALID,
                     at=at_of(name))
    assert out["failed_step"] == step, out


@pytest.mark.parametrize("quote_case, collateral_case", [
    ("tdx-v4-phala-p2", "sgx-v3-phala-p1"),  # a TDX quote, SGX collateral
    ("sgx-v3-phala-p1", "tdx-v4-phala-p2"),  # an SGX quote, TDX collateral
])
def test_cli_and_oracle_refuse_collateral_of_another_platform(tmp_path, quote_case,
                                                              collateral_case):
    d = copy_case(collateral_case, tmp_path / "case")
    shutil.copyfile(evidence_file(quote_case), d / "quote.bin")
    at = min(at_of(quote_case), at_of(collateral_case))  # inside both collateral windows
    oracle = oracle_run(d, at)
    assert "error" in oracle, oracle
    out = cli_verify(d / "quote.bin", d, "--accept-status", ALL_VALID, at=at)
    assert out["verified"] is False and out["failed_step"] in {"collateral", "tcb",
                                                                 "qe_identity"}, out
