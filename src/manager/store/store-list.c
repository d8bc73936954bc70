/* The list query (store-list.h): one WHERE clause, built once from fixed fragments, serves the
 * filtered count and the page. */
#include "store-list.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define LIST_SQL_MAX 4096
#define LIST_ARGS_MAX 16

/* SQL text assembled from fixed fragments; too long a text fails the query, never truncates. */
struct sql_text {
    char text[LIST_SQL_MAX];
    size_t len;
    bool overflow;
};

/* Appends the fragments given, up to a NULL. */
static __attribute__((sentinel)) void
sql_add(struct sql_text *s, ...)
{
    const char *fragment;
    va_list ap;

    va_start(ap, s);
    while ((fragment = va_arg(ap, const char *))) {
        size_t n = strlen(fragment);

        if (s->overflow || n >= sizeof(s->text) - s->len) {
            s->overflow = true;
            break;
        }
        memcpy(s->text + s->len, fragment, n + 1);
        s->len += n;
    }
    va_end(ap);
}

/* A WHERE clause and its arguments, with room for LIMIT and OFFSET after them. */
struct list_where {
    struct sql_text sql;
    struct store_value args[LIST_ARGS_MAX + 2];
    size_t n_args;
};

static void
where_add(struct list_where *w, const char *prefix, const char *condition, const char *suffix,
          const char *value)
{
    if (w->n_args == LIST_ARGS_MAX) {
        w->sql.overflow = true;
        return;
    }
    sql_add(&w->sql, prefix, condition, suffix, NULL);
    w->args[w->n_args++] = SV_TEXT(value);
}

/* " AND (lower(e1) LIKE ? ESCAPE '\' OR ...)": the pattern comes folded to lower case, and
 * lower() folds the same ASCII letters on both backends (text columns compare bytes). */
static void
where_add_search(struct list_where *w, const char *const *exprs, const char *pattern)
{
    for (size_t i = 0; exprs[i]; i++)
        where_add(w, i == 0 ? " AND (lower(" : " OR lower(", exprs[i], ") LIKE ? ESCAPE '\\'",
                  pattern);
    sql_add(&w->sql, ")", NULL);
}

/* '%' + search folded to ASCII lower case, with LIKE's own characters escaped (for
 * ESCAPE '\') + '%'. */
static char *
like_pattern(const char *search)
{
    char *pattern = malloc(2 * strlen(search) + 3), *p = pattern;

    if (!pattern)
        return NULL;
    *p++ = '%';
    for (const char *s = search; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
    }
    *p++ = '%';
    *p = '\0';
    return pattern;
}

static const struct list_sort *
list_sort_find(const struct list_sort *sorts, const char *key)
{
    for (; key && sorts->key; sorts++)
        if (strcmp(sorts->key, key) == 0)
            return sorts;
    return NULL;
}

static int
list_count(struct store *store, const struct list_spec *spec, const struct list_where *w,
           int64_t *ret_count)
{
    struct sql_text sql = { .len = 0 };

    sql_add(&sql, "SELECT COUNT(*)", spec->from, w->sql.text, NULL);
    if (sql.overflow || w->sql.overflow)
        return -ENOBUFS;
    return store_query_int(store, sql.text, w->args, w->n_args, ret_count);
}

static int
list_items(struct store *store, const struct list_spec *spec, struct list_where *w,
           const struct list_sort *sort, const struct list_params *p, json_t **ret_items)
{
    const char *dir = p->sort_desc ? " DESC" : " ASC";
    struct sql_text sql = { .len = 0 };

    sql_add(&sql, spec->select, spec->from, w->sql.text, " ORDER BY ", sort->expr, dir, ", ",
            spec->tiebreak, spec->tiebreak_follows ? dir : " ASC", " LIMIT ? OFFSET ?", NULL);
    if (sql.overflow || w->sql.overflow)
        return -ENOBUFS;
    w->args[w->n_args] = SV_INT(p->limit);
    w->args[w->n_args + 1] = SV_INT(p->offset);
    return store_query_json_rows(store, sql.text, w->args, w->n_args + 2, spec->row_to_json,
                                 ret_items);
}

int
store_list(struct store *store, const struct list_spec *spec, const char *scope_value,
           const struct list_filter *filters, size_t n_filters, const struct list_params *p,
           struct list_page *ret_page)
{
    const struct list_sort *sort = list_sort_find(spec->sorts, p->sort_key);
    _cleanup_free_ char *pattern = NULL;
    struct list_where w = { .n_args = 0 };
    struct list_page page = { .items = NULL };
    int r;

    if (!sort)
        return -EINVAL;
    where_add(&w, " WHERE ", spec->scope, "", scope_value);
    r = list_count(store, spec, &w, &page.total);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n_filters; i++)
        if (filters[i].value)
            where_add(&w, " AND ", filters[i].condition, "", filters[i].value);
    if (p->search) {
        pattern = like_pattern(p->search);
        if (!pattern)
            return -ENOMEM;
        where_add_search(&w, spec->search, pattern);
    }
    page.filtered = page.total;
    if (w.n_args > 1) {
        r = list_count(store, spec, &w, &page.filtered);
        if (r < 0)
            return r;
    }
    r = list_items(store, spec, &w, sort, p, &page.items);
    if (r < 0)
        return r;
    *ret_page = page;
    return 0;
}
