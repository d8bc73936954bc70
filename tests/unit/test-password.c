/* Argon2id password hashing: round trip, wrong passwords, garbage and foreign hashes. */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "password.h"
#include "test.h"

/* Small costs keep the test fast; the algorithm is the same. */
#define TEST_MEMORY_KIB 64
#define TEST_ITERATIONS 1

TEST(test_hash_and_verify)
{
    _cleanup_free_ char *encoded = NULL;

    CHECK_EQ_INT(password_hash("correct horse battery", TEST_MEMORY_KIB, TEST_ITERATIONS, &encoded),
                 0);
    CHECK(encoded);
    CHECK(strncmp(encoded, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);
    CHECK(password_verify(encoded, "correct horse battery"));
}

TEST(test_wrong_password)
{
    _cleanup_free_ char *encoded = NULL;

    CHECK_EQ_INT(password_hash("s3cret-password", TEST_MEMORY_KIB, TEST_ITERATIONS, &encoded), 0);
    CHECK(!password_verify(encoded, "s3cret-passwore"));
    CHECK(!password_verify(encoded, "s3cret-password "));
    CHECK(!password_verify(encoded, ""));
}

TEST(test_salt_is_random)
{
    _cleanup_free_ char *a = NULL, *b = NULL;

    CHECK_EQ_INT(password_hash("same password", TEST_MEMORY_KIB, TEST_ITERATIONS, &a), 0);
    CHECK_EQ_INT(password_hash("same password", TEST_MEMORY_KIB, TEST_ITERATIONS, &b), 0);
    CHECK(strcmp(a, b) != 0);
    CHECK(password_verify(a, "same password"));
    CHECK(password_verify(b, "same password"));
}

TEST(test_garbage_encoded)
{
    static const char *const garbage[] = {
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=64,t=1,p=1$",
        "$argon2id$v=19$m=64,t=1,p=1$AAAA$AAAA",
        "$argon2id$v=19$m=64,t=1,p=1$!!!!!!!!!!!!!!!!!!!!!!$@@@@",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", /* bcrypt */
    };

    for (size_t i = 0; i < ELEMENTSOF(garbage); i++)
        CHECK(!password_verify(garbage[i], "whatever-password"));
    CHECK(!password_verify(NULL, "whatever-password"));
}

TEST(test_other_variant_rejected)
{
    /* A valid Argon2i hash of "password" must not verify as Argon2id. */
    static const char argon2i[] =
        "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA";

    CHECK(!password_verify(argon2i, "password"));
}

TEST(test_tampered_hash)
{
    _cleanup_free_ char *encoded = NULL;
    size_t len;

    CHECK_EQ_INT(password_hash("tamper-proof", TEST_MEMORY_KIB, TEST_ITERATIONS, &encoded), 0);
    len = strlen(encoded);
    encoded[len - 2] = encoded[len - 2] == 'A' ? 'B' : 'A';
    CHECK(!password_verify(encoded, "tamper-proof"));
}

TEST(test_length_limits)
{
    _cleanup_free_ char *long_pw = malloc(PASSWORD_MAX + 2);
    _cleanup_free_ char *encoded = NULL, *max_encoded = NULL;

    CHECK(long_pw);
    memset(long_pw, 'x', PASSWORD_MAX + 1);
    long_pw[PASSWORD_MAX + 1] = '\0';
    CHECK(password_hash(long_pw, TEST_MEMORY_KIB, TEST_ITERATIONS, &encoded) < 0);
    CHECK(!encoded);

    long_pw[PASSWORD_MAX] = '\0';
    CHECK_EQ_INT(password_hash(long_pw, TEST_MEMORY_KIB, TEST_ITERATIONS, &max_encoded), 0);
    CHECK(password_verify(max_encoded, long_pw));
}

TEST(test_bad_costs)
{
    char *encoded = NULL;

    /* libargon2 needs at least 8 KiB per lane and one pass. */
    CHECK(password_hash("password1", 1, TEST_ITERATIONS, &encoded) < 0);
    CHECK(password_hash("password1", TEST_MEMORY_KIB, 0, &encoded) < 0);
    CHECK(!encoded);
}

TEST(test_dummy_never_matches)
{
    CHECK(!password_verify_dummy("any password", TEST_MEMORY_KIB, TEST_ITERATIONS));
    CHECK(!password_verify_dummy("", TEST_MEMORY_KIB, TEST_ITERATIONS));
}

TEST_MAIN(TEST_CASE(test_hash_and_verify), TEST_CASE(test_wrong_password),
          TEST_CASE(test_salt_is_random), TEST_CASE(test_garbage_encoded),
          TEST_CASE(test_other_variant_rejected), TEST_CASE(test_tampered_hash),
          TEST_CASE(test_length_limits), TEST_CASE(test_bad_costs),
          TEST_CASE(test_dummy_never_matches))
