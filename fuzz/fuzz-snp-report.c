/* Fuzz target for libattest's AMD SEV-SNP report reader: every input is parsed as a report and
 * verified against two certificate sets of the test vectors (the Milan VCEK and the Milan VLEK of
 * trustee, loaded once from TESTVECTORS_DIR). Checks that nothing crashes, that a parse failure
 * and a verify failure agree on the step, and that what verifies says what the report says. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attest/snp.h>

#include "snp-report.h"

#ifndef TESTVECTORS_DIR
#define TESTVECTORS_DIR "../shared/testvectors"
#endif
#define FUZZ_FILE_MAX (16u << 10)
#define FUZZ_TIME 1748736000 /* 2025-06-01: inside both sets' windows */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_file {
    uint8_t data[FUZZ_FILE_MAX];
    size_t size;
};

static void
fuzz_read(const char *dir, const char *name, struct fuzz_file *file)
{
    char path[512];
    FILE *f;

    if (snprintf(path, sizeof(path), "%s/%s/%s", TESTVECTORS_DIR, dir, name) >= (int)sizeof(path))
        __builtin_trap();
    f = fopen(path, "re");
    if (!f)
        __builtin_trap();
    file->size = fread(file->data, 1, sizeof(file->data), f);
    fclose(f);
    if (file->size == 0 || file->size == sizeof(file->data))
        __builtin_trap();
}

static struct attest_snp_certs *
fuzz_certs(const char *dir, const char *leaf_name, const char *ask_name)
{
    static struct fuzz_file leaf, ask, ark;
    struct attest_snp_cert_files files;
    struct attest_snp_certs *certs = NULL;

    fuzz_read(dir, leaf_name, &leaf);
    fuzz_read(dir, ask_name, &ask);
    fuzz_read(dir, "ark.pem", &ark);
    files = (struct attest_snp_cert_files){ .vcek = { leaf.data, leaf.size },
                                            .ask = { ask.data, ask.size },
                                            .ark = { ark.data, ark.size } };
    if (attest_snp_certs_new(&files, &certs, NULL) < 0)
        __builtin_trap();
    return certs;
}

static void
check(const uint8_t *data, size_t size, const struct attest_snp_certs *certs)
{
    struct attest_snp_options options = { .at = FUZZ_TIME };
    struct attest_failure parse_failure, failure;
    struct attest_snp_result result;
    struct snp_report parsed;
    int parsed_ok = snp_report_parse(data, size, &parsed, &parse_failure) == 0;
    int verified = attest_snp_verify(data, size, certs, &options, &result, &failure) == 0;

    if (parsed_ok && (size != ATTEST_SNP_REPORT_SIZE ||
                      (parsed.claims.version != 2 && parsed.claims.version != 3)))
        __builtin_trap();
    if (verified != (failure.step == ATTEST_STEP_NONE))
        __builtin_trap();
    if (!parsed_ok) {
        /* The verifier fails where the parser does, and says the same. */
        if (verified || failure.step != parse_failure.step)
            __builtin_trap();
        return;
    }
    if (!verified) {
        if (failure.step == ATTEST_STEP_PARSE || failure.step == ATTEST_STEP_VERSION)
            __builtin_trap();
        return;
    }
    /* Only a report whose signature verifies on its own is accepted, and as it reads. */
    if (snp_report_signature_verify(&parsed, certs->key) != 0 ||
        result.claims.platform != ATTEST_PLATFORM_SNP ||
        result.claims.snp.reported_tcb != certs->tcb || result.claims.snp.vlek != certs->vlek ||
        memcmp(result.claims.snp.measurement, data + 0x90, 48) != 0 ||
        memcmp(result.claims.report_data, data + 0x50, 64) != 0 ||
        result.claims.debug != ((parsed.claims.policy >> 19) & 1))
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct attest_snp_certs *vcek, *vlek;

    if (!vcek) {
        vcek = fuzz_certs("snp-milan-trustee", "vcek.der", "ask.pem");
        vlek = fuzz_certs("snp-vlek-trustee", "vlek.der", "asvk.pem");
    }
    check(data, size, vcek);
    check(data, size, vlek);
    return 0;
}
