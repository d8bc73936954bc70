#include "store-users.h"

#include <errno.h>

int
store_user_count(struct store *store, int64_t *ret_count)
{
    return store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, ret_count);
}

int
store_user_insert(struct store *store, const struct user_record *user)
{
    return store_exec(store,
                      "INSERT INTO users (user_id, user_email, password_hash, first_name, "
                      "last_name, status, is_admin, created_at, last_logged_in_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                      STORE_ARGS(SV_TEXT(user->user_id), SV_TEXT(user->user_email),
                                 SV_TEXT(user->password_hash), SV_TEXT(user->first_name),
                                 SV_TEXT(user->last_name), SV_TEXT(USER_STATUS_ACTIVE),
                                 SV_BOOL(user->is_admin), SV_TEXT(user->created_at)),
                      NULL);
}

int
store_user_get(struct store *store, const char *user_id, json_t **ret_user)
{
    return store_query_json_object(store,
                                   "SELECT " STORE_USER_COLUMNS " FROM users u WHERE u.user_id = ?",
                                   STORE_ARGS(SV_TEXT(user_id)), ret_user);
}

int
store_user_get_by_email(struct store *store, const char *user_email, json_t **ret_user)
{
    return store_query_json_object(
        store, "SELECT " STORE_USER_COLUMNS " FROM users u WHERE u.user_email = ?",
        STORE_ARGS(SV_TEXT(user_email)), ret_user);
}

int
store_user_get_credentials(struct store *store, const char *user_email, json_t **ret_credentials)
{
    return store_query_json_object(store,
                                   "SELECT user_id, user_email, status, password_hash FROM users "
                                   "WHERE user_email = ?",
                                   STORE_ARGS(SV_TEXT(user_email)), ret_credentials);
}

int
store_user_set_logged_in(struct store *store, const char *user_id, const char *now)
{
    return store_exec(store, "UPDATE users SET last_logged_in_at = ? WHERE user_id = ?",
                      STORE_ARGS(SV_TEXT(now), SV_TEXT(user_id)), NULL);
}

int
store_auth_failure_count(struct store *store, const char *user_email, int64_t since,
                         int64_t *ret_count)
{
    return store_query_int(store,
                           "SELECT COUNT(*) FROM auth_failures "
                           "WHERE user_email = ? AND failed_at > ?",
                           STORE_ARGS(SV_TEXT(user_email), SV_INT(since)), ret_count);
}

int
store_auth_failure_insert(struct store *store, const char *user_email, int64_t now)
{
    return store_exec(store, "INSERT INTO auth_failures (user_email, failed_at) VALUES (?, ?)",
                      STORE_ARGS(SV_TEXT(user_email), SV_INT(now)), NULL);
}

int
store_session_insert(struct store *store, const char *token_hash, const char *user_id,
                     const char *acct_id, const char *created_at, int64_t expires_at)
{
    return store_exec(store,
                      "INSERT INTO sessions (token_hash, user_id, acct_id, created_at, expires_at) "
                      "VALUES (?, ?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(token_hash), SV_TEXT(user_id), SV_TEXT(acct_id),
                                 SV_TEXT(created_at), SV_INT(expires_at)),
                      NULL);
}

int
store_session_delete(struct store *store, const char *token_hash)
{
    return store_exec(store, "DELETE FROM sessions WHERE token_hash = ?",
                      STORE_ARGS(SV_TEXT(token_hash)), NULL);
}

int
store_session_select_account(struct store *store, const char *token_hash, const char *acct_id)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "UPDATE sessions SET acct_id = ? WHERE token_hash = ?",
                   STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(token_hash)), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_session_clear_account(struct store *store, const char *acct_id, const char *user_id)
{
    if (user_id)
        return store_exec(store,
                          "UPDATE sessions SET acct_id = NULL WHERE acct_id = ? AND user_id = ?",
                          STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(user_id)), NULL);
    return store_exec(store, "UPDATE sessions SET acct_id = NULL WHERE acct_id = ?",
                      STORE_ARGS(SV_TEXT(acct_id)), NULL);
}
