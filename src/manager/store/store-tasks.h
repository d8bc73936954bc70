/* Approval tasks and their votes in the store. Every function is scoped to one account: a task
 * of another account is missing (-ENOENT). Objects returned are in the wire shape of
 * docs/api.md and owned by the caller. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

#define TASK_STATUS_INPROGRESS "INPROGRESS"
#define TASK_STATUS_SUCCESS "SUCCESS"
#define TASK_STATUS_DENIED "DENIED"
#define TASK_STATUS_FAILED "FAILED"

#define VOTE_APPROVED "APPROVED"
#define VOTE_DENIED "DENIED"

/* A new task row; strings are borrowed. domains_* are JSON array texts. */
struct task_new {
    const char *task_id;
    const char *acct_id;
    const char *task_type;
    const char *entity_id;
    const char *entity_name;
    const char *requester_id;
    const char *requester_name;
    const char *domains_added;
    const char *domains_removed;
    const char *now;
};

/* The sort keys of GET /v1/tasks. */
extern const struct list_sort store_task_sorts[];

/* A vote; strings are borrowed, reason may be NULL. */
struct task_vote {
    const char *task_id;
    const char *user_id;
    const char *user_name;
    const char *status; /* VOTE_APPROVED or VOTE_DENIED */
    const char *reason;
    const char *now;
};

int store_task_insert(struct store *store, const struct task_new *task);
/* The task object of docs/api.md, with its approvals; -ENOENT when not in the account. */
int store_task_get(struct store *store, const char *acct_id, const char *task_id,
                   json_t **ret_task);
/* GET /v1/tasks: the page p asks for of the account's tasks with their approvals, only those in
 * status, of task_type and of entity_id unless they are NULL; all_search looks in entity_name. */
int store_task_list(struct store *store, const char *acct_id, const char *status,
                    const char *task_type, const char *entity_id, const struct list_params *p,
                    struct list_page *ret_page);

/* Reads {task_id, task_type, entity_id, entity_name, status, domains_added} and, where the
 * backend needs it, locks the row until commit so concurrent votes on one task serialise. */
int store_task_lock(struct store *store, const char *acct_id, const char *task_id,
                    json_t **ret_task);
/* The INPROGRESS tasks of an entity: array of {task_id, task_type, entity_name}. */
int store_task_list_pending(struct store *store, const char *acct_id, const char *entity_id,
                            json_t **ret_tasks);
/* Ends an INPROGRESS task with status and reason (may be NULL); -ENOENT when it was not
 * INPROGRESS in the account. */
int store_task_finish(struct store *store, const char *acct_id, const char *task_id,
                      const char *status, const char *reason, const char *now);

/* Records a vote; -EEXIST when the user already voted on the task. */
int store_task_vote_insert(struct store *store, const struct task_vote *vote);
/* Approvals of the task by users who are still WRITER or MANAGER of the account. */
int store_task_count_approvals(struct store *store, const char *acct_id, const char *task_id,
                               int64_t *ret_count);
/* The account's current quorum. */
int store_task_approvals_required(struct store *store, const char *acct_id, int64_t *ret_count);

/* Clears pending_task_id of the task's entity (an app for DOMAIN_WHITELIST, a build for
 * BUILD_WHITELIST) if it still points at task_id; other task types have no such link. */
int store_task_clear_entity_pending(struct store *store, const char *acct_id, const char *task_type,
                                    const char *entity_id, const char *task_id);
/* {allowed_domains, whitelisted_domains} (arrays) of an app of the account. */
int store_task_app_domains_get(struct store *store, const char *acct_id, const char *app_id,
                               json_t **ret_domains);
/* Replaces an app's whitelisted_domains (JSON array text) and bumps updated_at. */
int store_task_app_whitelist_set(struct store *store, const char *acct_id, const char *app_id,
                                 const char *whitelisted_json, const char *now);
