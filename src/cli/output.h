/* What commands print: the server's JSON (--json), only ids (-q), or tables and "key: value"
 * lines for people. */
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
    /* Renders the cell from the whole item instead of path, appending it to out. */
    int (*format)(const json_t *item, struct strbuf *out);
};

/* Prints v as indented JSON on stdout. */
int output_json(const json_t *v);

/* Prints one line on stdout, made printable (text from the server cannot drive the terminal). */
void output_line(const char *fmt, ...) _printf_(1, 2);

/* output_line() for people: nothing with --json or -q. */
void output_message(const struct cli *cli, const char *fmt, ...) _printf_(2, 3);

/* Prints items (an array of objects) as a table with the given columns. */
int output_items(const json_t *items, const struct column *cols, size_t n);

/* Prints a single object: JSON with --json, the string at id_path with -q, else "key: value"
 * lines. */
int output_object(const struct cli *cli, const json_t *obj, const char *id_path);

/* Prints a list response ({metadata, items}): JSON with --json, the ids with -q, else a table
 * (or "No <noun>.") and, when more items match than were returned, how to page on. */
int output_list(const struct cli *cli, const json_t *resp, const struct column *cols, size_t n,
                const char *id_path, const char *noun);
