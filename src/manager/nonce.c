#include "nonce.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cleanup.h"
#include "crypto-util.h"

#define NONCE_VERSION 1
#define NONCE_RANDOM_LEN 16
#define NONCE_MAC_LEN 16
#define NONCE_SIGNED_LEN (1 + 8 + NONCE_RANDOM_LEN)
#define NONCE_LEN (NONCE_SIGNED_LEN + NONCE_MAC_LEN)

static int
nonce_mac(const uint8_t key[NONCE_KEY_LEN], const uint8_t signed_part[NONCE_SIGNED_LEN],
          uint8_t mac[NONCE_MAC_LEN])
{
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (!HMAC(EVP_sha256(), key, NONCE_KEY_LEN, signed_part, NONCE_SIGNED_LEN, full, &len))
        return -EIO;
    memcpy(mac, full, NONCE_MAC_LEN);
    return 0;
}

int
nonce_issue(const uint8_t key[NONCE_KEY_LEN], int64_t now_ms, char out[NONCE_TEXT_MAX])
{
    uint8_t raw[NONCE_LEN];
    _cleanup_free_ char *text = NULL;
    int r;

    raw[0] = NONCE_VERSION;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (uint8_t)((uint64_t)now_ms >> (56 - 8 * i));
    r = crypto_random(raw + 9, NONCE_RANDOM_LEN);
    if (r >= 0)
        r = nonce_mac(key, raw, raw + NONCE_SIGNED_LEN);
    if (r >= 0)
        r = base64url_encode(raw, sizeof(raw), &text);
    if (r < 0)
        return r;
    if (strlen(text) >= NONCE_TEXT_MAX)
        return -E2BIG;
    memcpy(out, text, strlen(text) + 1);
    return 0;
}

int
nonce_check(const uint8_t key[NONCE_KEY_LEN], const char *nonce, int64_t now_ms, int64_t ttl_sec,
            char id[NONCE_ID_LEN + 1])
{
    _cleanup_free_ uint8_t *raw = NULL;
    uint8_t mac[NONCE_MAC_LEN];
    uint64_t issued = 0;
    size_t len = 0;
    int r;

    if (!nonce || strnlen(nonce, NONCE_TEXT_MAX) >= NONCE_TEXT_MAX)
        return -EBADMSG;
    if (base64url_decode(nonce, &raw, &len) < 0 || len != NONCE_LEN || raw[0] != NONCE_VERSION)
        return -EBADMSG;
    r = nonce_mac(key, raw, mac);
    if (r < 0)
        return r;
    if (CRYPTO_memcmp(mac, raw + NONCE_SIGNED_LEN, NONCE_MAC_LEN) != 0)
        return -EKEYREJECTED;
    for (int i = 0; i < 8; i++)
        issued = issued << 8 | raw[1 + i];
    /* issued is authentic (the MAC covers it); the window allows replicas' clocks to differ. */
    if ((int64_t)issued > now_ms + NONCE_CLOCK_SKEW_MS || now_ms - (int64_t)issued > ttl_sec * 1000)
        return -ETIME;
    if (id)
        hex_encode(raw + 9, NONCE_RANDOM_LEN, id);
    return 0;
}
