#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "jval.h"
#include "table.h"

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

/* Prints the formatted line, made printable, on stdout. */
static void output_vline(const char *fmt, va_list ap) _printf_(1, 0);

static void
output_vline(const char *fmt, va_list ap)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    _cleanup_free_ char *text = NULL;

    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    if (!text || strbuf_add_printable(&sb, text) < 0) {
        cli_oom();
        return;
    }
    puts(sb.buf);
}

void
output_line(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    output_vline(fmt, ap);
    va_end(ap);
}

void
output_message(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;

    if (cli->json || cli->quiet)
        return;
    va_start(ap, fmt);
    output_vline(fmt, ap);
    va_end(ap);
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

/* Appends the cell of col for item. Times lose their fraction of a second
 * ("2026-11-23T16:36:00.123Z" -> "2026-11-23T16:36:00Z"), long hex strings are cut. */
static int
column_add(struct strbuf *sb, const struct column *col, const json_t *item)
{
    _cleanup_free_ char *size = NULL;
    const json_t *v;
    const char *s, *dot;
    int r;

    if (col->format)
        return col->format(item, sb);
    v = jval_get(item, col->path);
    s = json_string_value(v);
    if (col->kind == COLUMN_TIME && s && (dot = strchr(s, '.'))) {
        r = strbuf_add(sb, s, (size_t)(dot - s));
        return r < 0 ? r : strbuf_adds(sb, dot + 1 + strspn(dot + 1, "0123456789"));
    }
    if (col->kind == COLUMN_SHORT && s && strlen(s) > SHORT_HEX_DIGITS)
        return strbuf_addf(sb, "%.*s…", (int)SHORT_HEX_DIGITS, s);
    if (col->kind == COLUMN_SIZE && json_is_integer(v) && json_integer_value(v) >= 0) {
        r = args_format_size((uint64_t)json_integer_value(v), &size);
        return r < 0 ? r : strbuf_adds(sb, size);
    }
    return jval_add_text(sb, v);
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
            _cleanup_(strbuf_release) struct strbuf text = STRBUF_INIT;

            r = column_add(&text, &cols[c], item);
            if (r >= 0)
                r = table_add_cell(t, strbuf_str(&text));
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
