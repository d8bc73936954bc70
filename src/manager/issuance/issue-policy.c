/* Step 5 (SPEC 6.3): the policy's verdict (policy.h) on the facts the pipeline read, and the
 * approval task a pending verdict names: the build's BUILD_WHITELIST or the app's
 * DOMAIN_WHITELIST task, reused when one is in progress, raised otherwise. */
#include "issue-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store-apps.h"
#include "store-builds.h"
#include "store-tasks.h"
#include "tasks.h"

/* Tasks are requested by the caller: for a node, say which (task_create takes the user's). */
static void
requester_is_node(struct api_request *r)
{
    snprintf(r->user_name, sizeof(r->user_name), "node %s", r->node_name);
}

/* The build's INPROGRESS BUILD_WHITELIST task, raised if there is none. */
static int
build_task(struct issue_state *s, char task_id[37])
{
    const char *build_id = member_text(s->build, "build_id");
    json_auto_t *tasks = NULL;
    json_t *task;
    size_t i;
    int err;

    err = store_task_list_pending(s->r->store, s->r->acct_id, build_id, &tasks);
    if (err < 0)
        return err;
    json_array_foreach(tasks, i, task)
        if (strcmp(member_text(task, "task_type") ?: "", TASK_BUILD_WHITELIST) == 0) {
            snprintf(task_id, 37, "%s", member_text(task, "task_id"));
            return 0;
        }
    requester_is_node(s->r);
    err = task_create(s->r, TASK_BUILD_WHITELIST, build_id, member_text(s->app, "name"), NULL, NULL,
                      task_id);
    if (err >= 0)
        err = store_build_set_pending_task(s->r->store, s->r->acct_id, build_id, task_id);
    return err;
}

/* The app's INPROGRESS domain task, or a new one asking for missing. */
static int
domain_task(struct issue_state *s, json_t *missing, char task_id[37])
{
    const char *app_id = member_text(s->app, "app_id");
    const char *pending_id = member_text(s->app, "pending_task_id");
    json_auto_t *task = NULL;
    int err;

    if (pending_id) {
        err = store_task_get(s->r->store, s->r->acct_id, pending_id, &task);
        if (err < 0 && err != -ENOENT)
            return err;
        if (err >= 0 &&
            strcmp(json_string_value(json_object_get(json_object_get(task, "status"), "status"))
                       ?: "",
                   TASK_STATUS_INPROGRESS) == 0) {
            snprintf(task_id, 37, "%s", pending_id);
            return 0;
        }
    }
    requester_is_node(s->r);
    err = task_create(s->r, TASK_DOMAIN_WHITELIST, app_id, member_text(s->app, "name"), missing,
                      NULL, task_id);
    if (err >= 0)
        err = store_app_set_pending_task(s->r->store, s->r->acct_id, app_id, task_id);
    return err;
}

/* The policy's verdict on the facts s holds (policy.h). */
int
issue_policy_verdict(const struct issue_state *s, struct policy_result *ret)
{
    struct policy_build build = { 0 };
    struct hw_policy hw;
    int err = issue_hw_policy(s, &hw);

    if (err < 0)
        return err;
    if (s->build)
        build = (struct policy_build){
            .build_id = member_text(s->build, "build_id"),
            .status = member_text(s->build, "status"),
            .platform = member_text(s->build, "platform"),
            .debug = json_is_true(json_object_get(s->build, "debug")),
        };
    return policy_decide(
        &(struct policy_input){
            .claims = &s->claims,
            .node_status = member_text(s->node, "status"),
            .allow_simulation = json_is_true(json_object_get(s->account, "allow_simulation")),
            .allow_debug = hw.policy.allow_debug,
            /* The prepare step judged hardware evidence by the policy (issue_check_hw_policy). */
            .hw_policy_checked = s->claims.platform != ATTEST_PLATFORM_SIM,
            .build = s->build ? &build : NULL,
            .dns_names = s->names,
            .whitelisted_domains = json_object_get(s->app, "whitelisted_domains"),
        },
        ret);
}

/* Step 5: SPEC 6.3. 1 when the request was denied or is pending. */
int
issue_apply_policy(struct issue_state *s)
{
    _cleanup_(policy_result_release) struct policy_result result = { 0 };
    char task_id[37];
    int err;

    err = issue_policy_verdict(s, &result);
    if (err < 0)
        return err;
    switch (result.check) {
    case POLICY_OK:
        return 0;
    case POLICY_BUILD_PENDING:
        err = build_task(s, task_id);
        break;
    case POLICY_DOMAINS_PENDING:
        err = domain_task(s, result.missing_domains, task_id);
        break;
    default:
        return issue_deny(s, policy_check_name(result.check), result.message) ?: 1;
    }
    if (err < 0)
        return err;
    return issue_pending(s, task_id, result.message) ?: 1;
}
