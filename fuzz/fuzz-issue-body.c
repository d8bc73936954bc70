/* Fuzz target for the manager's reader of POST /v1/node/certificate/issue bodies
 * (issue_body_parse, src/manager/issuance/issue-body.c): the bytes as JSON, then checked and read.
 * Checks that nothing crashes, that a refusal always says why, and that an accepted body gives
 * what the pipeline relies on: its strings within their limits and an evidence object. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <attest/attest.h>
#include <jansson.h>

#include "body.h"
#include "ca-issue.h"
#include "crypto-util.h"
#include "issue.h"
#include "nonce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An independent reading of one hex digit (crypto-util's is the code under test). */
static int
hex_value(char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *p = strchr(digits, c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);

    return p && c ? (int)(p - digits) : -1;
}

static void
check_accepted(const json_t *root, const struct issue_body *b)
{
    const char *digest = json_string_value(json_object_get(root, "manifest_digest"));

    if (!b->csr || !*b->csr || strlen(b->csr) > CA_CSR_MAX)
        __builtin_trap();
    if (!b->nonce || !*b->nonce || strlen(b->nonce) >= NONCE_TEXT_MAX)
        __builtin_trap();
    if (!json_is_object(b->evidence) || b->platform < 0 || b->platform > ATTEST_PLATFORM_SNP)
        __builtin_trap();
    if (b->has_manifest_digest != (digest != NULL))
        __builtin_trap();
    for (size_t i = 0; digest && i < ATTEST_MANIFEST_DIGEST_SIZE; i++)
        if (b->manifest_digest[i] != (hex_value(digest[2 * i]) << 4 | hex_value(digest[2 * i + 1])))
            __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct issue_body body;
    char error[BODY_ERROR_MAX], tiny[8];
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    int r;

    memset(error, 0, sizeof(error));
    r = issue_body_parse(root, &body, error, sizeof(error));
    if (r == 0)
        check_accepted(root, &body);
    else if (r != -EINVAL || !*error || !memchr(error, '\0', sizeof(error)))
        __builtin_trap(); /* a refusal says why, in a terminated string */
    /* A short error buffer cuts the reason but still terminates it. */
    memset(tiny, 'x', sizeof(tiny));
    if (issue_body_parse(root, &body, tiny, sizeof(tiny)) != r ||
        (r < 0 && tiny[sizeof(tiny) - 1] != '\0'))
        __builtin_trap();
    json_decref(root);
    return 0;
}
