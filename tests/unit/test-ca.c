/* The zone CA (src/manager/ca): creation, sealing, loading, issuance and refusals. Fields are
 * read back with OpenSSL's API and the chain is checked with the `openssl verify` command. With
 * CLOISTER_CA_TEST_OUT=DIR the certificates are also written to DIR for
 * tests/integration/test_ca_independent.py, which reads them with Python's cryptography. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca-issue.h"
#include "ca-keys.h"
#include "ca-process.h"
#include "cleanup.h"
#include "crypto-util.h"
#include "test-files.h"
#include "test.h"

static const uint8_t seal_key[SEAL_KEY_LEN] = { 0x5e, 0xa1, 3, 4, 5, 6, 7, 8, 9 };
static const char zone_id[] = "4f1c0a52-0d3e-4c8e-9a57-2f3b8c1d0e7a";

static const char *const app_dns[] = { "App.Example.com", "api.example.com" };

static const struct ca_claims claims = {
    .measurement = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    .signer = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    .isvprodid = 7,
    .isvsvn = 3,
    .platform = "sim",
    .tcb_status = "UpToDate",
    .node_id = "node-1",
};

static struct zone_ca *
load_zone(const struct ca_zone_sealed *s)
{
    struct zone_ca *ca = NULL;

    CHECK_EQ_INT(ca_zone_load(seal_key, zone_id, s->root_cert_pem, s->issuing_cert_pem,
                              s->issuing_key_sealed, &ca),
                 0);
    return ca;
}

static X509 *
pem_cert(const char *pem)
{
    _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    CHECK(cert);
    return cert;
}

/* A CSR for key, with a subject and a SAN the CA must ignore; DER in *ret_der. */
static size_t
make_csr(EVP_PKEY *key, const EVP_MD *md, unsigned char **ret_der)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_REQ_get_subject_name(req);
    int len;

    CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     (const unsigned char *)"evil.example.org", -1, -1, 0) == 1);
    CHECK(X509_REQ_set_pubkey(req, key) == 1);
    CHECK(X509_REQ_sign(req, key, md) > 0);
    *ret_der = NULL;
    len = i2d_X509_REQ(req, ret_der);
    CHECK(len > 0);
    return (size_t)len;
}

static char *
der_to_pem_csr(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    _cleanup_(X509_REQ_freep) X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;

    CHECK(req && bio);
    CHECK(PEM_write_bio_X509_REQ(bio, req) == 1);
    n = BIO_get_mem_data(bio, &data);
    return strndup(data, (size_t)n);
}

/* Writes text to dir/name. */
static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    test_write_file(path, text, strlen(text));
}

/* Runs `openssl verify -x509_strict -purpose P -CAfile root -untrusted issuing leaf` with its
 * output discarded; returns the exit status. */
static int
openssl_verify(const char *root_pem, const char *issuing_pem, const char *leaf_pem,
               const char *purpose)
{
    char dir[] = "/tmp/test-ca-XXXXXX", root[64], issuing[64], leaf[64];
    char *argv[] = { "openssl", "verify", "-x509_strict", "-purpose", (char *)purpose,
                     "-CAfile", root,     "-untrusted",   issuing,    leaf,
                     NULL };
    int status;

    CHECK(mkdtemp(dir));
    snprintf(root, sizeof(root), "%s/root.pem", dir);
    snprintf(issuing, sizeof(issuing), "%s/issuing.pem", dir);
    snprintf(leaf, sizeof(leaf), "%s/leaf.pem", dir);
    write_file(dir, "root.pem", root_pem);
    write_file(dir, "issuing.pem", issuing_pem);
    write_file(dir, "leaf.pem", leaf_pem);
    status = test_run(argv, NULL, true);
    unlink(root);
    unlink(issuing);
    unlink(leaf);
    rmdir(dir);
    return status;
}

/* The SAN entries of type type, joined with ','. */
static void
san_join(X509 *cert, int type, char *out, size_t size)
{
    _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

    out[0] = '\0';
    CHECK(names);
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *gen = sk_GENERAL_NAME_value(names, i);
        int gtype;
        ASN1_STRING *s = GENERAL_NAME_get0_value(gen, &gtype);

        if (gtype != type)
            continue;
        if (out[0])
            strncat(out, ",", size - strlen(out) - 1);
        strncat(out, (const char *)ASN1_STRING_get0_data(s), size - strlen(out) - 1);
    }
}

static void
check_ca_cert(X509 *cert, const char *cn, int pathlen)
{
    char buf[256];
    X509_NAME *subject = X509_get_subject_name(cert);

    CHECK(X509_NAME_get_text_by_NID(subject, NID_commonName, buf, sizeof(buf)) > 0);
    CHECK_EQ_STR(buf, cn);
    CHECK(X509_NAME_get_text_by_NID(subject, NID_organizationName, buf, sizeof(buf)) > 0);
    CHECK_EQ_STR(buf, "Cloister");
    CHECK(X509_NAME_get_text_by_NID(subject, NID_organizationalUnitName, buf, sizeof(buf)) > 0);
    CHECK_EQ_STR(buf, zone_id);
    CHECK_EQ_INT(X509_check_ca(cert), 1);
    CHECK_EQ_INT(X509_get_pathlen(cert), pathlen);
    CHECK_EQ_INT(X509_get_key_usage(cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    CHECK(!(X509_get_extension_flags(cert) & EXFLAG_CRITICAL)); /* all critical ones known */
    CHECK(X509_get0_subject_key_id(cert));
    CHECK(X509_get0_authority_key_id(cert));
    CHECK_EQ_INT(X509_get_ext_by_critical(cert, 1, -1) >= 0, 1); /* basic constraints, KU */
}

static int64_t
lifetime(X509 *cert)
{
    int days = 0, secs = 0;

    CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)) == 1);
    return (int64_t)days * 86400 + secs;
}

TEST(zone_ca_p384_profile)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(X509_freep) X509 *root = NULL;
    _cleanup_(X509_freep) X509 *issuing = NULL;
    char group[32];
    size_t len;

    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P384, &s), 0);
    root = pem_cert(s->root_cert_pem);
    issuing = pem_cert(s->issuing_cert_pem);
    check_ca_cert(root, "Cloister zone default root", -1);
    check_ca_cert(issuing, "Cloister zone default issuing CA", 0);
    CHECK_EQ_INT(X509_NAME_cmp(X509_get_issuer_name(root), X509_get_subject_name(root)), 0);
    CHECK_EQ_INT(X509_NAME_cmp(X509_get_issuer_name(issuing), X509_get_subject_name(root)), 0);
    CHECK_EQ_INT(X509_get_signature_nid(root), NID_ecdsa_with_SHA384);
    CHECK_EQ_INT(X509_get_signature_nid(issuing), NID_ecdsa_with_SHA384);
    CHECK(EVP_PKEY_get_group_name(X509_get0_pubkey(issuing), group, sizeof(group), &len) == 1);
    CHECK_EQ_STR(group, "secp384r1");
    CHECK_EQ_INT(lifetime(root), CA_ROOT_VALIDITY_SECONDS + CA_BACKDATE_SECONDS);
    CHECK_EQ_INT(lifetime(issuing), CA_ISSUING_VALIDITY_SECONDS + CA_BACKDATE_SECONDS);
    CHECK_EQ_INT(X509_verify(issuing, X509_get0_pubkey(root)), 1);
    CHECK_EQ_INT(X509_verify(root, X509_get0_pubkey(root)), 1);
    CHECK_EQ_INT(X509_verify(issuing, X509_get0_pubkey(issuing)) == 1, 0);
    CHECK(!strstr(s->root_key_sealed, "PRIVATE") && !strstr(s->issuing_key_sealed, "PRIVATE"));
    ca = load_zone(s);
    CHECK(strstr(ca->chain_pem, "BEGIN CERTIFICATE"));
}

TEST(zone_ca_p256_and_long_names)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(X509_freep) X509 *root = NULL;
    char buf[256];
    /* 37 × 'é' (2 bytes each): cut to 19 characters, never inside one */
    char name[128] = "";

    for (int i = 0; i < 37; i++)
        strncat(name, "\xc3\xa9", sizeof(name) - strlen(name) - 1);
    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, name, CA_KEY_P256, &s), 0);
    root = pem_cert(s->root_cert_pem);
    CHECK_EQ_INT(X509_get_signature_nid(root), NID_ecdsa_with_SHA256);
    CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_commonName, buf, sizeof(buf)) >
          0);
    CHECK_EQ_INT(strlen(buf), strlen("Cloister zone  root") + 38);

    CHECK_EQ_INT(ca_zone_create(seal_key, "bad:zone", "x", CA_KEY_P256, &s), -EINVAL);
    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "", CA_KEY_P256, &s), -EINVAL);
    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "\xff\xfe", CA_KEY_P256, &s), -EINVAL);
}

TEST(sealed_keys_open_only_for_their_zone_and_role)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *other = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *root_key = NULL;
    _cleanup_(X509_freep) X509 *root = NULL;
    uint8_t wrong_key[SEAL_KEY_LEN] = { 1 };
    struct zone_ca *ca = NULL;
    EVP_PKEY *key = NULL;

    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P384, &s), 0);
    CHECK_EQ_INT(ca_zone_create(seal_key, "zone-2", "default", CA_KEY_P384, &other), 0);

    CHECK_EQ_INT(ca_key_open(seal_key, zone_id, CA_KEY_ROOT, s->root_key_sealed, &root_key), 0);
    root = pem_cert(s->root_cert_pem);
    CHECK_EQ_INT(X509_check_private_key(root, root_key), 1);

    CHECK_EQ_INT(ca_key_open(seal_key, "zone-2", CA_KEY_ROOT, s->root_key_sealed, &key), -EBADMSG);
    CHECK_EQ_INT(ca_key_open(seal_key, zone_id, CA_KEY_ISSUING, s->root_key_sealed, &key),
                 -EBADMSG);
    CHECK_EQ_INT(ca_key_open(wrong_key, zone_id, CA_KEY_ROOT, s->root_key_sealed, &key), -EBADMSG);
    CHECK_EQ_INT(ca_key_open(seal_key, "a:b", CA_KEY_ROOT, s->root_key_sealed, &key), -EINVAL);
    CHECK(key == NULL);

    /* Another zone's issuing key, sealed for its own zone id, does not load here... */
    CHECK_EQ_INT(ca_zone_load(seal_key, zone_id, s->root_cert_pem, s->issuing_cert_pem,
                              other->issuing_key_sealed, &ca),
                 -EBADMSG);
    /* ...nor under its zone id with our certificates (key and certificate differ)... */
    CHECK_EQ_INT(ca_zone_load(seal_key, "zone-2", s->root_cert_pem, s->issuing_cert_pem,
                              other->issuing_key_sealed, &ca),
                 -EBADMSG);
    /* ...nor an issuing certificate under a root that did not sign it. */
    CHECK_EQ_INT(ca_zone_load(seal_key, zone_id, other->root_cert_pem, s->issuing_cert_pem,
                              s->issuing_key_sealed, &ca),
                 -EBADMSG);
    CHECK_EQ_INT(ca_zone_load(seal_key, zone_id, "not a certificate", s->issuing_cert_pem,
                              s->issuing_key_sealed, &ca),
                 -EBADMSG);
    CHECK(ca == NULL);
}

/* The claims extension's JSON text, newly allocated, or NULL when there is none. */
static char *
claims_of(X509 *cert)
{
    _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = OBJ_txt2obj(CA_CLAIMS_OID, 1);
    _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *inner = NULL;
    X509_EXTENSION *ext;
    const unsigned char *p;
    int i;

    CHECK(oid);
    i = X509_get_ext_by_OBJ(cert, oid, -1);
    if (i < 0)
        return NULL;
    ext = X509_get_ext(cert, i);
    CHECK(!X509_EXTENSION_get_critical(ext));
    p = ASN1_STRING_get0_data(X509_EXTENSION_get_data(ext));
    inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(X509_EXTENSION_get_data(ext)));
    CHECK(inner);
    return strndup((const char *)ASN1_STRING_get0_data(inner), (size_t)ASN1_STRING_length(inner));
}

/* One extension as OpenSSL's configuration parser makes it from value (as ca-issue.c made every
 * extension but the SAN and the claims before they were built directly), with cert as the
 * subject and issuer as the issuer: its DER. */
static size_t
conf_ext_der(X509 *cert, X509 *issuer, int nid, const char *value, unsigned char **ret_der)
{
    _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
    X509V3_CTX ctx;
    int n;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    CHECK(ext);
    *ret_der = NULL;
    n = i2d_X509_EXTENSION(ext, ret_der);
    CHECK(n > 0);
    return (size_t)n;
}

/* The leaf's extensions are, in this order and byte for byte, what OpenSSL's configuration parser
 * makes of the profile's values: basicConstraints, keyUsage, extendedKeyUsage, subject and
 * authority key ids, subjectAltName (san, critical when the subject is empty), then the claims
 * extension (not critical) when with_claims. */
static void
check_leaf_extensions(X509 *cert, X509 *issuer, bool rsa, bool app, const char *san,
                      bool with_claims)
{
    _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *claims_oid = OBJ_txt2obj(CA_CLAIMS_OID, 1);
    char san_value[1024];
    const struct {
        int nid;
        const char *value;
    } expected[] = {
        { NID_basic_constraints, "critical,CA:FALSE" },
        { NID_key_usage,
          rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature" },
        { NID_ext_key_usage, app ? "serverAuth,clientAuth" : "clientAuth" },
        { NID_subject_key_identifier, "hash" },
        { NID_authority_key_identifier, "keyid:always" },
        { NID_subject_alt_name, san_value },
    };

    snprintf(san_value, sizeof(san_value), "%s%s",
             X509_NAME_entry_count(X509_get_subject_name(cert)) == 0 ? "critical," : "", san);
    CHECK_EQ_INT(X509_get_ext_count(cert), (int)ELEMENTSOF(expected) + (with_claims ? 1 : 0));
    for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
        _cleanup_free_ unsigned char *want = NULL;
        unsigned char *got = NULL;
        size_t want_len = conf_ext_der(cert, issuer, expected[i].nid, expected[i].value, &want);
        int got_len = i2d_X509_EXTENSION(X509_get_ext(cert, (int)i), &got);

        CHECK(got_len > 0);
        CHECK_EQ_INT((size_t)got_len, want_len);
        CHECK(memcmp(got, want, want_len) == 0);
        OPENSSL_free(got);
    }
    if (with_claims) {
        X509_EXTENSION *ext = X509_get_ext(cert, (int)ELEMENTSOF(expected));

        CHECK(claims_oid);
        CHECK_EQ_INT(OBJ_cmp(X509_EXTENSION_get_object(ext), claims_oid), 0);
        CHECK(!X509_EXTENSION_get_critical(ext));
    }
}

/* The PEM text OpenSSL's own writer makes of cert. */
static char *
openssl_pem(X509 *cert)
{
    _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;

    CHECK(bio && PEM_write_bio_X509(bio, cert) == 1);
    n = BIO_get_mem_data(bio, &data);
    CHECK(n > 0);
    return strndup(data, (size_t)n);
}

/* Where to write certificates for the Python check, or NULL. */
static const char *
out_dir(void)
{
    return getenv("CLOISTER_CA_TEST_OUT");
}

/* How issue_app hands the CA the key: a CSR as PEM or DER, or the SPKI of a checked CSR. */
enum csr_form { CSR_DER, CSR_PEM, CSR_SPKI };

/* The DER SubjectPublicKeyInfo of key. */
static size_t
spki_of(EVP_PKEY *key, unsigned char **ret_der)
{
    int n;

    *ret_der = NULL;
    n = i2d_PUBKEY(key, ret_der);
    CHECK(n > 0);
    return (size_t)n;
}

static void
issue_app(struct zone_ca *ca, const struct ca_zone_sealed *s, EVP_PKEY *key, enum csr_form form,
          const char *file)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(X509_freep) X509 *cert = NULL;
    _cleanup_free_ unsigned char *der = NULL;
    _cleanup_free_ char *csr_pem = NULL;
    _cleanup_free_ char *json = NULL;
    _cleanup_(json_decrefp) json_t *obj = NULL;
    struct ca_profile profile = {
        .kind = CA_PROFILE_APP,
        .trust_domain = "acme.zone-1.cloister",
        .app_name = "web-app",
        .dns_names = app_dns,
        .n_dns_names = ELEMENTSOF(app_dns),
        .claims = &claims,
        .validity_seconds = 86400,
    };
    struct ca_error error = { "" };
    bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    size_t der_len = make_csr(key, EVP_sha256(), &der);
    char buf[512];
    const BIGNUM *serial_bn;

    if (form == CSR_PEM) {
        csr_pem = der_to_pem_csr(der, der_len);
        CHECK_EQ_INT(ca_issue_leaf(ca, &profile, csr_pem, strlen(csr_pem), &error, &issued), 0);
    } else if (form == CSR_SPKI) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        uint8_t *spki = NULL;
        size_t spki_len;
        unsigned char *expected = NULL;
        size_t expected_len = spki_of(key, &expected);

        CHECK_EQ_INT(ca_csr_parse_req(der, der_len, &error, &req), 0);
        CHECK_EQ_INT(ca_req_spki_der(req, &spki, &spki_len), 0);
        CHECK(spki_len == expected_len && memcmp(spki, expected, spki_len) == 0);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, spki, spki_len, &error, &issued), 0);
        OPENSSL_free(spki);
        OPENSSL_free(expected);
    } else {
        CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, der_len, &error, &issued), 0);
    }
    cert = pem_cert(issued->cert_pem);
    CHECK_EQ_STR(issued->chain_pem, ca->chain_pem);
    {
        /* ca-x509.c writes PEM itself: the same text as PEM_write_bio_X509. */
        _cleanup_free_ char *leaf_pem = openssl_pem(cert);
        _cleanup_free_ char *issuing_pem = openssl_pem(ca->issuing);
        _cleanup_free_ char *root_pem = openssl_pem(ca->root);

        CHECK_EQ_STR(issued->cert_pem, leaf_pem);
        CHECK(strncmp(ca->chain_pem, issuing_pem, strlen(issuing_pem)) == 0);
        CHECK_EQ_STR(ca->chain_pem + strlen(issuing_pem), root_pem);
    }

    CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf)) >
          0);
    CHECK_EQ_STR(buf, "app.example.com");
    CHECK_EQ_INT(X509_NAME_entry_count(X509_get_subject_name(cert)), 1);
    san_join(cert, GEN_DNS, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "app.example.com,api.example.com");
    san_join(cert, GEN_URI, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "spiffe://acme.zone-1.cloister/app/web-app");
    CHECK_EQ_INT(X509_check_ca(cert), 0);
    CHECK(X509_get_extension_flags(cert) & EXFLAG_BCONS);
    CHECK_EQ_INT(X509_get_key_usage(cert),
                 rsa ? KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT : KU_DIGITAL_SIGNATURE);
    CHECK_EQ_INT(X509_get_extended_key_usage(cert), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    CHECK(X509_get0_subject_key_id(cert));
    CHECK_EQ_INT(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert),
                                       X509_get0_subject_key_id(ca->issuing)),
                 0);
    CHECK_EQ_INT(X509_get_signature_nid(cert), NID_ecdsa_with_SHA384);
    check_leaf_extensions(cert, ca->issuing, rsa, true,
                          "DNS:app.example.com,DNS:api.example.com,"
                          "URI:spiffe://acme.zone-1.cloister/app/web-app",
                          true);
    CHECK_EQ_INT(X509_verify(cert, X509_get0_pubkey(ca->issuing)), 1);
    CHECK_EQ_INT(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
    CHECK_EQ_INT(lifetime(cert), 86400 + CA_BACKDATE_SECONDS);
    CHECK_EQ_INT(issued->not_after - issued->not_before, 86400 + CA_BACKDATE_SECONDS);
    serial_bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    CHECK(serial_bn);
    CHECK_EQ_INT(BN_num_bits(serial_bn), 128);
    {
        char *hex = BN_bn2hex(serial_bn);
        CHECK_EQ_INT(strcasecmp(hex, issued->serial_hex), 0);
        OPENSSL_free(hex);
        BN_free((BIGNUM *)serial_bn);
    }

    json = claims_of(cert);
    CHECK(json);
    obj = json_loads(json, 0, NULL);
    CHECK(obj);
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "measurement")), claims.measurement);
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "signer")), claims.signer);
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "platform")), "sim");
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "tcb_status")), "UpToDate");
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "node_id")), "node-1");
    CHECK_EQ_INT(json_integer_value(json_object_get(obj, "isvprodid")), 7);
    CHECK_EQ_INT(json_integer_value(json_object_get(obj, "isvsvn")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(obj, "version")), 1);
    CHECK_EQ_INT(json_object_size(obj), 8);

    /* Code that is not ours accepts the chain for a TLS server, strictly. */
    CHECK_EQ_INT(
        openssl_verify(s->root_cert_pem, s->issuing_cert_pem, issued->cert_pem, "sslserver"), 0);
    CHECK_EQ_INT(
        openssl_verify(s->root_cert_pem, s->issuing_cert_pem, issued->cert_pem, "sslclient"), 0);
    if (out_dir())
        write_file(out_dir(), file, issued->cert_pem);
}

TEST(issue_app_certificates_ec_and_rsa)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *other = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

    CHECK(ec256 && ec384 && rsa);
    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P384, &s), 0);
    ca = load_zone(s);
    issue_app(ca, s, ec256, CSR_PEM, "leaf-ec.pem");
    issue_app(ca, s, ec384, CSR_DER, "leaf-ec384.pem");
    issue_app(ca, s, rsa, CSR_PEM, "leaf-rsa.pem");
    issue_app(ca, s, ec256, CSR_SPKI, "leaf-ec-spki.pem");
    issue_app(ca, s, ec384, CSR_SPKI, "leaf-ec384-spki.pem");
    issue_app(ca, s, rsa, CSR_SPKI, "leaf-rsa-spki.pem");
    if (out_dir()) {
        write_file(out_dir(), "root.pem", s->root_cert_pem);
        write_file(out_dir(), "issuing.pem", s->issuing_cert_pem);
    }

    /* The verify check can fail: another zone's root does not anchor this chain. */
    CHECK_EQ_INT(ca_zone_create(seal_key, "zone-2", "default", CA_KEY_P384, &other), 0);
    {
        _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
        _cleanup_free_ unsigned char *der = NULL;
        size_t len = make_csr(ec256, EVP_sha256(), &der);
        struct ca_profile profile = {
            .kind = CA_PROFILE_APP,
            .trust_domain = "acme",
            .app_name = "web",
            .dns_names = app_dns,
            .n_dns_names = 1,
            .claims = &claims,
            .validity_seconds = 3600,
        };

        CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len, NULL, &issued), 0);
        CHECK(openssl_verify(other->root_cert_pem, s->issuing_cert_pem, issued->cert_pem,
                             "sslserver") != 0);
        CHECK(openssl_verify(s->root_cert_pem, other->issuing_cert_pem, issued->cert_pem,
                             "sslserver") != 0);
    }
}

TEST(issue_node_certificate)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(X509_freep) X509 *cert = NULL;
    _cleanup_free_ unsigned char *der = NULL;
    struct ca_profile profile = {
        .kind = CA_PROFILE_NODE,
        .trust_domain = "acme",
        .node_id = "0b8f5a1e-node",
        .validity_seconds = 7 * 86400,
    };
    struct ca_error error = { "" };
    size_t len = make_csr(key, EVP_sha256(), &der);
    char buf[256];

    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P256, &s), 0);
    ca = load_zone(s);
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len, &error, &issued), 0);
    cert = pem_cert(issued->cert_pem);
    CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf)) >
          0);
    CHECK_EQ_STR(buf, "0b8f5a1e-node");
    san_join(cert, GEN_URI, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "spiffe://acme/node/0b8f5a1e-node");
    san_join(cert, GEN_DNS, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(X509_get_extended_key_usage(cert), XKU_SSL_CLIENT);
    CHECK_EQ_INT(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
    CHECK(claims_of(cert) == NULL);
    check_leaf_extensions(cert, ca->issuing, false, false, "URI:spiffe://acme/node/0b8f5a1e-node",
                          false);
    CHECK_EQ_INT(
        openssl_verify(s->root_cert_pem, s->issuing_cert_pem, issued->cert_pem, "sslclient"), 0);
    CHECK(openssl_verify(s->root_cert_pem, s->issuing_cert_pem, issued->cert_pem, "sslserver") !=
          0);
    if (out_dir()) { /* a P-256 zone: its own root and issuing CA */
        write_file(out_dir(), "node.pem", issued->cert_pem);
        write_file(out_dir(), "node-root.pem", s->root_cert_pem);
        write_file(out_dir(), "node-issuing.pem", s->issuing_cert_pem);
    }
}

TEST(long_first_name_leaves_subject_empty)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(X509_freep) X509 *cert = NULL;
    _cleanup_free_ unsigned char *der = NULL;
    /* 65 bytes: one more than a common name holds */
    static const char *const names[] = {
        "a-very-long-label-for-a-host-name-that-goes-on.and-on.example.com", "short.example.com"
    };
    struct ca_profile profile = {
        .kind = CA_PROFILE_APP,
        .trust_domain = "acme",
        .app_name = "web",
        .dns_names = names,
        .n_dns_names = 2,
        .claims = &claims,
        .validity_seconds = 3600,
    };
    size_t len = make_csr(key, EVP_sha256(), &der);
    char buf[256];

    CHECK_EQ_INT(strlen(names[0]), 65);
    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P384, &s), 0);
    ca = load_zone(s);
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len, NULL, &issued), 0);
    cert = pem_cert(issued->cert_pem);
    CHECK_EQ_INT(X509_NAME_entry_count(X509_get_subject_name(cert)), 0);
    CHECK_EQ_INT(X509_EXTENSION_get_critical(
                     X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_subject_alt_name, -1))),
                 1);
    san_join(cert, GEN_DNS, buf, sizeof(buf));
    CHECK(strstr(buf, names[0]));
    check_leaf_extensions(cert, ca->issuing, false, true,
                          "DNS:a-very-long-label-for-a-host-name-that-goes-on.and-on.example.com,"
                          "DNS:short.example.com,URI:spiffe://acme/app/web",
                          true);
    CHECK_EQ_INT(
        openssl_verify(s->root_cert_pem, s->issuing_cert_pem, issued->cert_pem, "sslserver"), 0);
}

/* The claims extension's text is compact JSON with sorted keys, whether ca-issue.c writes it
 * itself (plain ASCII strings) or through jansson (anything else): the same bytes json_dumps
 * makes of it, and only the members that were given. */
TEST(claims_text_is_canonical)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_free_ unsigned char *der = NULL;
    const struct ca_claims variants[] = {
        claims,
        { .measurement = "00ff", .platform = "sim", .isvprodid = -1, .isvsvn = 0 },
        { .tcb_status = "Out\"Of\\Date/\t",
          .node_id = "n\xc3\xa9ud-1",
          .isvprodid = 65535,
          .isvsvn = -1 },
        { .isvprodid = -1, .isvsvn = -1 },
    };
    const size_t members[] = { 8, 4, 4, 1 };
    size_t len = make_csr(key, EVP_sha256(), &der);

    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P256, &s), 0);
    ca = load_zone(s);
    for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
        _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ char *again = NULL;
        _cleanup_(json_decrefp) json_t *obj = NULL;
        struct ca_profile profile = {
            .kind = CA_PROFILE_APP,
            .trust_domain = "acme",
            .app_name = "web",
            .dns_names = app_dns,
            .n_dns_names = 1,
            .claims = &variants[i],
            .validity_seconds = 3600,
        };

        CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len, NULL, &issued), 0);
        cert = pem_cert(issued->cert_pem);
        text = claims_of(cert);
        CHECK(text);
        obj = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        CHECK(obj);
        again = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_EQ_STR(text, again);
        CHECK_EQ_INT(json_object_size(obj), members[i]);
        CHECK_EQ_INT(json_integer_value(json_object_get(obj, "version")), CA_CLAIMS_VERSION);
    }
}

TEST(refused_csrs_and_profiles)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa1024 =
        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    _cleanup_free_ unsigned char *der = NULL;
    _cleanup_free_ unsigned char *der_rsa = NULL;
    _cleanup_free_ unsigned char *der_ed = NULL;
    _cleanup_free_ unsigned char *der_k1 = NULL;
    static const char *const bad_dns[] = { "bad_name.example.com" };
    struct ca_profile profile = {
        .kind = CA_PROFILE_APP,
        .trust_domain = "acme",
        .app_name = "web",
        .dns_names = app_dns,
        .n_dns_names = 1,
        .claims = &claims,
        .validity_seconds = 3600,
    };
    struct ca_profile p;
    struct ca_error error = { "" };
    struct ca_issued *issued = NULL;
    size_t len, len_rsa, len_ed, len_k1;

    CHECK(ec && rsa1024 && ed && k1);
    CHECK_EQ_INT(ca_zone_create(seal_key, zone_id, "default", CA_KEY_P384, &s), 0);
    ca = load_zone(s);
    len = make_csr(ec, EVP_sha256(), &der);
    len_rsa = make_csr(rsa1024, EVP_sha256(), &der_rsa);
    len_ed = make_csr(ed, NULL, &der_ed);
    len_k1 = make_csr(k1, EVP_sha256(), &der_k1);

    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der_rsa, len_rsa, &error, &issued), -EOPNOTSUPP);
    CHECK(strstr(error.message, "RSA key of 1024 bits"));
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der_ed, len_ed, &error, &issued), -EOPNOTSUPP);
    CHECK(strstr(error.message, "ED25519 key not accepted"));
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der_k1, len_k1, &error, &issued), -EOPNOTSUPP);
    CHECK(strstr(error.message, "secp256k1"));

    /* A flipped bit in the signature (the last byte of the DER). */
    der[len - 1] ^= 0x01;
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len, &error, &issued), -EBADMSG);
    CHECK_EQ_STR(error.message, "CSR signature does not verify");
    der[len - 1] ^= 0x01;
    /* A changed byte inside the signed part (the last byte of the public key). */
    der[len / 2] ^= 0x01;
    CHECK(ca_issue_leaf(ca, &profile, der, len, &error, &issued) == -EBADMSG);
    der[len / 2] ^= 0x01;
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len - 1, &error, &issued), -EBADMSG);
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, "garbage", 7, &error, &issued), -EBADMSG);
    CHECK_EQ_INT(
        ca_issue_leaf(ca, &profile, "-----BEGIN CERTIFICATE REQUEST-----\n", 36, &error, &issued),
        -EBADMSG);
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, CA_CSR_MAX + 1, &error, &issued), -E2BIG);

    /* The SPKI path refuses the same keys, and what is not one DER SubjectPublicKeyInfo. */
    {
        _cleanup_free_ unsigned char *spki = NULL;
        unsigned char *k;
        size_t n;

        n = spki_of(rsa1024, &k);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, k, n, &error, &issued), -EOPNOTSUPP);
        OPENSSL_free(k);
        n = spki_of(ed, &k);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, k, n, &error, &issued), -EOPNOTSUPP);
        OPENSSL_free(k);
        n = spki_of(k1, &k);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, k, n, &error, &issued), -EOPNOTSUPP);
        OPENSSL_free(k);
        n = spki_of(ec, &k);
        spki = malloc(n + 1);
        CHECK(spki);
        memcpy(spki, k, n);
        OPENSSL_free(k);
        spki[n] = 0;
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, spki, n + 1, &error, &issued), -EBADMSG);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, spki, n - 1, &error, &issued), -EBADMSG);
        spki[n - 65] = 0x05; /* the point's form byte */
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, spki, n, &error, &issued), -EBADMSG);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, "garbage", 7, &error, &issued), -EBADMSG);
        CHECK_EQ_INT(ca_issue_leaf_spki(ca, &profile, spki, 0, &error, &issued), -EBADMSG);
        CHECK(!issued);
    }

    p = profile;
    p.dns_names = bad_dns;
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -EINVAL);
    p = profile;
    p.n_dns_names = 0;
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -EINVAL);
    p = profile;
    p.claims = NULL;
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -EINVAL);
    p = profile;
    p.app_name = "web/../admin";
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -EINVAL);
    p = profile;
    p.trust_domain = "Acme";
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -EINVAL);
    p = profile;
    p.validity_seconds = CA_LEAF_VALIDITY_MAX + 1;
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -ERANGE);
    p = profile;
    p.validity_seconds = 10;
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -ERANGE);
    p = profile;
    p.kind = CA_PROFILE_NODE;
    p.node_id = "..";
    CHECK_EQ_INT(ca_issue_leaf(ca, &p, der, len, &error, &issued), -EINVAL);
    CHECK(issued == NULL);

    /* The same CSR, intact, is accepted. */
    CHECK_EQ_INT(ca_issue_leaf(ca, &profile, der, len, &error, &issued), 0);
    ca_issued_free(issued);
}

static int
copy_sealed(const struct ca_zone_sealed *from, struct ca_zone_sealed **ret)
{
    struct ca_zone_sealed *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    s->root_cert_pem = strdup(from->root_cert_pem);
    s->issuing_cert_pem = strdup(from->issuing_cert_pem);
    s->root_key_sealed = strdup(from->root_key_sealed);
    s->issuing_key_sealed = strdup(from->issuing_key_sealed);
    if (!s->root_cert_pem || !s->issuing_cert_pem || !s->root_key_sealed ||
        !s->issuing_key_sealed) {
        ca_zone_sealed_free(s);
        return -ENOMEM;
    }
    *ret = s;
    return 0;
}

/* The store stand-in of the CA process: one zone, "stored". */
static int
load_stored(void *userdata, const char *id, struct ca_zone_sealed **ret_sealed)
{
    if (strcmp(id, "stored") != 0)
        return -ENOENT;
    return copy_sealed(userdata, ret_sealed);
}

/* Forks a CA process serving fds[0] and fds[1] of two socketpairs; returns its pid and the client
 * ends in client[]. */
static pid_t
start_ca_process(const struct ca_zone_sealed *stored, int client[2])
{
    int a[2], b[2];
    pid_t pid;

    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct ca_server *server = NULL;
        int fds[2] = { a[1], b[1] }, r;

        close(a[0]);
        close(b[0]);
        r = ca_server_new(seal_key, load_stored, (void *)stored, &server);
        if (r >= 0)
            r = ca_server_serve(server, fds, 2);
        ca_server_free(server);
        _exit(r < 0 ? 1 : 0);
    }
    close(a[1]);
    close(b[1]);
    client[0] = a[0];
    client[1] = b[0];
    return pid;
}

/* ca_csr_check gives the key and the DER SPKI of a verified CSR, whether it reads it on its own
 * (EC P-256 and P-384, uncompressed points) or through d2i_X509_REQ (anything else), and refuses
 * what ca_csr_parse refuses. */
static void
csr_check_one(EVP_PKEY *key, bool pem)
{
    _cleanup_free_ unsigned char *der = NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *got = NULL;
    struct ca_error error = { "" };
    unsigned char *expected = NULL;
    uint8_t *spki = NULL;
    size_t len = make_csr(key, EVP_sha256(), &der), spki_len = 0, expected_len;

    if (pem) {
        text = der_to_pem_csr(der, len);
        CHECK_EQ_INT(ca_csr_check(text, strlen(text), &error, &got, &spki, &spki_len), 0);
    } else {
        CHECK_EQ_INT(ca_csr_check(der, len, &error, &got, &spki, &spki_len), 0);
    }
    CHECK_EQ_INT(EVP_PKEY_eq(got, key), 1);
    expected_len = spki_of(key, &expected);
    CHECK(spki_len == expected_len && memcmp(spki, expected, spki_len) == 0);
    OPENSSL_free(spki);
    OPENSSL_free(expected);
}

TEST(csr_check_fast_and_general)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *packed = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    _cleanup_free_ unsigned char *der = NULL;
    _cleanup_free_ unsigned char *longer = NULL;
    struct ca_error error = { "" };
    EVP_PKEY *got = NULL;
    uint8_t *spki = NULL;
    size_t len, spki_len, point;

    CHECK(ec256 && ec384 && packed && rsa && k1);
    CHECK(EVP_PKEY_set_utf8_string_param(packed, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                         OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1);
    csr_check_one(ec256, false);
    csr_check_one(ec256, true);
    csr_check_one(ec384, false);
    csr_check_one(packed, true);
    csr_check_one(rsa, false);

    CHECK_EQ_INT(ca_csr_check(NULL, 0, &error, &got, &spki, &spki_len), -EBADMSG);
    CHECK_EQ_INT(ca_csr_check("garbage", 7, &error, &got, &spki, &spki_len), -EBADMSG);
    len = make_csr(k1, EVP_sha256(), &der);
    CHECK_EQ_INT(ca_csr_check(der, len, &error, &got, &spki, &spki_len), -EOPNOTSUPP);
    free(der);
    len = make_csr(ec256, EVP_sha256(), &der);
    /* A flipped bit in the signature (the last byte). */
    der[len - 1] ^= 0x01;
    CHECK_EQ_INT(ca_csr_check(der, len, &error, &got, &spki, &spki_len), -EBADMSG);
    CHECK_EQ_STR(error.message, "CSR signature does not verify");
    der[len - 1] ^= 0x01;
    /* The point's last byte: y changed, x not, so off the curve (for an x, two y of 2^256 are on
     * it): refused when the point is decoded, before any signature check. */
    point = 0;
    for (size_t i = 0; i + 3 < len; i++)
        if (der[i] == 0x03 && der[i + 1] == 0x42 && der[i + 2] == 0x00 && der[i + 3] == 0x04) {
            point = i + 4;
            break;
        }
    CHECK(point > 0);
    der[point + 63] ^= 0x01;
    CHECK_EQ_INT(ca_csr_check(der, len, &error, &got, &spki, &spki_len), -EBADMSG);
    CHECK_EQ_STR(error.message, "CSR public key does not parse");
    der[point + 63] ^= 0x01;
    /* A trailing byte; a truncated request. */
    longer = malloc(len + 1);
    CHECK(longer);
    memcpy(longer, der, len);
    longer[len] = 0;
    CHECK_EQ_INT(ca_csr_check(longer, len + 1, &error, &got, &spki, &spki_len), -EBADMSG);
    CHECK_EQ_INT(ca_csr_check(der, len - 1, &error, &got, &spki, &spki_len), -EBADMSG);
    CHECK(!got && !spki);
    CHECK_EQ_INT(ca_csr_check(der, len, &error, &got, &spki, &spki_len), 0);
    EVP_PKEY_free(got);
    OPENSSL_free(spki);
}

/* Sends one issue request for key to the CA process on fd with this id (JSON text) and checks the
 * raw reply: exactly what json_dumps(JSON_COMPACT) writes of the object it parses to (the server
 * writes issue replies without jansson), ok, with a certificate and the same id. */
static void
raw_issue_reply(int fd, EVP_PKEY *key, const char *id)
{
    _cleanup_free_ unsigned char *spki = NULL;
    _cleanup_free_ char *hex = NULL;
    _cleanup_free_ char *req = NULL;
    _cleanup_free_ char *again = NULL;
    _cleanup_free_ char *want_id = NULL;
    _cleanup_(json_decrefp) json_t *reply = NULL;
    static uint8_t buf[4 + CA_FRAME_MAX];
    size_t spki_len = spki_of(key, &spki), len;
    ssize_t n;

    hex = malloc(2 * spki_len + 1);
    CHECK(hex);
    hex_encode(spki, spki_len, hex);
    CHECK(asprintf(&req,
                   "{\"op\":\"issue\",\"zone_id\":\"stored\",\"spki_hex\":\"%s\",\"profile\":"
                   "{\"kind\":\"app\",\"trust_domain\":\"acme\",\"app_name\":\"web\","
                   "\"dns_names\":[\"app.example.com\"],\"validity_seconds\":3600,"
                   "\"claims\":{\"platform\":\"sim\"}},\"id\":%s}",
                   hex, id) > 0);
    len = strlen(req);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    memcpy(buf + 4, req, len);
    CHECK(send(fd, buf, 4 + len, 0) == (ssize_t)(4 + len));
    n = recv(fd, buf, sizeof(buf), 0);
    CHECK(n > 4);
    len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    CHECK_EQ_INT(len, (size_t)n - 4);
    reply = json_loadb((const char *)buf + 4, len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(reply);
    again = json_dumps(reply, JSON_COMPACT);
    CHECK(again);
    CHECK_EQ_INT(strlen(again), len);
    CHECK(memcmp(again, buf + 4, len) == 0);
    CHECK(json_is_true(json_object_get(reply, "ok")));
    CHECK(strstr(json_string_value(json_object_get(reply, "cert")), "BEGIN CERTIFICATE"));
    CHECK(strstr(json_string_value(json_object_get(reply, "chain")), "BEGIN CERTIFICATE"));
    CHECK_EQ_INT(strlen(json_string_value(json_object_get(reply, "serial"))), CA_SERIAL_HEX_LEN);
    want_id = json_dumps(json_object_get(reply, "id"), JSON_ENCODE_ANY);
    CHECK_EQ_STR(want_id, id);
}

/* Sends text as one frame on fd. */
static void
send_frame(int fd, const char *text)
{
    size_t len = strlen(text);
    _cleanup_free_ uint8_t *buf = malloc(4 + len);

    CHECK(buf);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    memcpy(buf + 4, text, len);
    CHECK(send(fd, buf, 4 + len, 0) == (ssize_t)(4 + len));
}

/* The client reads issue replies in the form the CA process writes them without jansson, and any
 * other JSON through jansson: a stand-in server answers first with a stale reply (another id) in
 * that form, which the client drops, then with its reply in another member order and with escapes
 * only jansson reads. */
TEST(ca_client_reads_either_reply_form)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_free_ unsigned char *spki = NULL;
    struct ca_profile profile = {
        .kind = CA_PROFILE_NODE,
        .trust_domain = "acme",
        .node_id = "n1",
        .validity_seconds = 3600,
    };
    struct ca_error error = { "" };
    size_t spki_len = spki_of(key, &spki);
    int sv[2], status;
    pid_t pid;

    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        static uint8_t buf[4 + CA_FRAME_MAX];
        _cleanup_(json_decrefp) json_t *req = NULL;
        char text[512];
        ssize_t n = recv(sv[1], buf, sizeof(buf), 0);
        json_int_t id;

        if (n <= 4 || !(req = json_loadb((const char *)buf + 4, (size_t)n - 4, 0, NULL)))
            _exit(1);
        id = json_integer_value(json_object_get(req, "id"));
        snprintf(text, sizeof(text),
                 "{\"ok\":true,\"cert\":\"STALE\\n\",\"chain\":\"STALE\\n\",\"serial\":"
                 "\"00000000000000000000000000000000\",\"not_before\":1,\"not_after\":2,"
                 "\"id\":%" JSON_INTEGER_FORMAT "}",
                 id + 1);
        send_frame(sv[1], text);
        snprintf(text, sizeof(text),
                 "{\"id\":%" JSON_INTEGER_FORMAT ",\"serial\":\"0123456789abcdef0123456789abcdef\","
                 "\"not_after\":200,\"not_before\":100,\"chain\":\"C\\/D\\n\","
                 "\"cert\":\"A\\u0042\\n\",\"ok\":true}",
                 id);
        send_frame(sv[1], text);
        _exit(0);
    }
    close(sv[1]);
    CHECK_EQ_INT(ca_client_issue_spki(sv[0], "z", &profile, spki, spki_len, &error, &issued), 0);
    CHECK_EQ_STR(issued->cert_pem, "AB\n");
    CHECK_EQ_STR(issued->chain_pem, "C/D\n");
    CHECK_EQ_STR(issued->serial_hex, "0123456789abcdef0123456789abcdef");
    CHECK_EQ_INT(issued->not_before, 100);
    CHECK_EQ_INT(issued->not_after, 200);
    close(sv[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(ca_process_signs_over_a_socketpair)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *stored = NULL;
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *created = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa1024 =
        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    _cleanup_free_ unsigned char *der = NULL;
    _cleanup_free_ unsigned char *der_weak = NULL;
    struct ca_profile profile = {
        .kind = CA_PROFILE_APP,
        .trust_domain = "acme",
        .app_name = "web",
        .dns_names = app_dns,
        .n_dns_names = ELEMENTSOF(app_dns),
        .claims = &claims,
        .validity_seconds = 3600,
    };
    struct ca_error error = { "" };
    struct ca_issued *issued = NULL;
    struct ca_zone_sealed *none = NULL;
    size_t len, len_weak;
    int client[2], status;
    uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff }; /* a header announcing 4 GiB */
    pid_t pid;

    CHECK(ec && rsa1024);
    len = make_csr(ec, EVP_sha256(), &der);
    len_weak = make_csr(rsa1024, EVP_sha256(), &der_weak);
    CHECK_EQ_INT(ca_zone_create(seal_key, "stored", "stored", CA_KEY_P384, &stored), 0);
    pid = start_ca_process(stored, client);

    /* A zone made inside the CA process: only sealed keys come out. */
    CHECK_EQ_INT(ca_client_create_zone(client[0], "made", "made", CA_KEY_P256, &error, &created),
                 0);
    CHECK(!strstr(created->issuing_key_sealed, "PRIVATE"));
    {
        _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;

        /* the sealed keys are under our seal key and zone id */
        CHECK_EQ_INT(ca_zone_load(seal_key, "made", created->root_cert_pem,
                                  created->issuing_cert_pem, created->issuing_key_sealed, &ca),
                     0);
        CHECK_EQ_INT(ca_client_issue(client[0], "made", &profile, der, len, &error, &issued), 0);
        cert = pem_cert(issued->cert_pem);
        CHECK_EQ_INT(X509_verify(cert, X509_get0_pubkey(ca->issuing)), 1);
        CHECK_EQ_INT(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
        CHECK_EQ_STR(issued->chain_pem, ca->chain_pem);
        CHECK_EQ_INT(issued->not_after - issued->not_before, 3600 + CA_BACKDATE_SECONDS);
        CHECK_EQ_INT(openssl_verify(created->root_cert_pem, created->issuing_cert_pem,
                                    issued->cert_pem, "sslserver"),
                     0);
        issued = ca_issued_free(issued);
    }

    /* A zone loaded from the "store" on first use, through the second socket. */
    CHECK_EQ_INT(ca_client_issue(client[1], "stored", &profile, der, len, &error, &issued), 0);
    CHECK_EQ_INT(openssl_verify(stored->root_cert_pem, stored->issuing_cert_pem, issued->cert_pem,
                                "sslserver"),
                 0);
    issued = ca_issued_free(issued);

    /* The raw replies: an integer id (written without jansson) and a string id (with it). */
    raw_issue_reply(client[1], ec, "4503599627370495");
    raw_issue_reply(client[1], ec, "\"not-a-number\"");

    /* Refusals come back with their errno and message; the socket stays usable. */
    CHECK_EQ_INT(ca_client_issue(client[0], "nope", &profile, der, len, &error, &issued), -ENOENT);
    CHECK(strstr(error.message, "zone nope"));
    CHECK_EQ_INT(
        ca_client_issue(client[0], "stored", &profile, der_weak, len_weak, &error, &issued),
        -EOPNOTSUPP);
    CHECK(strstr(error.message, "RSA key of 1024 bits"));
    CHECK_EQ_INT(ca_client_create_zone(client[0], "bad:id", "x", CA_KEY_P384, &error, &none),
                 -EINVAL);
    CHECK(issued == NULL && none == NULL);

    /* A frame longer than CA_FRAME_MAX is consumed whole and ignored (it carries no id to answer
     * to); the same socket and the other one go on working. */
    CHECK(write(client[1], huge, sizeof(huge)) == sizeof(huge));
    CHECK_EQ_INT(ca_client_issue(client[1], "stored", &profile, der, len, &error, &issued), 0);
    issued = ca_issued_free(issued);
    CHECK_EQ_INT(ca_client_issue(client[0], "stored", &profile, der, len, &error, &issued), 0);
    issued = ca_issued_free(issued);

    /* Once every peer has gone, the CA process ends cleanly. */
    close(client[0]);
    close(client[1]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
}

TEST_MAIN(TEST_CASE(zone_ca_p384_profile), TEST_CASE(zone_ca_p256_and_long_names),
          TEST_CASE(sealed_keys_open_only_for_their_zone_and_role),
          TEST_CASE(issue_app_certificates_ec_and_rsa), TEST_CASE(issue_node_certificate),
          TEST_CASE(long_first_name_leaves_subject_empty), TEST_CASE(claims_text_is_canonical),
          TEST_CASE(refused_csrs_and_profiles), TEST_CASE(csr_check_fast_and_general),
          TEST_CASE(ca_client_reads_either_reply_form),
          TEST_CASE(ca_process_signs_over_a_socketpair))
