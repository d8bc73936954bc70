/* /v1/nodes: enrollment with a join token, and the account's view of its nodes (docs/nodes.md,
 * docs/api.md "Nodes"). The agent's own calls (/v1/node/...) are in api-node-agent.c. */
#include "api-nodes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit.h"
#include "ca-process.h"
#include "crypto-util.h"
#include "hw-verify.h"
#include "json-member.h"
#include "metrics.h"
#include "routes.h"
#include "store-accounts.h"
#include "store-certificates.h"
#include "store-instances.h"
#include "store-nodes.h"

#define NODE_HOST_ID_MAX 255
#define NODE_AGENT_VERSION_MAX 64
#define NODE_SIM_KEY_MAX 1024 /* base64 of a DER SPKI (a P-256 one is 91 bytes) */
#define NODE_LABELS_MAX 64
#define NODE_LABEL_VALUE_MAX 255
#define JOIN_TOKEN_TEXT_MAX 256
#define ATTESTATION_NONE "NONE"
#define ATTESTATION_SIM "SIM"
#define ATTESTATION_SGX_DCAP "SGX_DCAP"
#define ATTESTATION_TDX "TDX"
#define ATTESTATION_SNP "SNP"

static const char *
check_ipaddress(const char *value)
{
    unsigned char addr[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1)
        return NULL;
    return "must be an IPv4 or IPv6 address";
}

static const char *const enroll_evidence_types[] = { "sgx-dcap", "tdx", "snp", NULL };

static const struct field_spec enroll_evidence_fields[] = {
    { .name = "type", .type = FIELD_ENUM, .required = true, .values = enroll_evidence_types },
    { .name = "data",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = (ATTEST_EVIDENCE_DATA_MAX + 2) / 3 * 4 },
    { .name = NULL },
};

static const struct field_spec attestation_request_fields[] = {
    { .name = "csr",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = CA_CSR_MAX,
      .check_string = check_pem_text },
    { .name = "sim_key", .type = FIELD_STRING, .min = 1, .max = NODE_SIM_KEY_MAX },
    /* Hardware evidence {type, data} (docs/nodes.md, "Attestation at enrollment"). */
    { .name = "evidence", .type = FIELD_OBJECT, .fields = enroll_evidence_fields },
    { .name = NULL },
};

static const struct field_spec node_enroll_fields[] = {
    { .name = "name",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = FIELD_NAME_MAX,
      .check_string = check_no_control },
    { .name = "description", .type = FIELD_STRING, .max = FIELD_DESCRIPTION_MAX },
    { .name = "ipaddress",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = INET6_ADDRSTRLEN,
      .check_string = check_ipaddress },
    { .name = "host_id",
      .type = FIELD_STRING,
      .max = NODE_HOST_ID_MAX,
      .check_string = check_no_control },
    { .name = "agent_version",
      .type = FIELD_STRING,
      .max = NODE_AGENT_VERSION_MAX,
      .check_string = check_no_control },
    { .name = "attestation_request",
      .type = FIELD_OBJECT,
      .required = true,
      .fields = attestation_request_fields },
    { .name = NULL },
};

static const struct field_spec node_update_fields[] = {
    { .name = "name",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = FIELD_NAME_MAX,
      .check_string = check_no_control },
    { .name = "description", .type = FIELD_STRING, .max = FIELD_DESCRIPTION_MAX },
    { .name = "labels",
      .type = FIELD_STRING_MAP,
      .max = NODE_LABELS_MAX,
      .item_max = NODE_LABEL_VALUE_MAX },
    { .name = NULL },
};

/* The curve of an EC key ("prime256v1", "secp384r1"), or "" for anything else. */
static void
ec_curve(EVP_PKEY *key, char out[64])
{
    size_t len = 0;

    out[0] = '\0';
    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, out, 64, &len) != 1)
        out[0] = '\0';
}

int
api_node_check_csr(struct api_request *r, const char *field, const char *csr_pem)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    struct ca_error error = { "" };
    char curve[64];
    int err;

    if (!strstr(csr_pem, "-----BEGIN CERTIFICATE REQUEST-----"))
        return api_bad_field(r, "%s: must be a PEM certificate request", field);
    err = ca_csr_parse(csr_pem, strlen(csr_pem), &error, &key);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return api_bad_field(r, "%s: %s", field, *error.message ? error.message : "not a CSR");
    ec_curve(key, curve);
    if (strcmp(curve, "prime256v1") != 0 && strcmp(curve, "secp384r1") != 0)
        return api_bad_field(r, "%s: the node key must be EC P-256 or P-384", field);
    return 0;
}

int
api_node_issue(struct api_request *r, const struct zone_info *zone, const char *node_id,
               const char *field, const char *csr_pem, struct ca_issued **ret_issued,
               char *ret_certificate_id)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    struct ca_error error = { "" };
    struct ca_profile profile = {
        .kind = CA_PROFILE_NODE,
        .trust_domain = zone->trust_domain,
        .node_id = node_id,
        .validity_seconds = NODE_CERT_VALIDITY,
    };
    char certificate_id[37];
    int err;

    err = ca_client_issue(r->ctx->ca_fd, zone->zone_id, &profile, csr_pem, strlen(csr_pem), &error,
                          &issued);
    if (err == -EBADMSG || err == -EOPNOTSUPP || err == -E2BIG)
        return api_bad_field(r, "%s: %s", field, *error.message ? error.message : "refused");
    if (err < 0)
        return err;
    err = uuid_random(certificate_id);
    if (err < 0)
        return err;
    err = store_certificate_insert(r->store, &(struct certificate_new){
                                                 .certificate_id = certificate_id,
                                                 .acct_id = zone->acct_id,
                                                 .zone_id = zone->zone_id,
                                                 .kind = CERT_KIND_NODE,
                                                 .serial_hex = issued->serial_hex,
                                                 .subject = node_id,
                                                 .dns_names = "[]",
                                                 .csr_pem = csr_pem,
                                                 .cert_pem = issued->cert_pem,
                                                 .not_before = issued->not_before,
                                                 .not_after = issued->not_after,
                                                 .node_id = node_id,
                                                 .claims = "{}",
                                                 .now = api_now(r),
                                             });
    if (err < 0)
        return err;
    *ret_issued = TAKE_PTR(issued);
    memcpy(ret_certificate_id, certificate_id, sizeof(certificate_id));
    return 0;
}

/* ---- enrollment ---- */

/* The join token of an enrollment: "Authorization: Bearer <token>". */
static const char *
join_token(struct api_request *r)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->http), "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7] || strlen(h + 7) > JOIN_TOKEN_TEXT_MAX)
        return NULL;
    return h + 7;
}

/* Enrollment events are the node's, though the node is not authenticated yet. */
static int
enroll_audit(struct api_request *r, const char *node_id, const char *severity, const char *message)
{
    return audit_append(r->store, &(struct audit_event){
                                      .chain = r->acct_id,
                                      .time = api_now(r),
                                      .actor_type = "NODE",
                                      .actor_id = node_id ? node_id : "",
                                      .actor_name = r->remote_ip,
                                      .action_type = "NODE_ATTESTATION",
                                      .severity = severity,
                                      .message = message,
                                      .entity_type = node_id ? "node" : NULL,
                                      .entity_id = node_id,
                                  });
}

/* Takes one use of the bearer join token and selects its account for the rest of the request:
 * 0. A used or expired token is refused: 1 with the 401 prepared and its audit event written,
 * for the caller to commit (nothing else was); an unknown one is not audited (there is no
 * account to record it in): -ECANCELED. */
static int
enroll_take_token(struct api_request *r, struct join_token_use *ret_use)
{
    const char *token = join_token(r);
    char hash[SHA256_HEX_LEN + 1], message[256];
    struct join_token_use use = { "" };
    int64_t now_ms = 0;
    int err, rc;

    if (!token)
        return api_error(r, 401, "UN_AUTHORIZED",
                         "join token: required (Authorization: Bearer <join token>)");
    err = time_parse_rfc3339(api_now(r), &now_ms);
    if (err < 0)
        return err;
    sha256_hex(token, strlen(token), hash);
    err = store_join_token_consume(r->store, hash, now_ms, &use);
    if (err == -ENOENT)
        return api_error(r, 401, "UN_AUTHORIZED", "join token: unknown");
    if (err != -ETIME && err != -EUSERS && err < 0)
        return err;
    snprintf(r->acct_id, sizeof(r->acct_id), "%s", use.acct_id);
    /* The account's writers serialise after the system scope the router took (router.c). */
    rc = store_lock_scope(r->store, r->acct_id);
    if (rc < 0)
        return rc;
    if (err == 0) {
        *ret_use = use;
        return 0;
    }
    snprintf(message, sizeof(message), "Enrollment refused: join token %s",
             err == -ETIME ? "expired" : "already used");
    rc = enroll_audit(r, NULL, "WARNING", message);
    if (rc < 0)
        return rc;
    if (err == -ETIME)
        api_error(r, 401, "UN_AUTHORIZED", "join token: expired");
    else
        api_error(r, 401, "UN_AUTHORIZED", "join token: already used (it allowed %lld use%s)",
                  (long long)use.uses_total, use.uses_total == 1 ? "" : "s");
    return 1;
}

/* Base64 (standard alphabet, padded) of a DER SubjectPublicKeyInfo holding an EC P-256 key. */
static int
check_sim_key(struct api_request *r, const char *text)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    size_t len = strlen(text);
    unsigned char der[NODE_SIM_KEY_MAX];
    const unsigned char *p = der;
    char curve[64];
    int n;

    if (len % 4 != 0 || len / 4 * 3 > sizeof(der))
        return api_bad_field(r, "attestation_request.sim_key: must be base64 of a DER public key");
    n = EVP_DecodeBlock(der, (const unsigned char *)text, (int)len);
    if (n < 0)
        return api_bad_field(r, "attestation_request.sim_key: must be base64 of a DER public key");
    /* EVP_DecodeBlock counts the padding as decoded zero bytes. */
    n -= (text[len - 1] == '=') + (text[len - 2] == '=');
    key = d2i_PUBKEY(NULL, &p, n);
    if (!key || p != der + n)
        return api_bad_field(r, "attestation_request.sim_key: not a DER SubjectPublicKeyInfo");
    ec_curve(key, curve);
    if (strcmp(curve, "prime256v1") != 0)
        return api_bad_field(r, "attestation_request.sim_key: must be an EC P-256 key");
    return 0;
}

static int
account_allows_simulation(struct api_request *r, bool *ret_allowed)
{
    int64_t allowed = 0;
    int err = store_query_int(r->store, "SELECT allow_simulation FROM accounts WHERE acct_id = ?",
                              STORE_ARGS(SV_TEXT(r->acct_id)), &allowed);

    if (err < 0)
        return err;
    *ret_allowed = allowed != 0;
    return 0;
}

/* 403 ATTESTATION_FAILED naming the step. */
static int
enroll_refuse(struct api_request *r, enum attest_step step, const char *reason)
{
    return api_error(r, 403, "ATTESTATION_FAILED", "evidence refused at step '%s': %s",
                     attest_step_name(step), reason);
}

/* The account's attestation policy (hw-policy.h) judges the verified evidence. */
static int
enroll_judge(struct api_request *r, const struct hw_verified *v)
{
    _cleanup_(json_decrefp) json_t *row = NULL;
    struct attest_failure failure = { 0 };
    struct hw_policy policy;
    int err;

    err = store_issuance_account_get(r->store, r->acct_id, &row);
    if (err >= 0)
        err = hw_policy_resolve(json_object_get(row, "attestation_policy"), NULL, &policy);
    if (err < 0)
        return err;
    err = hw_policy_judge(v, &policy, true, &failure);
    if (err == -ENOMEM)
        return err;
    return err < 0 ? enroll_refuse(r, failure.step, failure.reason) : 0;
}

/* Hardware evidence of the node (TDX, SNP, SGX): verified against the store's collateral now,
 * report_data[0..32] binding the join token and the CSR key, judged by the account's policy.
 * The claims' TCB status into tcb (its static name). */
static int
enroll_hardware(struct api_request *r, const json_t *request, const char **ret_type,
                const char **ret_tcb)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *csr_key = NULL;
    const char *csr = member_text(request, "csr");
    struct attest_evidence *evidence = NULL;
    struct attest_failure failure = { 0 };
    enum attest_step step = ATTEST_STEP_NONE;
    struct ca_error error = { "" };
    uint8_t *spki = NULL, binding[32];
    struct hw_verified v;
    size_t spki_len = 0;
    int64_t now_ms = 0;
    int err;

    err = attest_evidence_from_json(json_object_get(request, "evidence"), &evidence, &step);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return enroll_refuse(r, step, "the evidence envelope does not read");
    err = ca_csr_check(csr, strlen(csr), &error, &csr_key, &spki, &spki_len);
    if (err >= 0)
        err = time_parse_rfc3339(api_now(r), &now_ms);
    if (err >= 0) {
        err = hw_verify(r->store, &r->ctx->hw_cache, evidence, now_ms / 1000, &v, &failure);
        if (err < 0 && err != -ENOMEM && failure.step != ATTEST_STEP_NONE)
            err = enroll_refuse(r, failure.step, failure.reason);
        else if (err >= 0) {
            hw_enroll_binding(join_token(r), spki, spki_len, binding);
            if (memcmp(v.claims.report_data, binding, sizeof(binding)) != 0)
                err = enroll_refuse(r, ATTEST_STEP_REPORT_DATA,
                                    "report_data[0..32] does not bind the join token and the "
                                    "CSR key");
        }
    }
    attest_evidence_free(evidence);
    OPENSSL_free(spki);
    if (err >= 0)
        err = enroll_judge(r, &v);
    if (err < 0)
        return err;
    *ret_type = v.claims.platform == ATTEST_PLATFORM_SGX_DCAP ? ATTESTATION_SGX_DCAP
                : v.claims.platform == ATTEST_PLATFORM_TDX    ? ATTESTATION_TDX
                                                              : ATTESTATION_SNP;
    *ret_tcb = attest_tcb_status_name(v.claims.tcb_status);
    return 0;
}

/* The attestation type the body asks for: SIM with a sim_key (if the account allows it), a
 * hardware type with evidence, NONE with neither. */
static int
enroll_attestation(struct api_request *r, const json_t *request, const char **ret_type,
                   const char **ret_tcb)
{
    const char *sim_key = member_text(request, "sim_key");
    bool allowed = false;
    int err;

    *ret_tcb = NULL;
    if (json_object_get(request, "evidence") &&
        !json_is_null(json_object_get(request, "evidence"))) {
        if (sim_key)
            return api_bad_field(r,
                                 "attestation_request: give either sim_key or evidence, not both");
        return enroll_hardware(r, request, ret_type, ret_tcb);
    }
    if (!sim_key) {
        *ret_type = ATTESTATION_NONE;
        return 0;
    }
    err = check_sim_key(r, sim_key);
    if (err >= 0)
        err = account_allows_simulation(r, &allowed);
    if (err < 0)
        return err;
    if (!allowed)
        return api_error(r, 403, "ATTESTATION_FAILED",
                         "simulated attestation is not allowed in this account");
    *ret_type = ATTESTATION_SIM;
    return 0;
}

static int
enroll_reply(struct api_request *r, const struct zone_info *zone, const char *node_id,
             const char *certificate_id, const struct ca_issued *issued)
{
    json_t *answer =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "node_id", node_id,
                  "zone_id", zone->zone_id, "acct_id", zone->acct_id, "trust_domain",
                  zone->trust_domain, "certificate", issued->cert_pem, "chain", issued->chain_pem,
                  "ca_certificate", zone->root_cert_pem, "certificate_id", certificate_id,
                  "node_refresh_interval", (json_int_t)zone->node_refresh_interval,
                  "node_renewal_threshold", (json_int_t)zone->node_renewal_threshold);

    if (!answer)
        return -ENOMEM;
    return api_reply(r, 201, answer);
}

static int
nodes_enroll_run(struct api_request *r)
{
    _cleanup_(zone_info_release) struct zone_info zone = { .trust_domain = NULL };
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    struct join_token_use use;
    const json_t *request;
    const char *attestation_type = NULL, *tcb_status = NULL, *csr;
    char node_id[37], certificate_id[37], message[512];
    int64_t now_ms = 0;
    int err;

    err = enroll_take_token(r, &use);
    if (err > 0)
        return 0; /* commit the refusal's audit event */
    if (err >= 0)
        err = api_check_body(r, node_enroll_fields, BODY_CREATE);
    if (err < 0)
        return err;
    request = json_object_get(r->body, "attestation_request");
    csr = member_text(request, "csr");
    err = api_node_check_csr(r, "attestation_request.csr", csr);
    if (err >= 0)
        err = enroll_attestation(r, request, &attestation_type, &tcb_status);
    if (err >= 0)
        err = store_zone_info(r->store, use.acct_id, use.zone_id, &zone);
    if (err >= 0)
        err = uuid_random(node_id);
    if (err >= 0)
        err = api_node_issue(r, &zone, node_id, "attestation_request.csr", csr, &issued,
                             certificate_id);
    if (err >= 0)
        err = time_parse_rfc3339(api_now(r), &now_ms);
    if (err < 0)
        return err;
    err = store_node_insert(r->store, &(struct node_new){
                                          .node_id = node_id,
                                          .acct_id = zone.acct_id,
                                          .zone_id = zone.zone_id,
                                          .name = member_text(r->body, "name"),
                                          .description = member_text(r->body, "description"),
                                          .ipaddress = member_text(r->body, "ipaddress"),
                                          .host_id = member_text(r->body, "host_id"),
                                          .attestation_type = attestation_type,
                                          .attestation_key = member_text(request, "sim_key"),
                                          .tcb_status = tcb_status,
                                          .agent_version = member_text(r->body, "agent_version"),
                                          .cert_serial = issued->serial_hex,
                                          .now = api_now(r),
                                          .now_ms = now_ms,
                                      });
    if (err < 0)
        return err;
    snprintf(message, sizeof(message),
             "Node '%.255s' (%s) enrolled in zone %s with attestation %s; certificate %s",
             member_text(r->body, "name"), member_text(r->body, "ipaddress"), zone.zone_id,
             attestation_type, issued->serial_hex);
    err = enroll_audit(r, node_id, "INFO", message);
    if (err < 0)
        return err;
    return enroll_reply(r, &zone, node_id, certificate_id, issued);
}

/* Counts the outcome of an enrollment by its answer. */
static int
nodes_enroll(struct api_request *r)
{
    int err = nodes_enroll_run(r);
    enum metrics_enrollment result = METRICS_ENROLLMENT_ERROR;

    if (err >= 0 && r->status == 201)
        result = METRICS_ENROLLMENT_SUCCESS;
    else if (r->status == 401)
        result = METRICS_ENROLLMENT_TOKEN_REFUSED;
    else if (r->status == 403)
        result = METRICS_ENROLLMENT_ATTESTATION_REFUSED;
    else if (r->status == 400)
        result = METRICS_ENROLLMENT_INVALID;
    metrics_count_enrollment(r->ctx->metrics, result);
    if (result == METRICS_ENROLLMENT_SUCCESS)
        metrics_count_certificate(r->ctx->metrics, METRICS_CERTIFICATE_NODE);
    return err;
}

/* ---- the account's view ---- */

static int
nodes_list(struct api_request *r)
{
    static const char *const statuses[] = { NODE_STATUS_RUNNING, NODE_STATUS_STOPPED,
                                            NODE_STATUS_DEACTIVATED, NULL };
    const char *status = NULL, *zone_id = api_query(r, "zone_id");
    struct list_params p;
    struct list_page page;
    int err;

    err = api_query_enum(r, "status", statuses, &status);
    if (err >= 0)
        err = api_list_params(r, store_node_sorts, "created_at", true, &p);
    if (err >= 0)
        err = store_node_list(r->store, r->acct_id, zone_id, status, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

/* Loads the path's node of the selected account (locked for writes); 404 otherwise. */
static int
node_load(struct api_request *r, bool lock, json_t **ret_node)
{
    int err = api_path_uuid(r, 0, "node");

    if (err >= 0)
        err = store_node_get(r->store, r->acct_id, r->params[0], lock, ret_node);
    return api_store_error(r, err, "node");
}

/* The node with its current certificate (PEM) and its app instances. */
static int
reply_node(struct api_request *r, int status, const char *node_id)
{
    _cleanup_(json_decrefp) json_t *node = NULL, *certificate = NULL;
    json_t *instances = NULL;
    int err;

    err = store_node_get(r->store, r->acct_id, node_id, false, &node);
    if (err < 0)
        return api_store_error(r, err, "node");
    err = store_node_certificate(r->store, r->acct_id, node_id, &certificate);
    if (err < 0 && err != -ENOENT)
        return err;
    if (json_object_set(node, "certificate",
                        certificate ? json_object_get(certificate, "certificate") : json_null()) <
        0)
        return -ENOMEM;
    err = store_node_instances(r->store, r->acct_id, node_id, &instances);
    if (err < 0)
        return err;
    if (json_object_set_new(node, "instances", instances) < 0)
        return -ENOMEM;
    return api_reply(r, status, TAKE_PTR(node));
}

static int
nodes_get(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "node");

    return err < 0 ? err : reply_node(r, 200, r->params[0]);
}

/* The value after the PATCH: the body's when it names key (null clears it), else the old one. */
static const char *
patched_text(const json_t *body, const json_t *old, const char *key)
{
    const json_t *value = json_object_get(body, key);

    if (!value)
        return member_text(old, key);
    return json_is_string(value) ? json_string_value(value) : "";
}

static int
nodes_update(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *old = NULL;
    _cleanup_free_ char *labels = NULL;
    const json_t *new_labels;
    char fields[128];
    int err;

    err = api_check_body(r, node_update_fields, BODY_UPDATE);
    if (err >= 0 && json_is_null(json_object_get(r->body, "name")))
        err = api_bad_field(r, "name: must not be null");
    if (err >= 0)
        err = node_load(r, true, &old);
    if (err < 0)
        return err;
    new_labels = json_object_get(r->body, "labels");
    if (new_labels && json_is_null(new_labels))
        labels = strdup("{}");
    else
        labels = json_dumps(new_labels ? new_labels : json_object_get(old, "labels"),
                            JSON_COMPACT | JSON_SORT_KEYS);
    if (!labels)
        return -ENOMEM;
    err = store_node_update(r->store, r->acct_id, r->params[0], patched_text(r->body, old, "name"),
                            patched_text(r->body, old, "description"), labels, api_now(r));
    if (err < 0)
        return api_store_error(r, err, "node");
    api_body_fields(r, fields, sizeof(fields));
    err = api_audit(r, "ADMIN", "INFO", "node", r->params[0], "Updated node '%s' (%s)",
                    patched_text(r->body, old, "name"), fields);
    if (err < 0)
        return err;
    return reply_node(r, 200, r->params[0]);
}

/* Deactivation is final: the node's certificate and those of the apps it ran are revoked (the
 * zone's next CRL lists them) and every later /v1/node call of the node is refused. A second
 * deactivation is 409 INVALID_STATE. */
static int
nodes_deactivate(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *old = NULL;
    int64_t revoked = 0;
    int err;

    err = node_load(r, true, &old);
    if (err < 0)
        return err;
    err = store_node_deactivate(r->store, r->acct_id, r->params[0], api_now(r));
    if (err == -EALREADY)
        return api_error(r, 409, "INVALID_STATE", "node %s is already deactivated", r->params[0]);
    if (err >= 0)
        err = store_certificates_revoke_node(r->store, r->acct_id, r->params[0], "node deactivated",
                                             api_now(r), &revoked);
    if (err >= 0)
        err = api_audit(r, "NODE_STATUS", "WARNING", "node", r->params[0],
                        "Deactivated node '%s'; %lld certificate(s) revoked",
                        member_text(old, "name"), (long long)revoked);
    if (err < 0)
        return api_store_error(r, err, "node");
    return reply_node(r, 200, r->params[0]);
}

static int
nodes_certificate(struct api_request *r)
{
    json_t *certificate = NULL;
    int err = api_path_uuid(r, 0, "node");

    if (err >= 0)
        err = api_store_error(
            r, store_node_certificate(r->store, r->acct_id, r->params[0], &certificate), "node");
    if (err < 0)
        return err;
    return api_reply(r, 200, certificate);
}

const struct route api_nodes_routes[] = {
    /* The join token is the credential, checked by the handler (enroll_take_token). */
    { EVHTTP_REQ_POST, "/v1/nodes", AUTH_NONE, ROLE_NONE, true, nodes_enroll, "nodes_enroll" },
    { EVHTTP_REQ_GET, "/v1/nodes", AUTH_ACCOUNT, ROLE_READER, false, nodes_list, "nodes_list" },
    { EVHTTP_REQ_GET, "/v1/nodes/{}", AUTH_ACCOUNT, ROLE_READER, false, nodes_get, "nodes_get" },
    { EVHTTP_REQ_PATCH, "/v1/nodes/{}", AUTH_ACCOUNT, ROLE_WRITER, true, nodes_update,
      "nodes_update" },
    { EVHTTP_REQ_POST, "/v1/nodes/{}/deactivate", AUTH_ACCOUNT, ROLE_WRITER, true, nodes_deactivate,
      "nodes_deactivate" },
    { EVHTTP_REQ_GET, "/v1/nodes/{}/certificate", AUTH_ACCOUNT, ROLE_READER, false,
      nodes_certificate, "nodes_certificate" },
    { .pattern = NULL },
};
