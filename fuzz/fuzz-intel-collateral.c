/* Fuzz target for libattest's readers of Intel's TCB info and QE identity bodies
 * (lib/attest/intel-tcb-info.c) and the matching that runs on what they accept
 * (intel-tcb-match.c). Every input is parsed as both kinds without a signature check; what is
 * accepted must keep the parser's promises (limits, statuses, level order), and is then matched
 * against a few platforms made from its own levels, whose results must be consistent. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest-util.h"
#include "intel-tcb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool condition)
{
    if (!condition)
        __builtin_trap();
}

static bool
status_valid(enum attest_tcb_status status)
{
    return status >= ATTEST_TCB_UP_TO_DATE && status <= ATTEST_TCB_REVOKED;
}

static void
level_check(const struct intel_tcb_level *level)
{
    require(status_valid(level->status));
    require(level->advisory_count <= ATTEST_ADVISORIES_MAX);
    for (unsigned i = 0; i < level->advisory_count; i++) {
        size_t n = strnlen(level->advisory_ids[i], ATTEST_ADVISORY_ID_SIZE);

        require(n > 0 && n < ATTEST_ADVISORY_ID_SIZE);
    }
}

/* Strictly descending as Intel QVL orders TCB levels. */
static bool
tcb_levels_descend(const struct intel_tcb_level *a, const struct intel_tcb_level *b)
{
    int c = memcmp(a->sgx_components, b->sgx_components, 16);

    if (c != 0)
        return c > 0;
    if (a->pcesvn != b->pcesvn)
        return a->pcesvn > b->pcesvn;
    return a->has_tdx_components && memcmp(a->tdx_components, b->tdx_components, 16) > 0;
}

static void
tcb_info_check(const struct intel_tcb_info *info)
{
    require(info->version == 2 || info->version == 3);
    require(info->level_count >= 1 && info->level_count <= INTEL_TCB_LEVELS_MAX);
    require(info->has_tdx_module == info->tdx);
    require(info->tdx || info->module_identity_count == 0);
    require(info->module_identity_count <= INTEL_TDX_MODULE_IDENTITIES_MAX);
    require(info->tcb_type == 0);
    for (size_t i = 0; i < info->level_count; i++) {
        level_check(&info->levels[i]);
        require(info->levels[i].has_tdx_components == info->tdx);
        if (i > 0)
            require(tcb_levels_descend(&info->levels[i - 1], &info->levels[i]));
    }
    for (size_t m = 0; m < info->module_identity_count; m++) {
        const struct intel_tdx_module_identity *id = &info->module_identities[m];

        require(id->level_count >= 1 && id->level_count <= INTEL_TCB_LEVELS_MAX);
        require(strnlen(id->id, sizeof(id->id)) < sizeof(id->id));
        for (size_t i = 0; i < id->level_count; i++) {
            level_check(&id->levels[i]);
            if (i > 0)
                require(id->levels[i - 1].isvsvn > id->levels[i].isvsvn);
        }
    }
}

/* A quote of the TCB info's kind whose TDX module is the one the info names. */
static void
platform_make(const struct intel_tcb_info *info, const struct intel_tcb_level *level, uint8_t fill,
              struct pck_extensions *pck, struct intel_quote *quote)
{
    memset(pck, 0, sizeof(*pck));
    memset(quote, 0, sizeof(*quote));
    memcpy(pck->fmspc, info->fmspc, sizeof(pck->fmspc));
    memcpy(pck->pce_id, info->pce_id, sizeof(pck->pce_id));
    if (level) {
        memcpy(pck->tcb_components, level->sgx_components, 16);
        pck->pcesvn = level->pcesvn;
    } else {
        memset(pck->tcb_components, fill, 16);
        pck->pcesvn = (uint16_t)(fill * 0x101);
    }
    quote->tee_type = info->tdx ? INTEL_TEE_TDX : INTEL_TEE_SGX;
    quote->body_type = info->tdx ? INTEL_BODY_TD15 : INTEL_BODY_SGX;
    quote->version = info->tdx ? 5 : 3;
    if (!info->tdx)
        return;
    quote->td.td15 = true;
    memcpy(quote->td.mrsignerseam, info->tdx_module_mrsigner, 48);
    if (level)
        memcpy(quote->td.tee_tcb_svn, level->tdx_components, 16);
    else
        memset(quote->td.tee_tcb_svn, fill, 16);
    if (quote->td.tee_tcb_svn[1] > 0 && info->module_identity_count > 0)
        memcpy(quote->td.mrsignerseam, info->module_identities[0].mrsigner, 48);
    memcpy(quote->td.tee_tcb_svn2, quote->td.tee_tcb_svn, 16);
    quote->td.tee_tcb_svn2[0] = 0xff;
}

static void
match_check(const struct intel_tcb_info *info, const struct pck_extensions *pck,
            const struct intel_quote *quote)
{
    struct intel_tcb_match match;
    struct attest_claims claims = { 0 };
    struct attest_failure failure = { 0 };
    int r = intel_tcb_match(info, pck, quote, &match, &claims, &failure);

    if (r < 0) {
        require(failure.step == ATTEST_STEP_TCB);
        require(r == -EPERM || r == -EBADMSG || r == -E2BIG);
        return;
    }
    require(match.platform_level >= info->levels &&
            match.platform_level < info->levels + info->level_count);
    require(match.platform_status == match.platform_level->status);
    require((match.module_level != NULL) == (match.tdx_module_status != 0));
    require(!match.td_relaunch_configuration_needed || match.td_relaunch_advised);
    require(claims.advisory_count <= ATTEST_ADVISORIES_MAX);
    (void)intel_tcb_match_module_advisories(&match, &claims, NULL);
    for (int qe = 0; qe <= ATTEST_TCB_REVOKED; qe++)
        require(
            status_valid(intel_tcb_converge(match.platform_status, qe, match.tdx_module_status)));
}

static void
tcb_info_match(const struct intel_tcb_info *info)
{
    struct pck_extensions pck;
    struct intel_quote quote;
    struct intel_tcb_match match;

    platform_make(info, &info->levels[0], 0, &pck, &quote);
    match_check(info, &pck, &quote);
    platform_make(info, &info->levels[info->level_count - 1], 0, &pck, &quote);
    match_check(info, &pck, &quote);
    platform_make(info, NULL, 0x00, &pck, &quote);
    match_check(info, &pck, &quote);
    platform_make(info, NULL, 0xff, &pck, &quote);
    match_check(info, &pck, &quote);
    /* The other kind of quote, or another FMSPC, never matches. */
    quote.tee_type = info->tdx ? INTEL_TEE_SGX : INTEL_TEE_TDX;
    quote.body_type = info->tdx ? INTEL_BODY_SGX : INTEL_BODY_TD10;
    require(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL) == -EPERM);
    platform_make(info, &info->levels[0], 0, &pck, &quote);
    pck.fmspc[0] ^= 1;
    require(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL) == -EPERM);
}

static void
qe_identity_check(const struct intel_qe_identity *identity)
{
    static const uint16_t svns[] = { 0, 1, 0xffff };
    struct intel_sgx_report report = { 0 };

    require(identity->version == 2);
    require(identity->level_count >= 1 && identity->level_count <= INTEL_TCB_LEVELS_MAX);
    for (size_t i = 0; i < identity->level_count; i++) {
        level_check(&identity->levels[i]);
        require(identity->levels[i].status != ATTEST_TCB_SW_HARDENING_NEEDED &&
                identity->levels[i].status != ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    }
    report.miscselect = identity->miscselect;
    memcpy(report.attributes, identity->attributes, 16);
    memcpy(report.mrsigner, identity->mrsigner, 32);
    report.isvprodid = identity->isvprodid;
    for (size_t i = 0; i < sizeof(svns) / sizeof(svns[0]) + 1; i++) {
        struct attest_failure failure = { 0 };
        enum attest_tcb_status status = 0;
        bool fields_match =
            (identity->miscselect & identity->miscselect_mask) == identity->miscselect;
        int r;

        for (size_t b = 0; b < 16; b++)
            fields_match &=
                (identity->attributes[b] & identity->attributes_mask[b]) == identity->attributes[b];
        report.isvsvn = i < 3 ? svns[i] : identity->levels[0].isvsvn;
        r = intel_qe_identity_check(identity, &report, &status, NULL, &failure);
        if (r == 0) {
            require(fields_match && status_valid(status));
        } else {
            require(r == -EPERM);
            require(failure.step == (fields_match ? ATTEST_STEP_TCB : ATTEST_STEP_QE_IDENTITY));
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct intel_tcb_info *info = NULL;
    struct intel_qe_identity *identity = NULL;
    struct attest_failure failure = { 0 };
    int r;

    r = intel_tcb_info_parse((const char *)data, size, NULL, &info, &failure);
    if (r == 0) {
        tcb_info_check(info);
        tcb_info_match(info);
        intel_tcb_info_free(info);
    } else {
        require(!info && failure.step == ATTEST_STEP_COLLATERAL);
        require(r == -EBADMSG || r == -E2BIG);
    }
    failure = (struct attest_failure){ 0 };
    r = intel_qe_identity_parse((const char *)data, size, NULL, &identity, &failure);
    if (r == 0) {
        qe_identity_check(identity);
        intel_qe_identity_free(identity);
    } else {
        require(!identity && failure.step == ATTEST_STEP_COLLATERAL);
        require(r == -EBADMSG || r == -E2BIG);
    }
    return 0;
}
