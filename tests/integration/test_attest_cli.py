"""`cloister attest verify`: sim evidence made here by Python `cryptography` from the layout of
docs/sim-evidence.md (not by libattest) is verified by the CLI, and every kind of damage is
refused naming the step that failed. Needs no manager."""

import base64
import hashlib
import json
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cloister_testlib as lib

MRENCLAVE = bytes(range(32))
MRSIGNER = bytes(range(32, 64))


def make_report(key, *, attributes=0x5, sign_key=None, version=1):
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    body = b"CLSIM\0" + struct.pack("<HII", version, 0, 0) + MRENCLAVE + MRSIGNER
    body += struct.pack("<HHIQ", 0x1234, 7, 0, attributes)
    body += hashlib.sha256(b"report data").digest() + bytes(32)
    body += hashlib.sha256(spki).digest()
    sig = (sign_key or key).sign(body, ec.ECDSA(hashes.SHA256()))
    return body + struct.pack("<H", len(sig)) + sig


def write_evidence(path, report, type_="sim"):
    path.write_text(json.dumps({"type": type_, "data": base64.b64encode(report).decode()}))
    return path


def write_public_key(path, key):
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def cli(*args):
    p = subprocess.run([str(lib.CLI_BIN), *map(str, args)], capture_output=True, text=True,
                       timeout=30)
    # An ASan build exits 1 on a sanitizer report, which a refusal would hide.
    assert not any(pattern in p.stderr for pattern in lib.SANITIZER_PATTERNS), p.stderr
    return p


@pytest.fixture
def node_key(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    return key, write_public_key(tmp_path / "node.pem", key)


def test_valid_sim_evidence_prints_its_claims(tmp_path, node_key):
    key, pem = node_key
    evidence = write_evidence(tmp_path / "e.json", make_report(key))
    p = cli("--json", "attest", "verify", evidence, "--key", pem)
    assert p.returncode == 0, p.stderr
    claims = json.loads(p.stdout)
    assert claims["platform"] == "sim"
    assert claims["insecure"] is True
    assert claims["mrenclave"] == MRENCLAVE.hex()
    assert claims["mrsigner"] == MRSIGNER.hex()
    assert (claims["isvprodid"], claims["isvsvn"], claims["debug"]) == (0x1234, 7, False)
    assert claims["report_data"] == (hashlib.sha256(b"report data").digest() + bytes(32)).hex()
    p = cli("attest", "verify", evidence, "--key", pem)
    assert p.returncode == 0 and "INSECURE" in p.stdout and MRENCLAVE.hex() in p.stdout


def test_debug_bit_is_reported(tmp_path, node_key):
    key, pem = node_key
    evidence = write_evidence(tmp_path / "e.json", make_report(key, attributes=0x7))
    p = cli("--json", "attest", "verify", evidence, "--key", pem)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["debug"] is True


@pytest.mark.parametrize("damage, step", [
    ("flip_body", "signature"),
    ("other_signer", "signature"),
    ("other_node", "key_id"),
    ("version_2", "version"),
    ("truncated", "parse"),
    ("unknown_type", "type"),
    ("not_json", "envelope"),
])
def test_damaged_evidence_is_refused_naming_the_step(tmp_path, node_key, damage, step):
    key, pem = node_key
    other = ec.generate_private_key(ec.SECP256R1())
    report = make_report(key)
    if damage == "flip_body":
        report = report[:20] + bytes([report[20] ^ 1]) + report[21:]
    elif damage == "other_signer":
        report = make_report(key, sign_key=other)
    elif damage == "other_node":
        pem = write_public_key(tmp_path / "other.pem", other)
    elif damage == "version_2":
        report = make_report(key, version=2)
    elif damage == "truncated":
        report = report[:100]
    path = tmp_path / "e.json"
    if damage == "unknown_type":
        write_evidence(path, report, type_="nitro")
    elif damage == "not_json":
        path.write_text("{not json")
    else:
        write_evidence(path, report)
    p = cli("attest", "verify", path, "--key", pem)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"failed at step '{step}'" in p.stderr, p.stderr
    assert p.stdout == ""


def test_usage_errors(tmp_path, node_key):
    key, pem = node_key
    evidence = write_evidence(tmp_path / "e.json", make_report(key))
    p = cli("attest", "verify", evidence)
    assert p.returncode == 2 and "--key" in p.stderr
    p = cli("attest", "verify", "--key", pem)
    assert p.returncode == 2 and "FILE" in p.stderr
    p = cli("attest", "verify", tmp_path / "missing.json", "--key", pem)
    assert p.returncode == 1 and "missing.json" in p.stderr
    (tmp_path / "bad.pem").write_text("not a key")
    p = cli("attest", "verify", evidence, "--key", tmp_path / "bad.pem")
    assert p.returncode == 1 and "--key" in p.stderr
