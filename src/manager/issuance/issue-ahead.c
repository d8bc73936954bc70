/* Before the transaction, once the cryptography passed: what the prepare step hands the
 * transaction in r->prepared (the claims, the nonce id, the CSR's key), and the certificate it
 * signs ahead when the facts read now say the request will be allowed (docs/issuance.md,
 * "Signing ahead"; presigned.h). */
#include "issue-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ca-process.h"
#include "crypto-util.h"
#include "presigned.h"
#include "store-instances.h"
#include "store.h"

/* The claims and the CSR's key (DER SubjectPublicKeyInfo) as issue_certificate needs them
 * again, in r->prepared. */
int
issue_prepared_claims(const struct issue_state *s, json_t **ret)
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

/* The inverse of issue_prepared_claims, for the fields the decision and the certificate use. */
int
issue_claims_from_prepared(struct issue_state *s, const json_t *prepared)
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
int
issue_spki_to_hex(struct issue_state *s)
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
    /* Hardware evidence had them read by issue_check_hw_policy already. */
    err = s->account ? 0 : issue_get_account(s);
    if (err >= 0 && !s->build)
        err = issue_load_build(s, false);
    if (err < 0 || !s->build)
        return err;
    err = issue_policy_verdict(s, &result);
    if (err >= 0)
        *ret = result.check == POLICY_OK;
    return err;
}

int
issue_prepare_facts(struct issue_state *s, bool *ret_ahead)
{
    int err;

    err = issue_get_node(s);
    if (err == 0)
        err = issue_verify_evidence(s);
    if (err == 0)
        err = issue_check_binding(s);
    if (err == 0)
        err = issue_check_hw_policy(s);
    if (err == 0)
        err = allowed_ahead(s, ret_ahead);
    return err;
}

/* In one read transaction: one snapshot, and on SQLite one look at what other processes
 * committed instead of one per statement (each look that finds a commit empties the
 * connection's page cache). */
int
issue_prepare_read(struct issue_state *s, bool *ret_ahead)
{
    int err, end;

    err = store_begin(s->r->store, STORE_TXN_READ);
    if (err < 0)
        return err;
    err = issue_prepare_facts(s, ret_ahead);
    if (err < 0) {
        store_rollback(s->r->store);
        return err;
    }
    end = store_commit(s->r->store);
    return end < 0 ? end : err;
}

int
issue_sign_ahead_send(struct issue_state *s, struct signing *g, uint64_t *ret_id)
{
    int err = issue_signing_init(s, g);

    if (err >= 0)
        err = issue_sign_send(s, g, ret_id);
    return err == -E2BIG ? 1 : err; /* too many DNS names: the transaction answers FAILED */
}

int
issue_sign_ahead_recv(struct issue_state *s, const struct signing *g, uint64_t id, json_t **ret)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    struct ca_error error = { "" };
    int err;

    *ret = NULL;
    err = ca_client_issue_recv(s->r->ctx->ca_fd, id, &error, &issued);
    if (issue_ca_refused(err))
        return 0; /* the transaction finds the same and answers FAILED */
    if (err < 0)
        return err;
    return presigned_to_json(issued, g->key, ret);
}
