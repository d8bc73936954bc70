/* The agent's HTTPS client to the manager: a small pool of persistent connections (libevent
 * evhttp over OpenSSL bufferevents), one request in flight per connection, a bounded FIFO of
 * waiting requests. Everything runs on the agent's single event loop; nothing blocks.
 *
 * A connection that closes or fails is dropped and replaced by a fresh one (with a fresh SSL
 * object) rather than reconnected, and a request that fails on a reused keep-alive connection
 * before any response is tried once more on a fresh one: the manager may have closed the idle
 * connection at the moment we sent. */
#pragma once

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#define UPSTREAM_POOL_MAX 64u
#define UPSTREAM_QUEUE_MAX 4096u
#define UPSTREAM_RESPONSE_MAX (256u << 10)
#define UPSTREAM_TIMEOUT_S 15

struct upstream;

/* status: the HTTP status of the manager's answer, or a negative errno when there was none
 * (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EBUSY queue full, -ECANCELED at shutdown).
 * reason is the status line's phrase ("" without one). body is not NUL-terminated. */
typedef void (*upstream_cb)(int status, const char *reason, const char *body, size_t size,
                            void *userdata);

/* url: https://host[:port]. ctx is referenced, not taken. */
int upstream_new(struct event_base *base, struct evdns_base *dns, const char *url, SSL_CTX *ctx,
                 unsigned pool_size, struct upstream **ret);
/* Fails every pending request with -ECANCELED (their callbacks run) and frees. */
struct upstream *upstream_free(struct upstream *u);

/* New connections use ctx from now on; connections made with the old one are closed once idle. */
void upstream_set_ssl_ctx(struct upstream *u, SSL_CTX *ctx);

/* Queues a request. body may be NULL; bearer adds "Authorization: Bearer ...". The callback runs
 * exactly once, later (never from inside this call). -ENOMEM; a full queue is reported through
 * the callback as -EBUSY. */
int upstream_request(struct upstream *u, enum evhttp_cmd_type method, const char *path,
                     const char *bearer, const char *body, size_t size, upstream_cb cb,
                     void *userdata);

/* Human-readable cause of a negative status. */
const char *upstream_strerror(int status);
