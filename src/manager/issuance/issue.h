/* The issuance pipeline for one request of a node (SPEC 6.2, 6.3; docs/issuance.md):
 * nonce → evidence → report_data binding → policy (policy.h) → nonce consumed → signed by the CA
 * process → certificate, app instance and audit event recorded, all in the request's write
 * transaction.
 *
 * Every answer but a malformed body is 200 with a task_status (SUCCESS, PENDING_WHITELIST,
 * DENIED, FAILED), so the agent passes it through unchanged; every DENIED and PENDING answer
 * leaves an audit event naming the check, committed with the request. */
#pragma once

#include "api.h"

/* Task statuses of the agent API (SPEC 5). */
#define ISSUE_STATUS_SUCCESS "SUCCESS"
#define ISSUE_STATUS_PENDING "PENDING_WHITELIST"
#define ISSUE_STATUS_DENIED "DENIED"
#define ISSUE_STATUS_FAILED "FAILED"
#define ISSUE_STATUS_INPROGRESS "INPROGRESS"

/* How long a nonce is good for (nonce.h). */
#define ISSUE_NONCE_TTL_SEC 300

/* POST /v1/node/certificate/issue for the calling node (r->node_id, r->acct_id, r->zone_id),
 * in two parts. r->body has been checked against the issue body table (api-issue.c).
 *
 * issue_prepare, before the transaction (the route's prepare step): the CSR (400 when it does
 * not parse or verify), the nonce's MAC and age, the evidence against the node's key and the
 * binding. Leaves the claims, or the refusal, in r->prepared; returns 0, or < 0 to stop.
 *
 * issue_certificate, in the write transaction: audits a refusal, else the nonce's single use,
 * the policy, signing and recording. Prepares the reply and returns 0 (commit), or a negative
 * errno (rollback). */
int issue_prepare(struct api_request *r);
int issue_certificate(struct api_request *r);

/* GET /v1/node/certificate/result/{task_id}: the state of the approval task a PENDING_WHITELIST
 * answer named (or SUCCESS for a certificate id this node was issued). */
int issue_result(struct api_request *r, const char *task_id);
