/* The contract between the router and the resource handlers in api/.
 *
 * The router (router.c) matches a route, authenticates the caller, resolves the selected account
 * and the caller's role, checks the route's minimum role, parses the JSON body (of write routes
 * and of POST routes), opens a transaction (a write transaction for write routes), then calls
 * the handler. A handler
 * prepares exactly one response with api_reply*() or api_error() and returns:
 *   0    the router commits and sends the prepared response (even an error response: a failed
 *        log-in commits its audit event and still answers 401);
 *   < 0  the router rolls back; it sends the prepared error response if there is one, otherwise
 *        maps the errno: -ENOTCONN/-EBUSY → 503, anything else → 500 (logged).
 * api_error() returns -ECANCELED, so "return api_error(...)" rolls back.
 *
 * A route may also have a prepare step, run after authentication and body parsing but before
 * the transaction opens, for slow work that must not hold the store's write lock (Argon2id
 * password hashing). It may read the store (autocommit, or a read transaction it ends), keeps what the handler needs in
 * r->prepared, and returns 0 to go on or < 0 to stop, like a handler. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "body.h"
#include "cleanup.h"
#include "manager.h"
#include "store-list.h"
#include "store.h"

enum role { ROLE_NONE = 0, ROLE_READER = 1, ROLE_WRITER = 2, ROLE_MANAGER = 3 };

const char *role_name(enum role role);
/* Parses "READER"/"WRITER"/"MANAGER"; ROLE_NONE for anything else. */
enum role role_parse(const char *name);

enum route_auth {
    AUTH_NONE,    /* anyone */
    AUTH_USER,    /* a valid bearer token */
    AUTH_ACCOUNT, /* a token, a selected account, and min_role in it */
    AUTH_NODE,    /* mTLS: a current certificate of an enrolled, active node (api-node-auth.c) */
};

#define ROUTE_PARAMS_MAX 3
#define API_ID_MAX 64

struct api_request {
    struct evhttp_request *http;
    struct manager_context *ctx;
    struct store *store;
    const struct route *route;

    /* The {} segments of the matched path, in order (URL-decoded, at most API_ID_MAX bytes). */
    char params[ROUTE_PARAMS_MAX][API_ID_MAX + 1];
    struct evkeyvalq query;
    json_t *body; /* the parsed request body, NULL when there is none */

    /* The authenticated caller (AUTH_USER and AUTH_ACCOUNT routes). */
    char user_id[37];
    char user_email[256];
    char user_name[512]; /* "first last" */
    bool is_admin;
    char token_hash[65];
    bool cookie_session; /* authenticated by the console's session cookie (session-cookie.h) */
    /* The session's selected account ("" when none) and the caller's role in it. */
    char acct_id[37];
    enum role role;

    /* The calling node (AUTH_NODE routes): acct_id above is the node's account. */
    char node_id[37];
    char zone_id[37];
    char node_name[256];

    char remote_ip[64];
    char now[32]; /* RFC 3339, fixed at the start of the request */

    /* The prepared response. */
    int status;
    json_t *response;         /* JSON body, or NULL */
    char *response_text;      /* text body when response is NULL (owned) */
    const char *content_type; /* default application/json */
    bool streamed;            /* the handler already sent a chunked reply */
    json_t *prepared;         /* what the route's prepare step left for its handler */
};

typedef int (*api_handler)(struct api_request *r);

struct route {
    enum evhttp_cmd_type method;
    const char *pattern; /* "/v1/apps/{}": each {} matches one path segment */
    enum route_auth auth;
    enum role min_role; /* AUTH_ACCOUNT routes */
    bool write;         /* runs in a write transaction and is audited */
    api_handler handler;
    const char *name;    /* metric label, e.g. "apps_create" */
    api_handler prepare; /* optional: runs before the transaction (see the top) */
};

/* Prepares a JSON response; takes ownership of body (may be NULL for 204). Returns 0. */
int api_reply(struct api_request *r, int status, json_t *body);
/* Prepares a text/plain (or given content type) response; copies text. Returns 0 or -ENOMEM. */
int api_reply_text(struct api_request *r, int status, const char *content_type, const char *text);
/* Prepares {code, message}; returns -ECANCELED so a handler can "return api_error(...)". */
int api_error(struct api_request *r, int status, const char *code, const char *fmt, ...)
    _printf_(4, 5);
/* The usual ones. */
#define api_not_found(r, what) api_error((r), 404, "NOT_FOUND", "%s not found", (what))
#define api_bad_field(r, ...) api_error((r), 400, "INVALID_BODY_PARAMETER", __VA_ARGS__)

/* Query parameters: NULL when absent. */
const char *api_query(struct api_request *r, const char *key);
/* An enumerated query parameter: NULL when absent, else one of values (NULL-terminated); any
 * other value prepares a 400 listing them and returns -ECANCELED. */
int api_query_enum(struct api_request *r, const char *key, const char *const *values,
                   const char **ret_value);

/* r->params[index] must be a UUID: otherwise prepares a 404 naming what and returns -ECANCELED,
 * as for an entity that is not in the account (so ids that are not UUIDs never reach a query). */
int api_path_uuid(struct api_request *r, size_t index, const char *what);

/* The request body checked against a field table (body.h): when it is missing or does not fit,
 * prepares a 400 naming the field and returns -ECANCELED. */
int api_check_body(struct api_request *r, const struct field_spec *fields, enum body_mode mode);
/* "name, threads": the fields the body names, for an audit event (never their values). */
void api_body_fields(struct api_request *r, char *out, size_t size);

/* List parameters (limit, offset, sort_by, all_search) parsed and checked against the list's sort
 * keys; on bad input prepares a 400 naming the parameter and returns -ECANCELED. */
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
int api_list_params(struct api_request *r, const struct list_sort *sorts, const char *default_key,
                    bool default_desc, struct list_params *ret_params);
/* Replies 200 {metadata{limit, offset, total_count, filtered_count}, items} (takes the items). */
int api_reply_list(struct api_request *r, const struct list_params *p, struct list_page *page);

/* Maps a store error to a response: -EEXIST → 409 UNIQUE_VIOLATION naming what, -ENOENT → 404
 * naming what; others (and 0) are returned unchanged, for the router to map. */
int api_store_error(struct api_request *r, int error, const char *what);

/* Appends an audit event for this request to the selected account's chain (inside the request's
 * transaction). The actor is the caller. entity_type/entity_id may be NULL. */
int api_audit(struct api_request *r, const char *action_type, const char *severity,
              const char *entity_type, const char *entity_id, const char *fmt, ...) _printf_(6, 7);

/* The request's time, fixed at its start (RFC 3339 with milliseconds). */
const char *api_now(struct api_request *r);
