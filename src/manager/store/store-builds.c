/* Builds in the store: portable SQL over the builds table (joined with apps for the app's name).
 * The SELECT list names columns "group.key" for the nested wire shape of docs/api.md
 * (store_row_to_json() folds them). */
#include "store-builds.h"

#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "crypto-util.h"
#include "store-nodes.h"

/* The columns before deployment_status. A conversion's build holds its own id as mrenclave until
 * it has a measurement (store-conversions.h): that reads as null. */
#define BUILD_COLUMNS                                                                              \
    "SELECT b.build_id, b.app_id, a.name AS app_name,"                                             \
    " b.docker_image_name AS \"docker_info.docker_image_name\","                                   \
    " b.docker_version AS \"docker_info.docker_version\","                                         \
    " b.docker_image_sha AS \"docker_info.docker_image_sha\","                                     \
    " b.docker_image_size AS \"docker_info.docker_image_size\","                                   \
    " b.platform,"                                                                                 \
    " CASE WHEN b.mrenclave = b.build_id THEN NULL ELSE b.mrenclave END"                           \
    " AS \"enclave_info.mrenclave\","                                                              \
    " CASE WHEN b.mrenclave = b.build_id THEN NULL ELSE b.mrsigner END"                            \
    " AS \"enclave_info.mrsigner\","                                                               \
    " b.isvprodid AS \"enclave_info.isvprodid\", b.isvsvn AS \"enclave_info.isvsvn\","             \
    " b.debug AS \"enclave_info.debug_bool\", b.tdx_identity AS tdx_json,"                         \
    " b.snp_identity AS snp_json,"                                                                 \
    " b.status AS \"status.status\", b.status_updated_at AS \"status.status_updated_at\","         \
    " b.progress AS \"conversion.progress\", b.conversion_log AS \"conversion.log\","              \
    " b.pending_task_id"
#define BUILD_FROM " FROM builds b JOIN apps a ON a.app_id = b.app_id"

/* The RUNNING instances at now_ms (the first '?') as the deployments list computes them
 * (store-instances.c, store-nodes.h): not stopped, on a node not deactivated, seen within
 * NODE_MISSED_CHECKINS refresh intervals of the node's zone. */
#define RUNNING_INSTANCES_FROM                                                                     \
    " FROM app_instances i JOIN nodes n ON n.node_id = i.node_id"                                  \
    " JOIN zones z ON z.zone_id = n.zone_id"                                                       \
    " WHERE i.stopped = 0 AND n.status <> 'DEACTIVATED'"                                           \
    " AND i.last_seen_ms >= CAST(? AS BIGINT) - " SEEN_WINDOW_SQL

/* One build: its count in a correlated subquery (the app_instances_by_build index). */
#define BUILD_ONE                                                                                  \
    BUILD_COLUMNS ", (SELECT COUNT(*)" RUNNING_INSTANCES_FROM " AND i.build_id = b.build_id)"      \
                  " AS \"deployment_status.count\", b.created_at" BUILD_FROM                       \
                  " WHERE b.acct_id = ? AND b.build_id = ?"

const struct list_sort store_build_sorts[] = {
    { "created_at", "b.created_at" },
    { NULL },
};

/* The list query binds nothing before its WHERE clause (store-list.h), so a page gets its counts
 * from one more query (build_list_counts). */
static const struct list_spec build_list = {
    .select = BUILD_COLUMNS ", 0 AS \"deployment_status.count\", b.created_at",
    .from = BUILD_FROM,
    .scope = "b.acct_id = ?",
    .search = (const char *const[]){ "b.docker_image_name", "b.mrenclave", NULL },
    .sorts = store_build_sorts,
    .tiebreak = "b.build_id",
};

int
store_build_insert(struct store *store, const struct build_new *b)
{
    return store_exec(
        store,
        "INSERT INTO builds (build_id, acct_id, app_id, docker_image_name, docker_version,"
        " docker_image_sha, docker_image_size, platform, mrenclave, mrsigner, isvprodid, isvsvn,"
        " debug, tdx_identity, snp_identity, status, status_updated_at, progress, conversion_log,"
        " pending_task_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 100, '', NULL, ?)",
        STORE_ARGS(SV_TEXT(b->build_id), SV_TEXT(b->acct_id), SV_TEXT(b->app_id),
                   SV_TEXT(b->docker_image_name), SV_TEXT(b->docker_version),
                   SV_TEXT(b->docker_image_sha),
                   b->docker_image_size >= 0 ? SV_INT(b->docker_image_size) : SV_NULL,
                   SV_TEXT(b->platform), SV_TEXT(b->mrenclave), SV_TEXT(b->mrsigner),
                   SV_INT(b->isvprodid), SV_INT(b->isvsvn), SV_BOOL(b->debug),
                   b->tdx_identity ? SV_TEXT(b->tdx_identity) : SV_NULL,
                   b->snp_identity ? SV_TEXT(b->snp_identity) : SV_NULL, SV_TEXT(b->status),
                   SV_TEXT(b->now), SV_TEXT(b->now)),
        NULL);
}

int
store_build_get(struct store *store, const char *acct_id, const char *build_id, json_t **ret_build)
{
    return store_query_json_object(
        store, BUILD_ONE,
        STORE_ARGS(SV_INT(time_now_unix_ms()), SV_TEXT(acct_id), SV_TEXT(build_id)), ret_build);
}

/* Sets deployment_status.count of the page's build with this row's build_id. */
static int
set_count(struct store_rows *rows, void *userdata)
{
    json_t *items = userdata, *item;
    const char *build_id = store_rows_text(rows, 0);
    size_t i;

    json_array_foreach(items, i, item)
        if (strcmp(json_string_value(json_object_get(item, "build_id")) ?: "", build_id) == 0)
            return json_object_set_new(json_object_get(item, "deployment_status"), "count",
                                       json_integer(store_rows_int(rows, 1))) < 0
                       ? -ENOMEM
                       : 0;
    return 0;
}

/* The counts of the builds of a page: one grouped query over the account's running instances
 * (found through its builds), whatever the page's size. */
static int
build_list_counts(struct store *store, const char *acct_id, json_t *items)
{
    if (json_array_size(items) == 0)
        return 0;
    return store_query_each(store,
                            "SELECT i.build_id, COUNT(*)" RUNNING_INSTANCES_FROM
                            " AND i.build_id IN (SELECT build_id FROM builds WHERE acct_id = ?)"
                            " GROUP BY i.build_id",
                            STORE_ARGS(SV_INT(time_now_unix_ms()), SV_TEXT(acct_id)), set_count,
                            items);
}

int
store_build_list(struct store *store, const char *acct_id, const char *app_id, const char *status,
                 const struct list_params *p, struct list_page *ret_page)
{
    struct list_page page;
    int r;

    r = store_list(store, &build_list, acct_id,
                   LIST_FILTERS({ "b.app_id = ?", app_id }, { "b.status = ?", status }), p, &page);
    if (r < 0)
        return r;
    r = build_list_counts(store, acct_id, page.items);
    if (r < 0) {
        json_decref(page.items);
        return r;
    }
    *ret_page = page;
    return 0;
}

int
store_build_delete(struct store *store, const char *acct_id, const char *build_id)
{
    return store_exec_one(store, "DELETE FROM builds WHERE acct_id = ? AND build_id = ?",
                          STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(build_id)));
}

int
store_build_set_pending_task(struct store *store, const char *acct_id, const char *build_id,
                             const char *task_id)
{
    return store_exec(store,
                      "UPDATE builds SET pending_task_id = ? WHERE acct_id = ? AND build_id = ?",
                      STORE_ARGS(SV_TEXT(task_id), SV_TEXT(acct_id), SV_TEXT(build_id)), NULL);
}

int
store_build_set_status(struct store *store, const char *acct_id, const char *build_id,
                       const char *status, const char *now)
{
    return store_exec_one(
        store,
        "UPDATE builds SET status = ?, status_updated_at = ? WHERE acct_id = ? AND build_id = ?",
        STORE_ARGS(SV_TEXT(status), SV_TEXT(now), SV_TEXT(acct_id), SV_TEXT(build_id)));
}

int
store_build_app_get(struct store *store, const char *acct_id, const char *app_id, json_t **ret_app)
{
    return store_query_json_object(
        store, "SELECT name, isvprodid, isvsvn FROM apps WHERE acct_id = ? AND app_id = ?",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(app_id)), ret_app);
}
