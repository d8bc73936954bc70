/* libattest: the verifier's policy over hardware claims (policy.h). */
#include <errno.h>
#include <string.h>

#include <attest/policy.h>

#define SNP_POLICY_SMT (1ull << 16)
#define SNP_POLICY_MIGRATE_MA (1ull << 18)

static int
refuse(struct attest_failure *failure, const char *message)
{
    return attest_failure_set(failure, ATTEST_STEP_POLICY, -EPERM, "%s", message);
}

static bool
listed(const char *const *list, const char *id)
{
    for (; *list; list++)
        if (strcmp(*list, id) == 0)
            return true;
    return false;
}

static int
check_tcb(const struct attest_claims *claims, const struct attest_policy *policy,
          struct attest_failure *failure)
{
    uint32_t accepted =
        policy->accepted_statuses ? policy->accepted_statuses : ATTEST_POLICY_DEFAULT_STATUSES;
    const char *name = attest_tcb_status_name(claims->tcb_status);

    if ((unsigned)claims->tcb_status >= 32 ||
        !(accepted & ATTEST_POLICY_STATUS(claims->tcb_status)))
        return attest_failure_set(failure, ATTEST_STEP_POLICY, -EPERM,
                                  "TCB status %s not accepted by policy", name ? name : "unknown");
    if (!policy->accepted_advisories)
        return 0;
    for (unsigned i = 0; i < claims->advisory_count; i++)
        if (!listed(policy->accepted_advisories, claims->advisory_ids[i]))
            return attest_failure_set(failure, ATTEST_STEP_POLICY, -EPERM,
                                      "advisory %s not accepted by policy",
                                      claims->advisory_ids[i]);
    return 0;
}

static bool
all_zero(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data[i])
            return false;
    return true;
}

static int
check_platform(const struct attest_claims *claims, const struct attest_policy *policy,
               struct attest_failure *failure)
{
    const struct attest_snp_claims *snp = &claims->snp;

    switch (claims->platform) {
    case ATTEST_PLATFORM_SGX_DCAP:
        if (claims->isvsvn < policy->min_isvsvn)
            return attest_failure_set(failure, ATTEST_STEP_POLICY, -EPERM,
                                      "ISVSVN %u is below the policy's minimum %d", claims->isvsvn,
                                      policy->min_isvsvn);
        return 0;
    case ATTEST_PLATFORM_TDX:
        if (policy->require_zero_mrservicetd && claims->tdx.td15 &&
            !all_zero(claims->tdx.mrservicetd, sizeof(claims->tdx.mrservicetd)))
            return refuse(failure, "MRSERVICETD is not zero, refused by policy");
        return 0;
    case ATTEST_PLATFORM_SNP:
        if (policy->snp_restrict_vmpl && snp->vmpl > policy->snp_max_vmpl)
            return attest_failure_set(failure, ATTEST_STEP_POLICY, -EPERM,
                                      "VMPL %u is above the policy's maximum %u", snp->vmpl,
                                      policy->snp_max_vmpl);
        if ((snp->policy & SNP_POLICY_MIGRATE_MA) && !policy->snp_allow_migration_agent)
            return refuse(failure, "the guest policy allows a migration agent, refused by policy");
        if ((snp->policy & SNP_POLICY_SMT) && policy->snp_forbid_smt)
            return refuse(failure, "the guest policy allows SMT, refused by policy");
        return 0;
    default:
        return 0;
    }
}

int
attest_policy_check(const struct attest_claims *claims, const struct attest_policy *policy,
                    struct attest_failure *failure)
{
    static const struct attest_policy defaults;
    int r;

    if (!claims)
        return -EINVAL;
    if (!policy)
        policy = &defaults;
    if (claims->platform == ATTEST_PLATFORM_SIM)
        return attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
    if (claims->debug && !policy->allow_debug)
        return refuse(
            failure, claims->platform == ATTEST_PLATFORM_TDX   ? "debug TD refused by policy"
                     : claims->platform == ATTEST_PLATFORM_SNP ? "debug guest refused by policy"
                                                               : "debug enclave refused by policy");
    r = check_tcb(claims, policy, failure);
    if (r >= 0)
        r = check_platform(claims, policy, failure);
    if (r >= 0)
        attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
    return r;
}
