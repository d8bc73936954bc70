/* cloister-init's side of the node agent API (SPEC 5): challenge, simulated quote, issue,
 * heartbeat, over
 * lib/attest/agent-http.c, with replies read by the strict JSON reader.
 *
 * Every call returns 0 on a 2xx reply it understood; a transport failure as negative errno
 * (-ECONNREFUSED, -ETIMEDOUT, ...); -EREMOTEIO for a non-2xx reply, with *ret_message set to
 * "HTTP <status> <code>: <message>" (malloc'd) and *ret_status to the HTTP status; -EBADMSG for a
 * reply that is not what the API promises (also with *ret_message). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent-http.h"

#define INIT_AGENT_REPLY_MAX (1u << 20)
#define INIT_AGENT_TIMEOUT_MS 30000
#define INIT_AGENT_INSTANCE_ID_MAX 64 /* a UUID is 36 characters */
/* A heartbeat is sent from the supervisor, which forwards no signal while it waits: a local agent
 * answers in milliseconds, so a short limit keeps a hung agent from holding it up. */
#define INIT_AGENT_HEARTBEAT_TIMEOUT_MS 5000

enum init_task_status {
    INIT_TASK_SUCCESS,
    INIT_TASK_PENDING_WHITELIST,
    INIT_TASK_INPROGRESS,
    INIT_TASK_DENIED,
    INIT_TASK_FAILED,
};

struct init_issue_reply {
    enum init_task_status status;
    char *task_id;
    char *message;
    char *certificate; /* PEM, on SUCCESS */
    char *chain;       /* PEM, may be NULL */
    char *renew_after; /* as sent (RFC 3339), may be NULL */
    char *instance_id; /* the manager's name for this instance, may be NULL */
};

struct init_agent_error {
    int http_status; /* 0 for transport failures */
    char *message;   /* malloc'd, may be NULL */
};

void init_agent_error_release(struct init_agent_error *e);
void init_issue_reply_release(struct init_issue_reply *r);

/* GET /v1/challenge → the nonce (malloc'd; printable ASCII, at most 256 bytes). */
int init_agent_challenge(const struct agent_http_address *agent, char **ret_nonce,
                         struct init_agent_error *ret_error);

/* POST /v1/sim/quote → the evidence object as JSON text (malloc'd) to pass to issue. */
int init_agent_sim_quote(const struct agent_http_address *agent, const uint8_t report_data[64],
                         const uint8_t mrenclave[32], const uint8_t mrsigner[32],
                         unsigned isvprodid, unsigned isvsvn, char **ret_evidence,
                         struct init_agent_error *ret_error);

/* POST /v1/certificate/issue {csr, evidence, nonce}. */
int init_agent_issue(const struct agent_http_address *agent, const char *csr_pem,
                     const char *evidence_json, const char *nonce, struct init_issue_reply *ret,
                     struct init_agent_error *ret_error);

/* POST /v1/heartbeat {instance_id} → 204: tells the agent that this instance runs, so that its
 * next check-in lists it (docs/agent.md). A 2xx reply with any body is success. */
int init_agent_heartbeat(const struct agent_http_address *agent, const char *instance_id,
                         struct init_agent_error *ret_error);
