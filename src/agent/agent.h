/* cloister-agent: the node agent (docs/agent.md, SPEC 5). One process, one libevent loop: the
 * agent API over plain HTTP (TCP and optionally a Unix socket), enrollment, check-in and node
 * certificate renewal, all forwarding to the manager over mTLS through agent-upstream. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "agent-body.h"
#include "agent-issue.h"
#include "agent-nonces.h"
#include "agent-state.h"
#include "agent-upstream.h"

#define AGENT_DEFAULT_LISTEN "0.0.0.0:9092"
#define AGENT_DEFAULT_POOL 8u
#define AGENT_INSTANCES_MAX 1000u /* the manager takes at most 1000 in one check-in */
#define AGENT_BACKOFF_MAX_S 30
#define AGENT_HEADERS_MAX (8u << 10)
#define AGENT_CLIENT_TIMEOUT_S 30
#define AGENT_REFRESH_MIN_S 1
#define AGENT_REFRESH_MAX_S 86400

struct agent_options {
    const char *manager_url;
    const char *join_token;
    const char *state_dir;
    const char *listen;
    const char *unix_socket;
    const char *name;
    const char *ca_file;
    unsigned pool_size;
};

struct agent_instance {
    char id[AGENT_INSTANCE_ID_MAX + 1];
    int64_t last_seen; /* monotonic seconds */
};

struct agent {
    struct agent_options opt;
    struct event_base *base;
    struct evdns_base *dns;
    struct evhttp *http;
    struct agent_state *state; /* NULL until enrolled */
    char manager_url[512];
    SSL_CTX *enroll_ctx; /* trusts the manager; no client certificate */
    SSL_CTX *node_ctx;   /* the node certificate: every node API call */
    struct upstream *enroll_up;
    struct upstream *up;
    struct agent_instance *instances;
    unsigned n_instances;
    struct event *enroll_timer;
    struct event *checkin_timer;
    int enroll_failures;
    int checkin_failures;
    int manager_state; /* -1 unknown, 0 unreachable or refusing, 1 reachable: logged on change */
    bool checkin_in_flight;
    bool renewing;
    EVP_PKEY *renew_key;       /* the key of the CSR of the renewal in flight */
    EVP_PKEY *enroll_node_key; /* before enrollment: the keys enrollment registers */
    EVP_PKEY *enroll_sim_key;
    char *enroll_body;
    char unix_path[108];
    char saved_ca_path[4096]; /* state-dir/manager-ca.pem when used for --ca-file */
    int exit_code;
    bool stopping; /* SIGTERM/SIGINT received: no more calls to the manager */
    /* Nonces prefetched for GET /v1/challenge (agent-nonces.h). */
    struct agent_nonces nonces;
    /* Apps' certificate requests waiting for the manager (agent-issue.h). */
    struct agent_issue_queue issue;
};

/* agent-tls.c: a client SSL_CTX trusting ca_file (or the system store when NULL), with the
 * node's key, certificate and chain when key is not NULL. */
int agent_ssl_ctx_new(const char *ca_file, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                      SSL_CTX **ret);

/* agent-server.c */
int agent_server_start(struct agent *a);
/* Answers an app: a JSON body (may be NULL) as given; {code, message}; the manager's answer to a
 * forwarded request (status as upstream_cb has it: < 0 when there was none). */
void agent_reply_text(struct evhttp_request *req, int status, const char *reason, const char *body,
                      size_t size);
void agent_reply_error(struct evhttp_request *req, int status, const char *code,
                       const char *message);
void agent_reply_forwarded(struct evhttp_request *req, int status, const char *reason,
                           const char *body, size_t size);
void agent_server_stop(struct agent *a);

/* agent-enroll.c: enrolls (asynchronously, retrying while the manager is unreachable) and then
 * calls agent_enrolled(). A refusal stops the loop with exit code 1. */
int agent_enroll_start(struct agent *a);

/* agent-checkin.c: after enrollment or with loaded state: makes the mTLS client and starts
 * check-ins. */
int agent_enrolled(struct agent *a);
void agent_checkin_stop(struct agent *a);

/* agent-nonces.c: starts one refill of the nonce pool when it runs low (agent-nonces.h). */
void agent_nonces_refill(struct agent *a);

/* agent-instances.c */
int agent_instance_touch(struct agent *a, const char *id, int64_t now);
void agent_instances_expire(struct agent *a, int64_t now);
int64_t agent_now(void); /* monotonic seconds */
