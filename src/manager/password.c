#include "password.h"

#include <argon2.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cleanup.h"
#include "crypto-util.h"

#define PASSWORD_PARALLELISM 1

static int
errno_from_argon2(int rc)
{
    switch (rc) {
    case ARGON2_OK:
        return 0;
    case ARGON2_MEMORY_ALLOCATION_ERROR:
        return -ENOMEM;
    default:
        return -EINVAL;
    }
}

int
password_hash(const char *pw, uint32_t memory_kib, uint32_t iterations, char **ret_encoded)
{
    size_t pw_len = strlen(pw);
    uint8_t salt[PASSWORD_SALT_LEN];
    _cleanup_free_ char *encoded = NULL;
    size_t encoded_len;
    int r, rc;

    if (pw_len > PASSWORD_MAX)
        return -EINVAL;
    r = crypto_random(salt, sizeof(salt));
    if (r < 0)
        return r;
    encoded_len = argon2_encodedlen(iterations, memory_kib, PASSWORD_PARALLELISM, sizeof(salt),
                                    PASSWORD_HASH_LEN, Argon2_id);
    encoded = malloc(encoded_len);
    if (!encoded)
        return -ENOMEM;
    rc = argon2id_hash_encoded(iterations, memory_kib, PASSWORD_PARALLELISM, pw, pw_len, salt,
                               sizeof(salt), PASSWORD_HASH_LEN, encoded, encoded_len);
    if (rc != ARGON2_OK)
        return errno_from_argon2(rc);
    *ret_encoded = TAKE_PTR(encoded);
    return 0;
}

bool
password_verify(const char *encoded, const char *pw)
{
    size_t pw_len = strlen(pw);

    if (!encoded || pw_len > PASSWORD_MAX)
        return false;
    /* argon2id_verify parses the encoded form (rejecting other variants and garbage), recomputes
     * the hash with the stored salt and costs, and compares in constant time. */
    return argon2id_verify(encoded, pw, pw_len) == ARGON2_OK;
}

bool
password_verify_dummy(const char *pw, uint32_t memory_kib, uint32_t iterations)
{
    static const uint8_t salt[PASSWORD_SALT_LEN] = { 0 };
    uint8_t hash[PASSWORD_HASH_LEN];
    size_t pw_len = strlen(pw);

    if (pw_len > PASSWORD_MAX)
        return false;
    /* Same algorithm, costs and lengths as a real verification; the result is discarded. */
    (void)argon2id_hash_raw(iterations, memory_kib, PASSWORD_PARALLELISM, pw, pw_len, salt,
                            sizeof(salt), hash, sizeof(hash));
    OPENSSL_cleanse(hash, sizeof(hash));
    return false;
}
