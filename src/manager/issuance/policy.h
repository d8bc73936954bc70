/* The issuance decision of SPEC 6.3, as a pure function: given the verified claims and the facts
 * the pipeline read from the store (node, matched build, app domains, account settings), is a
 * certificate issued, refused (and by which check), or waiting for an approval?
 *
 * Nothing here reads the store, the clock or the network, so every branch is unit-tested
 * (tests/unit/test-policy.c). The pipeline (issue.c, issue-policy.c) gathers the inputs, raises
 * approval tasks for the pending outcomes and audits every outcome. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <attest/claims.h>
#include <jansson.h>

#include "manager.h"
#include "nonce.h"

#define POLICY_MESSAGE_MAX 512

enum policy_check {
    POLICY_OK = 0,
    POLICY_NONCE_INVALID,   /* malformed, forged or another deployment's nonce */
    POLICY_NONCE_EXPIRED,   /* older than the TTL (or from too far in the future) */
    POLICY_NODE_INACTIVE,   /* the node is deactivated or failed */
    POLICY_SIMULATION,      /* sim evidence where the account does not allow simulation */
    POLICY_TCB,             /* a TCB status the policy does not accept */
    POLICY_NO_BUILD,        /* no build of the account has the measurement */
    POLICY_BUILD_PLATFORM,  /* the build is for another platform than the evidence */
    POLICY_BUILD_PENDING,   /* the build waits for approval: PENDING_WHITELIST */
    POLICY_BUILD_REFUSED,   /* the build was rejected, failed or is still converting */
    POLICY_DEBUG,           /* debug evidence and the policy does not allow it */
    POLICY_NO_DNS_NAMES,    /* the app's certificate configuration names no DNS name */
    POLICY_DOMAINS_PENDING, /* some DNS name is not whitelisted: PENDING_WHITELIST */
};

/* What a check leads to on the wire (the task_status of the agent API). */
enum policy_outcome {
    POLICY_OUTCOME_ISSUE,
    POLICY_OUTCOME_DENIED,
    POLICY_OUTCOME_PENDING,
};

/* The build whose mrenclave equals the evidence's measurement (builds are unique per account by
 * measurement). Strings are borrowed. */
struct policy_build {
    const char *build_id;
    const char *status;   /* BUILD_STATUS_* */
    const char *platform; /* sim|sgx|tdx|snp */
    bool debug;           /* registered as a debug build */
};

/* Everything the decision looks at; borrowed. */
struct policy_input {
    const struct attest_claims *claims; /* verified, binding checked */
    const char *node_status;            /* nodes.status */
    bool allow_simulation;              /* the account's setting */
    /* Whether debug evidence may be accepted for a debug build: the attestation policy's
     * allow_debug (hw-policy.h; SPEC 6.1: never by default). */
    bool allow_debug;
    /* Hardware evidence whose TCB status, advisories and the rest were judged by the account's
     * attestation policy (hw-policy.h) already: check_tcb accepts any status. Else only
     * UpToDate is. */
    bool hw_policy_checked;
    const struct policy_build *build; /* NULL: no build has the measurement */
    const json_t *dns_names;          /* what the certificate would carry (policy_dns_names) */
    const json_t *whitelisted_domains;
};

struct policy_result {
    enum policy_check check;
    json_t *missing_domains; /* POLICY_DOMAINS_PENDING: the names not whitelisted (owned) */
    char message[POLICY_MESSAGE_MAX];
};

void policy_result_release(struct policy_result *result);

/* The outcome a check leads to. */
enum policy_outcome policy_outcome(enum policy_check check);
/* "nonce", "node", "measurement", ...: the check's short name for audit events and metrics. */
const char *policy_check_name(enum policy_check check);

/* The nonce's freshness: POLICY_OK, POLICY_NONCE_INVALID or POLICY_NONCE_EXPIRED (nonce.h,
 * ttl_sec at now_ms), with a message; on POLICY_OK, nonce_id gets the nonce's id. Returns 0, or
 * -ENOMEM. */
int policy_check_nonce(const uint8_t key[NONCE_KEY_LEN], const char *nonce, int64_t now_ms,
                       int64_t ttl_sec, char nonce_id[NONCE_ID_LEN + 1],
                       struct policy_result *ret_result);

/* The DNS names a certificate of app carries: the names of its certificate configuration
 * (advanced_settings.certificate subject and alt_names, domains.h); when it names none, the
 * app's allowed_domains. A sorted, lower-cased set (owned by the caller). The CSR contributes
 * only its key: a name a CSR asks for is never looked at. */
int policy_dns_names(const json_t *app, json_t **ret_names);

/* The decision. Always fills *ret_result (release it); returns 0, or -ENOMEM. */
int policy_decide(const struct policy_input *in, struct policy_result *ret_result);
