/* The issuance pipeline (issue.h, docs/issuance.md). One request runs in one write transaction
 * under its account's scope lock: the checks read what approvals committed last, and the
 * certificate, the instance, the consumed nonce and the audit event commit together or not at
 * all. A denial commits only its audit event.
 *
 * What needs no store state but costs CPU (CSR signature, nonce MAC, evidence signature, the
 * binding) runs before, in the route's prepare step (issue_prepare), so that requests of one
 * account do not wait for each other's signature checks while holding its lock.
 *
 * This file holds the entry points and the order of the steps; the steps live in issue-*.c
 * (issue-internal.h). */
#include "issue.h"
#include "issue-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto-util.h"
#include "metrics.h"
#include "store-instances.h"
#include "store-tasks.h"
#include "tasks.h"

static void
issue_state_release(struct issue_state *s)
{
    EVP_PKEY_free(s->csr_key);
    OPENSSL_free(s->csr_spki);
    free(s->spki_hex);
    json_decref(s->node);
    json_decref(s->account);
    json_decref(s->build);
    json_decref(s->app);
    json_decref(s->names);
}

/* ---- before the transaction: the cryptography ---- */

void
issue_prepare_job_free(struct issue_prepare_job *job)
{
    if (!job)
        return;
    issue_signing_release(&job->g);
    issue_state_release(&job->s);
    free(job);
}

int
issue_prepare_begin(struct api_request *r, const struct issue_body *body, struct issue_cache *cache,
                    struct issue_prepare_job **ret_job)
{
    _cleanup_(issue_prepare_job_freep) struct issue_prepare_job *job = calloc(1, sizeof(*job));
    struct issue_state *s = &job->s;
    bool ahead = false;
    int err;

    if (!job)
        return -ENOMEM;
    *s = (struct issue_state){
        .r = r, .body = body, .cache = cache, .csr = body->csr, .nonce = body->nonce
    };
    err = time_parse_rfc3339(api_now(r), &s->now_ms);
    if (err >= 0)
        err = issue_parse_csr(s);
    if (err >= 0)
        err = issue_spki_to_hex(s);
    if (err >= 0)
        err = issue_check_nonce_fresh(s);
    if (err == 0)
        err = cache ? issue_prepare_facts(s, &ahead) : issue_prepare_read(s, &ahead);
    if (err < 0)
        return err;
    if (err > 0)
        r->prepared =
            json_pack("{s:s, s:s}", "refusal_check", s->refusal_check, "refusal", s->refusal);
    else
        err = issue_prepared_claims(s, &r->prepared);
    if (err >= 0 && ahead) {
        err = issue_sign_ahead_send(s, &job->g, &job->ca_id);
        job->signing = err == 0;
    }
    if (err < 0)
        return err;
    if (!r->prepared)
        return -ENOMEM;
    *ret_job = TAKE_PTR(job);
    return 0;
}

int
issue_prepare_end(struct issue_prepare_job *job)
{
    struct api_request *r = job->s.r;
    json_t *presigned = NULL;
    int err;

    if (!job->signing)
        return 0;
    err = issue_sign_ahead_recv(&job->s, &job->g, job->ca_id, &presigned);
    if (err >= 0 && presigned)
        err = json_object_set_new(r->prepared, "presigned", presigned) < 0 ? -ENOMEM : 0;
    return err;
}

int
issue_prepare(struct api_request *r, const struct issue_body *body)
{
    _cleanup_(issue_prepare_job_freep) struct issue_prepare_job *job = NULL;
    int err = issue_prepare_begin(r, body, NULL, &job);

    return err < 0 ? err : issue_prepare_end(job);
}

/* ---- in the transaction: the store ---- */

/* The metric of an answer by its task_status; none for an answer that is not one (an error). */
static void
count_answer(struct api_request *r, int platform)
{
    static const char *const statuses[METRICS_ATTESTATION_RESULTS] = {
        [METRICS_ATTESTATION_SUCCESS] = ISSUE_STATUS_SUCCESS,
        [METRICS_ATTESTATION_PENDING_WHITELIST] = ISSUE_STATUS_PENDING,
        [METRICS_ATTESTATION_DENIED] = ISSUE_STATUS_DENIED,
        [METRICS_ATTESTATION_FAILED] = ISSUE_STATUS_FAILED,
    };
    const char *status = r->status == 200 ? member_text(r->response, "task_status") : NULL;

    for (int i = 0; status && i < METRICS_ATTESTATION_RESULTS; i++)
        if (strcmp(status, statuses[i]) == 0) {
            metrics_count_attestation(r->ctx->metrics, platform, (enum metrics_attestation)i);
            if (i == METRICS_ATTESTATION_SUCCESS)
                metrics_count_certificate(r->ctx->metrics, METRICS_CERTIFICATE_APP);
        }
}

static int
issue_decide(struct api_request *r, const struct issue_body *body, struct issue_cache *cache)
{
    _cleanup_(issue_state_release) struct issue_state s = {
        .r = r,
        .body = body,
        .cache = cache,
        .csr = body->csr,
        .nonce = body->nonce,
    };
    const char *refusal = member_text(r->prepared, "refusal");
    int err;

    if (refusal)
        return issue_deny(&s, member_text(r->prepared, "refusal_check") ?: "evidence", refusal);
    err = time_parse_rfc3339(api_now(r), &s.now_ms);
    if (err >= 0)
        err = issue_claims_from_prepared(&s, r->prepared);
    if (err >= 0)
        err = issue_check_nonce_unused(&s);
    if (err == 0)
        err = issue_load_facts(&s);
    if (err == 0)
        err = issue_load_build(&s, true);
    if (err == 0)
        err = issue_apply_policy(&s);
    if (err == 0)
        err = issue_sign_and_record(&s);
    return err > 0 ? 0 : err;
}

int
issue_certificate_cached(struct api_request *r, struct issue_cache *cache)
{
    struct issue_body body;
    char error[BODY_ERROR_MAX];
    int err;

    /* Checked by the prepare step already: read again for what the transaction needs. */
    err = issue_body_parse(r->body, &body, error, sizeof(error));
    if (err < 0)
        return err;
    err = issue_decide(r, &body, cache);
    /* A DENIED answer to a replay that lost the race is rolled back (-ECANCELED) but still
     * sent, so it counts too; a commit that fails after this is counted all the same. */
    if (err >= 0 || err == -ECANCELED)
        count_answer(r, body.platform);
    return err;
}

int
issue_certificate(struct api_request *r)
{
    return issue_certificate_cached(r, NULL);
}

/* An approval task's status as the agent API names it. */
static const char *
task_status_of(const char *status)
{
    if (strcmp(status, TASK_STATUS_INPROGRESS) == 0)
        return ISSUE_STATUS_PENDING;
    if (strcmp(status, TASK_STATUS_SUCCESS) == 0)
        return ISSUE_STATUS_SUCCESS;
    if (strcmp(status, TASK_STATUS_DENIED) == 0)
        return ISSUE_STATUS_DENIED;
    return ISSUE_STATUS_FAILED;
}

int
issue_result(struct api_request *r, const char *task_id)
{
    json_auto_t *task = NULL;
    const char *type, *status, *reason;
    char message[POLICY_MESSAGE_MAX];
    int err;

    err = store_task_get(r->store, r->acct_id, task_id, &task);
    if (err == -ENOENT) {
        err = store_cert_record_of_node(r->store, r->acct_id, r->node_id, task_id);
        if (err == 0)
            return issue_reply_status(r, task_id, ISSUE_STATUS_SUCCESS, "certificate issued");
    }
    if (err == -ENOENT)
        return api_not_found(r, "task");
    if (err < 0)
        return err;
    type = member_text(task, "task_type") ?: "";
    if (strcmp(type, TASK_BUILD_WHITELIST) != 0 && strcmp(type, TASK_DOMAIN_WHITELIST) != 0)
        return api_not_found(r, "task");
    status = json_string_value(json_object_get(json_object_get(task, "status"), "status")) ?: "";
    reason = json_string_value(json_object_get(json_object_get(task, "status"), "reason"));
    if (strcmp(status, TASK_STATUS_SUCCESS) == 0)
        snprintf(message, sizeof(message), "%s approved: send the request again with a new nonce",
                 type);
    else if (strcmp(status, TASK_STATUS_INPROGRESS) == 0)
        snprintf(message, sizeof(message), "%s waiting for approval", type);
    else
        snprintf(message, sizeof(message), "%s %s%s%s", type, status, reason ? ": " : "",
                 reason ? reason : "");
    return issue_reply_status(r, task_id, task_status_of(status), message);
}
