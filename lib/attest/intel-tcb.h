/* libattest internals: Intel's TCB info (v3, "SGX" and "TDX"; v2 SGX) and QE identity (v2, "QE"
 * and "TD_QE") collateral: parsing, signature checking over the exact signed bytes, and matching
 * a platform against them as Intel's Quote Verification Library does (TCB level check, TDX module
 * check, QE identity check, status convergence). Not installed.
 *
 * Reference: Intel's QVL (intel/SGX-TDX-DCAP-QuoteVerificationLibrary and its successor
 * intel/confidential-computing.tee.dcap.qvl: TcbLevelCheck.cpp, TdxModuleCheck.cpp,
 * TDRelaunchCheck.cpp, EnclaveReportVerifier.cpp, EnclaveIdentityV2.cpp, QuoteVerifier.cpp and
 * the parsers TcbInfo.cpp, TcbLevel.cpp, TdxModuleIdentity.cpp, TdxModuleTcbLevel.cpp). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attest/claims.h>

#include "intel-quote.h"
#include "pck-extensions.h"

#define INTEL_TCB_LEVELS_MAX 128u            /* tcbLevels of a TCB info, QE identity or module */
#define INTEL_TDX_MODULE_IDENTITIES_MAX 16u  /* tdxModuleIdentities of a TCB info */
#define INTEL_COLLATERAL_BODY_MAX (1u << 20) /* bytes of one PCS body */
#define INTEL_JSON_DEPTH_MAX 16u             /* nesting of the signed JSON value (real: 6) */

/* One level of a TCB info, QE identity or TDX module identity. */
struct intel_tcb_level {
    uint8_t sgx_components[16]; /* TCB info: sgxtcbcomponents[].svn (v2: sgxtcbcompNNsvn) */
    uint16_t pcesvn;            /* TCB info */
    bool has_tdx_components;    /* TCB info "TDX": tdxtcbcomponents[].svn */
    uint8_t tdx_components[16];
    uint16_t isvsvn; /* QE identity and TDX module identity levels: tcb.isvsvn */
    enum attest_tcb_status status;
    int64_t tcb_date; /* unix seconds */
    unsigned advisory_count;
    char advisory_ids[ATTEST_ADVISORIES_MAX][ATTEST_ADVISORY_ID_SIZE];
};

/* tdxModuleIdentities[] of a TDX TCB info. */
struct intel_tdx_module_identity {
    char id[16]; /* "TDX_01", ... as written (matched case-insensitively, as Intel QVL does) */
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t level_count;
    /* Sorted by isvsvn, highest first, as Intel QVL keeps them (std::set with greater<>);
     * two levels with one isvsvn are refused at parse time, as there. */
    struct intel_tcb_level *levels;
};

struct intel_tcb_info {
    bool tdx; /* id "TDX"; else "SGX" (v2 has no id: "SGX") */
    unsigned version;
    int64_t issue_date, next_update; /* unix seconds */
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    unsigned tcb_type; /* always 0: Intel QVL supports no other */
    unsigned tcb_evaluation_data_number;
    bool has_tdx_module; /* tdxModule: always for "TDX", never for "SGX" */
    uint8_t tdx_module_mrsigner[48];
    uint8_t tdx_module_attributes[8];
    uint8_t tdx_module_attributes_mask[8];
    size_t module_identity_count;                        /* 0: no tdxModuleIdentities */
    struct intel_tdx_module_identity *module_identities; /* in the order given */
    size_t level_count;
    /* Sorted highest first as Intel QVL orders them (TcbLevel::operator>: sgx components
     * compared as a byte string, then pcesvn, then for "TDX" the tdx components), which is also
     * the order PCS writes them. Duplicates are refused at parse time, as there. */
    struct intel_tcb_level *levels;
};

struct intel_qe_identity {
    bool td_qe; /* id "TD_QE"; else "QE" */
    unsigned version;
    int64_t issue_date, next_update;
    unsigned tcb_evaluation_data_number;
    uint32_t miscselect, miscselect_mask; /* the hex bytes read little-endian, as the report's */
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t level_count;
    struct intel_tcb_level *levels; /* in the order given, as Intel QVL searches them */
};

/* Parses a PCS TCB info body {"tcbInfo":{…},"signature":"<128 hex>"} (the two members in either
 * order, nothing else) of size bytes and checks the signature (raw r ‖ s, ECDSA P-256 SHA-256)
 * by signer over the exact bytes of the tcbInfo value as they appear in body (whitespace around
 * it excluded). The signature is checked before the value is parsed, so that any change to the
 * signed bytes is -EKEYREJECTED. signer NULL: no signature check (fuzzing only). Refuses
 * (ATTEST_STEP_COLLATERAL, -EBADMSG, the reason naming the member): members missing or of the
 * wrong type, unknown id or version (SGX/TDX v3; v2 SGX is accepted too), tcbType other than 0,
 * bad hex or dates, a status Intel QVL's parser does not accept (the seven of SPEC 6.1; e.g.
 * "TDRelaunchAdvised" is a verification result, never a TCB level status), duplicate levels,
 * too many levels or advisories, nesting deeper than INTEL_JSON_DEPTH_MAX. -E2BIG over
 * INTEL_COLLATERAL_BODY_MAX. A signature that does not verify: -EKEYREJECTED, "tcb_info
 * signature does not verify". Members this parser does not use are ignored, as Intel QVL
 * does. -ENOMEM. */
int intel_tcb_info_parse(const char *body, size_t size, EVP_PKEY *signer,
                         struct intel_tcb_info **ret, struct attest_failure *failure);
struct intel_tcb_info *intel_tcb_info_free(struct intel_tcb_info *info);

/* As intel_tcb_info_parse, for {"enclaveIdentity":{…},"signature":"…"} (QE or TD_QE, v2). Level
 * statuses are those Intel QVL's EnclaveIdentityV2 accepts: UpToDate, ConfigurationNeeded,
 * OutOfDate, OutOfDateConfigurationNeeded, Revoked. */
int intel_qe_identity_parse(const char *body, size_t size, EVP_PKEY *signer,
                            struct intel_qe_identity **ret, struct attest_failure *failure);
struct intel_qe_identity *intel_qe_identity_free(struct intel_qe_identity *identity);

/* Checks the QE report against the identity (miscselect and attributes under their masks,
 * mrsigner, isvprodid) and finds the first level with isvsvn ≤ the report's: its status in
 * *ret_status and its advisories appended to claims (NULL: not kept). A mismatch fails
 * ATTEST_STEP_QE_IDENTITY (-EPERM) naming the field. No level at all fails ATTEST_STEP_TCB
 * (-EPERM, "TCB level not supported: …"): current Intel QVL returns
 * STATUS_SGX_ENCLAVE_REPORT_ISVSVN_NOT_SUPPORTED there, which its convergence turns into
 * STATUS_TCB_NOT_SUPPORTED, a verification failure (older QVLs said OutOfDate). -E2BIG when
 * claims cannot hold the advisories. */
int intel_qe_identity_check(const struct intel_qe_identity *identity,
                            const struct intel_sgx_report *qe_report,
                            enum attest_tcb_status *ret_status, struct attest_claims *claims,
                            struct attest_failure *failure);

/* What the TCB info says about this platform. */
struct intel_tcb_match {
    /* The matched TCB level's status (TDX: the level both the SGX and the TDX components
     * reach; the first level the SGX components reach only feeds the relaunch check). */
    enum attest_tcb_status platform_status;
    enum attest_tcb_status tdx_module_status;     /* TDX module version > 0; else 0 */
    int64_t tcb_date;                             /* of the matched TCB level */
    const struct intel_tcb_level *platform_level; /* borrowed from the TCB info */
    const struct intel_tcb_level *module_level;   /* borrowed; NULL when not applicable */
    /* TD 1.5 bodies: Intel QVL's TDRelaunchCheck on TEE_TCB_SVN2 says that relaunching the TD
     * would pick up the TDX module and TCB already loaded. Intel then reports
     * TDRelaunchAdvised (…ConfigurationNeeded when the second flag is set) in place of the
     * OutOfDate status, provided the QE identity status is UpToDate (or any status other than
     * OutOfDate, Revoked or not supported). attest_tcb_status has no such value: the combined
     * status stays OutOfDate / OutOfDateConfigurationNeeded and these flags say the rest. */
    bool td_relaunch_advised;
    bool td_relaunch_configuration_needed;
};

/* Matches the PCK certificate's TCB (and for TDX the quote's TEE_TCB_SVN and MRSIGNERSEAM /
 * SEAMATTRIBUTES against tdxModule or tdxModuleIdentities) against the TCB info, as Intel QVL
 * does. The TCB info must be of the quote's type with the PCK's FMSPC (case-insensitive as
 * parsed bytes) and PCE ID, else ATTEST_STEP_TCB -EPERM; so must the TDX module (MRSIGNERSEAM,
 * SEAMATTRIBUTES, a tdxModuleIdentities entry "TDX_%02X" for TEE_TCB_SVN[1] > 0). TD 1.5 bodies
 * are matched by TEE_TCB_SVN, as Intel QVL does (TEE_TCB_SVN2 only feeds the relaunch check).
 * No matching level (TCB info or TDX module identity): ATTEST_STEP_TCB, -EPERM, "TCB level not
 * supported". The matched TCB level's advisories are appended to claims (NULL: not kept); the
 * module level's are not (see intel_tcb_match_module_advisories). */
int intel_tcb_match(const struct intel_tcb_info *info, const struct pck_extensions *pck,
                    const struct intel_quote *quote, struct intel_tcb_match *ret,
                    struct attest_claims *claims, struct attest_failure *failure);

/* Appends the advisories of match's TDX module level (if any) to claims. Intel QVL lists
 * advisory ids as the TCB level's, then the QE identity level's, then the TDX module level's:
 * call intel_tcb_match, intel_qe_identity_check, then this. -E2BIG (ATTEST_STEP_TCB) when claims
 * cannot hold them. */
int intel_tcb_match_module_advisories(const struct intel_tcb_match *match,
                                      struct attest_claims *claims, struct attest_failure *failure);

/* The combined status of a platform level, the QE identity level (0 when none) and the TDX
 * module level (0 when none), as Intel QVL converges them: the module first (OutOfDate makes
 * UpToDate/SWHardeningNeeded OutOfDate and ConfigurationNeeded/ConfigurationAndSWHardeningNeeded
 * OutOfDateConfigurationNeeded; Revoked makes Revoked), then the QE the same way, where any QE
 * status other than UpToDate and Revoked counts as OutOfDate (EnclaveReportVerifier). */
enum attest_tcb_status intel_tcb_converge(enum attest_tcb_status platform,
                                          enum attest_tcb_status qe,
                                          enum attest_tcb_status tdx_module);

/* "2025-07-19T10:01:17Z" (also with fractional seconds, or an offset "+00:00" / "-05:30" in
 * place of "Z") to unix seconds. Years 1970–9999. -EINVAL. */
int intel_time_parse(const char *text, int64_t *ret);
