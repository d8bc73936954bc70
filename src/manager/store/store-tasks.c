/* Approval tasks in the store: portable SQL over tasks and task_approvals (and the few columns
 * of apps and builds a task's outcome touches). The SELECT list names columns "group.key" so
 * the nested wire shape of docs/api.md is visible in the SQL; nest_dotted() folds them. */
#include "store-tasks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TASK_SQL_MAX 2048
#define TASK_ARGS_MAX 8

static const char task_select[] =
    "SELECT t.task_id, t.task_type, t.entity_id, t.entity_name,"
    " t.requester_id AS \"requester_info.user_id\","
    " t.requester_name AS \"requester_info.user_name\","
    " t.status AS \"status.status\", t.reason AS \"status.reason\","
    " a.approvals_required, '[]' AS approvals_json," /* filled by task_from_row(), in place */
    " t.domains_added AS domains_added_json, t.domains_removed AS domains_removed_json,"
    " t.created_at, t.updated_at"
    " FROM tasks t JOIN accounts a ON a.acct_id = t.acct_id";

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

/* Turns a flat task row into the wire object: nested groups plus approvals[]. */
static int
task_from_row(struct store *store, json_t *flat, json_t **ret_task)
{
    json_t *task, *approvals;
    int r;

    r = store_query_json_array(
        store,
        "SELECT user_id, user_name, status, reason, created_at AS time"
        " FROM task_approvals WHERE task_id = ?"
        " ORDER BY created_at, user_id",
        STORE_ARGS(SV_TEXT(json_string_value(json_object_get(flat, "task_id")))), &approvals);
    if (r < 0)
        return r;
    r = nest_dotted(flat, &task);
    if (r < 0) {
        json_decref(approvals);
        return r;
    }
    if (json_object_set_new(task, "approvals", approvals) < 0) {
        json_decref(task);
        return -ENOMEM;
    }
    *ret_task = task;
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
task_where(const char *acct_id, const struct task_filter *filter, const char *pattern, char *sql,
           size_t size, struct store_value *args, size_t *n_args)
{
    int r;

    args[(*n_args)++] = SV_TEXT(acct_id);
    r = sql_append(sql, size, " WHERE t.acct_id = ?");
    if (r < 0 || !filter)
        return r;
    if (filter->status) {
        args[(*n_args)++] = SV_TEXT(filter->status);
        r = sql_append(sql, size, " AND t.status = ?");
    }
    if (r >= 0 && filter->task_type) {
        args[(*n_args)++] = SV_TEXT(filter->task_type);
        r = sql_append(sql, size, " AND t.task_type = ?");
    }
    if (r >= 0 && filter->entity_id) {
        args[(*n_args)++] = SV_TEXT(filter->entity_id);
        r = sql_append(sql, size, " AND t.entity_id = ?");
    }
    if (r >= 0 && pattern) {
        args[(*n_args)++] = SV_TEXT(pattern);
        r = sql_append(sql, size, " AND lower(t.entity_name) LIKE lower(?) ESCAPE '\\'");
    }
    return r;
}

int
store_task_insert(struct store *store, const struct task_new *t)
{
    return store_exec(
        store,
        "INSERT INTO tasks (task_id, acct_id, task_type, entity_id, entity_name, requester_id,"
        " requester_name, status, reason, domains_added, domains_removed, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(t->task_id), SV_TEXT(t->acct_id), SV_TEXT(t->task_type),
                   SV_TEXT(t->entity_id), SV_TEXT(t->entity_name), SV_TEXT(t->requester_id),
                   SV_TEXT(t->requester_name), SV_TEXT(TASK_STATUS_INPROGRESS),
                   SV_TEXT(t->domains_added), SV_TEXT(t->domains_removed), SV_TEXT(t->now),
                   SV_TEXT(t->now)),
        NULL);
}

int
store_task_get(struct store *store, const char *acct_id, const char *task_id, json_t **ret_task)
{
    char sql[TASK_SQL_MAX];
    json_t *flat;
    int r;

    snprintf(sql, sizeof(sql), "%s WHERE t.acct_id = ? AND t.task_id = ?", task_select);
    r = store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(task_id)), &flat);
    if (r < 0)
        return r;
    r = task_from_row(store, flat, ret_task);
    json_decref(flat);
    return r;
}

int
store_task_count(struct store *store, const char *acct_id, const struct task_filter *filter,
                 int64_t *ret_count)
{
    _cleanup_free_ char *pattern = NULL;
    struct store_value args[TASK_ARGS_MAX];
    char sql[TASK_SQL_MAX] = "SELECT COUNT(*) FROM tasks t";
    size_t n = 0;
    int r;

    if (filter && filter->search && !(pattern = like_pattern(filter->search)))
        return -ENOMEM;
    r = task_where(acct_id, filter, pattern, sql, sizeof(sql), args, &n);
    if (r < 0)
        return r;
    return store_query_int(store, sql, args, n, ret_count);
}

/* Replaces every flat row of items by its wire object. */
static int
tasks_from_rows(struct store *store, json_t *items)
{
    size_t i;
    json_t *flat;

    json_array_foreach(items, i, flat) {
        json_t *task;
        int r = task_from_row(store, flat, &task);
        if (r < 0)
            return r;
        if (json_array_set_new(items, i, task) < 0)
            return -ENOMEM;
    }
    return 0;
}

int
store_task_list(struct store *store, const char *acct_id, const struct task_filter *filter,
                json_t **ret_items)
{
    static const char order_asc[] = " ORDER BY t.created_at ASC, t.task_id LIMIT ? OFFSET ?";
    static const char order_desc[] = " ORDER BY t.created_at DESC, t.task_id LIMIT ? OFFSET ?";
    _cleanup_free_ char *pattern = NULL;
    struct store_value args[TASK_ARGS_MAX];
    char sql[TASK_SQL_MAX];
    json_t *items;
    size_t n = 0;
    int r;

    snprintf(sql, sizeof(sql), "%s", task_select);
    if (filter->search && !(pattern = like_pattern(filter->search)))
        return -ENOMEM;
    r = task_where(acct_id, filter, pattern, sql, sizeof(sql), args, &n);
    if (r >= 0)
        r = sql_append(sql, sizeof(sql), filter->sort_desc ? order_desc : order_asc);
    if (r < 0)
        return r;
    args[n++] = SV_INT(filter->limit);
    args[n++] = SV_INT(filter->offset);
    r = store_query_json_array(store, sql, args, n, &items);
    if (r < 0)
        return r;
    r = tasks_from_rows(store, items);
    if (r < 0) {
        json_decref(items);
        return r;
    }
    *ret_items = items;
    return 0;
}

int
store_task_lock(struct store *store, const char *acct_id, const char *task_id, json_t **ret_task)
{
    char sql[TASK_SQL_MAX];

    snprintf(sql, sizeof(sql),
             "SELECT task_id, task_type, entity_id, entity_name, status,"
             " domains_added AS domains_added_json FROM tasks"
             " WHERE acct_id = ? AND task_id = ?%s",
             store->ops->for_update);
    return store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(task_id)),
                                   ret_task);
}

int
store_task_list_pending(struct store *store, const char *acct_id, const char *entity_id,
                        json_t **ret_tasks)
{
    return store_query_json_array(
        store,
        "SELECT task_id, task_type, entity_name FROM tasks"
        " WHERE acct_id = ? AND entity_id = ? AND status = ? ORDER BY created_at, task_id",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(entity_id), SV_TEXT(TASK_STATUS_INPROGRESS)),
        ret_tasks);
}

int
store_task_finish(struct store *store, const char *acct_id, const char *task_id, const char *status,
                  const char *reason, const char *now)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store,
                   "UPDATE tasks SET status = ?, reason = ?, updated_at = ?"
                   " WHERE acct_id = ? AND task_id = ? AND status = ?",
                   STORE_ARGS(SV_TEXT(status), SV_TEXT(reason), SV_TEXT(now), SV_TEXT(acct_id),
                              SV_TEXT(task_id), SV_TEXT(TASK_STATUS_INPROGRESS)),
                   &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_task_vote_insert(struct store *store, const struct task_vote *v)
{
    return store_exec(store,
                      "INSERT INTO task_approvals (task_id, user_id, user_name, status, reason,"
                      " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(v->task_id), SV_TEXT(v->user_id), SV_TEXT(v->user_name),
                                 SV_TEXT(v->status), SV_TEXT(v->reason), SV_TEXT(v->now)),
                      NULL);
}

int
store_task_count_approvals(struct store *store, const char *acct_id, const char *task_id,
                           int64_t *ret_count)
{
    /* The primary key (task_id, user_id) makes each row a distinct user; the join drops the
     * votes of users who have since left the account or lost the right to approve. */
    return store_query_int(
        store,
        "SELECT COUNT(*) FROM task_approvals v"
        " JOIN memberships m ON m.user_id = v.user_id AND m.acct_id = ?"
        " WHERE v.task_id = ? AND v.status = ? AND m.role IN ('WRITER', 'MANAGER')",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(task_id), SV_TEXT(VOTE_APPROVED)), ret_count);
}

int
store_task_approvals_required(struct store *store, const char *acct_id, int64_t *ret_count)
{
    return store_query_int(store, "SELECT approvals_required FROM accounts WHERE acct_id = ?",
                           STORE_ARGS(SV_TEXT(acct_id)), ret_count);
}

int
store_task_clear_entity_pending(struct store *store, const char *acct_id, const char *task_type,
                                const char *entity_id, const char *task_id)
{
    const char *sql;

    if (strcmp(task_type, "DOMAIN_WHITELIST") == 0)
        sql = "UPDATE apps SET pending_task_id = NULL"
              " WHERE acct_id = ? AND app_id = ? AND pending_task_id = ?";
    else if (strcmp(task_type, "BUILD_WHITELIST") == 0)
        sql = "UPDATE builds SET pending_task_id = NULL"
              " WHERE acct_id = ? AND build_id = ? AND pending_task_id = ?";
    else
        return 0;
    return store_exec(store, sql,
                      STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(entity_id), SV_TEXT(task_id)), NULL);
}

int
store_task_app_domains_get(struct store *store, const char *acct_id, const char *app_id,
                           json_t **ret_domains)
{
    return store_query_json_object(store,
                                   "SELECT allowed_domains AS allowed_domains_json,"
                                   " whitelisted_domains AS whitelisted_domains_json"
                                   " FROM apps WHERE acct_id = ? AND app_id = ?",
                                   STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(app_id)), ret_domains);
}

int
store_task_app_whitelist_set(struct store *store, const char *acct_id, const char *app_id,
                             const char *whitelisted_json, const char *now)
{
    return store_exec(
        store,
        "UPDATE apps SET whitelisted_domains = ?, updated_at = ?"
        " WHERE acct_id = ? AND app_id = ?",
        STORE_ARGS(SV_TEXT(whitelisted_json), SV_TEXT(now), SV_TEXT(acct_id), SV_TEXT(app_id)),
        NULL);
}
