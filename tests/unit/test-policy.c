/* The issuance decision (src/manager/issuance/policy.c): every branch, without a store. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nonce.h"
#include "policy.h"
#include "store-builds.h"
#include "test.h"

static json_t *
parse(const char *text)
{
    json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);

    CHECK(value);
    return value;
}

/* A verified sim report of measurement 00 01 02 ... 1f, not debug. */
static struct attest_claims
sim_claims(void)
{
    struct attest_claims c = {
        .platform = ATTEST_PLATFORM_SIM,
        .tcb_status = ATTEST_TCB_SIMULATED_INSECURE,
        .isvprodid = 1,
        .isvsvn = 2,
    };

    for (size_t i = 0; i < sizeof(c.mrenclave); i++)
        c.mrenclave[i] = (uint8_t)i;
    return c;
}

#define MEASUREMENT_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const struct policy_build whitelisted_build = {
    .build_id = "b-1",
    .status = BUILD_STATUS_WHITELISTED,
    .platform = "sim",
};

/* Everything in order: the case each test breaks one thing of. */
struct fixture {
    struct attest_claims claims;
    struct policy_build build;
    json_t *names;
    json_t *whitelisted;
    struct policy_input in;
    struct policy_result result;
};

static void
fixture_init(struct fixture *f)
{
    *f = (struct fixture){ .claims = sim_claims(), .build = whitelisted_build };
    f->names = parse("[\"api.example.com\", \"www.example.com\"]");
    f->whitelisted = parse("[\"api.example.com\", \"other.example.com\", \"www.example.com\"]");
    f->in = (struct policy_input){
        .claims = &f->claims,
        .node_status = "RUNNING",
        .allow_simulation = true,
        .build = &f->build,
        .dns_names = f->names,
        .whitelisted_domains = f->whitelisted,
    };
}

static void
fixture_release(struct fixture *f)
{
    json_decref(f->names);
    json_decref(f->whitelisted);
    policy_result_release(&f->result);
}

/* Runs the decision and checks its check, outcome and that the message contains needle. */
static void
decide_expect(struct fixture *f, enum policy_check check, enum policy_outcome outcome,
              const char *needle)
{
    CHECK_EQ_INT(policy_decide(&f->in, &f->result), 0);
    if (f->result.check != check)
        fprintf(stderr, "  message: %s\n", f->result.message);
    CHECK_EQ_INT(f->result.check, check);
    CHECK_EQ_INT(policy_outcome(f->result.check), outcome);
    if (needle && !strstr(f->result.message, needle)) {
        fprintf(stderr, "  '%s' does not contain '%s'\n", f->result.message, needle);
        CHECK(false);
    }
}

TEST(test_ok)
{
    struct fixture f;

    fixture_init(&f);
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    CHECK(!f.result.missing_domains);
    fixture_release(&f);
}

TEST(test_node_inactive)
{
    struct fixture f;

    fixture_init(&f);
    f.in.node_status = "DEACTIVATED";
    decide_expect(&f, POLICY_NODE_INACTIVE, POLICY_OUTCOME_DENIED, "node is DEACTIVATED");
    fixture_release(&f);

    fixture_init(&f);
    f.in.node_status = "FAILED";
    decide_expect(&f, POLICY_NODE_INACTIVE, POLICY_OUTCOME_DENIED, "FAILED");
    fixture_release(&f);

    /* STOPPED only means missed check-ins: the node is calling now. */
    fixture_init(&f);
    f.in.node_status = "STOPPED";
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    fixture_release(&f);
}

TEST(test_simulation_not_allowed)
{
    struct fixture f;

    fixture_init(&f);
    f.in.allow_simulation = false;
    decide_expect(&f, POLICY_SIMULATION, POLICY_OUTCOME_DENIED, "allow_simulation");
    fixture_release(&f);
}

TEST(test_tcb_status)
{
    struct fixture f;

    /* Hardware evidence: UpToDate passes, an sgx-dcap report matches an "sgx" build. */
    fixture_init(&f);
    f.claims.platform = ATTEST_PLATFORM_SGX_DCAP;
    f.claims.tcb_status = ATTEST_TCB_UP_TO_DATE;
    f.build.platform = "sgx";
    f.in.allow_simulation = false;
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    fixture_release(&f);

    fixture_init(&f);
    f.claims.platform = ATTEST_PLATFORM_SGX_DCAP;
    f.claims.tcb_status = ATTEST_TCB_OUT_OF_DATE;
    f.build.platform = "sgx";
    decide_expect(&f, POLICY_TCB, POLICY_OUTCOME_DENIED, "OutOfDate");
    fixture_release(&f);

    /* Judged by the attestation policy already (hw-policy.h), which may accept OutOfDate. */
    fixture_init(&f);
    f.claims.platform = ATTEST_PLATFORM_TDX;
    f.claims.tcb_status = ATTEST_TCB_OUT_OF_DATE;
    f.build.platform = "tdx";
    f.in.hw_policy_checked = true;
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    fixture_release(&f);

    /* Never for sim evidence: allow_simulation decides. */
    fixture_init(&f);
    f.in.allow_simulation = false;
    f.in.hw_policy_checked = true;
    decide_expect(&f, POLICY_SIMULATION, POLICY_OUTCOME_DENIED, "allow_simulation");
    fixture_release(&f);
}

TEST(test_no_build)
{
    struct fixture f;

    fixture_init(&f);
    f.in.build = NULL;
    decide_expect(&f, POLICY_NO_BUILD, POLICY_OUTCOME_DENIED,
                  "no build of this account has measurement " MEASUREMENT_HEX);
    fixture_release(&f);
}

TEST(test_build_platform)
{
    struct fixture f;

    fixture_init(&f);
    f.build.platform = "tdx";
    decide_expect(&f, POLICY_BUILD_PLATFORM, POLICY_OUTCOME_DENIED, "platform tdx");
    fixture_release(&f);
}

TEST(test_build_pending)
{
    struct fixture f;

    fixture_init(&f);
    f.build.status = BUILD_STATUS_PENDING;
    decide_expect(&f, POLICY_BUILD_PENDING, POLICY_OUTCOME_PENDING, "not whitelisted yet");
    CHECK(strstr(f.result.message, "b-1"));
    fixture_release(&f);
}

TEST(test_build_refused)
{
    static const char *const statuses[] = { BUILD_STATUS_REJECTED, BUILD_STATUS_FAILED,
                                            BUILD_STATUS_CONVERTING };
    struct fixture f;

    for (size_t i = 0; i < ELEMENTSOF(statuses); i++) {
        fixture_init(&f);
        f.build.status = statuses[i];
        decide_expect(&f, POLICY_BUILD_REFUSED, POLICY_OUTCOME_DENIED, statuses[i]);
        fixture_release(&f);
    }
}

TEST(test_debug)
{
    struct fixture f;

    /* Debug evidence of a production build. */
    fixture_init(&f);
    f.claims.debug = true;
    decide_expect(&f, POLICY_DEBUG, POLICY_OUTCOME_DENIED, "not a debug build");
    fixture_release(&f);

    /* Of a debug build, with nothing allowing debug (the default). */
    fixture_init(&f);
    f.claims.debug = true;
    f.build.debug = true;
    decide_expect(&f, POLICY_DEBUG, POLICY_OUTCOME_DENIED, "does not allow debug");
    fixture_release(&f);

    /* Allowed explicitly, for a debug build. */
    fixture_init(&f);
    f.claims.debug = true;
    f.build.debug = true;
    f.in.allow_debug = true;
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    fixture_release(&f);

    /* Production evidence of a debug build is fine. */
    fixture_init(&f);
    f.build.debug = true;
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    fixture_release(&f);
}

TEST(test_no_dns_names)
{
    struct fixture f;

    fixture_init(&f);
    json_array_clear(f.names);
    decide_expect(&f, POLICY_NO_DNS_NAMES, POLICY_OUTCOME_DENIED, "no DNS name");
    fixture_release(&f);
}

TEST(test_domains_pending)
{
    struct fixture f;
    char *text;

    fixture_init(&f);
    json_array_append_new(f.names, json_string("new.example.com"));
    json_array_append_new(f.names, json_string("also.example.com"));
    decide_expect(&f, POLICY_DOMAINS_PENDING, POLICY_OUTCOME_PENDING,
                  "domains not whitelisted for the app: also.example.com, new.example.com");
    text = json_dumps(f.result.missing_domains, JSON_COMPACT);
    CHECK_EQ_STR(text, "[\"also.example.com\",\"new.example.com\"]");
    free(text);
    fixture_release(&f);

    /* Nothing whitelisted at all. */
    fixture_init(&f);
    f.in.whitelisted_domains = NULL;
    decide_expect(&f, POLICY_DOMAINS_PENDING, POLICY_OUTCOME_PENDING, "api.example.com");
    CHECK_EQ_INT(json_array_size(f.result.missing_domains), 2);
    fixture_release(&f);

    /* Letter case does not matter. */
    fixture_init(&f);
    json_array_clear(f.whitelisted);
    json_array_append_new(f.whitelisted, json_string("API.example.com"));
    json_array_append_new(f.whitelisted, json_string("WWW.Example.Com"));
    decide_expect(&f, POLICY_OK, POLICY_OUTCOME_ISSUE, NULL);
    fixture_release(&f);
}

/* The first failing check wins, in the order of SPEC 6.3. */
TEST(test_order)
{
    struct fixture f;

    fixture_init(&f);
    f.in.node_status = "DEACTIVATED";
    f.in.build = NULL;
    f.claims.debug = true;
    decide_expect(&f, POLICY_NODE_INACTIVE, POLICY_OUTCOME_DENIED, NULL);
    fixture_release(&f);

    fixture_init(&f);
    f.build.status = BUILD_STATUS_PENDING;
    json_array_append_new(f.names, json_string("new.example.com"));
    decide_expect(&f, POLICY_BUILD_PENDING, POLICY_OUTCOME_PENDING, NULL);
    fixture_release(&f);

    fixture_init(&f);
    f.claims.debug = true;
    json_array_append_new(f.names, json_string("new.example.com"));
    decide_expect(&f, POLICY_DEBUG, POLICY_OUTCOME_DENIED, NULL);
    fixture_release(&f);
}

static void
check_names(const char *app_text, const char *expected)
{
    json_t *app = parse(app_text), *names = NULL;
    char *text;

    CHECK_EQ_INT(policy_dns_names(app, &names), 0);
    text = json_dumps(names, JSON_COMPACT);
    if (strcmp(text, expected) != 0)
        fprintf(stderr, "  got %s, expected %s\n", text, expected);
    CHECK(strcmp(text, expected) == 0);
    free(text);
    json_decref(names);
    json_decref(app);
}

TEST(test_dns_names)
{
    /* The certificate configuration's subject and alt names, not the other allowed domains. */
    check_names("{\"allowed_domains\": [\"x.example.com\", \"api.example.com\"],"
                " \"advanced_settings\": {\"certificate\": {\"subject\": \"API.example.com\","
                " \"alt_names\": [\"b.example.com\", \"api.example.com\"]}}}",
                "[\"api.example.com\",\"b.example.com\"]");
    /* A subject that is not a DNS name contributes nothing. */
    check_names("{\"allowed_domains\": [], \"advanced_settings\": {\"certificate\":"
                " {\"subject\": \"My service\", \"alt_names\": [\"a.example.com\"]}}}",
                "[\"a.example.com\"]");
    /* No names in the certificate configuration: the allowed domains. */
    check_names("{\"allowed_domains\": [\"z.example.com\", \"a.example.com\"],"
                " \"advanced_settings\": {}}",
                "[\"a.example.com\",\"z.example.com\"]");
    check_names("{\"allowed_domains\": [], \"advanced_settings\": {}}", "[]");
}

TEST(test_nonce)
{
    uint8_t key[NONCE_KEY_LEN] = { 1, 2, 3 }, other[NONCE_KEY_LEN] = { 9 };
    const int64_t t0 = 1700000000000;
    char nonce[NONCE_TEXT_MAX], id[NONCE_ID_LEN + 1] = "";
    struct policy_result result;

    CHECK_EQ_INT(nonce_issue(key, t0, nonce), 0);

    CHECK_EQ_INT(policy_check_nonce(key, nonce, t0 + 1000, 300, id, &result), 0);
    CHECK_EQ_INT(result.check, POLICY_OK);
    CHECK_EQ_INT(strlen(id), NONCE_ID_LEN);

    /* At the TTL it is still good; a second later it has expired. */
    CHECK_EQ_INT(policy_check_nonce(key, nonce, t0 + 300000, 300, id, &result), 0);
    CHECK_EQ_INT(result.check, POLICY_OK);
    CHECK_EQ_INT(policy_check_nonce(key, nonce, t0 + 301000, 300, id, &result), 0);
    CHECK_EQ_INT(result.check, POLICY_NONCE_EXPIRED);
    CHECK(strstr(result.message, "nonce expired"));
    CHECK_EQ_INT(policy_outcome(result.check), POLICY_OUTCOME_DENIED);
    CHECK_EQ_STR(policy_check_name(result.check), "nonce");

    /* From the future beyond the allowed clock skew. */
    CHECK_EQ_INT(policy_check_nonce(key, nonce, t0 - NONCE_CLOCK_SKEW_MS - 1000, 300, id, &result),
                 0);
    CHECK_EQ_INT(result.check, POLICY_NONCE_EXPIRED);

    /* Another key's nonce, and garbage. */
    CHECK_EQ_INT(policy_check_nonce(other, nonce, t0 + 1000, 300, id, &result), 0);
    CHECK_EQ_INT(result.check, POLICY_NONCE_INVALID);
    CHECK(strstr(result.message, "nonce invalid"));
    CHECK_EQ_INT(policy_check_nonce(key, "not a nonce", t0, 300, id, &result), 0);
    CHECK_EQ_INT(result.check, POLICY_NONCE_INVALID);
    CHECK_EQ_INT(policy_check_nonce(key, "", t0, 300, id, &result), 0);
    CHECK_EQ_INT(result.check, POLICY_NONCE_INVALID);
}

TEST(test_check_names)
{
    CHECK_EQ_STR(policy_check_name(POLICY_OK), "none");
    CHECK_EQ_STR(policy_check_name(POLICY_NO_BUILD), "measurement");
    CHECK_EQ_STR(policy_check_name(POLICY_DOMAINS_PENDING), "domain_whitelist");
    CHECK_EQ_STR(policy_check_name((enum policy_check)999), "unknown");
    CHECK_EQ_INT(policy_outcome(POLICY_BUILD_REFUSED), POLICY_OUTCOME_DENIED);
    CHECK_EQ_INT(policy_outcome(POLICY_DOMAINS_PENDING), POLICY_OUTCOME_PENDING);
}

TEST_MAIN(TEST_CASE(test_ok), TEST_CASE(test_node_inactive), TEST_CASE(test_simulation_not_allowed),
          TEST_CASE(test_tcb_status), TEST_CASE(test_no_build), TEST_CASE(test_build_platform),
          TEST_CASE(test_build_pending), TEST_CASE(test_build_refused), TEST_CASE(test_debug),
          TEST_CASE(test_no_dns_names), TEST_CASE(test_domains_pending), TEST_CASE(test_order),
          TEST_CASE(test_dns_names), TEST_CASE(test_nonce), TEST_CASE(test_check_names))
