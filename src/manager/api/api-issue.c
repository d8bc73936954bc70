/* /v1/node/certificate/...: a node forwards an app's certificate request and polls its approval
 * (docs/api.md "Node API", docs/issuance.md). The pipeline itself is issuance/issue.c. */
#include <attest/evidence.h>

#include "api.h"
#include "body.h"
#include "ca-issue.h"
#include "issue.h"
#include "nonce.h"
#include "routes.h"

/* PEM text: printable lines (the default check refuses the line breaks PEM needs). */
static const char *
check_pem_text(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\r') || *p == 0x7f)
            return "must be PEM text";
    return NULL;
}

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

static int
node_certificate_issue_prepare(struct api_request *r)
{
    int err = api_check_body(r, issue_fields, BODY_CREATE);

    return err < 0 ? err : issue_prepare(r);
}

static int
node_certificate_result(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "task");

    return err < 0 ? err : issue_result(r, r->params[0]);
}

const struct route api_issue_routes[] = {
    { EVHTTP_REQ_POST, "/v1/node/certificate/issue", AUTH_NODE, ROLE_NONE, true, issue_certificate,
      "node_certificate_issue", node_certificate_issue_prepare },
    { EVHTTP_REQ_GET, "/v1/node/certificate/result/{}", AUTH_NODE, ROLE_NONE, false,
      node_certificate_result, "node_certificate_result" },
    { .pattern = NULL },
};
