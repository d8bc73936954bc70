/* The list query every list endpoint runs: one page of an account's rows (or a user's, or a
 * chain's), optionally filtered by equality filters and all_search, sorted by a whitelisted key,
 * with the two counts of the list envelope.
 *
 * The SQL is assembled only from the fixed fragments of a struct list_spec and of the filters:
 * every value that comes from a request (the scope, filter values, the search pattern, limit and
 * offset) is a bound argument. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* The page a list request asks for (parsed and checked by api_list_params()). */
struct list_params {
    int64_t limit;
    int64_t offset;
    const char *sort_key; /* one of the list's sort keys (a static string) */
    bool sort_desc;
    const char *search; /* all_search or NULL */
};

/* A sort key a list accepts and the SQL expression it orders by. Tables end with { NULL }. */
struct list_sort {
    const char *key;
    const char *expr;
};

/* What is fixed about one list: written once per resource. */
struct list_spec {
    const char *select;            /* "SELECT <columns>" */
    const char *from;              /* " FROM <table> [JOIN ...]" */
    const char *scope;             /* the condition all rows of the list meet, with one '?' */
    const char *const *search;     /* what all_search looks in: 1 or more, NULL-terminated */
    const struct list_sort *sorts; /* the sort keys it accepts */
    const char *tiebreak;          /* a unique column, ordering what the sort key leaves equal */
    bool tiebreak_follows;         /* the tie-break takes the sort's direction (else ASC) */
    /* Turns a row into an item; NULL for store_row_to_json. */
    int (*row_to_json)(struct store_rows *rows, json_t **ret_item);
};

/* An optional equality (or range) filter: condition has one '?' for value; NULL value: none. */
struct list_filter {
    const char *condition;
    const char *value;
};

/* LIST_FILTERS({ "b.status = ?", status }, ...) expands to "array, count" for store_list(). */
#define LIST_FILTERS(...)                                                                          \
    (const struct list_filter[]){ __VA_ARGS__ },                                                   \
        (sizeof((const struct list_filter[]){ __VA_ARGS__ }) / sizeof(struct list_filter))
#define LIST_NO_FILTERS NULL, 0

/* One page of a list and the counts of its envelope. */
struct list_page {
    json_t *items;    /* owned by the caller */
    int64_t total;    /* rows in the scope */
    int64_t filtered; /* rows in the scope matching the filters and the search */
};

/* Runs the list of spec for scope_value: the rows meeting every filter with a value and, when
 * p->search is set, containing it (case-insensitively) in one of spec->search; sorted by
 * p->sort_key (-EINVAL when spec does not accept it). */
int store_list(struct store *store, const struct list_spec *spec, const char *scope_value,
               const struct list_filter *filters, size_t n_filters, const struct list_params *p,
               struct list_page *ret_page);
