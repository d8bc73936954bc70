#include "store-accounts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define ACCOUNT_COLUMNS                                                                            \
    "a.acct_id, a.name, a.description, a.status, a.created_at, m.role, a.approvals_required, "     \
    "a.allow_simulation AS allow_simulation_bool, a.certificate_validity, a.renewal_threshold, "   \
    "a.node_refresh_interval"

#define ACCOUNT_SEARCH                                                                             \
    " AND (lower(a.name) LIKE ? ESCAPE '\\' OR lower(a.description) LIKE ? ESCAPE '\\')"

static const char *const account_setting_keys[] = {
    "approvals_required", "allow_simulation",      "certificate_validity",
    "renewal_threshold",  "node_refresh_interval",
};

int
store_account_insert(struct store *store, const struct account_record *a)
{
    return store_exec(
        store,
        "INSERT INTO accounts (acct_id, name, description, status, "
        "approvals_required, allow_simulation, certificate_validity, "
        "renewal_threshold, node_refresh_interval, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(a->acct_id), SV_TEXT(a->name), SV_TEXT(a->description),
                   SV_TEXT(ACCOUNT_STATUS_ACTIVE), SV_INT(a->settings.approvals_required),
                   SV_BOOL(a->settings.allow_simulation), SV_INT(a->settings.certificate_validity),
                   SV_INT(a->settings.renewal_threshold), SV_INT(a->settings.node_refresh_interval),
                   SV_TEXT(a->now), SV_TEXT(a->now)),
        NULL);
}

int
store_account_update(struct store *store, const struct account_record *a)
{
    int64_t changes = 0;
    int r;

    r = store_exec(
        store,
        "UPDATE accounts SET name = ?, description = ?, approvals_required = ?, "
        "allow_simulation = ?, certificate_validity = ?, renewal_threshold = ?, "
        "node_refresh_interval = ?, updated_at = ? WHERE acct_id = ?",
        STORE_ARGS(SV_TEXT(a->name), SV_TEXT(a->description),
                   SV_INT(a->settings.approvals_required), SV_BOOL(a->settings.allow_simulation),
                   SV_INT(a->settings.certificate_validity), SV_INT(a->settings.renewal_threshold),
                   SV_INT(a->settings.node_refresh_interval), SV_TEXT(a->now), SV_TEXT(a->acct_id)),
        &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_account_delete(struct store *store, const char *acct_id)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "DELETE FROM accounts WHERE acct_id = ?", STORE_ARGS(SV_TEXT(acct_id)),
                   &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

/* Moves the flat settings columns of a row into the nested "settings" object of the wire. */
static int
account_nest_settings(json_t *account)
{
    json_t *settings = json_object();

    if (!settings)
        return -ENOMEM;
    for (size_t i = 0; i < ELEMENTSOF(account_setting_keys); i++) {
        json_t *value = json_object_get(account, account_setting_keys[i]);
        if (!value || json_object_set(settings, account_setting_keys[i], value) < 0) {
            json_decref(settings);
            return -ENOMEM;
        }
        json_object_del(account, account_setting_keys[i]);
    }
    return json_object_set_new(account, "settings", settings) < 0 ? -ENOMEM : 0;
}

int
store_account_get(struct store *store, const char *acct_id, const char *user_id,
                  json_t **ret_account)
{
    json_t *account = NULL;
    int r;

    r = store_query_json_object(store,
                                "SELECT " ACCOUNT_COLUMNS " FROM accounts a "
                                "JOIN memberships m ON m.acct_id = a.acct_id AND m.user_id = ? "
                                "WHERE a.acct_id = ?",
                                STORE_ARGS(SV_TEXT(user_id), SV_TEXT(acct_id)), &account);
    if (r < 0)
        return r;
    r = account_nest_settings(account);
    if (r < 0) {
        json_decref(account);
        return r;
    }
    *ret_account = account;
    return 0;
}

int
store_search_pattern(const char *search, char **ret_pattern)
{
    size_t len = strlen(search), n = 0;
    char *pattern = malloc(2 * len + 3);

    if (!pattern)
        return -ENOMEM;
    pattern[n++] = '%';
    for (const char *c = search; *c; c++) {
        if (*c == '\\' || *c == '%' || *c == '_')
            pattern[n++] = '\\';
        pattern[n++] = (char)tolower((unsigned char)*c);
    }
    pattern[n++] = '%';
    pattern[n] = '\0';
    *ret_pattern = pattern;
    return 0;
}

static const char *
account_sort_column(const char *key)
{
    /* Names sort case-insensitively, the same on every backend whatever its collation. */
    if (strcmp(key, "name") == 0)
        return "lower(a.name)";
    if (strcmp(key, "created_at") == 0)
        return "a.created_at";
    return NULL;
}

static int
account_list_items(struct store *store, const char *user_id, const struct list_params *p,
                   const char *pattern, json_t **ret_items)
{
    const char *column = account_sort_column(p->sort_key);
    _cleanup_free_ char *sql = NULL;
    struct store_value args[5];
    size_t n = 0;
    json_t *items = NULL;
    int r;

    if (!column)
        return -EINVAL;
    /* Only fixed fragments go into the SQL; the user's text is always a bound argument. */
    if (asprintf(&sql,
                 "SELECT " ACCOUNT_COLUMNS " FROM accounts a JOIN memberships m "
                 "ON m.acct_id = a.acct_id WHERE m.user_id = ?%s ORDER BY %s %s, a.acct_id "
                 "LIMIT ? OFFSET ?",
                 pattern ? ACCOUNT_SEARCH : "", column, p->sort_desc ? "DESC" : "ASC") < 0)
        return -ENOMEM;
    args[n++] = SV_TEXT(user_id);
    if (pattern) {
        args[n++] = SV_TEXT(pattern);
        args[n++] = SV_TEXT(pattern);
    }
    args[n++] = SV_INT(p->limit);
    args[n++] = SV_INT(p->offset);
    r = store_query_json_array(store, sql, args, n, &items);
    if (r < 0)
        return r;
    for (size_t i = 0; i < json_array_size(items) && r >= 0; i++)
        r = account_nest_settings(json_array_get(items, i));
    if (r < 0) {
        json_decref(items);
        return r;
    }
    *ret_items = items;
    return 0;
}

int
store_account_list(struct store *store, const char *user_id, const struct list_params *p,
                   int64_t *ret_total, int64_t *ret_filtered, json_t **ret_items)
{
    _cleanup_free_ char *pattern = NULL;
    int64_t total, filtered;
    int r;

    r = store_query_int(store, "SELECT COUNT(*) FROM memberships WHERE user_id = ?",
                        STORE_ARGS(SV_TEXT(user_id)), &total);
    if (r < 0)
        return r;
    filtered = total;
    if (p->search) {
        r = store_search_pattern(p->search, &pattern);
        if (r < 0)
            return r;
        r = store_query_int(store,
                            "SELECT COUNT(*) FROM accounts a JOIN memberships m "
                            "ON m.acct_id = a.acct_id WHERE m.user_id = ?" ACCOUNT_SEARCH,
                            STORE_ARGS(SV_TEXT(user_id), SV_TEXT(pattern), SV_TEXT(pattern)),
                            &filtered);
        if (r < 0)
            return r;
    }
    r = account_list_items(store, user_id, p, pattern, ret_items);
    if (r < 0)
        return r;
    *ret_total = total;
    *ret_filtered = filtered;
    return 0;
}

int
store_account_lock(struct store *store, const char *acct_id)
{
    char sql[128];
    int64_t one;

    snprintf(sql, sizeof(sql), "SELECT 1 FROM accounts WHERE acct_id = ? %s",
             store->ops->for_update);
    return store_query_int(store, sql, STORE_ARGS(SV_TEXT(acct_id)), &one);
}
