/* libattest internals: byte order, encodings and digests shared by the evidence formats. Not
 * installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attest/claims.h>

#define SHA256_SIZE 32u

static inline void
attest_fail(enum attest_step *failed_step, enum attest_step step)
{
    if (failed_step)
        *failed_step = step;
}

static inline uint16_t
le16_read(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
le32_read(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t
le64_read(const uint8_t *p)
{
    return (uint64_t)le32_read(p) | (uint64_t)le32_read(p + 4) << 32;
}

static inline void
le16_write(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
le32_write(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
le64_write(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Standard base64 with padding. The encoder returns a malloc'd NUL-terminated string; the
 * decoder accepts only canonical input (length a multiple of 4, padding only at the end, unused
 * bits zero), at most max_size decoded bytes (-E2BIG), and returns a malloc'd buffer. */
int attest_base64_encode(const uint8_t *data, size_t size, char **ret_text);
int attest_base64_decode(const char *text, size_t length, size_t max_size, uint8_t **ret_data,
                         size_t *ret_size);

/* The value of one hex digit (either case), or -1. */
int attest_hex_digit(char c);

/* Decodes exactly 2 * size hex digits (either case) of text (length bytes) into out; false for
 * another length or a character that is not a hex digit. */
bool attest_hex_decode(const char *text, size_t length, uint8_t *out, size_t size);

/* Lowercase hex of size bytes into out (2 * size + 1 bytes). */
void attest_hex_encode(const uint8_t *data, size_t size, char *out);

/* SHA-256 over the concatenation of up to two buffers (b may be NULL). -EIO, -ENOMEM. */
int attest_sha256(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size,
                  uint8_t ret_digest[SHA256_SIZE]);

/* SHA-256 of the DER SubjectPublicKeyInfo of key's public part. -EINVAL, -ENOMEM. */
int attest_spki_sha256(EVP_PKEY *key, uint8_t ret_digest[SHA256_SIZE]);

/* Whether key is an EC key on P-256. */
bool attest_key_is_p256(EVP_PKEY *key);
