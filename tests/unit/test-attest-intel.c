/* libattest: Intel SGX and TDX quote verification end to end (intel.h, policy.h), on the real
 * evidence of ../shared/testvectors at each case's time, and on a re-rooted copy of a real SGX
 * quote (our own root, PCK CA, PCK and TCB Signing keys) for what Intel's real data cannot
 * show: revoked certificates, a wrong root, an expired PCK. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <attest/intel.h>
#include <attest/policy.h>

#include "attest-util.h"
#include "cleanup.h"
#include "test.h"
#include "x509-util.h"

#define FILE_MAX (1u << 20)
#define DAY 86400

/* The split collateral of one case folder, read into memory. */
struct case_files {
    char dir[512];
    int64_t at;
    uint8_t *quote;
    size_t quote_size;
    struct attest_intel_collateral_files files;
    uint8_t *bufs[8];
};

static uint8_t *
read_whole(const char *path, size_t *ret_size)
{
    FILE *f = fopen(path, "re");
    uint8_t *data;
    size_t n;

    if (!f)
        return NULL;
    data = malloc(FILE_MAX);
    CHECK(data != NULL);
    n = fread(data, 1, FILE_MAX, f);
    fclose(f);
    *ret_size = n;
    return data;
}

static void
read_item(struct case_files *c, unsigned slot, const char *name, struct attest_bytes *ret)
{
    char path[640];
    size_t size = 0;

    (void)snprintf(path, sizeof(path), "%s/%s", c->dir, name);
    c->bufs[slot] = read_whole(path, &size);
    *ret = (struct attest_bytes){ c->bufs[slot], c->bufs[slot] ? size : 0 };
}

static int64_t
case_time(const char *dir)
{
    char path[640];
    json_t *root, *t;
    int64_t at;

    (void)snprintf(path, sizeof(path), "%s/case.json", dir);
    root = json_load_file(path, 0, NULL);
    CHECK(root != NULL);
    t = json_object_get(json_object_get(root, "verification_time"), "unix");
    CHECK(json_is_integer(t));
    at = json_integer_value(t);
    json_decref(root);
    return at;
}

static void
case_open(struct case_files *c, const char *name)
{
    char path[640];

    memset(c, 0, sizeof(*c));
    (void)snprintf(c->dir, sizeof(c->dir), "%s/%s", TESTVECTORS_DIR, name);
    (void)snprintf(path, sizeof(path), "%s/quote.bin", c->dir);
    c->quote = read_whole(path, &c->quote_size);
    CHECK(c->quote != NULL);
    c->at = case_time(c->dir);
    read_item(c, 0, "tcb_info.json", &c->files.tcb_info);
    read_item(c, 1, "tcb_info_issuer_chain.pem", &c->files.tcb_info_issuer_chain);
    read_item(c, 2, "qe_identity.json", &c->files.qe_identity);
    read_item(c, 3, "qe_identity_issuer_chain.pem", &c->files.qe_identity_issuer_chain);
    read_item(c, 4, "root_ca_crl.der", &c->files.root_ca_crl);
    read_item(c, 5, "pck_crl.der", &c->files.pck_crl);
    read_item(c, 6, "pck_crl_issuer_chain.pem", &c->files.pck_crl_issuer_chain);
}

static void
case_close(struct case_files *c)
{
    free(c->quote);
    for (size_t i = 0; i < ELEMENTSOF(c->bufs); i++)
        free(c->bufs[i]);
}

/* Verifies quote against files at at; returns the error, fills result and failure. */
static int
verify_with(const struct attest_intel_collateral_files *files, const uint8_t *quote, size_t size,
            int64_t at, bool crls_missing_ok, struct attest_intel_result *result,
            struct attest_failure *failure)
{
    struct attest_intel_collateral *collateral = NULL;
    struct attest_intel_options options = { .at = at, .crls_missing_ok = crls_missing_ok };
    int r;

    memset(failure, 0, sizeof(*failure));
    r = attest_intel_collateral_new(files, &collateral, failure);
    if (r < 0)
        return r;
    r = attest_intel_verify(quote, size, collateral, &options, result, failure);
    attest_intel_collateral_free(collateral);
    return r;
}

static int
verify_case(struct case_files *c, int64_t at, struct attest_intel_result *result,
            struct attest_failure *failure)
{
    bool no_crls = c->files.pck_crl.size == 0;

    return verify_with(&c->files, c->quote, c->quote_size, at, no_crls, result, failure);
}

static void
check_hex(const uint8_t *data, size_t size, const char *hex)
{
    char text[2 * 64 + 1];

    CHECK(size <= 64);
    attest_hex_encode(data, size, text);
    CHECK_EQ_STR(text, hex);
}

static json_t *
case_json(const char *name)
{
    char path[640];
    json_t *root;

    (void)snprintf(path, sizeof(path), "%s/%s/case.json", TESTVECTORS_DIR, name);
    root = json_load_file(path, 0, NULL);
    CHECK(root != NULL);
    return root;
}

static const char *
identity(json_t *root, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(root, "identity"), key));

    CHECK(v != NULL);
    return v;
}

TEST(sgx_phala_configuration_and_sw_hardening_needed)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    json_t *root = case_json("sgx-v3-phala-p1");

    case_open(&c, "sgx-v3-phala-p1");
    CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
    CHECK_EQ_INT(res.claims.platform, ATTEST_PLATFORM_SGX_DCAP);
    CHECK_EQ_INT(res.claims.tcb_status, ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    CHECK_EQ_INT(res.qe_status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(res.claims.advisory_count, 2);
    CHECK_EQ_STR(res.claims.advisory_ids[0], "INTEL-SA-00289");
    CHECK_EQ_STR(res.claims.advisory_ids[1], "INTEL-SA-00615");
    CHECK(res.crls_checked);
    CHECK_EQ_INT(res.version, 3);
    CHECK_EQ_INT(res.trailing_bytes, 0);
    check_hex(res.claims.mrenclave, 32, identity(root, "mrenclave"));
    check_hex(res.claims.mrsigner, 32, identity(root, "mrsigner"));
    check_hex(res.claims.report_data, 64, identity(root, "report_data"));
    check_hex(res.fmspc, 6, "00a067110000");
    CHECK_EQ_INT(res.pce_svn, 13);
    CHECK(!res.claims.debug);
    CHECK(res.valid_until >= c.at);
    /* The default policy accepts UpToDate and SWHardeningNeeded only. */
    CHECK_EQ_INT(attest_policy_check(&res.claims, NULL, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_POLICY);
    CHECK(strstr(failure.reason, "ConfigurationAndSWHardeningNeeded") != NULL);
    {
        static const char *const advisories[] = { "INTEL-SA-00289", NULL };
        struct attest_policy policy = {
            .accepted_statuses =
                ATTEST_POLICY_STATUS(ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED),
        };

        CHECK_EQ_INT(attest_policy_check(&res.claims, &policy, &failure), 0);
        policy.accepted_advisories = advisories;
        CHECK_EQ_INT(attest_policy_check(&res.claims, &policy, &failure), -EPERM);
        CHECK(strstr(failure.reason, "INTEL-SA-00615") != NULL);
        policy.min_isvsvn = 1;
        policy.accepted_advisories = NULL;
        CHECK_EQ_INT(attest_policy_check(&res.claims, &policy, &failure), -EPERM);
    }
    json_decref(root);
    case_close(&c);
}

/* Cases that verify to UpToDate; crls: whether the case has CRLs. */
static void
check_up_to_date(const char *name, unsigned version, size_t trailing)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    json_t *root = case_json(name);

    case_open(&c, name);
    CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), 0);
    CHECK_EQ_INT(res.claims.platform, ATTEST_PLATFORM_TDX);
    CHECK_EQ_INT(res.claims.tcb_status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(res.claims.advisory_count, 0);
    CHECK_EQ_INT(res.version, version);
    CHECK_EQ_INT(res.trailing_bytes, trailing);
    CHECK(res.crls_checked == (c.files.pck_crl.size > 0));
    check_hex(res.claims.tdx.mrtd, 48, identity(root, "mrtd"));
    check_hex(res.claims.report_data, 64, identity(root, "report_data"));
    CHECK_EQ_INT(attest_policy_check(&res.claims, NULL, &failure), 0);
    json_decref(root);
    case_close(&c);
}

TEST(tdx_up_to_date_cases)
{
    check_up_to_date("tdx-v4-phala-p2", 4, 70);
    check_up_to_date("tdx-v4-oasis", 4, 0);
    check_up_to_date("tdx-v4-oasis-trailing", 4, 70);
    check_up_to_date("tdx-v5-automata-a1", 5, 0);
}

TEST(tcb_level_not_supported)
{
    static const char *const cases[] = { "tdx-v5-phala-p3", "tdx-v4-oasis-outofdate" };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct case_files c;
        struct attest_intel_result res;
        struct attest_failure failure;

        case_open(&c, cases[i]);
        CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), -EPERM);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
        CHECK(strstr(failure.reason, "not supported") != NULL);
        case_close(&c);
    }
}

TEST(debug_td_refused_by_policy)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    struct attest_policy allow = { .allow_debug = true };

    case_open(&c, "tdx-v4-trustee-debug");
    CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), 0);
    CHECK(res.claims.debug);
    CHECK_EQ_INT(res.claims.tcb_status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(attest_policy_check(&res.claims, NULL, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_POLICY);
    CHECK(strstr(failure.reason, "debug TD") != NULL);
    CHECK_EQ_INT(attest_policy_check(&res.claims, &allow, &failure), 0);
    case_close(&c);
}

TEST(mrservicetd_policy)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    struct attest_policy strict = { .require_zero_mrservicetd = true };

    case_open(&c, "tdx-v5-automata-a1");
    CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), 0);
    CHECK(res.claims.tdx.td15);
    CHECK_EQ_INT(attest_policy_check(&res.claims, NULL, &failure), 0);
    CHECK_EQ_INT(attest_policy_check(&res.claims, &strict, &failure), -EPERM);
    CHECK(strstr(failure.reason, "MRSERVICETD") != NULL);
    case_close(&c);
}

TEST(missing_crls_named)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;

    case_open(&c, "tdx-v4-oasis");
    CHECK_EQ_INT(verify_with(&c.files, c.quote, c.quote_size, c.at, false, &res, &failure),
                 -ENOENT);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_REVOCATION);
    CHECK(strstr(failure.reason, "collateral missing: pck_crl") != NULL);
    case_close(&c);
}

TEST(missing_collateral_named)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    struct attest_intel_collateral_files files;

    case_open(&c, "tdx-v4-phala-p2");
    files = c.files;
    files.tcb_info = (struct attest_bytes){ 0 };
    CHECK_EQ_INT(verify_with(&files, c.quote, c.quote_size, c.at, false, &res, &failure), -ENOENT);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK_EQ_STR(failure.reason, "collateral missing: tcb_info");
    files = c.files;
    files.qe_identity_issuer_chain = (struct attest_bytes){ 0 };
    CHECK_EQ_INT(verify_with(&files, c.quote, c.quote_size, c.at, false, &res, &failure), -ENOENT);
    CHECK_EQ_STR(failure.reason, "collateral missing: qe_identity_issuer_chain");
    files = c.files;
    files.pck_crl = (struct attest_bytes){ 0 };
    CHECK_EQ_INT(verify_with(&files, c.quote, c.quote_size, c.at, false, &res, &failure), -ENOENT);
    CHECK_EQ_STR(failure.reason, "collateral missing: pck_crl");
    /* SGX collateral for a TDX quote. */
    {
        struct case_files sgx;

        case_open(&sgx, "sgx-v3-phala-p1");
        CHECK(verify_with(&sgx.files, c.quote, c.quote_size, c.at, false, &res, &failure) < 0);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
        case_close(&sgx);
    }
    case_close(&c);
}

/* Outside the collateral's windows: a few days after its end, and before its issue. */
TEST(expired_collateral)
{
    static const char *const cases[] = { "sgx-v3-phala-p1", "tdx-v4-phala-p2", "tdx-v4-oasis",
                                         "tdx-v5-automata-a1" };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct case_files c;
        struct attest_intel_result res;
        struct attest_failure failure;

        case_open(&c, cases[i]);
        CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), 0);
        CHECK_EQ_INT(verify_case(&c, res.valid_until + 3 * DAY, &res, &failure), -EKEYEXPIRED);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);
        CHECK(strstr(failure.reason, "has expired") != NULL);
        CHECK_EQ_INT(verify_case(&c, c.at - 60 * DAY, &res, &failure), -EKEYEXPIRED);
        CHECK(strstr(failure.reason, "not yet valid") != NULL);
        case_close(&c);
    }
}

/* Flips one byte at offset of a copy of the quote and expects step. */
static void
check_flip(struct case_files *c, size_t offset, enum attest_step step)
{
    uint8_t *copy = malloc(c->quote_size);
    struct attest_intel_result res;
    struct attest_failure failure;

    CHECK(copy != NULL);
    memcpy(copy, c->quote, c->quote_size);
    copy[offset] ^= 0x01;
    CHECK(verify_with(&c->files, copy, c->quote_size, c->at, true, &res, &failure) < 0);
    if (failure.step != step)
        fprintf(stderr, "flip at %zu: step %s (%s), expected %s\n", offset,
                attest_step_name(failure.step), failure.reason, attest_step_name(step));
    CHECK_EQ_INT(failure.step, step);
    free(copy);
}

TEST(sgx_signed_bytes_flipped)
{
    struct case_files c;
    uint16_t auth_size;

    case_open(&c, "sgx-v3-phala-p1");
    /* v3: header 0..47, report body 48..431, sig_data_len, ISV signature 436, attestation
     * key 500, QE report 564, QE report signature 948, QE auth data size 1012. */
    check_flip(&c, 10, ATTEST_STEP_SIGNATURE);            /* header: pce_svn */
    check_flip(&c, 48 + 64, ATTEST_STEP_SIGNATURE);       /* body: MRENCLAVE */
    check_flip(&c, 368, ATTEST_STEP_SIGNATURE);           /* body: REPORTDATA */
    check_flip(&c, 436 + 5, ATTEST_STEP_SIGNATURE);       /* ISV signature */
    check_flip(&c, 500 + 7, ATTEST_STEP_ATTESTATION_KEY); /* attestation key */
    check_flip(&c, 564 + 40, ATTEST_STEP_QE_REPORT);      /* QE report */
    check_flip(&c, 948 + 3, ATTEST_STEP_QE_REPORT);       /* QE report signature */
    auth_size = le16_read(c.quote + 1012);
    CHECK(auth_size > 0);
    check_flip(&c, 1014, ATTEST_STEP_ATTESTATION_KEY); /* QE auth data */
    case_close(&c);
}

TEST(tdx_signed_bytes_flipped)
{
    struct case_files c;

    case_open(&c, "tdx-v4-phala-p2");
    /* v4: header 0..47, TD body 48..631, sig_data_len 632, signature 636, attestation key
     * 700, certification data type 6 at 764 (type, size), QE report 770. */
    check_flip(&c, 48 + 136, ATTEST_STEP_SIGNATURE); /* MRTD */
    check_flip(&c, 636 + 1, ATTEST_STEP_SIGNATURE);
    check_flip(&c, 700 + 1, ATTEST_STEP_ATTESTATION_KEY);
    check_flip(&c, 770 + 100, ATTEST_STEP_QE_REPORT);
    check_flip(&c, 770 + 384 + 1, ATTEST_STEP_QE_REPORT);
    case_close(&c);
}

/* Changes one letter of text in the DER of the first certificate after from in a PEM
 * buffer, keeping the DER valid: only its signature stops matching. The PEM is 64 characters a
 * line, so DER byte i is in base64 group i / 3 at a known place. */
static void
flip_cert_text(uint8_t *data, size_t size, size_t from, const char *text)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
    uint8_t *b64 = memmem(data + from, size - from, begin, sizeof(begin) - 1), *end;
    unsigned char der[4096], group[3], encoded[5];
    size_t n = 0, hit, place;
    uint8_t *found;

    CHECK(b64 != NULL);
    b64 += sizeof(begin) - 1;
    end = memmem(b64, size - (size_t)(b64 - data), "-----END", 8);
    CHECK(end != NULL);
    for (uint8_t *line = b64; line < end; line += 65) { /* 64 characters and a newline */
        size_t length = (size_t)(end - line) < 64 ? (size_t)(end - line) - 1 : 64;
        int decoded = EVP_DecodeBlock(der + n, line, (int)length);

        CHECK(decoded > 0);
        n += (size_t)decoded;
    }
    found = memmem(der, n, text, strlen(text));
    CHECK(found != NULL);
    hit = (size_t)(found - der) + 1;
    der[hit] ^= 0x01;
    memcpy(group, der + hit / 3 * 3, 3);
    CHECK(EVP_EncodeBlock(encoded, group, 3) == 4);
    place = hit / 3 * 4;
    for (int i = 0; i < 4; i++)
        b64[(place + i) / 64 * 65 + (place + i) % 64] = encoded[i];
}

TEST(certificates_flipped)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    uint8_t *chain;

    /* The PCK leaf inside the quote. */
    case_open(&c, "sgx-v3-phala-p1");
    flip_cert_text(c.quote, c.quote_size, 1014, "Intel SGX PCK Certificate");
    CHECK(verify_case(&c, c.at, &res, &failure) < 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    case_close(&c);
    /* The TCB Signing certificate of the TCB info's issuer chain. */
    case_open(&c, "tdx-v4-phala-p2");
    chain = malloc(c.files.tcb_info_issuer_chain.size);
    CHECK(chain != NULL);
    memcpy(chain, c.files.tcb_info_issuer_chain.data, c.files.tcb_info_issuer_chain.size);
    flip_cert_text(chain, c.files.tcb_info_issuer_chain.size, 0, "Intel SGX TCB Signing");
    c.files.tcb_info_issuer_chain.data = chain;
    CHECK(verify_case(&c, c.at, &res, &failure) < 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    free(chain);
    case_close(&c);
}

/* A byte of the signed tcbInfo / enclaveIdentity text changed: refused at load. */
static void
check_collateral_flip(const char *name, bool tcb_info, const char *needle)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    struct attest_bytes *item;
    uint8_t *copy;
    char *at;

    case_open(&c, name);
    item = tcb_info ? &c.files.tcb_info : &c.files.qe_identity;
    copy = malloc(item->size + 1);
    CHECK(copy != NULL);
    memcpy(copy, item->data, item->size);
    copy[item->size] = '\0';
    at = strstr((char *)copy, needle);
    CHECK(at != NULL);
    at[strlen(needle)] ^= 0x01; /* first byte of the value after needle */
    item->data = copy;
    CHECK(verify_case(&c, c.at, &res, &failure) < 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    free(copy);
    case_close(&c);
}

TEST(collateral_signed_bytes_flipped)
{
    check_collateral_flip("sgx-v3-phala-p1", true, "\"fmspc\":\"");
    check_collateral_flip("sgx-v3-phala-p1", true, "\"tcbStatus\":\"");
    check_collateral_flip("tdx-v4-phala-p2", true, "\"pcesvn\":");
    check_collateral_flip("tdx-v4-phala-p2", false, "\"mrsigner\":\"");
    check_collateral_flip("sgx-v3-phala-p1", false, "\"isvprodid\":");
}

TEST(wrong_pinned_root)
{
    struct case_files c;
    struct attest_intel_result res;
    struct attest_failure failure;
    static const uint8_t other[32] = { 1, 2, 3 };

    case_open(&c, "sgx-v3-phala-p1");
    c.files.root_key_sha256 = other;
    CHECK_EQ_INT(verify_case(&c, c.at, &res, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    CHECK(strstr(failure.reason, "pinned") != NULL);
    case_close(&c);
}

/* --- A re-rooted copy of the real SGX quote: our own Intel-shaped PKI. --- */

struct test_pki {
    EVP_PKEY *root_key, *ca_key, *leaf_key, *tcb_key;
    X509 *root, *ca, *leaf, *tcb;
    uint8_t pin[32];
};

static EVP_PKEY *
p256_key(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    CHECK(key != NULL);
    return key;
}

static X509 *
make_cert(const char *cn, long serial, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
          int64_t not_before, int64_t not_after, X509_EXTENSION *extra)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();

    CHECK(cert && name);
    CHECK(X509_set_version(cert, 2) == 1);
    CHECK(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) == 1);
    CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                     0) == 1);
    CHECK(X509_set_subject_name(cert, name) == 1);
    CHECK(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) == 1);
    CHECK(ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) != NULL);
    CHECK(ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after) != NULL);
    CHECK(X509_set_pubkey(cert, key) == 1);
    if (extra)
        CHECK(X509_add_ext(cert, extra, -1) == 1);
    CHECK(X509_sign(cert, issuer_key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return cert;
}

/* The SGX extensions of the real PCK leaf of the case, to copy into our leaf. */
static X509_EXTENSION *
real_sgx_extension(const char *dir)
{
    char path[640];
    size_t size = 0;
    uint8_t *pem;
    struct x509_chain chain = { 0 };
    X509_EXTENSION *ext;
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int index;

    (void)snprintf(path, sizeof(path), "%s/pck_chain_from_quote.pem", dir);
    pem = read_whole(path, &size);
    CHECK(pem != NULL && oid != NULL);
    CHECK_EQ_INT(x509_chain_read_pem(pem, size, &chain), 0);
    index = X509_get_ext_by_OBJ(chain.certs[0], oid, -1);
    CHECK(index >= 0);
    ext = X509_EXTENSION_dup(X509_get_ext(chain.certs[0], index));
    CHECK(ext != NULL);
    x509_chain_clear(&chain);
    ASN1_OBJECT_free(oid);
    free(pem);
    return ext;
}

static void
pki_make(struct test_pki *pki, const struct case_files *c, int64_t leaf_not_after)
{
    X509_EXTENSION *sgx = real_sgx_extension(c->dir);
    int64_t from = c->at - 365 * DAY, until = c->at + 365 * DAY;

    pki->root_key = p256_key();
    pki->ca_key = p256_key();
    pki->leaf_key = p256_key();
    pki->tcb_key = p256_key();
    pki->root =
        make_cert("Test SGX Root CA", 1, pki->root_key, NULL, pki->root_key, from, until, NULL);
    pki->ca = make_cert("Test SGX PCK Processor CA", 2, pki->ca_key, pki->root, pki->root_key, from,
                        until, NULL);
    pki->leaf = make_cert("Test SGX PCK Certificate", 3, pki->leaf_key, pki->ca, pki->ca_key, from,
                          leaf_not_after, sgx);
    pki->tcb = make_cert("Test SGX TCB Signing", 4, pki->tcb_key, pki->root, pki->root_key, from,
                         until, NULL);
    CHECK_EQ_INT(x509_spki_sha256(pki->root, pki->pin), 0);
    X509_EXTENSION_free(sgx);
}

static void
pki_free(struct test_pki *pki)
{
    EVP_PKEY_free(pki->root_key);
    EVP_PKEY_free(pki->ca_key);
    EVP_PKEY_free(pki->leaf_key);
    EVP_PKEY_free(pki->tcb_key);
    X509_free(pki->root);
    X509_free(pki->ca);
    X509_free(pki->leaf);
    X509_free(pki->tcb);
}

/* PEM text of certs (NULL-terminated), malloc'd. */
static char *
pem_of(X509 *const *certs, size_t *ret_size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *copy;
    long size;

    CHECK(bio != NULL);
    for (; *certs; certs++)
        CHECK(PEM_write_bio_X509(bio, *certs) == 1);
    size = BIO_get_mem_data(bio, &data);
    copy = malloc((size_t)size + 1);
    CHECK(copy != NULL);
    memcpy(copy, data, (size_t)size);
    copy[size] = '\0';
    *ret_size = (size_t)size;
    BIO_free(bio);
    return copy;
}

/* One DER INTEGER at *p as 32 big-endian bytes at out; advances *p. */
static void
der_integer_to_raw(const unsigned char **p, uint8_t out[32])
{
    size_t size;

    CHECK((*p)[0] == 0x02);
    size = (*p)[1];
    *p += 2;
    while (size > 32) { /* a leading zero that keeps it positive */
        CHECK(**p == 0);
        (*p)++;
        size--;
    }
    memset(out, 0, 32 - size);
    memcpy(out + 32 - size, *p, size);
    *p += size;
}

/* Raw r ‖ s ECDSA P-256 SHA-256 signature of data by key. */
static void
sign_raw(EVP_PKEY *key, const void *data, size_t size, uint8_t out[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[80];
    const unsigned char *p = der + 2;
    size_t der_size = sizeof(der);

    CHECK(ctx != NULL);
    CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
    CHECK(EVP_DigestSign(ctx, der, &der_size, data, size) == 1);
    CHECK(der[0] == 0x30 && der[1] == der_size - 2);
    der_integer_to_raw(&p, out);
    der_integer_to_raw(&p, out + 32);
    CHECK(p == der + der_size);
    EVP_MD_CTX_free(ctx);
}

/* The v3 quote with its PCK chain replaced by ours and its QE report signed by our PCK key. */
static uint8_t *
reroot_quote(const struct case_files *c, const struct test_pki *pki, size_t *ret_size)
{
    X509 *const chain[] = { pki->leaf, pki->ca, pki->root, NULL };
    size_t pem_size, auth = le16_read(c->quote + 1012), cert_at = 1014 + auth, size;
    char *pem = pem_of(chain, &pem_size);
    uint8_t *quote;

    CHECK_EQ_INT(le16_read(c->quote + cert_at), 5);
    size = cert_at + 6 + pem_size;
    quote = malloc(size);
    CHECK(quote != NULL);
    memcpy(quote, c->quote, cert_at + 6);
    memcpy(quote + cert_at + 6, pem, pem_size);
    le32_write(quote + 432, (uint32_t)(size - 436));
    le32_write(quote + cert_at + 2, (uint32_t)pem_size);
    sign_raw(pki->leaf_key, quote + 564, 384, quote + 948);
    free(pem);
    *ret_size = size;
    return quote;
}

/* {"tcbInfo":<raw>,"signature":"<hex>"} re-signed by key; malloc'd. */
static char *
resign_body(const struct attest_bytes *body, EVP_PKEY *key, size_t *ret_size)
{
    const char *text = body->data, *open = memchr(text, ':', body->size);
    const char *close = strstr(text, ",\"signature\":\"");
    uint8_t signature[64];
    char hex[129], *out;
    int n;

    CHECK(open && close);
    open++;
    sign_raw(key, open, (size_t)(close - open), signature);
    attest_hex_encode(signature, 64, hex);
    out = malloc(body->size + 200);
    CHECK(out != NULL);
    n = snprintf(out, body->size + 200, "%.*s,\"signature\":\"%s\"}", (int)(close - text), text,
                 hex);
    *ret_size = (size_t)n;
    return out;
}

static uint8_t *
crl_der(X509 *issuer, EVP_PKEY *key, X509 *revoked, int64_t at, size_t *ret_size)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    unsigned char *der = NULL;
    int size;

    CHECK(crl && t);
    CHECK(X509_CRL_set_version(crl, 1) == 1);
    CHECK(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) == 1);
    CHECK(ASN1_TIME_set(t, (time_t)(at - DAY)) != NULL);
    CHECK(X509_CRL_set1_lastUpdate(crl, t) == 1);
    CHECK(ASN1_TIME_set(t, (time_t)(at + 30 * DAY)) != NULL);
    CHECK(X509_CRL_set1_nextUpdate(crl, t) == 1);
    if (revoked) {
        X509_REVOKED *entry = X509_REVOKED_new();

        CHECK(entry != NULL);
        CHECK(X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(revoked)) == 1);
        CHECK(X509_REVOKED_set_revocationDate(entry, t) == 1);
        CHECK(X509_CRL_add0_revoked(crl, entry) == 1);
    }
    CHECK(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    size = i2d_X509_CRL(crl, &der);
    CHECK(size > 0);
    X509_CRL_free(crl);
    ASN1_TIME_free(t);
    *ret_size = (size_t)size;
    return der;
}

/* The re-rooted case: everything signed by our PKI, CRLs revoking what is asked. */
struct rerooted {
    uint8_t *quote;
    size_t quote_size;
    char *tcb_info, *qe_identity, *tcb_chain, *crl_chain;
    uint8_t *root_crl, *pck_crl;
    struct attest_intel_collateral_files files;
};

static void
reroot(struct rerooted *r, const struct case_files *c, const struct test_pki *pki,
       X509 *revoked_by_root, X509 *revoked_by_ca)
{
    X509 *const tcb_chain[] = { pki->tcb, pki->root, NULL };
    X509 *const crl_chain[] = { pki->ca, pki->root, NULL };
    size_t size;

    memset(r, 0, sizeof(*r));
    r->quote = reroot_quote(c, pki, &r->quote_size);
    r->tcb_info = resign_body(&c->files.tcb_info, pki->tcb_key, &size);
    r->files.tcb_info = (struct attest_bytes){ r->tcb_info, size };
    r->qe_identity = resign_body(&c->files.qe_identity, pki->tcb_key, &size);
    r->files.qe_identity = (struct attest_bytes){ r->qe_identity, size };
    r->tcb_chain = pem_of(tcb_chain, &size);
    r->files.tcb_info_issuer_chain = (struct attest_bytes){ r->tcb_chain, size };
    r->files.qe_identity_issuer_chain = (struct attest_bytes){ r->tcb_chain, size };
    r->crl_chain = pem_of(crl_chain, &size);
    r->files.pck_crl_issuer_chain = (struct attest_bytes){ r->crl_chain, size };
    r->root_crl = crl_der(pki->root, pki->root_key, revoked_by_root, c->at, &size);
    r->files.root_ca_crl = (struct attest_bytes){ r->root_crl, size };
    r->pck_crl = crl_der(pki->ca, pki->ca_key, revoked_by_ca, c->at, &size);
    r->files.pck_crl = (struct attest_bytes){ r->pck_crl, size };
    r->files.root_key_sha256 = pki->pin;
}

static void
rerooted_free(struct rerooted *r)
{
    free(r->quote);
    free(r->tcb_info);
    free(r->qe_identity);
    free(r->tcb_chain);
    free(r->crl_chain);
    OPENSSL_free(r->root_crl);
    OPENSSL_free(r->pck_crl);
}

TEST(rerooted_quote_verifies_and_revocation_refuses)
{
    struct case_files c;
    struct test_pki pki;
    struct rerooted r;
    struct attest_intel_result res;
    struct attest_failure failure;

    case_open(&c, "sgx-v3-phala-p1");
    pki_make(&pki, &c, c.at + 365 * DAY);
    /* Not revoked: verifies to the same status as the real quote, so the copy is faithful. */
    reroot(&r, &c, &pki, NULL, NULL);
    CHECK_EQ_INT(verify_with(&r.files, r.quote, r.quote_size, c.at, false, &res, &failure), 0);
    CHECK_EQ_INT(res.claims.tcb_status, ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    CHECK(res.crls_checked);
    /* Intel's pin refuses our root. */
    r.files.root_key_sha256 = NULL;
    CHECK_EQ_INT(verify_with(&r.files, r.quote, r.quote_size, c.at, false, &res, &failure),
                 -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    rerooted_free(&r);
    /* The PCK revoked by the PCK CA's CRL. */
    reroot(&r, &c, &pki, NULL, pki.leaf);
    CHECK_EQ_INT(verify_with(&r.files, r.quote, r.quote_size, c.at, false, &res, &failure),
                 -EKEYREVOKED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_REVOCATION);
    CHECK(strstr(failure.reason, "PCK certificate is revoked") != NULL);
    rerooted_free(&r);
    /* The PCK CA revoked by the root CA's CRL. */
    reroot(&r, &c, &pki, pki.ca, NULL);
    CHECK_EQ_INT(verify_with(&r.files, r.quote, r.quote_size, c.at, false, &res, &failure),
                 -EKEYREVOKED);
    CHECK(strstr(failure.reason, "PCK CA certificate is revoked") != NULL);
    rerooted_free(&r);
    pki_free(&pki);
    case_close(&c);
}

TEST(rerooted_expired_pck)
{
    struct case_files c;
    struct test_pki pki;
    struct rerooted r;
    struct attest_intel_result res;
    struct attest_failure failure;

    case_open(&c, "sgx-v3-phala-p1");
    pki_make(&pki, &c, c.at - DAY);
    reroot(&r, &c, &pki, NULL, NULL);
    CHECK_EQ_INT(verify_with(&r.files, r.quote, r.quote_size, c.at, false, &res, &failure),
                 -EKEYEXPIRED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);
    CHECK(strstr(failure.reason, "PCK chain") != NULL);
    rerooted_free(&r);
    pki_free(&pki);
    case_close(&c);
}

/* A quote of the re-rooted platform with a new attestation key: the QE report binds it and is
 * signed by our PCK key, the quote is signed by it. */
static void
new_attestation_key(uint8_t *quote, const struct test_pki *pki)
{
    EVP_PKEY *ak = p256_key();
    uint8_t point[65];
    size_t point_size = sizeof(point), auth = le16_read(quote + 1012);

    CHECK(EVP_PKEY_get_octet_string_param(ak, "encoded-pub-key", point, sizeof(point),
                                          &point_size) == 1);
    CHECK_EQ_INT(point_size, 65);
    memcpy(quote + 500, point + 1, 64);
    CHECK_EQ_INT(attest_sha256(quote + 500, 64, quote + 1014, auth, quote + 564 + 320), 0);
    memset(quote + 564 + 352, 0, 32);
    sign_raw(pki->leaf_key, quote + 564, 384, quote + 948);
    sign_raw(ak, quote, 432, quote + 436);
    EVP_PKEY_free(ak);
}

/* The PCK cache keeps the attestation key last seen with a chain: another key of the same
 * platform (its QE restarted) verifies, and so does the first one again. */
TEST(attestation_key_changes_on_a_cached_chain)
{
    struct case_files c;
    struct test_pki pki;
    struct rerooted r;
    struct attest_intel_collateral *collateral = NULL;
    struct attest_intel_options options;
    struct attest_intel_result res;
    struct attest_failure failure;
    uint8_t *second;

    case_open(&c, "sgx-v3-phala-p1");
    pki_make(&pki, &c, c.at + 365 * DAY);
    reroot(&r, &c, &pki, NULL, NULL);
    second = malloc(r.quote_size);
    CHECK(second != NULL);
    memcpy(second, r.quote, r.quote_size);
    new_attestation_key(second, &pki);
    options = (struct attest_intel_options){ .at = c.at };
    CHECK_EQ_INT(attest_intel_collateral_new(&r.files, &collateral, &failure), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(
            attest_intel_verify(r.quote, r.quote_size, collateral, &options, &res, &failure), 0);
        CHECK_EQ_INT(
            attest_intel_verify(second, r.quote_size, collateral, &options, &res, &failure), 0);
    }
    /* The first quote's signature under the second key: refused. */
    memcpy(second + 436, r.quote + 436, 64);
    CHECK_EQ_INT(attest_intel_verify(second, r.quote_size, collateral, &options, &res, &failure),
                 -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_SIGNATURE);
    attest_intel_collateral_free(collateral);
    free(second);
    rerooted_free(&r);
    pki_free(&pki);
    case_close(&c);
}

/* One collateral object shared by threads, and its PCK cache: the same answer every time. */
TEST(repeated_verification_uses_cache)
{
    struct case_files c;
    struct attest_intel_collateral *collateral = NULL;
    struct attest_intel_options options;
    struct attest_intel_result res;
    struct attest_failure failure;

    case_open(&c, "tdx-v4-phala-p2");
    options = (struct attest_intel_options){ .at = c.at };
    CHECK_EQ_INT(attest_intel_collateral_new(&c.files, &collateral, &failure), 0);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ_INT(
            attest_intel_verify(c.quote, c.quote_size, collateral, &options, &res, &failure), 0);
        CHECK_EQ_INT(res.claims.tcb_status, ATTEST_TCB_UP_TO_DATE);
    }
    /* A flipped quote after the chain is cached still fails. */
    c.quote[700] ^= 1;
    CHECK(attest_intel_verify(c.quote, c.quote_size, collateral, &options, &res, &failure) < 0);
    attest_intel_collateral_free(collateral);
    case_close(&c);
}

/* What a store needs to pick collateral, read before verifying. */
TEST(quote_needs)
{
    static const struct {
        const char *name;
        bool tdx;
        const char *fmspc;
        bool processor_ca;
    } cases[] = {
        { "sgx-v3-phala-p1", false, "00a067110000", true },
        { "tdx-v4-phala-p2", true, "b0c06f000000", false },
        { "tdx-v5-automata-a1", true, "90c06f000000", false },
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct case_files c;
        struct attest_intel_quote_needs needs;
        struct attest_failure failure;

        case_open(&c, cases[i].name);
        CHECK_EQ_INT(attest_intel_quote_needs(c.quote, c.quote_size, &needs, &failure), 0);
        CHECK_EQ_INT(needs.tdx, cases[i].tdx);
        check_hex(needs.fmspc, 6, cases[i].fmspc);
        check_hex(needs.pce_id, 2, "0000");
        CHECK_EQ_INT(needs.processor_ca, cases[i].processor_ca);
        CHECK(attest_intel_quote_needs(c.quote, 100, &needs, &failure) < 0);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_PARSE);
        case_close(&c);
    }
}

TEST_MAIN(TEST_CASE(quote_needs), TEST_CASE(sgx_phala_configuration_and_sw_hardening_needed),
          TEST_CASE(tdx_up_to_date_cases), TEST_CASE(tcb_level_not_supported),
          TEST_CASE(debug_td_refused_by_policy), TEST_CASE(mrservicetd_policy),
          TEST_CASE(missing_crls_named), TEST_CASE(missing_collateral_named),
          TEST_CASE(expired_collateral), TEST_CASE(sgx_signed_bytes_flipped),
          TEST_CASE(tdx_signed_bytes_flipped), TEST_CASE(collateral_signed_bytes_flipped),
          TEST_CASE(certificates_flipped), TEST_CASE(wrong_pinned_root),
          TEST_CASE(rerooted_quote_verifies_and_revocation_refuses),
          TEST_CASE(rerooted_expired_pck), TEST_CASE(repeated_verification_uses_cache),
          TEST_CASE(attestation_key_changes_on_a_cached_chain))
