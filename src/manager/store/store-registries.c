#include "store-registries.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* The sealed password never leaves the table: only whether there is one. */
#define REGISTRY_SELECT                                                                            \
    "SELECT registry_id, url, description, username,"                                              \
    " CASE WHEN password_sealed IS NULL THEN 0 ELSE 1 END AS has_password_bool,"                   \
    " created_at, updated_at FROM registries"

#define REGISTRY_SQL_MAX 1024

int
store_registry_insert(struct store *store, const char *acct_id, const char *registry_id,
                      const struct registry_values *values, const char *now)
{
    return store_exec(store,
                      "INSERT INTO registries (registry_id, acct_id, url, description, username,"
                      " password_sealed, created_at, updated_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(registry_id), SV_TEXT(acct_id), SV_TEXT(values->url),
                                 SV_TEXT(values->description ? values->description : ""),
                                 SV_TEXT(values->username), SV_TEXT(values->password_sealed),
                                 SV_TEXT(now), SV_TEXT(now)),
                      NULL);
}

int
store_registry_get(struct store *store, const char *acct_id, const char *registry_id, bool lock,
                   json_t **ret_registry)
{
    char sql[REGISTRY_SQL_MAX];

    snprintf(sql, sizeof(sql), "%s WHERE registry_id = ? AND acct_id = ? %s", REGISTRY_SELECT,
             lock && store->ops->for_update ? store->ops->for_update : "");
    return store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(registry_id), SV_TEXT(acct_id)),
                                   ret_registry);
}

static int
exec_one(struct store *store, const char *sql, const struct store_value *args, size_t n_args)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, sql, args, n_args, &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_registry_update(struct store *store, const char *acct_id, const char *registry_id,
                      const struct registry_values *values, const char *now)
{
    return exec_one(store,
                    "UPDATE registries SET url = ?, description = ?, username = ?, updated_at = ?"
                    " WHERE registry_id = ? AND acct_id = ?",
                    STORE_ARGS(SV_TEXT(values->url),
                               SV_TEXT(values->description ? values->description : ""),
                               SV_TEXT(values->username), SV_TEXT(now), SV_TEXT(registry_id),
                               SV_TEXT(acct_id)));
}

int
store_registry_set_password(struct store *store, const char *acct_id, const char *registry_id,
                            const char *password_sealed, const char *now)
{
    return exec_one(
        store,
        "UPDATE registries SET password_sealed = ?, updated_at = ?"
        " WHERE registry_id = ? AND acct_id = ?",
        STORE_ARGS(SV_TEXT(password_sealed), SV_TEXT(now), SV_TEXT(registry_id), SV_TEXT(acct_id)));
}

int
store_registry_delete(struct store *store, const char *acct_id, const char *registry_id)
{
    return exec_one(store, "DELETE FROM registries WHERE registry_id = ? AND acct_id = ?",
                    STORE_ARGS(SV_TEXT(registry_id), SV_TEXT(acct_id)));
}

/* '%' + lower-cased text with LIKE's own characters escaped + '%', for "LIKE ? ESCAPE '\'".
 * lower() in SQL folds ASCII only on SQLite, so only ASCII is folded here too. */
static char *
like_pattern(const char *text)
{
    size_t len = strlen(text);
    char *pattern = malloc(2 * len + 3), *p = pattern;

    if (!pattern)
        return NULL;
    *p++ = '%';
    for (const char *s = text; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
    }
    *p++ = '%';
    *p = '\0';
    return pattern;
}

static const char *
sort_column(const char *key)
{
    static const char *const columns[] = { "url", "created_at" };

    /* The ORDER BY column comes from this fixed list, never from the request. */
    for (size_t i = 0; key && i < ELEMENTSOF(columns); i++)
        if (strcmp(key, columns[i]) == 0)
            return columns[i];
    return NULL;
}

#define SEARCH_WHERE                                                                               \
    " WHERE acct_id = ? AND (lower(url) LIKE ? ESCAPE '\\'"                                        \
    " OR lower(description) LIKE ? ESCAPE '\\')"

int
store_registry_list(struct store *store, const char *acct_id, const struct registry_list_query *q,
                    json_t **ret_items, int64_t *ret_total, int64_t *ret_filtered)
{
    _cleanup_free_ char *pattern = q->search ? like_pattern(q->search) : NULL;
    const char *column = sort_column(q->sort_key);
    const char *where = q->search ? SEARCH_WHERE : " WHERE acct_id = ?";
    struct store_value args[] = { SV_TEXT(acct_id), SV_TEXT(pattern), SV_TEXT(pattern), SV_NULL,
                                  SV_NULL };
    size_t n = q->search ? 3 : 1;
    char sql[REGISTRY_SQL_MAX];
    int64_t total, filtered;
    json_t *items;
    int r;

    if (!column)
        return -EINVAL;
    if (q->search && !pattern)
        return -ENOMEM;
    r = store_query_int(store, "SELECT COUNT(*) FROM registries WHERE acct_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id)), &total);
    if (r < 0)
        return r;
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM registries%s", where);
    r = store_query_int(store, sql, args, n, &filtered);
    if (r < 0)
        return r;

    args[n] = SV_INT(q->limit);
    args[n + 1] = SV_INT(q->offset);
    snprintf(sql, sizeof(sql), "%s%s ORDER BY %s %s, registry_id LIMIT ? OFFSET ?", REGISTRY_SELECT,
             where, column, q->sort_desc ? "DESC" : "ASC");
    r = store_query_json_array(store, sql, args, n + 2, &items);
    if (r < 0)
        return r;
    *ret_items = items;
    *ret_total = total;
    *ret_filtered = filtered;
    return 0;
}
