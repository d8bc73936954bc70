/* HTTP client of the manager's REST API (libcurl over HTTPS, JSON bodies).
 *
 * One struct client keeps one curl handle, so consecutive requests reuse the connection. Every
 * failure is reported on stderr where it is detected, in the words the user needs:
 *   error: <server message> (<code>, HTTP <status>)
 *   error: cannot reach https://host:port: connection refused
 *   error: TLS: certificate verify failed for https://host:port ... — pass --ca FILE
 * and returned as a negative errno: -ENOENT for 404, -EACCES for 401, -EPERM for 403, -EEXIST for
 * 409, -EBUSY for 429, -EREMOTEIO for other HTTP errors, -EBADMSG for a body that is not JSON,
 * -EFBIG for a response over the size limit, another errno for network and TLS failures.
 * -EINVAL is never returned: it is reserved for usage errors. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cleanup.h"
#include "jval.h"
#include "strbuf.h"

#define CLIENT_RESPONSE_MAX (64u << 20) /* bytes of a response held in memory */
#define CLIENT_STREAM_MAX (4ull << 30)  /* bytes of a response streamed to a file */
#define CLIENT_TIMEOUT_S 30L
#define CLIENT_CONNECT_TIMEOUT_S 10L

struct client;

enum client_flags {
    CLIENT_NO_AUTH = 1 << 0,            /* send no bearer token (sign-up, version) */
    CLIENT_QUIET_NOT_FOUND = 1 << 1,    /* return -ENOENT for 404 without a message */
    CLIENT_QUIET_UNAUTHORIZED = 1 << 2, /* return -EACCES for 401 without a message */
    CLIENT_QUIET_HTTP = 1 << 3,         /* print no message for any HTTP error status */
};

struct client_request {
    const char *method;     /* "GET", "POST", "PATCH", "DELETE" */
    const char *path;       /* "/v1/apps?name=x": already escaped */
    const json_t *body;     /* request body, or NULL */
    unsigned flags;         /* enum client_flags */
    const char *basic_user; /* HTTP Basic credentials instead of the bearer token, or NULL */
    const char *basic_password;
    int sink_fd; /* >= 0: write a 2xx body to this fd instead of parsing it */
};

/* url: base URL (https:// or http://), copied, a trailing '/' dropped. ca_file: PEM file of the
 * certificates to trust instead of the system store, or NULL. token: bearer token or NULL. Both
 * are copied. */
int client_new(const char *url, const char *ca_file, const char *token, struct client **ret);
struct client *client_free(struct client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct client, client_free)

/* Replaces the bearer token (copied; NULL for none). */
int client_set_token(struct client *c, const char *token);

const char *client_url(const struct client *c);

/* Sends req. On success *ret_json (if ret_json is not NULL) is the parsed body, or NULL when the
 * response had none (204, or a streamed body). */
int client_send(struct client *c, const struct client_request *req, json_t **ret_json);

/* client_send() with the common arguments. */
int client_call(struct client *c, const char *method, const char *path, const json_t *body,
                unsigned flags, json_t **ret_json);

/* Appends "/" and the percent-escaped id to a request path. */
int client_path_id(struct strbuf *path, const char *id);

/* Appends "?key=value" or "&key=value", the value percent-escaped; nothing when value is NULL. */
int client_path_query(struct strbuf *path, const char *key, const char *value);

/* client_path_query() for each of query, in order. */
int client_path_queries(struct strbuf *path, const struct jval_field *query);
