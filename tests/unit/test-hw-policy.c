/* The attestation policy object (src/manager/issuance/hw-policy.c): validation naming the
 * member, defaults, account then app merging; and hardware evidence verified against collateral
 * in a store (hw-verify.c) with the real test vectors at their pinned times. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attest/attest.h>
#include <attest/collateral.h>
#include <jansson.h>

#include "body.h"
#include "collateral.h"
#include "crypto-util.h"
#include "hw-policy.h"
#include "hw-verify.h"
#include "test-files.h"
#include "test-store-util.h"
#include "test.h"

#define QUOTE_MAX (64 << 10)
#define TDX_P2_TIME 1752919234      /* tdx-v4-phala-p2 case.json verification_time */
#define TDX_DEBUG_TIME 1688173200   /* tdx-v4-trustee-debug */
#define SNP_TRUSTEE_TIME 1748736000 /* snp-milan-trustee */

static json_t *
parse(const char *text)
{
    json_t *value = json_loads(text, 0, NULL);

    CHECK(value);
    return value;
}

/* body_check of {"attestation_policy": policy}: its message, "" when accepted. */
static const char *
validate(const char *policy_text)
{
    static const struct field_spec table[] = {
        { .name = "attestation_policy", .type = FIELD_OBJECT, .fields = attestation_policy_fields },
        { .name = NULL },
    };
    static char err[BODY_ERROR_MAX];
    char body[1024];

    snprintf(body, sizeof(body), "{\"attestation_policy\": %s}", policy_text);
    err[0] = '\0';
    body_check_text(body, strlen(body), table, BODY_UPDATE, err);
    return err;
}

TEST(test_validation_names_the_member)
{
    CHECK_EQ_STR(validate("{\"accepted_tcb_statuses\": [\"UpToDate\", \"OutOfDate\"]}"), "");
    CHECK(strncmp(validate("{\"accepted_tcb_statuses\": [\"UpToDate\", \"Foo\"]}"),
                  "attestation_policy.accepted_tcb_statuses[1]: unknown TCB status", 63) == 0);
    /* Simulation is allow_simulation's business, not a TCB status a policy lists. */
    CHECK(strncmp(validate("{\"accepted_tcb_statuses\": [\"SimulatedInsecure\"]}"),
                  "attestation_policy.accepted_tcb_statuses[0]: unknown TCB status", 63) == 0);
    CHECK(strstr(validate("{\"accepted_tcb_statuses\": []}"),
                 "attestation_policy.accepted_tcb_statuses: must have 1 to 7 items"));
    CHECK_EQ_STR(validate("{\"accepted_advisory_ids\": [\"INTEL-SA-00615\"]}"), "");
    CHECK(strstr(validate("{\"accepted_advisory_ids\": [\"intel-sa-00615\"]}"),
                 "attestation_policy.accepted_advisory_ids[0]: must be an advisory id"));
    CHECK(strstr(validate("{\"min_isvsvn\": 65536}"), "attestation_policy.min_isvsvn: must be"));
    CHECK(strstr(validate("{\"min_isvsvn\": -1}"), "attestation_policy.min_isvsvn: must be"));
    CHECK_EQ_STR(validate("{\"snp_max_vmpl\": 3}"), "");
    CHECK(strstr(validate("{\"snp_max_vmpl\": 4}"), "attestation_policy.snp_max_vmpl: must be"));
    CHECK(strstr(validate("{\"allow_debug\": 1}"), "attestation_policy.allow_debug: must be"));
    CHECK(strstr(validate("{\"allow_debugg\": true}"),
                 "attestation_policy.allow_debugg: unknown field"));
    CHECK_EQ_STR(validate("{\"allow_debug\": null}"), "");
}

TEST(test_defaults)
{
    json_t *d = hw_policy_defaults();
    char *text;
    struct hw_policy p;

    CHECK(d);
    text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    /* The same text migration 9 writes into the accounts that exist. */
    CHECK_EQ_STR(text, "{\"accepted_advisory_ids\":null,"
                       "\"accepted_tcb_statuses\":[\"UpToDate\",\"SWHardeningNeeded\"],"
                       "\"allow_debug\":false,\"allow_missing_crls\":false,\"min_isvsvn\":0,"
                       "\"require_zero_mrservicetd\":false,\"snp_allow_migration_agent\":false,"
                       "\"snp_forbid_smt\":false,\"snp_max_vmpl\":null}");
    free(text);
    json_decref(d);
    CHECK_EQ_INT(hw_policy_resolve(NULL, NULL, &p), 0);
    CHECK_EQ_INT(p.policy.accepted_statuses, ATTEST_POLICY_DEFAULT_STATUSES);
    CHECK(!p.policy.accepted_advisories);
    CHECK(!p.policy.allow_debug);
    CHECK(!p.policy.snp_restrict_vmpl);
    CHECK(!p.allow_missing_crls);
}

TEST(test_app_overrides_account)
{
    json_t *account = parse("{\"accepted_tcb_statuses\": [\"OutOfDate\"], \"allow_debug\": true,"
                            " \"min_isvsvn\": 3, \"accepted_advisory_ids\": [\"INTEL-SA-00289\"]}");
    json_t *app = parse("{\"accepted_tcb_statuses\": [\"UpToDate\", \"Revoked\"],"
                        " \"snp_max_vmpl\": 1, \"allow_missing_crls\": true}");
    json_t *clear = parse("{\"allow_debug\": null}");
    struct hw_policy p;

    CHECK_EQ_INT(hw_policy_resolve(account, app, &p), 0);
    CHECK_EQ_INT(p.policy.accepted_statuses, ATTEST_POLICY_STATUS(ATTEST_TCB_UP_TO_DATE) |
                                                 ATTEST_POLICY_STATUS(ATTEST_TCB_REVOKED));
    CHECK(p.policy.allow_debug); /* the account's, not overridden */
    CHECK_EQ_INT(p.policy.min_isvsvn, 3);
    CHECK(p.policy.accepted_advisories);
    CHECK_EQ_STR(p.policy.accepted_advisories[0], "INTEL-SA-00289");
    CHECK(!p.policy.accepted_advisories[1]);
    CHECK(p.policy.snp_restrict_vmpl);
    CHECK_EQ_INT(p.policy.snp_max_vmpl, 1);
    CHECK(p.allow_missing_crls);
    /* Without the app, the account's alone. */
    CHECK_EQ_INT(hw_policy_resolve(account, NULL, &p), 0);
    CHECK_EQ_INT(p.policy.accepted_statuses, ATTEST_POLICY_STATUS(ATTEST_TCB_OUT_OF_DATE));
    CHECK(!p.policy.snp_restrict_vmpl);
    /* A null member goes back to its default. */
    CHECK_EQ_INT(hw_policy_merge(account, clear), 0);
    CHECK(json_is_false(json_object_get(account, "allow_debug")));
    json_decref(account);
    json_decref(app);
    json_decref(clear);
}

/* ---- verification against a store ---- */

static void
import(struct store *store, const char *case_name)
{
    struct attest_collateral *collateral = NULL;
    struct attest_failure failure = { 0 };
    struct collateral_batch batch = { 0 };
    char path[1024], err[COLLATERAL_ERROR_MAX] = "";
    int r;

    snprintf(path, sizeof(path), "%s/%s", TESTVECTORS_DIR, case_name);
    CHECK_EQ_INT(attest_collateral_load(path, &collateral, &failure), 0);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    r = collateral_collect(store, collateral, &batch, err);
    if (r < 0)
        fprintf(stderr, "  collateral_collect: %s\n", err);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(collateral_save(store, &batch, "test", "2026-01-01T00:00:00Z"), 0);
    CHECK_EQ_INT(store_commit(store), 0);
    collateral_batch_release(&batch);
    attest_collateral_free(collateral);
}

static struct attest_evidence *
evidence_of(const char *case_name, const char *file, enum attest_platform type)
{
    static uint8_t buf[QUOTE_MAX];
    struct attest_evidence *e = NULL;
    char path[1024];
    size_t n;

    snprintf(path, sizeof(path), "%s/%s/%s", TESTVECTORS_DIR, case_name, file);
    n = test_read_file(path, buf, sizeof(buf));
    CHECK_EQ_INT(attest_evidence_new(type, buf, n, &e), 0);
    return e;
}

/* hw_verify in a read transaction; the failure into *failure. */
static int
verify(struct store *store, struct hw_cache **cache, const struct attest_evidence *e, int64_t at,
       struct hw_verified *v, struct attest_failure *failure)
{
    int r;

    *failure = (struct attest_failure){ 0 };
    CHECK_EQ_INT(store_begin(store, STORE_TXN_READ), 0);
    r = hw_verify(store, cache, e, at, v, failure);
    CHECK_EQ_INT(store_commit(store), 0);
    return r;
}

/* A build allow-lists TDX evidence by the registers it names (case.json identity). */
static void
check_tdx_identity(const struct attest_claims *claims)
{
    static const char mrtd[] = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407"
                               "de03ae6dc5f87f27428b2538873118b7";
    static const char rtmr0[] = "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c"
                                "48aca29b220b80b6a540cf994b9bc9c0";
    char text[1024], member[32] = "";
    json_t *build;

    snprintf(text, sizeof(text),
             "{\"platform\": \"tdx\", \"tdx\": {\"mrtd\": \"%s\", \"rtmr0\": \"%s\","
             " \"rtmr3\": \"%096d\"}}",
             mrtd, rtmr0, 0);
    build = parse(text);
    CHECK_EQ_INT(hw_build_identity_check(build, claims, member, sizeof(member)), 0);
    json_decref(build);
    /* rtmr1 is not rtmr0's value: named. */
    snprintf(text, sizeof(text),
             "{\"platform\": \"tdx\", \"tdx\": {\"mrtd\": \"%s\", \"rtmr1\": \"%s\"}}", mrtd,
             rtmr0);
    build = parse(text);
    CHECK_EQ_INT(hw_build_identity_check(build, claims, member, sizeof(member)), -EPERM);
    CHECK_EQ_STR(member, "tdx.rtmr1");
    json_decref(build);
    /* A build of another platform is the decision's to refuse, by name. */
    build = parse("{\"platform\": \"snp\", \"snp\": {\"host_data\": \"00\"}}");
    CHECK_EQ_INT(hw_build_identity_check(build, claims, member, sizeof(member)), 0);
    json_decref(build);
}

TEST(test_tdx_against_the_store)
{
    struct test_store t;
    struct hw_cache *cache = NULL;
    struct attest_evidence *e = evidence_of("tdx-v4-phala-p2", "quote.bin", ATTEST_PLATFORM_TDX);
    struct attest_failure failure;
    struct hw_verified v;
    struct hw_policy policy;
    char mrtd[2 * ATTEST_TDX_MEASUREMENT_SIZE + 1];

    test_store_open(&t);
    /* Nothing stored: named, never fetched. */
    CHECK_EQ_INT(verify(t.store, &cache, e, TDX_P2_TIME, &v, &failure), -ENOENT);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK_EQ_STR(failure.reason, "collateral missing: intel_tcb_info tdx/b0c06f000000");
    CHECK_EQ_INT(hw_cache_size(cache), 0);

    import(t.store, "tdx-v4-phala-p2");
    CHECK_EQ_INT(verify(t.store, &cache, e, TDX_P2_TIME, &v, &failure), 0);
    CHECK_EQ_INT(v.claims.platform, ATTEST_PLATFORM_TDX);
    CHECK_EQ_INT(v.claims.tcb_status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(v.claims.advisory_count, 0);
    CHECK(!v.claims.debug);
    CHECK(v.crls_checked);
    hex_encode(v.claims.tdx.mrtd, sizeof(v.claims.tdx.mrtd), mrtd);
    CHECK_EQ_STR(mrtd, "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f"
                       "87f27428b2538873118b7");
    CHECK_EQ_INT(hw_cache_size(cache), 1);
    /* Warm: the same entry serves again. */
    CHECK_EQ_INT(verify(t.store, &cache, e, TDX_P2_TIME, &v, &failure), 0);
    CHECK_EQ_INT(hw_cache_size(cache), 1);
    CHECK_EQ_INT(hw_policy_resolve(NULL, NULL, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, true, &failure), 0);
    check_tdx_identity(&v.claims);

    /* Today the collateral has expired. */
    CHECK(verify(t.store, &cache, e, TDX_P2_TIME + 3 * 365 * 86400LL, &v, &failure) < 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_EXPIRED);

    /* A flipped byte of the TD report: the quote signature. */
    e->data[48 + 200] ^= 1;
    CHECK(verify(t.store, &cache, e, TDX_P2_TIME, &v, &failure) < 0);
    CHECK_EQ_STR(attest_step_name(failure.step), "signature");
    attest_evidence_free(e);

    /* An SGX quote as "tdx" evidence is refused by type. */
    e = evidence_of("sgx-v3-phala-p1", "quote.bin", ATTEST_PLATFORM_TDX);
    CHECK(verify(t.store, &cache, e, TDX_P2_TIME, &v, &failure) < 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TYPE);
    attest_evidence_free(e);
    hw_cache_free(cache);
    test_store_close(&t);
}

TEST(test_policy_judgement)
{
    struct test_store t;
    struct hw_cache *cache = NULL;
    struct attest_evidence *e =
        evidence_of("tdx-v4-trustee-debug", "quote.bin", ATTEST_PLATFORM_TDX);
    json_t *allow = parse("{\"allow_debug\": true}");
    json_t *only_outofdate = parse("{\"accepted_tcb_statuses\": [\"OutOfDate\"]}");
    struct attest_failure failure;
    struct hw_verified v;
    struct hw_policy policy;

    test_store_open(&t);
    import(t.store, "tdx-v4-trustee-debug");
    CHECK_EQ_INT(verify(t.store, &cache, e, TDX_DEBUG_TIME, &v, &failure), 0);
    CHECK(v.claims.debug);
    CHECK_EQ_INT(v.claims.tcb_status, ATTEST_TCB_UP_TO_DATE);
    /* The default policy refuses a debug TD; the decision may leave debug to the build check. */
    CHECK_EQ_INT(hw_policy_resolve(NULL, NULL, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, true, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_POLICY);
    CHECK(strstr(failure.reason, "debug"));
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, false, &failure), 0);
    CHECK_EQ_INT(hw_policy_resolve(NULL, allow, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, true, &failure), 0);
    /* An account that accepts only OutOfDate refuses UpToDate, naming it. */
    CHECK_EQ_INT(hw_policy_resolve(only_outofdate, NULL, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, false, &failure), -EPERM);
    CHECK(strstr(failure.reason, "UpToDate"));
    /* Missing CRLs: refused unless the policy allows them. */
    v.crls_checked = false;
    CHECK_EQ_INT(hw_policy_resolve(NULL, NULL, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, false, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_REVOCATION);
    policy.allow_missing_crls = true;
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, false, &failure), 0);
    json_decref(allow);
    json_decref(only_outofdate);
    attest_evidence_free(e);
    hw_cache_free(cache);
    test_store_close(&t);
}

static void
check_snp_identity(const struct attest_claims *claims)
{
    char measurement[2 * ATTEST_SNP_MEASUREMENT_SIZE + 1], host_data[65];
    char text[512], member[32] = "";
    json_t *build;

    hex_encode(claims->snp.measurement, sizeof(claims->snp.measurement), measurement);
    hex_encode(claims->snp.host_data, sizeof(claims->snp.host_data), host_data);
    snprintf(text, sizeof(text),
             "{\"platform\": \"snp\", \"snp\": {\"measurement\": \"%s\", \"host_data\": \"%s\"}}",
             measurement, host_data);
    build = parse(text);
    CHECK_EQ_INT(hw_build_identity_check(build, claims, member, sizeof(member)), 0);
    json_decref(build);
    host_data[0] = host_data[0] == '0' ? '1' : '0';
    snprintf(text, sizeof(text), "{\"platform\": \"snp\", \"snp\": {\"host_data\": \"%s\"}}",
             host_data);
    build = parse(text);
    CHECK_EQ_INT(hw_build_identity_check(build, claims, member, sizeof(member)), -EPERM);
    CHECK_EQ_STR(member, "snp.host_data");
    json_decref(build);
}

TEST(test_snp_against_the_store)
{
    struct test_store t;
    struct hw_cache *cache = NULL;
    struct attest_evidence *e = evidence_of("snp-milan-trustee", "report.bin", ATTEST_PLATFORM_SNP);
    json_t *vmpl = parse("{\"snp_forbid_smt\": true}");
    struct attest_failure failure;
    struct hw_verified v;
    struct hw_policy policy;

    test_store_open(&t);
    CHECK_EQ_INT(verify(t.store, &cache, e, SNP_TRUSTEE_TIME, &v, &failure), -ENOENT);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(strncmp(failure.reason, "collateral missing: amd_vcek", 28) == 0);
    import(t.store, "snp-milan-trustee");
    CHECK_EQ_INT(verify(t.store, &cache, e, SNP_TRUSTEE_TIME, &v, &failure), 0);
    CHECK_EQ_INT(v.claims.platform, ATTEST_PLATFORM_SNP);
    CHECK_EQ_STR(v.claims.snp.product, "Milan");
    CHECK_EQ_INT(v.claims.snp.vmpl, 0);
    CHECK(!v.claims.debug);
    CHECK_EQ_INT(hw_cache_size(cache), 1);
    CHECK_EQ_INT(hw_policy_resolve(NULL, NULL, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, true, &failure), 0);
    check_snp_identity(&v.claims);
    /* Whether the guest allowed SMT decides under snp_forbid_smt. */
    CHECK_EQ_INT(hw_policy_resolve(vmpl, NULL, &policy), 0);
    CHECK_EQ_INT(hw_policy_judge(&v, &policy, true, &failure),
                 (v.claims.snp.policy >> 16) & 1 ? -EPERM : 0);
    /* report[42] += 1: the signature (case.json repo_asserted_negatives). */
    e->data[42]++;
    CHECK(verify(t.store, &cache, e, SNP_TRUSTEE_TIME, &v, &failure) < 0);
    CHECK_EQ_STR(attest_step_name(failure.step), "signature");
    json_decref(vmpl);
    attest_evidence_free(e);
    hw_cache_free(cache);
    test_store_close(&t);
}

TEST_MAIN(TEST_CASE(test_validation_names_the_member), TEST_CASE(test_defaults),
          TEST_CASE(test_app_overrides_account), TEST_CASE_ON_BACKENDS(test_tdx_against_the_store),
          TEST_CASE_ON_BACKENDS(test_policy_judgement),
          TEST_CASE_ON_BACKENDS(test_snp_against_the_store))
