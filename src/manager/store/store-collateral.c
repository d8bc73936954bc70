#include "store-collateral.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "crypto-util.h"

#define COLLATERAL_COLUMNS                                                                         \
    "SELECT kind, item_key AS \"key\", data_b64, issuer_chain, sha256, issued, next_update,"       \
    " not_after, source, imported_at FROM collateral"

#define COLLATERAL_SQL_MAX 512

int
store_collateral_get(struct store *store, const char *kind, const char *key, bool lock,
                     json_t **ret_row)
{
    char sql[COLLATERAL_SQL_MAX];

    snprintf(sql, sizeof(sql), COLLATERAL_COLUMNS " WHERE kind = ? AND item_key = ? %s",
             lock && store->ops->for_update ? store->ops->for_update : "");
    return store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(kind), SV_TEXT(key)), ret_row);
}

int
store_collateral_first(struct store *store, const char *kind, const char *prefix, json_t **ret_row)
{
    /* substr() rather than LIKE: keys hold no wildcards, and both backends count from 1. */
    return store_query_json_object(
        store,
        COLLATERAL_COLUMNS " WHERE kind = ? AND"
                           " substr(item_key, 1, ?) = ?"
                           " ORDER BY item_key LIMIT 1",
        STORE_ARGS(SV_TEXT(kind), SV_INT(strlen(prefix)), SV_TEXT(prefix)), ret_row);
}

int
store_collateral_put(struct store *store, const struct collateral_row *row, bool replace)
{
    struct store_value next = row->next_update ? SV_INT(row->next_update) : SV_NULL;

    if (replace)
        return store_exec_one(
            store,
            "UPDATE collateral SET data_b64 = ?, issuer_chain = ?, sha256 = ?, issued = ?,"
            " next_update = ?, not_after = ?, source = ?, imported_at = ?"
            " WHERE kind = ? AND item_key = ?",
            STORE_ARGS(SV_TEXT(row->data_b64), SV_TEXT(row->issuer_chain), SV_TEXT(row->sha256),
                       SV_INT(row->issued), next, SV_INT(row->not_after), SV_TEXT(row->source),
                       SV_TEXT(row->imported_at), SV_TEXT(row->kind), SV_TEXT(row->key)));
    return store_exec(store,
                      "INSERT INTO collateral (kind, item_key, data_b64, issuer_chain, sha256,"
                      " issued, next_update, not_after, source, imported_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(row->kind), SV_TEXT(row->key), SV_TEXT(row->data_b64),
                                 SV_TEXT(row->issuer_chain), SV_TEXT(row->sha256),
                                 SV_INT(row->issued), next, SV_INT(row->not_after),
                                 SV_TEXT(row->source), SV_TEXT(row->imported_at)),
                      NULL);
}

static int
append_key(struct store_rows *rows, void *userdata)
{
    json_t *keys = userdata;

    return json_array_append_new(keys, json_string(store_rows_text(rows, 0))) < 0 ? -ENOMEM : 0;
}

int
store_collateral_keys(struct store *store, const char *kind, json_t **ret_keys)
{
    _cleanup_(json_decrefp) json_t *keys = json_array();
    int r;

    if (!keys)
        return -ENOMEM;
    r = store_query_each(store, "SELECT item_key FROM collateral WHERE kind = ? ORDER BY item_key",
                         STORE_ARGS(SV_TEXT(kind)), append_key, keys);
    if (r < 0)
        return r;
    *ret_keys = TAKE_PTR(keys);
    return 0;
}

const struct list_sort store_collateral_sorts[] = {
    { "kind", "kind" },
    { "key", "item_key" },
    { "not_after", "not_after" },
    { "imported_at", "imported_at" },
    { NULL },
};

static int
set_time(json_t *item, const char *name, struct store_rows *rows, size_t col)
{
    char text[32];

    if (store_rows_is_null(rows, col))
        return json_object_set_new(item, name, json_null());
    time_format_rfc3339(store_rows_int(rows, col) * 1000, text);
    return json_object_set_new(item, name, json_string(text));
}

/* The status of one item, its times as RFC 3339 and its flags as of now. */
static int
status_row_to_json(struct store_rows *rows, json_t **ret_item)
{
    _cleanup_(json_decrefp) json_t *item = json_object();
    int64_t now = time_now_unix(), not_after = store_rows_int(rows, 4);
    int r = item ? 0 : -ENOMEM;

    if (r >= 0)
        r = json_object_set_new(item, "kind", json_string(store_rows_text(rows, 0)));
    if (r >= 0)
        r = json_object_set_new(item, "key", json_string(store_rows_text(rows, 1)));
    if (r >= 0)
        r = set_time(item, "issued", rows, 2);
    if (r >= 0)
        r = set_time(item, "next_update", rows, 3);
    if (r >= 0)
        r = set_time(item, "not_after", rows, 4);
    if (r >= 0)
        r = json_object_set_new(item, "expired", json_boolean(now > not_after));
    if (r >= 0)
        r = json_object_set_new(
            item, "expiring",
            json_boolean(now <= not_after && not_after - now <= COLLATERAL_EXPIRING_SECONDS));
    if (r >= 0)
        r = json_object_set_new(item, "source", json_string(store_rows_text(rows, 5)));
    if (r >= 0)
        r = json_object_set_new(item, "imported_at", json_string(store_rows_text(rows, 6)));
    if (r >= 0)
        r = json_object_set_new(item, "sha256", json_string(store_rows_text(rows, 7)));
    if (r < 0)
        return -ENOMEM;
    *ret_item = TAKE_PTR(item);
    return 0;
}

static const struct list_spec collateral_list = {
    .select = "SELECT kind, item_key, issued, next_update, not_after, source, imported_at, sha256",
    .from = " FROM collateral",
    /* Collateral is the deployment's: the scope is every row (no kind is empty). */
    .scope = "kind <> ?",
    .search = (const char *const[]){ "kind", "item_key", NULL },
    .sorts = store_collateral_sorts,
    .tiebreak = "kind || '/' || item_key",
    .row_to_json = status_row_to_json,
};

int
store_collateral_list(struct store *store, const char *kind, const char *source,
                      const struct list_params *p, struct list_page *ret_page)
{
    return store_list(store, &collateral_list, "",
                      LIST_FILTERS({ "kind = ?", kind }, { "source = ?", source }), p, ret_page);
}
