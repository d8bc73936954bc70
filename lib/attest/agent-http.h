/* A minimal blocking HTTP/1.1 client for talking to the node agent (SPEC 5): one request per
 * connection ("Connection: close"), numeric addresses only (no resolver: cloister-init is static),
 * Content-Length or read-to-close bodies, an overall deadline and a bound on the reply size.
 *
 * Shared by libattest's agent client and the static cloister-init; it depends on libc only. Not
 * installed. */
#pragma once

#include <stddef.h>

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

/* Parses url into a newly allocated address. -EINVAL (not one of the forms above, a host name
 * rather than a number, a path too long for a Unix socket), -ENOMEM. */
int agent_http_address_parse(const char *url, struct agent_http_address **ret_address);
struct agent_http_address *agent_http_address_free(struct agent_http_address *address);
/* The URL as given, for messages. */
const char *agent_http_address_url(const struct agent_http_address *address);

/* Sends method path (starting with "/") with body (body_size bytes of JSON; NULL for none) and
 * reads the reply within timeout_ms. The reply body may be at most max_body bytes (-E2BIG).
 * Errors: -ECONNREFUSED, -ENOENT, -ETIMEDOUT and other connect/IO errno values; -EPROTO for a
 * malformed or unsupported reply (chunked bodies are not supported); -ENOMEM. *ret is written
 * only on success, whatever the HTTP status; release it with agent_http_response_release(). */
int agent_http_request(const struct agent_http_address *address, const char *method,
                       const char *path, const char *body, size_t body_size, int timeout_ms,
                       size_t max_body, struct agent_http_response *ret);
void agent_http_response_release(struct agent_http_response *response);
