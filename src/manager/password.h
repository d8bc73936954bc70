/* Password hashing with Argon2id (libargon2).
 *
 * Hashes are stored in the PHC encoded form ("$argon2id$v=19$m=...,t=...,p=1$salt$hash"), which
 * carries its own cost parameters, so a hash made under older settings still verifies after the
 * configuration changes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024 /* bytes; longer input is rejected before any hashing */
#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32

/* Hashes pw with a fresh random salt and returns the encoded hash (newly allocated, caller
 * frees). -EINVAL for a password longer than PASSWORD_MAX or cost parameters libargon2 refuses,
 * -ENOMEM when the memory cost cannot be allocated, -EIO when randomness fails. */
int password_hash(const char *pw, uint32_t memory_kib, uint32_t iterations, char **ret_encoded);

/* True when pw matches the encoded hash. Garbage or a hash of another algorithm is simply
 * "no match". The comparison inside libargon2 is constant-time. */
bool password_verify(const char *encoded, const char *pw);

/* Does the work of a verification that cannot succeed, at the given cost, so that a log-in for
 * an unknown user takes as long as one with a wrong password (no user enumeration by timing).
 * Always returns false. */
bool password_verify_dummy(const char *pw, uint32_t memory_kib, uint32_t iterations);
