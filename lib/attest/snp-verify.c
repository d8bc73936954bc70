/* libattest: AMD SEV-SNP report verification (attest_snp_verify). Everything about the
 * certificates was settled by attest_snp_certs_new; a report costs its parse, a few comparisons
 * and one P-384 verify. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "attest-util.h"
#include "cleanup.h"
#include "snp-report.h"

#define POLICY_DEBUG (UINT64_C(1) << 19)
#define ISO_TIME_SIZE 32

static void
iso_time(int64_t t, char out[ISO_TIME_SIZE])
{
    time_t v = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&v, &tm) || strftime(out, ISO_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(out, ISO_TIME_SIZE, "%" PRId64, t);
}

/* The report says which kind of key signed it; it must be the kind we hold. */
static int
check_signing_key(const struct snp_report *report, const struct attest_snp_certs *certs,
                  struct attest_failure *failure)
{
    enum snp_signing_key expected = certs->vlek ? SNP_SIGNING_KEY_VLEK : SNP_SIGNING_KEY_VCEK;

    if (report->signing_key == SNP_SIGNING_KEY_NONE)
        return attest_failure_set(failure, ATTEST_STEP_KEY_ID, -EKEYREJECTED,
                                  "key_id: the report is not signed (SIGNING_KEY none)");
    if (report->signing_key != expected)
        return attest_failure_set(failure, ATTEST_STEP_KEY_ID, -EKEYREJECTED,
                                  "key_id: the report is signed by a %s, the certificate is a %s",
                                  report->signing_key == SNP_SIGNING_KEY_VLEK ? "VLEK" : "VCEK",
                                  certs->vlek ? "VLEK" : "VCEK");
    return 0;
}

/* Every certificate of the chain is inside its validity window at the verification time. */
static int
check_windows(const struct attest_snp_certs *certs, int64_t at, int64_t *ret_valid_until,
              struct attest_failure *failure)
{
    int64_t until = INT64_MAX;

    for (size_t i = 0; i < ELEMENTSOF(certs->windows); i++) {
        const struct snp_cert_window *w = &certs->windows[i];

        if (at < w->not_before || at > w->not_after) {
            char from[ISO_TIME_SIZE], to[ISO_TIME_SIZE], now[ISO_TIME_SIZE];

            iso_time(w->not_before, from);
            iso_time(w->not_after, to);
            iso_time(at, now);
            return attest_failure_set(failure, ATTEST_STEP_EXPIRED, -EKEYEXPIRED,
                                      "expired: %s is valid %s to %s, not at %s", w->name, from, to,
                                      now);
        }
        if (w->not_after < until)
            until = w->not_after;
    }
    *ret_valid_until = until;
    return 0;
}

static void
tcb_text(enum snp_product product, uint64_t value, char *out, size_t size)
{
    struct snp_tcb tcb;

    snp_tcb_decode(product, value, &tcb);
    if (product == SNP_PRODUCT_TURIN)
        (void)snprintf(out, size, "fmc %u bl %u tee %u snp %u ucode %u", tcb.fmc, tcb.bootloader,
                       tcb.tee, tcb.snp, tcb.microcode);
    else
        (void)snprintf(out, size, "bl %u tee %u snp %u ucode %u", tcb.bootloader, tcb.tee, tcb.snp,
                       tcb.microcode);
}

/* The report comes from the chip and the TCB the VCEK/VLEK certifies, on its product line. */
static int
check_tcb(const struct snp_report *report, const struct attest_snp_certs *certs,
          struct attest_failure *failure)
{
    const char *name = certs->vlek ? "vlek" : "vcek";

    if (report->has_cpuid &&
        snp_product_from_cpuid(report->cpuid_family, report->cpuid_model) != certs->product)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EKEYREJECTED,
                                  "tcb: report CPUID family %02xh model %02xh is not %s",
                                  report->cpuid_family, report->cpuid_model,
                                  snp_product_name(certs->product));
    /* A masked CHIP_ID is zero (checked by the parse): the signature alone binds the chip. */
    if (!certs->vlek && !(report->signer_info & SNP_SIGNER_MASK_CHIP_ID) &&
        CRYPTO_memcmp(report->claims.chip_id, certs->hwid, certs->hwid_size) != 0)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EKEYREJECTED,
                                  "tcb: CHIP_ID is not the vcek's hwID (a VCEK of another chip)");
    if (report->claims.reported_tcb != certs->tcb) {
        char reported[64], certified[64];

        tcb_text(certs->product, report->claims.reported_tcb, reported, sizeof(reported));
        tcb_text(certs->product, certs->tcb, certified, sizeof(certified));
        return attest_failure_set(
            failure, ATTEST_STEP_TCB, -EKEYREJECTED,
            "tcb: REPORTED_TCB %016" PRIx64 " (%s) is not the %s's TCB %016" PRIx64 " (%s)",
            report->claims.reported_tcb, reported, name, certs->tcb, certified);
    }
    return 0;
}

static void
claims_fill(const struct snp_report *report, const struct attest_snp_certs *certs,
            struct attest_claims *claims)
{
    memset(claims, 0, sizeof(*claims));
    claims->platform = ATTEST_PLATFORM_SNP;
    /* SNP has no TCB info to grade against: the VCEK/VLEK certifies exactly the reported TCB. */
    claims->tcb_status = ATTEST_TCB_UP_TO_DATE;
    claims->debug = (report->claims.policy & POLICY_DEBUG) != 0;
    memcpy(claims->report_data, report->report_data, ATTEST_REPORT_DATA_SIZE);
    memcpy(claims->key_id, certs->key_id, ATTEST_KEY_ID_SIZE);
    claims->snp = report->claims;
    (void)snprintf(claims->snp.product, sizeof(claims->snp.product), "%s",
                   snp_product_name(certs->product));
    claims->snp.vlek = certs->vlek;
}

int
attest_snp_verify(const uint8_t *report, size_t size, const struct attest_snp_certs *certs,
                  const struct attest_snp_options *options, struct attest_snp_result *ret,
                  struct attest_failure *failure)
{
    struct snp_report parsed;
    int64_t at = options && options->at ? options->at : (int64_t)time(NULL);
    int64_t valid_until = 0;
    int r;

    if (!ret)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EINVAL, "no result");
    if (!certs || !certs->key)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EINVAL,
                                  "collateral missing: vcek");
    r = snp_report_parse(report, size, &parsed, failure);
    if (r < 0)
        return r;
    r = check_signing_key(&parsed, certs, failure);
    if (r < 0)
        return r;
    r = check_windows(certs, at, &valid_until, failure);
    if (r < 0)
        return r;
    r = check_tcb(&parsed, certs, failure);
    if (r < 0)
        return r;
    r = snp_report_signature_verify(&parsed, certs->key);
    if (r == -ENOMEM)
        return attest_failure_set(failure, ATTEST_STEP_SIGNATURE, r, "out of memory");
    if (r < 0)
        return attest_failure_set(failure, ATTEST_STEP_SIGNATURE, -EBADMSG,
                                  "signature: the report's signature by the %s does not verify",
                                  certs->vlek ? "vlek" : "vcek");
    claims_fill(&parsed, certs, &ret->claims);
    ret->valid_until = valid_until;
    return attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
}

int
attest_snp_report_read(const uint8_t *report, size_t size, struct attest_snp_claims *ret,
                       struct attest_failure *failure)
{
    struct snp_report parsed;
    const char *product = NULL;
    int r;

    if (!report || !ret)
        return -EINVAL;
    r = snp_report_parse(report, size, &parsed, failure);
    if (r < 0)
        return r;
    *ret = parsed.claims;
    if (parsed.has_cpuid)
        product = snp_product_name(snp_product_from_cpuid(parsed.cpuid_family, parsed.cpuid_model));
    (void)snprintf(ret->product, sizeof(ret->product), "%s", product ? product : "");
    return 0;
}
