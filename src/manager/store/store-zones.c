#include "store-zones.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define ZONE_COLUMNS                                                                               \
    "SELECT zone_id, acct_id, name, description, trust_domain, key_type,"                          \
    " root_cert_pem AS certificate, node_refresh_interval, node_renewal_threshold,"                \
    " created_at, updated_at"

int
store_zone_insert(struct store *store, const struct zone_new *z)
{
    return store_exec(
        store,
        "INSERT INTO zones (zone_id, acct_id, name, trust_domain, key_type, root_cert_pem,"
        " issuing_cert_pem, root_key_sealed, issuing_key_sealed, node_refresh_interval,"
        " node_renewal_threshold, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(z->zone_id), SV_TEXT(z->acct_id), SV_TEXT(z->name),
                   SV_TEXT(z->trust_domain), SV_TEXT(z->key_type),
                   SV_TEXT(z->sealed->root_cert_pem), SV_TEXT(z->sealed->issuing_cert_pem),
                   SV_TEXT(z->sealed->root_key_sealed), SV_TEXT(z->sealed->issuing_key_sealed),
                   SV_INT(z->node_refresh_interval), SV_INT(z->node_renewal_threshold),
                   SV_TEXT(z->now), SV_TEXT(z->now)),
        NULL);
}

int
store_zone_get(struct store *store, const char *acct_id, const char *zone_id, json_t **ret_zone)
{
    return store_query_json_object(store,
                                   ZONE_COLUMNS " FROM zones WHERE zone_id = ? AND acct_id = ?",
                                   STORE_ARGS(SV_TEXT(zone_id), SV_TEXT(acct_id)), ret_zone);
}

void
zone_info_release(struct zone_info *info)
{
    free(info->trust_domain);
    free(info->root_cert_pem);
    free(info->issuing_cert_pem);
    *info = (struct zone_info){ .trust_domain = NULL };
}

int
store_zone_info(struct store *store, const char *acct_id, const char *zone_id,
                struct zone_info *ret)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    struct zone_info info = { .trust_domain = NULL };
    int r;

    r = store_query_row(store,
                        "SELECT zone_id, acct_id, trust_domain, root_cert_pem, issuing_cert_pem,"
                        " node_refresh_interval, node_renewal_threshold"
                        " FROM zones WHERE zone_id = ? AND acct_id = ?",
                        STORE_ARGS(SV_TEXT(zone_id), SV_TEXT(acct_id)), &rows);
    if (r < 0)
        return r;
    snprintf(info.zone_id, sizeof(info.zone_id), "%s", store_rows_text(rows, 0));
    snprintf(info.acct_id, sizeof(info.acct_id), "%s", store_rows_text(rows, 1));
    info.trust_domain = strdup(store_rows_text(rows, 2));
    info.root_cert_pem = strdup(store_rows_text(rows, 3));
    info.issuing_cert_pem = strdup(store_rows_text(rows, 4));
    info.node_refresh_interval = store_rows_int(rows, 5);
    info.node_renewal_threshold = store_rows_int(rows, 6);
    if (!info.trust_domain || !info.root_cert_pem || !info.issuing_cert_pem) {
        zone_info_release(&info);
        return -ENOMEM;
    }
    *ret = info;
    return 0;
}

const struct list_sort store_zone_sorts[] = {
    { "name", "lower(name)" },
    { "created_at", "created_at" },
    { NULL },
};

static const struct list_spec zone_list = {
    .select = ZONE_COLUMNS,
    .from = " FROM zones",
    .scope = "acct_id = ?",
    .search = (const char *const[]){ "name", "description", NULL },
    .sorts = store_zone_sorts,
    .tiebreak = "zone_id",
};

int
store_zone_list(struct store *store, const char *acct_id, const struct list_params *p,
                struct list_page *ret_page)
{
    return store_list(store, &zone_list, acct_id, LIST_NO_FILTERS, p, ret_page);
}

int
store_join_token_insert(struct store *store, const struct join_token_new *t)
{
    return store_exec(
        store,
        "INSERT INTO join_tokens (token_hash, zone_id, acct_id, uses_left, uses_total,"
        " expires_ms, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(t->token_hash), SV_TEXT(t->zone_id), SV_TEXT(t->acct_id),
                   SV_INT(t->uses), SV_INT(t->uses), SV_INT(t->expires_ms), SV_TEXT(t->created_by),
                   SV_TEXT(t->now)),
        NULL);
}

int
store_join_token_consume(struct store *store, const char *token_hash, int64_t now_ms,
                         struct join_token_use *ret)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    struct join_token_use use;
    int64_t changes = 0;
    int r;

    /* The row lock the UPDATE takes makes a concurrent consumer wait and re-check uses_left
     * after this transaction ends (PostgreSQL READ COMMITTED; SQLite has one writer anyway). */
    r = store_exec(store,
                   "UPDATE join_tokens SET uses_left = uses_left - 1"
                   " WHERE token_hash = ? AND uses_left > 0 AND expires_ms > ?",
                   STORE_ARGS(SV_TEXT(token_hash), SV_INT(now_ms)), &changes);
    if (r < 0)
        return r;
    r = store_query_row(store,
                        "SELECT zone_id, acct_id, uses_total, uses_left, expires_ms"
                        " FROM join_tokens WHERE token_hash = ?",
                        STORE_ARGS(SV_TEXT(token_hash)), &rows);
    if (r < 0)
        return r; /* -ENOENT: unknown */
    snprintf(use.zone_id, sizeof(use.zone_id), "%s", store_rows_text(rows, 0));
    snprintf(use.acct_id, sizeof(use.acct_id), "%s", store_rows_text(rows, 1));
    use.uses_total = store_rows_int(rows, 2);
    *ret = use;
    if (changes == 1)
        return 0;
    if (store_rows_int(rows, 4) <= now_ms)
        return -ETIME;
    return -EUSERS;
}
