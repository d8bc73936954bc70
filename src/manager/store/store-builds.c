/* Builds in the store: portable SQL over the builds table (joined with apps for the app's name).
 * The SELECT list names columns "group.key" for the nested wire shape of docs/api.md
 * (store_row_to_json() folds them). */
#include "store-builds.h"

#include <errno.h>

#define BUILD_COLUMNS                                                                              \
    "SELECT b.build_id, b.app_id, a.name AS app_name,"                                             \
    " b.docker_image_name AS \"docker_info.docker_image_name\","                                   \
    " b.docker_version AS \"docker_info.docker_version\","                                         \
    " b.docker_image_sha AS \"docker_info.docker_image_sha\","                                     \
    " b.docker_image_size AS \"docker_info.docker_image_size\","                                   \
    " b.platform,"                                                                                 \
    " b.mrenclave AS \"enclave_info.mrenclave\", b.mrsigner AS \"enclave_info.mrsigner\","         \
    " b.isvprodid AS \"enclave_info.isvprodid\", b.isvsvn AS \"enclave_info.isvsvn\","             \
    " b.debug AS \"enclave_info.debug_bool\","                                                     \
    " b.status AS \"status.status\", b.status_updated_at AS \"status.status_updated_at\","         \
    " b.progress AS \"conversion.progress\", b.conversion_log AS \"conversion.log\","              \
    " b.pending_task_id, 0 AS \"deployment_status.count\", b.created_at"
#define BUILD_FROM " FROM builds b JOIN apps a ON a.app_id = b.app_id"

const struct list_sort store_build_sorts[] = {
    { "created_at", "b.created_at" },
    { NULL },
};

static const struct list_spec build_list = {
    .select = BUILD_COLUMNS,
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
        " debug, status, status_updated_at, progress, conversion_log, pending_task_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 100, '', NULL, ?)",
        STORE_ARGS(SV_TEXT(b->build_id), SV_TEXT(b->acct_id), SV_TEXT(b->app_id),
                   SV_TEXT(b->docker_image_name), SV_TEXT(b->docker_version),
                   SV_TEXT(b->docker_image_sha),
                   b->docker_image_size >= 0 ? SV_INT(b->docker_image_size) : SV_NULL,
                   SV_TEXT(b->platform), SV_TEXT(b->mrenclave), SV_TEXT(b->mrsigner),
                   SV_INT(b->isvprodid), SV_INT(b->isvsvn), SV_BOOL(b->debug), SV_TEXT(b->status),
                   SV_TEXT(b->now), SV_TEXT(b->now)),
        NULL);
}

int
store_build_get(struct store *store, const char *acct_id, const char *build_id, json_t **ret_build)
{
    return store_query_json_object(
        store, BUILD_COLUMNS BUILD_FROM " WHERE b.acct_id = ? AND b.build_id = ?",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(build_id)), ret_build);
}

int
store_build_list(struct store *store, const char *acct_id, const char *app_id, const char *status,
                 const struct list_params *p, struct list_page *ret_page)
{
    return store_list(store, &build_list, acct_id,
                      LIST_FILTERS({ "b.app_id = ?", app_id }, { "b.status = ?", status }), p,
                      ret_page);
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
