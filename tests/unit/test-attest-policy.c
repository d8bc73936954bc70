/* libattest: the verifier's policy over hardware claims (policy.h), rule by rule. */
#include <errno.h>
#include <string.h>

#include <attest/policy.h>

#include "test.h"

static struct attest_claims
claims_of(enum attest_platform platform, enum attest_tcb_status status)
{
    struct attest_claims claims;

    memset(&claims, 0, sizeof(claims));
    claims.platform = platform;
    claims.tcb_status = status;
    return claims;
}

/* Refused at step policy with a reason containing needle. */
static void
check_refused(const struct attest_claims *claims, const struct attest_policy *policy,
              const char *needle)
{
    struct attest_failure failure = { 0 };

    CHECK_EQ_INT(attest_policy_check(claims, policy, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_POLICY);
    CHECK(strstr(failure.reason, needle) != NULL);
}

static void
check_accepted(const struct attest_claims *claims, const struct attest_policy *policy)
{
    struct attest_failure failure = { .step = ATTEST_STEP_TCB };

    CHECK_EQ_INT(attest_policy_check(claims, policy, &failure), 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
}

TEST(default_statuses)
{
    static const enum attest_tcb_status refused[] = {
        ATTEST_TCB_CONFIGURATION_NEEDED,
        ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
        ATTEST_TCB_OUT_OF_DATE,
        ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
        ATTEST_TCB_REVOKED,
    };
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_TDX, ATTEST_TCB_UP_TO_DATE);
    struct attest_policy zero = { 0 };

    check_accepted(&claims, NULL);
    check_accepted(&claims, &zero);
    claims.tcb_status = ATTEST_TCB_SW_HARDENING_NEEDED;
    check_accepted(&claims, NULL);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        claims.tcb_status = refused[i];
        check_refused(&claims, NULL, attest_tcb_status_name(refused[i]));
    }
}

TEST(accepted_statuses_narrow_and_widen)
{
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_SGX_DCAP, ATTEST_TCB_OUT_OF_DATE);
    struct attest_policy policy = {
        .accepted_statuses = ATTEST_POLICY_STATUS(ATTEST_TCB_OUT_OF_DATE),
    };

    check_accepted(&claims, &policy);
    claims.tcb_status = ATTEST_TCB_UP_TO_DATE;
    check_refused(&claims, &policy, "TCB status UpToDate not accepted");
}

TEST(advisories)
{
    static const char *const accepted[] = { "INTEL-SA-00289", NULL };
    static const char *const none[] = { NULL };
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_SGX_DCAP, ATTEST_TCB_UP_TO_DATE);
    struct attest_policy policy = { .accepted_advisories = accepted };

    check_accepted(&claims, &policy);
    CHECK_EQ_INT(attest_claims_add_advisory(&claims, "INTEL-SA-00289"), 0);
    CHECK_EQ_INT(attest_claims_add_advisory(&claims, "INTEL-SA-00289"), 0); /* once */
    CHECK_EQ_INT(claims.advisory_count, 1);
    check_accepted(&claims, &policy);
    check_accepted(&claims, NULL); /* no list: any advisory */
    CHECK_EQ_INT(attest_claims_add_advisory(&claims, "INTEL-SA-00615"), 0);
    check_refused(&claims, &policy, "advisory INTEL-SA-00615 not accepted");
    policy.accepted_advisories = none;
    check_refused(&claims, &policy, "INTEL-SA-00289");
    CHECK_EQ_INT(attest_claims_add_advisory(&claims, ""), -EINVAL);
    CHECK_EQ_INT(attest_claims_add_advisory(&claims, "INTEL-SA-0000000000000000000000"), -E2BIG);
}

TEST(debug_on_each_platform)
{
    static const struct {
        enum attest_platform platform;
        const char *reason;
    } cases[] = {
        { ATTEST_PLATFORM_SGX_DCAP, "debug enclave" },
        { ATTEST_PLATFORM_TDX, "debug TD" },
        { ATTEST_PLATFORM_SNP, "debug guest" },
    };
    struct attest_policy allow = { .allow_debug = true };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct attest_claims claims = claims_of(cases[i].platform, ATTEST_TCB_UP_TO_DATE);

        claims.debug = true;
        check_refused(&claims, NULL, cases[i].reason);
        check_accepted(&claims, &allow);
    }
}

TEST(sgx_minimum_isvsvn)
{
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_SGX_DCAP, ATTEST_TCB_UP_TO_DATE);
    struct attest_policy policy = { .min_isvsvn = 3 };

    claims.isvsvn = 2;
    check_refused(&claims, &policy, "ISVSVN 2 is below the policy's minimum 3");
    claims.isvsvn = 3;
    check_accepted(&claims, &policy);
}

TEST(tdx_mrservicetd)
{
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_TDX, ATTEST_TCB_UP_TO_DATE);
    struct attest_policy policy = { .require_zero_mrservicetd = true };

    claims.tdx.td15 = true;
    check_accepted(&claims, &policy);
    claims.tdx.mrservicetd[47] = 1;
    check_accepted(&claims, NULL);
    check_refused(&claims, &policy, "MRSERVICETD");
    claims.tdx.td15 = false; /* a TD 1.0 body has no MRSERVICETD */
    check_accepted(&claims, &policy);
}

TEST(snp_rules)
{
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_SNP, ATTEST_TCB_UP_TO_DATE);
    struct attest_policy policy = { .snp_restrict_vmpl = true, .snp_max_vmpl = 0 };

    claims.snp.vmpl = 1;
    check_accepted(&claims, NULL);
    check_refused(&claims, &policy, "VMPL 1 is above the policy's maximum 0");
    policy.snp_max_vmpl = 1;
    check_accepted(&claims, &policy);
    claims.snp.policy = 1ull << 18; /* MIGRATE_MA */
    check_refused(&claims, NULL, "migration agent");
    policy.snp_allow_migration_agent = true;
    check_accepted(&claims, &policy);
    claims.snp.policy = 1ull << 16; /* SMT */
    check_accepted(&claims, NULL);
    policy.snp_forbid_smt = true;
    check_refused(&claims, &policy, "SMT");
}

/* Simulated evidence is the manager's business (allow_simulation), not this policy's. */
TEST(sim_claims_are_not_judged)
{
    struct attest_claims claims = claims_of(ATTEST_PLATFORM_SIM, ATTEST_TCB_SIMULATED_INSECURE);

    claims.debug = true;
    check_accepted(&claims, NULL);
    CHECK_EQ_INT(attest_policy_check(NULL, NULL, NULL), -EINVAL);
}

TEST_MAIN(TEST_CASE(default_statuses), TEST_CASE(accepted_statuses_narrow_and_widen),
          TEST_CASE(advisories), TEST_CASE(debug_on_each_platform), TEST_CASE(sgx_minimum_isvsvn),
          TEST_CASE(tdx_mrservicetd), TEST_CASE(snp_rules), TEST_CASE(sim_claims_are_not_judged))
