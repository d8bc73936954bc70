/* /v1/node/...: the calls a node's agent makes with its node certificate (mTLS; the router has
 * authenticated the node and filled r->node_id, r->zone_id and r->acct_id: api-node-auth.c).
 * Check-in, node certificate renewal and nonces (docs/nodes.md). The issuance calls are in
 * api-issue.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-nodes.h"
#include "bodies.h"
#include "crypto-util.h"
#include "metrics.h"
#include "nonce.h"
#include "routes.h"
#include "store-nodes.h"

#define NODE_AGENT_VERSION_MAX 64

/* Check-ins come every node_refresh_interval from every node, so this stays cheap: one read and
 * one update of the node, one update of its instances, and an audit event only when a node that
 * had stopped comes back. */

static const char *
body_agent_version(struct api_request *r)
{
    return json_string_value(json_object_get(r->body, "agent_version"));
}

/* {agent_version?, instances?: [{instance_id}]}: checked by hand, as body.h has no arrays of
 * objects. *ret_ids borrows the body's strings. */
static int
checkin_parse(struct api_request *r, const char ***ret_ids, size_t *ret_n)
{
    const json_t *version, *instances, *item;
    const char *key, **ids;
    json_t *value;
    size_t i, n;

    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: required");
    json_object_foreach(r->body, key, value) {
        if (strcmp(key, "agent_version") != 0 && strcmp(key, "instances") != 0)
            return api_bad_field(r, "%s: unknown field", key);
    }
    version = json_object_get(r->body, "agent_version");
    if (version && !json_is_null(version) &&
        (!json_is_string(version) || json_string_length(version) > NODE_AGENT_VERSION_MAX ||
         check_no_control(json_string_value(version))))
        return api_bad_field(r, "agent_version: must be printable text of at most %d bytes",
                             NODE_AGENT_VERSION_MAX);
    instances = json_object_get(r->body, "instances");
    n = json_is_array(instances) ? json_array_size(instances) : 0;
    if (instances && !json_is_null(instances) &&
        (!json_is_array(instances) || n > NODE_INSTANCES_MAX))
        return api_bad_field(r, "instances: must be an array of at most %d items",
                             NODE_INSTANCES_MAX);
    ids = calloc(n ? n : 1, sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    json_array_foreach(instances, i, item) {
        const char *id = json_string_value(json_object_get(item, "instance_id"));

        if (!json_is_object(item) || json_object_size(item) != 1 || !id || !is_uuid(id)) {
            free(ids);
            return api_bad_field(r, "instances[%zu]: must be {\"instance_id\": <lower-case UUID>}",
                                 i);
        }
        ids[i] = id;
    }
    *ret_ids = ids;
    *ret_n = n;
    return 0;
}

static int
node_checkin(struct api_request *r)
{
    _cleanup_free_ const char **ids = NULL;
    struct node_checkin c;
    int64_t now_ms = 0;
    json_t *answer;
    size_t n = 0;
    int err;

    err = checkin_parse(r, &ids, &n);
    if (err >= 0)
        err = time_parse_rfc3339(api_now(r), &now_ms);
    if (err >= 0)
        err =
            store_node_checkin(r->store, r->node_id, body_agent_version(r), now_ms, api_now(r), &c);
    if (err >= 0)
        err = store_node_instances_seen(r->store, r->node_id, ids, n, now_ms, api_now(r));
    if (err >= 0 &&
        strcmp(node_status_at(NODE_STATUS_ACTIVE, c.prev_seen_ms, c.node_refresh_interval, now_ms),
               NODE_STATUS_STOPPED) == 0)
        err = api_audit(r, "NODE_STATUS", "INFO", "node", r->node_id,
                        "Node '%s' checked in again: STOPPED -> RUNNING", r->node_name);
    if (err < 0)
        return err;
    answer = json_pack("{s:I, s:I, s:s}", "node_refresh_interval",
                       (json_int_t)c.node_refresh_interval, "node_renewal_threshold",
                       (json_int_t)c.node_renewal_threshold, "node_status", NODE_STATUS_RUNNING);
    if (!answer)
        return -ENOMEM;
    return api_reply(r, 200, answer);
}

static const struct field_spec renew_fields[] = {
    { .name = "csr",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = CA_CSR_MAX,
      .check_string = check_pem_text },
    { .name = NULL },
};

/* A new node certificate for a new key; the previous one stays valid until it expires (an agent
 * that crashed before saving the new one can still call in). */
static int
node_renew(struct api_request *r)
{
    _cleanup_(zone_info_release) struct zone_info zone = { .trust_domain = NULL };
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    char certificate_id[37], valid_until[32];
    const char *csr;
    json_t *answer;
    int err;

    err = api_check_body(r, renew_fields, BODY_CREATE);
    if (err < 0)
        return err;
    csr = json_string_value(json_object_get(r->body, "csr"));
    err = api_node_check_csr(r, "csr", csr);
    if (err >= 0)
        err = store_zone_info(r->store, r->acct_id, r->zone_id, &zone);
    if (err >= 0)
        err = api_node_issue(r, &zone, r->node_id, "csr", csr, &issued, certificate_id);
    if (err >= 0)
        err = store_node_set_cert_serial(r->store, r->acct_id, r->node_id, issued->serial_hex,
                                         api_now(r));
    if (err >= 0)
        err = api_audit(r, "CERTIFICATE", "INFO", "node", r->node_id,
                        "Node '%s' renewed its certificate: %s", r->node_name, issued->serial_hex);
    if (err < 0)
        return err;
    time_format_rfc3339(issued->not_after * 1000, valid_until);
    answer = json_pack("{s:s, s:s, s:s, s:s, s:s}", "certificate", issued->cert_pem, "chain",
                       issued->chain_pem, "certificate_id", certificate_id, "serial",
                       issued->serial_hex, "valid_until", valid_until);
    if (!answer)
        return -ENOMEM;
    metrics_count_certificate(r->ctx->metrics, METRICS_CERTIFICATE_NODE);
    return api_reply(r, 200, answer);
}

/* {count?}: how many nonces to mint at once (an agent's pool, docs/agent.md). */
const struct field_spec node_nonce_fields[] = {
    { .name = "count", .type = FIELD_INT, .min = 1, .max = NONCE_BATCH_MAX },
    { .name = NULL },
};

/* Stateless nonces (nonce.h): nothing is written, any replica checks them. With count, all of
 * them in "nonces" and the first also in "nonce", as an agent that asks for one expects. */
static int
node_nonce(struct api_request *r)
{
    char nonce[NONCE_TEXT_MAX], expires_at[32];
    int64_t now_ms = time_now_unix_ms();
    _cleanup_(json_decrefp) json_t *answer = NULL;
    json_t *list = NULL;
    json_int_t count = 0;
    int err;

    /* No body or {} asks for one nonce, as before counts existed. */
    err = r->body ? api_check_body(r, node_nonce_fields, BODY_CREATE) : 0;
    if (err < 0)
        return err;
    count = json_integer_value(json_object_get(r->body, "count"));
    time_format_rfc3339(now_ms + NONCE_TTL_DEFAULT_SEC * 1000LL, expires_at);
    answer = json_object();
    if (!answer)
        return -ENOMEM;
    if (count > 0) {
        list = json_array();
        if (json_object_set_new(answer, "nonces", list) < 0)
            return -ENOMEM;
    }
    for (json_int_t i = 0; i < (count > 0 ? count : 1); i++) {
        err = nonce_issue(r->ctx->keys->nonce_key, now_ms, nonce);
        if (err < 0)
            return err;
        if ((i == 0 && json_object_set_new(answer, "nonce", json_string(nonce)) < 0) ||
            (list && json_array_append_new(list, json_string(nonce)) < 0))
            return -ENOMEM;
    }
    if (json_object_set_new(answer, "expires_at", json_string(expires_at)) < 0)
        return -ENOMEM;
    return api_reply(r, 200, TAKE_PTR(answer));
}

const struct route api_node_agent_routes[] = {
    { EVHTTP_REQ_POST, "/v1/node/status", AUTH_NODE, ROLE_NONE, true, node_checkin,
      "node_checkin" },
    { EVHTTP_REQ_POST, "/v1/node/certificate/renew", AUTH_NODE, ROLE_NONE, true, node_renew,
      "node_renew" },
    /* Writes nothing: a read route (its body, {} or {"count": N}, only says how many). */
    { EVHTTP_REQ_POST, "/v1/node/nonce", AUTH_NODE, ROLE_NONE, false, node_nonce, "node_nonce" },
    { .pattern = NULL },
};
