/* A minimal blocking HTTP/1.1 client for talking to the node agent (SPEC 5): numeric addresses
 * only (no resolver: cloister-init is static), Content-Length or read-to-close bodies, an overall
 * deadline and a bound on the reply size. Either one request per connection ("Connection: close",
 * agent_http_request) or a kept keep-alive connection (agent_http_request_keep).
 *
 * Shared by libattest's agent client and the static cloister-init; it depends on libc only. Not
 * installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where the agent listens: "http://IPV4:PORT", "http://[IPV6]:PORT" (an optional trailing "/"),
 * or "unix:/absolute/path". */
struct agent_http_address;

#define AGENT_HTTP_HEADER_MAX (16u << 10)
#define AGENT_HTTP_PATH_MAX 1024u

struct agent_http_response {
    int status; /* HTTP status code */
    char *body; /* NUL-terminated (the NUL is not counted in body_size); owned */
    size_t body_size;
};

/* A connection kept open between requests to one address. Not locked: one request at a time, the
 * caller serialises. Starts as AGENT_HTTP_CONN_INIT; agent_http_conn_close() releases it. */
struct agent_http_conn {
    int fd;    /* -1: none */
    pid_t pid; /* who connected it: after fork() the other process never reuses it */
};
#define AGENT_HTTP_CONN_INIT                                                                       \
    {                                                                                              \
        .fd = -1, .pid = 0                                                                         \
    }

/* Parses url into a newly allocated address. -EINVAL (not one of the forms above, a host name
 * rather than a number, a path too long for a Unix socket), -ENOMEM. */
int agent_http_address_parse(const char *url, struct agent_http_address **ret_address);
struct agent_http_address *agent_http_address_free(struct agent_http_address *address);
/* The URL as given, for messages. */
const char *agent_http_address_url(const struct agent_http_address *address);

/* Sends method path (starting with "/") with body (body_size bytes of JSON; NULL for none) on a
 * new connection ("Connection: close") and reads the reply within timeout_ms. The reply body may
 * be at most max_body bytes (-E2BIG). Errors: -ECONNREFUSED, -ENOENT, -ETIMEDOUT and other
 * connect/IO errno values; -EPROTO for a malformed or unsupported reply (chunked bodies and 1xx
 * interim replies are not supported) or none at all; -ENOMEM. *ret is written only on success,
 * whatever the HTTP status; release it with agent_http_response_release(). */
int agent_http_request(const struct agent_http_address *address, const char *method,
                       const char *path, const char *body, size_t body_size, int timeout_ms,
                       size_t max_body, struct agent_http_response *ret);

/* The same on conn's connection when it has a usable one (this process's, idle, with nothing
 * unread), else on a new one; afterwards conn keeps the connection only if the reply was HTTP/1.1
 * with a complete Content-Length body (or none by definition: 204, 304), nothing after it and no
 * "Connection: close". Any error closes it: a connection is never reused in an unknown state.
 *
 * A request that fails on a reused connection before any byte of the reply arrived (a send error,
 * a reset, end of stream) is sent once more on a new connection within the same deadline: the
 * agent may have closed the idle connection as the request left. evhttp closes an idle
 * connection only between requests, so such a request was not read. What cannot be told apart
 * is a server that read the request and then dropped the connection without a byte of answer
 * (a crash, its own timeout of a request that took too long): the request then runs twice. For
 * the agent's calls that is harmless (a nonce, a quote, a status read) or refused: issuance
 * consumes its nonce, so a repeated issue is denied as a replay, never served twice. Never
 * retried: a request that got any byte of answer, a timeout, one on a fresh connection. */
int agent_http_request_keep(const struct agent_http_address *address, struct agent_http_conn *conn,
                            const char *method, const char *path, const char *body,
                            size_t body_size, int timeout_ms, size_t max_body,
                            struct agent_http_response *ret);
/* Closes conn's connection, if any (in any process: it only drops this process's descriptor). */
void agent_http_conn_close(struct agent_http_conn *conn);

void agent_http_response_release(struct agent_http_response *response);

/* What the head of a reply says. */
struct agent_http_reply_head {
    int status;      /* 200..599: interim 1xx replies are refused */
    bool has_length; /* the body's length is known: Content-Length, or none by definition */
    size_t length;
    bool keep_alive; /* HTTP/1.1, a known length and no "Connection: close" */
};

/* Looks for the end of a reply's head in buf (used bytes, buf[used] == '\0'; the head's bytes
 * are changed) and parses it: 0 with *head_len still 0 while it is incomplete, 0 with *head_len
 * and *head set once it is, -EPROTO when it is malformed or too long, -E2BIG when it announces a
 * body longer than max_body. The part of the reader that sees the agent's bytes first: exposed
 * for fuzz/fuzz-agent-http.c. */
int agent_http_head_parse(char *buf, size_t used, size_t max_body, size_t *head_len,
                          struct agent_http_reply_head *head);
