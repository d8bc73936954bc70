/* libattest: the sim evidence format, the envelope and the report_data binding. Digests and key
 * ids are recomputed here with EVP calls written in the test, signatures are checked once more
 * with the openssl command line, and a report made by Python's `cryptography`
 * (fuzz/corpus/sim-evidence/valid-v1.bin, docs/sim-evidence.md) is verified. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attest/attest.h>

#include "test-files.h"
#include "test.h"

#ifndef SOURCE_ROOT
#error "SOURCE_ROOT must name the source tree"
#endif

/* The public key of the Python-made test vector (docs/sim-evidence.md). */
static const char vector_spki_hex[] =
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004cdb939842357d254aec4561a79051f83420f8d"
    "f80ff15ac781250df7b1e7674aa0ea6a56e0b9f1d92f9efa59d94246f90e26db678e2322f3f9f4e3dff2e8b062";

static EVP_PKEY *
key_new(const char *curve)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

    CHECK(key);
    return key;
}

/* SHA-256 of DER SPKI, computed here rather than by the library. */
static void
spki_sha256(EVP_PKEY *key, uint8_t out[32])
{
    unsigned char *der = NULL;
    unsigned int n = 0;
    int len = i2d_PUBKEY(key, &der);

    CHECK(len > 0);
    CHECK(EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(), NULL) == 1);
    CHECK_EQ_INT(n, 32);
    OPENSSL_free(der);
}

static void
sample_report(struct attest_sim_report *report)
{
    memset(report, 0, sizeof(*report));
    report->version = ATTEST_SIM_VERSION;
    for (int i = 0; i < 32; i++) {
        report->mrenclave[i] = (uint8_t)(0xa0 + i);
        report->mrsigner[i] = (uint8_t)(0x10 + i);
    }
    report->isvprodid = 0x0102;
    report->isvsvn = 0x0304;
    report->attributes = ATTEST_SIM_ATTR_INIT | ATTEST_SIM_ATTR_MODE64BIT;
    for (int i = 0; i < 64; i++)
        report->report_data[i] = (uint8_t)i;
}

static void
sign_sample(EVP_PKEY *key, uint64_t attributes, uint8_t **data, size_t *size)
{
    struct attest_sim_report report;

    sample_report(&report);
    report.attributes = attributes;
    CHECK_EQ_INT(attest_sim_report_sign(&report, key, data, size), 0);
}

static void
expect_failure(const uint8_t *data, size_t size, EVP_PKEY *key, int error, enum attest_step step)
{
    struct attest_claims claims;
    enum attest_step failed = ATTEST_STEP_NONE;

    memset(&claims, 0x5a, sizeof(claims));
    CHECK_EQ_INT(attest_sim_verify(data, size, key, &claims, &failed), error);
    CHECK_EQ_STR(attest_step_name(failed), attest_step_name(step));
    /* Nothing is written on failure. */
    CHECK_EQ_INT(((uint8_t *)&claims)[0], 0x5a);
}

TEST(sign_parse_verify_round_trip)
{
    EVP_PKEY *key = key_new("P-256");
    struct attest_sim_report report, parsed;
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_PARSE;
    uint8_t *data = NULL, key_id[32];
    size_t size = 0;

    sample_report(&report);
    CHECK_EQ_INT(attest_sim_report_sign(&report, key, &data, &size), 0);
    CHECK(size > ATTEST_SIM_BODY_SIZE + 2 && size <= ATTEST_SIM_SIZE_MAX);
    /* Layout spot checks against docs/sim-evidence.md, independent of the parser. */
    CHECK(memcmp(data, "CLSIM\0\x01\x00", 8) == 0);
    CHECK_EQ_INT(data[80], 0x02);
    CHECK_EQ_INT(data[81], 0x01);
    CHECK_EQ_INT(data[88], 0x05);
    CHECK_EQ_INT(data[192] | data[193] << 8, size - 194);
    spki_sha256(key, key_id);
    CHECK(memcmp(data + 160, key_id, 32) == 0);

    CHECK_EQ_INT(attest_sim_report_parse(data, size, &parsed, &step), 0);
    CHECK_EQ_INT(step, ATTEST_STEP_NONE);
    CHECK(memcmp(parsed.mrenclave, report.mrenclave, 32) == 0);
    CHECK(memcmp(parsed.key_id, key_id, 32) == 0);

    step = ATTEST_STEP_PARSE;
    CHECK_EQ_INT(attest_sim_verify(data, size, key, &claims, &step), 0);
    CHECK_EQ_INT(step, ATTEST_STEP_NONE);
    CHECK_EQ_INT(claims.platform, ATTEST_PLATFORM_SIM);
    CHECK_EQ_STR(attest_platform_name(claims.platform), "sim");
    CHECK_EQ_STR(attest_tcb_status_name(claims.tcb_status), "SimulatedInsecure");
    CHECK(memcmp(claims.mrenclave, report.mrenclave, 32) == 0);
    CHECK(memcmp(claims.mrsigner, report.mrsigner, 32) == 0);
    CHECK_EQ_INT(claims.isvprodid, 0x0102);
    CHECK_EQ_INT(claims.isvsvn, 0x0304);
    CHECK_EQ_INT(claims.attributes, 5);
    CHECK(!claims.debug);
    CHECK(memcmp(claims.report_data, report.report_data, 64) == 0);
    CHECK(memcmp(claims.key_id, key_id, 32) == 0);

    /* The same through the DER SPKI form of the key. */
    {
        unsigned char *der = NULL;
        int len = i2d_PUBKEY(key, &der);
        struct attest_claims again;

        CHECK(len > 0);
        CHECK_EQ_INT(attest_sim_verify_spki(data, size, der, (size_t)len, &again, &step), 0);
        CHECK(memcmp(&again, &claims, sizeof(again)) == 0);
        CHECK_EQ_INT(attest_sim_verify_spki(data, size, der, (size_t)len - 1, &again, &step),
                     -EINVAL);
        CHECK_EQ_INT(step, ATTEST_STEP_TRUST);
        OPENSSL_free(der);
    }
    free(data);
    EVP_PKEY_free(key);
}

TEST(debug_bit_is_reported)
{
    EVP_PKEY *key = key_new("P-256");
    struct attest_claims claims;
    json_t *json = NULL;
    uint8_t *data = NULL;
    size_t size = 0;

    sign_sample(key, ATTEST_SIM_ATTR_INIT | ATTEST_SIM_ATTR_DEBUG, &data, &size);
    CHECK_EQ_INT(attest_sim_verify(data, size, key, &claims, NULL), 0);
    CHECK(claims.debug);
    CHECK_EQ_INT(claims.attributes, 3);
    CHECK_EQ_INT(attest_claims_to_json(&claims, &json), 0);
    CHECK(json_is_true(json_object_get(json, "debug")));
    CHECK(json_is_true(json_object_get(json, "insecure")));
    CHECK_EQ_STR(json_string_value(json_object_get(json, "platform")), "sim");
    CHECK_EQ_STR(json_string_value(json_object_get(json, "tcb_status")), "SimulatedInsecure");
    CHECK_EQ_STR(json_string_value(json_object_get(json, "attributes")), "0000000000000003");
    CHECK_EQ_STR(json_string_value(json_object_get(json, "mrenclave")),
                 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
    CHECK_EQ_INT(json_integer_value(json_object_get(json, "isvsvn")), 0x0304);
    json_decref(json);
    free(data);

    /* Other attribute bits do not make a report debug. */
    sign_sample(key, ~ATTEST_SIM_ATTR_DEBUG, &data, &size);
    CHECK_EQ_INT(attest_sim_verify(data, size, key, &claims, NULL), 0);
    CHECK(!claims.debug);
    free(data);
    EVP_PKEY_free(key);
}

TEST(structure_failures_name_parse_or_version)
{
    EVP_PKEY *key = key_new("P-256");
    uint8_t *data = NULL, *longer;
    size_t size = 0;

    sign_sample(key, 0, &data, &size);
    longer = calloc(1, size + 1);
    CHECK(longer);

    data[0] ^= 0x01; /* bad magic */
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[0] ^= 0x01;
    data[5] = 1; /* reserved byte after the magic */
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[5] = 0;
    data[6] = 2; /* version 2 */
    expect_failure(data, size, key, -EPROTONOSUPPORT, ATTEST_STEP_VERSION);
    data[6] = 0; /* version 0 */
    expect_failure(data, size, key, -EPROTONOSUPPORT, ATTEST_STEP_VERSION);
    data[6] = 1;
    data[7] = 1; /* version 0x101 */
    expect_failure(data, size, key, -EPROTONOSUPPORT, ATTEST_STEP_VERSION);
    data[7] = 0;
    data[8] = 1; /* format flags */
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[8] = 0;
    data[13] = 1; /* reserved */
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[13] = 0;
    data[87] = 1; /* reserved */
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[87] = 0;

    /* Truncated anywhere, including inside the signature. */
    for (size_t n = 0; n < size; n++)
        expect_failure(data, n, key, -EBADMSG, ATTEST_STEP_PARSE);
    /* Trailing bytes. */
    memcpy(longer, data, size);
    expect_failure(longer, size + 1, key, -EBADMSG, ATTEST_STEP_PARSE);
    /* Signature length out of bounds or disagreeing with the size. */
    data[192] = 7;
    data[193] = 0;
    expect_failure(data, 194 + 7, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[192] = 73;
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[192] = (uint8_t)(size - 194);
    data[193] = 1;
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_PARSE);
    data[193] = 0;
    {
        struct attest_claims claims;

        CHECK_EQ_INT(attest_sim_verify(data, size, key, &claims, NULL), 0);
    }
    free(longer);
    free(data);
    EVP_PKEY_free(key);
}

TEST(key_and_signature_failures)
{
    EVP_PKEY *key = key_new("P-256"), *other = key_new("P-256"), *p384 = key_new("P-384");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    struct attest_claims claims;
    uint8_t *data = NULL, other_id[32];
    size_t size = 0;

    CHECK(rsa);
    sign_sample(key, 0, &data, &size);

    /* The trust anchor must be a P-256 key. */
    expect_failure(data, size, NULL, -EINVAL, ATTEST_STEP_TRUST);
    expect_failure(data, size, p384, -EINVAL, ATTEST_STEP_TRUST);
    expect_failure(data, size, rsa, -EINVAL, ATTEST_STEP_TRUST);

    /* Another node's key: the key id does not match. */
    expect_failure(data, size, other, -EKEYREJECTED, ATTEST_STEP_KEY_ID);

    /* A bit flipped in the body (mrenclave), then in the signature's s. */
    data[16] ^= 0x80;
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_SIGNATURE);
    data[16] ^= 0x80;
    data[size - 1] ^= 0x01;
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_SIGNATURE);
    data[size - 1] ^= 0x01;
    /* A DER signature that no longer parses. */
    data[194] ^= 0xff;
    expect_failure(data, size, key, -EBADMSG, ATTEST_STEP_SIGNATURE);
    data[194] ^= 0xff;
    CHECK_EQ_INT(attest_sim_verify(data, size, key, &claims, NULL), 0);

    /* Signed by one key, claiming another's id: the id matches, the signature does not. */
    spki_sha256(other, other_id);
    memcpy(data + 160, other_id, 32);
    expect_failure(data, size, other, -EBADMSG, ATTEST_STEP_SIGNATURE);

    /* Signing needs a P-256 key and a version 1 report without flags. */
    {
        struct attest_sim_report report;
        uint8_t *out = (uint8_t *)&claims;
        size_t out_size = 0;

        sample_report(&report);
        CHECK_EQ_INT(attest_sim_report_sign(&report, p384, &out, &out_size), -EINVAL);
        CHECK_EQ_INT(attest_sim_report_sign(&report, rsa, &out, &out_size), -EINVAL);
        /* A public key cannot sign. */
        {
            unsigned char *der = NULL;
            const unsigned char *p;
            int len = i2d_PUBKEY(key, &der);
            EVP_PKEY *pub;

            CHECK(len > 0);
            p = der;
            pub = d2i_PUBKEY(NULL, &p, len);
            CHECK(pub);
            CHECK_EQ_INT(attest_sim_report_sign(&report, pub, &out, &out_size), -EIO);
            EVP_PKEY_free(pub);
            OPENSSL_free(der);
        }
        report.version = 2;
        CHECK_EQ_INT(attest_sim_report_sign(&report, key, &out, &out_size), -EINVAL);
        report.version = 1;
        report.flags = 1;
        CHECK_EQ_INT(attest_sim_report_sign(&report, key, &out, &out_size), -EINVAL);
        CHECK(out == (uint8_t *)&claims);
    }
    free(data);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);
}

static X509_REQ *
csr_new(EVP_PKEY *key)
{
    X509_REQ *req = X509_REQ_new();

    CHECK(req);
    CHECK(X509_REQ_set_pubkey(req, key) == 1);
    CHECK(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    return req;
}

TEST(report_data_binding)
{
    EVP_PKEY *node = key_new("P-256"), *app = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *other = key_new("P-256");
    X509_REQ *csr, *other_csr = csr_new(other);
    static const uint8_t nonce[] = "3q2+7w-nonce-from-the-manager";
    uint8_t expected[64] = { 0 }, got[64], key_digest[32], manifest[32];
    struct attest_sim_report report;
    struct attest_claims claims, tdx;
    enum attest_step step = ATTEST_STEP_NONE;
    uint8_t *data = NULL;
    size_t size = 0;

    CHECK(app);
    csr = csr_new(app);
    /* Independently: SHA-256(nonce || SHA-256(DER SPKI)), second half zero. */
    {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned int n = 0;

        spki_sha256(app, key_digest);
        CHECK(ctx);
        CHECK(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
        CHECK(EVP_DigestUpdate(ctx, nonce, sizeof(nonce) - 1) == 1);
        CHECK(EVP_DigestUpdate(ctx, key_digest, 32) == 1);
        CHECK(EVP_DigestFinal_ex(ctx, expected, &n) == 1);
        EVP_MD_CTX_free(ctx);
    }
    CHECK_EQ_INT(attest_report_data_compute_csr(nonce, sizeof(nonce) - 1, csr, NULL, got), 0);
    CHECK(memcmp(got, expected, 64) == 0);
    CHECK_EQ_INT(attest_report_data_compute(nonce, sizeof(nonce) - 1, app, NULL, got), 0);
    CHECK(memcmp(got, expected, 64) == 0);
    CHECK_EQ_INT(attest_report_data_compute(nonce, 0, app, NULL, got), -EINVAL);
    CHECK_EQ_INT(attest_report_data_compute(nonce, ATTEST_NONCE_MAX + 1, app, NULL, got), -EINVAL);

    /* Evidence made with it verifies and binds; anything else does not. */
    sample_report(&report);
    memcpy(report.report_data, expected, 64);
    CHECK_EQ_INT(attest_sim_report_sign(&report, node, &data, &size), 0);
    CHECK_EQ_INT(attest_sim_verify(data, size, node, &claims, NULL), 0);
    CHECK_EQ_INT(
        attest_claims_check_binding_csr(&claims, nonce, sizeof(nonce) - 1, csr, NULL, &step), 0);
    CHECK_EQ_INT(step, ATTEST_STEP_NONE);
    CHECK_EQ_INT(attest_claims_check_binding(&claims, nonce, sizeof(nonce) - 1, app, NULL, &step),
                 0);
    /* The same from the key's DER SPKI, as the manager holds it; a byte changed, none given. */
    {
        unsigned char *spki = NULL;
        int n = i2d_PUBKEY(app, &spki);

        CHECK(n > 0);
        CHECK_EQ_INT(attest_claims_check_binding_spki(&claims, nonce, sizeof(nonce) - 1, spki,
                                                      (size_t)n, NULL, &step),
                     0);
        CHECK_EQ_INT(step, ATTEST_STEP_NONE);
        spki[n - 1] ^= 1;
        CHECK_EQ_INT(attest_claims_check_binding_spki(&claims, nonce, sizeof(nonce) - 1, spki,
                                                      (size_t)n, NULL, &step),
                     -EBADMSG);
        CHECK_EQ_INT(step, ATTEST_STEP_REPORT_DATA);
        CHECK_EQ_INT(attest_claims_check_binding_spki(&claims, nonce, sizeof(nonce) - 1, NULL, 0,
                                                      NULL, &step),
                     -EINVAL);
        CHECK_EQ_INT(
            attest_claims_check_binding_spki(&claims, nonce, 0, spki, (size_t)n, NULL, &step),
            -EINVAL);
        OPENSSL_free(spki);
    }
    /* Another nonce, a prefix of it, another CSR key. */
    CHECK_EQ_INT(
        attest_claims_check_binding_csr(&claims, nonce, sizeof(nonce) - 2, csr, NULL, &step),
        -EBADMSG);
    CHECK_EQ_INT(step, ATTEST_STEP_REPORT_DATA);
    CHECK_EQ_INT(
        attest_claims_check_binding_csr(&claims, (const uint8_t *)"other", 5, csr, NULL, &step),
        -EBADMSG);
    CHECK_EQ_INT(
        attest_claims_check_binding_csr(&claims, nonce, sizeof(nonce) - 1, other_csr, NULL, &step),
        -EBADMSG);
    CHECK_EQ_STR(attest_step_name(step), "report_data");
    /* For sim the second half must be zero, and a manifest digest is not accepted. */
    memset(manifest, 0x77, sizeof(manifest));
    CHECK_EQ_INT(
        attest_claims_check_binding_csr(&claims, nonce, sizeof(nonce) - 1, csr, manifest, &step),
        -EINVAL);
    claims.report_data[63] ^= 1;
    CHECK_EQ_INT(
        attest_claims_check_binding_csr(&claims, nonce, sizeof(nonce) - 1, csr, NULL, &step),
        -EBADMSG);
    claims.report_data[63] ^= 1;

    /* A platform that binds the manifest (claims made by hand) needs the digest. */
    tdx = claims;
    tdx.platform = ATTEST_PLATFORM_TDX;
    memcpy(tdx.report_data + 32, manifest, 32);
    CHECK(attest_platform_binds_manifest(ATTEST_PLATFORM_TDX));
    CHECK(!attest_platform_binds_manifest(ATTEST_PLATFORM_SIM));
    CHECK_EQ_INT(attest_claims_check_binding(&tdx, nonce, sizeof(nonce) - 1, app, manifest, &step),
                 0);
    CHECK_EQ_INT(attest_claims_check_binding(&tdx, nonce, sizeof(nonce) - 1, app, NULL, &step),
                 -EINVAL);
    manifest[0] ^= 1;
    CHECK_EQ_INT(attest_claims_check_binding(&tdx, nonce, sizeof(nonce) - 1, app, manifest, &step),
                 -EBADMSG);

    free(data);
    X509_REQ_free(csr);
    X509_REQ_free(other_csr);
    EVP_PKEY_free(node);
    EVP_PKEY_free(app);
    EVP_PKEY_free(other);
}

static void
expect_envelope(const char *text, int error, enum attest_step step)
{
    struct attest_evidence *evidence = NULL;
    enum attest_step failed = ATTEST_STEP_NONE;
    int r = attest_evidence_parse(text, strlen(text), &evidence, &failed);

    if (r != error)
        fprintf(stderr, "  envelope %s\n", text);
    CHECK_EQ_INT(r, error);
    CHECK_EQ_STR(attest_step_name(failed), attest_step_name(step));
    CHECK(r == 0 || !evidence);
    attest_evidence_free(evidence);
}

/* The key digest of report_data is SHA-256 of what i2d_PUBKEY gives, whichever way libattest
 * builds it (EC P-256 and P-384 keys with uncompressed points take a shortcut). */
TEST(key_digest_matches_i2d_pubkey)
{
    static const uint8_t nonce[] = "nonce";
    EVP_PKEY *keys[5] = {
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"),
        EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1"),
        EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
    };

    /* A key that encodes its point compressed. */
    CHECK(keys[3]);
    CHECK(EVP_PKEY_set_utf8_string_param(keys[3], OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                         OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        uint8_t key_digest[32], expected[64] = { 0 }, got[64];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned int n = 0;

        CHECK(keys[i] && ctx);
        spki_sha256(keys[i], key_digest);
        CHECK(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
        CHECK(EVP_DigestUpdate(ctx, nonce, sizeof(nonce) - 1) == 1);
        CHECK(EVP_DigestUpdate(ctx, key_digest, 32) == 1);
        CHECK(EVP_DigestFinal_ex(ctx, expected, &n) == 1);
        EVP_MD_CTX_free(ctx);
        CHECK_EQ_INT(attest_report_data_compute(nonce, sizeof(nonce) - 1, keys[i], NULL, got), 0);
        CHECK(memcmp(got, expected, 64) == 0);
        EVP_PKEY_free(keys[i]);
    }
}

TEST(envelope_round_trip_and_refusals)
{
    EVP_PKEY *key = key_new("P-256");
    struct attest_evidence *evidence = NULL, *parsed = NULL;
    struct attest_trust trust = { 0 };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_NONE;
    char *text = NULL, *big;
    uint8_t *data = NULL;
    size_t size = 0;

    sign_sample(key, 0, &data, &size);
    CHECK_EQ_INT(attest_evidence_new(ATTEST_PLATFORM_SIM, data, size, &evidence), 0);
    CHECK_EQ_INT(attest_evidence_format(evidence, &text), 0);
    CHECK(strncmp(text, "{\"type\":\"sim\",\"data\":\"Q0xTSU0AAQAAAAAA", 38) == 0);
    CHECK_EQ_INT(attest_evidence_parse(text, strlen(text), &parsed, &step), 0);
    CHECK_EQ_INT(parsed->type, ATTEST_PLATFORM_SIM);
    CHECK_EQ_INT(parsed->size, size);
    CHECK(memcmp(parsed->data, data, size) == 0);
    CHECK_EQ_INT(attest_evidence_verify(parsed, &trust, &claims, &step), -EINVAL);
    CHECK_EQ_INT(step, ATTEST_STEP_TRUST);
    trust.sim_key = key;
    CHECK_EQ_INT(attest_evidence_verify(parsed, &trust, &claims, &step), 0);
    CHECK_EQ_INT(step, ATTEST_STEP_NONE);
    CHECK_EQ_INT(claims.isvsvn, 0x0304);
    parsed = attest_evidence_free(parsed);
    free(text);

    /* Known hardware types parse, and are refused by name at verification. */
    expect_envelope("{\"type\":\"tdx\",\"data\":\"AAAA\"}", 0, ATTEST_STEP_NONE);
    CHECK_EQ_INT(
        attest_evidence_parse("{\"data\":\"AAAA\",\"type\":\"sgx-dcap\"}", 33, &parsed, &step), 0);
    CHECK_EQ_INT(attest_evidence_verify(parsed, &trust, &claims, &step), -EOPNOTSUPP);
    CHECK_EQ_STR(attest_step_name(step), "type");
    parsed = attest_evidence_free(parsed);

    /* Unknown types, whatever the data. */
    expect_envelope("{\"type\":\"sgx\",\"data\":\"AAAA\"}", -EPROTONOSUPPORT, ATTEST_STEP_TYPE);
    expect_envelope("{\"type\":\"SIM\",\"data\":\"!!\"}", -EPROTONOSUPPORT, ATTEST_STEP_TYPE);
    /* jansson refuses NUL in text; a json_t made in memory may hold one. */
    expect_envelope("{\"type\":\"sim\\u0000x\",\"data\":\"AAAA\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    {
        json_t *object = json_pack("{s:s%,s:s}", "type", "sim\0x", (size_t)5, "data", "AAAA");

        CHECK(object);
        CHECK_EQ_INT(attest_evidence_from_json(object, &parsed, &step), -EPROTONOSUPPORT);
        CHECK_EQ_INT(step, ATTEST_STEP_TYPE);
        json_decref(object);
    }
    expect_envelope("{\"type\":\"\",\"data\":\"AAAA\"}", -EPROTONOSUPPORT, ATTEST_STEP_TYPE);
    /* Malformed envelopes. */
    expect_envelope("", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("[]", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"data\":\"AAAA\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":1,\"data\":\"AAAA\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":[]}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"AAAA\",\"x\":1}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"type\":\"sim\",\"data\":\"AAAA\"}", -EINVAL,
                    ATTEST_STEP_ENVELOPE);
    /* Base64: empty, unpadded, bad characters, padding inside, non-canonical trailing bits. */
    expect_envelope("{\"type\":\"sim\",\"data\":\"\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QQ\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QQ==\"}", 0, ATTEST_STEP_NONE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QR==\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QUI=\"}", 0, ATTEST_STEP_NONE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QUJ=\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QQ==QUJD\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"QU JD\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"Q-_D\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"====\"}", -EINVAL, ATTEST_STEP_ENVELOPE);
    expect_envelope("{\"type\":\"sim\",\"data\":\"Q===\"}", -EINVAL, ATTEST_STEP_ENVELOPE);

    /* Size limits: decoded data, then the text. */
    big = malloc(ATTEST_EVIDENCE_JSON_MAX + 64);
    CHECK(big);
    {
        size_t n = (size_t)snprintf(big, 64, "{\"type\":\"sim\",\"data\":\"");
        size_t chars = (ATTEST_EVIDENCE_DATA_MAX / 3 + 1) * 4;

        memset(big + n, 'A', chars);
        memcpy(big + n + chars, "\"}", 3);
        expect_envelope(big, -E2BIG, ATTEST_STEP_ENVELOPE);
        chars = ATTEST_EVIDENCE_DATA_MAX / 3 * 4;
        memcpy(big + n + chars, "\"}", 3);
        expect_envelope(big, 0, ATTEST_STEP_NONE);
        memset(big, ' ', ATTEST_EVIDENCE_JSON_MAX + 1);
        big[ATTEST_EVIDENCE_JSON_MAX + 1] = '\0';
        expect_envelope(big, -E2BIG, ATTEST_STEP_ENVELOPE);
    }
    free(big);

    CHECK_EQ_INT(attest_evidence_new(ATTEST_PLATFORM_SIM, data, 0, &parsed), -EINVAL);
    CHECK_EQ_INT(attest_evidence_new((enum attest_platform)9, data, size, &parsed), -EINVAL);
    CHECK_EQ_INT(
        attest_evidence_new(ATTEST_PLATFORM_SIM, data, ATTEST_EVIDENCE_DATA_MAX + 1, &parsed),
        -EINVAL);
    attest_evidence_free(evidence);
    free(data);
    EVP_PKEY_free(key);
}

TEST(names)
{
    enum attest_platform platform = 0;

    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_NONE), "none");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_ENVELOPE), "envelope");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_TYPE), "type");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_PARSE), "parse");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_VERSION), "version");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_TRUST), "trust");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_KEY_ID), "key_id");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_SIGNATURE), "signature");
    CHECK_EQ_STR(attest_step_name(ATTEST_STEP_REPORT_DATA), "report_data");
    CHECK_EQ_STR(attest_step_name((enum attest_step)99), "unknown");
    CHECK_EQ_STR(attest_step_name((enum attest_step) - 1), "unknown");
    CHECK_EQ_STR(attest_tcb_status_name(ATTEST_TCB_UP_TO_DATE), "UpToDate");
    CHECK_EQ_STR(attest_tcb_status_name(ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED),
                 "OutOfDateConfigurationNeeded");
    CHECK(!attest_tcb_status_name((enum attest_tcb_status)0));
    CHECK_EQ_INT(attest_platform_from_name("sgx-dcap", &platform), 0);
    CHECK_EQ_INT(platform, ATTEST_PLATFORM_SGX_DCAP);
    CHECK_EQ_INT(attest_platform_from_name("sgx", &platform), -EPROTONOSUPPORT);
    CHECK(!attest_platform_name((enum attest_platform)0));
    CHECK_EQ_STR(attest_version(), "0.1.0");
}

struct verify_job {
    EVP_PKEY *key; /* shared by all threads */
    const uint8_t *data;
    size_t size;
    int failures;
};

static void *
verify_many(void *arg)
{
    struct verify_job *job = arg;
    uint8_t *copy = malloc(job->size);

    if (!copy) {
        job->failures++;
        return NULL;
    }
    memcpy(copy, job->data, job->size);
    for (int i = 0; i < 200; i++) {
        struct attest_claims claims;
        enum attest_step step;

        /* Alternate good and forged reports so that both paths run concurrently. */
        copy[16] = (uint8_t)(job->data[16] ^ (i & 1));
        if (attest_sim_verify(copy, job->size, job->key, &claims, &step) !=
            ((i & 1) ? -EBADMSG : 0))
            job->failures++;
        if (step != ((i & 1) ? ATTEST_STEP_SIGNATURE : ATTEST_STEP_NONE))
            job->failures++;
    }
    free(copy);
    return NULL;
}

TEST(concurrent_verification_with_one_key)
{
    EVP_PKEY *key = key_new("P-256");
    struct verify_job jobs[4];
    pthread_t threads[4];
    uint8_t *data = NULL;
    size_t size = 0;

    sign_sample(key, 0, &data, &size);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct verify_job){ .key = key, .data = data, .size = size };
        CHECK(pthread_create(&threads[i], NULL, verify_many, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK_EQ_INT(jobs[i].failures, 0);
    }
    free(data);
    EVP_PKEY_free(key);
}

TEST(openssl_cli_verifies_the_signature)
{
    EVP_PKEY *key = key_new("P-256");
    char dir[] = "/tmp/test-attest-sim.XXXXXX", pub[64], body[64], sig[64];
    char *argv[] = { "openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, body, NULL };
    uint8_t *data = NULL;
    size_t size = 0;
    FILE *f;

    sign_sample(key, ATTEST_SIM_ATTR_DEBUG, &data, &size);
    CHECK(mkdtemp(dir));
    (void)snprintf(pub, sizeof(pub), "%s/pub.pem", dir);
    (void)snprintf(body, sizeof(body), "%s/body.bin", dir);
    (void)snprintf(sig, sizeof(sig), "%s/sig.der", dir);
    f = fopen(pub, "we");
    CHECK(f);
    CHECK(PEM_write_PUBKEY(f, key) == 1);
    CHECK(fclose(f) == 0);
    test_write_file(body, data, ATTEST_SIM_BODY_SIZE);
    test_write_file(sig, data + ATTEST_SIM_BODY_SIZE + 2, size - ATTEST_SIM_BODY_SIZE - 2);
    CHECK_EQ_INT(test_run(argv, NULL, false), 0);
    /* And it refuses a changed body, so the check above can fail. */
    data[100] ^= 1;
    test_write_file(body, data, ATTEST_SIM_BODY_SIZE);
    CHECK(test_run(argv, NULL, false) != 0);
    unlink(pub);
    unlink(body);
    unlink(sig);
    rmdir(dir);
    free(data);
    EVP_PKEY_free(key);
}

TEST(python_made_vector_verifies)
{
    uint8_t spki[91], buf[1024], key_id[32];
    struct attest_claims claims;
    struct attest_evidence *evidence = NULL;
    struct attest_trust trust = { 0 };
    const unsigned char *p = spki;
    enum attest_step step = ATTEST_STEP_NONE;
    size_t n;

    CHECK_EQ_INT(strlen(vector_spki_hex), 2 * sizeof(spki));
    for (size_t i = 0; i < sizeof(spki); i++) {
        unsigned int byte;

        CHECK(sscanf(vector_spki_hex + 2 * i, "%2x", &byte) == 1);
        spki[i] = (uint8_t)byte;
    }
    n = test_read_file(SOURCE_ROOT "/fuzz/corpus/sim-evidence/valid-v1.bin", buf, sizeof(buf));
    CHECK_EQ_INT(attest_sim_verify_spki(buf, n, spki, sizeof(spki), &claims, &step), 0);
    CHECK_EQ_INT(claims.isvprodid, 0x1234);
    CHECK_EQ_INT(claims.isvsvn, 7);
    CHECK_EQ_INT(claims.attributes, 5);
    CHECK(!claims.debug);
    for (int i = 0; i < 32; i++)
        CHECK_EQ_INT(claims.mrenclave[i], i);
    trust.sim_key = d2i_PUBKEY(NULL, &p, sizeof(spki));
    CHECK(trust.sim_key);
    spki_sha256(trust.sim_key, key_id);
    CHECK(memcmp(claims.key_id, key_id, 32) == 0);

    n = test_read_file(SOURCE_ROOT "/fuzz/corpus/sim-evidence/valid-v1.json", buf, sizeof(buf));
    CHECK_EQ_INT(attest_evidence_parse((const char *)buf, n, &evidence, &step), 0);
    CHECK_EQ_INT(attest_evidence_verify(evidence, &trust, &claims, &step), 0);
    CHECK_EQ_INT(claims.isvprodid, 0x1234);
    attest_evidence_free(evidence);
    EVP_PKEY_free(trust.sim_key);
}

TEST_MAIN(TEST_CASE(sign_parse_verify_round_trip), TEST_CASE(debug_bit_is_reported),
          TEST_CASE(structure_failures_name_parse_or_version),
          TEST_CASE(key_and_signature_failures), TEST_CASE(report_data_binding),
          TEST_CASE(key_digest_matches_i2d_pubkey), TEST_CASE(envelope_round_trip_and_refusals),
          TEST_CASE(names), TEST_CASE(concurrent_verification_with_one_key),
          TEST_CASE(openssl_cli_verifies_the_signature), TEST_CASE(python_made_vector_verifies))
