#include "table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jval.h"
#include "strbuf.h"

/* Named limits: a table holds what one list response can hold, with room to spare. */
#define TABLE_COLUMNS_MAX 32u
#define TABLE_CELLS_MAX (1u << 20)

struct table {
    size_t ncols;
    char **headers;
    size_t *max_width;
    char **cells; /* row-major, ncells of them */
    size_t ncells;
    size_t alloc;
};

struct table *
table_free(struct table *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->ncols && t->headers; i++)
        free(t->headers[i]);
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->headers);
    free(t->max_width);
    free(t->cells);
    free(t);
    return NULL;
}

int
table_new(const char *const *headers, size_t ncols, struct table **ret)
{
    _cleanup_(table_freep) struct table *t = calloc(1, sizeof(*t));

    if (!t || ncols == 0 || ncols > TABLE_COLUMNS_MAX)
        return -ENOMEM;
    t->headers = calloc(ncols, sizeof(char *));
    t->max_width = calloc(ncols, sizeof(size_t));
    if (!t->headers || !t->max_width)
        return -ENOMEM;
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        t->headers[i] = strdup(headers[i]);
        if (!t->headers[i])
            return -ENOMEM;
    }
    *ret = TAKE_PTR(t);
    return 0;
}

void
table_set_max_width(struct table *t, size_t col, size_t width)
{
    if (col < t->ncols)
        t->max_width[col] = width;
}

int
table_add_cell(struct table *t, const char *s)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    int r;

    if (t->ncells >= TABLE_CELLS_MAX)
        return -E2BIG;
    if (t->ncells == t->alloc) {
        size_t alloc = t->alloc ? t->alloc * 2 : 64;
        char **cells = reallocarray(t->cells, alloc, sizeof(char *));

        if (!cells)
            return -ENOMEM;
        t->cells = cells;
        t->alloc = alloc;
    }
    r = strbuf_add_printable(&sb, s && *s ? s : "-");
    if (r < 0)
        return r;
    t->cells[t->ncells] = strbuf_detach(&sb);
    if (!t->cells[t->ncells])
        return -ENOMEM;
    t->ncells++;
    return 0;
}

size_t
table_rows(const struct table *t)
{
    return t->ncells / t->ncols;
}

/* Display width of UTF-8 text, counted in code points. */
static size_t
text_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Byte length of the first width code points of s. */
static size_t
text_prefix_bytes(const char *s, size_t width)
{
    size_t i = 0;

    for (size_t n = 0; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == width)
            break;
    }
    return i;
}

static size_t
cell_width(const struct table *t, size_t col, const char *s)
{
    size_t w = text_width(s);

    return t->max_width[col] && w > t->max_width[col] ? t->max_width[col] : w;
}

static void
print_cell(const struct table *t, size_t col, const char *s, size_t width, FILE *out)
{
    size_t w = text_width(s);
    size_t max = t->max_width[col];
    bool last = col + 1 == t->ncols;

    if (max > 1 && w > max) {
        fprintf(out, "%.*s…", (int)text_prefix_bytes(s, max - 1), s);
        w = max;
    } else
        fputs(s, out);
    if (!last)
        fprintf(out, "%*s", (int)(width - w + 2), "");
}

void
table_print(const struct table *t, FILE *out)
{
    size_t rows = table_rows(t);
    size_t width[TABLE_COLUMNS_MAX];

    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = text_width(t->headers[c]);
        for (size_t r = 0; r < rows; r++) {
            size_t w = cell_width(t, c, t->cells[r * t->ncols + c]);

            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        print_cell(t, c, t->headers[c], width[c], out);
    fputc('\n', out);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            print_cell(t, c, t->cells[r * t->ncols + c], width[c], out);
        fputc('\n', out);
    }
}

static int
print_printable(FILE *out, const char *s)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    int r = strbuf_add_printable(&sb, s);

    if (r < 0)
        return r;
    fputs(strbuf_str(&sb), out);
    return 0;
}

/* True for values printed on lines of their own below their key. */
static bool
is_block(const json_t *v)
{
    size_t i;
    json_t *e;

    if (json_is_object(v))
        return json_object_size(v) > 0;
    json_array_foreach(v, i, e)
        if (json_is_object(e) || json_is_array(e))
            return true;
    return false;
}

static int print_block(FILE *out, const json_t *v, size_t indent);

static void
print_indent(FILE *out, size_t indent, bool dash)
{
    if (dash)
        fprintf(out, "%*s- ", (int)(indent - 2), "");
    else
        fprintf(out, "%*s", (int)indent, "");
}

int
table_print_lines(FILE *out, const char *text, size_t indent)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        _cleanup_free_ char *line = strndup(text, n);
        int r = line ? 0 : -ENOMEM;

        fprintf(out, "%*s", (int)indent, "");
        if (r >= 0)
            r = print_printable(out, line);
        fputc('\n', out);
        if (r < 0)
            return r;
        text += n + (text[n] == '\n');
    }
    return 0;
}

static int
print_scalar_member(FILE *out, const char *key, const json_t *v, size_t width, size_t indent)
{
    _cleanup_free_ char *text = NULL;
    int r = jval_to_text(v, &text);

    if (r >= 0)
        r = print_printable(out, key);
    if (r < 0)
        return r;
    /* Multi-line text (a PEM, a log) goes below its key, one line each. */
    if (json_is_string(v) && strchr(text, '\n')) {
        fputs(":\n", out);
        return table_print_lines(out, text, indent + 2);
    }
    if (!*text) {
        fputs(":\n", out);
        return 0;
    }
    fprintf(out, ":%*s", (int)(width - text_width(key) + 1), "");
    r = print_printable(out, text);
    fputc('\n', out);
    return r;
}

/* Prints the members of obj at indent; with dash the first line starts with "- ". */
static int
print_members(FILE *out, const json_t *obj, size_t indent, bool dash)
{
    size_t width = 0;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
        if (text_width(key) > width)
            width = text_width(key);
    json_object_foreach((json_t *)obj, key, v) {
        int r;

        print_indent(out, indent, dash);
        dash = false;
        if (is_block(v)) {
            r = print_printable(out, key);
            fputs(":\n", out);
            if (r >= 0)
                r = print_block(out, v, indent + 2);
        } else
            r = print_scalar_member(out, key, v, width, indent);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
print_block(FILE *out, const json_t *v, size_t indent)
{
    size_t i;
    json_t *e;

    if (json_is_object(v))
        return print_members(out, v, indent, false);
    json_array_foreach(v, i, e) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (json_is_object(e) && json_object_size(e) > 0) {
            r = print_members(out, e, indent + 2, true);
            if (r < 0)
                return r;
            continue;
        }
        r = jval_to_text(e, &text);
        if (r < 0)
            return r;
        print_indent(out, indent + 2, true);
        r = print_printable(out, text);
        fputc('\n', out);
        if (r < 0)
            return r;
    }
    return 0;
}

int
table_print_object(const json_t *obj, FILE *out)
{
    if (!json_is_object(obj))
        return -EBADMSG;
    return print_members(out, obj, 0, false);
}
