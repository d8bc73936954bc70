#include "store-members.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store-users.h"

#define MEMBER_COLUMNS "SELECT " STORE_USER_COLUMNS ", m.role"
#define MEMBER_FROM " FROM memberships m JOIN users u ON u.user_id = m.user_id"

/* Names sort case-insensitively, the same on every backend whatever its collation. */
const struct list_sort store_member_sorts[] = {
    { "created_at", "u.created_at" },
    { "user_email", "u.user_email" },
    { "first_name", "lower(u.first_name)" },
    { "last_name", "lower(u.last_name)" },
    { NULL },
};

static const struct list_spec member_list = {
    .select = MEMBER_COLUMNS,
    .from = MEMBER_FROM,
    .scope = "m.acct_id = ?",
    .search = (const char *const[]){ "u.user_email", "u.first_name", "u.last_name", NULL },
    .sorts = store_member_sorts,
    .tiebreak = "u.user_id",
};

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
    return store_exec_one(store,
                          "UPDATE memberships SET role = ? WHERE acct_id = ? AND user_id = ?",
                          STORE_ARGS(SV_TEXT(role), SV_TEXT(acct_id), SV_TEXT(user_id)));
}

int
store_member_delete(struct store *store, const char *acct_id, const char *user_id)
{
    return store_exec_one(store, "DELETE FROM memberships WHERE acct_id = ? AND user_id = ?",
                          STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)));
}

int
store_member_get_role(struct store *store, const char *acct_id, const char *user_id,
                      char ret_role[MEMBER_ROLE_MAX])
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    const char *role;
    int r;

    r = store_query_row(store, "SELECT role FROM memberships WHERE acct_id = ? AND user_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)), &rows);
    if (r < 0)
        return r;
    role = store_rows_text(rows, 0);
    if (store_rows_is_null(rows, 0) || strlen(role) >= MEMBER_ROLE_MAX)
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
        store, MEMBER_COLUMNS MEMBER_FROM " WHERE m.acct_id = ? AND m.user_id = ?",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)), ret_member);
}

int
store_member_list(struct store *store, const char *acct_id, const char *role,
                  const struct list_params *p, struct list_page *ret_page)
{
    return store_list(store, &member_list, acct_id, LIST_FILTERS({ "m.role = ?", role }), p,
                      ret_page);
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
