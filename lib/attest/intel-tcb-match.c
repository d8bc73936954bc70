/* libattest: a platform matched against Intel's TCB info and QE identity, and the statuses
 * converged, as Intel's Quote Verification Library does (intel-tcb.h names the sources). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "attest-util.h"
#include "intel-tcb.h"

#define ID_SIZE 8u /* "TDX_%02X" */

static int
advisories_add(const struct intel_tcb_level *level, struct attest_claims *claims,
               struct attest_failure *failure)
{
    if (!level || !claims)
        return 0;
    for (unsigned i = 0; i < level->advisory_count; i++) {
        int r = attest_claims_add_advisory(claims, level->advisory_ids[i]);

        if (r < 0)
            return attest_failure_set(failure, ATTEST_STEP_TCB, r,
                                      "more advisory ids than the %u a result holds",
                                      ATTEST_ADVISORIES_MAX);
    }
    return 0;
}

static int
qe_mismatch(struct attest_failure *failure, const char *field)
{
    return attest_failure_set(failure, ATTEST_STEP_QE_IDENTITY, -EPERM,
                              "the QE report does not match qe_identity: %s", field);
}

/* EnclaveReportVerifier::verify: each field under its mask, then the first level (in the order
 * given) whose isvsvn the report's reaches. */
int
intel_qe_identity_check(const struct intel_qe_identity *identity,
                        const struct intel_sgx_report *qe_report,
                        enum attest_tcb_status *ret_status, struct attest_claims *claims,
                        struct attest_failure *failure)
{
    const struct intel_tcb_level *level = NULL;
    int r;

    if (!identity || !qe_report || !ret_status)
        return -EINVAL;
    if ((qe_report->miscselect & identity->miscselect_mask) != identity->miscselect)
        return qe_mismatch(failure, "miscselect");
    for (size_t i = 0; i < sizeof(identity->attributes); i++)
        if ((qe_report->attributes[i] & identity->attributes_mask[i]) != identity->attributes[i])
            return qe_mismatch(failure, "attributes");
    if (memcmp(qe_report->mrsigner, identity->mrsigner, sizeof(identity->mrsigner)) != 0)
        return qe_mismatch(failure, "mrsigner");
    if (qe_report->isvprodid != identity->isvprodid)
        return qe_mismatch(failure, "isvprodid");
    for (size_t i = 0; i < identity->level_count && !level; i++)
        if (identity->levels[i].isvsvn <= qe_report->isvsvn)
            level = &identity->levels[i];
    if (!level)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                                  "TCB level not supported: the QE's ISVSVN %u is below every "
                                  "qe_identity level",
                                  qe_report->isvsvn);
    r = advisories_add(level, claims, failure);
    if (r < 0)
        return r;
    *ret_status = level->status;
    return 0;
}

/* The TCB info is for this kind of quote, this FMSPC and this PCE ID (QuoteVerifier 4.1.2.4.9,
 * 4.1.2.4.10). */
static int
platform_check(const struct intel_tcb_info *info, const struct pck_extensions *pck, bool tdx,
               struct attest_failure *failure)
{
    char ours[2 * sizeof(pck->fmspc) + 1], theirs[2 * sizeof(pck->fmspc) + 1];

    if (info->tdx != tdx)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                                  "tcb_info is for %s, the quote is %s", info->tdx ? "TDX" : "SGX",
                                  tdx ? "TDX" : "SGX");
    if (memcmp(info->fmspc, pck->fmspc, sizeof(pck->fmspc)) != 0) {
        attest_hex_encode(info->fmspc, sizeof(info->fmspc), theirs);
        attest_hex_encode(pck->fmspc, sizeof(pck->fmspc), ours);
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                                  "tcb_info is for FMSPC %s, the PCK certificate's is %s", theirs,
                                  ours);
    }
    if (memcmp(info->pce_id, pck->pce_id, sizeof(pck->pce_id)) != 0) {
        attest_hex_encode(info->pce_id, sizeof(info->pce_id), theirs);
        attest_hex_encode(pck->pce_id, sizeof(pck->pce_id), ours);
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                                  "tcb_info is for PCE ID %s, the PCK certificate's is %s", theirs,
                                  ours);
    }
    return 0;
}

/* findTdxModuleIdentity: "TDX_" and the module version in hex, compared case-insensitively. */
static const struct intel_tdx_module_identity *
module_identity_find(const struct intel_tcb_info *info, uint8_t version)
{
    char id[ID_SIZE];

    snprintf(id, sizeof(id), "TDX_%02X", version);
    for (size_t i = 0; i < info->module_identity_count; i++)
        if (strcasecmp(info->module_identities[i].id, id) == 0)
            return &info->module_identities[i];
    return NULL;
}

static int
module_mismatch(struct attest_failure *failure, const char *what, unsigned version)
{
    return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                              "TDX module mismatch: %s (TDX module version %u)", what, version);
}

/* QuoteVerifier 4.1.2.4.11: MRSIGNERSEAM and SEAMATTRIBUTES against tdxModule, or for module
 * version TEE_TCB_SVN[1] > 0 against the tdxModuleIdentities entry "TDX_%02X". Current Intel QVL
 * requires SEAMATTRIBUTES to be zero and equal to the attributes (the mask is read, unused);
 * the PCS API's masked comparison is checked too, which that implies. */
static int
tdx_module_check(const struct intel_tcb_info *info, const struct attest_tdx_claims *td,
                 const struct intel_tdx_module_identity **ret_identity,
                 struct attest_failure *failure)
{
    const struct intel_tdx_module_identity *identity = NULL;
    const uint8_t *mrsigner = info->tdx_module_mrsigner;
    const uint8_t *attributes = info->tdx_module_attributes;
    const uint8_t *mask = info->tdx_module_attributes_mask;
    unsigned version = td->tee_tcb_svn[1];
    uint8_t seam[8];

    if (!info->has_tdx_module)
        return module_mismatch(failure, "tcb_info has no tdxModule", version);
    if (version > 0) {
        if (info->module_identity_count == 0)
            return module_mismatch(failure, "tcb_info has no tdxModuleIdentities", version);
        identity = module_identity_find(info, (uint8_t)version);
        if (!identity)
            return module_mismatch(failure, "no tdxModuleIdentities entry for this version",
                                   version);
        mrsigner = identity->mrsigner;
        attributes = identity->attributes;
        mask = identity->attributes_mask;
    }
    if (memcmp(mrsigner, td->mrsignerseam, sizeof(td->mrsignerseam)) != 0)
        return module_mismatch(failure, "MRSIGNERSEAM is not the one tcb_info names", version);
    le64_write(seam, td->seam_attributes);
    for (size_t i = 0; i < sizeof(seam); i++)
        if (seam[i] != 0 || (seam[i] & mask[i]) != attributes[i])
            return module_mismatch(failure, "SEAMATTRIBUTES are not zero and those tcb_info names",
                                   version);
    *ret_identity = identity;
    return 0;
}

/* Every SVN from index from on is at least the level's. */
static bool
svns_reach(const uint8_t have[16], const uint8_t need[16], size_t from)
{
    for (size_t i = from; i < 16; i++)
        if (have[i] < need[i])
            return false;
    return true;
}

/* matchTcbLevels: the first level (highest first) that the PCK's SGX components and PCESVN
 * reach; for TDX (tee_tcb_svn not NULL) also the first from there on that TEE_TCB_SVN reaches,
 * from byte 2 when the module version TEE_TCB_SVN[1] > 0 (bytes 0–1 go through the module
 * identity instead). */
static void
levels_find(const struct intel_tcb_info *info, const struct pck_extensions *pck,
            const uint8_t *tee_tcb_svn, const struct intel_tcb_level **ret_sgx,
            const struct intel_tcb_level **ret_tdx)
{
    size_t from = tee_tcb_svn && tee_tcb_svn[1] > 0 ? 2 : 0;

    *ret_sgx = *ret_tdx = NULL;
    for (size_t i = 0; i < info->level_count; i++) {
        const struct intel_tcb_level *level = &info->levels[i];

        if (!svns_reach(pck->tcb_components, level->sgx_components, 0) ||
            pck->pcesvn < level->pcesvn)
            continue;
        if (!*ret_sgx)
            *ret_sgx = level;
        if (!tee_tcb_svn)
            return;
        if (level->has_tdx_components && svns_reach(tee_tcb_svn, level->tdx_components, from)) {
            *ret_tdx = level;
            return;
        }
    }
}

/* checkTdxModuleTcbStatus: the first module level (highest isvsvn first) that TEE_TCB_SVN[0]
 * reaches. Module levels may only be UpToDate, OutOfDate or Revoked
 * (VALID_MODULE_TCB_STATUSES; anything else is STATUS_TCB_UNRECOGNIZED_STATUS there). */
static int
module_level_find(const struct intel_tdx_module_identity *identity, uint8_t isvsvn,
                  const struct intel_tcb_level **ret, struct attest_failure *failure)
{
    const struct intel_tcb_level *level = NULL;

    for (size_t i = 0; i < identity->level_count && !level; i++)
        if (identity->levels[i].isvsvn <= isvsvn)
            level = &identity->levels[i];
    if (!level)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                                  "TCB level not supported: TDX module %s ISVSVN %u is below every "
                                  "level",
                                  identity->id, isvsvn);
    if (level->status != ATTEST_TCB_UP_TO_DATE && level->status != ATTEST_TCB_OUT_OF_DATE &&
        level->status != ATTEST_TCB_REVOKED)
        return attest_failure_set(failure, ATTEST_STEP_TCB, -EBADMSG,
                                  "tcb_info: TDX module %s level status %s is not one a module "
                                  "level may have",
                                  identity->id, attest_tcb_status_name(level->status));
    *ret = level;
    return 0;
}

static bool
configuration_needed(enum attest_tcb_status status)
{
    return status == ATTEST_TCB_CONFIGURATION_NEEDED ||
           status == ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           status == ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED;
}

/* TDRelaunchCheck's checkForRelaunch, without its QE condition (see struct intel_tcb_match):
 * an out-of-date TD whose TEE_TCB_SVN2 (what a relaunch would get) reaches the latest TCB level
 * and module level. */
static int
relaunch_check(const struct intel_tcb_info *info, const struct attest_tdx_claims *td,
               enum attest_tcb_status sgx_status, enum attest_tcb_status module_status,
               struct intel_tcb_match *match, struct attest_failure *failure)
{
    const struct intel_tcb_level *latest = &info->levels[0];
    const uint8_t *svn2 = td->tee_tcb_svn2;
    enum attest_tcb_status tdx_status =
        intel_tcb_converge(match->platform_status, 0, module_status);
    bool reached;

    if (!td->td15 || module_status != ATTEST_TCB_OUT_OF_DATE ||
        (tdx_status != ATTEST_TCB_OUT_OF_DATE &&
         tdx_status != ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED) ||
        (sgx_status != ATTEST_TCB_UP_TO_DATE && sgx_status != ATTEST_TCB_SW_HARDENING_NEEDED &&
         sgx_status != ATTEST_TCB_CONFIGURATION_NEEDED &&
         sgx_status != ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED))
        return 0;
    if (svn2[1] == 0) {
        reached = svn2[0] >= latest->tdx_components[0] && svn2[2] >= latest->tdx_components[2];
    } else {
        const struct intel_tdx_module_identity *identity = module_identity_find(info, svn2[1]);

        if (!identity || identity->level_count == 0)
            return module_mismatch(failure, "no tdxModuleIdentities entry for TEE_TCB_SVN2",
                                   svn2[1]);
        reached = svn2[0] >= identity->levels[0].isvsvn && svn2[2] >= latest->tdx_components[2];
    }
    match->td_relaunch_advised = reached;
    match->td_relaunch_configuration_needed =
        reached && (configuration_needed(sgx_status) || configuration_needed(tdx_status));
    return 0;
}

static int
not_supported(struct attest_failure *failure, const char *what)
{
    return attest_failure_set(failure, ATTEST_STEP_TCB, -EPERM,
                              "TCB level not supported: no tcb_info level matches %s", what);
}

/* The TDX part of checkTcbLevel: module identity level, then the relaunch check. */
static int
tdx_levels(const struct intel_tcb_info *info, const struct attest_tdx_claims *td,
           const struct intel_tdx_module_identity *identity, enum attest_tcb_status sgx_status,
           struct intel_tcb_match *match, struct attest_failure *failure)
{
    int r;

    if (identity) {
        r = module_level_find(identity, td->tee_tcb_svn[0], &match->module_level, failure);
        if (r < 0)
            return r;
        match->tdx_module_status = match->module_level->status;
    }
    return relaunch_check(info, td, sgx_status, match->tdx_module_status, match, failure);
}

int
intel_tcb_match(const struct intel_tcb_info *info, const struct pck_extensions *pck,
                const struct intel_quote *quote, struct intel_tcb_match *ret,
                struct attest_claims *claims, struct attest_failure *failure)
{
    const struct intel_tdx_module_identity *identity = NULL;
    const struct intel_tcb_level *sgx, *tdx_level;
    struct intel_tcb_match match = { 0 };
    bool tdx;
    int r;

    if (!info || !pck || !quote || !ret || info->level_count == 0)
        return -EINVAL;
    tdx = quote->tee_type == INTEL_TEE_TDX;
    if (tdx && quote->body_type != INTEL_BODY_TD10 && quote->body_type != INTEL_BODY_TD15)
        return -EINVAL;
    r = platform_check(info, pck, tdx, failure);
    if (r >= 0 && tdx)
        r = tdx_module_check(info, &quote->td, &identity, failure);
    if (r < 0)
        return r;
    levels_find(info, pck, tdx ? quote->td.tee_tcb_svn : NULL, &sgx, &tdx_level);
    if (!sgx)
        return not_supported(failure, "the PCK certificate's SGX TCB components and PCESVN");
    if (tdx && !tdx_level)
        return not_supported(failure, "the quote's TEE_TCB_SVN");
    match.platform_level = tdx ? tdx_level : sgx;
    match.platform_status = match.platform_level->status;
    match.tcb_date = match.platform_level->tcb_date;
    if (tdx) {
        r = tdx_levels(info, &quote->td, identity, sgx->status, &match, failure);
        if (r < 0)
            return r;
    }
    r = advisories_add(match.platform_level, claims, failure);
    if (r < 0)
        return r;
    *ret = match;
    return 0;
}

int
intel_tcb_match_module_advisories(const struct intel_tcb_match *match, struct attest_claims *claims,
                                  struct attest_failure *failure)
{
    if (!match)
        return -EINVAL;
    return advisories_add(match->module_level, claims, failure);
}

/* What an OutOfDate QE or TDX module makes of a platform status
 * (convergeTcbStatusWithQeTcbStatus, convergeTcbStatusWithTdxModuleStatus). */
static enum attest_tcb_status
out_of_date(enum attest_tcb_status platform)
{
    switch (platform) {
    case ATTEST_TCB_UP_TO_DATE:
    case ATTEST_TCB_SW_HARDENING_NEEDED:
        return ATTEST_TCB_OUT_OF_DATE;
    case ATTEST_TCB_CONFIGURATION_NEEDED:
    case ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED:
        return ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    default:
        return platform;
    }
}

enum attest_tcb_status
intel_tcb_converge(enum attest_tcb_status platform, enum attest_tcb_status qe,
                   enum attest_tcb_status tdx_module)
{
    enum attest_tcb_status status = platform;

    if (tdx_module == ATTEST_TCB_OUT_OF_DATE)
        status = out_of_date(status);
    else if (tdx_module == ATTEST_TCB_REVOKED)
        status = ATTEST_TCB_REVOKED;
    if (status == ATTEST_TCB_REVOKED || qe == ATTEST_TCB_REVOKED)
        return ATTEST_TCB_REVOKED;
    /* EnclaveReportVerifier reports every QE level status but UpToDate and Revoked as
     * STATUS_SGX_ENCLAVE_REPORT_ISVSVN_OUT_OF_DATE. */
    if (qe != 0 && qe != ATTEST_TCB_UP_TO_DATE)
        status = out_of_date(status);
    return status;
}
