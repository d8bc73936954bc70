/* Nodes' enrolled sim attestation keys, decoded once per worker process (attestation-key.h). */
#include "attestation-key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define ATTESTATION_KEY_MAX 1024 /* base64 of a P-256 SPKI is 124 characters */

/* The key text (base64 DER SPKI, standard or URL alphabet) holds; NULL when there is none or it
 * does not decode. */
static EVP_PKEY *
attestation_key_decode(const char *text)
{
    unsigned char der[ATTESTATION_KEY_MAX];
    char b64[ATTESTATION_KEY_MAX + 4];
    const unsigned char *p = der;
    size_t len, pad = 0;
    EVP_PKEY *key;
    int n;

    if (!text || (len = strlen(text)) == 0 || len > ATTESTATION_KEY_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++)
        b64[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    while (len % 4)
        b64[len++] = '=';
    b64[len] = '\0';
    for (size_t i = len; i > 0 && b64[i - 1] == '='; i--)
        pad++;
    n = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)len);
    if (n < 0 || (size_t)n < pad)
        return NULL;
    n -= (int)pad;
    key = d2i_PUBKEY(NULL, &p, n);
    if (key && p != der + n) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* Decoded attestation keys, by their text, in this worker process: OpenSSL 3.0 sets up its
 * decoder machinery for every key it decodes, which costs more than the evidence's signature
 * check. A key's text determines the key, so an entry never goes stale; a node whose key
 * changes just has a new text. Bounded; the least recently used entry makes room. */
#define ATTESTATION_KEY_CACHE_SIZE 64

static struct {
    char *text;
    EVP_PKEY *key;
    uint64_t used;
} attestation_key_cache[ATTESTATION_KEY_CACHE_SIZE];
static uint64_t attestation_key_clock;

EVP_PKEY *
attestation_key_get(const char *text)
{
    size_t victim = 0;
    EVP_PKEY *key;
    char *copy;

    if (!text)
        return NULL;
    for (size_t i = 0; i < ATTESTATION_KEY_CACHE_SIZE; i++) {
        if (attestation_key_cache[i].text && strcmp(attestation_key_cache[i].text, text) == 0) {
            if (EVP_PKEY_up_ref(attestation_key_cache[i].key) != 1)
                return NULL;
            attestation_key_cache[i].used = ++attestation_key_clock;
            return attestation_key_cache[i].key;
        }
        if (attestation_key_cache[i].used < attestation_key_cache[victim].used)
            victim = i;
    }
    key = attestation_key_decode(text);
    if (!key)
        return NULL;
    copy = strdup(text);
    if (!copy || EVP_PKEY_up_ref(key) != 1) {
        free(copy);
        return key; /* not cached, still right */
    }
    free(attestation_key_cache[victim].text);
    EVP_PKEY_free(attestation_key_cache[victim].key);
    attestation_key_cache[victim].text = copy;
    attestation_key_cache[victim].key = key;
    attestation_key_cache[victim].used = ++attestation_key_clock;
    return key;
}
