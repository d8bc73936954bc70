/* libattest: RA-TLS certificates and the TLS verification hook. The binding is recomputed here
 * with EVP calls written in the test, malformed extensions are built byte by byte with OpenSSL
 * directly, real handshakes run over a socketpair, and the certificate is parsed once more by
 * Python's `cryptography` and by the openssl command line. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <attest/attest.h>
#include <attest/ratls.h>

#include "test-files.h"
#include "test.h"

#ifndef SOURCE_ROOT
#error "SOURCE_ROOT must name the source tree"
#endif

/* A peer that gives up closes its socket; writing to it must fail with EPIPE, not kill the
 * test (OpenSSL's socket BIO uses write(2)). */
__attribute__((constructor)) static void
ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static EVP_PKEY *
key_new(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    CHECK(key);
    return key;
}

static void
sha256(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;

    CHECK(ctx);
    CHECK(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    CHECK(EVP_DigestUpdate(ctx, a, a_size) == 1);
    if (b)
        CHECK(EVP_DigestUpdate(ctx, b, b_size) == 1);
    CHECK(EVP_DigestFinal_ex(ctx, out, &n) == 1);
    CHECK_EQ_INT(n, 32);
    EVP_MD_CTX_free(ctx);
}

/* report_data as docs/ratls.md defines it, computed without the library. */
static void
expected_report_data(EVP_PKEY *key, const uint8_t *nonce, size_t nonce_size, uint8_t out[64])
{
    unsigned char *der = NULL;
    uint8_t spki_digest[32];
    int len = i2d_PUBKEY(key, &der);

    CHECK(len > 0);
    sha256(der, (size_t)len, NULL, 0, spki_digest);
    OPENSSL_free(der);
    memset(out, 0, 64);
    if (nonce)
        sha256(nonce, nonce_size, spki_digest, 32, out);
    else
        memcpy(out, spki_digest, 32);
}

/* The agent's side: signs sim evidence with the node key for the report_data given. */
struct producer {
    EVP_PKEY *node_key;
    int calls;
    uint8_t seen[64];
};

static int
produce_sim(const uint8_t report_data[64], void *userdata, struct attest_evidence **ret)
{
    struct producer *producer = userdata;
    struct attest_sim_report report;
    uint8_t *data = NULL;
    size_t size = 0;
    int r;

    memset(&report, 0, sizeof(report));
    report.version = ATTEST_SIM_VERSION;
    memset(report.mrenclave, 0xe1, sizeof(report.mrenclave));
    memset(report.mrsigner, 0x51, sizeof(report.mrsigner));
    report.isvsvn = 3;
    report.attributes = ATTEST_SIM_ATTR_INIT | ATTEST_SIM_ATTR_MODE64BIT;
    memcpy(report.report_data, report_data, 64);
    memcpy(producer->seen, report_data, 64);
    producer->calls++;
    r = attest_sim_report_sign(&report, producer->node_key, &data, &size);
    if (r < 0)
        return r;
    r = attest_evidence_new(ATTEST_PLATFORM_SIM, data, size, ret);
    free(data);
    return r;
}

static struct attest_ratls_cert_options
options_now(void)
{
    time_t now = time(NULL);

    return (struct attest_ratls_cert_options){
        .common_name = "ratls.test",
        .not_before = now - 60,
        .not_after = now + 3600,
    };
}

static X509 *
make_cert(EVP_PKEY *tls_key, EVP_PKEY *node_key)
{
    struct attest_ratls_cert_options options = options_now();
    struct producer producer = { .node_key = node_key };
    X509 *cert = NULL;

    CHECK_EQ_INT(attest_ratls_make_cert(tls_key, &options, produce_sim, &producer, &cert), 0);
    CHECK(cert);
    CHECK_EQ_INT(producer.calls, 1);
    return cert;
}

/* The policy of the tests: a measurement, and simulation explicitly allowed. */
struct policy {
    uint8_t mrenclave[32];
    int calls;
    int refuse_with;
};

static int
check_policy(const struct attest_claims *claims, void *userdata)
{
    struct policy *policy = userdata;

    __atomic_add_fetch(&policy->calls, 1, __ATOMIC_SEQ_CST);
    if (policy->refuse_with)
        return policy->refuse_with;
    if (claims->platform != ATTEST_PLATFORM_SIM || claims->debug ||
        memcmp(claims->mrenclave, policy->mrenclave, 32) != 0)
        return -EPERM;
    return 0;
}

static void
expect_refused(X509 *cert, EVP_PKEY *node_key, const uint8_t *nonce, size_t nonce_size, int error,
               enum attest_step step)
{
    struct attest_trust trust = { .sim_key = node_key };
    struct attest_claims claims;
    enum attest_step failed = ATTEST_STEP_NONE;

    memset(&claims, 0x5a, sizeof(claims));
    CHECK_EQ_INT(
        attest_ratls_verify_cert(cert, &trust, nonce, nonce_size, NULL, NULL, &claims, &failed),
        error);
    CHECK_EQ_STR(attest_step_name(failed), attest_step_name(step));
    CHECK_EQ_INT(((uint8_t *)&claims)[0], 0x5a);
}

TEST(make_and_verify_round_trip)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new();
    struct policy policy = { .calls = 0 };
    struct attest_trust trust = { .sim_key = node_key };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_PARSE;
    struct attest_evidence *evidence = NULL;
    uint8_t expected[64];
    X509 *cert = make_cert(tls_key, node_key);
    X509_EXTENSION *ext;
    ASN1_OBJECT *oid = OBJ_txt2obj("2.23.133.5.4.9", 1);
    int i;

    memset(policy.mrenclave, 0xe1, 32);
    CHECK_EQ_INT(
        attest_ratls_verify_cert(cert, &trust, NULL, 0, check_policy, &policy, &claims, &step), 0);
    CHECK_EQ_INT(step, ATTEST_STEP_NONE);
    CHECK_EQ_INT(policy.calls, 1);
    CHECK_EQ_INT(claims.platform, ATTEST_PLATFORM_SIM);
    CHECK_EQ_INT(claims.isvsvn, 3);
    expected_report_data(tls_key, NULL, 0, expected);
    CHECK(memcmp(claims.report_data, expected, 64) == 0);
    CHECK_EQ_INT(attest_ratls_report_data(tls_key, NULL, 0, expected), 0);
    CHECK(memcmp(claims.report_data, expected, 64) == 0);

    /* The certificate itself: v3, self-signed, CN, one non-critical evidence extension. */
    CHECK_EQ_INT(X509_get_version(cert), X509_VERSION_3);
    CHECK_EQ_INT(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
    CHECK_EQ_INT(X509_verify(cert, tls_key), 1);
    CHECK(X509_check_ca(cert) == 0);
    CHECK(oid);
    i = X509_get_ext_by_OBJ(cert, oid, -1);
    CHECK(i >= 0);
    ext = X509_get_ext(cert, i);
    CHECK_EQ_INT(X509_EXTENSION_get_critical(ext), 0);
    ASN1_OBJECT_free(oid);
    {
        char cn[64];

        CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                        sizeof(cn)) > 0);
        CHECK_EQ_STR(cn, "ratls.test");
    }

    /* The evidence inside is the producer's, and verifies on its own. */
    CHECK_EQ_INT(attest_ratls_get_evidence(cert, &evidence, &step), 0);
    CHECK_EQ_INT(evidence->type, ATTEST_PLATFORM_SIM);
    CHECK_EQ_INT(attest_evidence_verify(evidence, &trust, &claims, &step), 0);
    attest_evidence_free(evidence);

    X509_free(cert);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

TEST(nonce_variant)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new();
    struct attest_ratls_cert_options options = options_now();
    struct producer producer = { .node_key = node_key };
    struct attest_trust trust = { .sim_key = node_key };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_PARSE;
    const uint8_t nonce[] = "manager nonce 0123456789", other[] = "manager nonce 0123456788";
    uint8_t expected[64];
    X509 *cert = NULL;

    options.nonce = nonce;
    options.nonce_size = sizeof(nonce) - 1;
    CHECK_EQ_INT(attest_ratls_make_cert(tls_key, &options, produce_sim, &producer, &cert), 0);
    expected_report_data(tls_key, nonce, sizeof(nonce) - 1, expected);
    CHECK(memcmp(producer.seen, expected, 64) == 0);
    CHECK_EQ_INT(attest_ratls_verify_cert(cert, &trust, nonce, sizeof(nonce) - 1, NULL, NULL,
                                          &claims, &step),
                 0);
    CHECK(memcmp(claims.report_data, expected, 64) == 0);
    expect_refused(cert, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_REPORT_DATA);
    expect_refused(cert, node_key, other, sizeof(other) - 1, -EBADMSG, ATTEST_STEP_REPORT_DATA);

    /* Bad options. */
    options.nonce_size = 0;
    CHECK_EQ_INT(attest_ratls_make_cert(tls_key, &options, produce_sim, &producer, &cert), -EINVAL);
    options = options_now();
    options.not_after = options.not_before;
    CHECK_EQ_INT(attest_ratls_make_cert(tls_key, &options, produce_sim, &producer, &cert), -EINVAL);
    options = options_now();
    options.common_name = "";
    CHECK_EQ_INT(attest_ratls_make_cert(tls_key, &options, produce_sim, &producer, &cert), -EINVAL);

    X509_free(cert);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

TEST(evidence_for_another_key_or_node_is_refused)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new(), *other_key = key_new();
    struct attest_ratls_cert_options options = options_now();
    struct producer producer = { .node_key = node_key };
    struct attest_evidence *evidence = NULL;
    struct attest_trust no_trust = { 0 };
    enum attest_step step;
    uint8_t report_data[64];
    X509 *cert = NULL;

    /* Evidence bound to other_key, in a certificate for tls_key. */
    CHECK_EQ_INT(attest_ratls_report_data(other_key, NULL, 0, report_data), 0);
    CHECK_EQ_INT(produce_sim(report_data, &producer, &evidence), 0);
    CHECK_EQ_INT(attest_ratls_make_cert_evidence(tls_key, &options, evidence, &cert), 0);
    expect_refused(cert, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_REPORT_DATA);
    X509_free(cert);
    cert = NULL;
    /* The same evidence in other_key's certificate is fine. */
    CHECK_EQ_INT(attest_ratls_make_cert_evidence(other_key, &options, evidence, &cert), 0);
    CHECK_EQ_INT(attest_ratls_verify_cert(cert, &(struct attest_trust){ .sim_key = node_key }, NULL,
                                          0, NULL, NULL, NULL, &step),
                 0);
    /* Evidence from another node, and no trust anchor at all. */
    expect_refused(cert, tls_key, NULL, 0, -EKEYREJECTED, ATTEST_STEP_KEY_ID);
    CHECK_EQ_INT(attest_ratls_verify_cert(cert, &no_trust, NULL, 0, NULL, NULL, NULL, &step),
                 -EINVAL);
    CHECK_EQ_INT(step, ATTEST_STEP_TRUST);

    /* Evidence types without a CBOR tag are not put in certificates. */
    evidence->type = ATTEST_PLATFORM_TDX;
    CHECK_EQ_INT(attest_ratls_make_cert_evidence(tls_key, &options, evidence, &cert), -EOPNOTSUPP);

    attest_evidence_free(evidence);
    X509_free(cert);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

/* Flips one byte of the evidence (found by its magic) in the certificate's DER. */
static X509 *
tamper(X509 *cert, size_t offset_in_evidence, EVP_PKEY *resign_key)
{
    unsigned char *der = NULL, *hit;
    const unsigned char *p;
    int len = i2d_X509(cert, &der);
    X509 *changed;

    CHECK(len > 0);
    hit = memmem(der, (size_t)len, "CLSIM", 5);
    CHECK(hit);
    hit[offset_in_evidence] ^= 0x01;
    p = der;
    changed = d2i_X509(NULL, &p, len);
    CHECK(changed);
    OPENSSL_free(der);
    if (resign_key)
        CHECK(X509_sign(changed, resign_key, EVP_sha256()) > 0);
    return changed;
}

TEST(tampered_extension_is_refused)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new();
    X509 *cert = make_cert(tls_key, node_key), *changed;

    /* Changed after signing: the certificate's own signature fails. */
    changed = tamper(cert, 16, NULL);
    expect_refused(changed, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_ENVELOPE);
    X509_free(changed);
    /* Changed and re-signed by the TLS key holder: the evidence's signature fails. */
    changed = tamper(cert, 16, tls_key);
    expect_refused(changed, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_SIGNATURE);
    X509_free(changed);
    /* The magic changed: the evidence does not parse. */
    changed = tamper(cert, 0, tls_key);
    expect_refused(changed, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_PARSE);
    X509_free(changed);

    X509_free(cert);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

/* A self-signed certificate for key made by OpenSSL directly, with n_ext evidence extensions
 * holding value (none if n_ext is 0). */
static X509 *
raw_cert(EVP_PKEY *key, const uint8_t *value, size_t size, int n_ext)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    ASN1_OBJECT *oid = OBJ_txt2obj("2.23.133.5.4.9", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

    CHECK(cert && name && oid && os);
    CHECK(X509_set_version(cert, X509_VERSION_3) == 1);
    CHECK(ASN1_INTEGER_set(X509_get_serialNumber(cert), 7) == 1);
    CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"raw", -1, -1,
                                     0) == 1);
    CHECK(X509_set_subject_name(cert, name) == 1 && X509_set_issuer_name(cert, name) == 1);
    CHECK(X509_gmtime_adj(X509_getm_notBefore(cert), -60));
    CHECK(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
    CHECK(X509_set_pubkey(cert, key) == 1);
    CHECK(ASN1_OCTET_STRING_set(os, value, (int)size) == 1);
    for (int i = 0; i < n_ext; i++) {
        X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);

        CHECK(ext);
        CHECK(X509_add_ext(cert, ext, -1) == 1);
        X509_EXTENSION_free(ext);
    }
    CHECK(X509_sign(cert, key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(os);
    return cert;
}

/* The CBOR of the extension, written out by hand: tag 0x434c5331 as a 4-byte argument (da), then
 * a byte string with a 2-byte length (59) or a 1-byte one (58). */
static size_t
cbor_by_hand(const uint8_t *evidence, size_t size, uint8_t *out)
{
    size_t n = 0;

    out[n++] = 0xda;
    out[n++] = 0x43;
    out[n++] = 0x4c;
    out[n++] = 0x53;
    out[n++] = 0x31;
    if (size < 256) {
        out[n++] = 0x58;
    } else {
        out[n++] = 0x59;
        out[n++] = (uint8_t)(size >> 8);
    }
    out[n++] = (uint8_t)size;
    memcpy(out + n, evidence, size);
    return n + size;
}

static void
expect_raw(EVP_PKEY *tls_key, EVP_PKEY *node_key, const uint8_t *value, size_t size, int n_ext,
           int error, enum attest_step step)
{
    X509 *cert = raw_cert(tls_key, value, size, n_ext);

    if (error == 0) {
        CHECK_EQ_INT(attest_ratls_verify_cert(cert, &(struct attest_trust){ .sim_key = node_key },
                                              NULL, 0, NULL, NULL, NULL, NULL),
                     0);
    } else {
        expect_refused(cert, node_key, NULL, 0, error, step);
    }
    X509_free(cert);
}

TEST(extension_encoding_and_malformed_cbor)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new();
    struct producer producer = { .node_key = node_key };
    struct attest_evidence *evidence = NULL;
    uint8_t report_data[64], good[512], bad[512];
    size_t n;

    CHECK_EQ_INT(attest_ratls_report_data(tls_key, NULL, 0, report_data), 0);
    CHECK_EQ_INT(produce_sim(report_data, &producer, &evidence), 0);
    CHECK(evidence->size >= 256 && evidence->size < 300);
    n = cbor_by_hand(evidence->data, evidence->size, good);
    CHECK_EQ_INT(good[5], 0x59);

    /* The hand-written encoding verifies: the library reads what the convention says. */
    expect_raw(tls_key, node_key, good, n, 1, 0, ATTEST_STEP_NONE);
    /* And the library writes exactly that. */
    {
        X509 *cert = NULL;
        struct attest_ratls_cert_options options = options_now();
        ASN1_OBJECT *oid = OBJ_txt2obj("2.23.133.5.4.9", 1);
        const ASN1_OCTET_STRING *value;

        CHECK_EQ_INT(attest_ratls_make_cert_evidence(tls_key, &options, evidence, &cert), 0);
        value = X509_EXTENSION_get_data(X509_get_ext(cert, X509_get_ext_by_OBJ(cert, oid, -1)));
        CHECK_EQ_INT(ASN1_STRING_length(value), n);
        CHECK(memcmp(ASN1_STRING_get0_data(value), good, n) == 0);
        ASN1_OBJECT_free(oid);
        X509_free(cert);
    }

    /* No extension; two of them. */
    expect_raw(tls_key, node_key, good, n, 0, -ENODATA, ATTEST_STEP_ENVELOPE);
    expect_raw(tls_key, node_key, good, n, 2, -EBADMSG, ATTEST_STEP_ENVELOPE);
    /* Another tag: an unknown evidence format. */
    memcpy(bad, good, n);
    bad[4] = 0x32;
    expect_raw(tls_key, node_key, bad, n, 1, -EPROTONOSUPPORT, ATTEST_STEP_TYPE);
    /* A byte after the byte string; one missing. */
    memcpy(bad, good, n);
    bad[n] = 0x00;
    expect_raw(tls_key, node_key, bad, n + 1, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    expect_raw(tls_key, node_key, good, n - 1, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    /* Truncated heads. */
    expect_raw(tls_key, node_key, good, 3, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    expect_raw(tls_key, node_key, good, 6, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    /* Not a tag first (a byte string), and a text string (major 3) inside the tag. */
    expect_raw(tls_key, node_key, good + 5, n - 5, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    memcpy(bad, good, n);
    bad[5] = 0x79;
    expect_raw(tls_key, node_key, bad, n, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    /* The tag's argument not in its shortest form (8 bytes for a 4-byte value). */
    {
        static const uint8_t head[] = { 0xdb, 0, 0, 0, 0, 0x43, 0x4c, 0x53, 0x31 };

        memcpy(bad, head, sizeof(head));
        memcpy(bad + sizeof(head), good + 5, n - 5);
        expect_raw(tls_key, node_key, bad, sizeof(head) + n - 5, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    }
    /* An indefinite-length byte string (5f ... ff). */
    memcpy(bad, good, 5);
    bad[5] = 0x5f;
    memcpy(bad + 6, good + 5, n - 5);
    bad[n + 1] = 0xff;
    expect_raw(tls_key, node_key, bad, n + 2, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    /* An empty byte string; an empty extension. */
    memcpy(bad, good, 5);
    bad[5] = 0x40;
    expect_raw(tls_key, node_key, bad, 6, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);
    expect_raw(tls_key, node_key, good, 0, 1, -EBADMSG, ATTEST_STEP_ENVELOPE);

    attest_evidence_free(evidence);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

TEST(policy_refusal)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new();
    struct policy policy = { .calls = 0 };
    struct attest_trust trust = { .sim_key = node_key };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_PARSE;
    X509 *cert = make_cert(tls_key, node_key);

    /* Another measurement. */
    memset(policy.mrenclave, 0xe2, 32);
    memset(&claims, 0x5a, sizeof(claims));
    CHECK_EQ_INT(
        attest_ratls_verify_cert(cert, &trust, NULL, 0, check_policy, &policy, &claims, &step),
        -EPERM);
    CHECK_EQ_INT(step, ATTEST_STEP_POLICY);
    CHECK_EQ_INT(((uint8_t *)&claims)[0], 0x5a);
    /* A positive refusal is -EACCES. */
    policy.refuse_with = 1;
    CHECK_EQ_INT(
        attest_ratls_verify_cert(cert, &trust, NULL, 0, check_policy, &policy, &claims, &step),
        -EACCES);
    CHECK_EQ_INT(policy.calls, 2);
    /* The policy is not asked when the evidence fails. */
    CHECK_EQ_INT(attest_ratls_verify_cert(cert, &(struct attest_trust){ .sim_key = tls_key }, NULL,
                                          0, check_policy, &policy, &claims, &step),
                 -EKEYREJECTED);
    CHECK_EQ_INT(policy.calls, 2);

    X509_free(cert);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

/* A TLS server on one end of a socketpair: a certificate and key, optionally verifying its
 * client as RA-TLS too. */
struct server {
    int fd;
    X509 *cert;
    EVP_PKEY *key;
    EVP_PKEY *client_node_key; /* if set: require an RA-TLS client certificate */
    struct policy *client_policy;
    int accepted; /* 1 if the handshake succeeded and a byte was echoed */
};

static void *
server_run(void *arg)
{
    struct server *server = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *ssl = NULL;
    char byte;

    if (!ctx || SSL_CTX_use_certificate(ctx, server->cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, server->key) != 1)
        goto out;
    if (server->client_node_key &&
        attest_ratls_ssl_ctx_set_verify(
            ctx, &(struct attest_trust){ .sim_key = server->client_node_key }, check_policy,
            server->client_policy) < 0)
        goto out;
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, server->fd) != 1)
        goto out;
    if (SSL_accept(ssl) != 1)
        goto out;
    if (SSL_read(ssl, &byte, 1) != 1 || SSL_write(ssl, &byte, 1) != 1)
        goto out;
    server->accepted = 1;
    (void)SSL_shutdown(ssl);
out:
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(server->fd);
    return NULL;
}

struct handshake {
    X509 *server_cert;
    EVP_PKEY *server_key;
    EVP_PKEY *trusted_node_key; /* what the client trusts */
    struct policy *policy;
    /* mutual: the client's certificate, and what the server trusts */
    X509 *client_cert;
    EVP_PKEY *client_key;
    EVP_PKEY *server_trusts;
    /* results */
    long verify_result;
    struct attest_claims peer_claims;
};

/* Runs one handshake; returns whether the client completed it and got its byte back. */
static bool
handshake(struct handshake *h)
{
    int fds[2];
    struct server server = { 0 };
    pthread_t thread;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    char byte = 'x';
    bool ok = false;

    CHECK(ctx);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    server = (struct server){ .fd = fds[1],
                              .cert = h->server_cert,
                              .key = h->server_key,
                              .client_node_key = h->server_trusts,
                              .client_policy = h->policy };
    CHECK(pthread_create(&thread, NULL, server_run, &server) == 0);
    CHECK_EQ_INT(
        attest_ratls_ssl_ctx_set_verify(
            ctx, &(struct attest_trust){ .sim_key = h->trusted_node_key }, check_policy, h->policy),
        0);
    if (h->client_cert) {
        CHECK(SSL_CTX_use_certificate(ctx, h->client_cert) == 1);
        CHECK(SSL_CTX_use_PrivateKey(ctx, h->client_key) == 1);
    }
    ssl = SSL_new(ctx);
    CHECK(ssl);
    CHECK(SSL_set_fd(ssl, fds[0]) == 1);
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, &byte, 1) == 1 && SSL_read(ssl, &byte, 1) == 1 &&
        byte == 'x') {
        ok = true;
        CHECK_EQ_INT(attest_ratls_get_peer_claims(ssl, &h->peer_claims, NULL), 0);
    }
    h->verify_result = SSL_get_verify_result(ssl);
    ERR_clear_error();
    SSL_free(ssl);
    close(fds[0]);
    CHECK(pthread_join(thread, NULL) == 0);
    SSL_CTX_free(ctx);
    /* Both ends agree on the outcome. */
    CHECK_EQ_INT(server.accepted, ok);
    return ok;
}

TEST(tls_handshake_accepts_only_verified_evidence)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new(), *other_node = key_new();
    struct policy policy = { .calls = 0 };
    X509 *cert = make_cert(tls_key, node_key);
    struct handshake h = {
        .server_cert = cert, .server_key = tls_key, .trusted_node_key = node_key, .policy = &policy
    };

    memset(policy.mrenclave, 0xe1, 32);
    CHECK(handshake(&h));
    CHECK_EQ_INT(h.verify_result, X509_V_OK);
    CHECK_EQ_INT(h.peer_claims.isvsvn, 3);
    CHECK(policy.calls >= 1);

    /* Evidence signed by a node the client does not trust. */
    h.trusted_node_key = other_node;
    CHECK(!handshake(&h));
    CHECK_EQ_INT(h.verify_result, X509_V_ERR_APPLICATION_VERIFICATION);
    h.trusted_node_key = node_key;

    /* The policy says no. */
    memset(policy.mrenclave, 0xe2, 32);
    CHECK(!handshake(&h));
    CHECK_EQ_INT(h.verify_result, X509_V_ERR_APPLICATION_VERIFICATION);
    memset(policy.mrenclave, 0xe1, 32);

    /* A certificate without evidence (a plain self-signed one). */
    {
        uint8_t junk[8] = { 0 };

        h.server_cert = raw_cert(tls_key, junk, sizeof(junk), 0);
        CHECK(!handshake(&h));
        CHECK_EQ_INT(h.verify_result, X509_V_ERR_APPLICATION_VERIFICATION);
        X509_free(h.server_cert);
    }
    /* Good evidence, but bound to another key than the certificate's. */
    {
        struct attest_ratls_cert_options options = options_now();
        struct producer producer = { .node_key = node_key };
        struct attest_evidence *evidence = NULL;
        uint8_t report_data[64];

        CHECK_EQ_INT(attest_ratls_report_data(other_node, NULL, 0, report_data), 0);
        CHECK_EQ_INT(produce_sim(report_data, &producer, &evidence), 0);
        h.server_cert = NULL;
        CHECK_EQ_INT(attest_ratls_make_cert_evidence(tls_key, &options, evidence, &h.server_cert),
                     0);
        CHECK(!handshake(&h));
        CHECK_EQ_INT(h.verify_result, X509_V_ERR_APPLICATION_VERIFICATION);
        X509_free(h.server_cert);
        attest_evidence_free(evidence);
    }
    /* An expired certificate with good evidence. */
    {
        struct attest_ratls_cert_options options = options_now();
        struct producer producer = { .node_key = node_key };

        options.not_before -= 7200;
        options.not_after -= 7200;
        CHECK_EQ_INT(
            attest_ratls_make_cert(tls_key, &options, produce_sim, &producer, &h.server_cert), 0);
        CHECK(!handshake(&h));
        CHECK_EQ_INT(h.verify_result, X509_V_ERR_CERT_HAS_EXPIRED);
        X509_free(h.server_cert);
    }

    X509_free(cert);
    EVP_PKEY_free(other_node);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

TEST(tls_mutual_ratls)
{
    EVP_PKEY *node_key = key_new(), *server_key = key_new(), *client_key = key_new();
    EVP_PKEY *other_node = key_new();
    struct policy policy = { .calls = 0 };
    X509 *server_cert = make_cert(server_key, node_key), *client_cert;
    struct handshake h = { .server_cert = server_cert,
                           .server_key = server_key,
                           .trusted_node_key = node_key,
                           .policy = &policy,
                           .server_trusts = node_key };

    memset(policy.mrenclave, 0xe1, 32);
    /* No client certificate: the server refuses. */
    CHECK(!handshake(&h));
    /* An RA-TLS client certificate from a trusted node. */
    client_cert = make_cert(client_key, node_key);
    h.client_cert = client_cert;
    h.client_key = client_key;
    CHECK(handshake(&h));
    /* The server trusts another node. */
    h.server_trusts = other_node;
    CHECK(!handshake(&h));

    X509_free(client_cert);
    X509_free(server_cert);
    EVP_PKEY_free(other_node);
    EVP_PKEY_free(client_key);
    EVP_PKEY_free(server_key);
    EVP_PKEY_free(node_key);
}

/* The hook's policy in one SSL_CTX, shared by handshakes on four threads at once. */
struct concurrent_job {
    SSL_CTX *client_ctx;
    X509 *cert;
    EVP_PKEY *key;
    int successes;
};

static void *
concurrent_run(void *arg)
{
    struct concurrent_job *job = arg;

    for (int i = 0; i < 8; i++) {
        int fds[2];
        struct server server = { 0 };
        pthread_t thread;
        SSL *ssl = SSL_new(job->client_ctx);
        char byte = 'y';

        if (!ssl || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return NULL;
        server = (struct server){ .fd = fds[1], .cert = job->cert, .key = job->key };
        if (pthread_create(&thread, NULL, server_run, &server) != 0)
            return NULL;
        if (SSL_set_fd(ssl, fds[0]) == 1 && SSL_connect(ssl) == 1 &&
            SSL_write(ssl, &byte, 1) == 1 && SSL_read(ssl, &byte, 1) == 1)
            job->successes++;
        ERR_clear_error();
        SSL_free(ssl);
        close(fds[0]);
        pthread_join(thread, NULL);
    }
    return NULL;
}

TEST(tls_concurrent_handshakes_share_one_policy)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new();
    struct policy policy = { .calls = 0 };
    X509 *cert = make_cert(tls_key, node_key);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct concurrent_job jobs[4];
    pthread_t threads[4];

    memset(policy.mrenclave, 0xe1, 32);
    CHECK(ctx);
    CHECK_EQ_INT(attest_ratls_ssl_ctx_set_verify(ctx, &(struct attest_trust){ .sim_key = node_key },
                                                 check_policy, &policy),
                 0);
    /* Set twice: the first policy is released (ASan would see a leak otherwise). */
    CHECK_EQ_INT(attest_ratls_ssl_ctx_set_verify(ctx, &(struct attest_trust){ .sim_key = node_key },
                                                 check_policy, &policy),
                 0);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct concurrent_job){ .client_ctx = ctx, .cert = cert, .key = tls_key };
        CHECK(pthread_create(&threads[i], NULL, concurrent_run, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK_EQ_INT(jobs[i].successes, 8);
    }
    CHECK_EQ_INT(policy.calls, 32);
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

/* Python's cryptography: the extension is present, not critical, and holds tag 0x434c5331
 * around the sim evidence, whose report_data[0..32) is SHA-256 of the certificate's SPKI and
 * [32..64) zero; the certificate's self-signature verifies. */
static const char python_check[] =
    "import sys, hashlib\n"
    "from cryptography import x509\n"
    "from cryptography.hazmat.primitives import serialization\n"
    "from cryptography.hazmat.primitives.asymmetric import ec\n"
    "cert = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())\n"
    "ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier('2.23.133.5.4.9'))\n"
    "assert not ext.critical\n"
    "v = ext.value.value\n"
    "assert v[:5] == bytes.fromhex('da434c5331'), v[:5].hex()\n"
    "assert v[5] == 0x59 and int.from_bytes(v[6:8], 'big') == len(v) - 8\n"
    "ev = v[8:]\n"
    "assert ev[:5] == b'CLSIM'\n"
    "spki = cert.public_key().public_bytes(serialization.Encoding.DER,\n"
    "    serialization.PublicFormat.SubjectPublicKeyInfo)\n"
    "assert ev[96:128] == hashlib.sha256(spki).digest()\n"
    "assert ev[128:160] == bytes(32)\n"
    "cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes,\n"
    "    ec.ECDSA(cert.signature_hash_algorithm))\n"
    "assert cert.version == x509.Version.v3\n"
    "bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)\n"
    "assert bc.critical and not bc.value.ca\n";

static bool
file_contains(const char *path, const char *needle)
{
    static char buf[65536];
    FILE *f = fopen(path, "re");
    size_t n;

    CHECK(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

TEST(independent_parsers_find_the_extension)
{
    EVP_PKEY *node_key = key_new(), *tls_key = key_new(), *other_key = key_new();
    X509 *cert = make_cert(tls_key, node_key), *wrong;
    char dir[] = "/tmp/test-attest-ratls.XXXXXX", pem[64], text[64];
    char *python[] = { "python3", "-c", (char *)python_check, pem, NULL };
    char *openssl[] = { "openssl", "x509",     "-in",      pem, "-noout",
                        "-text",   "-certopt", "ext_dump", NULL };
    struct attest_ratls_cert_options options = options_now();
    struct producer producer = { .node_key = node_key };
    struct attest_evidence *evidence = NULL;
    uint8_t report_data[64];
    FILE *f;

    CHECK(mkdtemp(dir));
    (void)snprintf(pem, sizeof(pem), "%s/cert.pem", dir);
    (void)snprintf(text, sizeof(text), "%s/cert.txt", dir);
    f = fopen(pem, "we");
    CHECK(f);
    CHECK(PEM_write_X509(f, cert) == 1);
    CHECK(fclose(f) == 0);
    CHECK_EQ_INT(test_run(python, NULL, false), 0);
    CHECK_EQ_INT(test_run(openssl, text, false), 0);
    CHECK(file_contains(text, "2.23.133.5.4.9:"));
    CHECK(file_contains(text, "0000 - da 43 4c 53 31 59"));
    CHECK(file_contains(text, "CN = ratls.test"));

    /* The Python check can fail: evidence bound to another key. */
    CHECK_EQ_INT(attest_ratls_report_data(other_key, NULL, 0, report_data), 0);
    CHECK_EQ_INT(produce_sim(report_data, &producer, &evidence), 0);
    CHECK_EQ_INT(attest_ratls_make_cert_evidence(tls_key, &options, evidence, &wrong), 0);
    f = fopen(pem, "we");
    CHECK(f);
    CHECK(PEM_write_X509(f, wrong) == 1);
    CHECK(fclose(f) == 0);
    CHECK(test_run(python, NULL, true) != 0);

    unlink(pem);
    unlink(text);
    rmdir(dir);
    attest_evidence_free(evidence);
    X509_free(wrong);
    X509_free(cert);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(node_key);
}

static X509 *
load_vector(const char *name)
{
    static uint8_t buf[4096];
    const unsigned char *p = buf;
    char path[256];
    size_t n;
    X509 *cert;

    (void)snprintf(path, sizeof(path), "%s/fuzz/corpus/ratls-cert/%s", SOURCE_ROOT, name);
    n = test_read_file(path, buf, sizeof(buf));
    cert = d2i_X509(NULL, &p, (long)n);
    CHECK(cert);
    return cert;
}

/* A certificate made by Python's cryptography (docs/ratls.md) with sim evidence signed by the
 * sim test vector's node key verifies; its broken variants do not. */
TEST(python_made_certificate_verifies)
{
    static const uint8_t spki[] = {
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        0x04, 0xcd, 0xb9, 0x39, 0x84, 0x23, 0x57, 0xd2, 0x54, 0xae, 0xc4, 0x56, 0x1a,
        0x79, 0x05, 0x1f, 0x83, 0x42, 0x0f, 0x8d, 0xf8, 0x0f, 0xf1, 0x5a, 0xc7, 0x81,
        0x25, 0x0d, 0xf7, 0xb1, 0xe7, 0x67, 0x4a, 0xa0, 0xea, 0x6a, 0x56, 0xe0, 0xb9,
        0xf1, 0xd9, 0x2f, 0x9e, 0xfa, 0x59, 0xd9, 0x42, 0x46, 0xf9, 0x0e, 0x26, 0xdb,
        0x67, 0x8e, 0x23, 0x22, 0xf3, 0xf9, 0xf4, 0xe3, 0xdf, 0xf2, 0xe8, 0xb0, 0x62,
    };
    const unsigned char *p = spki;
    EVP_PKEY *node_key = d2i_PUBKEY(NULL, &p, sizeof(spki));
    struct attest_trust trust = { .sim_key = node_key };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_PARSE;
    X509 *cert = load_vector("valid.der");

    CHECK(node_key);
    CHECK_EQ_INT(attest_ratls_verify_cert(cert, &trust, NULL, 0, NULL, NULL, &claims, &step), 0);
    CHECK_EQ_INT(claims.isvprodid, 0x1234);
    CHECK_EQ_INT(claims.isvsvn, 7);
    for (int i = 0; i < 32; i++)
        CHECK_EQ_INT(claims.mrenclave[i], i);
    X509_free(cert);

    cert = load_vector("wrong-key.der");
    expect_refused(cert, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_REPORT_DATA);
    X509_free(cert);
    cert = load_vector("tampered.der");
    expect_refused(cert, node_key, NULL, 0, -EBADMSG, ATTEST_STEP_ENVELOPE);
    X509_free(cert);
    cert = load_vector("no-extension.der");
    expect_refused(cert, node_key, NULL, 0, -ENODATA, ATTEST_STEP_ENVELOPE);
    X509_free(cert);
    EVP_PKEY_free(node_key);
}

TEST_MAIN(TEST_CASE(make_and_verify_round_trip), TEST_CASE(nonce_variant),
          TEST_CASE(evidence_for_another_key_or_node_is_refused),
          TEST_CASE(tampered_extension_is_refused),
          TEST_CASE(extension_encoding_and_malformed_cbor), TEST_CASE(policy_refusal),
          TEST_CASE(tls_handshake_accepts_only_verified_evidence), TEST_CASE(tls_mutual_ratls),
          TEST_CASE(tls_concurrent_handshakes_share_one_policy),
          TEST_CASE(independent_parsers_find_the_extension),
          TEST_CASE(python_made_certificate_verifies))
