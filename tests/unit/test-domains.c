/* The set algebra on app domains (src/manager/domains.c). */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "domains.h"
#include "test.h"

static json_t *
parse(const char *text)
{
    json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);

    CHECK(value);
    return value;
}

/* Checks that array (owned, freed here) serialises exactly as expected. */
static void
check_json(json_t *array, const char *expected)
{
    char *text = json_dumps(array, JSON_COMPACT);
    int same = text && strcmp(text, expected) == 0;

    if (!same)
        fprintf(stderr, "  got %s, expected %s\n", text ? text : "(null)", expected);
    free(text);
    json_decref(array);
    CHECK(same);
}

TEST(test_dns_names)
{
    CHECK(domain_is_dns_name("example.com"));
    CHECK(domain_is_dns_name("a"));
    CHECK(domain_is_dns_name("Api.Example.COM"));
    CHECK(domain_is_dns_name("*.example.com"));
    CHECK(domain_is_dns_name("x-1.y2.example"));
    CHECK(!domain_is_dns_name(NULL));
    CHECK(!domain_is_dns_name(""));
    CHECK(!domain_is_dns_name("*."));
    CHECK(!domain_is_dns_name("My service"));
    CHECK(!domain_is_dns_name("CN=example.com"));
    CHECK(!domain_is_dns_name("-a.example.com"));
    CHECK(!domain_is_dns_name("a-.example.com"));
    CHECK(!domain_is_dns_name("a..example.com"));
    CHECK(!domain_is_dns_name(".example.com"));
    CHECK(!domain_is_dns_name("example.com."));
    CHECK(!domain_is_dns_name("a.*.example.com"));
    CHECK(!domain_is_dns_name("under_score.example.com"));
}

TEST(test_dns_name_lengths)
{
    char label[80], name[300];

    memset(label, 'a', 63);
    label[63] = '\0';
    CHECK(domain_is_dns_name(label));
    memset(label, 'a', 64);
    label[64] = '\0';
    CHECK(!domain_is_dns_name(label));

    /* 4 labels of 63 and a dot each: 255 bytes, over the 253 limit. */
    memset(name, 'b', 255);
    name[63] = name[127] = name[191] = '.';
    name[255] = '\0';
    CHECK(!domain_is_dns_name(name));
    name[253] = '\0';
    CHECK(domain_is_dns_name(name));
}

TEST(test_normalize)
{
    json_t *in = parse("[\"B.example.com\", \"a.example.com\", \"b.example.com\", 7, null]");
    json_t *out = NULL;

    CHECK_EQ_INT(domains_normalize(in, &out), 0);
    check_json(out, "[\"a.example.com\",\"b.example.com\"]");
    json_decref(in);

    CHECK_EQ_INT(domains_normalize(NULL, &out), 0);
    check_json(out, "[]");
}

TEST(test_union_and_difference)
{
    json_t *a = parse("[\"c.test\", \"a.test\", \"b.test\"]");
    json_t *b = parse("[\"B.TEST\", \"d.test\"]");
    json_t *out = NULL;

    CHECK_EQ_INT(domains_union(a, b, &out), 0);
    check_json(out, "[\"a.test\",\"b.test\",\"c.test\",\"d.test\"]");
    CHECK_EQ_INT(domains_difference(a, b, &out), 0);
    check_json(out, "[\"a.test\",\"c.test\"]");
    CHECK_EQ_INT(domains_difference(b, a, &out), 0);
    check_json(out, "[\"d.test\"]");
    CHECK_EQ_INT(domains_difference(a, NULL, &out), 0);
    check_json(out, "[\"a.test\",\"b.test\",\"c.test\"]");
    CHECK_EQ_INT(domains_difference(NULL, a, &out), 0);
    check_json(out, "[]");
    CHECK_EQ_INT(domains_difference(a, a, &out), 0);
    check_json(out, "[]");
    json_decref(a);
    json_decref(b);
}

TEST(test_equal)
{
    json_t *a = parse("[\"x.test\", \"Y.test\", \"x.test\"]");
    json_t *b = parse("[\"y.test\", \"x.test\"]");
    json_t *c = parse("[\"y.test\"]");

    CHECK(domains_equal(a, b));
    CHECK(!domains_equal(a, c));
    json_array_clear(c);
    CHECK(domains_equal(NULL, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

TEST(test_requested)
{
    json_t *allowed = parse("[\"api.example.com\", \"*.Example.org\"]");
    json_t *settings = parse("{\"certificate\": {\"issuer\": \"MANAGER_CA\","
                             " \"subject\": \"WWW.example.com\","
                             " \"alt_names\": [\"api.example.com\", \"alt.example.com\"]}}");
    json_t *out = NULL;

    CHECK_EQ_INT(domains_requested(allowed, settings, &out), 0);
    check_json(out, "[\"*.example.org\",\"alt.example.com\",\"api.example.com\","
                    "\"www.example.com\"]");
    CHECK_EQ_INT(domains_of_settings(settings, &out), 0);
    check_json(out, "[\"alt.example.com\",\"api.example.com\",\"www.example.com\"]");
    CHECK_EQ_INT(domains_requested(NULL, NULL, &out), 0);
    check_json(out, "[]");
    CHECK_EQ_INT(domains_requested(allowed, NULL, &out), 0);
    check_json(out, "[\"*.example.org\",\"api.example.com\"]");
    json_decref(allowed);
    json_decref(settings);
}

TEST(test_subject_not_a_domain)
{
    json_t *settings = parse("{\"certificate\": {\"subject\": \"My service\"}}");
    json_t *no_cert = parse("{\"entrypoint\": [\"/bin/app\"]}");
    json_t *out = NULL;

    CHECK_EQ_INT(domains_of_settings(settings, &out), 0);
    check_json(out, "[]");
    CHECK_EQ_INT(domains_of_settings(no_cert, &out), 0);
    check_json(out, "[]");
    json_decref(settings);
    json_decref(no_cert);
}

TEST(test_added_and_removed)
{
    /* The PATCH arithmetic: requested − whitelisted is added, whitelisted − requested removed. */
    json_t *whitelisted = parse("[\"a.test\", \"b.test\"]");
    json_t *requested = parse("[\"b.test\", \"c.test\"]");
    json_t *added = NULL, *removed = NULL;

    CHECK_EQ_INT(domains_difference(requested, whitelisted, &added), 0);
    CHECK_EQ_INT(domains_difference(whitelisted, requested, &removed), 0);
    check_json(added, "[\"c.test\"]");
    check_json(removed, "[\"a.test\"]");
    json_decref(whitelisted);
    json_decref(requested);
}

TEST(test_too_many)
{
    json_t *many = json_array();
    json_t *out = NULL;
    char name[32];

    CHECK(many);
    for (int i = 0; i <= DOMAINS_MAX; i++) {
        snprintf(name, sizeof(name), "h%d.test", i);
        json_array_append_new(many, json_string(name));
    }
    CHECK_EQ_INT(domains_normalize(many, &out), -E2BIG);
    CHECK(out == NULL);
    json_array_remove(many, 0);
    CHECK_EQ_INT(domains_normalize(many, &out), 0);
    CHECK_EQ_INT(json_array_size(out), DOMAINS_MAX);
    json_decref(out);
    json_decref(many);
}

TEST_MAIN(TEST_CASE(test_dns_names), TEST_CASE(test_dns_name_lengths), TEST_CASE(test_normalize),
          TEST_CASE(test_union_and_difference), TEST_CASE(test_equal), TEST_CASE(test_requested),
          TEST_CASE(test_subject_not_a_domain), TEST_CASE(test_added_and_removed),
          TEST_CASE(test_too_many))
