/* Fuzz target for libattest's parsers of outside input: every input is tried as a raw sim report
 * (parse, then verify against the key of the corpus's test vector) and as a JSON evidence
 * envelope (parse, re-format, re-parse, verify). Checks that nothing crashes and that what is
 * accepted is consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include <attest/attest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public key of fuzz/corpus/sim-evidence/valid-v1.bin (docs/sim-evidence.md). */
static const uint8_t vector_spki[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0xcd, 0xb9, 0x39, 0x84, 0x23,
    0x57, 0xd2, 0x54, 0xae, 0xc4, 0x56, 0x1a, 0x79, 0x05, 0x1f, 0x83, 0x42, 0x0f, 0x8d, 0xf8, 0x0f,
    0xf1, 0x5a, 0xc7, 0x81, 0x25, 0x0d, 0xf7, 0xb1, 0xe7, 0x67, 0x4a, 0xa0, 0xea, 0x6a, 0x56, 0xe0,
    0xb9, 0xf1, 0xd9, 0x2f, 0x9e, 0xfa, 0x59, 0xd9, 0x42, 0x46, 0xf9, 0x0e, 0x26, 0xdb, 0x67, 0x8e,
    0x23, 0x22, 0xf3, 0xf9, 0xf4, 0xe3, 0xdf, 0xf2, 0xe8, 0xb0, 0x62,
};

static void
check_raw(const uint8_t *data, size_t size, EVP_PKEY *key)
{
    struct attest_sim_report report;
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_NONE;
    int parsed = attest_sim_report_parse(data, size, &report, &step);

    if ((parsed == 0) != (step == ATTEST_STEP_NONE))
        __builtin_trap();
    if (parsed == 0 && (size > ATTEST_SIM_SIZE_MAX || size <= ATTEST_SIM_BODY_SIZE + 2))
        __builtin_trap();
    if (attest_sim_verify(data, size, key, &claims, &step) == 0) {
        /* Only a parsable report verifies, and its claims are what it says. */
        if (parsed != 0 || step != ATTEST_STEP_NONE || claims.isvsvn != report.isvsvn ||
            memcmp(claims.mrenclave, report.mrenclave, sizeof(claims.mrenclave)) != 0 ||
            claims.debug != ((report.attributes & ATTEST_SIM_ATTR_DEBUG) != 0))
            __builtin_trap();
    } else if (parsed == 0 && step < ATTEST_STEP_TRUST) {
        __builtin_trap();
    }
    if (attest_sim_verify_spki(data, size, vector_spki, sizeof(vector_spki), &claims, &step) == 0 &&
        parsed != 0)
        __builtin_trap();
}

static void
check_envelope(const uint8_t *data, size_t size, EVP_PKEY *key)
{
    struct attest_evidence *evidence = NULL, *again = NULL;
    struct attest_trust trust = { .sim_key = key };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_NONE;
    char *text = NULL;

    if (attest_evidence_parse((const char *)data, size, &evidence, &step) < 0) {
        if (step != ATTEST_STEP_ENVELOPE && step != ATTEST_STEP_TYPE)
            __builtin_trap();
        return;
    }
    if (evidence->size == 0 || evidence->size > ATTEST_EVIDENCE_DATA_MAX)
        __builtin_trap();
    /* What parses formats, and parses back to the same. */
    if (attest_evidence_format(evidence, &text) < 0 ||
        attest_evidence_parse(text, strlen(text), &again, &step) < 0 ||
        again->type != evidence->type || again->size != evidence->size ||
        memcmp(again->data, evidence->data, evidence->size) != 0)
        __builtin_trap();
    (void)attest_evidence_verify(evidence, &trust, &claims, &step);
    free(text);
    attest_evidence_free(again);
    attest_evidence_free(evidence);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *p = vector_spki;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, sizeof(vector_spki));

    if (!key)
        __builtin_trap();
    check_raw(data, size, key);
    check_envelope(data, size, key);
    EVP_PKEY_free(key);
    return 0;
}
