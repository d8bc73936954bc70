#include "store-registries.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* The sealed password never leaves the table: only whether there is one. */
#define REGISTRY_COLUMNS                                                                           \
    "SELECT registry_id, url, description, username,"                                              \
    " CASE WHEN password_sealed IS NULL THEN 0 ELSE 1 END AS has_password_bool,"                   \
    " created_at, updated_at"

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

    snprintf(sql, sizeof(sql),
             REGISTRY_COLUMNS " FROM registries WHERE registry_id = ? AND acct_id = ? %s",
             lock && store->ops->for_update ? store->ops->for_update : "");
    return store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(registry_id), SV_TEXT(acct_id)),
                                   ret_registry);
}

int
store_registry_update(struct store *store, const char *acct_id, const char *registry_id,
                      const struct registry_values *values, const char *now)
{
    return store_exec_one(
        store,
        "UPDATE registries SET url = ?, description = ?, username = ?, updated_at = ?"
        " WHERE registry_id = ? AND acct_id = ?",
        STORE_ARGS(SV_TEXT(values->url), SV_TEXT(values->description ? values->description : ""),
                   SV_TEXT(values->username), SV_TEXT(now), SV_TEXT(registry_id),
                   SV_TEXT(acct_id)));
}

int
store_registry_set_password(struct store *store, const char *acct_id, const char *registry_id,
                            const char *password_sealed, const char *now)
{
    return store_exec_one(
        store,
        "UPDATE registries SET password_sealed = ?, updated_at = ?"
        " WHERE registry_id = ? AND acct_id = ?",
        STORE_ARGS(SV_TEXT(password_sealed), SV_TEXT(now), SV_TEXT(registry_id), SV_TEXT(acct_id)));
}

int
store_registry_delete(struct store *store, const char *acct_id, const char *registry_id)
{
    return store_exec_one(store, "DELETE FROM registries WHERE registry_id = ? AND acct_id = ?",
                          STORE_ARGS(SV_TEXT(registry_id), SV_TEXT(acct_id)));
}

const struct list_sort store_registry_sorts[] = {
    { "url", "url" },
    { "created_at", "created_at" },
    { NULL },
};

static const struct list_spec registry_list = {
    .select = REGISTRY_COLUMNS,
    .from = " FROM registries",
    .scope = "acct_id = ?",
    .search = (const char *const[]){ "url", "description", NULL },
    .sorts = store_registry_sorts,
    .tiebreak = "registry_id",
};

int
store_registry_list(struct store *store, const char *acct_id, const struct list_params *p,
                    struct list_page *ret_page)
{
    return store_list(store, &registry_list, acct_id, LIST_NO_FILTERS, p, ret_page);
}

int
store_registry_credentials(struct store *store, const char *acct_id, const char *host,
                           json_t **ret_credentials)
{
    char https[300], host_slash[300], https_slash[300];

    snprintf(https, sizeof(https), "https://%s", host);
    snprintf(host_slash, sizeof(host_slash), "%s/", host);
    snprintf(https_slash, sizeof(https_slash), "https://%s/", host);
    return store_query_json_object(
        store,
        "SELECT registry_id, username, password_sealed FROM registries"
        " WHERE acct_id = ? AND url IN (?, ?, ?, ?) ORDER BY url LIMIT 1",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(host), SV_TEXT(https), SV_TEXT(host_slash),
                   SV_TEXT(https_slash)),
        ret_credentials);
}
