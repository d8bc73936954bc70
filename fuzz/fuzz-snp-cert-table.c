/* Fuzz target for libattest's GHCB certificate table reader (configfs-tsm's auxblob): every input
 * is parsed as a table; what it names is loaded as certificates (DER or PEM, chain checks), and a
 * set that loads verifies the Genoa report of the test vectors (from TESTVECTORS_DIR) or fails at
 * a verification step. Checks that nothing crashes and that every span handed back lies inside
 * the input, past the table's entries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attest/snp.h>

#ifndef TESTVECTORS_DIR
#define TESTVECTORS_DIR "../shared/testvectors"
#endif
#define FUZZ_TIME 1748736000 /* 2025-06-01 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *
genoa_report(void)
{
    static uint8_t report[ATTEST_SNP_REPORT_SIZE];
    static int loaded;
    FILE *f;

    if (loaded)
        return report;
    f = fopen(TESTVECTORS_DIR "/snp-genoa-veraison-tsm/report.bin", "re");
    if (!f || fread(report, 1, sizeof(report), f) != sizeof(report))
        __builtin_trap();
    fclose(f);
    loaded = 1;
    return report;
}

/* A span is empty, or inside the input and past the smallest table (one entry, terminator). */
static void
check_span(const struct attest_bytes *span, const uint8_t *data, size_t size)
{
    const uint8_t *p = span->data;

    if (!p) {
        if (span->size != 0)
            __builtin_trap();
        return;
    }
    if (span->size == 0 || p < data + 48 || p > data + size ||
        span->size > (size_t)(data + size - p))
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct attest_snp_cert_files files;
    struct attest_failure failure;
    struct attest_snp_certs *certs = NULL;
    struct attest_snp_options options = { .at = FUZZ_TIME };
    struct attest_snp_result result;

    if (attest_snp_cert_table_parse(data, size, &files, &failure) < 0) {
        if (failure.step != ATTEST_STEP_COLLATERAL)
            __builtin_trap();
        return 0;
    }
    if (failure.step != ATTEST_STEP_NONE || files.ark_key_sha256)
        __builtin_trap();
    check_span(&files.vcek, data, size);
    check_span(&files.ask, data, size);
    check_span(&files.ark, data, size);
    if (attest_snp_certs_new(&files, &certs, &failure) < 0) {
        if (failure.step != ATTEST_STEP_COLLATERAL && failure.step != ATTEST_STEP_CERT_CHAIN)
            __builtin_trap();
        return 0;
    }
    if (attest_snp_verify(genoa_report(), ATTEST_SNP_REPORT_SIZE, certs, &options, &result,
                          &failure) < 0 &&
        (failure.step == ATTEST_STEP_NONE || failure.step == ATTEST_STEP_PARSE))
        __builtin_trap();
    attest_snp_certs_free(certs);
    return 0;
}
