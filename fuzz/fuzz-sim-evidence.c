/* Fuzz target for libattest's parsers of outside input: every input is tried as a raw sim report
 * (parse, then verify against the key of the corpus's test vector) and as a JSON evidence
 * envelope (parse, re-format, re-parse, verify). Checks that nothing crashes and that what is
 * accepted is consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include <attest/attest.h>

#include "sim-test-vector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if (attest_sim_verify_spki(data, size, sim_vector_spki, sizeof(sim_vector_spki), &claims,
                               &step) == 0 &&
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
    const unsigned char *p = sim_vector_spki;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, sizeof(sim_vector_spki));

    if (!key)
        __builtin_trap();
    check_raw(data, size, key);
    check_envelope(data, size, key);
    EVP_PKEY_free(key);
    return 0;
}
