#include "store-accounts.h"

#include <errno.h>
#include <stdio.h>

/* The settings columns fold into the nested "settings" object of the wire (store.h). */
#define ACCOUNT_COLUMNS                                                                            \
    "SELECT a.acct_id, a.name, a.description, a.status, a.created_at, m.role,"                     \
    " a.approvals_required AS \"settings.approvals_required\","                                    \
    " a.allow_simulation AS \"settings.allow_simulation_bool\","                                   \
    " a.certificate_validity AS \"settings.certificate_validity\","                                \
    " a.renewal_threshold AS \"settings.renewal_threshold\","                                      \
    " a.node_refresh_interval AS \"settings.node_refresh_interval\","                              \
    " a.attestation_policy AS \"settings.attestation_policy_json\""
#define ACCOUNT_FROM " FROM accounts a JOIN memberships m ON m.acct_id = a.acct_id"

/* Names sort case-insensitively, the same on every backend whatever its collation. */
const struct list_sort store_account_sorts[] = {
    { "name", "lower(a.name)" },
    { "created_at", "a.created_at" },
    { NULL },
};

static const struct list_spec account_list = {
    .select = ACCOUNT_COLUMNS,
    .from = ACCOUNT_FROM,
    .scope = "m.user_id = ?",
    .search = (const char *const[]){ "a.name", "a.description", NULL },
    .sorts = store_account_sorts,
    .tiebreak = "a.acct_id",
};

int
store_account_insert(struct store *store, const struct account_record *a)
{
    return store_exec(
        store,
        "INSERT INTO accounts (acct_id, name, description, status, "
        "approvals_required, allow_simulation, certificate_validity, "
        "renewal_threshold, node_refresh_interval, attestation_policy, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(a->acct_id), SV_TEXT(a->name), SV_TEXT(a->description),
                   SV_TEXT(ACCOUNT_STATUS_ACTIVE), SV_INT(a->settings.approvals_required),
                   SV_BOOL(a->settings.allow_simulation), SV_INT(a->settings.certificate_validity),
                   SV_INT(a->settings.renewal_threshold), SV_INT(a->settings.node_refresh_interval),
                   SV_TEXT(a->settings.attestation_policy ?: "{}"), SV_TEXT(a->now),
                   SV_TEXT(a->now)),
        NULL);
}

int
store_account_update(struct store *store, const struct account_record *a)
{
    return store_exec_one(
        store,
        "UPDATE accounts SET name = ?, description = ?, approvals_required = ?, "
        "allow_simulation = ?, certificate_validity = ?, renewal_threshold = ?, "
        "node_refresh_interval = ?, attestation_policy = ?, updated_at = ? WHERE acct_id = ?",
        STORE_ARGS(
            SV_TEXT(a->name), SV_TEXT(a->description), SV_INT(a->settings.approvals_required),
            SV_BOOL(a->settings.allow_simulation), SV_INT(a->settings.certificate_validity),
            SV_INT(a->settings.renewal_threshold), SV_INT(a->settings.node_refresh_interval),
            SV_TEXT(a->settings.attestation_policy ?: "{}"), SV_TEXT(a->now), SV_TEXT(a->acct_id)));
}

int
store_account_delete(struct store *store, const char *acct_id)
{
    return store_exec_one(store, "DELETE FROM accounts WHERE acct_id = ?",
                          STORE_ARGS(SV_TEXT(acct_id)));
}

int
store_account_get(struct store *store, const char *acct_id, const char *user_id,
                  json_t **ret_account)
{
    return store_query_json_object(
        store, ACCOUNT_COLUMNS ACCOUNT_FROM " WHERE m.user_id = ? AND a.acct_id = ?",
        STORE_ARGS(SV_TEXT(user_id), SV_TEXT(acct_id)), ret_account);
}

int
store_account_list(struct store *store, const char *user_id, const struct list_params *p,
                   struct list_page *ret_page)
{
    return store_list(store, &account_list, user_id, LIST_NO_FILTERS, p, ret_page);
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
