/* Forwarding the apps' certificate requests (POST /v1/certificate/issue) to the manager,
 * batched while the manager is busy (docs/agent.md "Certificate requests in batches").
 *
 * At most AGENT_ISSUE_IN_FLIGHT calls to the manager carry certificate requests at once. A request
 * that arrives while they are all out waits; when one comes back, everything that waited goes out
 * together, as one POST /v1/node/certificate/issue-batch of up to ISSUE_BATCH_MAX requests (one
 * request alone goes to /v1/node/certificate/issue). So a quiet node adds no delay, and a busy one
 * pays the manager's HTTPS exchange, scope lock and commit once per batch instead of once per
 * app. Each app gets exactly the status and body the manager answered for its own request. */
#pragma once

#include <stddef.h>

#include <event2/http.h>

#define AGENT_ISSUE_IN_FLIGHT 2u
#define AGENT_ISSUE_BATCH_MIN 4u             /* to go out beside another batch */
#define AGENT_ISSUE_BATCH_MAX 32u            /* the manager's ISSUE_BATCH_MAX */
#define AGENT_ISSUE_BATCH_BYTES (512u << 10) /* half the manager's default body limit */
#define AGENT_ISSUE_WAITING_MAX 4096u

struct agent;

/* An app's request waiting to go to the manager. */
struct agent_issue_waiter {
    struct evhttp_request *req;
    char *body; /* checked by agent_body_check_issue; owned */
    size_t size;
};

struct agent_issue_queue {
    struct agent_issue_waiter *waiting; /* a ring of AGENT_ISSUE_WAITING_MAX, allocated on use */
    unsigned head, count;
    unsigned in_flight;
};

/* Takes body (malloc'd, NUL-terminated, already checked); the app is answered later, once. */
void agent_issue_submit(struct agent *a, struct evhttp_request *req, char *body, size_t size);
/* Answers every app still waiting with 503 SHUTTING_DOWN and frees the queue. */
void agent_issue_stop(struct agent *a);
