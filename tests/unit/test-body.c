/* Body validation: every rejection names the field and the reason. */
#include <string.h>

#include "body.h"
#include "test.h"

static const char *const colours[] = { "RED", "BLUE", NULL };

static const struct field_spec inner[] = {
    { .name = "path",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = 64,
      .check_string = check_abs_path },
    { .name = NULL },
};

static const struct field_spec specs[] = {
    { .name = "name", .type = FIELD_STRING, .required = true, .min = 1, .max = 8 },
    { .name = "count", .type = FIELD_INT, .min = 1, .max = 10 },
    { .name = "size",
      .type = FIELD_INT,
      .min = 1,
      .max = 1 << 30,
      .check_int = check_power_of_two },
    { .name = "on", .type = FIELD_BOOL },
    { .name = "colour", .type = FIELD_ENUM, .values = colours },
    { .name = "hosts",
      .type = FIELD_STRING_ARRAY,
      .max = 2,
      .item_max = 253,
      .check_string = check_dns_name },
    { .name = "labels", .type = FIELD_STRING_MAP, .max = 2, .item_max = 4 },
    { .name = "inner", .type = FIELD_OBJECT, .fields = inner },
    { .name = NULL },
};

static const char *
reject(const char *json, enum body_mode mode)
{
    static char err[BODY_ERROR_MAX];

    if (body_check_text(json, strlen(json), specs, mode, err) == 0)
        return "(accepted)";
    return err;
}

#define CHECK_REJECTS(json, text) CHECK(strstr(reject(json, BODY_CREATE), text) != NULL)

TEST(valid_bodies_pass)
{
    char err[BODY_ERROR_MAX];
    const char *ok = "{\"name\":\"a\",\"count\":3,\"size\":1024,\"on\":true,\"colour\":\"RED\","
                     "\"hosts\":[\"*.example.com\",\"a-b.example\"],\"labels\":{\"k\":\"v\"},"
                     "\"inner\":{\"path\":\"/appkey.pem\"}}";

    CHECK_EQ_INT(body_check_text(ok, strlen(ok), specs, BODY_CREATE, err), 0);
    CHECK_EQ_INT(body_check_text("{\"count\":2}", 11, specs, BODY_UPDATE, err), 0);
}

TEST(rejections_name_the_field)
{
    CHECK_REJECTS("{}", "name: is required");
    CHECK_REJECTS("{\"name\":1}", "name: must be a string");
    CHECK_REJECTS("{\"name\":\"\"}", "name: must not be empty");
    CHECK_REJECTS("{\"name\":\"123456789\"}", "name: must be at most 8 bytes");
    CHECK_REJECTS("{\"name\":\"a\",\"bogus\":1}", "bogus: unknown field");
    CHECK_REJECTS("{\"name\":\"a\",\"count\":11}", "count: must be between 1 and 10");
    CHECK_REJECTS("{\"name\":\"a\",\"count\":\"1\"}", "count: must be an integer");
    CHECK_REJECTS("{\"name\":\"a\",\"size\":3}", "size: must be a power of two");
    CHECK_REJECTS("{\"name\":\"a\",\"colour\":\"GREEN\"}", "colour: must be one of RED, BLUE");
    CHECK_REJECTS("{\"name\":\"a\",\"hosts\":[\"Bad_Host\"]}", "hosts[0]: must be a lower-case");
    CHECK_REJECTS("{\"name\":\"a\",\"hosts\":[1]}", "hosts[0]: must be a string");
    CHECK_REJECTS("{\"name\":\"a\",\"hosts\":[\"a.b\",\"c.d\",\"e.f\"]}", "hosts: must have");
    CHECK_REJECTS("{\"name\":\"a\",\"labels\":{\"k\":\"toolong\"}}", "labels.k: must be at most");
    CHECK_REJECTS("{\"name\":\"a\",\"inner\":{}}", "inner.path: is required");
    CHECK_REJECTS("{\"name\":\"a\",\"inner\":{\"path\":\"/a/../b\"}}", "inner.path: must not");
    CHECK_REJECTS("{\"name\":\"a\",\"inner\":{\"path\":\"rel\"}}", "inner.path: must be an abs");
    CHECK_REJECTS("{\"name\":\"a\\u0001\"}", "name: must not contain control");
    CHECK_REJECTS("[1]", "body: must be a JSON object");
    CHECK_REJECTS("{\"name\":", "body: is not valid JSON");
    CHECK_REJECTS("{\"name\":\"a\",\"name\":\"b\"}", "body: is not valid JSON");
    CHECK(strstr(reject("{}", BODY_UPDATE), "at least one field") != NULL);
}

TEST(string_checks)
{
    CHECK(check_dns_name("myapp.domain.dom") == NULL);
    CHECK(check_dns_name("*.domain.dom") == NULL);
    CHECK(check_dns_name("a..b") != NULL);
    CHECK(check_dns_name("-a.b") != NULL);
    CHECK(check_dns_name("a.b.") != NULL);
    CHECK(check_dns_name("") != NULL);
    CHECK(check_email("alice@example.com") == NULL);
    CHECK(check_email("alice@@example.com") != NULL);
    CHECK(check_email("alice@example") != NULL);
    CHECK(check_email("@example.com") != NULL);
    CHECK(check_hex64("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff") == NULL);
    CHECK(check_hex64("0011") != NULL);
    CHECK(check_image_ref("registry:5000/a/b:tag") == NULL);
    CHECK(check_image_ref("a b") != NULL);
    CHECK(check_power_of_two(1 << 30) == NULL);
    CHECK(check_power_of_two(0) != NULL);
}

TEST(utf8)
{
    char cut[] = "ab\xe2\x82";          /* a character cut after two of its three bytes */
    char mixed[] = "\xff\xc3\xa9x\xc3"; /* a stray byte, é, x, a lone lead byte */
    char surrogate[] = "\xed\xa0\x80";

    CHECK(utf8_is_valid(""));
    CHECK(utf8_is_valid("plain"));
    CHECK(utf8_is_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")); /* é € 😀 */
    CHECK(!utf8_is_valid("\xff"));
    CHECK(!utf8_is_valid("\xc0\xaf"));         /* overlong '/' */
    CHECK(!utf8_is_valid("\xed\xa0\x80"));     /* surrogate */
    CHECK(!utf8_is_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
    CHECK(!utf8_is_valid(cut));
    utf8_sanitize(cut);
    CHECK_EQ_STR(cut, "ab??");
    utf8_sanitize(mixed);
    CHECK_EQ_STR(mixed, "?\xc3\xa9x?");
    utf8_sanitize(surrogate);
    CHECK_EQ_STR(surrogate, "???");
}

TEST_MAIN(TEST_CASE(valid_bodies_pass), TEST_CASE(rejections_name_the_field),
          TEST_CASE(string_checks), TEST_CASE(utf8))
