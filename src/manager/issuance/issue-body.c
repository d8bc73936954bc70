/* The body of POST /v1/node/certificate/issue (issue_body_parse, issue.h): its shape, checked
 * against a field table, and read. No store, no keys, no cryptography. */
#include "issue.h"
#include "issue-internal.h"

#include <errno.h>
#include <stdio.h>

#include "body.h"
#include "crypto-util.h"

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
