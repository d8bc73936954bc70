/* Steps 6 to 9: the nonce consumed, the certificate signed through the CA process (or the one
 * signed ahead, issue-ahead.c, when it is for exactly this profile), recorded with its app
 * instance and audit event, and the SUCCESS answer. */
#include "issue-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ca-process.h"
#include "crypto-util.h"
#include "presigned.h"
#include "store-certificates.h"
#include "store-instances.h"

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

void
issue_signing_release(struct signing *g)
{
    free(g->key);
}

/* -E2BIG when the app's certificate names more DNS names than a certificate may carry. */
int
issue_signing_init(const struct issue_state *s, struct signing *g)
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
bool
issue_ca_refused(int err)
{
    return err == -EINVAL || err == -ERANGE || err == -E2BIG || err == -EOPNOTSUPP;
}

/* The CSR's key (DER SubjectPublicKeyInfo) from the hex the prepare step handed on. */
static int
spki_of(const struct issue_state *s, uint8_t **ret_spki, size_t *ret_len)
{
    size_t len = s->spki_hex ? strlen(s->spki_hex) / 2 : 0;
    uint8_t *spki;

    if (len == 0 || len > CA_CSR_MAX)
        return -EINVAL;
    spki = malloc(len);
    if (!spki)
        return -ENOMEM;
    if (hex_decode(s->spki_hex, spki, len) < 0) {
        free(spki);
        return -EINVAL;
    }
    *ret_spki = spki;
    *ret_len = len;
    return 0;
}

/* Through the CA process. The CSR's key, which the prepare step took from the CSR it verified:
 * the CA process does not parse the CSR again (docs/ca.md). */
int
issue_sign(const struct issue_state *s, const struct signing *g, struct ca_error *error,
           struct ca_issued **ret_issued)
{
    _cleanup_free_ uint8_t *spki = NULL;
    size_t spki_len;
    int err = spki_of(s, &spki, &spki_len);

    if (err < 0)
        return err;
    return ca_client_issue_spki(s->r->ctx->ca_fd, s->r->zone_id, &g->profile, spki, spki_len, error,
                                ret_issued);
}

int
issue_sign_send(const struct issue_state *s, const struct signing *g, uint64_t *ret_id)
{
    _cleanup_free_ uint8_t *spki = NULL;
    size_t spki_len;
    int err = spki_of(s, &spki, &spki_len);

    if (err < 0)
        return err;
    return ca_client_issue_spki_send(s->r->ctx->ca_fd, s->r->zone_id, &g->profile, spki, spki_len,
                                     ret_id);
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
    return issue_sign(s, g, error, ret_issued);
}

/* Steps 6 to 9. */
int
issue_sign_and_record(struct issue_state *s)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(issue_signing_release) struct signing g = { 0 };
    struct ca_error error = { "" };
    struct issued_record rec;
    int err;

    err = store_nonce_consume(s->r->store, s->nonce_id,
                              s->now_ms + (ISSUE_NONCE_TTL_SEC * 1000) + NONCE_CLOCK_SKEW_MS);
    if (err == -EEXIST) {
        /* A replay won the race on another account's lock; the failed insert may have ended
         * the transaction (PostgreSQL), so answer without an audit event and roll back. */
        issue_reply_status(s->r, "", ISSUE_STATUS_DENIED, "nonce already used (replay)");
        return -ECANCELED;
    }
    if (err < 0)
        return err;

    err = issue_signing_init(s, &g);
    if (err == -E2BIG)
        return issue_fail(
            s, "the app's certificate names more DNS names than a certificate may carry");
    if (err >= 0)
        err = signed_certificate(s, &g, &error, &issued);
    if (issue_ca_refused(err))
        return issue_fail(s, *error.message ? error.message
                                            : "the CA refused the certificate profile");
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
