/* Stateless nonces: what one replica issues another checks, and nothing else passes. The MAC is
 * recomputed here with OpenSSL's HMAC from the layout nonce.h documents. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cleanup.h"
#include "crypto-util.h"
#include "nonce.h"
#include "test.h"

#define NOW_MS INT64_C(1795000000000)

static const uint8_t key_a[NONCE_KEY_LEN] = { 1, 2, 3 };
static const uint8_t key_b[NONCE_KEY_LEN] = { 9, 9, 9 };

static void
decode(const char *nonce, uint8_t out[41])
{
    _cleanup_free_ uint8_t *raw = NULL;
    size_t len = 0;

    CHECK_EQ_INT(base64url_decode(nonce, &raw, &len), 0);
    CHECK_EQ_INT(len, 41);
    memcpy(out, raw, 41);
}

static void
encode(const uint8_t raw[41], char out[NONCE_TEXT_MAX])
{
    _cleanup_free_ char *text = NULL;

    CHECK_EQ_INT(base64url_encode(raw, 41, &text), 0);
    snprintf(out, NONCE_TEXT_MAX, "%s", text);
}

TEST(issued_nonce_checks_on_another_replica_with_the_same_key)
{
    char nonce[NONCE_TEXT_MAX], id[NONCE_ID_LEN + 1] = "";
    uint8_t raw[41], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char expected_id[NONCE_ID_LEN + 1];

    CHECK_EQ_INT(nonce_issue(key_a, NOW_MS, nonce), 0);
    CHECK_EQ_INT(nonce_check(key_a, nonce, NOW_MS + 1000, 300, id), 0);
    /* The documented layout, checked independently. */
    decode(nonce, raw);
    CHECK_EQ_INT(raw[0], 1);
    uint64_t issued = 0;
    for (int i = 0; i < 8; i++)
        issued = issued << 8 | raw[1 + i];
    CHECK_EQ_INT((int64_t)issued, NOW_MS);
    CHECK(HMAC(EVP_sha256(), key_a, NONCE_KEY_LEN, raw, 25, mac, &mac_len));
    CHECK(memcmp(mac, raw + 25, 16) == 0);
    hex_encode(raw + 9, 16, expected_id);
    CHECK_EQ_STR(id, expected_id);
}

TEST(nonces_are_unique)
{
    char a[NONCE_TEXT_MAX], b[NONCE_TEXT_MAX];
    char id_a[NONCE_ID_LEN + 1], id_b[NONCE_ID_LEN + 1];

    CHECK_EQ_INT(nonce_issue(key_a, NOW_MS, a), 0);
    CHECK_EQ_INT(nonce_issue(key_a, NOW_MS, b), 0);
    CHECK(strcmp(a, b) != 0);
    CHECK_EQ_INT(nonce_check(key_a, a, NOW_MS, 300, id_a), 0);
    CHECK_EQ_INT(nonce_check(key_a, b, NOW_MS, 300, id_b), 0);
    CHECK(strcmp(id_a, id_b) != 0);
}

TEST(expired_and_future_nonces_are_refused)
{
    char nonce[NONCE_TEXT_MAX];

    CHECK_EQ_INT(nonce_issue(key_a, NOW_MS, nonce), 0);
    CHECK_EQ_INT(nonce_check(key_a, nonce, NOW_MS + 300 * 1000, 300, NULL), 0);
    CHECK_EQ_INT(nonce_check(key_a, nonce, NOW_MS + 300 * 1000 + 1, 300, NULL), -ETIME);
    CHECK_EQ_INT(nonce_check(key_a, nonce, NOW_MS - NONCE_CLOCK_SKEW_MS, 300, NULL), 0);
    CHECK_EQ_INT(nonce_check(key_a, nonce, NOW_MS - NONCE_CLOCK_SKEW_MS - 1, 300, NULL), -ETIME);
}

TEST(forged_or_foreign_nonces_are_refused)
{
    char nonce[NONCE_TEXT_MAX], forged[NONCE_TEXT_MAX];
    uint8_t raw[41];

    CHECK_EQ_INT(nonce_issue(key_a, NOW_MS, nonce), 0);
    CHECK_EQ_INT(nonce_check(key_b, nonce, NOW_MS, 300, NULL), -EKEYREJECTED);
    /* Moving the issue time forward (to extend its life) breaks the MAC. */
    decode(nonce, raw);
    raw[8] ^= 0x01;
    encode(raw, forged);
    CHECK_EQ_INT(nonce_check(key_a, forged, NOW_MS, 300, NULL), -EKEYREJECTED);
    decode(nonce, raw);
    raw[40] ^= 0x80;
    encode(raw, forged);
    CHECK_EQ_INT(nonce_check(key_a, forged, NOW_MS, 300, NULL), -EKEYREJECTED);
}

TEST(malformed_nonces_are_refused)
{
    static const char *const bad[] = {
        "",
        "x",
        "not base64 at all!",
        "AAAA",
        "AQAAAaHjL2AA______________________________________", /* too short */
        "AQAAAaHjL2AA_____________________________________________________________________",
    };
    char nonce[NONCE_TEXT_MAX], other_version[NONCE_TEXT_MAX];
    uint8_t raw[41];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(nonce_check(key_a, bad[i], NOW_MS, 300, NULL), -EBADMSG);
    CHECK_EQ_INT(nonce_check(key_a, NULL, NOW_MS, 300, NULL), -EBADMSG);
    CHECK_EQ_INT(nonce_issue(key_a, NOW_MS, nonce), 0);
    decode(nonce, raw);
    raw[0] = 2;
    encode(raw, other_version);
    CHECK_EQ_INT(nonce_check(key_a, other_version, NOW_MS, 300, NULL), -EBADMSG);
}

TEST_MAIN(TEST_CASE(issued_nonce_checks_on_another_replica_with_the_same_key),
          TEST_CASE(nonces_are_unique), TEST_CASE(expired_and_future_nonces_are_refused),
          TEST_CASE(forged_or_foreign_nonces_are_refused), TEST_CASE(malformed_nonces_are_refused))
