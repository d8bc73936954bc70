/* The issuance pipeline for one request of a node (SPEC 6.2, 6.3; docs/issuance.md):
 * nonce → evidence → report_data binding → policy (policy.h) → nonce consumed → signed by the CA
 * process → certificate, app instance and audit event recorded, all in the request's write
 * transaction.
 *
 * Every answer but a malformed body is 200 with a task_status (SUCCESS, PENDING_WHITELIST,
 * DENIED, FAILED), so the agent passes it through unchanged; every DENIED and PENDING answer
 * leaves an audit event naming the check, committed with the request. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/binding.h>
#include <jansson.h>

#include "api.h"

/* Task statuses of the agent API (SPEC 5). */
#define ISSUE_STATUS_SUCCESS "SUCCESS"
#define ISSUE_STATUS_PENDING "PENDING_WHITELIST"
#define ISSUE_STATUS_DENIED "DENIED"
#define ISSUE_STATUS_FAILED "FAILED"
#define ISSUE_STATUS_INPROGRESS "INPROGRESS"

/* How long a nonce is good for (nonce.h). */
#define ISSUE_NONCE_TTL_SEC 300

/* A POST /v1/node/certificate/issue body {csr, evidence{type, data}, nonce, manifest_digest?}
 * once its shape is checked. Strings and evidence are borrowed from the body. */
struct issue_body {
    const char *csr;        /* PEM text, at most CA_CSR_MAX bytes */
    const char *nonce;      /* printable, shorter than NONCE_TEXT_MAX */
    const json_t *evidence; /* the envelope, for attest_evidence_from_json */
    int platform;           /* the enum attest_platform evidence.type names, 0 for none known */
    bool has_manifest_digest;
    uint8_t manifest_digest[ATTEST_MANIFEST_DIGEST_SIZE];
};

/* Checks body against the issue body table and reads it into *ret: no store, no keys, no
 * cryptography (what the strings say is checked by issue_prepare). -EINVAL with "path: reason"
 * in error (NUL-terminated, cut to error_size) when it does not fit; *ret is written only on
 * success. */
int issue_body_parse(const json_t *body, struct issue_body *ret, char *error, size_t error_size);

/* POST /v1/node/certificate/issue for the calling node (r->node_id, r->acct_id, r->zone_id),
 * in two parts, for r->body as issue_body_parse read it into body.
 *
 * issue_prepare, before the transaction (the route's prepare step): the CSR (400 when it does
 * not parse or verify), the nonce's MAC and age, the evidence against the node's key and the
 * binding. Leaves the claims, or the refusal, in r->prepared; returns 0, or < 0 to stop.
 *
 * issue_certificate, in the write transaction: audits a refusal, else the nonce's single use,
 * the policy, signing and recording. Prepares the reply and returns 0 (commit), or a negative
 * errno (rollback). Counts the attestation (and the certificate) in the metrics (metrics.h) by
 * the task_status it answers. */
int issue_prepare(struct api_request *r, const struct issue_body *body);
int issue_certificate(struct api_request *r);

/* POST /v1/node/certificate/issue-batch {requests: [issue body, ...]} (issue-batch.c): up to
 * ISSUE_BATCH_MAX requests of the calling node, each through the pipeline above, in one write
 * transaction, each under its own savepoint. Answers 200 ISSUE_BATCH_CONTENT_TYPE: for each
 * request, in order, the status and body POST /v1/node/certificate/issue would have answered,
 * as a record "<status> <length>\n<body>\n" (docs/issuance.md "Batches"). issue_batch_prepare
 * is the route's prepare step, issue_batch its handler. */
#define ISSUE_BATCH_MAX 32
#define ISSUE_BATCH_CONTENT_TYPE "application/vnd.cloister.answers"
int issue_batch_prepare(struct api_request *r);
int issue_batch(struct api_request *r);

/* GET /v1/node/certificate/result/{task_id}: the state of the approval task a PENDING_WHITELIST
 * answer named (or SUCCESS for a certificate id this node was issued). */
int issue_result(struct api_request *r, const char *task_id);
