/* libattest: verification of an Intel SGX or TDX quote against collateral (intel.h), step by
 * step in Intel QVL's order. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "attest-util.h"
#include "cleanup.h"
#include "intel-collateral.h"
#include "intel-quote.h"
#include "intel-tcb.h"
#include "x509-util.h"

#define SGX_ATTRIBUTE_DEBUG 0x2u /* SGX ATTRIBUTES.DEBUG (flags bit 1) */
#define TDX_ATTRIBUTE_DEBUG 0x1u /* TDATTRIBUTES.DEBUG (bit 0) */

/* Everything one verification needs, so that each step is a short function. */
struct intel_run {
    const struct attest_intel_collateral *collateral;
    const struct attest_intel_options *options;
    int64_t at;
    struct intel_quote quote;
    struct intel_pck pck;
    struct attest_intel_result result;
};

static int64_t
min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* The collateral's validity windows at the verification time, each named. */
static int
check_windows(struct intel_run *run, struct attest_failure *failure)
{
    const struct attest_intel_collateral *c = run->collateral;
    int64_t at = run->at;
    int r;

    r = x509_window_check(run->pck.valid_from, run->pck.valid_until, at, "the PCK chain", failure);
    if (r >= 0)
        r = x509_window_check(c->tcb_chain_from, c->tcb_chain_until, at, "tcb_info_issuer_chain",
                              failure);
    if (r >= 0)
        r = x509_window_check(c->tcb_info->issue_date, c->tcb_info->next_update, at, "tcb_info",
                              failure);
    if (r >= 0)
        r = x509_window_check(c->qe_chain_from, c->qe_chain_until, at, "qe_identity_issuer_chain",
                              failure);
    if (r >= 0)
        r = x509_window_check(c->qe_identity->issue_date, c->qe_identity->next_update, at,
                              "qe_identity", failure);
    if (r >= 0 && c->pck_crl) {
        r = x509_window_check(c->root_crl_from, c->root_crl_until, at, "root_ca_crl", failure);
        if (r >= 0)
            r = x509_window_check(c->pck_crl_from, c->pck_crl_until, at, "pck_crl", failure);
    }
    return r;
}

static int64_t
valid_until(const struct intel_run *run)
{
    struct attest_intel_collateral_info info;

    attest_intel_collateral_get_info(run->collateral, &info);
    return min64(info.not_after, run->pck.valid_until);
}

static int
check_pck(struct intel_run *run, struct attest_failure *failure)
{
    const struct intel_quote *q = &run->quote;
    int r;

    if (!run->collateral->pck_crl && !run->options->crls_missing_ok)
        return attest_failure_set(failure, ATTEST_STEP_REVOCATION, -ENOENT,
                                  "collateral missing: pck_crl and root_ca_crl (revocation "
                                  "cannot be checked; the caller may accept that explicitly)");
    r = intel_collateral_pck(run->collateral, q->pck_chain, q->pck_chain_size, q->attestation_key,
                             &run->pck, failure);
    if (r < 0)
        return r;
    run->result.crls_checked = run->collateral->pck_crl != NULL;
    return check_windows(run, failure);
}

/* The QE report is signed by the PCK key, and binds the attestation key:
 * report_data = SHA-256(attestation key ‖ QE authentication data) ‖ 32 zero bytes. */
static int
check_qe_report(struct intel_run *run, struct attest_failure *failure)
{
    static const uint8_t zero[32];
    const struct intel_quote *q = &run->quote;
    uint8_t digest[SHA256_SIZE];
    int r;

    if (x509_verify_p256_raw(run->pck.leaf_key, q->qe_report_raw, INTEL_SGX_REPORT_SIZE,
                             q->qe_report_signature) < 0)
        return attest_failure_set(failure, ATTEST_STEP_QE_REPORT, -EKEYREJECTED,
                                  "the QE report's signature by the PCK key does not verify");
    r = attest_sha256(q->attestation_key, INTEL_ECDSA_KEY_SIZE, q->qe_auth_data, q->qe_auth_size,
                      digest);
    if (r < 0)
        return r;
    if (memcmp(q->qe_report.report_data, digest, sizeof(digest)) != 0 ||
        memcmp(q->qe_report.report_data + 32, zero, sizeof(zero)) != 0)
        return attest_failure_set(failure, ATTEST_STEP_ATTESTATION_KEY, -EKEYREJECTED,
                                  "the QE report does not bind the quote's attestation key");
    return 0;
}

static int
check_quote_signature(struct intel_run *run, struct attest_failure *failure)
{
    const struct intel_quote *q = &run->quote;

    if (!run->pck.ak_key)
        return attest_failure_set(failure, ATTEST_STEP_SIGNATURE, -EBADMSG,
                                  "the attestation key is not a P-256 point");
    if (x509_verify_p256_raw(run->pck.ak_key, q->signed_region, q->signed_size, q->signature) < 0)
        return attest_failure_set(failure, ATTEST_STEP_SIGNATURE, -EKEYREJECTED,
                                  "the quote's signature by the attestation key does not verify");
    return 0;
}

/* The QE identity must be of the quote's kind: "QE" for SGX quotes, "TD_QE" for TDX. */
static int
check_identities(struct intel_run *run, struct attest_failure *failure)
{
    const struct attest_intel_collateral *c = run->collateral;
    bool tdx = run->quote.tee_type == INTEL_TEE_TDX;

    if (c->qe_identity->td_qe != tdx)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EPERM,
                                  "qe_identity is for %s, the quote needs %s",
                                  c->qe_identity->td_qe ? "TD_QE" : "QE", tdx ? "TD_QE" : "QE");
    if (c->tcb_info->tdx != tdx)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EPERM,
                                  "tcb_info is for %s, the quote is %s",
                                  c->tcb_info->tdx ? "TDX" : "SGX", tdx ? "TDX" : "SGX");
    return 0;
}

static int
evaluate_tcb(struct intel_run *run, struct attest_failure *failure)
{
    struct attest_intel_result *res = &run->result;
    struct intel_tcb_match match = { 0 };
    int r;

    r = check_identities(run, failure);
    if (r >= 0)
        r = intel_tcb_match(run->collateral->tcb_info, &run->pck.extensions, &run->quote, &match,
                            &res->claims, failure);
    if (r >= 0)
        r = intel_qe_identity_check(run->collateral->qe_identity, &run->quote.qe_report,
                                    &res->qe_status, &res->claims, failure);
    if (r >= 0)
        r = intel_tcb_match_module_advisories(&match, &res->claims, failure);
    if (r < 0)
        return r;
    res->platform_status = match.platform_status;
    res->tdx_module_status = match.tdx_module_status;
    res->tcb_date = match.tcb_date;
    res->td_relaunch_advised = match.td_relaunch_advised;
    res->td_relaunch_configuration_needed = match.td_relaunch_configuration_needed;
    res->claims.tcb_status =
        intel_tcb_converge(match.platform_status, res->qe_status, match.tdx_module_status);
    if (res->claims.tcb_status == ATTEST_TCB_REVOKED)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EKEYREVOKED,
                                  "the platform's TCB is revoked");
    return 0;
}

static void
fill_claims(struct intel_run *run)
{
    const struct intel_quote *q = &run->quote;
    struct attest_intel_result *res = &run->result;
    struct attest_claims *claims = &res->claims;

    memcpy(claims->report_data, q->report_data, sizeof(claims->report_data));
    if (q->tee_type == INTEL_TEE_TDX) {
        claims->platform = ATTEST_PLATFORM_TDX;
        claims->tdx = q->td;
        claims->debug = (q->td.td_attributes & TDX_ATTRIBUTE_DEBUG) != 0;
    } else {
        claims->platform = ATTEST_PLATFORM_SGX_DCAP;
        memcpy(claims->mrenclave, q->enclave.mrenclave, sizeof(claims->mrenclave));
        memcpy(claims->mrsigner, q->enclave.mrsigner, sizeof(claims->mrsigner));
        claims->isvprodid = q->enclave.isvprodid;
        claims->isvsvn = q->enclave.isvsvn;
        claims->attributes = le64_read(q->enclave.attributes);
        claims->debug = (claims->attributes & SGX_ATTRIBUTE_DEBUG) != 0;
    }
    res->version = q->version;
    res->trailing_bytes = q->trailing_bytes;
    memcpy(res->fmspc, run->pck.extensions.fmspc, sizeof(res->fmspc));
    memcpy(res->pce_id, run->pck.extensions.pce_id, sizeof(res->pce_id));
    memcpy(res->cpusvn, run->pck.extensions.cpusvn, sizeof(res->cpusvn));
    res->pce_svn = run->pck.extensions.pcesvn;
    res->valid_until = valid_until(run);
}

static int
verify_steps(struct intel_run *run, const uint8_t *quote, size_t size,
             struct attest_failure *failure)
{
    int r = intel_quote_parse(quote, size, &run->quote, failure);

    if (r >= 0)
        r = check_pck(run, failure);
    if (r >= 0)
        r = check_qe_report(run, failure);
    if (r >= 0)
        r = check_quote_signature(run, failure);
    if (r >= 0)
        r = evaluate_tcb(run, failure);
    return r;
}

/* The issuer's common name tells the two PCK CAs apart, as Intel's PCCS does. */
static bool
issued_by_processor_ca(X509 *leaf)
{
    char cn[128] = "";

    X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, cn, sizeof(cn));
    return strcmp(cn, "Intel SGX PCK Processor CA") == 0;
}

int
attest_intel_quote_needs(const uint8_t *quote, size_t size, struct attest_intel_quote_needs *ret,
                         struct attest_failure *failure)
{
    struct intel_quote q;
    struct x509_chain chain = { 0 };
    struct pck_extensions extensions;
    int r;

    if (!quote || !ret)
        return -EINVAL;
    if (size > ATTEST_INTEL_QUOTE_MAX)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -E2BIG,
                                  "the quote is larger than %u bytes", ATTEST_INTEL_QUOTE_MAX);
    r = intel_quote_parse(quote, size, &q, failure);
    if (r < 0)
        return r;
    if (x509_chain_read_pem(q.pck_chain, q.pck_chain_size, &chain) < 0)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "the quote's PCK certificate chain is not PEM certificates");
    r = pck_extensions_from_cert(chain.certs[0], &extensions, failure);
    if (r >= 0) {
        *ret = (struct attest_intel_quote_needs){
            .tdx = q.tee_type == INTEL_TEE_TDX,
            .processor_ca = issued_by_processor_ca(chain.certs[0]),
        };
        memcpy(ret->fmspc, extensions.fmspc, sizeof(ret->fmspc));
        memcpy(ret->pce_id, extensions.pce_id, sizeof(ret->pce_id));
        attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
    } else if (r == -ENOENT) {
        r = attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EBADMSG,
                               "the PCK certificate has no SGX extensions");
    }
    x509_chain_clear(&chain);
    return r;
}

int
attest_intel_verify(const uint8_t *quote, size_t size,
                    const struct attest_intel_collateral *collateral,
                    const struct attest_intel_options *options, struct attest_intel_result *ret,
                    struct attest_failure *failure)
{
    static const struct attest_intel_options defaults;
    struct intel_run run = {
        .collateral = collateral,
        .options = options ? options : &defaults,
    };
    int r;

    if (!quote || !collateral || !ret)
        return -EINVAL;
    if (size > ATTEST_INTEL_QUOTE_MAX)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -E2BIG,
                                  "the quote is larger than %u bytes", ATTEST_INTEL_QUOTE_MAX);
    run.at = run.options->at ? run.options->at : (int64_t)time(NULL);
    r = verify_steps(&run, quote, size, failure);
    intel_pck_release(&run.pck);
    if (r < 0)
        return r;
    fill_claims(&run);
    attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
    *ret = run.result;
    return 0;
}
