/* libattest internals: encodings and digests. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "attest-util.h"
#include "cleanup.h"

#define EC_SPKI_DER_MAX 120 /* P-384: 23 bytes of prefix, 97 of point */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
attest_base64_encode(const uint8_t *data, size_t size, char **ret_text)
{
    _cleanup_free_ char *text = NULL;
    size_t n = 0;

    if (size > (SIZE_MAX - 1) / 4 * 3 - 3)
        return -E2BIG;
    text = malloc((size + 2) / 3 * 4 + 1);
    if (!text)
        return -ENOMEM;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        size_t left = size - i;

        if (left > 1)
            v |= (uint32_t)data[i + 1] << 8;
        if (left > 2)
            v |= data[i + 2];
        text[n++] = base64_alphabet[(v >> 18) & 63];
        text[n++] = base64_alphabet[(v >> 12) & 63];
        text[n++] = left > 1 ? base64_alphabet[(v >> 6) & 63] : '=';
        text[n++] = left > 2 ? base64_alphabet[v & 63] : '=';
    }
    text[n] = '\0';
    *ret_text = TAKE_PTR(text);
    return 0;
}

static int
base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
attest_base64_decode(const char *text, size_t length, size_t max_size, uint8_t **ret_data,
                     size_t *ret_size)
{
    _cleanup_free_ uint8_t *data = NULL;
    size_t pad = 0, size, n = 0;

    if (length == 0 || length % 4 != 0)
        return -EINVAL;
    if (text[length - 1] == '=')
        pad = text[length - 2] == '=' ? 2 : 1;
    size = length / 4 * 3 - pad;
    if (size > max_size)
        return -E2BIG;
    data = malloc(size ? size : 1);
    if (!data)
        return -ENOMEM;
    for (size_t i = 0; i < length; i += 4) {
        bool last = i + 4 == length;
        uint32_t v = 0;

        for (size_t j = 0; j < 4; j++) {
            int d;

            if (last && j >= 4 - pad) {
                if (text[i + j] != '=')
                    return -EINVAL;
                d = 0;
            } else {
                d = base64_value(text[i + j]);
                if (d < 0)
                    return -EINVAL;
            }
            v = v << 6 | (uint32_t)d;
        }
        /* Canonical: the bits a padded group does not use are zero. */
        if (last && ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))))
            return -EINVAL;
        data[n++] = (uint8_t)(v >> 16);
        if (!last || pad < 2)
            data[n++] = (uint8_t)(v >> 8);
        if (!last || pad < 1)
            data[n++] = (uint8_t)v;
    }
    *ret_data = TAKE_PTR(data);
    *ret_size = n;
    return 0;
}

int
attest_hex_digit(char c)
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
attest_hex_decode(const char *text, size_t length, uint8_t *out, size_t size)
{
    if (length != 2 * size)
        return false;
    for (size_t i = 0; i < size; i++) {
        int hi = attest_hex_digit(text[2 * i]), lo = attest_hex_digit(text[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void
attest_hex_encode(const uint8_t *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * size] = '\0';
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)

int
attest_sha256(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size,
              uint8_t ret_digest[SHA256_SIZE])
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;

    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, a, a_size) != 1 ||
        (b && EVP_DigestUpdate(ctx, b, b_size) != 1) ||
        EVP_DigestFinal_ex(ctx, ret_digest, &n) != 1 || n != SHA256_SIZE)
        return -EIO;
    return 0;
}

/* The DER SubjectPublicKeyInfo of a P-256 or P-384 key with a named curve and an uncompressed
 * point: a fixed prefix, then the point. i2d_PUBKEY gives the same bytes through OpenSSL 3.0's
 * encoder machinery, which costs more than the signature the digest goes with (the sim key id
 * of every quote, the CSR key of every binding). 0 for any other key: the caller encodes it. */
static size_t
ec_spki_der(EVP_PKEY *key, uint8_t out[EC_SPKI_DER_MAX])
{
    static const uint8_t p256[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                    0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00 };
    static const uint8_t p384[] = { 0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                                    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00 };
    const uint8_t *prefix;
    size_t prefix_size, point_size, n = 0;
    char text[32];

    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, text, sizeof(text), &n) !=
            1 ||
        strcmp(text, OSSL_PKEY_EC_ENCODING_GROUP) != 0 ||
        /* The encoded point param is uncompressed whatever the key encodes: ask how it does. */
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, text,
                                       sizeof(text), &n) != 1 ||
        strcmp(text, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 0 ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, text, sizeof(text), &n) !=
            1)
        return 0;
    if (strcmp(text, "prime256v1") == 0) {
        prefix = p256;
        prefix_size = sizeof(p256);
        point_size = 65;
    } else if (strcmp(text, "secp384r1") == 0) {
        prefix = p384;
        prefix_size = sizeof(p384);
        point_size = 97;
    } else {
        return 0;
    }
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out + prefix_size,
                                        EC_SPKI_DER_MAX - prefix_size, &n) != 1 ||
        n != point_size || out[prefix_size] != 0x04)
        return 0;
    memcpy(out, prefix, prefix_size);
    return prefix_size + point_size;
}

int
attest_spki_sha256(EVP_PKEY *key, uint8_t ret_digest[SHA256_SIZE])
{
    uint8_t ec[EC_SPKI_DER_MAX];
    unsigned char *der = NULL;
    size_t ec_size;
    int n, r;

    if (!key)
        return -EINVAL;
    ERR_set_mark();
    ec_size = ec_spki_der(key, ec);
    ERR_pop_to_mark();
    if (ec_size > 0)
        return attest_sha256(ec, ec_size, NULL, 0, ret_digest);
    n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        return -EINVAL;
    r = attest_sha256(der, (size_t)n, NULL, 0, ret_digest);
    OPENSSL_free(der);
    return r;
}

bool
attest_key_is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t n = 0;

    if (!key || !EVP_PKEY_is_a(key, "EC"))
        return false;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n) !=
        1)
        return false;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}
