/* Builds in the store: portable SQL over the builds table (joined with apps for the app's name).
 * The SELECT list names columns "group.key" so the nested wire shape of docs/api.md is visible
 * in the SQL; build_from_row() folds those into nested objects. */
#include "store-builds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUILD_SQL_MAX 2048
#define BUILD_ARGS_MAX 8

static const char build_select[] =
    "SELECT b.build_id, b.app_id, a.name AS app_name,"
    " b.docker_image_name AS \"docker_info.docker_image_name\","
    " b.docker_version AS \"docker_info.docker_version\","
    " b.docker_image_sha AS \"docker_info.docker_image_sha\","
    " b.docker_image_size AS \"docker_info.docker_image_size\","
    " b.platform,"
    " b.mrenclave AS \"enclave_info.mrenclave\", b.mrsigner AS \"enclave_info.mrsigner\","
    " b.isvprodid AS \"enclave_info.isvprodid\", b.isvsvn AS \"enclave_info.isvsvn\","
    " b.debug AS \"enclave_info.debug_bool\","
    " b.status AS \"status.status\", b.status_updated_at AS \"status.status_updated_at\","
    " b.progress AS \"conversion.progress\", b.conversion_log AS \"conversion.log\","
    " b.pending_task_id, 0 AS \"deployment_status.count\", b.created_at"
    " FROM builds b JOIN apps a ON a.app_id = b.app_id";

/* Returns a new object where every "group.key" member of flat became group{key}. */
static int
nest_dotted(json_t *flat, json_t **ret_object)
{
    json_t *object = json_object(), *value;
    const char *key;

    if (!object)
        return -ENOMEM;
    json_object_foreach(flat, key, value) {
        const char *dot = strchr(key, '.');
        json_t *into = object;
        char group[64];

        if (dot) {
            if ((size_t)(dot - key) >= sizeof(group))
                goto fail;
            memcpy(group, key, dot - key);
            group[dot - key] = '\0';
            into = json_object_get(object, group);
            if (!into && json_object_set_new(object, group, json_object()) < 0)
                goto fail;
            into = json_object_get(object, group);
        }
        if (!into || json_object_set(into, dot ? dot + 1 : key, value) < 0)
            goto fail;
    }
    *ret_object = object;
    return 0;
fail:
    json_decref(object);
    return -ENOMEM;
}

/* Replaces every item of a flat array by its nested form. */
static int
nest_items(json_t *items)
{
    size_t i;
    json_t *flat;

    json_array_foreach(items, i, flat) {
        json_t *nested;
        int r = nest_dotted(flat, &nested);
        if (r < 0)
            return r;
        if (json_array_set_new(items, i, nested) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
sql_append(char *sql, size_t size, const char *fragment)
{
    size_t len = strlen(sql);
    int n = snprintf(sql + len, size - len, "%s", fragment);

    return (n < 0 || (size_t)n >= size - len) ? -ENOBUFS : 0;
}

/* '%' + search with LIKE's wildcards escaped (ESCAPE '\') + '%'. */
static char *
like_pattern(const char *search)
{
    char *pattern = malloc(strlen(search) * 2 + 3), *p = pattern;

    if (!pattern)
        return NULL;
    *p++ = '%';
    for (const char *s = search; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '%';
    *p = '\0';
    return pattern;
}

/* Appends the WHERE clause of filter (fixed fragments only) and collects its arguments. */
static int
build_where(const char *acct_id, const struct build_filter *filter, const char *pattern, char *sql,
            size_t size, struct store_value *args, size_t *n_args)
{
    int r;

    args[(*n_args)++] = SV_TEXT(acct_id);
    r = sql_append(sql, size, " WHERE b.acct_id = ?");
    if (r < 0 || !filter)
        return r;
    if (filter->app_id) {
        args[(*n_args)++] = SV_TEXT(filter->app_id);
        r = sql_append(sql, size, " AND b.app_id = ?");
    }
    if (r >= 0 && filter->status) {
        args[(*n_args)++] = SV_TEXT(filter->status);
        r = sql_append(sql, size, " AND b.status = ?");
    }
    if (r >= 0 && pattern) {
        args[(*n_args)++] = SV_TEXT(pattern);
        args[(*n_args)++] = SV_TEXT(pattern);
        r = sql_append(sql, size,
                       " AND (lower(COALESCE(b.docker_image_name, '')) LIKE lower(?) ESCAPE '\\'"
                       " OR lower(b.mrenclave) LIKE lower(?) ESCAPE '\\')");
    }
    return r;
}

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
    char sql[BUILD_SQL_MAX];
    json_t *flat;
    int r;

    snprintf(sql, sizeof(sql), "%s WHERE b.acct_id = ? AND b.build_id = ?", build_select);
    r = store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(build_id)), &flat);
    if (r < 0)
        return r;
    r = nest_dotted(flat, ret_build);
    json_decref(flat);
    return r;
}

int
store_build_count(struct store *store, const char *acct_id, const struct build_filter *filter,
                  int64_t *ret_count)
{
    _cleanup_free_ char *pattern = NULL;
    struct store_value args[BUILD_ARGS_MAX];
    char sql[BUILD_SQL_MAX] = "SELECT COUNT(*) FROM builds b";
    size_t n = 0;
    int r;

    if (filter && filter->search && !(pattern = like_pattern(filter->search)))
        return -ENOMEM;
    r = build_where(acct_id, filter, pattern, sql, sizeof(sql), args, &n);
    if (r < 0)
        return r;
    return store_query_int(store, sql, args, n, ret_count);
}

int
store_build_list(struct store *store, const char *acct_id, const struct build_filter *filter,
                 json_t **ret_items)
{
    static const char order_asc[] = " ORDER BY b.created_at ASC, b.build_id LIMIT ? OFFSET ?";
    static const char order_desc[] = " ORDER BY b.created_at DESC, b.build_id LIMIT ? OFFSET ?";
    _cleanup_free_ char *pattern = NULL;
    struct store_value args[BUILD_ARGS_MAX];
    char sql[BUILD_SQL_MAX];
    json_t *items;
    size_t n = 0;
    int r;

    snprintf(sql, sizeof(sql), "%s", build_select);
    if (filter->search && !(pattern = like_pattern(filter->search)))
        return -ENOMEM;
    r = build_where(acct_id, filter, pattern, sql, sizeof(sql), args, &n);
    if (r >= 0)
        r = sql_append(sql, sizeof(sql), filter->sort_desc ? order_desc : order_asc);
    if (r < 0)
        return r;
    args[n++] = SV_INT(filter->limit);
    args[n++] = SV_INT(filter->offset);
    r = store_query_json_array(store, sql, args, n, &items);
    if (r < 0)
        return r;
    r = nest_items(items);
    if (r < 0) {
        json_decref(items);
        return r;
    }
    *ret_items = items;
    return 0;
}

int
store_build_delete(struct store *store, const char *acct_id, const char *build_id)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "DELETE FROM builds WHERE acct_id = ? AND build_id = ?",
                   STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(build_id)), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
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
    int64_t changes = 0;
    int r;

    r = store_exec(store,
                   "UPDATE builds SET status = ?, status_updated_at = ?"
                   " WHERE acct_id = ? AND build_id = ?",
                   STORE_ARGS(SV_TEXT(status), SV_TEXT(now), SV_TEXT(acct_id), SV_TEXT(build_id)),
                   &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_build_app_get(struct store *store, const char *acct_id, const char *app_id, json_t **ret_app)
{
    return store_query_json_object(
        store, "SELECT name, isvprodid, isvsvn FROM apps WHERE acct_id = ? AND app_id = ?",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(app_id)), ret_app);
}
