/* The audit log API: list, export (streamed CSV or JSON) and verification of a chain.
 *
 * Every call reads the selected account's chain, or the system chain (sign-ups, log-ins) when a
 * system administrator asks for ?chain=system. All three are read-only. */
#include <ctype.h>
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
#define FILTER_ARGS_MAX 8
#define FILTER_WHERE_MAX 512
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

static const char *
row_text(struct store_rows *rows, size_t col)
{
    const char *s = store_rows_text(rows, col);
    return s ? s : "";
}

/* An event without an entity (both stored as '') shows entity: null. */
static json_t *
entity_to_json(struct store_rows *rows)
{
    const char *type = row_text(rows, COL_ENTITY_TYPE), *id = row_text(rows, COL_ENTITY_ID);

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
        row_text(rows, COL_EVENT_ID), "seq", (json_int_t)store_rows_int(rows, COL_SEQ), "time",
        row_text(rows, COL_TIME), "actor", "type", row_text(rows, COL_ACTOR_TYPE), "id",
        row_text(rows, COL_ACTOR_ID), "name", row_text(rows, COL_ACTOR_NAME), "action_type",
        row_text(rows, COL_ACTION_TYPE), "severity", row_text(rows, COL_SEVERITY), "message",
        row_text(rows, COL_MESSAGE), "entity", entity_to_json(rows), "prev_hash",
        row_text(rows, COL_PREV_HASH), "hash", row_text(rows, COL_HASH));
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

/* The WHERE clause of a list, built from fixed fragments; user text goes only into args. */
struct events_filter {
    char where[FILTER_WHERE_MAX];
    struct store_value args[FILTER_ARGS_MAX];
    size_t n_args;
    char from[32], to[32];
    char *pattern; /* all_search as a LIKE pattern (owned) */
};

static void
events_filter_release(struct events_filter *f)
{
    free(f->pattern);
}

static void
filter_add(struct events_filter *f, const char *fragment, const char *value)
{
    size_t len = strlen(f->where);

    if (!value || f->n_args >= FILTER_ARGS_MAX)
        return;
    snprintf(f->where + len, sizeof(f->where) - len, " AND %s", fragment);
    f->args[f->n_args++] = SV_TEXT(value);
}

/* Parses a from/to parameter and rewrites it in the stored format (milliseconds, 'Z'), so that
 * comparing RFC 3339 texts compares times. */
static int
time_param(struct api_request *r, const char *name, char out[32], bool *ret_present)
{
    const char *value = api_query(r, name);
    int64_t ms;

    *ret_present = false;
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
    time_format_rfc3339(ms, out);
    *ret_present = true;
    return 0;
}

/* The values of an enumerated filter, and how an error message lists them. */
struct enum_filter {
    const char *name;
    const char *const *values;
    const char *allowed;
};

static const struct enum_filter severity_filter = {
    "severity",
    (const char *const[]){ "INFO", "WARNING", "ERROR", NULL },
    "INFO, WARNING, ERROR",
};
static const struct enum_filter action_type_filter = {
    "action_type",
    (const char *const[]){ "USER_AUTH", "ADMIN", "USER_APPROVAL", "NODE_ATTESTATION", "NODE_STATUS",
                           "APP_STATUS", "CERTIFICATE", "IMAGE_CONVERSION", NULL },
    "USER_AUTH, ADMIN, USER_APPROVAL, NODE_ATTESTATION, NODE_STATUS, APP_STATUS, CERTIFICATE, "
    "IMAGE_CONVERSION",
};

/* An enumerated filter: absent, or one of its values (else a 400 naming the parameter). */
static int
enum_param(struct api_request *r, const struct enum_filter *filter, const char **ret_value)
{
    const char *value = api_query(r, filter->name);

    *ret_value = value;
    if (!value)
        return 0;
    for (const char *const *v = filter->values; *v; v++)
        if (strcmp(value, *v) == 0)
            return 0;
    return api_error(r, 400, "BAD_REQUEST", "%s: must be one of %s", filter->name, filter->allowed);
}

/* '%' + lower(search) with LIKE's wildcards escaped + '%'. */
static char *
search_pattern(const char *search)
{
    size_t len = strlen(search), n = 0;
    char *pattern = malloc(2 * len + 3);

    if (!pattern)
        return NULL;
    pattern[n++] = '%';
    for (const char *s = search; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            pattern[n++] = '\\';
        pattern[n++] = (char)tolower((unsigned char)*s);
    }
    pattern[n++] = '%';
    pattern[n] = '\0';
    return pattern;
}

static int
events_filter_build(struct api_request *r, const char *chain, const struct list_params *p,
                    struct events_filter *f)
{
    const char *action_type, *severity;
    bool has_from, has_to;
    int rr;

    snprintf(f->where, sizeof(f->where), "WHERE chain = ?");
    f->args[f->n_args++] = SV_TEXT(chain);
    rr = enum_param(r, &action_type_filter, &action_type);
    if (rr < 0)
        return rr;
    rr = enum_param(r, &severity_filter, &severity);
    if (rr < 0)
        return rr;
    rr = time_param(r, "from", f->from, &has_from);
    if (rr < 0)
        return rr;
    rr = time_param(r, "to", f->to, &has_to);
    if (rr < 0)
        return rr;
    filter_add(f, "action_type = ?", action_type);
    filter_add(f, "severity = ?", severity);
    filter_add(f, "actor_id = ?", api_query(r, "actor_id"));
    filter_add(f, "entity_id = ?", api_query(r, "entity_id"));
    filter_add(f, "time >= ?", has_from ? f->from : NULL);
    filter_add(f, "time <= ?", has_to ? f->to : NULL);
    if (p->search) {
        f->pattern = search_pattern(p->search);
        if (!f->pattern)
            return -ENOMEM;
        filter_add(f, "lower(message) LIKE ? ESCAPE '\\'", f->pattern);
    }
    return 0;
}

static int
events_count(struct store *store, const struct events_filter *f, int64_t *ret_count)
{
    _cleanup_free_ char *sql = NULL;

    if (asprintf(&sql, "SELECT COUNT(*) FROM events %s", f->where) < 0)
        return -ENOMEM;
    return store_query_int(store, sql, f->args, f->n_args, ret_count);
}

static int
events_select(struct store *store, const struct events_filter *f, const struct list_params *p,
              json_t *items)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    _cleanup_free_ char *sql = NULL;
    struct store_value args[FILTER_ARGS_MAX + 2];
    const char *dir = p->sort_desc ? "DESC" : "ASC";
    bool by_time = strcmp(p->sort_key, "time") == 0;
    int r;

    if (asprintf(&sql,
                 "SELECT " EVENT_COLUMNS " FROM events %s ORDER BY %s %s, seq %s"
                 " LIMIT ? OFFSET ?",
                 f->where, by_time ? "time" : "seq", dir, dir) < 0)
        return -ENOMEM;
    memcpy(args, f->args, f->n_args * sizeof(args[0]));
    args[f->n_args] = SV_INT(p->limit);
    args[f->n_args + 1] = SV_INT(p->offset);
    r = store_query(store, sql, args, f->n_args + 2, &rows);
    if (r < 0)
        return r;
    while ((r = store_rows_next(rows)) > 0) {
        json_t *event;
        r = event_to_json(rows, &event);
        if (r < 0)
            return r;
        if (json_array_append_new(items, event) < 0)
            return -ENOMEM;
    }
    return r;
}

static int
events_list(struct api_request *r)
{
    static const char *const sortable[] = { "seq", "time", NULL };
    _cleanup_(events_filter_release) struct events_filter f = { .n_args = 0 };
    _cleanup_(json_decrefp) json_t *items = NULL;
    struct list_params p;
    int64_t total, filtered;
    const char *chain;
    json_t *envelope;
    int rr;

    rr = events_chain(r, &chain);
    if (rr < 0)
        return rr;
    rr = api_list_params(r, sortable, "seq", true, &p);
    if (rr < 0)
        return rr;
    rr = events_filter_build(r, chain, &p, &f);
    if (rr < 0)
        return rr;
    rr = store_query_int(r->store, "SELECT COUNT(*) FROM events WHERE chain = ?",
                         STORE_ARGS(SV_TEXT(chain)), &total);
    if (rr < 0)
        return rr;
    rr = events_count(r->store, &f, &filtered);
    if (rr < 0)
        return rr;
    items = json_array();
    if (!items)
        return -ENOMEM;
    rr = events_select(r->store, &f, &p, items);
    if (rr < 0)
        return rr;
    envelope = api_list_envelope(&p, total, filtered, TAKE_PTR(items));
    if (!envelope)
        return -ENOMEM;
    return api_reply(r, 200, envelope);
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
        r = csv_cell(buf, col == COL_SEQ ? seq : row_text(rows, col), col + 1 == COL_COUNT);
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

/* Appends the next page of at most EXPORT_PAGE events to s->buf; *ret_count gets its size. */
static int
export_page(struct export_state *s, size_t *ret_count)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    size_t count = 0;
    int r;

    r = store_query(s->store,
                    "SELECT " EVENT_COLUMNS " FROM events WHERE chain = ? AND seq > ?"
                    " ORDER BY seq LIMIT ?",
                    STORE_ARGS(SV_TEXT(s->chain), SV_INT(s->after_seq), SV_INT(EXPORT_PAGE)),
                    &rows);
    if (r < 0)
        return r;
    while ((r = store_rows_next(rows)) > 0) {
        r = s->csv ? csv_row(s->buf, rows) : json_row(s->buf, rows, s->written == 0);
        if (r < 0)
            return r;
        s->after_seq = store_rows_int(rows, COL_SEQ);
        s->written++;
        count++;
    }
    if (r < 0)
        return r;
    *ret_count = count;
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
