/* Approval tasks in the store: portable SQL over tasks and task_approvals (and the few columns
 * of apps and builds a task's outcome touches). The SELECT list names columns "group.key" for
 * the nested wire shape of docs/api.md (store_row_to_json() folds them). */
#include "store-tasks.h"

#include <errno.h>
#include <string.h>

#define TASK_SQL_MAX 512

#define TASK_COLUMNS                                                                               \
    "SELECT t.task_id, t.task_type, t.entity_id, t.entity_name,"                                   \
    " t.requester_id AS \"requester_info.user_id\","                                               \
    " t.requester_name AS \"requester_info.user_name\","                                           \
    " t.status AS \"status.status\", t.reason AS \"status.reason\","                               \
    " a.approvals_required, '[]' AS approvals_json," /* filled by task_add_approvals() */          \
    " t.domains_added AS domains_added_json, t.domains_removed AS domains_removed_json,"           \
    " t.created_at, t.updated_at"
#define TASK_FROM " FROM tasks t JOIN accounts a ON a.acct_id = t.acct_id"

const struct list_sort store_task_sorts[] = {
    { "created_at", "t.created_at" },
    { NULL },
};

static const struct list_spec task_list = {
    .select = TASK_COLUMNS,
    .from = TASK_FROM,
    .scope = "t.acct_id = ?",
    .search = (const char *const[]){ "t.entity_name", NULL },
    .sorts = store_task_sorts,
    .tiebreak = "t.task_id",
};

/* Sets the approvals[] of a task object, in place. */
static int
task_add_approvals(struct store *store, json_t *task)
{
    json_t *approvals;
    int r;

    r = store_query_json_array(
        store,
        "SELECT user_id, user_name, status, reason, created_at AS time"
        " FROM task_approvals WHERE task_id = ?"
        " ORDER BY created_at, user_id",
        STORE_ARGS(SV_TEXT(json_string_value(json_object_get(task, "task_id")))), &approvals);
    if (r < 0)
        return r;
    return json_object_set_new(task, "approvals", approvals) < 0 ? -ENOMEM : 0;
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
    _cleanup_(json_decrefp) json_t *task = NULL;
    int r;

    r = store_query_json_object(store,
                                TASK_COLUMNS TASK_FROM " WHERE t.acct_id = ? AND t.task_id = ?",
                                STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(task_id)), &task);
    if (r < 0)
        return r;
    r = task_add_approvals(store, task);
    if (r < 0)
        return r;
    *ret_task = TAKE_PTR(task);
    return 0;
}

int
store_task_list(struct store *store, const char *acct_id, const char *status, const char *task_type,
                const char *entity_id, const struct list_params *p, struct list_page *ret_page)
{
    struct list_page page;
    json_t *task;
    size_t i;
    int r;

    r = store_list(store, &task_list, acct_id,
                   LIST_FILTERS({ "t.status = ?", status }, { "t.task_type = ?", task_type },
                                { "t.entity_id = ?", entity_id }),
                   p, &page);
    if (r < 0)
        return r;
    json_array_foreach(page.items, i, task) {
        r = task_add_approvals(store, task);
        if (r < 0) {
            json_decref(page.items);
            return r;
        }
    }
    *ret_page = page;
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
    return store_exec_one(store,
                          "UPDATE tasks SET status = ?, reason = ?, updated_at = ?"
                          " WHERE acct_id = ? AND task_id = ? AND status = ?",
                          STORE_ARGS(SV_TEXT(status), SV_TEXT(reason), SV_TEXT(now),
                                     SV_TEXT(acct_id), SV_TEXT(task_id),
                                     SV_TEXT(TASK_STATUS_INPROGRESS)));
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
