/* The issuance decision (SPEC 6.3): see policy.h. The checks run in the order of the
 * specification, and the first that fails is the answer, so the message always names one
 * reason the caller can act on. */
#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto-util.h"
#include "domains.h"
#include "store-builds.h"
#include "store-nodes.h"

/* Stored node statuses are ACTIVE and DEACTIVATED (store-nodes.h); FAILED is refused too,
 * should a later version store it. */
#define NODE_STATUS_FAILED "FAILED"

static const char *const check_names[] = {
    [POLICY_OK] = "none",
    [POLICY_NONCE_INVALID] = "nonce",
    [POLICY_NONCE_EXPIRED] = "nonce",
    [POLICY_NODE_INACTIVE] = "node",
    [POLICY_SIMULATION] = "simulation",
    [POLICY_TCB] = "tcb_status",
    [POLICY_NO_BUILD] = "measurement",
    [POLICY_BUILD_PLATFORM] = "platform",
    [POLICY_BUILD_PENDING] = "build_whitelist",
    [POLICY_BUILD_REFUSED] = "build_status",
    [POLICY_DEBUG] = "debug",
    [POLICY_NO_DNS_NAMES] = "dns_names",
    [POLICY_DOMAINS_PENDING] = "domain_whitelist",
};

const char *
policy_check_name(enum policy_check check)
{
    if ((size_t)check >= ELEMENTSOF(check_names) || !check_names[check])
        return "unknown";
    return check_names[check];
}

enum policy_outcome
policy_outcome(enum policy_check check)
{
    switch (check) {
    case POLICY_OK:
        return POLICY_OUTCOME_ISSUE;
    case POLICY_BUILD_PENDING:
    case POLICY_DOMAINS_PENDING:
        return POLICY_OUTCOME_PENDING;
    default:
        return POLICY_OUTCOME_DENIED;
    }
}

void
policy_result_release(struct policy_result *result)
{
    json_decref(result->missing_domains);
    result->missing_domains = NULL;
}

_printf_(3, 4) static int result_set(struct policy_result *result, enum policy_check check,
                                     const char *fmt, ...)
{
    va_list ap;

    result->check = check;
    va_start(ap, fmt);
    vsnprintf(result->message, sizeof(result->message), fmt, ap);
    va_end(ap);
    return 0;
}

int
policy_check_nonce(const uint8_t key[NONCE_KEY_LEN], const char *nonce, int64_t now_ms,
                   int64_t ttl_sec, char nonce_id[NONCE_ID_LEN + 1],
                   struct policy_result *ret_result)
{
    int r;

    *ret_result = (struct policy_result){ .check = POLICY_OK };
    r = nonce_check(key, nonce, now_ms, ttl_sec, nonce_id);
    if (r == -ETIME)
        return result_set(ret_result, POLICY_NONCE_EXPIRED,
                          "nonce expired: it is older than %lld s (ask for a new one)",
                          (long long)ttl_sec);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return result_set(ret_result, POLICY_NONCE_INVALID,
                          "nonce invalid: not issued by this manager, or malformed");
    return 0;
}

int
policy_dns_names(const json_t *app, json_t **ret_names)
{
    json_t *names = NULL;
    int r;

    r = domains_of_settings(json_object_get(app, "advanced_settings"), &names);
    if (r < 0)
        return r;
    if (json_array_size(names) == 0) {
        json_decref(names);
        r = domains_normalize(json_object_get(app, "allowed_domains"), &names);
        if (r < 0)
            return r;
    }
    *ret_names = names;
    return 0;
}

/* Build platforms are named as in SPEC 3 (sgx), evidence types as in SPEC 6.1 (sgx-dcap). */
static bool
platform_matches(const char *build_platform, enum attest_platform platform)
{
    const char *evidence = attest_platform_name(platform);

    if (!build_platform || !evidence)
        return false;
    if (platform == ATTEST_PLATFORM_SGX_DCAP)
        return strcmp(build_platform, "sgx") == 0;
    return strcmp(build_platform, evidence) == 0;
}

/* Simulated evidence needs allow_simulation; hardware evidence needs an up-to-date TCB unless
 * the attestation policy judged it (hw_policy_checked). */
static bool
check_tcb(const struct policy_input *in, struct policy_result *result)
{
    const char *name = attest_tcb_status_name(in->claims->tcb_status);

    if (in->claims->platform == ATTEST_PLATFORM_SIM ||
        in->claims->tcb_status == ATTEST_TCB_SIMULATED_INSECURE) {
        if (in->allow_simulation)
            return true;
        result_set(result, POLICY_SIMULATION,
                   "simulated (sim) evidence is not accepted: the account does not allow "
                   "simulation (allow_simulation)");
        return false;
    }
    if (in->claims->tcb_status == ATTEST_TCB_UP_TO_DATE || in->hw_policy_checked)
        return true;
    result_set(result, POLICY_TCB, "tcb_status %s is not accepted (only UpToDate)",
               name ? name : "unknown");
    return false;
}

static bool
check_build(const struct policy_input *in, const char *measurement, struct policy_result *result)
{
    const struct policy_build *b = in->build;

    if (!b) {
        result_set(result, POLICY_NO_BUILD, "no build of this account has measurement %s",
                   measurement);
        return false;
    }
    if (!platform_matches(b->platform, in->claims->platform)) {
        result_set(result, POLICY_BUILD_PLATFORM, "build %s is for platform %s, the evidence is %s",
                   b->build_id, b->platform, attest_platform_name(in->claims->platform));
        return false;
    }
    if (strcmp(b->status, BUILD_STATUS_WHITELISTED) == 0)
        return true;
    if (strcmp(b->status, BUILD_STATUS_PENDING) == 0)
        result_set(result, POLICY_BUILD_PENDING,
                   "build %s (measurement %s) is not whitelisted yet: waiting for approval",
                   b->build_id, measurement);
    else
        result_set(result, POLICY_BUILD_REFUSED,
                   "build %s (measurement %s) is %s: no certificate is issued for it", b->build_id,
                   measurement, b->status);
    return false;
}

/* Debug evidence (memory open to inspection) is refused unless the build was registered as a
 * debug build and the policy allows debug; non-debug evidence of a debug build is fine. */
static bool
check_debug(const struct policy_input *in, struct policy_result *result)
{
    if (!in->claims->debug)
        return true;
    if (!in->build->debug) {
        result_set(result, POLICY_DEBUG,
                   "debug evidence refused: the DEBUG attribute is set and build %s is not a "
                   "debug build",
                   in->build->build_id);
        return false;
    }
    if (in->allow_debug)
        return true;
    result_set(result, POLICY_DEBUG,
               "debug evidence refused: build %s is a debug build and the policy does not allow "
               "debug",
               in->build->build_id);
    return false;
}

/* "a.example.com, b.example.com", cut to fit. */
static void
join_names(const json_t *names, char *out, size_t size)
{
    size_t used = 0;
    json_t *name;
    size_t i;

    out[0] = '\0';
    json_array_foreach(names, i, name) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", json_string_value(name));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static int
check_domains(const struct policy_input *in, struct policy_result *result)
{
    char names[POLICY_MESSAGE_MAX / 2];
    json_t *missing = NULL;
    int r;

    if (json_array_size(in->dns_names) == 0)
        return result_set(result, POLICY_NO_DNS_NAMES,
                          "the app's certificate configuration names no DNS name "
                          "(advanced_settings.certificate subject or alt_names)");
    r = domains_difference(in->dns_names, in->whitelisted_domains, &missing);
    if (r < 0)
        return r;
    if (json_array_size(missing) == 0) {
        json_decref(missing);
        return 0;
    }
    join_names(missing, names, sizeof(names));
    result->missing_domains = missing;
    return result_set(result, POLICY_DOMAINS_PENDING,
                      "domains not whitelisted for the app: %s: waiting for approval", names);
}

int
policy_decide(const struct policy_input *in, struct policy_result *ret_result)
{
    char measurement[2 * ATTEST_MEASUREMENT_SIZE + 1];
    const char *status = in->node_status ? in->node_status : "";

    *ret_result = (struct policy_result){ .check = POLICY_OK };
    hex_encode(in->claims->mrenclave, sizeof(in->claims->mrenclave), measurement);
    if (strcmp(status, NODE_STATUS_DEACTIVATED) == 0 || strcmp(status, NODE_STATUS_FAILED) == 0)
        return result_set(ret_result, POLICY_NODE_INACTIVE, "node is %s, not active", status);
    if (!check_tcb(in, ret_result) || !check_build(in, measurement, ret_result) ||
        !check_debug(in, ret_result))
        return 0;
    return check_domains(in, ret_result);
}
