/* AMD SEV-SNP: the four real reports of ../shared/testvectors verify at their times with the
 * claims their case.json names, and every way to break them fails at the step it should: report
 * bytes, certificates, times, pins, chips, sizes and versions; the GHCB certificate table and the
 * configfs-tsm JSON of the Genoa case; product TCB layouts; several threads on one certificate
 * set. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <attest/snp.h>

#include "attest-util.h"
#include "cleanup.h"
#include "snp-report.h"
#include "test-files.h"
#include "test.h"

#define FILE_MAX (32u << 10)
#define DAY 86400
#define VLEK_NOT_BEFORE 1733868861 /* 2024-12-10T22:14:21Z */
#define VLEK_NOT_AFTER 1765404861  /* 2025-12-10T22:14:21Z */

struct snp_case {
    const char *name;
    const char *leaf; /* vcek.der or vlek.der */
    const char *ask;  /* ask.pem or asvk.pem */
};

static const struct snp_case snp_cases[] = {
    { "snp-milan-gosevguest", "vcek.der", "ask.pem" },
    { "snp-milan-trustee", "vcek.der", "ask.pem" },
    { "snp-vlek-trustee", "vlek.der", "asvk.pem" },
    { "snp-genoa-veraison-tsm", "vcek.der", "ask.pem" },
};

/* A file of the test vectors, read whole. */
struct blob {
    uint8_t data[FILE_MAX];
    size_t size;
};

static void
blob_read(struct blob *b, const char *dir, const char *file)
{
    char path[512];

    CHECK(snprintf(path, sizeof(path), "%s/%s/%s", TESTVECTORS_DIR, dir, file) < (int)sizeof(path));
    b->size = test_read_file(path, b->data, sizeof(b->data));
    CHECK(b->size > 0 && b->size < sizeof(b->data));
}

static json_t *
case_json(const char *name)
{
    char path[512];
    json_error_t error;
    json_t *root;

    CHECK(snprintf(path, sizeof(path), "%s/%s/case.json", TESTVECTORS_DIR, name) <
          (int)sizeof(path));
    root = json_load_file(path, 0, &error);
    CHECK(root);
    return root;
}

static const char *
json_path_string(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(root, a), b);

    CHECK(json_is_string(v));
    return json_string_value(v);
}

static json_int_t
json_path_int(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(root, a), b);

    CHECK(json_is_integer(v));
    return json_integer_value(v);
}

static void
check_hex(const uint8_t *data, size_t size, const char *expected)
{
    char hex[2 * SNP_CHIP_ID_SIZE + 1];

    CHECK(size <= SNP_CHIP_ID_SIZE);
    attest_hex_encode(data, size, hex);
    CHECK_EQ_STR(hex, expected);
}

/* "0x3001f" */
static uint64_t
hex_number(const char *text)
{
    CHECK(strncmp(text, "0x", 2) == 0);
    return strtoull(text + 2, NULL, 16);
}

/* A TCB given as its 8 bytes in hex, in report order. */
static uint64_t
tcb_from_hex(const char *text)
{
    uint8_t b[8];

    CHECK(strlen(text) == 16);
    for (size_t i = 0; i < 8; i++) {
        char byte[3] = { text[2 * i], text[2 * i + 1], 0 };

        b[i] = (uint8_t)strtoul(byte, NULL, 16);
    }
    return le64_read(b);
}

/* A TCB given as {bl, tee, snp, ucode} (Milan and Genoa). */
static void
check_tcb_object(uint64_t tcb, json_t *expected)
{
    struct snp_tcb t;

    snp_tcb_decode(SNP_PRODUCT_MILAN, tcb, &t);
    CHECK_EQ_INT(t.bootloader, json_integer_value(json_object_get(expected, "bl")));
    CHECK_EQ_INT(t.tee, json_integer_value(json_object_get(expected, "tee")));
    CHECK_EQ_INT(t.snp, json_integer_value(json_object_get(expected, "snp")));
    CHECK_EQ_INT(t.microcode, json_integer_value(json_object_get(expected, "ucode")));
}

static struct attest_snp_certs *
certs_load(const struct snp_case *c, const uint8_t *pin, struct attest_failure *failure)
{
    static struct blob leaf, ask, ark;
    struct attest_snp_cert_files files;
    struct attest_snp_certs *certs = NULL;

    blob_read(&leaf, c->name, c->leaf);
    blob_read(&ask, c->name, c->ask);
    blob_read(&ark, c->name, "ark.pem");
    files = (struct attest_snp_cert_files){ .vcek = { leaf.data, leaf.size },
                                            .ask = { ask.data, ask.size },
                                            .ark = { ark.data, ark.size },
                                            .ark_key_sha256 = pin };
    if (attest_snp_certs_new(&files, &certs, failure) < 0)
        return NULL;
    return certs;
}

static int64_t
case_time(json_t *root)
{
    return (int64_t)json_path_int(root, "verification_time", "unix");
}

static int
verify_at(const struct blob *report, const struct attest_snp_certs *certs, int64_t at,
          struct attest_snp_result *result, struct attest_failure *failure)
{
    struct attest_snp_options options = { .at = at };

    return attest_snp_verify(report->data, report->size, certs, &options, result, failure);
}

/* The claims are what case.json's identity says. */
static void
check_identity(const struct attest_claims *claims, json_t *root)
{
    const struct attest_snp_claims *s = &claims->snp;
    json_t *id = json_object_get(root, "identity");

    CHECK_EQ_INT(claims->platform, ATTEST_PLATFORM_SNP);
    CHECK_EQ_INT(claims->tcb_status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(s->version, json_path_int(root, "identity", "version"));
    CHECK_EQ_INT(s->guest_svn, json_path_int(root, "identity", "guest_svn"));
    CHECK(s->policy == hex_number(json_path_string(root, "identity", "policy")));
    CHECK_EQ_INT(claims->debug, json_is_true(json_object_get(id, "policy_debug")));
    CHECK_EQ_INT((s->policy >> 16) & 1, json_is_true(json_object_get(id, "policy_smt")));
    CHECK_EQ_INT((s->policy >> 18) & 1, json_is_true(json_object_get(id, "policy_migrate_ma")));
    CHECK_EQ_INT(s->vmpl, json_path_int(root, "identity", "vmpl"));
    check_hex(s->measurement, sizeof(s->measurement),
              json_path_string(root, "identity", "measurement"));
    check_hex(claims->report_data, sizeof(claims->report_data),
              json_path_string(root, "identity", "report_data"));
    check_hex(s->chip_id, sizeof(s->chip_id), json_path_string(root, "identity", "chip_id"));
    check_hex(s->host_data, sizeof(s->host_data), json_path_string(root, "identity", "host_data"));
    check_hex(s->family_id, sizeof(s->family_id), json_path_string(root, "identity", "family_id"));
    check_hex(s->image_id, sizeof(s->image_id), json_path_string(root, "identity", "image_id"));
    check_hex(s->id_key_digest, sizeof(s->id_key_digest),
              json_path_string(root, "identity", "id_key_digest"));
    check_hex(s->author_key_digest, sizeof(s->author_key_digest),
              json_path_string(root, "identity", "author_key_digest"));
    check_hex(s->report_id, sizeof(s->report_id), json_path_string(root, "identity", "report_id"));
    CHECK(s->reported_tcb == tcb_from_hex(json_path_string(root, "identity", "reported_tcb_hex")));
    CHECK(s->current_tcb == tcb_from_hex(json_path_string(root, "identity", "current_tcb_hex")));
    check_tcb_object(s->committed_tcb, json_object_get(id, "committed_tcb"));
    check_tcb_object(s->launch_tcb, json_object_get(id, "launch_tcb"));
    CHECK(s->platform_info == hex_number(json_path_string(root, "identity", "platform_info")));
    CHECK_EQ_STR(s->product, json_string_value(json_object_get(root, "product")));
    CHECK_EQ_INT(s->vlek, strcmp(json_path_string(root, "identity", "signing_key"), "VLEK") == 0);
}

TEST(cases_verify_with_their_claims)
{
    for (size_t i = 0; i < ELEMENTSOF(snp_cases); i++) {
        json_t *root = case_json(snp_cases[i].name);
        struct attest_failure failure = { .step = ATTEST_STEP_PARSE };
        struct attest_snp_certs *certs = certs_load(&snp_cases[i], NULL, &failure);
        struct attest_snp_result result;
        struct blob report;

        CHECK(certs);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
        blob_read(&report, snp_cases[i].name, "report.bin");
        CHECK_EQ_INT(verify_at(&report, certs, case_time(root), &result, &failure), 0);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
        CHECK_EQ_STR(failure.reason, "");
        check_identity(&result.claims, root);
        attest_snp_certs_free(certs);
        json_decref(root);
    }
}

/* valid_until is the leaf's notAfter (AMD's ASKs and ARKs run to 2045 and later). */
TEST(valid_until_is_the_leaf_not_after)
{
    static const int64_t not_after[] = { 1884905728, 1895507906, VLEK_NOT_AFTER, 1966098696 };

    for (size_t i = 0; i < ELEMENTSOF(snp_cases); i++) {
        struct attest_snp_certs *certs = certs_load(&snp_cases[i], NULL, NULL);
        struct attest_snp_result result;
        struct blob report;

        CHECK(certs);
        blob_read(&report, snp_cases[i].name, "report.bin");
        CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, NULL), 0);
        CHECK_EQ_INT(result.valid_until, not_after[i]);
        attest_snp_certs_free(certs);
    }
}

/* go-sev-guest's report carries DEBUG (policy 0xb0000): it verifies, and says so. */
TEST(debug_report_is_a_claim)
{
    struct attest_snp_certs *certs = certs_load(&snp_cases[0], NULL, NULL);
    struct attest_snp_result result;
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[0].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, NULL), 0);
    CHECK(result.claims.debug);
    CHECK(result.claims.snp.policy == 0xb0000);
    CHECK_EQ_STR(result.claims.snp.product, "Milan");
    CHECK(!result.claims.snp.vlek);
    attest_snp_certs_free(certs);
}

/* The trustee negatives: report[42] += 1 breaks the signature; report[384] += 1 (REPORTED_TCB's
 * bootloader SPL) no longer matches the certificate, which is checked first, and breaks the
 * signature as well. */
TEST(flipped_report_bytes_fail)
{
    for (size_t i = 0; i < ELEMENTSOF(snp_cases); i++) {
        struct attest_snp_certs *certs = certs_load(&snp_cases[i], NULL, NULL);
        struct attest_failure failure;
        struct attest_snp_result result;
        struct snp_report parsed;
        struct blob report;

        CHECK(certs);
        blob_read(&report, snp_cases[i].name, "report.bin");
        report.data[42]++;
        CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EBADMSG);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_SIGNATURE);
        report.data[42]--;
        report.data[384]++;
        CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EKEYREJECTED);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
        CHECK(strstr(failure.reason, "REPORTED_TCB"));
        CHECK_EQ_INT(snp_report_parse(report.data, report.size, &parsed, NULL), 0);
        CHECK_EQ_INT(snp_report_signature_verify(&parsed, certs->key), -EBADMSG);
        report.data[384]--;
        CHECK_EQ_INT(snp_report_parse(report.data, report.size, &parsed, NULL), 0);
        CHECK_EQ_INT(snp_report_signature_verify(&parsed, certs->key), 0);
        attest_snp_certs_free(certs);
    }
}

/* Every byte of the signed area and of R and S counts. */
TEST(every_signed_byte_counts)
{
    static const size_t offsets[] = { 0x04,  0x10,  0x50,  0x8f,  0x90,  0xbf,  0x140,
                                      0x1a0, 0x1e0, 0x1f0, 0x2a0, 0x2cf, 0x2e8, 0x317 };
    struct attest_snp_certs *certs = certs_load(&snp_cases[1], NULL, NULL);
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[1].name, "report.bin");
    for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
        struct snp_report parsed;

        report.data[offsets[i]] ^= 0x01;
        CHECK_EQ_INT(snp_report_parse(report.data, report.size, &parsed, NULL), 0);
        CHECK_EQ_INT(snp_report_signature_verify(&parsed, certs->key), -EBADMSG);
        report.data[offsets[i]] ^= 0x01;
    }
    attest_snp_certs_free(certs);
}

/* R or S with a byte above the 48 of P-384 is not a P-384 signature, even where the value would
 * be the same modulo 2^384. */
TEST(signature_high_bytes_refused)
{
    struct attest_snp_certs *certs = certs_load(&snp_cases[1], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[1].name, "report.bin");
    report.data[0x2a0 + 48] = 1;
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_SIGNATURE);
    report.data[0x2a0 + 48] = 0;
    report.data[0x2e8 + 71] = 1;
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_SIGNATURE);
    attest_snp_certs_free(certs);
}

/* The trustee negative: vcek.der[42] += 1 breaks the chain (it is in the signed part). */
TEST(corrupt_leaf_fails_the_chain)
{
    for (size_t i = 0; i < ELEMENTSOF(snp_cases); i++) {
        struct blob leaf, ask, ark;
        struct attest_failure failure;
        struct attest_snp_certs *certs = NULL;
        struct attest_snp_cert_files files;

        blob_read(&leaf, snp_cases[i].name, snp_cases[i].leaf);
        blob_read(&ask, snp_cases[i].name, snp_cases[i].ask);
        blob_read(&ark, snp_cases[i].name, "ark.pem");
        leaf.data[42]++;
        files = (struct attest_snp_cert_files){ .vcek = { leaf.data, leaf.size },
                                                .ask = { ask.data, ask.size },
                                                .ark = { ark.data, ark.size } };
        CHECK(attest_snp_certs_new(&files, &certs, &failure) < 0);
        CHECK(!certs);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
        leaf.data[leaf.size - 10]++; /* the leaf's own signature */
        leaf.data[42]--;
        CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -EKEYREJECTED);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    }
}

/* Outside any certificate's window: "expired". The VLEK's year ends 2025-12-10T22:14:21Z. */
TEST(other_times_expire)
{
    struct attest_snp_certs *vlek = certs_load(&snp_cases[2], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct blob report;

    CHECK(vlek);
    blob_read(&report, snp_cases[2].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, vlek, VLEK_NOT_AFTER, &result, &failure), 0);
    CHECK_EQ_INT(verify_at(&report, vlek, VLEK_NOT_BEFORE, &result, &failure), 0);
    CHECK_EQ_INT(verify_at(&report, vlek, VLEK_NOT_AFTER + 1, &result, &failure), -EKEYEXPIRED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);
    CHECK(strstr(failure.reason, "vlek is valid 2024-12-10T22:14:21Z to 2025-12-10T22:14:21Z"));
    CHECK_EQ_INT(verify_at(&report, vlek, VLEK_NOT_BEFORE - 1, &result, &failure), -EKEYEXPIRED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);
    attest_snp_certs_free(vlek);

    for (size_t i = 0; i < ELEMENTSOF(snp_cases); i++) {
        struct attest_snp_certs *certs = certs_load(&snp_cases[i], NULL, NULL);
        json_t *root = case_json(snp_cases[i].name);

        CHECK(certs);
        blob_read(&report, snp_cases[i].name, "report.bin");
        /* A few days before the leaf was issued, and a few after the last leaf here expires. */
        CHECK_EQ_INT(
            verify_at(&report, certs, certs->windows[0].not_before - 3 * DAY, &result, &failure),
            -EKEYEXPIRED);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);
        CHECK_EQ_INT(
            verify_at(&report, certs, certs->windows[0].not_after + 3 * DAY, &result, &failure),
            -EKEYEXPIRED);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);
        CHECK_EQ_INT(verify_at(&report, certs, case_time(root), &result, &failure), 0);
        json_decref(root);
        attest_snp_certs_free(certs);
    }
}

/* Pinning another ARK key refuses AMD's chain; pinning the right one by hand accepts it and the
 * product then comes from the chain's names. */
TEST(ark_pins)
{
    static const uint8_t genoa_pin[SHA256_SIZE] = {
        0x42, 0x9a, 0x69, 0xc9, 0x42, 0x2a, 0xa2, 0x58, 0xee, 0x4d, 0x8d,
        0xb5, 0xfc, 0xda, 0x9c, 0x64, 0x70, 0xef, 0x15, 0xf8, 0xcd, 0x5a,
        0x9c, 0xeb, 0xd6, 0xcb, 0xc7, 0xd9, 0x0b, 0x86, 0x38, 0x31
    };
    static const uint8_t milan_pin[SHA256_SIZE] = {
        0x9f, 0x05, 0x6b, 0xee, 0x44, 0x37, 0x7e, 0x29, 0x30, 0x8c, 0xb5,
        0xff, 0xa8, 0x95, 0xbd, 0xfb, 0x62, 0xd1, 0x88, 0x81, 0xfa, 0x6b,
        0xed, 0x8d, 0x6f, 0x07, 0x5b, 0x02, 0x04, 0x08, 0x9c, 0xb9
    };
    struct attest_failure failure;
    struct attest_snp_certs *certs;
    struct attest_snp_result result;
    struct blob report;

    CHECK(!certs_load(&snp_cases[1], genoa_pin, &failure));
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);
    CHECK(strstr(failure.reason, "ark"));
    CHECK(!certs_load(&snp_cases[3], milan_pin, &failure));
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);

    certs = certs_load(&snp_cases[2], milan_pin, &failure);
    CHECK(certs);
    CHECK_EQ_INT(certs->product, SNP_PRODUCT_MILAN);
    CHECK(certs->vlek);
    blob_read(&report, snp_cases[2].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), 0);
    CHECK_EQ_STR(result.claims.snp.product, "Milan");
    attest_snp_certs_free(certs);
}

/* Certificates from the wrong places: another product's ARK, the ASK and ARK swapped, the ASK
 * where the ASVK belongs, a missing or unreadable file. */
TEST(wrong_chains_refused)
{
    struct blob leaf, ask, ark, other;
    struct attest_failure failure;
    struct attest_snp_certs *certs = NULL;
    struct attest_snp_cert_files files;

    blob_read(&leaf, "snp-milan-trustee", "vcek.der");
    blob_read(&ask, "snp-milan-trustee", "ask.pem");
    blob_read(&ark, "snp-milan-trustee", "ark.pem");
    blob_read(&other, "roots/amd/genoa", "ark.der");
    files = (struct attest_snp_cert_files){ .vcek = { leaf.data, leaf.size },
                                            .ask = { ask.data, ask.size },
                                            .ark = { other.data, other.size } };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);

    files.ark = (struct attest_bytes){ ask.data, ask.size };
    files.ask = (struct attest_bytes){ ark.data, ark.size };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);

    /* The VLEK with the ASK: issued by the ASVK, not by it. */
    blob_read(&leaf, "snp-vlek-trustee", "vlek.der");
    files.vcek = (struct attest_bytes){ leaf.data, leaf.size };
    files.ask = (struct attest_bytes){ ask.data, ask.size };
    files.ark = (struct attest_bytes){ ark.data, ark.size };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_CERT_CHAIN);

    /* The ASK as the leaf: not EC P-384, not a VCEK. */
    files.vcek = (struct attest_bytes){ ask.data, ask.size };
    CHECK(attest_snp_certs_new(&files, &certs, &failure) < 0);
    CHECK(failure.step == ATTEST_STEP_CERT_CHAIN || failure.step == ATTEST_STEP_COLLATERAL);

    files.vcek = (struct attest_bytes){ NULL, 0 };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -ENOENT);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK_EQ_STR(failure.reason, "collateral missing: vcek");

    files.vcek = (struct attest_bytes){ "not a certificate", 17 };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);

    /* DER with a trailing byte is not one certificate. */
    blob_read(&leaf, "snp-milan-trustee", "vcek.der");
    files.vcek = (struct attest_bytes){ leaf.data, leaf.size + 1 };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(!certs);
}

/* A VCEK of another chip (same product, same ARK): its hwID is not the report's CHIP_ID. */
TEST(vcek_of_another_chip)
{
    struct attest_snp_certs *certs = certs_load(&snp_cases[1], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[0].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
    CHECK(strstr(failure.reason, "hwID"));
    attest_snp_certs_free(certs);
}

/* A report signed by a VCEK checked with a VLEK, and the other way round; an unsigned report. */
TEST(signing_key_kind_must_match)
{
    struct attest_snp_certs *vlek = certs_load(&snp_cases[2], NULL, NULL);
    struct attest_snp_certs *vcek = certs_load(&snp_cases[1], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct blob report;

    CHECK(vlek && vcek);
    blob_read(&report, snp_cases[1].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, vlek, 1748736000, &result, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_KEY_ID);
    blob_read(&report, snp_cases[2].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, vcek, 1748736000, &result, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_KEY_ID);
    report.data[0x48] = 7 << 2; /* SIGNING_KEY none */
    CHECK_EQ_INT(verify_at(&report, vlek, 1748736000, &result, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_KEY_ID);
    attest_snp_certs_free(vlek);
    attest_snp_certs_free(vcek);
}

/* With MASK_CHIP_ID the CHIP_ID is zero and not compared; with a CHIP_ID it is not a mask. */
TEST(masked_chip_id)
{
    struct attest_snp_certs *certs = certs_load(&snp_cases[1], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct snp_report parsed;
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[1].name, "report.bin");
    report.data[0x48] |= 2;
    CHECK_EQ_INT(snp_report_parse(report.data, report.size, &parsed, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_PARSE);
    memset(report.data + 0x1a0, 0, 64);
    /* Past the hwID check, to the signature, which the edit broke. */
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_SIGNATURE);
    report.data[0x48] &= (uint8_t)~2;
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
    attest_snp_certs_free(certs);
}

/* A version 3 report's CPUID names the product; another product's is refused. */
TEST(cpuid_product_must_match)
{
    struct attest_snp_certs *certs = certs_load(&snp_cases[3], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[3].name, "report.bin");
    CHECK_EQ_INT(report.data[0x188], 0x19);
    CHECK_EQ_INT(report.data[0x189], 0x11);
    report.data[0x189] = 0x01; /* Milan */
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
    CHECK(strstr(failure.reason, "CPUID"));
    attest_snp_certs_free(certs);

    CHECK_EQ_INT(snp_product_from_cpuid(0x19, 0x01), SNP_PRODUCT_MILAN);
    CHECK_EQ_INT(snp_product_from_cpuid(0x19, 0x11), SNP_PRODUCT_GENOA);
    CHECK_EQ_INT(snp_product_from_cpuid(0x19, 0xa0), SNP_PRODUCT_GENOA);
    CHECK_EQ_INT(snp_product_from_cpuid(0x1a, 0x02), SNP_PRODUCT_TURIN);
    CHECK_EQ_INT(snp_product_from_cpuid(0x1a, 0x11), SNP_PRODUCT_TURIN);
    CHECK_EQ_INT(snp_product_from_cpuid(0x17, 0x31), SNP_PRODUCT_UNKNOWN);
    CHECK_EQ_INT(snp_product_from_cpuid(0, 0), SNP_PRODUCT_UNKNOWN);
}

static void
expect_parse_failure(struct blob *report, size_t size, enum attest_step step, int error)
{
    struct attest_failure failure;
    struct snp_report parsed;

    CHECK_EQ_INT(snp_report_parse(report->data, size, &parsed, &failure), error);
    CHECK_EQ_INT(failure.step, step);
}

/* Sizes, versions, the signature algorithm and the reserved fields. */
TEST(report_parse_refusals)
{
    struct attest_snp_certs *certs = certs_load(&snp_cases[1], NULL, NULL);
    struct attest_failure failure;
    struct attest_snp_result result;
    struct snp_report parsed;
    struct blob report;

    CHECK(certs);
    blob_read(&report, snp_cases[1].name, "report.bin");
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), 0);
    report.size = ATTEST_SNP_REPORT_SIZE - 1;
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_PARSE);
    report.size = ATTEST_SNP_REPORT_SIZE + 1;
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_PARSE);
    CHECK_EQ_INT(attest_snp_verify(report.data, 0, certs, NULL, &result, &failure), -EBADMSG);
    CHECK_EQ_INT(attest_snp_verify(NULL, 0, certs, NULL, &result, &failure), -EINVAL);
    report.size = ATTEST_SNP_REPORT_SIZE;

    for (uint8_t v = 0; v < 8; v++) {
        report.data[0] = v;
        if (v == 2 || v == 3)
            continue;
        expect_parse_failure(&report, report.size, ATTEST_STEP_VERSION, -EPROTONOSUPPORT);
        CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, &failure), -EPROTONOSUPPORT);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_VERSION);
    }
    report.data[0] = 2;
    report.data[0x34] = 2; /* signature algorithm */
    expect_parse_failure(&report, report.size, ATTEST_STEP_PARSE, -EPROTONOSUPPORT);
    report.data[0x34] = 1;

    static const size_t reserved[] = { 0x4c,  0x4f,  0x188, 0x18b, 0x19f, 0x1eb,
                                       0x1ef, 0x1f8, 0x29f, 0x330, 0x49f };
    for (size_t i = 0; i < ELEMENTSOF(reserved); i++) {
        report.data[reserved[i]] = 1;
        expect_parse_failure(&report, report.size, ATTEST_STEP_PARSE, -EBADMSG);
        report.data[reserved[i]] = 0;
    }
    report.data[0x4b] = 0x80; /* SIGNER_INFO bit 31 */
    expect_parse_failure(&report, report.size, ATTEST_STEP_PARSE, -EBADMSG);
    report.data[0x4b] = 0;
    report.data[0x48] = 2 << 2; /* a reserved SIGNING_KEY */
    expect_parse_failure(&report, report.size, ATTEST_STEP_PARSE, -EBADMSG);
    report.data[0x48] = 0;

    /* Version 3 uses 0x188-0x18A for CPUID. */
    report.data[0] = 3;
    report.data[0x188] = 0x19;
    CHECK_EQ_INT(snp_report_parse(report.data, report.size, &parsed, &failure), 0);
    CHECK(parsed.has_cpuid);
    CHECK_EQ_INT(parsed.cpuid_family, 0x19);
    attest_snp_certs_free(certs);
}

/* base64url without padding, as configfs-tsm's JSON carries it. */
static uint8_t *
base64url_decode(const char *text, size_t *ret_size)
{
    size_t n = strlen(text), padded = (n + 3) / 4 * 4;
    char *std = malloc(padded + 1);
    uint8_t *data = NULL;

    CHECK(std);
    CHECK(n % 4 != 1);
    for (size_t i = 0; i < padded; i++)
        std[i] = i >= n ? '=' : text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    std[padded] = '\0';
    CHECK_EQ_INT(attest_base64_decode(std, padded, FILE_MAX, &data, ret_size), 0);
    free(std);
    return data;
}

/* Loads certificates from a certificate table and verifies the Genoa report with them. */
static void
verify_with_table(const uint8_t *table, size_t table_size, const uint8_t *report,
                  size_t report_size)
{
    struct attest_snp_cert_files files;
    struct attest_failure failure;
    struct attest_snp_certs *certs = NULL;
    struct attest_snp_options options = { .at = 1748736000 };
    struct attest_snp_result result;
    json_t *root = case_json("snp-genoa-veraison-tsm");

    CHECK_EQ_INT(attest_snp_cert_table_parse(table, table_size, &files, &failure), 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
    CHECK(!files.ark_key_sha256);
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), 0);
    CHECK_EQ_INT(attest_snp_verify(report, report_size, certs, &options, &result, &failure), 0);
    check_identity(&result.claims, root);
    attest_snp_certs_free(certs);
    json_decref(root);
}

/* The Genoa case as its guest handed it out: the auxblob's table points at PEM certificates. */
TEST(genoa_auxblob_cert_table)
{
    static struct blob aux, report, pem;
    struct attest_snp_cert_files files;

    blob_read(&aux, "snp-genoa-veraison-tsm", "auxblob.bin");
    blob_read(&report, "snp-genoa-veraison-tsm", "report.bin");
    blob_read(&pem, "snp-genoa-veraison-tsm", "vcek.pem");
    CHECK_EQ_INT(attest_snp_cert_table_parse(aux.data, aux.size, &files, NULL), 0);
    CHECK(files.ark.data == aux.data + 96 && files.ark.size == 2277);
    CHECK(files.ask.data == aux.data + 2373 && files.ask.size == 2325);
    CHECK(files.vcek.data == aux.data + 4698 && files.vcek.size == 1879);
    CHECK(files.vcek.size == pem.size && memcmp(files.vcek.data, pem.data, pem.size) == 0);
    CHECK(memcmp(files.ark.data, "-----BEGIN CERTIFICATE-----", 27) == 0);
    verify_with_table(aux.data, aux.size, report.data, report.size);
}

/* configfs-tsm's JSON: {outblob, auxblob: base64url without padding, provider "sev_guest\n"}. */
TEST(genoa_tsm_report_json)
{
    static struct blob aux, report;
    char path[512];
    json_error_t error;
    json_t *root;
    uint8_t *outblob, *auxblob;
    size_t out_size, aux_size;

    blob_read(&aux, "snp-genoa-veraison-tsm", "auxblob.bin");
    blob_read(&report, "snp-genoa-veraison-tsm", "report.bin");
    CHECK(snprintf(path, sizeof(path), "%s/snp-genoa-veraison-tsm/tsm_report.json",
                   TESTVECTORS_DIR) < (int)sizeof(path));
    root = json_load_file(path, 0, &error);
    CHECK(root);
    CHECK_EQ_STR(json_string_value(json_object_get(root, "provider")), "sev_guest\n");
    outblob = base64url_decode(json_string_value(json_object_get(root, "outblob")), &out_size);
    auxblob = base64url_decode(json_string_value(json_object_get(root, "auxblob")), &aux_size);
    CHECK_EQ_INT(out_size, ATTEST_SNP_REPORT_SIZE);
    CHECK(out_size == report.size && memcmp(outblob, report.data, out_size) == 0);
    CHECK(aux_size == aux.size && memcmp(auxblob, aux.data, aux_size) == 0);
    verify_with_table(auxblob, aux_size, outblob, out_size);
    free(outblob);
    free(auxblob);
    json_decref(root);
}

/* A hand-made table: entries of (guid, offset, length), the terminator, then the data. */
struct table {
    uint8_t data[512];
    size_t size;
};

static const uint8_t guid_vcek[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
static const uint8_t guid_vlek[16] = { 0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                                       0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1 };
static const uint8_t guid_ask[16] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                      0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 };
static const uint8_t guid_other[16] = { 0xec, 0xae, 0x0c, 0x0f, 0x95, 0x02, 0x43, 0xb1,
                                        0xaf, 0xa2, 0x0a, 0xe2, 0xe0, 0xd5, 0x65, 0xb6 };

static void
table_entry(struct table *t, size_t index, const uint8_t guid[16], uint32_t offset, uint32_t length)
{
    CHECK((index + 1) * 24 <= sizeof(t->data));
    memcpy(t->data + index * 24, guid, 16);
    le32_write(t->data + index * 24 + 16, offset);
    le32_write(t->data + index * 24 + 20, length);
}

static void
expect_table_failure(const struct table *t, int error)
{
    struct attest_snp_cert_files files = { 0 };
    struct attest_failure failure;

    CHECK_EQ_INT(attest_snp_cert_table_parse(t->data, t->size, &files, &failure), error);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(!files.vcek.data && !files.ask.data && !files.ark.data);
}

TEST(cert_table_bounds)
{
    struct table t = { .size = 200 };
    struct attest_snp_cert_files files;
    struct attest_snp_certs *certs = NULL;
    struct attest_failure failure;

    /* Two entries and the terminator (72 bytes), the data after them. */
    table_entry(&t, 0, guid_vcek, 72, 10);
    table_entry(&t, 1, guid_other, 82, 8);
    CHECK_EQ_INT(attest_snp_cert_table_parse(t.data, t.size, &files, &failure), 0);
    CHECK(files.vcek.data == t.data + 72 && files.vcek.size == 10);
    CHECK(!files.ask.data && !files.ark.data);

    /* The VLEK is what the firmware signs with when it has one. */
    table_entry(&t, 1, guid_vlek, 82, 8);
    CHECK_EQ_INT(attest_snp_cert_table_parse(t.data, t.size, &files, &failure), 0);
    CHECK(files.vcek.data == t.data + 82 && files.vcek.size == 8);

    table_entry(&t, 1, guid_ask, 82, 118); /* to the last byte */
    CHECK_EQ_INT(attest_snp_cert_table_parse(t.data, t.size, &files, &failure), 0);
    table_entry(&t, 1, guid_ask, 82, 119); /* one past it */
    expect_table_failure(&t, -EBADMSG);
    table_entry(&t, 1, guid_ask, 0xffffffffu, 2); /* wraps in 32 bits */
    expect_table_failure(&t, -EBADMSG);
    table_entry(&t, 1, guid_ask, 71, 8); /* over the terminator */
    expect_table_failure(&t, -EBADMSG);
    table_entry(&t, 1, guid_ask, 100, 0); /* empty */
    expect_table_failure(&t, -EBADMSG);
    table_entry(&t, 1, guid_vcek, 90, 8); /* a second VCEK */
    expect_table_failure(&t, -EBADMSG);

    /* No terminator within the blob. */
    t.size = 48;
    table_entry(&t, 1, guid_ask, 90, 8);
    expect_table_failure(&t, -EBADMSG);
    t.size = 0;
    expect_table_failure(&t, -EBADMSG);
    t.size = 71;
    expect_table_failure(&t, -EBADMSG);

    /* Only a terminator: a table without certificates, which the loader then names. */
    memset(t.data, 0, sizeof(t.data));
    t.size = 24;
    CHECK_EQ_INT(attest_snp_cert_table_parse(t.data, t.size, &files, &failure), 0);
    CHECK(!files.vcek.data && files.vcek.size == 0);
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, &failure), -ENOENT);
    CHECK_EQ_STR(failure.reason, "collateral missing: vcek");
}

TEST(cert_table_limits)
{
    static uint8_t big[ATTEST_SNP_CERT_TABLE_MAX + 24];
    struct attest_snp_cert_files files;
    struct attest_failure failure;

    /* ENTRIES_MAX - 1 entries and the terminator are fine; one more is not. */
    memset(big, 0, sizeof(big));
    for (size_t i = 0; i + 1 < ATTEST_SNP_CERT_TABLE_ENTRIES_MAX; i++) {
        memcpy(big + i * 24, guid_other, 16);
        le32_write(big + i * 24 + 16, ATTEST_SNP_CERT_TABLE_ENTRIES_MAX * 24);
        le32_write(big + i * 24 + 20, 1);
    }
    CHECK_EQ_INT(attest_snp_cert_table_parse(big, ATTEST_SNP_CERT_TABLE_MAX, &files, &failure), 0);
    memcpy(big + (ATTEST_SNP_CERT_TABLE_ENTRIES_MAX - 1) * 24, guid_other, 16);
    CHECK_EQ_INT(attest_snp_cert_table_parse(big, ATTEST_SNP_CERT_TABLE_MAX, &files, &failure),
                 -E2BIG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK_EQ_INT(attest_snp_cert_table_parse(big, sizeof(big), &files, &failure), -E2BIG);
    CHECK_EQ_INT(attest_snp_cert_table_parse(NULL, 0, &files, &failure), -EINVAL);
}

/* The two TCB layouts (go-sev-guest kds.TCBParts and TCBPartsTurin). */
TEST(tcb_layouts)
{
    struct snp_tcb t = {
        .fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 0xd9, .spl = { 5, 6, 7, 8 }
    };
    struct snp_tcb back;
    uint64_t milan = snp_tcb_encode(SNP_PRODUCT_MILAN, &t);
    uint64_t turin = snp_tcb_encode(SNP_PRODUCT_TURIN, &t);

    CHECK(milan == UINT64_C(0xd904080706050302));
    CHECK(turin == UINT64_C(0xd908070604030201));
    snp_tcb_decode(SNP_PRODUCT_TURIN, turin, &back);
    CHECK_EQ_INT(back.fmc, 1);
    CHECK_EQ_INT(back.bootloader, 2);
    CHECK_EQ_INT(back.tee, 3);
    CHECK_EQ_INT(back.snp, 4);
    CHECK_EQ_INT(back.microcode, 0xd9);
    CHECK_EQ_INT(back.spl[0], 0);
    snp_tcb_decode(SNP_PRODUCT_GENOA, milan, &back);
    CHECK_EQ_INT(back.fmc, 0);
    CHECK_EQ_INT(back.snp, 4);
    CHECK_EQ_INT(back.spl[3], 8);
    /* The VLEK's ucodeSPL 217 is DER 02 02 00 D9; the TCB it certifies has D9 in byte 7. */
    CHECK_EQ_STR(snp_product_name(snp_product_from_name("Milan-B0")), "Milan");
    CHECK_EQ_INT(snp_product_from_name("Genoa"), SNP_PRODUCT_GENOA);
    CHECK_EQ_INT(snp_product_from_name("Turin-B1"), SNP_PRODUCT_TURIN);
    CHECK_EQ_INT(snp_product_from_name("Mila"), SNP_PRODUCT_UNKNOWN);
    CHECK_EQ_INT(snp_product_from_name("MilanX"), SNP_PRODUCT_UNKNOWN);
}

/* What the certificates say, as read once. */
TEST(certificate_contents)
{
    struct attest_snp_certs *vlek = certs_load(&snp_cases[2], NULL, NULL);
    struct attest_snp_certs *genoa = certs_load(&snp_cases[3], NULL, NULL);

    CHECK(vlek && genoa);
    CHECK(vlek->vlek);
    CHECK_EQ_INT(vlek->hwid_size, 0);
    CHECK(vlek->tcb == UINT64_C(0xd918000000000004));
    CHECK_EQ_STR(vlek->windows[0].name, "vlek");
    CHECK_EQ_STR(vlek->windows[1].name, "asvk");
    CHECK_EQ_INT(vlek->windows[0].not_after, VLEK_NOT_AFTER);
    CHECK(!genoa->vlek);
    CHECK_EQ_INT(genoa->product, SNP_PRODUCT_GENOA);
    CHECK_EQ_INT(genoa->hwid_size, 64);
    check_hex(genoa->hwid, 64,
              "7b1584c94c7a426164b2db1198903db0685b7f5fdabdf42d4da981b0de521d1d5d5d8a91932bbbc1b1"
              "3f5d5cae45a7304657d9a9d01c50c435670f0562a5970b");
    attest_snp_certs_free(vlek);
    attest_snp_certs_free(genoa);
    CHECK(!attest_snp_certs_free(NULL));
}

/* PEM and DER are both read, for every certificate. */
TEST(pem_and_der)
{
    static struct blob leaf, ask, ark;
    struct attest_snp_cert_files files;
    struct attest_snp_certs *certs = NULL;
    struct attest_snp_result result;
    struct blob report;

    blob_read(&leaf, "snp-genoa-veraison-tsm", "vcek.pem");
    blob_read(&ask, "roots/amd/genoa", "ask.der");
    blob_read(&ark, "roots/amd/genoa", "ark.der");
    files = (struct attest_snp_cert_files){ .vcek = { leaf.data, leaf.size },
                                            .ask = { ask.data, ask.size },
                                            .ark = { ark.data, ark.size } };
    CHECK_EQ_INT(attest_snp_certs_new(&files, &certs, NULL), 0);
    blob_read(&report, "snp-genoa-veraison-tsm", "report.bin");
    CHECK_EQ_INT(verify_at(&report, certs, 1748736000, &result, NULL), 0);
    attest_snp_certs_free(certs);
}

struct thread_job {
    const struct attest_snp_certs *certs;
    const struct blob *report;
    int failures;
};

static void *
verify_thread(void *arg)
{
    struct thread_job *job = arg;

    for (int i = 0; i < 50; i++) {
        struct attest_snp_result result;
        struct attest_failure failure;

        if (verify_at(job->report, job->certs, 1748736000, &result, &failure) != 0 ||
            !result.claims.snp.vlek)
            job->failures++;
    }
    return NULL;
}

/* One certificate set, read by several threads at once. */
TEST(threads_share_certs)
{
    static struct blob report;
    struct attest_snp_certs *certs = certs_load(&snp_cases[2], NULL, NULL);
    struct thread_job jobs[4];
    pthread_t threads[4];

    CHECK(certs);
    blob_read(&report, snp_cases[2].name, "report.bin");
    for (size_t i = 0; i < ELEMENTSOF(threads); i++) {
        jobs[i] = (struct thread_job){ certs, &report, 0 };
        CHECK(pthread_create(&threads[i], NULL, verify_thread, &jobs[i]) == 0);
    }
    for (size_t i = 0; i < ELEMENTSOF(threads); i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK_EQ_INT(jobs[i].failures, 0);
    }
    attest_snp_certs_free(certs);
}

/* What a store needs to find the VCEK, read before verifying: CHIP_ID, REPORTED_TCB, and the
 * product where the report says it (version 3). */
TEST(report_read_without_verifying)
{
    static struct blob report;
    struct attest_snp_claims claims;
    struct attest_failure failure;
    json_t *root = case_json("snp-genoa-veraison-tsm");

    blob_read(&report, "snp-genoa-veraison-tsm", "report.bin");
    CHECK_EQ_INT(attest_snp_report_read(report.data, report.size, &claims, &failure), 0);
    CHECK_EQ_STR(claims.product, "Genoa");
    CHECK_EQ_INT(claims.version, 3);
    check_hex(claims.chip_id, sizeof(claims.chip_id),
              json_path_string(root, "identity", "chip_id"));
    CHECK(claims.reported_tcb ==
          tcb_from_hex(json_path_string(root, "identity", "reported_tcb_hex")));
    json_decref(root);
    blob_read(&report, "snp-milan-trustee", "report.bin");
    CHECK_EQ_INT(attest_snp_report_read(report.data, report.size, &claims, &failure), 0);
    CHECK_EQ_STR(claims.product, ""); /* version 2: no CPUID in the report */
    CHECK_EQ_INT(attest_snp_report_read(report.data, report.size - 1, &claims, &failure), -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_PARSE);
}

TEST_MAIN(TEST_CASE(report_read_without_verifying), TEST_CASE(cases_verify_with_their_claims),
          TEST_CASE(valid_until_is_the_leaf_not_after), TEST_CASE(debug_report_is_a_claim),
          TEST_CASE(flipped_report_bytes_fail), TEST_CASE(every_signed_byte_counts),
          TEST_CASE(signature_high_bytes_refused), TEST_CASE(corrupt_leaf_fails_the_chain),
          TEST_CASE(other_times_expire), TEST_CASE(ark_pins), TEST_CASE(wrong_chains_refused),
          TEST_CASE(vcek_of_another_chip), TEST_CASE(signing_key_kind_must_match),
          TEST_CASE(masked_chip_id), TEST_CASE(cpuid_product_must_match),
          TEST_CASE(report_parse_refusals), TEST_CASE(genoa_auxblob_cert_table),
          TEST_CASE(genoa_tsm_report_json), TEST_CASE(cert_table_bounds),
          TEST_CASE(cert_table_limits), TEST_CASE(tcb_layouts), TEST_CASE(certificate_contents),
          TEST_CASE(pem_and_der), TEST_CASE(threads_share_certs))
