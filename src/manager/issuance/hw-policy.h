/* The attestation policy of an account, overridable per app (docs/hardware-evidence.md, "Policy
 * and issuance"): the JSON object `attestation_policy` as the API and the store hold it, and the
 * libattest policy (attest/policy.h) it resolves to.
 *
 * Members (all optional; absent or null: the default):
 *   accepted_tcb_statuses      ["UpToDate", "SWHardeningNeeded"]   hardware TCB status names
 *   accepted_advisory_ids      null (any)                          advisory ids, e.g. INTEL-SA-00615
 *   allow_debug                false
 *   min_isvsvn                 0                                   sgx-dcap
 *   allow_missing_crls         false                               collateral without CRLs
 *   require_zero_mrservicetd   false                               tdx 1.5
 *   snp_max_vmpl               null (any)                          0..3
 *   snp_allow_migration_agent  false
 *   snp_forbid_smt             false
 * An account stores every member (its policy, defaults filled in); an app stores only the
 * members it overrides. */
#pragma once

#include <stdbool.h>

#include <attest/claims.h>
#include <attest/policy.h>
#include <jansson.h>

#include "body.h"

/* The body table of an attestation_policy object (fuzzed as attestation_policy_fields). */
extern const struct field_spec attestation_policy_fields[];

/* The default policy, every member present. NULL when out of memory. */
json_t *hw_policy_defaults(void);

/* Sets the members of over on base: a null member goes back to its default. 0 or -ENOMEM. */
int hw_policy_merge(json_t *base, const json_t *over);

/* The policy libattest applies. Self-referencing (policy.accepted_advisories points into it):
 * not to be copied. */
struct hw_policy {
    struct attest_policy policy;
    bool allow_missing_crls;
    const char *advisories[ATTEST_ADVISORIES_MAX + 1];
    char advisory_ids[ATTEST_ADVISORIES_MAX][ATTEST_ADVISORY_ID_SIZE];
};

/* The defaults, then the account's members, then the app's (each may be NULL). -EINVAL when a
 * member does not read (a stored object the table did not check). */
int hw_policy_resolve(const json_t *account_policy, const json_t *app_policy,
                      struct hw_policy *ret);

/* Whether verified claims match a build's identity (the build row: platform, and tdx {mrtd,
 * rtmr0..3, mrconfigid} or snp {measurement, host_data} in hex, each optional): 0 when every
 * member given equals the claim, or when the build is for another platform (the decision names
 * that); -EPERM with the first member that differs ("tdx.mrtd") in member. */
int hw_build_identity_check(const json_t *build, const struct attest_claims *claims, char *member,
                            size_t member_size);
