"""The zone CA's certificates, read with code that is not ours (Python's cryptography).

The unit test tests/unit/test-ca writes a zone CA's root and issuing certificates and the leaves
it issued to $CLOISTER_CA_TEST_OUT; this module runs it and checks those files independently:
every signature of the chain, every field of the certificate profile in docs/ca.md, and the
claims extension's OID and encoding. (Path validation proper is checked by the unit test with
`openssl verify -x509_strict`; Debian 12's cryptography 38 has no path validator.)
"""

import datetime
import json
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

import cloister_testlib as lib

CLAIMS_OID = ObjectIdentifier("1.3.6.1.4.1.32473.1.1")  # src/manager/ca/ca-issue.h
ZONE_ID = "4f1c0a52-0d3e-4c8e-9a57-2f3b8c1d0e7a"
TEST_CA = lib.BUILD_DIR / "tests" / "unit" / "test-ca"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if not TEST_CA.exists():
        pytest.fail(f"{TEST_CA} not found: build it first")
    out = tmp_path_factory.mktemp("ca")
    env = dict(os.environ, CLOISTER_CA_TEST_OUT=str(out))
    run = subprocess.run([str(TEST_CA)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return {p.stem: x509.load_pem_x509_certificate(p.read_bytes()) for p in out.glob("*.pem")}


def der_octet_string(data):
    """The contents of one DER OCTET STRING that fills data exactly."""
    assert data[0] == 0x04, "not an OCTET STRING"
    length, i = data[1], 2
    if length & 0x80:
        n = length & 0x7F
        assert 1 <= n <= 2 and data[2] != 0, "bad DER length"
        length, i = int.from_bytes(data[2:2 + n], "big"), 2 + n
        assert length >= 0x80, "long form for a short length is not DER"
    assert len(data) == i + length, "trailing or missing bytes"
    return data[i:]


def ext(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


def verify_signed_by(cert, issuer):
    """Raises InvalidSignature unless issuer's key signed cert (ECDSA CA keys only)."""
    assert cert.issuer == issuer.subject
    issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                               ec.ECDSA(cert.signature_hash_algorithm))


def lifetime(cert):
    return cert.not_valid_after - cert.not_valid_before


def now_within(cert):
    now = datetime.datetime.utcnow()
    return cert.not_valid_before <= now <= cert.not_valid_after


def verify_chain(leaf, issuing, root):
    """The leaf, the issuing CA and the root sign one another and are valid now."""
    verify_signed_by(leaf, issuing)
    verify_signed_by(issuing, root)
    verify_signed_by(root, root)
    assert all(now_within(c) for c in (leaf, issuing, root))


def test_ca_certificates(certs):
    root, issuing = certs["root"], certs["issuing"]
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "Cloister zone default root"
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Cloister"
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == \
        ZONE_ID
    assert root.issuer == root.subject and issuing.issuer == root.subject
    verify_signed_by(root, root)
    verify_signed_by(issuing, root)
    with pytest.raises(InvalidSignature):
        issuing.public_key().verify(root.signature, root.tbs_certificate_bytes,
                                    ec.ECDSA(root.signature_hash_algorithm))
    for cert, pathlen, years in ((root, None, 10), (issuing, 0, 5)):
        bc = ext(cert, x509.BasicConstraints.oid)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen
        ku = ext(cert, x509.KeyUsage.oid)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
        assert not ku.value.digital_signature
        ski = ext(cert, x509.SubjectKeyIdentifier.oid).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp384r1"
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
        assert abs(lifetime(cert).days - 365.25 * years) <= 2
    aki = ext(issuing, x509.AuthorityKeyIdentifier.oid).value
    assert aki.key_identifier == ext(root, x509.SubjectKeyIdentifier.oid).value.digest


@pytest.mark.parametrize("name", ["leaf-ec", "leaf-ec384", "leaf-rsa"])
def test_app_certificates(certs, name):
    leaf = certs[name]
    verify_chain(leaf, certs["issuing"], certs["root"])
    with pytest.raises(InvalidSignature):  # the check can fail: the root did not sign it
        certs["root"].public_key().verify(leaf.signature, leaf.tbs_certificate_bytes,
                                          ec.ECDSA(leaf.signature_hash_algorithm))

    assert leaf.subject.rfc4514_string() == "CN=app.example.com"
    san = ext(leaf, x509.SubjectAlternativeName.oid).value
    assert san.get_values_for_type(x509.DNSName) == ["app.example.com", "api.example.com"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == \
        ["spiffe://acme.zone-1.cloister/app/web-app"]
    bc = ext(leaf, x509.BasicConstraints.oid)
    assert bc.critical and not bc.value.ca
    ku = ext(leaf, x509.KeyUsage.oid)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert ku.value.key_encipherment == isinstance(leaf.public_key(), rsa.RSAPublicKey)
    eku = ext(leaf, x509.ExtendedKeyUsage.oid).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(leaf, x509.AuthorityKeyIdentifier.oid).value.key_identifier == \
        ext(certs["issuing"], x509.SubjectKeyIdentifier.oid).value.digest
    assert leaf.serial_number.bit_length() == 128
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA384)
    assert lifetime(leaf) == datetime.timedelta(seconds=86400 + 60)

    claims_ext = ext(leaf, CLAIMS_OID)
    assert not claims_ext.critical
    assert isinstance(claims_ext.value, x509.UnrecognizedExtension)
    text = der_octet_string(claims_ext.value.value)
    claims = json.loads(text)
    assert claims == {
        "version": 1,
        "measurement": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "signer": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "isvprodid": 7,
        "isvsvn": 3,
        "platform": "sim",
        "tcb_status": "UpToDate",
        "node_id": "node-1",
    }
    # Compact JSON with sorted keys: the bytes are canonical.
    assert text == json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()


def test_serials_differ(certs):
    serials = [c.serial_number for c in certs.values()]
    assert len(set(serials)) == len(serials)


def test_node_certificate(certs):
    leaf = certs["node"]
    root, issuing = certs["node-root"], certs["node-issuing"]
    verify_chain(leaf, issuing, root)
    for cert in (leaf, issuing, root):
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert issuing.public_key().curve.name == "secp256r1"
    assert ext(issuing, x509.BasicConstraints.oid).value.path_length == 0
    assert leaf.subject.rfc4514_string() == "CN=0b8f5a1e-node"
    san = ext(leaf, x509.SubjectAlternativeName.oid).value
    assert san.get_values_for_type(x509.DNSName) == []
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == \
        ["spiffe://acme/node/0b8f5a1e-node"]
    assert list(ext(leaf, x509.ExtendedKeyUsage.oid).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        ext(leaf, CLAIMS_OID)


LEAF_EXTENSIONS = [  # (OID, critical) in the order ca-issue.c adds them (docs/ca.md)
    (x509.BasicConstraints.oid, True),
    (x509.KeyUsage.oid, True),
    (x509.ExtendedKeyUsage.oid, False),
    (x509.SubjectKeyIdentifier.oid, False),
    (x509.AuthorityKeyIdentifier.oid, False),
    (x509.SubjectAlternativeName.oid, False),
]


@pytest.mark.parametrize("name", ["leaf-ec", "leaf-ec384", "leaf-rsa", "leaf-ec-spki",
                                  "leaf-ec384-spki", "leaf-rsa-spki", "node"])
def test_leaf_extensions_in_order(certs, name):
    """Every extension of every leaf, whether the CA read a CSR or only its key: order,
    criticality, and the key ids, read with cryptography."""
    leaf = certs[name]
    issuing = certs["node-issuing" if name == "node" else "issuing"]
    expected = LEAF_EXTENSIONS + ([] if name == "node" else [(CLAIMS_OID, False)])
    assert [(e.oid, e.critical) for e in leaf.extensions] == expected
    assert ext(leaf, x509.SubjectKeyIdentifier.oid).value == \
        x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    aki = ext(leaf, x509.AuthorityKeyIdentifier.oid).value
    assert aki.key_identifier == ext(issuing, x509.SubjectKeyIdentifier.oid).value.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    bc = ext(leaf, x509.BasicConstraints.oid).value
    assert not bc.ca and bc.path_length is None
    ku = ext(leaf, x509.KeyUsage.oid).value
    rsa_key = isinstance(leaf.public_key(), rsa.RSAPublicKey)
    assert (ku.digital_signature, ku.key_encipherment, ku.content_commitment,
            ku.data_encipherment, ku.key_agreement, ku.key_cert_sign, ku.crl_sign) == \
        (True, rsa_key, False, False, False, False, False)
    eku = list(ext(leaf, x509.ExtendedKeyUsage.oid).value)
    assert eku == ([ExtendedKeyUsageOID.CLIENT_AUTH] if name == "node" else
                   [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    verify_signed_by(leaf, issuing)
