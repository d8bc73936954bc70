/* libattest: the Intel DCAP quote parser (intel-quote.h) and the PCK certificate's SGX extension
 * parser (pck-extensions.h), against the real quotes of ../shared/testvectors: every field is
 * compared with the case's case.json (read here with jansson), then the quotes and the extension
 * are broken on purpose: truncated at every length, lengths and types corrupted, members of the
 * extension left out, repeated, mistyped and oversized. Inputs live in heap buffers of their
 * exact size, so the ASan build catches any read past the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest-util.h"
#include "cleanup.h"
#include "intel-quote.h"
#include "pck-extensions.h"
#include "test.h"

#ifndef TESTVECTORS_DIR
#error "TESTVECTORS_DIR must name ../shared/testvectors"
#endif

static const char *const intel_cases[] = {
    "sgx-v3-phala-p1",       "tdx-v4-phala-p2",        "tdx-v5-phala-p3",      "tdx-v4-oasis",
    "tdx-v4-oasis-trailing", "tdx-v4-oasis-outofdate", "tdx-v4-trustee-debug", "tdx-v5-automata-a1",
};

#define SGX_EXT_OID "1.2.840.113741.1.13.1"

/* ---- files, JSON and hex ---- */

static uint8_t *
file_read(const char *dir, const char *name, size_t *ret_size)
{
    char path[512];
    struct stat st;
    uint8_t *data;
    int fd;

    CHECK(snprintf(path, sizeof(path), "%s/%s/%s", TESTVECTORS_DIR, dir, name) < (int)sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "  cannot open %s\n", path);
    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size > 0);
    data = malloc((size_t)st.st_size); /* exactly its size: ASan sees any over-read */
    CHECK(data);
    CHECK(read(fd, data, (size_t)st.st_size) == st.st_size);
    close(fd);
    *ret_size = (size_t)st.st_size;
    return data;
}

static json_t *
case_load(const char *dir)
{
    char path[512];
    json_error_t error;
    json_t *root;

    CHECK(snprintf(path, sizeof(path), "%s/%s/case.json", TESTVECTORS_DIR, dir) <
          (int)sizeof(path));
    root = json_load_file(path, 0, &error);
    if (!root)
        fprintf(stderr, "  %s: %s\n", path, error.text);
    CHECK(root);
    return root;
}

static json_t *
jget(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);

    if (!value)
        fprintf(stderr, "  case.json has no \"%s\"\n", key);
    CHECK(value);
    return value;
}

static long long
jint(json_t *object, const char *key)
{
    json_t *value = jget(object, key);

    CHECK(json_is_integer(value));
    return json_integer_value(value);
}

static const char *
jstr(json_t *object, const char *key)
{
    json_t *value = jget(object, key);

    CHECK(json_is_string(value));
    return json_string_value(value);
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void
hex_decode(const char *hex, uint8_t *out, size_t size)
{
    CHECK_EQ_INT(strlen(hex), 2 * size);
    for (size_t i = 0; i < size; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

        CHECK(hi >= 0 && lo >= 0);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

/* got in hex equals object[key] (compared in lower case: FMSPCs are written upper case). */
static void
check_hex(const uint8_t *got, size_t size, json_t *object, const char *key)
{
    char hex[2 * 128 + 1], want[2 * 128 + 1];
    const char *text = jstr(object, key);

    CHECK(size <= 128 && strlen(text) < sizeof(want));
    attest_hex_encode(got, size, hex);
    for (size_t i = 0; text[i] != '\0'; i++)
        want[i] = (char)(text[i] >= 'A' && text[i] <= 'F' ? text[i] - 'A' + 'a' : text[i]);
    want[strlen(text)] = '\0';
    if (strcmp(hex, want) != 0)
        fprintf(stderr, "  field \"%s\"\n", key);
    CHECK_EQ_STR(hex, want);
}

/* An 8-byte little-endian attribute field written in hex, as the u64 the parser reads. */
static uint64_t
jle64(json_t *object, const char *key)
{
    uint8_t bytes[8];

    hex_decode(jstr(object, key), bytes, sizeof(bytes));
    return le64_read(bytes);
}

/* Field by field: padding inside the structs is not part of their value. */
#define SAME(a, b, field) (memcmp((a)->field, (b)->field, sizeof((a)->field)) == 0)

static bool
same_sgx_report(const struct intel_sgx_report *a, const struct intel_sgx_report *b)
{
    return SAME(a, b, cpusvn) && a->miscselect == b->miscselect && SAME(a, b, isvextprodid) &&
           SAME(a, b, attributes) && SAME(a, b, mrenclave) && SAME(a, b, mrsigner) &&
           SAME(a, b, configid) && a->isvprodid == b->isvprodid && a->isvsvn == b->isvsvn &&
           a->configsvn == b->configsvn && SAME(a, b, isvfamilyid) && SAME(a, b, report_data);
}

static bool
same_td(const struct attest_tdx_claims *a, const struct attest_tdx_claims *b)
{
    return SAME(a, b, tee_tcb_svn) && SAME(a, b, mrseam) && SAME(a, b, mrsignerseam) &&
           a->seam_attributes == b->seam_attributes && a->td_attributes == b->td_attributes &&
           a->xfam == b->xfam && SAME(a, b, mrtd) && SAME(a, b, mrconfigid) &&
           SAME(a, b, mrowner) && SAME(a, b, mrownerconfig) && SAME(a, b, rtmr) &&
           a->td15 == b->td15 && SAME(a, b, tee_tcb_svn2) && SAME(a, b, mrservicetd);
}

static bool
same_pck(const struct pck_extensions *a, const struct pck_extensions *b)
{
    return SAME(a, b, ppid) && SAME(a, b, tcb_components) && a->pcesvn == b->pcesvn &&
           SAME(a, b, cpusvn) && SAME(a, b, pce_id) && SAME(a, b, fmspc) &&
           a->sgx_type == b->sgx_type &&
           a->has_platform_instance_id == b->has_platform_instance_id &&
           SAME(a, b, platform_instance_id) && a->has_configuration == b->has_configuration &&
           a->dynamic_platform == b->dynamic_platform && a->cached_keys == b->cached_keys &&
           a->smt_enabled == b->smt_enabled;
}

/* ---- certificates ---- */

static X509 *
pem_first_cert(const uint8_t *pem, size_t size)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)size);
    X509 *cert;

    CHECK(bio);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    CHECK(cert);
    return cert;
}

static void
check_issuer_cn(X509 *cert, const char *want)
{
    char cn[128];

    CHECK(X509_NAME_get_text_by_NID(X509_get_issuer_name(cert), NID_commonName, cn, sizeof(cn)) >
          0);
    CHECK_EQ_STR(cn, want);
}

/* The raw DER of the SGX extension of cert, in a heap buffer of its exact size. */
static uint8_t *
cert_ext_der(X509 *cert, size_t *ret_size)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(SGX_EXT_OID, 1);
    int index;
    const ASN1_OCTET_STRING *value;
    uint8_t *der;

    CHECK(oid);
    index = X509_get_ext_by_OBJ(cert, oid, -1);
    ASN1_OBJECT_free(oid);
    CHECK(index >= 0);
    value = X509_EXTENSION_get_data(X509_get_ext(cert, index));
    *ret_size = (size_t)ASN1_STRING_length(value);
    der = malloc(*ret_size);
    CHECK(der);
    memcpy(der, ASN1_STRING_get0_data(value), *ret_size);
    return der;
}

/* ---- quotes: every field against case.json ---- */

static void
check_sgx_report(const struct intel_sgx_report *report, json_t *identity)
{
    uint8_t attributes[16];

    check_hex(report->mrenclave, 32, identity, "mrenclave");
    check_hex(report->mrsigner, 32, identity, "mrsigner");
    CHECK_EQ_INT(report->isvprodid, jint(identity, "isvprodid"));
    CHECK_EQ_INT(report->isvsvn, jint(identity, "isvsvn"));
    check_hex(report->attributes, 16, identity, "attributes");
    CHECK_EQ_INT(report->miscselect, jint(identity, "miscselect"));
    hex_decode(jstr(identity, "attributes"), attributes, sizeof(attributes));
    CHECK_EQ_INT(le64_read(report->attributes), le64_read(attributes));
}

static void
check_sgx_identity(const struct intel_quote *q, json_t *identity)
{
    check_sgx_report(&q->enclave, identity);
    check_hex(q->enclave.cpusvn, 16, identity, "cpusvn");
    CHECK_EQ_INT(q->enclave.configsvn, jint(identity, "configsvn"));
    check_hex(q->enclave.isvextprodid, 16, identity, "isvextprodid");
    check_hex(q->enclave.isvfamilyid, 16, identity, "isvfamilyid");
    check_hex(q->enclave.configid, 64, identity, "configid");
    check_hex(q->enclave.report_data, 64, identity, "report_data");
    check_hex(q->report_data, 64, identity, "report_data");
    CHECK_EQ_INT((le64_read(q->enclave.attributes) & 2u) != 0,
                 json_is_true(jget(identity, "debug")));
}

static void
check_td_identity(const struct intel_quote *q, json_t *identity)
{
    const struct attest_tdx_claims *td = &q->td;
    const char *rtmr_keys[] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };

    check_hex(td->tee_tcb_svn, 16, identity, "tee_tcb_svn");
    check_hex(td->mrseam, 48, identity, "mrseam");
    check_hex(td->mrsignerseam, 48, identity, "mrsignerseam");
    CHECK(td->seam_attributes == jle64(identity, "seam_attributes"));
    CHECK(td->td_attributes == jle64(identity, "td_attributes"));
    CHECK(td->xfam == jle64(identity, "xfam"));
    check_hex(td->mrtd, 48, identity, "mrtd");
    check_hex(td->mrconfigid, 48, identity, "mrconfigid");
    check_hex(td->mrowner, 48, identity, "mrowner");
    check_hex(td->mrownerconfig, 48, identity, "mrownerconfig");
    for (size_t i = 0; i < 4; i++)
        check_hex(td->rtmr[i], 48, identity, rtmr_keys[i]);
    check_hex(q->report_data, 64, identity, "report_data");
    CHECK_EQ_INT((td->td_attributes & 1u) != 0, json_is_true(jget(identity, "debug")));
    CHECK_EQ_INT((td->td_attributes >> 28) & 1u, json_is_true(jget(identity, "sept_ve_disable")));
    CHECK_EQ_INT(td->td15, q->body_type == INTEL_BODY_TD15);
    if (td->td15) {
        check_hex(td->tee_tcb_svn2, 16, identity, "tee_tcb_svn2");
        check_hex(td->mrservicetd, 48, identity, "mrservicetd");
    } else {
        CHECK(!json_object_get(identity, "mrservicetd"));
    }
}

static void
check_layout(const struct intel_quote *q, const uint8_t *data, size_t size, json_t *layout)
{
    json_t *outer = jget(layout, "outer_cert_data_type"), *bytes_8_11;
    const uint8_t *trailing = data + size - q->trailing_bytes;
    bool zero = true;

    CHECK_EQ_INT(q->version, jint(layout, "version"));
    CHECK_EQ_INT(q->att_key_type, jint(layout, "att_key_type"));
    CHECK_EQ_INT(q->tee_type, strtoul(jstr(layout, "tee_type"), NULL, 16));
    CHECK_EQ_INT(q->body_type, jint(layout, "body_type"));
    CHECK(q->signed_region == data);
    CHECK_EQ_INT(q->signed_size, jint(layout, "signed_region_len"));
    CHECK_EQ_INT(q->sig_data_size, jint(layout, "sig_data_len"));
    /* v3 has no outer certification data: its type 5 sits directly in the signature data. */
    CHECK_EQ_INT(q->cert_data_type,
                 json_is_null(outer) ? INTEL_CERT_DATA_PCK_CHAIN : json_integer_value(outer));
    CHECK_EQ_INT(INTEL_CERT_DATA_PCK_CHAIN, jint(layout, "inner_cert_data_type"));
    CHECK_EQ_INT(q->qe_auth_size, jint(layout, "qe_auth_data_len"));
    CHECK_EQ_INT(q->trailing_bytes, jint(layout, "trailing_bytes_after_sig_data"));
    for (size_t i = 0; i < q->trailing_bytes; i++)
        zero = zero && trailing[i] == 0;
    CHECK_EQ_INT(zero, json_is_true(jget(layout, "trailing_bytes_all_zero")));
    bytes_8_11 = jget(layout, "header_bytes_8_11");
    CHECK_EQ_INT(json_array_size(bytes_8_11), 2);
    CHECK_EQ_INT(q->qe_svn, json_integer_value(json_array_get(bytes_8_11, 0)));
    CHECK_EQ_INT(q->pce_svn, json_integer_value(json_array_get(bytes_8_11, 1)));
    CHECK_EQ_INT(q->signature - data, jint(layout, "offset_isv_signature"));
    CHECK_EQ_INT(q->qe_report_raw - data, jint(layout, "offset_qe_report"));
    CHECK(memcmp(data + jint(layout, "offset_report_data"), q->report_data, 64) == 0);
    /* The parts in the order of the layout, nothing between them unaccounted for. */
    CHECK_EQ_INT(q->signed_size + 4 + q->sig_data_size + q->trailing_bytes, size);
    CHECK(q->signature == data + q->signed_size + 4);
    CHECK(q->attestation_key == q->signature + INTEL_ECDSA_SIGNATURE_SIZE);
    CHECK(q->qe_report_signature == q->qe_report_raw + INTEL_SGX_REPORT_SIZE);
    CHECK(q->qe_auth_data == q->qe_report_signature + INTEL_ECDSA_SIGNATURE_SIZE + 2);
    CHECK(q->pck_chain == q->qe_auth_data + q->qe_auth_size + 6);
}

static void
check_pck(const struct pck_extensions *ext, json_t *platform)
{
    json_t *components = jget(platform, "pck_tcb_components");
    bool platform_ca = strcmp(jstr(platform, "pck_issuer_ca"), "Intel SGX PCK Platform CA") == 0;

    check_hex(ext->fmspc, 6, platform, "fmspc");
    check_hex(ext->pce_id, 2, platform, "pce_id");
    CHECK_EQ_INT(json_array_size(components), 16);
    for (size_t i = 0; i < 16; i++)
        CHECK_EQ_INT(ext->tcb_components[i], json_integer_value(json_array_get(components, i)));
    CHECK_EQ_INT(ext->pcesvn, jint(platform, "pck_pcesvn"));
    check_hex(ext->cpusvn, 16, platform, "pck_cpusvn");
    CHECK_EQ_INT(ext->sgx_type, jint(platform, "sgx_type"));
    /* Only Platform CA certificates carry PlatformInstanceID and Configuration. */
    CHECK_EQ_INT(ext->has_platform_instance_id, platform_ca);
    CHECK_EQ_INT(ext->has_configuration, platform_ca);
}

static void
check_quote_pck(const struct intel_quote *q, const char *dir, json_t *platform)
{
    struct pck_extensions from_file, from_quote;
    struct attest_failure failure;
    size_t pem_size;
    uint8_t *pem = file_read(dir, "pck_chain_from_quote.pem", &pem_size);
    X509 *leaf = pem_first_cert(pem, pem_size), *quote_leaf;

    /* The chain in the quote is the file's text, byte for byte, without the QE's NUL. */
    CHECK_EQ_INT(q->pck_chain_size, pem_size);
    CHECK(memcmp(q->pck_chain, pem, pem_size) == 0);
    CHECK_EQ_INT(pck_extensions_from_cert(leaf, &from_file, &failure), 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
    check_pck(&from_file, platform);
    check_issuer_cn(leaf, jstr(platform, "pck_issuer_ca"));
    quote_leaf = pem_first_cert(q->pck_chain, q->pck_chain_size);
    CHECK_EQ_INT(pck_extensions_from_cert(quote_leaf, &from_quote, &failure), 0);
    CHECK(same_pck(&from_file, &from_quote));
    X509_free(quote_leaf);
    X509_free(leaf);
    free(pem);
}

static void
check_case(const char *dir)
{
    json_t *root = case_load(dir), *platform = jget(root, "platform");
    struct attest_failure failure = { .step = ATTEST_STEP_PARSE };
    struct intel_quote q;
    size_t size;
    uint8_t *data = file_read(dir, "quote.bin", &size);

    fprintf(stderr, "  case %s\n", dir);
    CHECK_EQ_INT(size, jint(jget(jget(root, "files"), "quote.bin"), "size"));
    CHECK_EQ_INT(intel_quote_parse(data, size, &q, &failure), 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
    CHECK_EQ_STR(failure.reason, "");
    check_layout(&q, data, size, jget(root, "quote_layout"));
    if (q.body_type == INTEL_BODY_SGX)
        check_sgx_identity(&q, jget(root, "identity"));
    else
        check_td_identity(&q, jget(root, "identity"));
    check_sgx_report(&q.qe_report, jget(platform, "qe_report"));
    check_quote_pck(&q, dir, platform);
    free(data);
    json_decref(root);
}

TEST(quote_cases)
{
    for (size_t i = 0; i < ELEMENTSOF(intel_cases); i++)
        check_case(intel_cases[i]);
}

/* The RA-TLS interop quotes (v3, DEBUG enclaves): case.json summarises each certificate's
 * quote; the DICE quotes bind SHA-256(claims) ‖ 0…0 in REPORTDATA. */
static void
check_ratls_quote(json_t *certificates, const char *cert_name, const char *file,
                  const char *claims_file)
{
    json_t *cert = jget(certificates, cert_name), *summary = jget(cert, "quote");
    json_t *components = jget(summary, "pck_tcb_components");
    struct attest_failure failure;
    struct pck_extensions ext;
    struct intel_quote q;
    size_t size, claims_size;
    uint8_t *data = file_read("ratls-interop", file, &size), digest[32];
    X509 *leaf;

    fprintf(stderr, "  quote %s\n", file);
    CHECK_EQ_INT(intel_quote_parse(data, size, &q, &failure), 0);
    CHECK_EQ_INT(q.version, jint(summary, "version"));
    CHECK_EQ_INT(q.body_type, INTEL_BODY_SGX);
    CHECK_EQ_INT(q.signed_size, INTEL_QUOTE_HEADER_SIZE + INTEL_SGX_REPORT_SIZE);
    CHECK_EQ_INT(q.trailing_bytes, 0);
    check_hex(q.enclave.mrenclave, 32, summary, "mrenclave");
    check_hex(q.enclave.mrsigner, 32, summary, "mrsigner");
    CHECK_EQ_INT(q.enclave.isvprodid, jint(summary, "isvprodid"));
    CHECK_EQ_INT(q.enclave.isvsvn, jint(summary, "isvsvn"));
    check_hex(q.enclave.attributes, 16, summary, "attributes");
    CHECK_EQ_INT((le64_read(q.enclave.attributes) & 2u) != 0, json_is_true(jget(summary, "debug")));
    CHECK_EQ_INT(q.qe_report.isvsvn, jint(summary, "qe_isvsvn"));
    if (claims_file) {
        uint8_t *claims = file_read("ratls-interop", claims_file, &claims_size);
        static const uint8_t zero[32];

        CHECK_EQ_INT(attest_sha256(claims, claims_size, NULL, 0, digest), 0);
        CHECK(memcmp(q.report_data, digest, 32) == 0);
        CHECK(memcmp(q.report_data + 32, zero, 32) == 0);
        free(claims);
    }
    /* gramine's summary is of its legacy quote; its DICE quote binds other claims. */
    if (strcmp(file, "gramine.dice_quote.bin") != 0)
        check_hex(q.report_data, 64, summary, "report_data");
    leaf = pem_first_cert(q.pck_chain, q.pck_chain_size);
    CHECK_EQ_INT(pck_extensions_from_cert(leaf, &ext, &failure), 0);
    check_hex(ext.fmspc, 6, summary, "fmspc");
    CHECK_EQ_INT(ext.pcesvn, jint(summary, "pcesvn"));
    for (size_t i = 0; i < 16; i++)
        CHECK_EQ_INT(ext.tcb_components[i], json_integer_value(json_array_get(components, i)));
    check_issuer_cn(leaf, jstr(summary, "pck_ca"));
    CHECK_EQ_INT(ext.has_configuration,
                 strcmp(jstr(summary, "pck_ca"), "Intel SGX PCK Platform CA") == 0);
    X509_free(leaf);
    free(data);
}

TEST(quote_ratls_interop)
{
    json_t *root = case_load("ratls-interop");
    json_t *certificates = jget(root, "certificates");

    check_ratls_quote(certificates, "gramine-cert.pem", "gramine.legacy_quote.bin", NULL);
    check_ratls_quote(certificates, "gramine-cert.pem", "gramine.dice_quote.bin",
                      "gramine.dice_claims.cbor");
    check_ratls_quote(certificates, "intel-sgxsdk-cert.pem", "intel-sgxsdk.legacy_quote.bin", NULL);
    check_ratls_quote(certificates, "intel-sgxsdk-cert.pem", "intel-sgxsdk.dice_quote.bin",
                      "intel-sgxsdk.dice_claims.cbor");
    check_ratls_quote(certificates, "rats-tls-cert.pem", "rats-tls.dice_quote.bin",
                      "rats-tls.dice_claims.cbor");
    json_decref(root);
}

/* ---- quotes: broken on purpose ---- */

/* Parses a heap copy of exactly size bytes of data: 0, or the error with *ret_step. */
static int
parse_copy(const uint8_t *data, size_t size, struct intel_quote *ret, enum attest_step *ret_step)
{
    struct attest_failure failure = { .step = ATTEST_STEP_NONE };
    uint8_t *copy = malloc(size ? size : 1);
    int r;

    CHECK(copy);
    memcpy(copy, data, size);
    r = intel_quote_parse(copy, size, ret, &failure);
    free(copy);
    *ret_step = failure.step;
    CHECK_EQ_INT(r < 0, failure.step != ATTEST_STEP_NONE);
    if (r < 0)
        CHECK(failure.reason[0] != '\0');
    return r;
}

static void
expect_failure(const uint8_t *data, size_t size, int error, enum attest_step step)
{
    struct intel_quote q;
    enum attest_step got;

    CHECK_EQ_INT(parse_copy(data, size, &q, &got), error);
    CHECK_EQ_INT(got, step);
}

static void
expect_parse_error(const uint8_t *data, size_t size)
{
    expect_failure(data, size, -EBADMSG, ATTEST_STEP_PARSE);
}

static void
expect_unsupported(const uint8_t *data, size_t size)
{
    expect_failure(data, size, -EPROTONOSUPPORT, ATTEST_STEP_VERSION);
}

TEST(quote_truncated_at_every_length)
{
    const char *exact[] = { "sgx-v3-phala-p1", "tdx-v4-oasis", "tdx-v5-automata-a1" };
    struct intel_quote q;
    enum attest_step step;
    size_t size;
    uint8_t *data;

    for (size_t c = 0; c < ELEMENTSOF(exact); c++) {
        data = file_read(exact[c], "quote.bin", &size);
        for (size_t n = 0; n < size; n++)
            expect_parse_error(data, n);
        free(data);
    }
    /* 70 trailing bytes: cutting into them only shortens the tail. */
    data = file_read("tdx-v4-phala-p2", "quote.bin", &size);
    for (size_t n = 0; n < size; n++) {
        if (n < size - 70) {
            expect_parse_error(data, n);
        } else {
            CHECK_EQ_INT(parse_copy(data, n, &q, &step), 0);
            CHECK_EQ_INT(q.trailing_bytes, n - (size - 70));
        }
    }
    free(data);
}

/* A parsed copy of a case's quote and the offsets of its length fields. */
struct sample {
    uint8_t *data;
    size_t size;
    struct intel_quote q;
    size_t sig_len_at, auth_len_at, outer_cert_at, inner_cert_at;
};

static void
sample_load(const char *dir, struct sample *s)
{
    struct attest_failure failure;

    s->data = file_read(dir, "quote.bin", &s->size);
    CHECK_EQ_INT(intel_quote_parse(s->data, s->size, &s->q, &failure), 0);
    s->sig_len_at = s->q.signed_size;
    s->auth_len_at = (size_t)(s->q.qe_auth_data - s->data) - 2;
    s->inner_cert_at = (size_t)(s->q.qe_auth_data - s->data) + s->q.qe_auth_size;
    s->outer_cert_at = (size_t)(s->q.attestation_key - s->data) + INTEL_ECDSA_KEY_SIZE;
}

/* Adds delta to the u16 or u32 at offset of a copy, expects the parse to fail as PARSE. */
static void
expect_bad_length(const struct sample *s, size_t offset, unsigned width, int64_t delta)
{
    uint8_t *copy = malloc(s->size);

    CHECK(copy);
    memcpy(copy, s->data, s->size);
    if (width == 2)
        le16_write(copy + offset, (uint16_t)(le16_read(copy + offset) + delta));
    else
        le32_write(copy + offset, (uint32_t)(le32_read(copy + offset) + delta));
    expect_parse_error(copy, s->size);
    free(copy);
}

static void
expect_bad_lengths(const struct sample *s)
{
    const int64_t deltas[] = { 1, -1, 0x10000, -0x7fffffff };

    for (size_t i = 0; i < ELEMENTSOF(deltas); i++) {
        expect_bad_length(s, s->sig_len_at, 4, deltas[i]);
        expect_bad_length(s, s->inner_cert_at + 2, 4, deltas[i]);
        if (s->q.version > 3)
            expect_bad_length(s, s->outer_cert_at + 2, 4, deltas[i]);
    }
    expect_bad_length(s, s->auth_len_at, 2, 1);
    expect_bad_length(s, s->auth_len_at, 2, -1);
    expect_bad_length(s, s->auth_len_at, 2, 0xffff - s->q.qe_auth_size);
    expect_bad_length(s, s->sig_len_at, 4, -(int64_t)s->q.sig_data_size);
}

TEST(quote_corrupted_lengths)
{
    const char *dirs[] = { "sgx-v3-phala-p1", "tdx-v4-oasis", "tdx-v5-automata-a1",
                           "tdx-v4-phala-p2" };
    struct sample s;

    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        sample_load(dirs[i], &s);
        expect_bad_lengths(&s);
        if (s.q.version == 5) {
            expect_bad_length(&s, 50, 4, 1);
            expect_bad_length(&s, 50, 4, -1);
            expect_bad_length(&s, 50, 4, -64); /* the TD 1.0 size under type TD 1.5 */
        }
        if (s.q.trailing_bytes > 0) {
            /* A declared length that takes in padding leaves slack inside: refused. */
            expect_bad_length(&s, s.sig_len_at, 4, (int64_t)s.q.trailing_bytes);
        }
        free(s.data);
    }
}

static void
expect_header_patch(const struct sample *s, size_t offset, unsigned width, uint32_t value,
                    int error)
{
    uint8_t *copy = malloc(s->size);

    CHECK(copy);
    memcpy(copy, s->data, s->size);
    if (width == 1)
        copy[offset] = (uint8_t)value;
    else if (width == 2)
        le16_write(copy + offset, (uint16_t)value);
    else
        le32_write(copy + offset, value);
    if (error == -EPROTONOSUPPORT)
        expect_unsupported(copy, s->size);
    else
        expect_parse_error(copy, s->size);
    free(copy);
}

TEST(quote_unknown_version_key_tee_body)
{
    struct sample v3, v4, v5;

    sample_load("sgx-v3-phala-p1", &v3);
    sample_load("tdx-v4-oasis", &v4);
    sample_load("tdx-v5-automata-a1", &v5);
    for (uint32_t version = 0; version < 8; version++)
        if (version < 3 || version > 5)
            expect_header_patch(&v4, 0, 2, version, -EPROTONOSUPPORT);
    expect_header_patch(&v3, 0, 2, 0xffff, -EPROTONOSUPPORT);
    expect_header_patch(&v3, 2, 2, 3, -EPROTONOSUPPORT); /* ECDSA-384 */
    expect_header_patch(&v4, 2, 2, 0, -EPROTONOSUPPORT);
    expect_header_patch(&v4, 4, 4, 0x82, -EPROTONOSUPPORT);
    expect_header_patch(&v3, 4, 4, 1, -EPROTONOSUPPORT);
    expect_header_patch(&v3, 4, 4, INTEL_TEE_TDX, -EPROTONOSUPPORT); /* v3 is SGX only */
    expect_header_patch(&v4, 4, 4, INTEL_TEE_SGX, -EPROTONOSUPPORT); /* v4 is TDX only here */
    expect_header_patch(&v5, 4, 4, INTEL_TEE_SGX, -EPROTONOSUPPORT); /* TD body, SGX TEE */
    expect_header_patch(&v5, 48, 2, 0, -EPROTONOSUPPORT);
    expect_header_patch(&v5, 48, 2, 4, -EPROTONOSUPPORT);
    expect_header_patch(&v5, 48, 2, INTEL_BODY_SGX, -EPROTONOSUPPORT); /* SGX body, TDX TEE */
    expect_header_patch(&v5, 48, 2, INTEL_BODY_TD10, -EBADMSG);        /* size 648 under TD 1.0 */
    expect_header_patch(&v3, 12, 1, 0x94, -EPROTONOSUPPORT);           /* QE vendor id */
    expect_header_patch(&v4, 27, 1, 0x08, -EPROTONOSUPPORT);
    /* The header is checked before anything else is read. */
    expect_unsupported((const uint8_t[48]){ 6, 0, 2, 0 }, 48);
    free(v3.data);
    free(v4.data);
    free(v5.data);
}

TEST(quote_wrong_certification_data_type)
{
    struct sample v3, v4, v5;

    sample_load("sgx-v3-phala-p1", &v3);
    sample_load("tdx-v4-trustee-debug", &v4);
    sample_load("tdx-v5-phala-p3", &v5);
    for (uint32_t type = 0; type < 8; type++) {
        if (type != INTEL_CERT_DATA_PCK_CHAIN) {
            expect_header_patch(&v3, v3.inner_cert_at, 2, type, -EBADMSG);
            expect_header_patch(&v4, v4.inner_cert_at, 2, type, -EBADMSG);
            expect_header_patch(&v5, v5.inner_cert_at, 2, type, -EBADMSG);
        }
        if (type != INTEL_CERT_DATA_QE_REPORT) {
            expect_header_patch(&v4, v4.outer_cert_at, 2, type, -EBADMSG);
            expect_header_patch(&v5, v5.outer_cert_at, 2, type, -EBADMSG);
        }
    }
    free(v3.data);
    free(v4.data);
    free(v5.data);
}

/* A v5 quote made from a v3 or v4 one: the body descriptor inserted after the header and, for
 * v3, the QE part of the signature data wrapped in certification data type 6 (v5 signature data
 * is v4's). */
static uint8_t *
as_v5(const struct sample *s, uint16_t body_type, size_t *ret_size)
{
    size_t body = s->q.signed_size - INTEL_QUOTE_HEADER_SIZE, wrap = s->q.version == 3 ? 6 : 0;
    size_t keys_end = (size_t)(s->q.attestation_key - s->data) + INTEL_ECDSA_KEY_SIZE;
    size_t qe_size = s->size - s->q.trailing_bytes - keys_end;
    uint8_t *v5 = malloc(s->size + 6 + wrap), *p = v5;

    CHECK(v5);
    memcpy(p, s->data, s->q.signed_size);
    le16_write(p, 5);
    le16_write(p + 48, body_type);
    le32_write(p + 50, (uint32_t)body);
    memcpy(p + 54, s->data + INTEL_QUOTE_HEADER_SIZE, body);
    p += 54 + body;
    le32_write(p, s->q.sig_data_size + (uint32_t)wrap);
    memcpy(p + 4, s->q.signature, keys_end - (size_t)(s->q.signature - s->data));
    p += 4 + keys_end - (size_t)(s->q.signature - s->data);
    if (wrap) {
        le16_write(p, INTEL_CERT_DATA_QE_REPORT);
        le32_write(p + 2, (uint32_t)qe_size);
        p += 6;
    }
    memcpy(p, s->data + keys_end, s->size - keys_end);
    *ret_size = s->size + 6 + wrap;
    return v5;
}

TEST(quote_v5_with_sgx_and_td10_bodies)
{
    struct attest_failure failure;
    struct sample v3, v4;
    struct intel_quote q;
    uint8_t *data;
    size_t size;

    sample_load("sgx-v3-phala-p1", &v3);
    data = as_v5(&v3, INTEL_BODY_SGX, &size);
    CHECK_EQ_INT(intel_quote_parse(data, size, &q, &failure), 0);
    CHECK_EQ_INT(q.body_type, INTEL_BODY_SGX);
    CHECK_EQ_INT(q.signed_size, 48 + 6 + 384);
    CHECK_EQ_INT(q.cert_data_type, INTEL_CERT_DATA_QE_REPORT);
    CHECK_EQ_INT(q.sig_data_size, v3.q.sig_data_size + 6);
    CHECK(same_sgx_report(&q.enclave, &v3.q.enclave));
    CHECK(same_sgx_report(&q.qe_report, &v3.q.qe_report));
    CHECK_EQ_INT(q.pck_chain_size, v3.q.pck_chain_size);
    free(data);
    /* The same bytes as a v3 quote (with v4 signature data): refused as malformed. */
    data = as_v5(&v3, INTEL_BODY_SGX, &size);
    memmove(data + 48, data + 54, size - 54);
    le16_write(data, 3);
    expect_parse_error(data, size - 6);
    free(data);

    sample_load("tdx-v4-trustee-debug", &v4);
    data = as_v5(&v4, INTEL_BODY_TD10, &size);
    CHECK_EQ_INT(intel_quote_parse(data, size, &q, &failure), 0);
    CHECK_EQ_INT(q.body_type, INTEL_BODY_TD10);
    CHECK_EQ_INT(q.signed_size, 48 + 6 + 584);
    CHECK(!q.td.td15);
    CHECK(same_td(&q.td, &v4.q.td));
    CHECK_EQ_INT(q.td.td_attributes & 1u, 1); /* the debug TD */
    free(data);
    /* A TD 1.0 body (584 bytes) declared as TD 1.5: refused by its size. */
    data = as_v5(&v4, INTEL_BODY_TD15, &size);
    expect_parse_error(data, size);
    free(data);
    free(v3.data);
    free(v4.data);
}

TEST(quote_fields_follow_the_bytes)
{
    struct attest_failure failure;
    struct sample s;
    struct intel_quote q;

    /* The parser checks no signature: a flipped byte is read as it is. */
    sample_load("tdx-v5-automata-a1", &s);
    s.data[48 + 6 + 136] ^= 0x01; /* MRTD[0] */
    s.data[48 + 6 + 120] ^= 0x01; /* TDATTRIBUTES bit 0 */
    CHECK_EQ_INT(intel_quote_parse(s.data, s.size, &q, &failure), 0);
    CHECK_EQ_INT(q.td.mrtd[0], s.q.td.mrtd[0] ^ 0x01);
    CHECK_EQ_INT(q.td.td_attributes, s.q.td.td_attributes ^ 1u);
    free(s.data);
    CHECK_EQ_INT(intel_quote_parse(NULL, 0, &q, &failure), -EINVAL);
}

/* Each field read from its offset in Intel's layout (SGX report: "SGX ECDSA Quote Library API"
 * A.4 Table 5; TD report: "TDX DCAP Quoting Library API" A.3.2), with a body whose byte i is i:
 * the real quotes have zeros in many fields, which would not tell one offset from another. */
static void
check_at(const uint8_t *field, size_t size, size_t offset)
{
    for (size_t i = 0; i < size; i++)
        CHECK_EQ_INT(field[i], (uint8_t)(offset + i));
}

static uint64_t
le_at(size_t offset, size_t size)
{
    uint64_t v = 0;

    for (size_t i = size; i-- > 0;)
        v = v << 8 | (uint8_t)(offset + i);
    return v;
}

TEST(report_field_offsets)
{
    struct attest_failure failure;
    struct intel_sgx_report r;
    struct intel_quote q;
    struct sample s;
    uint8_t body[INTEL_TD15_REPORT_SIZE];

    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)i;
    intel_sgx_report_parse(body, &r);
    check_at(r.cpusvn, 16, 0);
    CHECK_EQ_INT(r.miscselect, le_at(16, 4));
    check_at(r.isvextprodid, 16, 32);
    check_at(r.attributes, 16, 48);
    check_at(r.mrenclave, 32, 64);
    check_at(r.mrsigner, 32, 128);
    check_at(r.configid, 64, 192);
    CHECK_EQ_INT(r.isvprodid, le_at(256, 2));
    CHECK_EQ_INT(r.isvsvn, le_at(258, 2));
    CHECK_EQ_INT(r.configsvn, le_at(260, 2));
    check_at(r.isvfamilyid, 16, 304);
    check_at(r.report_data, 64, 320);

    sample_load("tdx-v5-automata-a1", &s);
    memcpy(s.data + 54, body, sizeof(body));
    CHECK_EQ_INT(intel_quote_parse(s.data, s.size, &q, &failure), 0);
    check_at(q.td.tee_tcb_svn, 16, 0);
    check_at(q.td.mrseam, 48, 16);
    check_at(q.td.mrsignerseam, 48, 64);
    CHECK(q.td.seam_attributes == le_at(112, 8));
    CHECK(q.td.td_attributes == le_at(120, 8));
    CHECK(q.td.xfam == le_at(128, 8));
    check_at(q.td.mrtd, 48, 136);
    check_at(q.td.mrconfigid, 48, 184);
    check_at(q.td.mrowner, 48, 232);
    check_at(q.td.mrownerconfig, 48, 280);
    for (size_t i = 0; i < 4; i++)
        check_at(q.td.rtmr[i], 48, 328 + 48 * i);
    check_at(q.report_data, 64, 520);
    check_at(q.td.tee_tcb_svn2, 16, 584);
    check_at(q.td.mrservicetd, 48, 600);
    free(s.data);
}

/* ---- PCK SGX extension: built member by member ---- */

struct buf {
    uint8_t data[8192];
    size_t size;
};

static void
put(struct buf *b, const void *data, size_t size)
{
    CHECK(b->size + size <= sizeof(b->data));
    memcpy(b->data + b->size, data, size);
    b->size += size;
}

/* A TLV with the shortest DER length. */
static void
put_tlv(struct buf *b, uint8_t tag, const void *content, size_t size)
{
    uint8_t header[4] = { tag };
    size_t n;

    if (size < 0x80) {
        header[1] = (uint8_t)size;
        n = 2;
    } else if (size < 0x100) {
        header[1] = 0x81;
        header[2] = (uint8_t)size;
        n = 3;
    } else {
        CHECK(size <= 0xffff);
        header[1] = 0x82;
        header[2] = (uint8_t)(size >> 8);
        header[3] = (uint8_t)size;
        n = 4;
    }
    put(b, header, n);
    put(b, content, size);
}

/* A non-negative INTEGER (or ENUMERATED) in its shortest form. */
static void
put_uint(struct buf *b, uint8_t tag, unsigned long value)
{
    uint8_t bytes[9];
    size_t n = 0;

    do {
        memmove(bytes + 1, bytes, n++);
        bytes[0] = (uint8_t)value;
        value >>= 8;
    } while (value);
    if (bytes[0] & 0x80) {
        memmove(bytes + 1, bytes, n++);
        bytes[0] = 0;
    }
    put_tlv(b, tag, bytes, n);
}

enum tweak_kind {
    TWEAK_NONE,
    TWEAK_OMIT,      /* the member is left out */
    TWEAK_DUPLICATE, /* the member is there twice */
    TWEAK_WRONG_TYPE,
    TWEAK_OVERSIZE,     /* one byte more, or one more than the largest value */
    TWEAK_NOT_SHORTEST, /* an INTEGER or ENUMERATED with a needless leading 00 */
};

/* Which member to change: arc of the extension (1..7) and, inside TCB (2) or Configuration (7),
 * the arc of their member (0: the member itself). */
struct tweak {
    unsigned arc, sub;
    enum tweak_kind kind;
};

static bool
tweaked(const struct tweak *t, unsigned arc, unsigned sub, enum tweak_kind kind)
{
    return t && t->arc == arc && t->sub == sub && t->kind == kind;
}

static void
put_octets_value(struct buf *b, const uint8_t *bytes, size_t size, const struct tweak *t,
                 unsigned arc, unsigned sub)
{
    uint8_t longer[17] = { 0 };

    if (tweaked(t, arc, sub, TWEAK_WRONG_TYPE)) {
        put_tlv(b, 0x0c, bytes, size); /* UTF8String */
    } else if (tweaked(t, arc, sub, TWEAK_OVERSIZE)) {
        CHECK(size < sizeof(longer));
        memcpy(longer, bytes, size);
        put_tlv(b, 0x04, longer, size + 1);
    } else {
        put_tlv(b, 0x04, bytes, size);
    }
}

static void
put_uint_value(struct buf *b, uint8_t tag, unsigned long value, unsigned long max,
               const struct tweak *t, unsigned arc, unsigned sub)
{
    if (tweaked(t, arc, sub, TWEAK_WRONG_TYPE))
        put_uint(b, tag == 0x02 ? 0x0a : 0x02, value);
    else if (tweaked(t, arc, sub, TWEAK_OVERSIZE))
        put_uint(b, tag, max + 1);
    else if (tweaked(t, arc, sub, TWEAK_NOT_SHORTEST) && value < 0x80)
        put_tlv(b, tag, (const uint8_t[]){ 0, (uint8_t)value }, 2);
    else
        put_uint(b, tag, value);
}

static void
put_bool_value(struct buf *b, bool value, const struct tweak *t, unsigned arc, unsigned sub)
{
    const uint8_t v = value ? 0xff : 0x00, two[2] = { v, v };

    if (tweaked(t, arc, sub, TWEAK_WRONG_TYPE))
        put_uint(b, 0x02, value);
    else if (tweaked(t, arc, sub, TWEAK_OVERSIZE))
        put_tlv(b, 0x01, two, 2);
    else
        put_tlv(b, 0x01, &v, 1);
}

/* SEQUENCE { OID 1.2.840.113741.1.13.1.arc[.sub], value } once, twice or not at all. */
static void
put_member(struct buf *b, unsigned arc, unsigned sub, const struct buf *value,
           const struct tweak *t)
{
    uint8_t oid[11] = { 0x2a, 0x86, 0x48, 0x86,         0xf8,        0x4d,
                        0x01, 0x0d, 0x01, (uint8_t)arc, (uint8_t)sub };
    struct buf member = { .size = 0 };
    int times = tweaked(t, arc, sub, TWEAK_OMIT)        ? 0
                : tweaked(t, arc, sub, TWEAK_DUPLICATE) ? 2
                                                        : 1;

    put_tlv(&member, 0x06, oid, sub ? 11 : 10);
    put(&member, value->data, value->size);
    for (int i = 0; i < times; i++)
        put_tlv(b, 0x30, member.data, member.size);
}

static void
put_tcb(struct buf *b, const struct pck_extensions *e, const struct tweak *t)
{
    struct buf members = { .size = 0 }, value;

    for (unsigned sub = 1; sub <= 18; sub++) {
        value.size = 0;
        if (sub <= 16)
            put_uint_value(&value, 0x02, e->tcb_components[sub - 1], 255, t, 2, sub);
        else if (sub == 17)
            put_uint_value(&value, 0x02, e->pcesvn, 65535, t, 2, sub);
        else
            put_octets_value(&value, e->cpusvn, 16, t, 2, sub);
        put_member(&members, 2, sub, &value, t);
    }
    put_tlv(b, tweaked(t, 2, 0, TWEAK_WRONG_TYPE) ? 0x31 : 0x30, members.data, members.size);
}

static void
put_configuration(struct buf *b, const struct pck_extensions *e, const struct tweak *t)
{
    const bool values[] = { false, e->dynamic_platform, e->cached_keys, e->smt_enabled };
    struct buf members = { .size = 0 }, value;

    for (unsigned sub = 1; sub <= 3; sub++) {
        value.size = 0;
        put_bool_value(&value, values[sub], t, 7, sub);
        put_member(&members, 7, sub, &value, t);
    }
    put_tlv(b, tweaked(t, 7, 0, TWEAK_WRONG_TYPE) ? 0x31 : 0x30, members.data, members.size);
}

/* The extension's DER for e, in the order Intel writes it, with one tweak (or none). */
static void
ext_build(const struct pck_extensions *e, const struct tweak *t, struct buf *out)
{
    struct buf members = { .size = 0 }, value;

    for (unsigned arc = 1; arc <= 7; arc++) {
        value.size = 0;
        if (arc == 1)
            put_octets_value(&value, e->ppid, 16, t, arc, 0);
        else if (arc == 2)
            put_tcb(&value, e, t);
        else if (arc == 3)
            put_octets_value(&value, e->pce_id, 2, t, arc, 0);
        else if (arc == 4)
            put_octets_value(&value, e->fmspc, 6, t, arc, 0);
        else if (arc == 5)
            put_uint_value(&value, 0x0a, e->sgx_type, 2, t, arc, 0);
        else if (arc == 6 && e->has_platform_instance_id)
            put_octets_value(&value, e->platform_instance_id, 16, t, arc, 0);
        else if (arc == 7 && e->has_configuration)
            put_configuration(&value, e, t);
        else
            continue;
        put_member(&members, arc, 0, &value, t);
    }
    out->size = 0;
    put_tlv(out, 0x30, members.data, members.size);
}

/* Parses a heap copy of exactly the built bytes. */
static int
ext_parse(const struct buf *b, struct pck_extensions *ret, struct attest_failure *failure)
{
    uint8_t *copy = malloc(b->size ? b->size : 1);
    int r;

    CHECK(copy);
    memcpy(copy, b->data, b->size);
    r = pck_extensions_parse(copy, b->size, ret, failure);
    free(copy);
    return r;
}

static void
expect_ext_refused(const struct buf *b, const char *reason_part)
{
    struct attest_failure failure = { .step = ATTEST_STEP_NONE };
    struct pck_extensions ext;

    CHECK_EQ_INT(ext_parse(b, &ext, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    if (!strstr(failure.reason, reason_part))
        fprintf(stderr, "  reason \"%s\" does not name \"%s\"\n", failure.reason, reason_part);
    CHECK(strstr(failure.reason, reason_part));
}

/* The real extension of a case's PCK leaf, and what it parses to. */
static uint8_t *
case_ext(const char *dir, size_t *ret_size, struct pck_extensions *ret)
{
    struct attest_failure failure;
    size_t pem_size;
    uint8_t *pem = file_read(dir, "pck_chain_from_quote.pem", &pem_size), *der;
    X509 *leaf = pem_first_cert(pem, pem_size);

    der = cert_ext_der(leaf, ret_size);
    CHECK_EQ_INT(pck_extensions_parse(der, *ret_size, ret, &failure), 0);
    X509_free(leaf);
    free(pem);
    return der;
}

TEST(pck_builder_matches_intel)
{
    /* The test's encoder writes Intel's bytes exactly, for a Processor and a Platform CA leaf:
     * the negatives below differ from real extensions only in the tweak. */
    const char *dirs[] = { "sgx-v3-phala-p1", "tdx-v4-phala-p2", "tdx-v5-automata-a1" };
    struct pck_extensions ext, again;
    struct attest_failure failure;
    struct buf built;
    size_t size;

    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        uint8_t *der = case_ext(dirs[i], &size, &ext);

        ext_build(&ext, NULL, &built);
        CHECK_EQ_INT(built.size, size);
        CHECK(memcmp(built.data, der, size) == 0);
        CHECK_EQ_INT(ext_parse(&built, &again, &failure), 0);
        CHECK(same_pck(&ext, &again));
        free(der);
    }
    /* sgx-v3-phala-p1 has SVN 255 (DER 02 02 00 FF); tdx-v4-phala-p2 carries Configuration. */
    free(case_ext("sgx-v3-phala-p1", &size, &ext));
    CHECK_EQ_INT(ext.tcb_components[4], 255);
    CHECK(!ext.has_configuration && !ext.has_platform_instance_id);
    free(case_ext("tdx-v4-phala-p2", &size, &ext));
    CHECK(ext.has_configuration && ext.has_platform_instance_id);
    CHECK(ext.dynamic_platform && ext.cached_keys && ext.smt_enabled);
}

TEST(pck_members_missing_duplicate_mistyped_oversized)
{
    static const struct {
        unsigned arc, sub;
        const char *name;
    } members[] = {
        { 1, 0, "PPID" },
        { 2, 0, "TCB" },
        { 2, 1, "TCB component 01" },
        { 2, 8, "TCB component 08" },
        { 2, 16, "TCB component 16" },
        { 2, 17, "PCESVN" },
        { 2, 18, "CPUSVN" },
        { 3, 0, "PCE-ID" },
        { 4, 0, "FMSPC" },
        { 5, 0, "SGX Type" },
        { 6, 0, "PlatformInstanceID" },
        { 7, 0, "Configuration" },
        { 7, 1, "dynamicPlatform" },
        { 7, 2, "cachedKeys" },
        { 7, 3, "SMTEnabled" },
    };
    struct pck_extensions ext;
    struct buf b;
    size_t size;

    free(case_ext("tdx-v4-phala-p2", &size, &ext));
    for (size_t i = 0; i < ELEMENTSOF(members); i++) {
        struct tweak t = { .arc = members[i].arc, .sub = members[i].sub };
        bool sequence = t.sub == 0 && (t.arc == 2 || t.arc == 7);
        /* Left out, .6 and .7 name their missing partner; a Configuration member names itself. */
        const char *missing = t.arc == 6 || (t.arc == 7 && t.sub == 0) ? "must come together"
                              : t.arc == 7                             ? "Configuration"
                                                                       : members[i].name;

        fprintf(stderr, "  member %s\n", members[i].name);
        t.kind = TWEAK_OMIT;
        ext_build(&ext, &t, &b);
        expect_ext_refused(&b, missing);
        t.kind = TWEAK_DUPLICATE;
        ext_build(&ext, &t, &b);
        expect_ext_refused(&b, t.arc == 2 && t.sub ? "TCB" : members[i].name);
        t.kind = TWEAK_WRONG_TYPE;
        ext_build(&ext, &t, &b);
        expect_ext_refused(&b, members[i].name);
        if (!sequence) {
            t.kind = TWEAK_OVERSIZE;
            ext_build(&ext, &t, &b);
            expect_ext_refused(&b, members[i].name);
        }
        if (t.arc == 5 || (t.arc == 2 && t.sub >= 1 && t.sub <= 17)) {
            t.kind = TWEAK_NOT_SHORTEST;
            ext_build(&ext, &t, &b);
            expect_ext_refused(&b, members[i].name);
        }
    }
}

/* Replaces the first occurrence of from (n bytes) in b by to (m bytes) and fixes no length:
 * for changes of equal size only. */
static void
patch(struct buf *b, const uint8_t *from, const uint8_t *to, size_t n)
{
    for (size_t i = 0; i + n <= b->size; i++)
        if (memcmp(b->data + i, from, n) == 0) {
            memcpy(b->data + i, to, n);
            return;
        }
    CHECK(!"pattern not found");
}

TEST(pck_strict_der)
{
    static const uint8_t tcb01[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01,
                                     0x0d, 0x01, 0x02, 0x01, 0x02, 0x01, 0x03 };
    struct pck_extensions ext, parsed;
    struct attest_failure failure;
    struct buf b, good;
    uint8_t from[sizeof(tcb01) + 1], to[sizeof(tcb01) + 1];
    size_t size;

    free(case_ext("tdx-v4-phala-p2", &size, &ext));
    CHECK_EQ_INT(ext.tcb_components[0], 3); /* tcb01 above: component 01 = INTEGER 3 */
    ext_build(&ext, NULL, &good);

    /* A negative SVN and a BOOLEAN that is neither 00 nor FF (same sizes, patched in place). */
    b = good;
    memcpy(to, tcb01, sizeof(tcb01));
    to[sizeof(tcb01) - 1] = 0x83;
    patch(&b, tcb01, to, sizeof(tcb01));
    expect_ext_refused(&b, "TCB component 01");
    b = good;
    memcpy(from, (const uint8_t[]){ 0x07, 0x03, 0x01, 0x01, 0xff }, 5);
    memcpy(to, (const uint8_t[]){ 0x07, 0x03, 0x01, 0x01, 0x01 }, 5);
    patch(&b, from, to, 5);
    expect_ext_refused(&b, "SMTEnabled");
    /* An unknown member arc, in the extension and in TCB. */
    b = good;
    memcpy(from, (const uint8_t[]){ 0x0d, 0x01, 0x04, 0x04, 0x06 }, 5);
    memcpy(to, (const uint8_t[]){ 0x0d, 0x01, 0x08, 0x04, 0x06 }, 5);
    patch(&b, from, to, 5);
    expect_ext_refused(&b, "unknown member");
    b = good;
    memcpy(to, tcb01, sizeof(tcb01));
    to[10] = 0x13; /* …13.1.2.19 */
    patch(&b, tcb01, to, sizeof(tcb01));
    expect_ext_refused(&b, "unknown member");
    /* Bytes after the outer SEQUENCE, and a non-minimal outer length. */
    b = good;
    put(&b, (const uint8_t[]){ 0 }, 1);
    expect_ext_refused(&b, "not one SEQUENCE");
    b.size = 0;
    put(&b, (const uint8_t[]){ 0x30, 0x81, 0x03, 0x05, 0x01, 0x00 }, 6);
    expect_ext_refused(&b, "not one SEQUENCE");
    /* An empty SEQUENCE: every member missing, the first one named. */
    b.size = 0;
    put(&b, (const uint8_t[]){ 0x30, 0x00 }, 2);
    expect_ext_refused(&b, "PPID");
    /* Too large to be one, whatever it holds. */
    CHECK_EQ_INT(pck_extensions_parse(good.data, PCK_EXTENSIONS_DER_MAX + 1, &parsed, &failure),
                 -EBADMSG);
    /* Every truncation is refused, and never read past. */
    for (size_t n = 0; n < good.size; n++) {
        b = good;
        b.size = n;
        CHECK_EQ_INT(ext_parse(&b, &parsed, &failure), -EBADMSG);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    }
}

/* A leaf with the extension's OID twice, and one without it. */
TEST(pck_from_cert)
{
    struct pck_extensions ext;
    struct attest_failure failure;
    size_t pem_size, der_size;
    uint8_t *pem = file_read("sgx-v3-phala-p1", "pck_chain_from_quote.pem", &pem_size);
    X509 *leaf = pem_first_cert(pem, pem_size), *copy;
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_size);
    X509 *ca, *root;
    uint8_t *der = cert_ext_der(leaf, &der_size);
    ASN1_OBJECT *oid = OBJ_txt2obj(SGX_EXT_OID, 1);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();

    CHECK(bio && oid && value);
    /* The chain's CA and root carry no SGX extension. */
    X509_free(PEM_read_bio_X509(bio, NULL, NULL, NULL)); /* the leaf again */
    ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CHECK(ca && root);
    CHECK_EQ_INT(pck_extensions_from_cert(ca, &ext, &failure), -ENOENT);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    CHECK_EQ_INT(pck_extensions_from_cert(root, &ext, &failure), -ENOENT);
    CHECK(ASN1_OCTET_STRING_set(value, der, (int)der_size) == 1);
    copy = X509_dup(leaf);
    CHECK(copy);
    {
        X509_EXTENSION *twice = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value);

        CHECK(twice);
        CHECK(X509_add_ext(copy, twice, -1) == 1);
        X509_EXTENSION_free(twice);
    }
    CHECK_EQ_INT(pck_extensions_from_cert(copy, &ext, &failure), -EBADMSG);
    CHECK(strstr(failure.reason, "twice"));
    CHECK_EQ_INT(pck_extensions_from_cert(leaf, &ext, &failure), 0);
    CHECK_EQ_INT(ext.pcesvn, 13);
    X509_free(copy);
    X509_free(ca);
    X509_free(root);
    X509_free(leaf);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
    BIO_free(bio);
    free(der);
    free(pem);
}

TEST_MAIN(TEST_CASE(quote_cases), TEST_CASE(quote_ratls_interop),
          TEST_CASE(quote_truncated_at_every_length), TEST_CASE(quote_corrupted_lengths),
          TEST_CASE(quote_unknown_version_key_tee_body),
          TEST_CASE(quote_wrong_certification_data_type),
          TEST_CASE(quote_v5_with_sgx_and_td10_bodies), TEST_CASE(quote_fields_follow_the_bytes),
          TEST_CASE(report_field_offsets), TEST_CASE(pck_builder_matches_intel),
          TEST_CASE(pck_members_missing_duplicate_mistyped_oversized), TEST_CASE(pck_strict_der),
          TEST_CASE(pck_from_cert))
