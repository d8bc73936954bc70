/* HTTP Basic credentials (RFC 7617): "Authorization: Basic base64(email:password)". */
#pragma once

#include <stddef.h>

#define BASIC_AUTH_MAX 2048 /* base64 text of "email:password" */

struct basic_credentials {
    char *buf; /* the decoded "email:password", split in place; erased on release */
    size_t size;
    const char *email;    /* points into buf */
    const char *password; /* points into buf */
};

/* Decodes an Authorization header value (may be NULL). -EINVAL when it is missing, not Basic,
 * not strict base64, over BASIC_AUTH_MAX, has no ':' or an empty e-mail, holds a NUL byte, or
 * is not UTF-8;
 * -ENOMEM. On any result the caller releases c. */
int basic_auth_parse(const char *header, struct basic_credentials *c);
/* Erases and frees what basic_auth_parse() allocated. */
void basic_credentials_release(struct basic_credentials *c);
