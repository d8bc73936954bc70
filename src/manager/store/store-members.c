#include "store-members.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "store-accounts.h"
#include "store-users.h"

#define MEMBER_FROM " FROM memberships m JOIN users u ON u.user_id = m.user_id WHERE m.acct_id = ?"
#define MEMBER_ROLE_FILTER " AND m.role = ?"
#define MEMBER_SEARCH                                                                              \
    " AND (lower(u.user_email) LIKE ? ESCAPE '\\' OR lower(u.first_name) LIKE ? ESCAPE '\\'"       \
    " OR lower(u.last_name) LIKE ? ESCAPE '\\')"

int
store_member_insert(struct store *store, const char *acct_id, const char *user_id, const char *role,
                    const char *now)
{
    return store_exec(store,
                      "INSERT INTO memberships (acct_id, user_id, role, created_at) "
                      "VALUES (?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id), SV_TEXT(role), SV_TEXT(now)),
                      NULL);
}

int
store_member_update_role(struct store *store, const char *acct_id, const char *user_id,
                         const char *role)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "UPDATE memberships SET role = ? WHERE acct_id = ? AND user_id = ?",
                   STORE_ARGS(SV_TEXT(role), SV_TEXT(acct_id), SV_TEXT(user_id)), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_member_delete(struct store *store, const char *acct_id, const char *user_id)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "DELETE FROM memberships WHERE acct_id = ? AND user_id = ?",
                   STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_member_get_role(struct store *store, const char *acct_id, const char *user_id,
                      char ret_role[MEMBER_ROLE_MAX])
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    const char *role;
    int r;

    r = store_query(store, "SELECT role FROM memberships WHERE acct_id = ? AND user_id = ?",
                    STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)), &rows);
    if (r < 0)
        return r;
    r = store_rows_next(rows);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    role = store_rows_text(rows, 0);
    if (!role || strlen(role) >= MEMBER_ROLE_MAX)
        return -EBADMSG;
    snprintf(ret_role, MEMBER_ROLE_MAX, "%s", role);
    return 0;
}

int
store_member_count_role(struct store *store, const char *acct_id, const char *role,
                        int64_t *ret_count)
{
    return store_query_int(store, "SELECT COUNT(*) FROM memberships WHERE acct_id = ? AND role = ?",
                           STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(role)), ret_count);
}

int
store_member_get(struct store *store, const char *acct_id, const char *user_id, json_t **ret_member)
{
    return store_query_json_object(
        store, "SELECT " STORE_USER_COLUMNS ", m.role" MEMBER_FROM " AND m.user_id = ?",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)), ret_member);
}

static const char *
member_sort_column(const char *key)
{
    /* Names sort case-insensitively, the same on every backend whatever its collation. */
    static const char *const columns[][2] = {
        { "created_at", "u.created_at" },
        { "user_email", "u.user_email" },
        { "first_name", "lower(u.first_name)" },
        { "last_name", "lower(u.last_name)" },
    };

    for (size_t i = 0; i < ELEMENTSOF(columns); i++)
        if (strcmp(key, columns[i][0]) == 0)
            return columns[i][1];
    return NULL;
}

/* The arguments of the WHERE clause built by member_where(); returns their count. */
static size_t
member_where_args(const char *acct_id, const char *role, const char *pattern,
                  struct store_value args[5])
{
    size_t n = 0;

    args[n++] = SV_TEXT(acct_id);
    if (role)
        args[n++] = SV_TEXT(role);
    if (pattern) {
        args[n++] = SV_TEXT(pattern);
        args[n++] = SV_TEXT(pattern);
        args[n++] = SV_TEXT(pattern);
    }
    return n;
}

static int
member_filtered_count(struct store *store, const char *acct_id, const char *role,
                      const char *pattern, int64_t *ret_count)
{
    _cleanup_free_ char *sql = NULL;
    struct store_value args[5];
    size_t n = member_where_args(acct_id, role, pattern, args);

    if (asprintf(&sql, "SELECT COUNT(*)" MEMBER_FROM "%s%s", role ? MEMBER_ROLE_FILTER : "",
                 pattern ? MEMBER_SEARCH : "") < 0)
        return -ENOMEM;
    return store_query_int(store, sql, args, n, ret_count);
}

static int
member_list_items(struct store *store, const char *acct_id, const char *role, const char *pattern,
                  const struct list_params *p, json_t **ret_items)
{
    const char *column = member_sort_column(p->sort_key);
    _cleanup_free_ char *sql = NULL;
    struct store_value args[7];
    size_t n;

    if (!column)
        return -EINVAL;
    /* Only fixed fragments go into the SQL; the user's text is always a bound argument. */
    if (asprintf(&sql,
                 "SELECT " STORE_USER_COLUMNS ", m.role" MEMBER_FROM
                 "%s%s ORDER BY %s %s, u.user_id LIMIT ? OFFSET ?",
                 role ? MEMBER_ROLE_FILTER : "", pattern ? MEMBER_SEARCH : "", column,
                 p->sort_desc ? "DESC" : "ASC") < 0)
        return -ENOMEM;
    n = member_where_args(acct_id, role, pattern, args);
    args[n++] = SV_INT(p->limit);
    args[n++] = SV_INT(p->offset);
    return store_query_json_array(store, sql, args, n, ret_items);
}

int
store_member_list(struct store *store, const char *acct_id, const char *role,
                  const struct list_params *p, int64_t *ret_total, int64_t *ret_filtered,
                  json_t **ret_items)
{
    _cleanup_free_ char *pattern = NULL;
    int64_t total, filtered;
    int r;

    r = store_query_int(store, "SELECT COUNT(*) FROM memberships WHERE acct_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id)), &total);
    if (r < 0)
        return r;
    if (p->search) {
        r = store_search_pattern(p->search, &pattern);
        if (r < 0)
            return r;
    }
    filtered = total;
    if (role || pattern) {
        r = member_filtered_count(store, acct_id, role, pattern, &filtered);
        if (r < 0)
            return r;
    }
    r = member_list_items(store, acct_id, role, pattern, p, ret_items);
    if (r < 0)
        return r;
    *ret_total = total;
    *ret_filtered = filtered;
    return 0;
}

int
store_member_list_accounts(struct store *store, const char *user_id, json_t **ret_accounts)
{
    return store_query_json_array(store,
                                  "SELECT a.acct_id, a.name, m.role FROM memberships m "
                                  "JOIN accounts a ON a.acct_id = m.acct_id WHERE m.user_id = ? "
                                  "ORDER BY a.created_at, a.acct_id",
                                  STORE_ARGS(SV_TEXT(user_id)), ret_accounts);
}
