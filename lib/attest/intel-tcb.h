/* libattest internals: Intel's TCB info (v3, "SGX" and "TDX") and QE identity (v2, "QE" and
 * "TD_QE") collateral: parsing, signature checking over the exact signed bytes, and matching a
 * platform against them as Intel's Quote Verification Library does (TCB level check, TDX module
 * check, QE identity check, status convergence). Not installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attest/claims.h>

#include "intel-quote.h"
#include "pck-extensions.h"

#define INTEL_TCB_LEVELS_MAX 128u
#define INTEL_TDX_MODULE_IDENTITIES_MAX 16u

/* One level of a TCB info, QE identity or TDX module identity. */
struct intel_tcb_level {
    uint8_t sgx_components[16]; /* TCB info: sgxtcbcomponents[].svn */
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
    char id[16]; /* "TDX_01", ... */
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t level_count;
    struct intel_tcb_level *levels; /* in the order given (highest first) */
};

struct intel_tcb_info {
    bool tdx; /* id "TDX"; else "SGX" */
    unsigned version;
    int64_t issue_date, next_update; /* unix seconds */
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    unsigned tcb_type;
    unsigned tcb_evaluation_data_number;
    bool has_tdx_module; /* tdxModule */
    uint8_t tdx_module_mrsigner[48];
    uint8_t tdx_module_attributes[8];
    uint8_t tdx_module_attributes_mask[8];
    size_t module_identity_count;
    struct intel_tdx_module_identity *module_identities;
    size_t level_count;
    struct intel_tcb_level *levels; /* in the order given (highest first) */
};

struct intel_qe_identity {
    bool td_qe; /* id "TD_QE"; else "QE" */
    unsigned version;
    int64_t issue_date, next_update;
    unsigned tcb_evaluation_data_number;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t level_count;
    struct intel_tcb_level *levels;
};

/* Parses a PCS TCB info body {"tcbInfo":{…},"signature":"<128 hex>"} of size bytes and checks
 * the signature (raw r ‖ s, ECDSA P-256 SHA-256) by signer over the exact bytes of the tcbInfo
 * value as they appear in body (whitespace around it excluded). signer NULL: no signature
 * check (fuzzing only). Refuses (ATTEST_STEP_COLLATERAL, -EBADMSG, the reason naming the
 * member): members missing or of the wrong type, unknown id or version (SGX/TDX v3; v2 SGX is
 * accepted too), bad hex or dates, too many levels or advisories. A signature that does not
 * verify: -EKEYREJECTED, "tcb_info signature does not verify". */
int intel_tcb_info_parse(const char *body, size_t size, EVP_PKEY *signer,
                         struct intel_tcb_info **ret, struct attest_failure *failure);
struct intel_tcb_info *intel_tcb_info_free(struct intel_tcb_info *info);

/* As intel_tcb_info_parse, for {"enclaveIdentity":{…},"signature":"…"} (QE or TD_QE, v2). */
int intel_qe_identity_parse(const char *body, size_t size, EVP_PKEY *signer,
                            struct intel_qe_identity **ret, struct attest_failure *failure);
struct intel_qe_identity *intel_qe_identity_free(struct intel_qe_identity *identity);

/* Checks the QE report against the identity (miscselect and attributes under their masks,
 * mrsigner, isvprodid) and finds the first level with isvsvn ≤ the report's: its status in
 * *ret_status and its advisories appended to claims. A mismatch fails ATTEST_STEP_QE_IDENTITY
 * (-EPERM) naming the field; no level at all gives ATTEST_TCB_OUT_OF_DATE as Intel QVL does?
 * (the implementation documents what it does and why). */
int intel_qe_identity_check(const struct intel_qe_identity *identity,
                            const struct intel_sgx_report *qe_report,
                            enum attest_tcb_status *ret_status, struct attest_claims *claims,
                            struct attest_failure *failure);

/* What the TCB info says about this platform. */
struct intel_tcb_match {
    enum attest_tcb_status platform_status;   /* the matched TCB level */
    enum attest_tcb_status tdx_module_status; /* 0 when not applicable */
    int64_t tcb_date;
};

/* Matches the PCK certificate's TCB (and for TDX the quote's TEE_TCB_SVN and MRSIGNERSEAM /
 * SEAMATTRIBUTES against tdxModule or tdxModuleIdentities) against the TCB info, as Intel QVL
 * does. The TCB info must be of the quote's type with the PCK's FMSPC (case-insensitive as
 * parsed bytes) and PCE ID, else ATTEST_STEP_TCB -EPERM. No matching level: ATTEST_STEP_TCB,
 * -EPERM, "TCB level not supported". Advisories of the matched levels are appended to claims. */
int intel_tcb_match(const struct intel_tcb_info *info, const struct pck_extensions *pck,
                    const struct intel_quote *quote, struct intel_tcb_match *ret,
                    struct attest_claims *claims, struct attest_failure *failure);

/* The combined status of a platform level, the QE identity level and (0 when none) the TDX
 * module level, as Intel QVL converges them. */
enum attest_tcb_status intel_tcb_converge(enum attest_tcb_status platform,
                                          enum attest_tcb_status qe,
                                          enum attest_tcb_status tdx_module);

/* "2025-07-19T10:01:17Z" (also with fractional seconds or "+00:00") to unix seconds. -EINVAL. */
int intel_time_parse(const char *text, int64_t *ret);
