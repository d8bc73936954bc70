/* The pipeline's answers (issue.h): 200 with a task_status, so that the agent passes them through
 * unchanged. Every DENIED, FAILED and PENDING_WHITELIST answer leaves an audit event, which
 * commits with the request (the handler returns 0). SUCCESS is answered by issue-sign.c. */
#include "issue-internal.h"

#include <errno.h>
#include <stdio.h>

#include "crypto-util.h"

int
issue_reply_status(struct api_request *r, const char *task_id, const char *task_status,
                   const char *message)
{
    json_t *body = json_pack("{s:s, s:s}", "task_id", task_id, "task_status", task_status);

    if (!body || (message && json_object_set_new(body, "message", json_string(message)) < 0)) {
        json_decref(body);
        return -ENOMEM;
    }
    return api_reply(r, 200, body);
}

/* DENIED naming the check; the audit event commits with the request (return 0). A denial has
 * no task: its task_id is fresh and answers NOT_FOUND in result/. */
int
issue_deny(struct issue_state *s, const char *check, const char *message)
{
    char id[37];
    int err;

    err = api_audit(s->r, "CERTIFICATE", "WARNING", "node", s->r->node_id,
                    "Certificate refused (%s): %s", check, message);
    if (err >= 0)
        err = uuid_random(id);
    if (err < 0)
        return err;
    return issue_reply_status(s->r, id, ISSUE_STATUS_DENIED, message);
}

/* FAILED: the request was fine and allowed but could not be served (the CA refused the
 * profile). Audited like a denial. */
int
issue_fail(struct issue_state *s, const char *message)
{
    char id[37];
    int err;

    err = api_audit(s->r, "CERTIFICATE", "ERROR", "node", s->r->node_id,
                    "Certificate issuance failed: %s", message);
    if (err >= 0)
        err = uuid_random(id);
    if (err < 0)
        return err;
    return issue_reply_status(s->r, id, ISSUE_STATUS_FAILED, message);
}

int
issue_pending(struct issue_state *s, const char *task_id, const char *message)
{
    char full[POLICY_MESSAGE_MAX + 64];
    int err;

    snprintf(full, sizeof(full), "%s (task %s)", message, task_id);
    err = api_audit(s->r, "CERTIFICATE", "WARNING", "task", task_id,
                    "Certificate pending approval: %s", full);
    if (err < 0)
        return err;
    return issue_reply_status(s->r, task_id, ISSUE_STATUS_PENDING, full);
}
