/* The issuance pipeline (issue.h, docs/issuance.md). One request runs in one write transaction
 * under its account's scope lock: the checks read what approvals committed last, and the
 * certificate, the instance, the consumed nonce and the audit event commit together or not at
 * all. A denial commits only its audit event.
 *
 * What needs no store state but costs CPU (CSR signature, nonce MAC, evidence signature, the
 * binding) runs before, in the route's prepare step (issue_prepare), so that requests of one
 * account do not wait for each other's signature checks while holding its lock. */
#include "issue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <attest/attest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attestation-key.h"
#include "body.h"
#include "ca-issue.h"
#include "ca-process.h"
#include "crypto-util.h"
#include "metrics.h"
#include "nonce.h"
#include "policy.h"
#include "presigned.h"
#include "store-apps.h"
#include "store-builds.h"
#include "store-certificates.h"
#include "store-instances.h"
#include "store-tasks.h"
#include "tasks.h"

/* ---- the body ---- */

static const struct field_spec evidence_fields[] = {
    { .name = "type",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = ATTEST_EVIDENCE_TYPE_MAX,
      .check_string = check_no_control },
    { .name = "data",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = ATTEST_EVIDENCE_JSON_MAX },
    { .name = NULL },
};

static const struct field_spec issue_fields[] = {
    { .name = "csr",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = CA_CSR_MAX,
      .check_string = check_pem_text },
    { .name = "evidence", .type = FIELD_OBJECT, .required = true, .fields = evidence_fields },
    { .name = "nonce",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = NONCE_TEXT_MAX - 1,
      .check_string = check_no_control },
    { .name = "manifest_digest",
      .type = FIELD_STRING,
      .min = 64,
      .max = 64,
      .check_string = check_hex64 },
    { .name = NULL },
};

static const char *
member_text(const json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

int
issue_body_parse(const json_t *body, struct issue_body *ret, char *error, size_t error_size)
{
    struct issue_body b = { .platform = 0 };
    char why[BODY_ERROR_MAX] = "";
    enum attest_platform platform;
    const char *digest;
    int r = -EINVAL;

    if (!json_is_object(body))
        snprintf(why, sizeof(why), "body: must be a JSON object");
    else
        r = body_check(body, issue_fields, BODY_CREATE, why);
    if (r < 0 && r != -EINVAL)
        return r;
    if (r < 0) {
        if (!*why)
            snprintf(why, sizeof(why), "body: not a certificate request");
        if (error_size > 0)
            snprintf(error, error_size, "%s", why);
        return -EINVAL;
    }
    b.csr = member_text(body, "csr");
    b.nonce = member_text(body, "nonce");
    b.evidence = json_object_get(body, "evidence");
    if (attest_platform_from_name(member_text(b.evidence, "type"), &platform) >= 0)
        b.platform = (int)platform;
    /* 64 hex digits (either case) by the table, so this decodes. */
    digest = member_text(body, "manifest_digest");
    b.has_manifest_digest =
        digest && hex_decode(digest, b.manifest_digest, sizeof(b.manifest_digest)) >= 0;
    *ret = b;
    return 0;
}

/* What the pipeline learns, step by step. */
struct issue_state {
    struct api_request *r;
    const struct issue_body *body; /* the request's, as issue_body_parse read it */
    const char *csr;
    const char *nonce;
    int64_t now_ms;
    char nonce_id[NONCE_ID_LEN + 1];
    EVP_PKEY *csr_key; /* the CSR, parsed and verified once, in the prepare step: its key */
    uint8_t *csr_spki; /* and its DER SubjectPublicKeyInfo, for the CA process */
    size_t csr_spki_len;
    char *spki_hex; /* the same in hex, as the prepare step hands it to the transaction */
    struct attest_claims claims;
    json_t *node;    /* store_issuance_node_get */
    json_t *account; /* store_issuance_account_get */
    json_t *build;   /* store_issuance_build_get, or NULL */
    json_t *app;     /* the build's app */
    json_t *names;   /* the certificate's DNS names */
    /* A refusal found before the transaction (issue_prepare), audited by the handler. */
    char refusal_check[32];
    char refusal[POLICY_MESSAGE_MAX];
};

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

/* ---- answers ---- */

static int
reply_status(struct api_request *r, const char *task_id, const char *task_status,
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
static int
deny(struct issue_state *s, const char *check, const char *message)
{
    char id[37];
    int err;

    err = api_audit(s->r, "CERTIFICATE", "WARNING", "node", s->r->node_id,
                    "Certificate refused (%s): %s", check, message);
    if (err >= 0)
        err = uuid_random(id);
    if (err < 0)
        return err;
    return reply_status(s->r, id, ISSUE_STATUS_DENIED, message);
}

/* Records a refusal found by a step that runs before the transaction; returns 1 (stop). */
_printf_(3, 4) static int refuse(struct issue_state *s, const char *check, const char *fmt, ...)
{
    va_list ap;

    snprintf(s->refusal_check, sizeof(s->refusal_check), "%s", check);
    va_start(ap, fmt);
    vsnprintf(s->refusal, sizeof(s->refusal), fmt, ap);
    va_end(ap);
    return 1;
}

/* FAILED: the request was fine and allowed but could not be served (the CA refused the
 * profile). Audited like a denial. */
static int
fail(struct issue_state *s, const char *message)
{
    char id[37];
    int err;

    err = api_audit(s->r, "CERTIFICATE", "ERROR", "node", s->r->node_id,
                    "Certificate issuance failed: %s", message);
    if (err >= 0)
        err = uuid_random(id);
    if (err < 0)
        return err;
    return reply_status(s->r, id, ISSUE_STATUS_FAILED, message);
}

static int
pending(struct issue_state *s, const char *task_id, const char *message)
{
    char full[POLICY_MESSAGE_MAX + 64];
    int err;

    snprintf(full, sizeof(full), "%s (task %s)", message, task_id);
    err = api_audit(s->r, "CERTIFICATE", "WARNING", "task", task_id,
                    "Certificate pending approval: %s", full);
    if (err < 0)
        return err;
    return reply_status(s->r, task_id, ISSUE_STATUS_PENDING, full);
}

/* ---- steps ---- */

/* Step 1 (after the body table): the CSR parses, its signature verifies, its key is accepted. */
static int
parse_csr(struct issue_state *s)
{
    struct ca_error error = { "" };
    int err;

    err = ca_csr_check(s->csr, strlen(s->csr), &error, &s->csr_key, &s->csr_spki, &s->csr_spki_len);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return api_bad_field(s->r, "csr: %s", *error.message ? error.message : "not a valid CSR");
    return 0;
}

/* Step 2a (before the transaction): issued by us, not expired. 1 when refused. */
static int
check_nonce_fresh(struct issue_state *s)
{
    struct policy_result result;
    int err;

    err = policy_check_nonce(s->r->ctx->keys->nonce_key, s->nonce, s->now_ms, ISSUE_NONCE_TTL_SEC,
                             s->nonce_id, &result);
    if (err < 0)
        return err;
    if (result.check != POLICY_OK)
        return refuse(s, policy_check_name(result.check), "%s", result.message);
    return 0;
}

/* Step 2b (in the transaction): not used before. 1 when denied. */
static int
check_nonce_unused(struct issue_state *s)
{
    int err = store_nonce_check_unused(s->r->store, s->nonce_id);

    if (err == -EEXIST)
        return deny(s, "nonce", "nonce already used (replay): ask for a new one") ?: 1;
    return err;
}

static int
load_facts(struct issue_state *s)
{
    int err;

    err = store_issuance_node_get(s->r->store, s->r->acct_id, s->r->node_id, &s->node);
    if (err >= 0)
        err = store_issuance_account_get(s->r->store, s->r->acct_id, &s->account);
    return err;
}

/* Step 3: the evidence verifies against the node's key. 1 when denied. */
static int
verify_evidence(struct issue_state *s)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *node_key =
        attestation_key_get(member_text(s->node, "attestation_key"));
    struct attest_evidence *evidence = NULL;
    enum attest_step step = ATTEST_STEP_NONE;
    struct attest_trust trust = { .sim_key = node_key };
    int err;

    err = attest_evidence_from_json(s->body->evidence, &evidence, &step);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return refuse(s, "evidence", "evidence refused at step '%s'", attest_step_name(step));
    if (evidence->type == ATTEST_PLATFORM_SIM && !node_key) {
        attest_evidence_free(evidence);
        return refuse(s, "evidence",
                      "evidence refused at step 'trust': the node has no sim attestation key "
                      "enrolled");
    }
    err = attest_evidence_verify(evidence, &trust, &s->claims, &step);
    attest_evidence_free(evidence);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return refuse(s, "evidence", "evidence verification failed at step '%s'",
                      attest_step_name(step));
    return 0;
}

/* Step 4: report_data = binding(nonce as received, CSR key, manifest digest or zero). */
static int
check_binding(struct issue_state *s)
{
    const uint8_t *manifest = NULL;
    enum attest_step step;
    int err;

    if (attest_platform_binds_manifest(s->claims.platform)) {
        if (!s->body->has_manifest_digest)
            return refuse(s, "report_data", "manifest_digest is required for %s evidence",
                          attest_platform_name(s->claims.platform));
        manifest = s->body->manifest_digest;
    }
    err = attest_claims_check_binding(&s->claims, (const uint8_t *)s->nonce, strlen(s->nonce),
                                      s->csr_key, manifest, &step);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return refuse(s, "report_data", "report_data does not bind the CSR key and nonce");
    return 0;
}

/* The build with the measurement and its app (in the transaction locked: an approval cannot
 * change it under us). */
static int
load_build(struct issue_state *s, bool lock)
{
    char mrenclave[2 * ATTEST_MEASUREMENT_SIZE + 1];
    int err;

    hex_encode(s->claims.mrenclave, ATTEST_MEASUREMENT_SIZE, mrenclave);
    err = store_issuance_build_get(s->r->store, s->r->acct_id, mrenclave, &s->build);
    if (err == -ENOENT)
        return 0;
    if (err >= 0)
        err = store_app_get(s->r->store, s->r->acct_id, member_text(s->build, "app_id"), lock,
                            &s->app);
    if (err >= 0)
        err = policy_dns_names(s->app, &s->names);
    return err;
}

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
static int
decide(const struct issue_state *s, struct policy_result *ret)
{
    struct policy_build build = { 0 };

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
            .allow_debug = false,
            .build = s->build ? &build : NULL,
            .dns_names = s->names,
            .whitelisted_domains = json_object_get(s->app, "whitelisted_domains"),
        },
        ret);
}

/* Step 5: SPEC 6.3. 1 when the request was denied or is pending. */
static int
apply_policy(struct issue_state *s)
{
    _cleanup_(policy_result_release) struct policy_result result = { 0 };
    char task_id[37];
    int err;

    err = decide(s, &result);
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
        return deny(s, policy_check_name(result.check), result.message) ?: 1;
    }
    if (err < 0)
        return err;
    return pending(s, task_id, result.message) ?: 1;
}

/* ---- signing and recording ---- */

struct issued_record {
    char certificate_id[37];
    char instance_id[37];
};

static int
claims_json_text(const struct issue_state *s, const struct ca_claims *c, char **ret_text)
{
    json_auto_t *claims =
        json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:b}", "measurement", c->measurement,
                  "signer", c->signer, "isvprodid", (json_int_t)c->isvprodid, "isvsvn",
                  (json_int_t)c->isvsvn, "platform", c->platform, "tcb_status", c->tcb_status,
                  "node_id", c->node_id, "debug", s->claims.debug);
    char *text;

    if (!claims)
        return -ENOMEM;
    text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    *ret_text = text;
    return 0;
}

static int
record(struct issue_state *s, const struct ca_claims *claims, const struct ca_issued *issued,
       struct issued_record *out)
{
    _cleanup_free_ char *names_text = json_dumps(s->names, JSON_COMPACT);
    _cleanup_free_ char *claims_text = NULL;
    const char *build_id = member_text(s->build, "build_id");
    const char *app_id = member_text(s->build, "app_id");
    int err;

    if (!names_text)
        return -ENOMEM;
    err = claims_json_text(s, claims, &claims_text);
    if (err >= 0)
        err = uuid_random(out->certificate_id);
    if (err >= 0)
        err = store_instance_upsert(s->r->store,
                                    &(struct instance_new){
                                        .acct_id = s->r->acct_id,
                                        .app_id = app_id,
                                        .build_id = build_id,
                                        .node_id = s->r->node_id,
                                        .certificate_id = out->certificate_id,
                                        .is_debug = s->claims.debug,
                                        .now = api_now(s->r),
                                        .now_ms = s->now_ms,
                                    },
                                    out->instance_id);
    if (err >= 0)
        err = store_certificate_insert(
            s->r->store, &(struct certificate_new){
                             .certificate_id = out->certificate_id,
                             .acct_id = s->r->acct_id,
                             .zone_id = s->r->zone_id,
                             .kind = CERT_KIND_APP,
                             .serial_hex = issued->serial_hex,
                             .subject = json_string_value(json_array_get(s->names, 0)),
                             .dns_names = names_text,
                             .csr_pem = s->csr,
                             .cert_pem = issued->cert_pem,
                             .not_before = issued->not_before,
                             .not_after = issued->not_after,
                             .app_id = app_id,
                             .build_id = build_id,
                             .node_id = s->r->node_id,
                             .instance_id = out->instance_id,
                             .claims = claims_text,
                             .now = api_now(s->r),
                         });
    return err;
}

static int
reply_issued(struct issue_state *s, const struct ca_issued *issued, const struct issued_record *rec)
{
    int64_t threshold = json_integer_value(json_object_get(s->account, "renewal_threshold"));
    int64_t renew = issued->not_before + (issued->not_after - issued->not_before) * threshold / 100;
    char valid_until[32], renew_after[32];
    json_t *body;

    time_format_rfc3339(issued->not_after * 1000, valid_until);
    time_format_rfc3339(renew * 1000, renew_after);
    body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "task_id", rec->certificate_id,
                     "task_status", ISSUE_STATUS_SUCCESS, "certificate", issued->cert_pem, "chain",
                     issued->chain_pem, "certificate_id", rec->certificate_id, "instance_id",
                     rec->instance_id, "valid_until", valid_until, "renew_after", renew_after);
    if (!body)
        return -ENOMEM;
    return api_reply(s->r, 200, body);
}

/* What the CA process is asked to sign for the facts in s. Self-referencing: not to be copied. */
struct signing {
    char measurement[2 * ATTEST_MEASUREMENT_SIZE + 1];
    char signer[2 * ATTEST_MEASUREMENT_SIZE + 1];
    const char *names[CA_DNS_NAMES_MAX];
    struct ca_claims claims;
    struct ca_profile profile;
    char *key; /* presigned_profile_key */
};

static void
signing_release(struct signing *g)
{
    free(g->key);
}

/* -E2BIG when the app's certificate names more DNS names than a certificate may carry. */
static int
signing_init(const struct issue_state *s, struct signing *g)
{
    size_t n = json_array_size(s->names);

    if (n > CA_DNS_NAMES_MAX)
        return -E2BIG;
    for (size_t i = 0; i < n; i++)
        g->names[i] = json_string_value(json_array_get(s->names, i));
    hex_encode(s->claims.mrenclave, ATTEST_MEASUREMENT_SIZE, g->measurement);
    hex_encode(s->claims.mrsigner, ATTEST_MEASUREMENT_SIZE, g->signer);
    g->claims = (struct ca_claims){
        .measurement = g->measurement,
        .signer = g->signer,
        .isvprodid = s->claims.isvprodid,
        .isvsvn = s->claims.isvsvn,
        .platform = attest_platform_name(s->claims.platform),
        .tcb_status = attest_tcb_status_name(s->claims.tcb_status),
        .node_id = s->r->node_id,
    };
    g->profile = (struct ca_profile){
        .kind = CA_PROFILE_APP,
        .trust_domain = member_text(s->node, "trust_domain"),
        .app_name = member_text(s->app, "name"),
        .dns_names = g->names,
        .n_dns_names = n,
        .claims = &g->claims,
        .validity_seconds = json_integer_value(json_object_get(s->account, "certificate_validity")),
    };
    return presigned_profile_key(s->r->zone_id, &g->profile, s->spki_hex, &g->key);
}

/* A profile the CA refused (its message in error), rather than a CA that failed. */
static bool
ca_refused(int err)
{
    return err == -EINVAL || err == -ERANGE || err == -E2BIG || err == -EOPNOTSUPP;
}

/* Through the CA process. The CSR's key, which the prepare step took from the CSR it verified:
 * the CA process does not parse the CSR again (docs/ca.md). */
static int
sign(const struct issue_state *s, const struct signing *g, struct ca_error *error,
     struct ca_issued **ret_issued)
{
    size_t spki_len = s->spki_hex ? strlen(s->spki_hex) / 2 : 0;
    _cleanup_free_ uint8_t *spki = NULL;

    if (spki_len == 0 || spki_len > CA_CSR_MAX)
        return -EINVAL;
    spki = malloc(spki_len);
    if (!spki)
        return -ENOMEM;
    if (hex_decode(s->spki_hex, spki, spki_len) < 0)
        return -EINVAL;
    return ca_client_issue_spki(s->r->ctx->ca_fd, s->r->zone_id, &g->profile, spki, spki_len, error,
                                ret_issued);
}

/* The certificate signed ahead when it is what g asks for, else a new one. */
static int
signed_certificate(struct issue_state *s, const struct signing *g, struct ca_error *error,
                   struct ca_issued **ret_issued)
{
    const json_t *ahead = json_object_get(s->r->prepared, "presigned");
    int err = ahead ? presigned_from_json(ahead, g->key, ret_issued) : -ENOENT;

    if (err >= 0 || err == -ENOMEM)
        return err;
    return sign(s, g, error, ret_issued);
}

/* Steps 6 to 9. */
static int
sign_and_record(struct issue_state *s)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(signing_release) struct signing g = { 0 };
    struct ca_error error = { "" };
    struct issued_record rec;
    int err;

    err = store_nonce_consume(s->r->store, s->nonce_id,
                              s->now_ms + (ISSUE_NONCE_TTL_SEC * 1000) + NONCE_CLOCK_SKEW_MS,
                              s->now_ms);
    if (err == -EEXIST) {
        /* A replay won the race on another account's lock; the failed insert may have ended
         * the transaction (PostgreSQL), so answer without an audit event and roll back. */
        reply_status(s->r, "", ISSUE_STATUS_DENIED, "nonce already used (replay)");
        return -ECANCELED;
    }
    if (err < 0)
        return err;

    err = signing_init(s, &g);
    if (err == -E2BIG)
        return fail(s, "the app's certificate names more DNS names than a certificate may carry");
    if (err >= 0)
        err = signed_certificate(s, &g, &error, &issued);
    if (ca_refused(err))
        return fail(s, *error.message ? error.message : "the CA refused the certificate profile");
    if (err >= 0)
        err = record(s, &g.claims, issued, &rec);
    if (err >= 0)
        err = api_audit(s->r, "CERTIFICATE", "INFO", "certificate", rec.certificate_id,
                        "Issued certificate %s for app '%s' (build %s, measurement %s) on node "
                        "%s, instance %s",
                        issued->serial_hex, member_text(s->app, "name"),
                        member_text(s->build, "build_id"), g.measurement, s->r->node_id,
                        rec.instance_id);
    if (err < 0)
        return err;
    return reply_issued(s, issued, &rec);
}

/* ---- before the transaction: the cryptography ---- */

/* The claims and the CSR's key (DER SubjectPublicKeyInfo) as issue_certificate needs them
 * again, in r->prepared. */
static int
prepared_claims(const struct issue_state *s, json_t **ret)
{
    json_t *claims = NULL, *prepared;
    int err;

    err = attest_claims_to_json(&s->claims, &claims);
    if (err < 0)
        return err;
    prepared = json_pack("{s:s, s:o, s:s}", "nonce_id", s->nonce_id, "claims", claims, "spki_hex",
                         s->spki_hex);
    if (!prepared)
        return -ENOMEM;
    *ret = prepared;
    return 0;
}

static int
tcb_status_from_name(const char *name, enum attest_tcb_status *ret)
{
    for (int i = ATTEST_TCB_UP_TO_DATE; i <= ATTEST_TCB_SIMULATED_INSECURE; i++) {
        const char *known = attest_tcb_status_name((enum attest_tcb_status)i);
        if (name && known && strcmp(name, known) == 0) {
            *ret = (enum attest_tcb_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* The inverse of prepared_claims, for the fields the decision and the certificate use. */
static int
claims_from_prepared(struct issue_state *s, const json_t *prepared)
{
    const json_t *c = json_object_get(prepared, "claims");
    const char *nonce_id = member_text(prepared, "nonce_id");
    const char *spki_hex = member_text(prepared, "spki_hex");
    struct attest_claims claims = { 0 };
    int err;

    if (!c || !nonce_id || strlen(nonce_id) != NONCE_ID_LEN || !spki_hex)
        return -EINVAL;
    s->spki_hex = strdup(spki_hex);
    if (!s->spki_hex)
        return -ENOMEM;
    err = attest_platform_from_name(member_text(c, "platform"), &claims.platform);
    if (err >= 0)
        err = tcb_status_from_name(member_text(c, "tcb_status"), &claims.tcb_status);
    if (err >= 0)
        err = hex_decode(member_text(c, "mrenclave") ?: "", claims.mrenclave,
                         sizeof(claims.mrenclave));
    if (err >= 0)
        err =
            hex_decode(member_text(c, "mrsigner") ?: "", claims.mrsigner, sizeof(claims.mrsigner));
    if (err < 0)
        return -EINVAL;
    claims.isvprodid = (uint16_t)json_integer_value(json_object_get(c, "isvprodid"));
    claims.isvsvn = (uint16_t)json_integer_value(json_object_get(c, "isvsvn"));
    claims.debug = json_is_true(json_object_get(c, "debug"));
    s->claims = claims;
    memcpy(s->nonce_id, nonce_id, NONCE_ID_LEN + 1);
    return 0;
}

/* The CSR's key in hex, for the CA process and for r->prepared. */
static int
spki_to_hex(struct issue_state *s)
{
    s->spki_hex = malloc(2 * s->csr_spki_len + 1);
    if (!s->spki_hex)
        return -ENOMEM;
    hex_encode(s->csr_spki, s->csr_spki_len, s->spki_hex);
    return 0;
}

/* Whether the facts read now say the request will be allowed: then it is signed ahead. */
static int
allowed_ahead(struct issue_state *s, bool *ret)
{
    _cleanup_(policy_result_release) struct policy_result result = { 0 };
    int err;

    *ret = false;
    err = store_issuance_account_get(s->r->store, s->r->acct_id, &s->account);
    if (err >= 0)
        err = load_build(s, false);
    if (err < 0 || !s->build)
        return err;
    err = decide(s, &result);
    if (err >= 0)
        *ret = result.check == POLICY_OK;
    return err;
}

/* Steps 3 and 4 and the facts for signing ahead, in one read transaction: one snapshot, and on
 * SQLite one look at what other processes committed instead of one per statement (each look
 * that finds a commit empties the connection's page cache). 1 when refused. */
static int
prepare_read(struct issue_state *s, bool *ret_ahead)
{
    int err, end;

    err = store_begin(s->r->store, STORE_TXN_READ);
    if (err < 0)
        return err;
    err = store_issuance_node_get(s->r->store, s->r->acct_id, s->r->node_id, &s->node);
    if (err == 0)
        err = verify_evidence(s);
    if (err == 0)
        err = check_binding(s);
    if (err == 0)
        err = allowed_ahead(s, ret_ahead);
    if (err < 0) {
        store_rollback(s->r->store);
        return err;
    }
    end = store_commit(s->r->store);
    return end < 0 ? end : err;
}

/* Signs ahead of the transaction (presigned.h): *ret is the certificate for r->prepared, or
 * NULL when the CA refused the profile (the transaction finds the same and answers FAILED). */
static int
sign_ahead(struct issue_state *s, json_t **ret)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(signing_release) struct signing g = { 0 };
    struct ca_error error = { "" };
    int err;

    *ret = NULL;
    err = signing_init(s, &g);
    if (err >= 0)
        err = sign(s, &g, &error, &issued);
    if (err == -E2BIG || ca_refused(err))
        return 0;
    if (err < 0)
        return err;
    return presigned_to_json(issued, g.key, ret);
}

int
issue_prepare(struct api_request *r, const struct issue_body *body)
{
    _cleanup_(issue_state_release) struct issue_state s = {
        .r = r,
        .body = body,
        .csr = body->csr,
        .nonce = body->nonce,
    };
    json_t *presigned = NULL;
    bool ahead = false;
    int err;

    err = time_parse_rfc3339(api_now(r), &s.now_ms);
    if (err >= 0)
        err = parse_csr(&s);
    if (err >= 0)
        err = spki_to_hex(&s);
    if (err >= 0)
        err = check_nonce_fresh(&s);
    if (err == 0)
        err = prepare_read(&s, &ahead);
    if (err < 0)
        return err;
    if (err > 0)
        r->prepared =
            json_pack("{s:s, s:s}", "refusal_check", s.refusal_check, "refusal", s.refusal);
    else
        err = prepared_claims(&s, &r->prepared);
    if (err >= 0 && ahead)
        err = sign_ahead(&s, &presigned);
    if (err >= 0 && presigned)
        err = json_object_set_new(r->prepared, "presigned", presigned) < 0 ? -ENOMEM : 0;
    if (err < 0)
        return err;
    return r->prepared ? 0 : -ENOMEM;
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
issue_decide(struct api_request *r, const struct issue_body *body)
{
    _cleanup_(issue_state_release) struct issue_state s = {
        .r = r,
        .body = body,
        .csr = body->csr,
        .nonce = body->nonce,
    };
    const char *refusal = member_text(r->prepared, "refusal");
    int err;

    if (refusal)
        return deny(&s, member_text(r->prepared, "refusal_check") ?: "evidence", refusal);
    err = time_parse_rfc3339(api_now(r), &s.now_ms);
    if (err >= 0)
        err = claims_from_prepared(&s, r->prepared);
    if (err >= 0)
        err = check_nonce_unused(&s);
    if (err == 0)
        err = load_facts(&s);
    if (err == 0)
        err = load_build(&s, true);
    if (err == 0)
        err = apply_policy(&s);
    if (err == 0)
        err = sign_and_record(&s);
    return err > 0 ? 0 : err;
}

int
issue_certificate(struct api_request *r)
{
    struct issue_body body;
    char error[BODY_ERROR_MAX];
    int err;

    /* Checked by the prepare step already: read again for what the transaction needs. */
    err = issue_body_parse(r->body, &body, error, sizeof(error));
    if (err < 0)
        return err;
    err = issue_decide(r, &body);
    /* A DENIED answer to a replay that lost the race is rolled back (-ECANCELED) but still
     * sent, so it counts too; a commit that fails after this is counted all the same. */
    if (err >= 0 || err == -ECANCELED)
        count_answer(r, body.platform);
    return err;
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
            return reply_status(r, task_id, ISSUE_STATUS_SUCCESS, "certificate issued");
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
    return reply_status(r, task_id, task_status_of(status), message);
}
