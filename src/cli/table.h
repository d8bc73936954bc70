/* Human-readable output: aligned tables of rows, and JSON objects as indented "key: value"
 * lines. Text is made printable (no control characters) before it reaches the terminal. */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "cleanup.h"

struct table;

/* A table with ncols columns titled headers (copied). */
int table_new(const char *const *headers, size_t ncols, struct table **ret);
struct table *table_free(struct table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table, table_free)

/* Cells of column col longer than width are cut and end with "…"; 0 means no limit. */
void table_set_max_width(struct table *t, size_t col, size_t width);

/* Appends the next cell; rows fill from left to right. NULL shows as "-". s is copied. */
int table_add_cell(struct table *t, const char *s);

size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *out);

/* Prints text line by line, each indented and made printable. */
int table_print_lines(FILE *out, const char *text, size_t indent);

/* Prints obj as "key: value" lines, nested objects and arrays of objects indented below
 * their key. */
int table_print_object(const json_t *obj, FILE *out);
