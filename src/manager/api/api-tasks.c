/* /v1/tasks: approval tasks and their votes (docs/api.md "Tasks", docs/approvals.md), plus
 * task_create() and task_fail_pending() through which apps and builds raise and end tasks.
 *
 * A vote runs in the request's write transaction: the task row is read (and locked where the
 * backend needs it), the vote is inserted under the primary key (task_id, user_id) so one user
 * can never count twice even when votes arrive on several workers at once, and the quorum is
 * counted from the table, against the account's approvals_required as it is now. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bodies.h"
#include "crypto-util.h"
#include "domains.h"
#include "json-member.h"
#include "routes.h"
#include "store-builds.h"
#include "store-tasks.h"
#include "tasks.h"

#define TASK_REASON_MAX 1024

static const char *const vote_values[] = { VOTE_APPROVED, VOTE_DENIED, NULL };
static const char *const task_statuses[] = { TASK_STATUS_INPROGRESS, TASK_STATUS_SUCCESS,
                                             TASK_STATUS_DENIED, TASK_STATUS_FAILED, NULL };
static const char *const task_types[] = { TASK_DOMAIN_WHITELIST, TASK_BUILD_WHITELIST,
                                          "NODE_ATTESTATION", "CERTIFICATE_ISSUANCE", NULL };

const struct field_spec task_update_fields[] = {
    { .name = "status", .type = FIELD_ENUM, .required = true, .values = vote_values },
    { .name = "reason",
      .type = FIELD_STRING,
      .min = 0,
      .max = TASK_REASON_MAX,
      .check_string = check_no_control },
    { .name = NULL },
};

/* A JSON array of strings as compact text; NULL means the empty array. */
static int
domains_dump(const json_t *domains, char **ret_text)
{
    char *text;

    if (domains && !json_is_array(domains))
        return -EINVAL;
    text = domains ? json_dumps(domains, JSON_COMPACT) : strdup("[]");
    if (!text)
        return -ENOMEM;
    *ret_text = text;
    return 0;
}

int
task_create(struct api_request *r, const char *task_type, const char *entity_id,
            const char *entity_name, json_t *domains_added, json_t *domains_removed,
            char ret_task_id[37])
{
    _cleanup_free_ char *added = NULL, *removed = NULL;
    char task_id[37];
    int err;

    err = domains_dump(domains_added, &added);
    if (err >= 0)
        err = domains_dump(domains_removed, &removed);
    if (err >= 0)
        err = uuid_random(task_id);
    if (err < 0)
        return err;
    err = store_task_insert(r->store, &(struct task_new){
                                          .task_id = task_id,
                                          .acct_id = r->acct_id,
                                          .task_type = task_type,
                                          .entity_id = entity_id,
                                          .entity_name = entity_name ? entity_name : "",
                                          .requester_id = r->user_id,
                                          .requester_name = r->user_name,
                                          .domains_added = added,
                                          .domains_removed = removed,
                                          .now = api_now(r),
                                      });
    if (err < 0)
        return err;
    err = api_audit(r, "ADMIN", "INFO", "task", task_id, "Requested approval: %s of '%s' (%s)",
                    task_type, entity_name ? entity_name : "", entity_id);
    if (err < 0)
        return err;
    memcpy(ret_task_id, task_id, sizeof(task_id));
    return 0;
}

int
task_fail_pending(struct api_request *r, const char *entity_id, const char *reason)
{
    json_auto_t *tasks = NULL;
    json_t *task;
    size_t i;
    int err;

    err = store_task_list_pending(r->store, r->acct_id, entity_id, &tasks);
    if (err < 0)
        return err;
    json_array_foreach(tasks, i, task) {
        const char *task_id = member_text(task, "task_id");

        err = store_task_finish(r->store, r->acct_id, task_id, TASK_STATUS_FAILED, reason,
                                api_now(r));
        if (err < 0)
            return err;
        err = api_audit(r, "ADMIN", "INFO", "task", task_id, "Task %s of '%s' failed: %s",
                        member_text(task, "task_type"), member_text(task, "entity_name"), reason);
        if (err < 0)
            return err;
    }
    return 0;
}

/* ---- votes ---- */

/* whitelisted_domains ∪ (domains_added ∩ allowed_domains): a domain the app no longer asks for
 * is never whitelisted by an old approval. */
static int
whitelist_domains(struct api_request *r, const json_t *task)
{
    const char *app_id = member_text(task, "entity_id");
    const json_t *added = json_object_get(task, "domains_added");
    json_auto_t *app = NULL, *not_allowed = NULL, *approved = NULL, *merged = NULL;
    _cleanup_free_ char *text = NULL;
    int err;

    err = store_task_app_domains_get(r->store, r->acct_id, app_id, &app);
    if (err == -ENOENT)
        return 0; /* the app went away; nothing to whitelist */
    if (err >= 0)
        err = domains_difference(added, json_object_get(app, "allowed_domains"), &not_allowed);
    if (err >= 0)
        err = domains_difference(added, not_allowed, &approved);
    if (err >= 0)
        err = domains_union(json_object_get(app, "whitelisted_domains"), approved, &merged);
    if (err < 0)
        return err;
    text = json_dumps(merged, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    return store_task_app_whitelist_set(r->store, r->acct_id, app_id, text, api_now(r));
}

/* Ends the task with status and applies what that means to its entity. */
static int
task_complete(struct api_request *r, const json_t *task, const char *status, const char *reason)
{
    const char *task_id = member_text(task, "task_id");
    const char *task_type = member_text(task, "task_type");
    const char *entity_id = member_text(task, "entity_id");
    bool approved = strcmp(status, TASK_STATUS_SUCCESS) == 0;
    int err;

    err = store_task_finish(r->store, r->acct_id, task_id, status, reason, api_now(r));
    if (err >= 0 && strcmp(task_type, TASK_BUILD_WHITELIST) == 0) {
        err = store_build_set_status(r->store, r->acct_id, entity_id,
                                     approved ? BUILD_STATUS_WHITELISTED : BUILD_STATUS_REJECTED,
                                     api_now(r));
        if (err == -ENOENT)
            err = 0; /* the build went away meanwhile */
    } else if (err >= 0 && approved && strcmp(task_type, TASK_DOMAIN_WHITELIST) == 0)
        err = whitelist_domains(r, task);
    if (err >= 0)
        err = store_task_clear_entity_pending(r->store, r->acct_id, task_type, entity_id, task_id);
    if (err < 0)
        return err;
    return api_audit(r, "USER_APPROVAL", "INFO", "task", task_id, "Task %s of '%s' %s", task_type,
                     member_text(task, "entity_name"),
                     approved ? "succeeded: approved by quorum" : "denied");
}

/* Audits the vote just recorded, then ends the task if it decided it. */
static int
task_tally(struct api_request *r, const json_t *task, const char *vote, const char *reason)
{
    const char *task_id = member_text(task, "task_id");
    bool denied = strcmp(vote, VOTE_DENIED) == 0;
    int64_t approvals = 0, required = 0;
    int err;

    err = store_task_count_approvals(r->store, r->acct_id, task_id, &approvals);
    if (err >= 0)
        err = store_task_approvals_required(r->store, r->acct_id, &required);
    if (err >= 0)
        err =
            api_audit(r, "USER_APPROVAL", "INFO", "task", task_id,
                      "%s %s task %s of '%s' (%lld of %lld approvals)", r->user_name,
                      denied ? "denied" : "approved", member_text(task, "task_type"),
                      member_text(task, "entity_name"), (long long)approvals, (long long)required);
    if (err < 0)
        return err;
    if (denied)
        return task_complete(r, task, TASK_STATUS_DENIED, reason);
    if (approvals >= required)
        return task_complete(r, task, TASK_STATUS_SUCCESS, NULL);
    return 0;
}

static int
reply_task(struct api_request *r, int status, const char *task_id)
{
    json_t *task = NULL;
    int err;

    err = store_task_get(r->store, r->acct_id, task_id, &task);
    return err < 0 ? api_store_error(r, err, "task") : api_reply(r, status, task);
}

static int
tasks_vote(struct api_request *r)
{
    json_auto_t *task = NULL;
    struct task_vote vote;
    int err;

    err = api_check_body(r, task_update_fields, BODY_CREATE);
    if (err >= 0)
        err = api_path_uuid(r, 0, "task");
    if (err >= 0)
        err = store_task_lock(r->store, r->acct_id, r->params[0], &task);
    if (err < 0)
        return api_store_error(r, err, "task");
    if (strcmp(member_text(task, "status"), TASK_STATUS_INPROGRESS) != 0)
        return api_error(r, 409, "INVALID_STATE", "task is %s: it takes no more votes",
                         member_text(task, "status"));
    vote = (struct task_vote){
        .task_id = r->params[0],
        .user_id = r->user_id,
        .user_name = r->user_name,
        .status = member_text(r->body, "status"),
        .reason = member_text(r->body, "reason"),
        .now = api_now(r),
    };
    err = store_task_vote_insert(r->store, &vote);
    if (err == -EEXIST)
        return api_error(r, 409, "CONFLICT", "you have already voted on this task");
    if (err >= 0)
        err = task_tally(r, task, vote.status, vote.reason);
    if (err < 0)
        return err;
    return reply_task(r, 200, r->params[0]);
}

/* ---- reads ---- */

static int
tasks_get(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "task");

    return err < 0 ? err : reply_task(r, 200, r->params[0]);
}

static int
tasks_list(struct api_request *r)
{
    const char *status, *task_type;
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_task_sorts, "created_at", true, &p);
    if (err >= 0)
        err = api_query_enum(r, "status", task_statuses, &status);
    if (err >= 0)
        err = api_query_enum(r, "task_type", task_types, &task_type);
    if (err >= 0)
        err = store_task_list(r->store, r->acct_id, status, task_type, api_query(r, "entity_id"),
                              &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

const struct route api_tasks_routes[] = {
    { EVHTTP_REQ_GET, "/v1/tasks", AUTH_ACCOUNT, ROLE_READER, false, tasks_list, "tasks_list" },
    { EVHTTP_REQ_GET, "/v1/tasks/{}", AUTH_ACCOUNT, ROLE_READER, false, tasks_get, "tasks_get" },
    { EVHTTP_REQ_PATCH, "/v1/tasks/{}", AUTH_ACCOUNT, ROLE_WRITER, true, tasks_vote, "tasks_vote" },
    { .pattern = NULL },
};
