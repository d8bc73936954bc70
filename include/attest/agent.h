/* libattest: a client for the Cloister node agent (SPEC 5), for enclave-aware applications that
 * attest themselves instead of (or besides) relying on cloister-init.
 *
 *   struct attest_agent *agent;
 *   attest_agent_new(NULL, &agent);                  // NODE_AGENT_BASE_URL or the default
 *   attest_agent_challenge(agent, &nonce, &expires, NULL);
 *   attest_report_data_compute(nonce, strlen(nonce), key, NULL, report_data);   // binding.h
 *   ... make evidence (sim: attest_agent_sim_quote) ...
 *   attest_agent_issue(agent, csr_pem, evidence, nonce, NULL, &task, NULL);
 *   while (task->status == ATTEST_TASK_INPROGRESS) attest_agent_result(agent, task->task_id, ...);
 *
 * Transport: plain HTTP/1.1, blocking with a timeout per call (default 30 s). The agent's address
 * is "http://IPV4:PORT", "http://[IPV6]:PORT" or "unix:/path"; numeric only (no name resolution).
 * An agent object keeps one keep-alive connection open between calls (a socket descriptor, with
 * SOCK_CLOEXEC, closed by attest_agent_free), so challenge, quote and issue cost one connection,
 * not three. It is dropped after any error, an incomplete or unusual reply, or the agent's
 * "Connection: close"; one the agent closed while idle is replaced before use. A call that fails
 * on a reused connection before any byte of the answer arrived is sent once more on a new one
 * (the agent may have closed the idle connection as the request left); no call is retried after
 * an answer began, after a timeout, or on a fresh connection. For issue this is safe against
 * duplicates: the manager consumes the nonce, so in the one case where the first request was
 * processed although the connection ended without a byte of answer (the agent crashed, or gave
 * up on the request), the second is DENIED as a replay (docs/init.md).
 *
 * Thread-safe, no globals: an agent object may be shared by threads. A call takes the kept
 * connection under a mutex; a call made while another thread holds it does not wait but uses a
 * one-off connection of its own. A process made by fork() never uses the parent's connection
 * (it makes its own). attest_agent_free must not race calls on the same object. SIGPIPE is never
 * raised (MSG_NOSIGNAL).
 *
 * Errors: negative errno. Transport: -ECONNREFUSED, -ENOENT (no such Unix socket), -ETIMEDOUT,
 * ...; -EREMOTEIO when the agent answered with a non-2xx status (its {code, message} are in the
 * optional struct attest_agent_error); -EBADMSG when a 2xx reply is not what the API promises;
 * -EINVAL for bad arguments; -ENOMEM. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <attest/claims.h>
#include <attest/evidence.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_AGENT_DEFAULT_URL "http://127.0.0.1:9092"
#define ATTEST_AGENT_REPLY_MAX (1u << 20) /* bytes of a reply body */

struct attest_agent;

/* What a failed call learned from the agent (valid when it returned -EREMOTEIO or -EBADMSG). */
struct attest_agent_error {
    int http_status;   /* 0 when there was no HTTP reply */
    char code[64];     /* the agent's error code, e.g. "MANAGER_UNREACHABLE"; may be "" */
    char message[512]; /* the agent's message (truncated), or what was wrong with the reply */
};

enum attest_task_status {
    ATTEST_TASK_SUCCESS,
    ATTEST_TASK_PENDING_WHITELIST, /* waiting for a build or domain approval: retry later */
    ATTEST_TASK_INPROGRESS,
    ATTEST_TASK_DENIED,
    ATTEST_TASK_FAILED,
};

/* The answer to issue or result. Strings are NUL-terminated and owned by the task; any may be
 * NULL when the agent did not send them. */
struct attest_agent_task {
    enum attest_task_status status;
    char *task_id;
    char *message;
    char *certificate; /* PEM (issue, SUCCESS) */
    char *chain;       /* PEM, issuing CA then root */
    char *certificate_id;
    char *instance_id;
    char *valid_until; /* RFC 3339 */
    char *renew_after; /* RFC 3339 */
};

/* A client for the agent at base_url (NULL: the environment's NODE_AGENT_BASE_URL, else
 * ATTEST_AGENT_DEFAULT_URL). -EINVAL for an address of another form. */
ATTEST_EXPORT int attest_agent_new(const char *base_url, struct attest_agent **ret_agent);
ATTEST_EXPORT struct attest_agent *attest_agent_free(struct attest_agent *agent);
/* Sets the per-call timeout (milliseconds, > 0). */
ATTEST_EXPORT int attest_agent_set_timeout(struct attest_agent *agent, int timeout_ms);

/* GET /v1/challenge: a fresh manager nonce (ASCII, to be hashed as is into report_data) and its
 * expiry (RFC 3339; ret_expires_at may be NULL). Both malloc'd; the caller frees. */
ATTEST_EXPORT int attest_agent_challenge(struct attest_agent *agent, char **ret_nonce,
                                         char **ret_expires_at, struct attest_agent_error *error);

/* POST /v1/sim/quote: simulated evidence over the given report body, signed by the node's sim
 * attestation key. SIMULATED, INSECURE: for the sim platform only. */
struct attest_sim_quote_request {
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    uint8_t mrenclave[ATTEST_MEASUREMENT_SIZE];
    uint8_t mrsigner[ATTEST_MEASUREMENT_SIZE];
    uint16_t isvprodid;
    uint16_t isvsvn;
    bool debug;
};
ATTEST_EXPORT int attest_agent_sim_quote(struct attest_agent *agent,
                                         const struct attest_sim_quote_request *request,
                                         struct attest_evidence **ret_evidence,
                                         struct attest_agent_error *error);

/* POST /v1/certificate/issue {csr, evidence, nonce, manifest_digest?}. manifest_digest (32
 * bytes) only where the platform binds it (attest_platform_binds_manifest), else NULL. A reply
 * of 200 with DENIED or FAILED is a success of this call: look at (*ret_task)->status. */
ATTEST_EXPORT int attest_agent_issue(struct attest_agent *agent, const char *csr_pem,
                                     const struct attest_evidence *evidence, const char *nonce,
                                     const uint8_t *manifest_digest,
                                     struct attest_agent_task **ret_task,
                                     struct attest_agent_error *error);

/* POST /v1/certificate/result/{task_id}: the task's status now. */
ATTEST_EXPORT int attest_agent_result(struct attest_agent *agent, const char *task_id,
                                      struct attest_agent_task **ret_task,
                                      struct attest_agent_error *error);

ATTEST_EXPORT struct attest_agent_task *attest_agent_task_free(struct attest_agent_task *task);

/* The status's name as the API spells it ("SUCCESS", ...), or NULL. */
ATTEST_EXPORT const char *attest_task_status_name(enum attest_task_status status);

#ifdef __cplusplus
}
#endif
