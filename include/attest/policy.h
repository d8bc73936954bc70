/* libattest: the verifier's policy over the claims of hardware evidence (SPEC 6.1, 6.3):
 * accepted TCB statuses and advisories, debug, minimum ISVSVN, TDX and SNP specifics. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <attest/claims.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_POLICY_STATUS(s) (1u << (s))
/* The default set of accepted TCB statuses: UpToDate and SWHardeningNeeded. */
#define ATTEST_POLICY_DEFAULT_STATUSES                                                             \
    (ATTEST_POLICY_STATUS(ATTEST_TCB_UP_TO_DATE) |                                                 \
     ATTEST_POLICY_STATUS(ATTEST_TCB_SW_HARDENING_NEEDED))

/* Zero-initialised, a policy is the default: statuses UpToDate and SWHardeningNeeded, any
 * advisory, no debug, any ISVSVN, MRSERVICETD not checked, any VMPL, no SNP migration agent,
 * SMT allowed. */
struct attest_policy {
    uint32_t accepted_statuses;             /* ATTEST_POLICY_STATUS bits; 0: the default set */
    const char *const *accepted_advisories; /* NULL-terminated; NULL: any advisory is accepted */
    bool allow_debug;
    int32_t min_isvsvn;            /* sgx-dcap: refuse a lower ISVSVN; 0: no minimum */
    bool require_zero_mrservicetd; /* tdx 1.5: refuse a non-zero MRSERVICETD */
    bool snp_restrict_vmpl;        /* snp: refuse a VMPL above snp_max_vmpl */
    uint32_t snp_max_vmpl;
    bool snp_allow_migration_agent; /* snp: accept policy bit 18 (MIGRATE_MA) */
    bool snp_forbid_smt;            /* snp: refuse policy bit 16 (SMT allowed) */
};

/* Checks claims against policy. Sim claims are not judged here (see allow_simulation in the
 * manager). Refusals: ATTEST_STEP_POLICY, -EPERM, the reason naming the rule, e.g. "debug
 * enclave refused by policy", "TCB status OutOfDate not accepted by policy", "advisory
 * INTEL-SA-00615 not accepted by policy". */
ATTEST_EXPORT int attest_policy_check(const struct attest_claims *claims,
                                      const struct attest_policy *policy,
                                      struct attest_failure *failure);

#ifdef __cplusplus
}
#endif
