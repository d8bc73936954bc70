#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "jval.h"
#include "table.h"

#define LIST_LIMIT_MAX 1000u
#define SHORT_HEX_DIGITS 16u

int
output_json(const json_t *v)
{
    /* The response may hold a token (login); the dump is erased like a secret. */
    _cleanup_(secret_freep) char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

    if (!text)
        return cli_oom();
    puts(text);
    return 0;
}

void
output_line(const char *fmt, ...)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    _cleanup_free_ char *text = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        text = NULL;
    if (n < 0 || strbuf_add_printable(&sb, text) < 0) {
        cli_oom();
        return;
    }
    puts(sb.buf);
}

int
output_object(const struct cli *cli, const json_t *obj, const char *id_path)
{
    const char *id;

    if (cli->json)
        return output_json(obj);
    if (cli->quiet) {
        id = id_path ? jval_str(obj, id_path) : NULL;
        if (id)
            puts(id);
        return 0;
    }
    if (table_print_object(obj, stdout) < 0) {
        cli_error("unexpected response: not a JSON object");
        return -EBADMSG;
    }
    return 0;
}

/* "2026-11-23T16:36:00.123Z" -> "2026-11-23T16:36:00Z". */
static int
format_time(const char *s, char **ret)
{
    const char *dot = strchr(s, '.');
    size_t frac = dot ? strspn(dot + 1, "0123456789") + 1 : 0;
    char *t;

    if (!dot)
        t = strdup(s);
    else if (asprintf(&t, "%.*s%s", (int)(dot - s), s, dot + frac) < 0)
        t = NULL;
    if (!t)
        return -ENOMEM;
    *ret = t;
    return 0;
}

static int
format_short(const char *s, char **ret)
{
    char *t;

    if (strlen(s) <= SHORT_HEX_DIGITS)
        t = strdup(s);
    else if (asprintf(&t, "%.*s…", (int)SHORT_HEX_DIGITS, s) < 0)
        t = NULL;
    if (!t)
        return -ENOMEM;
    *ret = t;
    return 0;
}

static int
column_text(const struct column *col, const json_t *item, char **ret)
{
    const json_t *v;

    if (col->format)
        return col->format(item, ret);
    v = jval_get(item, col->path);
    if (col->kind == COLUMN_TIME && json_is_string(v))
        return format_time(json_string_value(v), ret);
    if (col->kind == COLUMN_SHORT && json_is_string(v))
        return format_short(json_string_value(v), ret);
    if (col->kind == COLUMN_SIZE && json_is_integer(v) && json_integer_value(v) >= 0)
        return args_format_size((uint64_t)json_integer_value(v), ret);
    return jval_to_text(v, ret);
}

int
output_items(const json_t *items, const struct column *cols, size_t n)
{
    _cleanup_(table_freep) struct table *t = NULL;
    const char *headers[32] = { NULL };
    json_t *item;
    size_t i;
    int r;

    if (n > ELEMENTSOF(headers))
        return -E2BIG;
    for (size_t c = 0; c < n; c++)
        headers[c] = cols[c].header;
    r = table_new(headers, n, &t);
    if (r < 0)
        return r;
    for (size_t c = 0; c < n; c++)
        table_set_max_width(t, c, cols[c].max_width);
    json_array_foreach(items, i, item)
        for (size_t c = 0; c < n; c++) {
            _cleanup_free_ char *text = NULL;

            r = column_text(&cols[c], item, &text);
            if (r >= 0)
                r = table_add_cell(t, text);
            if (r < 0)
                return r;
        }
    table_print(t, stdout);
    return 0;
}

static void
output_page_hint(const json_t *resp, size_t shown)
{
    json_int_t filtered = json_integer_value(jval_get(resp, "metadata.filtered_count"));
    json_int_t offset = json_integer_value(jval_get(resp, "metadata.offset"));

    if (filtered > offset + (json_int_t)shown)
        printf("(%zu of %" JSON_INTEGER_FORMAT " shown; next page: --offset %" JSON_INTEGER_FORMAT
               ")\n",
               shown, filtered, offset + (json_int_t)shown);
}

int
output_list(const struct cli *cli, const json_t *resp, const struct column *cols, size_t n,
            const char *id_path, const char *noun)
{
    const json_t *items = json_object_get(resp, "items");
    json_t *item;
    size_t i;
    int r;

    if (!json_is_array(items)) {
        cli_error("unexpected response: no list of items");
        return -EBADMSG;
    }
    if (cli->json)
        return output_json(resp);
    if (cli->quiet) {
        json_array_foreach(items, i, item)
            if (jval_str(item, id_path))
                puts(jval_str(item, id_path));
        return 0;
    }
    if (json_array_size(items) == 0) {
        printf("No %s.\n", noun);
        return 0;
    }
    r = output_items(items, cols, n);
    if (r < 0)
        return cli_oom();
    output_page_hint(resp, json_array_size(items));
    return 0;
}

int
list_opts_handle(struct list_opts *l, int opt, const char *arg)
{
    uint64_t v;
    int r;

    switch (opt) {
    case OPT_LIST_LIMIT:
        r = args_uint("--limit", arg, 1, LIST_LIMIT_MAX, &v);
        l->limit = arg;
        return r < 0 ? r : 1;
    case OPT_LIST_OFFSET:
        r = args_uint("--offset", arg, 0, INT64_MAX, &v);
        l->offset = arg;
        return r < 0 ? r : 1;
    case OPT_LIST_SORT:
        l->sort = arg;
        return 1;
    case OPT_LIST_SEARCH:
        l->search = arg;
        return 1;
    default:
        return 0;
    }
}

int
list_opts_query(const struct list_opts *l, struct strbuf *path)
{
    int r = client_path_query(path, "limit", l->limit);

    if (r >= 0)
        r = client_path_query(path, "offset", l->offset);
    if (r >= 0)
        r = client_path_query(path, "sort_by", l->sort);
    if (r >= 0)
        r = client_path_query(path, "all_search", l->search);
    return r;
}
