/* The helpers handlers use to read a request and prepare a response (api.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "audit.h"
#include "body.h"
#include "crypto-util.h"
#include "store-list.h"

const char *
role_name(enum role role)
{
    switch (role) {
    case ROLE_READER:
        return "READER";
    case ROLE_WRITER:
        return "WRITER";
    case ROLE_MANAGER:
        return "MANAGER";
    default:
        return NULL;
    }
}

enum role
role_parse(const char *name)
{
    if (!name)
        return ROLE_NONE;
    for (enum role r = ROLE_READER; r <= ROLE_MANAGER; r++)
        if (strcmp(role_name(r), name) == 0)
            return r;
    return ROLE_NONE;
}

/* ---- responses ---- */

/* vsnprintf() for the printf-like calls below, whose formats the compiler checks at the call. */
static void
format_message(char *out, size_t size, const char *fmt, va_list ap)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(out, size, fmt, ap);
#pragma GCC diagnostic pop
}

int
api_reply(struct api_request *r, int status, json_t *body)
{
    json_decref(r->response);
    free(r->response_text);
    r->response_text = NULL;
    r->status = status;
    r->response = body;
    r->content_type = "application/json";
    return 0;
}

int
api_reply_text(struct api_request *r, int status, const char *content_type, const char *text)
{
    char *copy = strdup(text);

    if (!copy)
        return -ENOMEM;
    api_reply(r, status, NULL);
    r->response_text = copy;
    r->content_type = content_type;
    return 0;
}

int
api_error(struct api_request *r, int status, const char *code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    format_message(message, sizeof(message), fmt, ap);
    va_end(ap);
    /* Messages quote request bytes (a query value, the path) and may be cut inside a character:
     * JSON needs UTF-8, or the body would be lost. */
    utf8_sanitize(message);
    api_reply(r, status, json_pack("{s:s, s:s}", "code", code, "message", message));
    return -ECANCELED;
}

int
api_store_error(struct api_request *r, int error, const char *what)
{
    if (error == -EEXIST)
        return api_error(r, 409, "UNIQUE_VIOLATION", "%s already exists", what);
    if (error == -ENOENT)
        return api_not_found(r, what);
    return error;
}

const char *
api_query(struct api_request *r, const char *key)
{
    return evhttp_find_header(&r->query, key);
}

/* Appends item to the ", "-separated list in out, of *n bytes so far; false when it did not fit. */
static bool
list_append(char *out, size_t size, size_t *n, const char *item)
{
    int w = snprintf(out + *n, size - *n, "%s%s", *n ? ", " : "", item);

    if (w < 0 || (size_t)w >= size - *n)
        return false;
    *n += (size_t)w;
    return true;
}

int
api_query_enum(struct api_request *r, const char *key, const char *const *values,
               const char **ret_value)
{
    const char *value = api_query(r, key);
    char allowed[512] = "";
    size_t n = 0;

    *ret_value = value;
    if (!value)
        return 0;
    for (const char *const *v = values; *v; v++)
        if (strcmp(*v, value) == 0)
            return 0;
    for (const char *const *v = values; *v && list_append(allowed, sizeof(allowed), &n, *v); v++)
        ;
    return api_error(r, 400, "BAD_REQUEST", "%s: must be one of %s", key, allowed);
}

int
api_path_uuid(struct api_request *r, size_t index, const char *what)
{
    if (index >= ROUTE_PARAMS_MAX || !is_uuid(r->params[index]))
        return api_not_found(r, what);
    return 0;
}

int
api_check_body(struct api_request *r, const struct field_spec *fields, enum body_mode mode)
{
    char why[BODY_ERROR_MAX];

    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: required");
    if (!json_is_object(r->body))
        return api_error(r, 400, "BAD_REQUEST", "body: must be a JSON object");
    if (body_check(r->body, fields, mode, why) < 0)
        return api_bad_field(r, "%s", why);
    return 0;
}

void
api_body_fields(struct api_request *r, char *out, size_t size)
{
    const char *key;
    json_t *value;
    size_t n = 0;

    out[0] = '\0';
    json_object_foreach(r->body, key, value) {
        if (!list_append(out, size, &n, key))
            break;
    }
}

const char *
api_now(struct api_request *r)
{
    return r->now;
}

/* ---- lists ---- */

static int
parse_int_param(struct api_request *r, const char *key, int64_t min, int64_t max, int64_t *value)
{
    const char *text = api_query(r, key);
    char *end;
    long long v;

    if (!text)
        return 0;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return api_error(r, 400, "BAD_REQUEST", "%s: must be an integer between %lld and %lld", key,
                         (long long)min, (long long)max);
    *value = v;
    return 0;
}

static int
parse_sort(struct api_request *r, const struct list_sort *sorts, struct list_params *p)
{
    const char *text = api_query(r, "sort_by");
    const char *colon;
    size_t key_len;

    if (!text)
        return 0;
    colon = strchr(text, ':');
    key_len = colon ? (size_t)(colon - text) : strlen(text);
    if (colon && strcmp(colon + 1, "ASC") != 0 && strcmp(colon + 1, "DESC") != 0)
        return api_error(r, 400, "BAD_REQUEST", "sort_by: direction must be ASC or DESC");
    for (const struct list_sort *s = sorts; s->key; s++) {
        if (strlen(s->key) == key_len && strncmp(s->key, text, key_len) == 0) {
            p->sort_key = s->key;
            p->sort_desc = colon && strcmp(colon + 1, "DESC") == 0;
            return 0;
        }
    }
    return api_error(r, 400, "BAD_REQUEST", "sort_by: cannot sort by '%.*s'", (int)key_len, text);
}

int
api_list_params(struct api_request *r, const struct list_sort *sorts, const char *default_key,
                bool default_desc, struct list_params *ret_params)
{
    struct list_params p = {
        .limit = LIST_LIMIT_DEFAULT,
        .sort_key = default_key,
        .sort_desc = default_desc,
    };
    int err;

    err = parse_int_param(r, "limit", 1, LIST_LIMIT_MAX, &p.limit);
    if (err < 0)
        return err;
    err = parse_int_param(r, "offset", 0, INT32_MAX, &p.offset);
    if (err < 0)
        return err;
    err = parse_sort(r, sorts, &p);
    if (err < 0)
        return err;
    p.search = api_query(r, "all_search");
    if (p.search && strlen(p.search) > FIELD_NAME_MAX)
        return api_error(r, 400, "BAD_REQUEST", "all_search: must be at most 255 bytes long");
    if (p.search && !*p.search)
        p.search = NULL;
    *ret_params = p;
    return 0;
}

int
api_reply_list(struct api_request *r, const struct list_params *p, struct list_page *page)
{
    json_t *envelope =
        json_pack("{s:{s:I, s:I, s:I, s:I}, s:o}", "metadata", "limit", (json_int_t)p->limit,
                  "offset", (json_int_t)p->offset, "total_count", (json_int_t)page->total,
                  "filtered_count", (json_int_t)page->filtered, "items", TAKE_PTR(page->items));

    if (!envelope)
        return -ENOMEM;
    return api_reply(r, 200, envelope);
}

/* ---- audit ---- */

int
api_audit(struct api_request *r, const char *action_type, const char *severity,
          const char *entity_type, const char *entity_id, const char *fmt, ...)
{
    char message[2048];
    va_list ap;

    va_start(ap, fmt);
    format_message(message, sizeof(message), fmt, ap);
    va_end(ap);
    return audit_append(r->store, &(struct audit_event){
                                      .chain = *r->acct_id ? r->acct_id : AUDIT_SYSTEM_CHAIN,
                                      .time = r->now,
                                      /* Node-authenticated calls act as the node. */
                                      .actor_type = *r->node_id ? "NODE" : "USER",
                                      .actor_id = *r->node_id ? r->node_id : r->user_id,
                                      .actor_name = *r->node_id ? r->node_name : r->user_email,
                                      .action_type = action_type,
                                      .severity = severity,
                                      .message = message,
                                      .entity_type = entity_type,
                                      .entity_id = entity_id,
                                  });
}
