#include "crypto-util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "cleanup.h"

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

int
crypto_random(void *buf, size_t len)
{
    if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1)
        return -EIO;
    return 0;
}

void
hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
is_hex_string(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (hex_value(s[i]) < 0)
            return false;
    return true;
}

int
hex_decode(const char *hex, uint8_t *out, size_t out_len)
{
    if (!is_hex_string(hex, 2 * out_len))
        return -EINVAL;
    for (size_t i = 0; i < out_len; i++)
        out[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    return 0;
}

int
base64url_encode(const uint8_t *in, size_t len, char **ret_text)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *text;
    int n;

    if (len > INT_MAX / 2)
        return -E2BIG;
    text = malloc(cap);
    if (!text)
        return -ENOMEM;
    n = EVP_EncodeBlock((unsigned char *)text, in, (int)len);
    for (int i = 0; i < n; i++) {
        if (text[i] == '+')
            text[i] = '-';
        else if (text[i] == '/')
            text[i] = '_';
    }
    while (n > 0 && text[n - 1] == '=')
        n--;
    text[n] = '\0';
    *ret_text = text;
    return 0;
}

int
base64url_decode(const char *text, uint8_t **ret_data, size_t *ret_len)
{
    size_t len = strlen(text), padded = (len + 3) / 4 * 4;
    _cleanup_free_ char *copy = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    int n;

    if (len == 0 || len > SEALED_MAX * 2 || len % 4 == 1)
        return -EINVAL;
    copy = malloc(padded + 1);
    data = malloc(padded / 4 * 3 + 1);
    if (!copy || !data)
        return -ENOMEM;
    for (size_t i = 0; i < padded; i++) {
        char c = i < len ? text[i] : '=';
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/')
            return -EINVAL;
        copy[i] = c;
    }
    copy[padded] = '\0';
    n = EVP_DecodeBlock(data, (unsigned char *)copy, (int)padded);
    if (n < 0)
        return -EINVAL;
    *ret_len = (size_t)n - (padded - len); /* EVP_DecodeBlock counts padding as zero bytes */
    *ret_data = TAKE_PTR(data);
    return 0;
}

void
sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

void
sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
    uint8_t digest[SHA256_LEN];

    sha256(data, len, digest);
    hex_encode(digest, sizeof(digest), out);
}

int
hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *label, uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[4];
    int ok;

    EVP_KDF_free(kdf);
    if (!ctx)
        return -ENOMEM;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    params[2] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label));
    params[3] = OSSL_PARAM_construct_end();
    ok = EVP_KDF_derive(ctx, out, out_len, params);
    EVP_KDF_CTX_free(ctx);
    return ok == 1 ? 0 : -EIO;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free);

static int
gcm_init(EVP_CIPHER_CTX *ctx, bool encrypt, const uint8_t *key, const uint8_t *nonce,
         const char *aad)
{
    int outl;

    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt ? 1 : 0) != 1)
        return -EIO;
    if (EVP_CipherUpdate(ctx, NULL, &outl, (const uint8_t *)aad, (int)strlen(aad)) != 1)
        return -EIO;
    return 0;
}

int
seal_secret(const uint8_t key[SEAL_KEY_LEN], const char *aad, const void *plain, size_t len,
            char **ret_sealed)
{
    _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    _cleanup_free_ uint8_t *buf = NULL;
    int outl, finl, r;

    if (!ctx)
        return -ENOMEM;
    if (len > SEALED_MAX)
        return -E2BIG;
    buf = malloc(GCM_NONCE_LEN + len + GCM_TAG_LEN);
    if (!buf)
        return -ENOMEM;
    r = crypto_random(buf, GCM_NONCE_LEN);
    if (r < 0)
        return r;
    r = gcm_init(ctx, true, key, buf, aad);
    if (r < 0)
        return r;
    if (EVP_EncryptUpdate(ctx, buf + GCM_NONCE_LEN, &outl, plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, buf + GCM_NONCE_LEN + outl, &finl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, buf + GCM_NONCE_LEN + len) != 1)
        return -EIO;
    return base64url_encode(buf, GCM_NONCE_LEN + len + GCM_TAG_LEN, ret_sealed);
}

int
open_secret(const uint8_t key[SEAL_KEY_LEN], const char *aad, const char *sealed, char **ret_plain,
            size_t *ret_len)
{
    _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    _cleanup_free_ uint8_t *buf = NULL;
    _cleanup_free_ char *plain = NULL;
    size_t len, text_len;
    int outl, finl, r;

    if (!ctx)
        return -ENOMEM;
    r = base64url_decode(sealed, &buf, &len);
    if (r < 0)
        return -EBADMSG;
    if (len < GCM_NONCE_LEN + GCM_TAG_LEN)
        return -EBADMSG;
    text_len = len - GCM_NONCE_LEN - GCM_TAG_LEN;
    plain = malloc(text_len + 1);
    if (!plain)
        return -ENOMEM;
    r = gcm_init(ctx, false, key, buf, aad);
    if (r < 0)
        return r;
    if (EVP_DecryptUpdate(ctx, (uint8_t *)plain, &outl, buf + GCM_NONCE_LEN, (int)text_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
                            buf + GCM_NONCE_LEN + text_len) != 1 ||
        EVP_DecryptFinal_ex(ctx, (uint8_t *)plain + outl, &finl) != 1) {
        OPENSSL_cleanse(plain, text_len);
        return -EBADMSG;
    }
    plain[text_len] = '\0';
    if (ret_len)
        *ret_len = text_len;
    *ret_plain = TAKE_PTR(plain);
    return 0;
}

int
uuid_random(char out[37])
{
    uint8_t b[16];
    int r = crypto_random(b, sizeof(b));

    if (r < 0)
        return r;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

bool
is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

int64_t
time_now_unix_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_now_unix(void)
{
    return time_now_unix_ms() / 1000;
}

void
time_format_rfc3339(int64_t unix_ms, char out[32])
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    char stamp[24];

    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", stamp, (int)(unix_ms % 1000));
}

void
time_now_rfc3339(char out[32])
{
    time_format_rfc3339(time_now_unix_ms(), out);
}

int
time_parse_rfc3339(const char *text, int64_t *ret_unix_ms)
{
    struct tm tm = { 0 };
    const char *rest;
    int64_t ms = 0;

    rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -EINVAL;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*rest - '0');
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(rest, "Z") != 0)
        return -EINVAL;
    *ret_unix_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}
