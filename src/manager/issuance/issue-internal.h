/* What the files of the issuance pipeline (issue.c, issue-*.c; docs/issuance.md) share: the state
 * one request builds up step by step, and the steps each file offers the others. Internal: not
 * installed, included by those files only; issue.h is the pipeline's API. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/attest.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "api.h"
#include "hw-policy.h"
#include "ca-issue.h"
#include "issue.h"
#include "json-member.h"
#include "nonce.h"
#include "policy.h"

/* Rows every request of a batch reads alike, read once per batch (issue-cache.c); each holds a
 * reference, NULL until read. */
struct issue_cache {
    json_t *node, *account;
    char mrenclave[2 * ATTEST_MEASUREMENT_SIZE + 1]; /* of build */
    json_t *build, *app, *names;
};

/* What the pipeline learns, step by step. */
struct issue_state {
    struct api_request *r;
    const struct issue_body *body; /* the request's, as issue_body_parse read it */
    struct issue_cache *cache;     /* a batch's, or NULL */
    const char *csr;
    const char *nonce;
    int64_t now_ms;
    char nonce_id[NONCE_ID_LEN + 1];
    EVP_PKEY *csr_key; /* the CSR, parsed and verified once, in the prepare step: its key */
    uint8_t *csr_spki; /* and its DER SubjectPublicKeyInfo, for the CA process */
    size_t csr_spki_len;
    char *spki_hex; /* the same in hex, as the prepare step hands it to the transaction */
    struct attest_claims claims;
    bool crls_checked; /* hardware evidence: the collateral had CRLs (hw-verify.h) */
    json_t *node;      /* store_issuance_node_get */
    json_t *account;   /* store_issuance_account_get */
    json_t *build;     /* store_issuance_build_get, or NULL */
    json_t *app;       /* the build's app */
    json_t *names;     /* the certificate's DNS names */
    /* A refusal found before the transaction (issue_prepare), audited by the handler. */
    char refusal_check[32];
    char refusal[POLICY_MESSAGE_MAX];
};

/* ---- answers (issue-reply.c): each returns 0 once the reply is set, or < 0 ---- */

/* 200 {task_id, task_status, message?}. */
int issue_reply_status(struct api_request *r, const char *task_id, const char *task_status,
                       const char *message);
/* DENIED naming the check, with its audit event. */
int issue_deny(struct issue_state *s, const char *check, const char *message);
/* FAILED (allowed, but the CA refused the profile), with its audit event. */
int issue_fail(struct issue_state *s, const char *message);
/* PENDING_WHITELIST naming the approval task, with its audit event. */
int issue_pending(struct issue_state *s, const char *task_id, const char *message);

/* ---- steps 1 to 4 and the facts (issue-checks.c): 0 to go on, 1 when refused, < 0 to stop ---- */

/* Step 1: the CSR parses and verifies, its key into s; else 400 and -ECANCELED. Before the
 * transaction. */
int issue_parse_csr(struct issue_state *s);
/* Step 2a: the nonce is ours and not expired; a refusal is left in s. Before the transaction. */
int issue_check_nonce_fresh(struct issue_state *s);
/* Step 2b: the nonce was not used before; answers DENIED when it was. In the transaction. */
int issue_check_nonce_unused(struct issue_state *s);
/* The node and the account into s. */
int issue_load_facts(struct issue_state *s);
/* ---- the rows, from s->cache when it has them (issue-cache.c) ---- */

/* The node's issuance row, the account's, into s. */
int issue_get_node(struct issue_state *s);
int issue_get_account(struct issue_state *s);
/* Drops what c holds (c may be NULL). */
void issue_cache_clear(struct issue_cache *c);
/* Step 3: the evidence against the node's key (s->node); the claims into s, a refusal left in s. */
int issue_verify_evidence(struct issue_state *s);
/* Step 4: report_data binds the nonce and the CSR key; a refusal is left in s. */
int issue_check_binding(struct issue_state *s);
/* Hardware evidence: the account's attestation policy with the app's overrides (hw-policy.h)
 * into ret. */
int issue_hw_policy(const struct issue_state *s, struct hw_policy *ret);
/* Step 4b (hardware evidence): the account and the build read, the evidence judged by the
 * attestation policy; a refusal is left in s. */
int issue_check_hw_policy(struct issue_state *s);
/* The build with the claims' measurement, its app and DNS names into s (s->build stays NULL when
 * there is none); the app row locked when lock. In issue-cache.c: from s->cache when it has them. */
int issue_load_build(struct issue_state *s, bool lock);

/* ---- step 5 (issue-policy.c) ---- */

/* The policy's verdict (policy_decide) on the facts s holds. */
int issue_policy_verdict(const struct issue_state *s, struct policy_result *ret);
/* Step 5: 0 when allowed; 1 once DENIED or PENDING_WHITELIST (its approval task found or
 * raised) is answered. */
int issue_apply_policy(struct issue_state *s);

/* ---- signing and recording (issue-sign.c) ---- */

/* What the CA process is asked to sign for the facts in s. Self-referencing: not to be copied. */
struct signing {
    char measurement[2 * ATTEST_MEASUREMENT_SIZE + 1];
    char signer[2 * ATTEST_MEASUREMENT_SIZE + 1];
    const char *names[CA_DNS_NAMES_MAX];
    struct ca_claims claims;
    struct ca_profile profile;
    char *key; /* presigned_profile_key */
};

/* The profile for s into g (released by issue_signing_release, also after a failure); -E2BIG
 * when the app names more DNS names than a certificate may carry. */
int issue_signing_init(const struct issue_state *s, struct signing *g);
void issue_signing_release(struct signing *g);
/* Whether err says the CA refused the profile, rather than failed. */
bool issue_ca_refused(int err);
/* Signs g's profile for the CSR's key (s->spki_hex) through the CA process. */
int issue_sign(const struct issue_state *s, const struct signing *g, struct ca_error *error,
               struct ca_issued **ret_issued);
/* issue_sign's first half: the request goes to the CA process, its id into *ret_id; the reply
 * is read with ca_client_issue_recv. */
int issue_sign_send(const struct issue_state *s, const struct signing *g, uint64_t *ret_id);
/* Steps 6 to 9: consumes the nonce, signs (or takes the certificate signed ahead), records,
 * answers SUCCESS (or FAILED). */
int issue_sign_and_record(struct issue_state *s);

/* ---- what the prepare step hands the transaction, signing ahead (issue-ahead.c) ---- */

/* s->csr_spki into s->spki_hex. */
int issue_spki_to_hex(struct issue_state *s);
/* The claims, the nonce id and the CSR's key as r->prepared carries them. */
int issue_prepared_claims(const struct issue_state *s, json_t **ret);
/* The inverse of issue_prepared_claims, into s; -EINVAL when prepared does not read. */
int issue_claims_from_prepared(struct issue_state *s, const json_t *prepared);
/* Steps 3 and 4, and whether to sign ahead; 1 when refused. issue_prepare_facts reads in the
 * caller's read transaction (a batch's), issue_prepare_read in one of its own. */
int issue_prepare_facts(struct issue_state *s, bool *ret_ahead);
int issue_prepare_read(struct issue_state *s, bool *ret_ahead);
/* Signing ahead in two halves, so that a batch has several requests with the CA process at
 * once: the profile into g (released by issue_signing_release) and the request out, 0 and its id
 * into *ret_id, or 1 when there is nothing to sign ahead (more DNS names than a certificate may
 * carry: the transaction answers FAILED); then the certificate, for r->prepared, into *ret, NULL
 * when the CA refused the profile (the transaction finds the same and answers FAILED). */
int issue_sign_ahead_send(struct issue_state *s, struct signing *g, uint64_t *ret_id);
int issue_sign_ahead_recv(struct issue_state *s, const struct signing *g, uint64_t id,
                          json_t **ret);

/* ---- issue_prepare in two halves, for a batch (issue.c) ---- */

struct issue_prepare_job {
    struct issue_state s;
    struct signing g;
    bool signing; /* a certificate is being signed ahead: the CA request ca_id */
    uint64_t ca_id;
};

/* What issue_prepare does, up to the request to sign ahead: it is with the CA process when
 * issue_prepare_end waits for it. With a cache (a batch's), reads in the caller's read
 * transaction, the rows from the cache when it has them. body must outlive the job. */
int issue_prepare_begin(struct api_request *r, const struct issue_body *body,
                        struct issue_cache *cache, struct issue_prepare_job **ret_job);
int issue_prepare_end(struct issue_prepare_job *job);
void issue_prepare_job_free(struct issue_prepare_job *job);
/* issue_certificate for a request of a batch: the rows from cache when it has them (see struct
 * issue_cache for when the caller must empty it). */
int issue_certificate_cached(struct api_request *r, struct issue_cache *cache);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct issue_prepare_job, issue_prepare_job_free);
