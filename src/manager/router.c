/* Request dispatch: matches the route, authenticates, checks the role, runs the handler in a
 * transaction and sends the response (see api.h for the handler contract). */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "api.h"
#include "api/api-node-auth.h"
#include "api/routes.h"
#include "audit.h"
#include "console.h"
#include "crypto-util.h"
#include "log.h"
#include "metrics.h"
#include "session-cookie.h"

#define ROUTES_MAX METRICS_ROUTES_MAX
#define PATH_MAX_LEN 2048
#define BEARER_MAX 256

static const struct route *routes[ROUTES_MAX];
static size_t n_routes;

int
router_init(void)
{
    const struct route *tables[] = {
        api_sys_routes,     api_auth_routes,       api_accounts_routes,
        api_members_routes, api_apps_routes,       api_registries_routes,
        api_convert_routes, api_builds_routes,     api_tasks_routes,
        api_events_routes,  api_issue_routes,      api_certificates_routes,
        api_zones_routes,   api_nodes_routes,      api_node_agent_routes,
        api_tools_routes,   api_collateral_routes,
    };

    n_routes = 0;
    for (size_t t = 0; t < ELEMENTSOF(tables); t++)
        for (const struct route *rt = tables[t]; rt->pattern; rt++) {
            if (n_routes == ROUTES_MAX)
                return -E2BIG;
            routes[n_routes++] = rt;
        }
    return 0;
}

const struct route *const *
router_routes(size_t *ret_count)
{
    *ret_count = n_routes;
    return routes;
}

/* ---- matching ---- */

/* URL-decodes one path segment of len bytes into out. A segment that decodes to nothing, to more
 * than API_ID_MAX bytes, or to a '/' or NUL (from %2F, %00) names no entity. */
static bool
decode_segment(const char *segment, size_t len, char out[API_ID_MAX + 1])
{
    char raw[3 * API_ID_MAX + 1];
    size_t decoded_len = 0;
    char *decoded;
    bool ok;

    if (len == 0 || len > 3 * API_ID_MAX)
        return false;
    memcpy(raw, segment, len);
    raw[len] = '\0';
    decoded = evhttp_uridecode(raw, 0, &decoded_len);
    if (!decoded)
        return false;
    ok = decoded_len > 0 && decoded_len <= API_ID_MAX && !memchr(decoded, '/', decoded_len) &&
         strlen(decoded) == decoded_len;
    if (ok)
        memcpy(out, decoded, decoded_len + 1);
    free(decoded);
    return ok;
}

/* Matches path against pattern, copying the {} segments (URL-decoded) into params. */
static bool
path_matches(const char *pattern, const char *path, char params[ROUTE_PARAMS_MAX][API_ID_MAX + 1])
{
    size_t n_params = 0;

    while (*pattern && *path) {
        if (strncmp(pattern, "{}", 2) == 0) {
            size_t len = strcspn(path, "/");
            if (n_params == ROUTE_PARAMS_MAX || !decode_segment(path, len, params[n_params++]))
                return false;
            pattern += 2;
            path += len;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

/* Finds the route for method and path; *ret_path_known tells a 405 from a 404. */
const struct route *
router_find(enum evhttp_cmd_type method, const char *path, char params[][API_ID_MAX + 1],
            size_t *ret_index, bool *ret_path_known)
{
    *ret_path_known = false;
    for (size_t i = 0; i < n_routes; i++) {
        if (!path_matches(routes[i]->pattern, path, params))
            continue;
        *ret_path_known = true;
        if (routes[i]->method == method) {
            *ret_index = i;
            return routes[i];
        }
    }
    return NULL;
}

/* ---- authentication ---- */

static const char *
bearer_token(struct api_request *r)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->http), "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    if (strlen(h) == 0 || strlen(h) > BEARER_MAX)
        return NULL;
    return h;
}

/* The session token: the bearer header, else the console's session cookie, which counts only
 * with the X-Cloister-Session header (session-cookie.h: what makes it CSRF-safe). Returns 0 with
 * *ret_token set, -ENOENT without a token, or a prepared 403. */
static int
session_token(struct api_request *r, char cookie[BEARER_MAX + 1], const char **ret_token)
{
    int err;

    *ret_token = bearer_token(r);
    if (*ret_token)
        return 0;
    err = session_cookie_token(r->http, cookie, BEARER_MAX + 1);
    if (err < 0)
        return -ENOENT; /* none, or too long to be one of ours */
    if (!session_cookie_requested(r->http))
        return api_error(r, 403, "FORBIDDEN",
                         "a session cookie counts only with the header " SESSION_HEADER
                         ": cookie (a cross-site request is refused)");
    r->cookie_session = true;
    *ret_token = cookie;
    return 0;
}

/* Looks the session up with the caller's role in the selected account: one indexed query. */
static int
authenticate(struct api_request *r)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    char cookie[BEARER_MAX + 1];
    const char *token;
    int err;

    err = session_token(r, cookie, &token);
    if (err == -ENOENT)
        return api_error(r, 401, "UN_AUTHORIZED", "a bearer token is required (log in first)");
    if (err < 0)
        return err;
    sha256_hex(token, strlen(token), r->token_hash);
    OPENSSL_cleanse(cookie, sizeof(cookie));
    err = store_query_row(
        r->store,
        "SELECT s.user_id, u.user_email, u.first_name, u.last_name, u.is_admin,"
        " m.acct_id, m.role"
        " FROM sessions s JOIN users u ON u.user_id = s.user_id"
        " LEFT JOIN memberships m ON m.acct_id = s.acct_id AND m.user_id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ?",
        STORE_ARGS(SV_TEXT(r->token_hash), SV_INT(time_now_unix())), &rows);
    if (err == -ENOENT) {
        /* A browser drops a cookie that no longer opens a session. */
        if (r->cookie_session)
            session_cookie_clear(r->http);
        return api_error(r, 401, "UN_AUTHORIZED", "the token is invalid or has expired");
    }
    if (err < 0)
        return err;
    snprintf(r->user_id, sizeof(r->user_id), "%s", store_rows_text(rows, 0));
    snprintf(r->user_email, sizeof(r->user_email), "%s", store_rows_text(rows, 1));
    snprintf(r->user_name, sizeof(r->user_name), "%s %s", store_rows_text(rows, 2),
             store_rows_text(rows, 3));
    r->is_admin = store_rows_int(rows, 4) != 0;
    /* A membership removed since selection leaves no account selected ("" for NULL). */
    snprintf(r->acct_id, sizeof(r->acct_id), "%s", store_rows_text(rows, 5));
    r->role = store_rows_is_null(rows, 6) ? ROLE_NONE : role_parse(store_rows_text(rows, 6));
    return 0;
}

static int
authorize(struct api_request *r)
{
    const struct route *rt = r->route;
    int err;

    if (rt->auth == AUTH_NONE)
        return 0;
    if (rt->auth == AUTH_NODE)
        return api_node_authenticate(r);
    err = authenticate(r);
    if (err < 0 || rt->auth == AUTH_USER)
        return err;
    if (!*r->acct_id || r->role == ROLE_NONE)
        return api_error(r, 403, "NO_ACCOUNT_SELECTED",
                         "select an account first (POST /v1/accounts/select_account/{acct_id})");
    if (r->role < rt->min_role)
        return api_error(r, 403, "FORBIDDEN", "this needs the %s role in the account (you are %s)",
                         role_name(rt->min_role), role_name(r->role));
    return 0;
}

/* ---- body ---- */

static int
parse_body(struct api_request *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->http);
    size_t len = evbuffer_get_length(in);
    json_error_t error;
    const char *text;

    if (len == 0)
        return 0;
    if ((int64_t)len > r->ctx->config->max_body_bytes)
        return api_error(r, 413, "BAD_REQUEST", "body: larger than %lld bytes",
                         (long long)r->ctx->config->max_body_bytes);
    text = (const char *)evbuffer_pullup(in, -1);
    r->body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    /* The raw body may hold a password: it is not needed once parsed. */
    OPENSSL_cleanse((void *)text, len);
    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: not valid JSON (%s at position %d)",
                         error.text, error.position);
    if (!json_is_object(r->body))
        return api_error(r, 400, "BAD_REQUEST", "body: must be a JSON object");
    return 0;
}

/* ---- sending ---- */

static void
send_response(struct api_request *r)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(r->http);
    struct evbuffer *out = evbuffer_new();

    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(headers, "Strict-Transport-Security", "max-age=31536000");
    if (r->response) {
        char *text = json_dumps(r->response, JSON_COMPACT);
        evhttp_add_header(headers, "Content-Type", "application/json");
        if (text && out)
            evbuffer_add(out, text, strlen(text));
        free(text);
    } else if (r->response_text) {
        evhttp_add_header(headers, "Content-Type", r->content_type);
        if (out)
            evbuffer_add(out, r->response_text, strlen(r->response_text));
    }
    evhttp_send_reply(r->http, r->status, NULL, out);
    if (out)
        evbuffer_free(out);
}

/* Maps a handler's failure without a prepared response to a status. */
static void
fail_internal(struct api_request *r, int err)
{
    if (err == -ENOTCONN || err == -EBUSY) {
        if (r->ctx->metrics)
            atomic_fetch_add(&r->ctx->metrics->store_errors, 1);
        log_warning_errno(err, "Store unavailable for %s: %m", r->route->name);
        api_error(r, 503, "INTERNAL_SERVER_ERROR", "%s; retry shortly",
                  err == -ENOTCONN ? "the database is unreachable" : "the database is busy");
        evhttp_add_header(evhttp_request_get_output_headers(r->http), "Retry-After", "1");
        return;
    }
    if (err == -ETIMEDOUT || err == -ECONNRESET) {
        /* The CA process did not answer: it was restarted mid-request (ca-process.h). */
        log_warning_errno(err, "CA process unavailable for %s: %m", r->route->name);
        api_error(r, 503, "INTERNAL_SERVER_ERROR", "the signing service is restarting; retry");
        evhttp_add_header(evhttp_request_get_output_headers(r->http), "Retry-After", "1");
        return;
    }
    log_error_errno(err, "Request %s failed: %m", r->route->name);
    api_error(r, 500, "INTERNAL_SERVER_ERROR", "internal error (see the manager's log)");
}

/* What a write request serialises on (store_lock_scope): its account, whose audit chain it
 * appends to anyway, so taking the lock first costs no concurrency and makes every check in the
 * handler see the account's latest commits on every replica. Requests outside an account
 * (sign-up, log-in, accounts) share the system scope; a handler working on another account locks
 * it after this one, always in this order. */
static const char *
write_scope(const struct api_request *r)
{
    return r->route->auth == AUTH_ACCOUNT || r->route->auth == AUTH_NODE ? r->acct_id
                                                                         : AUDIT_SYSTEM_CHAIN;
}

/* Authorises, runs the handler in a transaction, commits or rolls back. */
static void
run_route(struct api_request *r)
{
    /* Probes and the version need no snapshot of the store. */
    bool txn = r->route->write || r->route->auth != AUTH_NONE;
    int err;

    err = authorize(r);
    /* Write routes, and the one read route that takes a body (POST /v1/node/nonce). */
    if (err >= 0 && (r->route->write || r->route->method == EVHTTP_REQ_POST))
        err = parse_body(r);
    if (err >= 0 && r->route->prepare)
        err = r->route->prepare(r);
    if (err >= 0 && !txn) {
        err = r->route->handler(r);
    } else if (err >= 0 && r->route->write) {
        err = store_begin(r->store, STORE_TXN_WRITE);
        if (err >= 0)
            err = store_lock_scope(r->store, write_scope(r));
        if (err < 0)
            store_rollback(r->store); /* a lock wait that timed out leaves no transaction */
    } else if (err >= 0)
        err = store_begin(r->store, STORE_TXN_READ);
    if (err >= 0 && txn) {
        err = r->route->handler(r);
        if (err >= 0 && !r->streamed && r->status == 0)
            err = -EINVAL; /* a handler must prepare a response */
        if (err >= 0)
            err = store_commit(r->store);
        else
            store_rollback(r->store);
        if (err >= 0 && r->streamed)
            return;
    }
    if (err < 0 && r->streamed)
        return; /* the reply is already on its way; the error is logged by the handler */
    if (err < 0 && (r->status == 0 || (r->status < 400 && err != -ECANCELED)))
        fail_internal(r, err);
    send_response(r);
}

/* Erases every string of a JSON value that is about to be freed (refcount 1: nothing else, such
 * as a response, shares it), so passwords from bodies do not linger in freed memory. */
static void
erase_json_strings(json_t *value)
{
    const char *key;
    json_t *item;
    size_t i;

    if (!value || value->refcount != 1)
        return;
    if (json_is_string(value)) {
        OPENSSL_cleanse((char *)json_string_value(value), json_string_length(value));
    } else if (json_is_object(value)) {
        json_object_foreach(value, key, item)
            erase_json_strings(item);
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, item)
            erase_json_strings(item);
    }
}

/* The secrets a request may carry (STYLE.md idiom 7): body strings, the Authorization header
 * (Basic password or bearer token) and the Cookie header (the console's session), stored by libevent in memory it frees without erasing. */
static void
erase_request_secrets(struct api_request *r)
{
    struct evkeyvalq *headers = evhttp_request_get_input_headers(r->http);
    struct evkeyval *header;

    erase_json_strings(r->body);
    TAILQ_FOREACH(header, headers, next)
        if (strcasecmp(header->key, "Authorization") == 0 || strcasecmp(header->key, "Cookie") == 0)
            OPENSSL_cleanse(header->value, strlen(header->value));
}

static void
request_release(struct api_request *r)
{
    erase_request_secrets(r);
    evhttp_clear_headers(&r->query);
    json_decref(r->body);
    json_decref(r->prepared);
    json_decref(r->response);
    free(r->response_text);
}

static uint64_t
monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
fill_peer(struct api_request *r)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(r->http);
    const char *addr = NULL;
    ev_uint16_t port;

    if (conn)
        evhttp_connection_get_peer(conn, (char **)&addr, &port);
    snprintf(r->remote_ip, sizeof(r->remote_ip), "%s", addr ? addr : "");
}

void
router_handle(struct evhttp_request *http, void *arg)
{
    struct api_request r = { .http = http, .ctx = arg };
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(http);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    uint64_t start = monotonic_usec();
    size_t index = SIZE_MAX;
    bool path_known;

    r.store = r.ctx->store;
    TAILQ_INIT(&r.query);
    time_now_rfc3339(r.now);
    fill_peer(&r);
    if (!path || strlen(path) > PATH_MAX_LEN ||
        (query && evhttp_parse_query_str(query, &r.query) < 0)) {
        api_error(&r, 400, "BAD_REQUEST", "malformed request URI");
        send_response(&r);
    } else if (!(r.route = router_find(evhttp_request_get_command(http), path, r.params, &index,
                                       &path_known))) {
        /* The console's files (requests without a route for the metrics), else 405 or 404. */
        r.status = path_known ? 0 : console_serve(http, path, r.ctx->config->console_dir);
        if (r.status == 0) {
            if (path_known)
                api_error(&r, 405, "BAD_REQUEST", "method not allowed on %s", path);
            else
                api_error(&r, 404, "NOT_FOUND", "no such endpoint: %s", path);
            send_response(&r);
        }
    } else {
        run_route(&r);
    }
    metrics_count_request(r.ctx->metrics, index, r.status, monotonic_usec() - start);
    request_release(&r);
}
