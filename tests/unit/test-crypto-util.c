#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto-util.h"
#include "test.h"

TEST(hex_round_trip)
{
    uint8_t in[4] = { 0x00, 0xab, 0x10, 0xff }, out[4];
    char hex[9];

    hex_encode(in, 4, hex);
    CHECK_EQ_STR(hex, "00ab10ff");
    CHECK_EQ_INT(hex_decode("00AB10ff", out, 4), 0);
    CHECK(memcmp(in, out, 4) == 0);
    CHECK_EQ_INT(hex_decode("00ab10f", out, 4), -EINVAL);
    CHECK_EQ_INT(hex_decode("00ab10fg", out, 4), -EINVAL);
}

TEST(sha256_known_answer)
{
    char hex[65];

    sha256_hex("abc", 3, hex);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sealed_secrets_open_only_with_key_and_aad)
{
    uint8_t key[32] = { 1 }, other[32] = { 2 };
    char *sealed = NULL, *plain = NULL;
    size_t len = 0;

    CHECK_EQ_INT(seal_secret(key, "registry:1", "hunter2", 7, &sealed), 0);
    CHECK(strstr(sealed, "hunter2") == NULL);
    CHECK_EQ_INT(open_secret(key, "registry:1", sealed, &plain, &len), 0);
    CHECK_EQ_STR(plain, "hunter2");
    CHECK_EQ_INT(len, 7);
    free(plain);
    CHECK_EQ_INT(open_secret(other, "registry:1", sealed, &plain, &len), -EBADMSG);
    CHECK_EQ_INT(open_secret(key, "registry:2", sealed, &plain, &len), -EBADMSG);
    sealed[5] = sealed[5] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(open_secret(key, "registry:1", sealed, &plain, &len), -EBADMSG);
    CHECK_EQ_INT(open_secret(key, "registry:1", "!!", &plain, &len), -EBADMSG);
    free(sealed);
}

TEST(hkdf_is_deterministic_and_label_bound)
{
    uint8_t ikm[32] = { 7 }, a[32], b[32], c[32];

    CHECK_EQ_INT(hkdf_sha256(ikm, 32, "label one", a, 32), 0);
    CHECK_EQ_INT(hkdf_sha256(ikm, 32, "label one", b, 32), 0);
    CHECK_EQ_INT(hkdf_sha256(ikm, 32, "label two", c, 32), 0);
    CHECK(memcmp(a, b, 32) == 0);
    CHECK(memcmp(a, c, 32) != 0);
}

TEST(uuids_and_times)
{
    char id[37], t[32];
    int64_t ms = 0;

    CHECK_EQ_INT(uuid_random(id), 0);
    CHECK(is_uuid(id));
    CHECK_EQ_INT(id[14], '4');
    CHECK(!is_uuid("not-a-uuid"));
    time_format_rfc3339(1700000000123, t);
    CHECK_EQ_STR(t, "2023-11-14T22:13:20.123Z");
    CHECK_EQ_INT(time_parse_rfc3339(t, &ms), 0);
    CHECK_EQ_INT(ms, 1700000000123);
    CHECK_EQ_INT(time_parse_rfc3339("2023-11-14T22:13:20Z", &ms), 0);
    CHECK_EQ_INT(ms, 1700000000000);
    CHECK_EQ_INT(time_parse_rfc3339("2023-11-14 22:13:20", &ms), -EINVAL);
    CHECK_EQ_INT(time_parse_rfc3339("2023-11-14T22:13:20+01:00", &ms), -EINVAL);
}

TEST_MAIN(TEST_CASE(hex_round_trip), TEST_CASE(sha256_known_answer),
          TEST_CASE(sealed_secrets_open_only_with_key_and_aad),
          TEST_CASE(hkdf_is_deterministic_and_label_bound), TEST_CASE(uuids_and_times))
