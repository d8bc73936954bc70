/* What commands print: the server's JSON (--json), only ids (-q), or tables and "key: value"
 * lines for people. Also the flags every list command shares. */
#pragma once

#include <getopt.h>
#include <jansson.h>

#include "cli.h"
#include "strbuf.h"

enum column_kind {
    COLUMN_TEXT,  /* the value as text */
    COLUMN_TIME,  /* an RFC 3339 time, shown without the milliseconds */
    COLUMN_SIZE,  /* a byte count, shown as 1G, 512M, ... */
    COLUMN_SHORT, /* a long hex string, shown as its first 16 digits and "…" */
};

struct column {
    const char *header;
    const char *path; /* dotted path of the value in an item */
    enum column_kind kind;
    unsigned max_width; /* 0: no limit */
    /* Renders the cell from the whole item instead of path, into a new string. */
    int (*format)(const json_t *item, char **ret);
};

/* Prints v as indented JSON on stdout. */
int output_json(const json_t *v);

/* Prints one line on stdout, made printable (text from the server cannot drive the terminal). */
void output_line(const char *fmt, ...) _printf_(1, 2);

/* Prints items (an array of objects) as a table with the given columns. */
int output_items(const json_t *items, const struct column *cols, size_t n);

/* Prints a single object: JSON with --json, the string at id_path with -q, else "key: value"
 * lines. */
int output_object(const struct cli *cli, const json_t *obj, const char *id_path);

/* Prints a list response ({metadata, items}): JSON with --json, the ids with -q, else a table
 * (or "No <noun>.") and, when more items match than were returned, how to page on. */
int output_list(const struct cli *cli, const json_t *resp, const struct column *cols, size_t n,
                const char *id_path, const char *noun);

/* --limit, --offset, --sort, --search of list commands. */
struct list_opts {
    const char *limit;
    const char *offset;
    const char *sort;
    const char *search;
};

enum {
    OPT_LIST_LIMIT = 0x1000,
    OPT_LIST_OFFSET,
    OPT_LIST_SORT,
    OPT_LIST_SEARCH,
};

/* clang-format off */
#define LIST_OPTIONS                                                                               \
    { "limit", required_argument, NULL, OPT_LIST_LIMIT },                                          \
        { "offset", required_argument, NULL, OPT_LIST_OFFSET },                                    \
        { "sort", required_argument, NULL, OPT_LIST_SORT },                                        \
        { "search", required_argument, NULL, OPT_LIST_SEARCH }
/* clang-format on */

#define LIST_USAGE                                                                                 \
    "  --limit N          return at most N items (1-1000, default 100)\n"                          \
    "  --offset N         skip the first N items\n"                                                \
    "  --sort KEY:DIR     sort order, e.g. created_at:DESC\n"                                      \
    "  --search TEXT      case-insensitive search in names and descriptions\n"

/* Handles a list flag: 1 when opt was one, 0 when not, -EINVAL for a bad value. */
int list_opts_handle(struct list_opts *l, int opt, const char *arg);

/* Appends limit, offset, sort_by and all_search to a request path. */
int list_opts_query(const struct list_opts *l, struct strbuf *path);
