/* /v1/node/certificate/...: a node forwards an app's certificate request and polls its approval
 * (docs/api.md "Node API", docs/issuance.md). The pipeline itself is issuance/issue.c. */
#include <errno.h>

#include "api.h"
#include "body.h"
#include "issue.h"
#include "routes.h"

static int
node_certificate_issue_prepare(struct api_request *r)
{
    struct issue_body body;
    char why[BODY_ERROR_MAX];
    int err;

    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: required");
    err = issue_body_parse(r->body, &body, why, sizeof(why));
    if (err == -EINVAL)
        return api_bad_field(r, "%s", why);
    if (err < 0)
        return err;
    return issue_prepare(r, &body);
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
    { EVHTTP_REQ_POST, "/v1/node/certificate/issue-batch", AUTH_NODE, ROLE_NONE, true, issue_batch,
      "node_certificate_issue_batch", issue_batch_prepare },
    { EVHTTP_REQ_GET, "/v1/node/certificate/result/{}", AUTH_NODE, ROLE_NONE, false,
      node_certificate_result, "node_certificate_result" },
    { .pattern = NULL },
};
