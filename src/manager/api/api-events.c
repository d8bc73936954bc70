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

DEFINE_TRIVIAL_CLEANUP_FUNC(struct evbuffer, evbuffer_free);

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

/* GET /v1/events/export */

struct export_state {
    struct store *store;
    const char *chain;
    bool csv;
    int64_t after_seq; /* keyset pagination: the last seq written */
    int64_t written;
    struct evbuffer *buf;
};

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
    struct export_state *s = userdata;
    int r;

    r = s->csv ? csv_row(s->buf, rows) : json_row(s->buf, rows, s->written == 0);
    if (r < 0)
        return r;
    s->after_seq = store_rows_int(rows, COL_SEQ);
    s->written++;
    return 0;
}

/* Appends the next page of at most EXPORT_PAGE events to s->buf; *ret_count gets its size. */
static int
export_page(struct export_state *s, size_t *ret_count)
{
    int64_t before = s->written;
    int r;

    r = store_query_each(s->store,
                         "SELECT " EVENT_COLUMNS " FROM events WHERE chain = ? AND seq > ?"
                         " ORDER BY seq LIMIT ?",
                         STORE_ARGS(SV_TEXT(s->chain), SV_INT(s->after_seq), SV_INT(EXPORT_PAGE)),
                         export_row, s);
    if (r < 0)
        return r;
    *ret_count = (size_t)(s->written - before);
    return 0;
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

/* Sends the pages after the first one. A store failure now cannot change the status any more:
 * the JSON array is left unclosed, so the client at least sees an invalid document. */
static void
export_stream_rest(struct export_state *s, struct evhttp_request *req, size_t count)
{
    int r;

    while (count == EXPORT_PAGE) {
        r = export_page(s, &count);
        if (r < 0) {
            log_error_errno(r, "Audit export of chain '%s' failed after seq %" PRId64 ": %m",
                            s->chain, s->after_seq);
            evhttp_send_reply_chunk(req, s->buf);
            evhttp_send_reply_end(req);
            return;
        }
        evhttp_send_reply_chunk(req, s->buf);
    }
    if (!s->csv)
        evbuffer_add(s->buf, s->written ? "\n]\n" : "]\n", s->written ? 3 : 2);
    evhttp_send_reply_chunk(req, s->buf);
    evhttp_send_reply_end(req);
}

static int
events_export(struct api_request *r)
{
    _cleanup_(evbuffer_freep) struct evbuffer *buf = evbuffer_new();
    const char *format = api_query(r, "format");
    struct export_state s = { .store = r->store, .buf = buf };
    size_t count = 0;
    int rr;

    if (!buf)
        return -ENOMEM;
    rr = events_chain(r, &s.chain);
    if (rr < 0)
        return rr;
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return api_error(r, 400, "BAD_REQUEST", "format: must be csv or json");
    s.csv = format && strcmp(format, "csv") == 0;
    if (evbuffer_add_printf(buf, "%s", s.csv ? CSV_HEADER : "[") < 0)
        return -ENOMEM;
    /* The first page is read before answering, so that an unavailable store still gets its
     * error status. */
    rr = export_page(&s, &count);
    if (rr < 0)
        return rr;
    export_headers(r, s.chain, s.csv);
    evhttp_send_reply_start(r->http, 200, "OK");
    r->streamed = true;
    evhttp_send_reply_chunk(r->http, buf);
    export_stream_rest(&s, r->http, count);
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
