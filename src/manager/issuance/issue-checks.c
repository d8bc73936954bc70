/* Steps 1 to 4 of the pipeline (docs/issuance.md) and the facts the policy needs: the CSR, the
 * nonce (fresh before the transaction, unused in it), the evidence against the node's key, the
 * report_data binding; the node, the account, the build and its app. A refusal found before the
 * transaction is left in the state for the handler to audit (refuse). */
#include "issue-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attestation-key.h"
#include "crypto-util.h"
#include "hw-verify.h"
#include "store-apps.h"
#include "store-instances.h"

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

/* Step 1 (after the body table): the CSR parses, its signature verifies, its key is accepted. */
int
issue_parse_csr(struct issue_state *s)
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
int
issue_check_nonce_fresh(struct issue_state *s)
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
int
issue_check_nonce_unused(struct issue_state *s)
{
    int err = store_nonce_check_unused(s->r->store, s->nonce_id);

    if (err == -EEXIST)
        return issue_deny(s, "nonce", "nonce already used (replay): ask for a new one") ?: 1;
    return err;
}

int
issue_load_facts(struct issue_state *s)
{
    int err = issue_get_node(s);

    return err < 0 ? err : issue_get_account(s);
}

/* Hardware evidence against the stored collateral at the request's time. TDX and SNP
 * measurements do not cover the manifest: there the build is found by the manifest digest,
 * which step 4 checks report_data binds (SPEC 6.2), so it stands in the claims' measurement. */
static int
verify_hardware(struct issue_state *s, const struct attest_evidence *evidence)
{
    struct attest_failure failure = { 0 };
    struct hw_verified v;
    int err;

    err = hw_verify(s->r->store, &s->r->ctx->hw_cache, evidence, s->now_ms / 1000, &v, &failure);
    if (err < 0 && (err == -ENOMEM || failure.step == ATTEST_STEP_NONE))
        return err;
    if (err < 0)
        return refuse(s, "evidence", "evidence refused at step '%s': %s",
                      attest_step_name(failure.step), failure.reason);
    s->claims = v.claims;
    s->crls_checked = v.crls_checked;
    if (attest_platform_binds_manifest(v.claims.platform) && s->body->has_manifest_digest)
        memcpy(s->claims.mrenclave, s->body->manifest_digest, ATTEST_MEASUREMENT_SIZE);
    return 0;
}

/* Step 3: the evidence verifies against the node's key. 1 when denied. */
int
issue_verify_evidence(struct issue_state *s)
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
    if (evidence->type != ATTEST_PLATFORM_SIM) {
        err = verify_hardware(s, evidence);
        attest_evidence_free(evidence);
        return err;
    }
    if (!node_key) {
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
int
issue_check_binding(struct issue_state *s)
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
    err = attest_claims_check_binding_spki(&s->claims, (const uint8_t *)s->nonce, strlen(s->nonce),
                                           s->csr_spki, s->csr_spki_len, manifest, &step);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return refuse(s, "report_data", "report_data does not bind the CSR key and nonce");
    return 0;
}

int
issue_hw_policy(const struct issue_state *s, struct hw_policy *ret)
{
    return hw_policy_resolve(json_object_get(s->account, "attestation_policy"),
                             json_object_get(s->app, "attestation_policy"), ret);
}

/* A TDX or SNP build allow-lists the evidence by the manifest digest (its measurement) and by
 * its tdx or snp identity (hw_build_identity_check). 1 when refused. */
static int
check_build_identity(struct issue_state *s)
{
    char member[32];

    if (hw_build_identity_check(s->build, &s->claims, member, sizeof(member)) == 0)
        return 0;
    return refuse(s, "measurement", "build %s: %s does not match the evidence",
                  member_text(s->build, "build_id"), member);
}

int
issue_check_hw_policy(struct issue_state *s)
{
    struct attest_failure failure = { 0 };
    struct hw_policy policy;
    int err;

    if (s->claims.platform == ATTEST_PLATFORM_SIM)
        return 0;
    err = issue_get_account(s);
    if (err >= 0)
        err = issue_load_build(s, false);
    if (err >= 0)
        err = issue_hw_policy(s, &policy);
    if (err < 0)
        return err;
    /* Debug is judged with the build by the decision (policy.h), from the same policy. */
    err = hw_policy_judge(
        &(struct hw_verified){ .claims = s->claims, .crls_checked = s->crls_checked }, &policy,
        false, &failure);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return refuse(s, "evidence", "evidence refused at step '%s': %s",
                      attest_step_name(failure.step), failure.reason);
    return s->build ? check_build_identity(s) : 0;
}
