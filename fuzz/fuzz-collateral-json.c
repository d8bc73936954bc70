/* Fuzz target for libattest's collateral loader (lib/attest/collateral-load.c): every input is
 * loaded as a JSON document and as the contents of a file (JSON or AMD certificates). Checks that
 * nothing crashes, that success and failure are reported consistently, and that what loads keeps
 * the loader's limits and picks the same items every time. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <attest/collateral.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_bytes(struct attest_bytes b, size_t max)
{
    if ((b.data == NULL) != (b.size == 0) || b.size > max)
        __builtin_trap();
}

static void
check_intel(const struct attest_intel_collateral_files *f)
{
    check_bytes(f->tcb_info, ATTEST_INTEL_COLLATERAL_MAX);
    check_bytes(f->tcb_info_issuer_chain, ATTEST_INTEL_COLLATERAL_MAX);
    check_bytes(f->qe_identity, ATTEST_INTEL_COLLATERAL_MAX);
    check_bytes(f->qe_identity_issuer_chain, ATTEST_INTEL_COLLATERAL_MAX);
    check_bytes(f->pck_crl, ATTEST_INTEL_COLLATERAL_MAX);
    check_bytes(f->pck_crl_issuer_chain, ATTEST_INTEL_COLLATERAL_MAX);
    check_bytes(f->root_ca_crl, ATTEST_INTEL_COLLATERAL_MAX);
    if (f->root_key_sha256)
        __builtin_trap();
}

/* Picking by key never fails but for "nothing Intel" or "ambiguous", and the unambiguous set is
 * what a key-less pick of its own kind gives. */
static void
check_select(const struct attest_collateral *c)
{
    const struct attest_intel_collateral_files *only = attest_collateral_intel(c);

    for (int tdx = 0; tdx < 2; tdx++) {
        for (int ca = ATTEST_PCK_CA_ANY; ca <= ATTEST_PCK_CA_PLATFORM; ca++) {
            struct attest_collateral_key key = { .tdx = tdx, .pck_ca = ca };
            struct attest_intel_collateral_files f;
            struct attest_failure failure;
            int r = attest_collateral_intel_select(c, &key, &f, &failure);

            if (r == 0) {
                if (failure.step != ATTEST_STEP_NONE)
                    __builtin_trap();
                check_intel(&f);
            } else if ((r != -ENOENT && r != -ENOTUNIQ) || failure.step != ATTEST_STEP_COLLATERAL ||
                       (r == -ENOENT && only)) {
                __builtin_trap();
            }
        }
    }
}

static void
check_loaded(int r, struct attest_collateral *c, const struct attest_failure *failure)
{
    const struct attest_snp_cert_files *snp;

    if (r < 0) {
        if (c || failure->step != ATTEST_STEP_COLLATERAL || failure->reason[0] == '\0')
            __builtin_trap();
        return;
    }
    if (r != 0 || !c || failure->step != ATTEST_STEP_NONE || !attest_collateral_shape(c))
        __builtin_trap();
    if (attest_collateral_intel(c))
        check_intel(attest_collateral_intel(c));
    snp = attest_collateral_snp(c);
    if (snp) {
        check_bytes(snp->vcek, ATTEST_SNP_CERT_MAX);
        check_bytes(snp->ask, ATTEST_SNP_CERT_MAX);
        check_bytes(snp->ark, ATTEST_SNP_CERT_MAX);
    }
    check_select(c);
}

/* Two loads of one input give the same result. */
static void
check_same(const struct attest_collateral *a, const struct attest_collateral *b)
{
    const struct attest_intel_collateral_files *x = attest_collateral_intel(a);
    const struct attest_intel_collateral_files *y = attest_collateral_intel(b);

    if ((x == NULL) != (y == NULL) ||
        strcmp(attest_collateral_shape(a), attest_collateral_shape(b)) != 0)
        __builtin_trap();
    if (x && (x->tcb_info.size != y->tcb_info.size ||
              (x->tcb_info.size > 0 &&
               memcmp(x->tcb_info.data, y->tcb_info.data, x->tcb_info.size) != 0)))
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct attest_collateral *json = NULL, *file = NULL;
    struct attest_failure failure;
    int r;

    r = attest_collateral_load_json((const char *)data, size, &json, &failure);
    check_loaded(r, json, &failure);
    r = attest_collateral_load_data(data, size, "fuzz", &file, &failure);
    check_loaded(r, file, &failure);
    /* Every JSON document the first loads, the second loads the same way. */
    if (json && !file)
        __builtin_trap();
    if (json)
        check_same(json, file);
    attest_collateral_free(json);
    attest_collateral_free(file);
    return 0;
}
