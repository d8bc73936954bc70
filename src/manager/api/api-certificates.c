/* /v1/certificates: the certificates of the account (node and app), their revocation, an app
 * instance's certificate, and where a build (or any app of the account) runs (docs/api.md
 * "Certificates").
 *
 * Revoking bumps the zone's CRL number in the same transaction (store-certificates.c), so the
 * next GET /v1/zones/{id}/crl lists the certificate. */
#include <errno.h>
#include <string.h>

#include "api.h"
#include "body.h"
#include "crypto-util.h"
#include "routes.h"
#include "store-certificates.h"
#include "store-instances.h"
#include "store-nodes.h"

#define REVOKE_REASON_MAX 1024

static const char *const status_values[] = { "ISSUED", "REVOKED", "EXPIRED", NULL };
static const char *const kind_values[] = { CERT_KIND_NODE, CERT_KIND_APP, NULL };
static const char *const instance_status_values[] = { NODE_STATUS_RUNNING, NODE_STATUS_STOPPED,
                                                      NULL };

static const struct field_spec revoke_fields[] = {
    { .name = "reason",
      .type = FIELD_STRING,
      .min = 0,
      .max = REVOKE_REASON_MAX,
      .check_string = check_no_control },
    { .name = NULL },
};

static int64_t
request_ms(struct api_request *r)
{
    int64_t ms = 0;

    return time_parse_rfc3339(api_now(r), &ms) < 0 ? time_now_unix_ms() : ms;
}

static int
reply_certificate(struct api_request *r, int status, const char *certificate_id)
{
    json_t *cert = NULL;
    int err;

    err = store_cert_record_get(r->store, r->acct_id, certificate_id, request_ms(r), &cert);
    return err < 0 ? api_store_error(r, err, "certificate") : api_reply(r, status, cert);
}

static int
certificates_list(struct api_request *r)
{
    struct cert_record_filters f = {
        .app_id = api_query(r, "app_id"),
        .node_id = api_query(r, "node_id"),
    };
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_cert_record_sorts, "created_at", true, &p);
    if (err >= 0)
        err = api_query_enum(r, "status", status_values, &f.status);
    if (err >= 0)
        err = api_query_enum(r, "kind", kind_values, &f.kind);
    if (err >= 0)
        err = store_cert_record_list(r->store, r->acct_id, &f, request_ms(r), &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

static int
certificates_get(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "certificate");

    return err < 0 ? err : reply_certificate(r, 200, r->params[0]);
}

static int
certificates_revoke(struct api_request *r)
{
    const char *reason = NULL;
    int err;

    err = api_path_uuid(r, 0, "certificate");
    if (err < 0)
        return err;
    if (r->body) {
        err = api_check_body(r, revoke_fields, BODY_CREATE);
        if (err < 0)
            return err;
        reason = json_string_value(json_object_get(r->body, "reason"));
    }
    if (!reason || !*reason)
        reason = "revoked by a user";
    err = store_certificate_revoke(r->store, r->acct_id, r->params[0], reason, api_now(r));
    if (err == -EALREADY)
        return api_error(r, 409, "INVALID_STATE", "certificate is already revoked");
    if (err < 0)
        return api_store_error(r, err, "certificate");
    err = api_audit(r, "CERTIFICATE", "INFO", "certificate", r->params[0],
                    "Revoked certificate %s: %s", r->params[0], reason);
    if (err < 0)
        return err;
    return reply_certificate(r, 200, r->params[0]);
}

static int
app_node_certificate(struct api_request *r)
{
    json_t *cert = NULL;
    int err;

    err = api_path_uuid(r, 0, "app");
    if (err >= 0)
        err = api_path_uuid(r, 1, "node");
    if (err < 0)
        return err;
    err = store_cert_record_of_instance(r->store, r->acct_id, r->params[0], r->params[1],
                                        request_ms(r), &cert);
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND", "no certificate of this app on this node");
    if (err < 0)
        return err;
    return api_reply(r, 200, cert);
}

static int
build_deployments(struct api_request *r)
{
    struct list_params p;
    struct list_page page;
    int err;

    err = api_path_uuid(r, 0, "build");
    if (err >= 0)
        err = api_list_params(r, store_instance_sorts, "attested_at", true, &p);
    if (err >= 0)
        err = store_instance_list_by_build(r->store, r->acct_id, r->params[0], &p, &page);
    if (err < 0)
        return api_store_error(r, err, "build");
    return api_reply_list(r, &p, &page);
}

/* Every instance of the account: what the console's running apps and dashboard show, in one
 * query where the deployments of each build would take one per build. */
static int
instances_list(struct api_request *r)
{
    struct instance_filters f = {
        .app_id = api_query(r, "app_id"),
        .build_id = api_query(r, "build_id"),
        .node_id = api_query(r, "node_id"),
    };
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_instance_sorts, "attested_at", true, &p);
    if (err >= 0)
        err = api_query_enum(r, "status", instance_status_values, &f.status);
    if (err >= 0)
        err = store_instance_list(r->store, r->acct_id, &f, request_ms(r), &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

const struct route api_certificates_routes[] = {
    { EVHTTP_REQ_GET, "/v1/certificates", AUTH_ACCOUNT, ROLE_READER, false, certificates_list,
      "certificates_list" },
    { EVHTTP_REQ_GET, "/v1/certificates/{}", AUTH_ACCOUNT, ROLE_READER, false, certificates_get,
      "certificates_get" },
    { EVHTTP_REQ_POST, "/v1/certificates/{}/revoke", AUTH_ACCOUNT, ROLE_WRITER, true,
      certificates_revoke, "certificates_revoke" },
    { EVHTTP_REQ_GET, "/v1/apps/{}/node/{}/certificate", AUTH_ACCOUNT, ROLE_READER, false,
      app_node_certificate, "apps_node_certificate" },
    { EVHTTP_REQ_GET, "/v1/builds/deployments/{}", AUTH_ACCOUNT, ROLE_READER, false,
      build_deployments, "builds_deployments" },
    { EVHTTP_REQ_GET, "/v1/instances", AUTH_ACCOUNT, ROLE_READER, false, instances_list,
      "instances_list" },
    { .pattern = NULL },
};
