/* Small cryptographic and encoding helpers on OpenSSL 3: randomness, hex and base64url, SHA-256,
 * HKDF-SHA256 key derivation and AES-256-GCM sealing of short secrets. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64
#define SEAL_KEY_LEN 32
#define SEALED_MAX (64u << 10) /* largest secret we seal, before encoding */

int crypto_random(void *buf, size_t len);

/* Writes 2*len lower-case hex digits and a NUL to out (size >= 2*len + 1). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly out_len bytes from 2*out_len hex digits: -EINVAL on anything else. */
int hex_decode(const char *hex, uint8_t *out, size_t out_len);
bool is_hex_string(const char *s, size_t len);

/* Returns a newly allocated unpadded base64url string. */
int base64url_encode(const uint8_t *in, size_t len, char **ret_text);
/* Decodes unpadded base64url (at most 2 * SEALED_MAX characters) into a newly allocated buffer
 * of *ret_len bytes; -EINVAL on anything else. Encodings are not checked to be canonical. */
int base64url_decode(const char *text, uint8_t **ret_data, size_t *ret_len);

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

/* HKDF-SHA256(ikm, salt = none, info = label) → out_len bytes. */
int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *label, uint8_t *out,
                size_t out_len);

/* AES-256-GCM with a random 96-bit nonce; the associated data binds the secret to its record
 * (e.g. "registry:<id>") so a sealed value cannot be moved to another row. The result is
 * base64url(nonce ‖ ciphertext ‖ tag), newly allocated. */
int seal_secret(const uint8_t key[SEAL_KEY_LEN], const char *aad, const void *plain, size_t len,
                char **ret_sealed);
/* Reverses seal_secret: returns a NUL-terminated newly allocated plaintext; -EBADMSG when the
 * value was tampered with or sealed under another key or aad. */
int open_secret(const uint8_t key[SEAL_KEY_LEN], const char *aad, const char *sealed,
                char **ret_plain, size_t *ret_len);

/* A random (version 4) UUID in lower-case text, 37 bytes with the NUL. */
int uuid_random(char out[37]);
bool is_uuid(const char *s);

/* The current time as RFC 3339 UTC with milliseconds ("2026-11-23T16:36:00.123Z"), and as
 * seconds since the epoch. */
void time_now_rfc3339(char out[32]);
void time_format_rfc3339(int64_t unix_ms, char out[32]);
int64_t time_now_unix(void);
int64_t time_now_unix_ms(void);
/* Milliseconds on the monotonic clock (for intervals; never goes back). */
int64_t time_monotonic_ms(void);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" into milliseconds since the epoch. */
int time_parse_rfc3339(const char *text, int64_t *ret_unix_ms);
