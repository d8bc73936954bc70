/* HTTP Basic credentials: strict decoding, every malformed form refused. */
#include <errno.h>
#include <string.h>

#include "basic-auth.h"
#include "test.h"

static int
parse(const char *header, char *email, char *password)
{
    struct basic_credentials c = { 0 };
    int r = basic_auth_parse(header, &c);

    if (r == 0) {
        snprintf(email, 64, "%s", c.email);
        snprintf(password, 64, "%s", c.password);
    }
    basic_credentials_release(&c);
    return r;
}

TEST(valid_credentials_decode)
{
    char email[64], password[64];

    /* base64("alice@example.com:s3cret:with:colons") */
    CHECK_EQ_INT(parse("Basic YWxpY2VAZXhhbXBsZS5jb206czNjcmV0OndpdGg6Y29sb25z", email, password),
                 0);
    CHECK_EQ_STR(email, "alice@example.com");
    CHECK_EQ_STR(password, "s3cret:with:colons");
    /* The scheme is case-insensitive; padding is accepted. base64("a:b") = "YTpi". */
    CHECK_EQ_INT(parse("basic YTpi", email, password), 0);
    CHECK_EQ_STR(email, "a");
    CHECK_EQ_STR(password, "b");
    /* base64("ab:c") = "YWI6Yw==" */
    CHECK_EQ_INT(parse("Basic YWI6Yw==", email, password), 0);
    CHECK_EQ_STR(password, "c");
}

TEST(malformed_headers_are_refused)
{
    char email[64], password[64];
    char big[4096];

    CHECK_EQ_INT(parse(NULL, email, password), -EINVAL);
    CHECK_EQ_INT(parse("", email, password), -EINVAL);
    CHECK_EQ_INT(parse("Bearer YTpi", email, password), -EINVAL);
    CHECK_EQ_INT(parse("Basic ", email, password), -EINVAL);
    CHECK_EQ_INT(parse("Basic YTp", email, password), -EINVAL);      /* not a multiple of 4 */
    CHECK_EQ_INT(parse("Basic YT!i", email, password), -EINVAL);     /* not the alphabet */
    CHECK_EQ_INT(parse("Basic ====", email, password), -EINVAL);     /* only padding */
    CHECK_EQ_INT(parse("Basic Ojpi", email, password), -EINVAL);     /* "::b": empty e-mail */
    CHECK_EQ_INT(parse("Basic YWJj", email, password), -EINVAL);     /* "abc": no colon */
    CHECK_EQ_INT(parse("Basic YQBiOmM=", email, password), -EINVAL); /* "a\0b:c": a NUL */
    CHECK_EQ_INT(parse("Basic /zpi", email, password), -EINVAL);     /* "\xff:b": not UTF-8 */
    CHECK_EQ_INT(parse("Basic YTr/", email, password), -EINVAL);     /* "a:\xff": not UTF-8 */
    memset(big, 'Q', sizeof(big) - 1);
    memcpy(big, "Basic ", 6);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(parse(big, email, password), -EINVAL); /* over BASIC_AUTH_MAX */
}

TEST_MAIN(TEST_CASE(valid_credentials_decode), TEST_CASE(malformed_headers_are_refused))
