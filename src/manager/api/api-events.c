/* The audit log API: list, export (streamed CSV or JSON) and verification of a chain.
 *
 * Every call reads the selected account's chain, or the system chain (sign-ups, log-ins) when a
 * system administrator asks for ?chain=system. All three are read-only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "api.h"
#include "audit.h"
#include "crypto-util.h"
#include "log.h"
#include "routes.h"

#define EXPORT_PAGE 500
#define TIME_TEXT_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z: times stay 24 characters */

/* The selected columns, in the order of the CSV export's columns. */
#define EVENT_COLUMNS                                                                              \
    "event_id, seq, time, actor_type, actor_id, actor_name, action_type, severity, message,"       \
    " entity_type, entity_id, prev_hash, hash"
enum {
    COL_EVENT_ID,
    COL_SEQ,
    COL_TIME,
    COL_ACTOR_TYPE,
    COL_ACTOR_ID,
    COL_ACTOR_NAME,
    COL_ACTION_TYPE,
    COL_SEVERITY,
    COL_MESSAGE,
    COL_ENTITY_TYPE,
    COL_ENTITY_ID,
    COL_PREV_HASH,
    COL_HASH,
    COL_COUNT,
};
#define CSV_HEADER                                                                                 \
    "event_id,seq,time,actor_type,actor_id,actor_name,action_type,severity,message,entity_type,"   \
    "entity_id,prev_hash,hash\r\n"

/* An event without an entity (both stored as '') shows entity: null. */
static json_t *
entity_to_json(struct store_rows *rows)
{
    const char *type = store_rows_text(rows, COL_ENTITY_TYPE),
               *id = store_rows_text(rows, COL_ENTITY_ID);

    if (!*type && !*id)
        return json_null();
    return json_pack("{s:s, s:s}", "type", type, "id", id);
}

static int
event_to_json(struct store_rows *rows, json_t **ret_event)
{
    json_t *event;

    event = json_pack(
        "{s:s, s:I, s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:o, s:s, s:s}", "event_id",
        store_rows_text(rows, COL_EVENT_ID), "seq", (json_int_t)store_rows_int(rows, COL_SEQ),
        "time", store_rows_text(rows, COL_TIME), "actor", "type",
        store_rows_text(rows, COL_ACTOR_TYPE), "id", store_rows_text(rows, COL_ACTOR_ID), "name",
        store_rows_text(rows, COL_ACTOR_NAME), "action_type",
        store_rows_text(rows, COL_ACTION_TYPE), "severity", store_rows_text(rows, COL_SEVERITY),
        "message", store_rows_text(rows, COL_MESSAGE), "entity", entity_to_json(rows), "prev_hash",
        store_rows_text(rows, COL_PREV_HASH), "hash", store_rows_text(rows, COL_HASH));
    /* json_pack fails on a string that is not UTF-8, which only a tampered row can hold. */
    if (!event)
        return -EBADMSG;
    *ret_event = event;
    return 0;
}

/* The chain a call reads: the selected account's, or the system chain for administrators. */
static int
events_chain(struct api_request *r, const char **ret_chain)
{
    const char *chain = api_query(r, "chain");

    if (!chain) {
        *ret_chain = r->acct_id;
        return 0;
    }
    if (strcmp(chain, AUDIT_SYSTEM_CHAIN) != 0)
        return api_error(r, 400, "BAD_REQUEST", "chain: must be \"%s\" or absent",
                         AUDIT_SYSTEM_CHAIN);
    if (!r->is_admin)
        return api_error(r, 403, "FORBIDDEN",
                         "chain: the system chain is readable by system administrators only");
    *ret_chain = AUDIT_SYSTEM_CHAIN;
    return 0;
}

/* GET /v1/events */

static const char *const severity_values[] = { "INFO", "WARNING", "ERROR", NULL };
static const char *const action_type_values[] = {
    "USER_AUTH",   "ADMIN",      "USER_APPROVAL", "NODE_ATTESTATION",
    "NODE_STATUS", "APP_STATUS", "CERTIFICATE",   "IMAGE_CONVERSION",
    NULL,
};

static const struct list_sort event_sorts[] = {
    { "seq", "seq" },
    { "time", "time" },
    { NULL },
};

static const struct list_spec event_list = {
    .select = "SELECT " EVENT_COLUMNS,
    .from = " FROM events",
    .scope = "chain = ?",
    .search = (const char *const[]){ "message", NULL },
    .sorts = event_sorts,
    .tiebreak = "seq",
    .tiebreak_follows = true,
    .row_to_json = event_to_json,
};

/* Parses a from/to parameter and rewrites it in the stored format (milliseconds, 'Z'), so that
 * comparing RFC 3339 texts compares times. *ret_value is text, or NULL when it is absent. */
static int
time_param(struct api_request *r, const char *name, char text[32], const char **ret_value)
{
    const char *value = api_query(r, name);
    int64_t ms;

    *ret_value = NULL;
    if (!value)
        return 0;
    if (time_parse_rfc3339(value, &ms) < 0)
        return api_error(r, 400, "BAD_REQUEST",
                         "%s: must be an RFC 3339 UTC time such as 2026-11-23T16:36:00.123Z", name);
    /* Stored times all lie in 1970-9999, so clamping keeps the comparison's result. */
    if (ms < 0)
        ms = 0;
    if (ms > TIME_TEXT_MAX)
        ms = TIME_TEXT_MAX;
    time_format_rfc3339(ms, text);
    *ret_value = text;
    return 0;
}

static int
events_list(struct api_request *r)
{
    const char *chain, *action_type, *severity, *from, *to;
    char from_text[32], to_text[32];
    struct list_params p;
    struct list_page page;
    int rr;

    rr = events_chain(r, &chain);
    if (rr >= 0)
        rr = api_list_params(r, event_sorts, "seq", true, &p);
    if (rr >= 0)
        rr = api_query_enum(r, "action_type", action_type_values, &action_type);
    if (rr >= 0)
        rr = api_query_enum(r, "severity", severity_values, &severity);
    if (rr >= 0)
        rr = time_param(r, "from", from_text, &from);
    if (rr >= 0)
        rr = time_param(r, "to", to_text, &to);
    if (rr >= 0)
        rr = store_list(r->store, &event_list, chain,
                        LIST_FILTERS({ "action_type = ?", action_type },
                                     { "severity = ?", severity },
                                     { "actor_id = ?", api_query(r, "actor_id") },
                                     { "entity_id = ?", api_query(r, "entity_id") },
                                     { "time >= ?", from }, { "time <= ?", to }),
                        &p, &page);
    if (rr < 0)
        return rr;
    return api_reply_list(r, &p, &page);
}

/* GET /v1/events/export
 *
 * The export streams with about one page of memory per connection, however long the chain and
 * however slow the client. The handler reads the chain's last seq and the first page inside the
 * request's read transaction (so an unavailable store still gets its error status), sends the
 * headers and that page, and returns. Each further page is read, in a short read transaction of
 * its own, only when libevent reports that the previous chunk has left the connection's output
 * buffer (evhttp_send_reply_chunk_with_cb()). Events are never changed once appended, so pages
 * read up to the seq fixed at the start give the same events as one snapshot would; events
 * appended meanwhile are not part of this export. (Only deleting the account deletes a chain:
 * the export then ends short, as after a store failure.)
 *
 * Nothing but the connection tracks the export after the handler returned, so the connection's
 * close callback frees it when the client goes away (or the worker stops) before the end. */

struct event_export {
    struct store *store; /* the worker's connection */
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    char chain[API_ID_MAX + 1];
    bool csv;
    int64_t last_seq;  /* the chain's last event when the export started */
    int64_t after_seq; /* keyset pagination: the last seq written */
    int64_t written;
    struct evbuffer *buf; /* the page being prepared */
};

static struct event_export *
export_free(struct event_export *e)
{
    if (!e)
        return NULL;
    if (e->buf)
        evbuffer_free(e->buf);
    free(e);
    return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct event_export, export_free);

/* RFC 4180 quoting, and a leading ' before = + - @ (and tab, CR) so that a spreadsheet opening
 * the file shows a message as text instead of evaluating it as a formula. */
static int
csv_cell(struct evbuffer *buf, const char *value, bool last)
{
    bool formula = value[0] && strchr("=+-@\t\r", value[0]);
    bool quote = strpbrk(value, ",\"\r\n") != NULL;
    int r = 0;

    if (quote)
        r |= evbuffer_add(buf, "\"", 1);
    if (formula)
        r |= evbuffer_add(buf, "'", 1);
    for (const char *s = value; *s;) {
        size_t n = strcspn(s, "\"");
        r |= evbuffer_add(buf, s, n);
        s += n;
        if (*s == '"') {
            r |= evbuffer_add(buf, "\"\"", 2);
            s++;
        }
    }
    if (quote)
        r |= evbuffer_add(buf, "\"", 1);
    r |= evbuffer_add(buf, last ? "\r\n" : ",", last ? 2 : 1);
    return r < 0 ? -ENOMEM : 0;
}

static int
csv_row(struct evbuffer *buf, struct store_rows *rows)
{
    char seq[24];
    int r;

    snprintf(seq, sizeof(seq), "%" PRId64, store_rows_int(rows, COL_SEQ));
    for (size_t col = 0; col < COL_COUNT; col++) {
        r = csv_cell(buf, col == COL_SEQ ? seq : store_rows_text(rows, col), col + 1 == COL_COUNT);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
dump_to_evbuffer(const char *text, size_t len, void *data)
{
    return evbuffer_add(data, text, len);
}

static int
json_row(struct evbuffer *buf, struct store_rows *rows, bool first)
{
    _cleanup_(json_decrefp) json_t *event = NULL;
    int r;

    r = event_to_json(rows, &event);
    if (r < 0)
        return r;
    if (evbuffer_add(buf, first ? "\n" : ",\n", first ? 1 : 2) < 0 ||
        json_dump_callback(event, dump_to_evbuffer, buf, JSON_COMPACT) < 0)
        return -ENOMEM;
    return 0;
}

static int
export_row(struct store_rows *rows, void *userdata)
{
    struct event_export *e = userdata;
    int r;

    r = e->csv ? csv_row(e->buf, rows) : json_row(e->buf, rows, e->written == 0);
    if (r < 0)
        return r;
    e->after_seq = store_rows_int(rows, COL_SEQ);
    e->written++;
    return 0;
}

/* Appends the next page of at most EXPORT_PAGE events up to e->last_seq to e->buf. A page without
 * events before e->last_seq is -ENODATA: the chain lost events since the export started (its
 * account was deleted). */
static int
export_page(struct event_export *e)
{
    int64_t before = e->written;
    int r;

    r = store_query_each(e->store,
                         "SELECT " EVENT_COLUMNS " FROM events WHERE chain = ? AND seq > ?"
                         " AND seq <= ? ORDER BY seq LIMIT ?",
                         STORE_ARGS(SV_TEXT(e->chain), SV_INT(e->after_seq), SV_INT(e->last_seq),
                                    SV_INT(EXPORT_PAGE)),
                         export_row, e);
    if (r < 0)
        return r;
    if (e->written == before && e->after_seq < e->last_seq)
        return -ENODATA;
    return 0;
}

/* The next page, in a read transaction of its own. */
static int
export_next_page(struct event_export *e)
{
    int r;

    /* Callbacks run from the event loop between requests, when no request holds a transaction
     * on the worker's store connection; should one be open, this page would be read in (and end)
     * another request's transaction. */
    if (e->store->in_txn)
        return -EINPROGRESS;
    r = store_begin(e->store, STORE_TXN_READ);
    if (r < 0)
        return r;
    r = export_page(e);
    if (r < 0) {
        store_rollback(e->store);
        return r;
    }
    return store_commit(e->store);
}

static void
header_set(struct evkeyvalq *headers, const char *key, const char *value)
{
    evhttp_remove_header(headers, key);
    evhttp_add_header(headers, key, value);
}

static void
export_headers(struct api_request *r, const char *chain, bool csv)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(r->http);
    char disposition[128];

    /* The router's send_response() adds the same security headers to the replies it sends.
     * chain is a UUID or "system": safe inside the quoted file name. */
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"events-%s.%s\"", chain,
             csv ? "csv" : "json");
    header_set(headers, "Content-Type", csv ? "text/csv; charset=utf-8" : "application/json");
    header_set(headers, "Content-Disposition", disposition);
    header_set(headers, "Cache-Control", "no-store");
    header_set(headers, "X-Content-Type-Options", "nosniff");
    header_set(headers, "Strict-Transport-Security", "max-age=31536000");
}

/* Sends what e->buf holds as the last chunk, ends the reply and frees the export. complete:
 * closes the JSON array; otherwise (a store failure) the reply ends short and the array stays
 * unclosed, so the client at least sees an invalid document. */
static void
export_finish(struct event_export *e, bool complete)
{
    if (complete && !e->csv)
        evbuffer_add(e->buf, e->written ? "\n]\n" : "]\n", e->written ? 3 : 2);
    evhttp_send_reply_chunk(e->req, e->buf);
    /* The connection may carry further requests (keep-alive): it must not call back into a freed
     * export. Cleared before the reply ends, which may free the connection. */
    evhttp_connection_set_closecb(e->conn, NULL, NULL);
    evhttp_send_reply_end(e->req);
    export_free(e);
}

static void export_send(struct event_export *e);

/* The previous chunk has been written to the socket: send the next page. */
static void
export_on_drained(struct evhttp_connection *conn, void *arg)
{
    struct event_export *e = arg;
    int r;

    r = export_next_page(e);
    if (r == -ENODATA) {
        log_error("Audit export of chain '%s' cut short: events after seq %" PRId64
                  " are gone (chain deleted during the export)",
                  e->chain, e->after_seq);
        export_finish(e, false);
    } else if (r < 0) {
        log_error_errno(r, "Audit export of chain '%s' failed after seq %" PRId64 ": %m", e->chain,
                        e->after_seq);
        export_finish(e, false);
    } else
        export_send(e);
}

/* The connection is being freed before the export's end: the client went away (libevent
 * noticed end-of-file, a write error or the write timeout) or the worker is stopping. */
static void
export_on_close(struct evhttp_connection *conn, void *arg)
{
    struct event_export *e = arg;

    log_debug("Audit export of chain '%s' ended by the connection after seq %" PRId64, e->chain,
              e->after_seq);
    /* On end-of-file or a timeout libevent detaches the unfinished request from the connection
     * and leaves it to its user: evhttp_send_reply_end() frees a detached request. A request
     * still attached (the whole server is being freed) is freed with the connection. */
    if (!evhttp_request_get_connection(e->req))
        evhttp_send_reply_end(e->req);
    export_free(e);
}

/* Sends the page in e->buf; the next one follows when it has been written. */
static void
export_send(struct event_export *e)
{
    if (e->after_seq >= e->last_seq) {
        export_finish(e, true);
        return;
    }
    /* e->buf is not empty here (a page before last_seq has events), which the callback needs:
     * libevent ignores an empty chunk, callback included. */
    evhttp_send_reply_chunk_with_cb(e->req, e->buf, export_on_drained, e);
}

static int
events_export(struct api_request *r)
{
    _cleanup_(export_freep) struct event_export *e = NULL;
    const char *format = api_query(r, "format"), *chain;
    int rr;

    rr = events_chain(r, &chain);
    if (rr < 0)
        return rr;
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return api_error(r, 400, "BAD_REQUEST", "format: must be csv or json");
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->buf = evbuffer_new();
    if (!e->buf)
        return -ENOMEM;
    e->store = r->store;
    e->req = r->http;
    e->conn = evhttp_request_get_connection(r->http);
    snprintf(e->chain, sizeof(e->chain), "%s", chain);
    e->csv = format && strcmp(format, "csv") == 0;
    /* The export's end, fixed in this snapshot: the last event it holds. */
    rr = store_query_int(r->store, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE chain = ?",
                         STORE_ARGS(SV_TEXT(e->chain)), &e->last_seq);
    if (rr < 0)
        return rr;
    if (evbuffer_add_printf(e->buf, "%s", e->csv ? CSV_HEADER : "[") < 0)
        return -ENOMEM;
    /* The first page is read before answering, so that an unavailable store still gets its
     * error status. */
    rr = export_page(e);
    if (rr < 0)
        return rr;
    export_headers(r, e->chain, e->csv);
    evhttp_send_reply_start(r->http, 200, "OK");
    r->streamed = true;
    r->status = 200; /* for the metrics: the router sends nothing more */
    evhttp_connection_set_closecb(e->conn, export_on_close, e);
    export_send(TAKE_PTR(e));
    return 0;
}

/* GET /v1/events/verify */

static int
events_verify(struct api_request *r)
{
    json_t *report = NULL;
    const char *chain;
    int rr;

    rr = events_chain(r, &chain);
    if (rr < 0)
        return rr;
    rr = audit_verify(r->store, r->ctx->keys, chain, &report);
    if (rr < 0)
        return rr;
    /* 200 whatever the verdict: the report is the answer. */
    return api_reply(r, 200, report);
}

const struct route api_events_routes[] = {
    { EVHTTP_REQ_GET, "/v1/events", AUTH_ACCOUNT, ROLE_READER, false, events_list, "events_list" },
    { EVHTTP_REQ_GET, "/v1/events/export", AUTH_ACCOUNT, ROLE_READER, false, events_export,
      "events_export" },
    { EVHTTP_REQ_GET, "/v1/events/verify", AUTH_ACCOUNT, ROLE_READER, false, events_verify,
      "events_verify" },
    { .pattern = NULL },
};
