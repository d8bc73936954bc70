/* cloister-init's strict JSON reader and canonical writer (src/init/json-reader.c,
 * json-writer.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-reader.h"
#include "json-writer.h"
#include "test.h"

static int
parse(const char *text, struct jread_value **ret)
{
    return jread_parse(text, strlen(text), 1u << 20, ret, NULL);
}

static void
check_rejected(const char *text)
{
    struct jread_value *v = NULL;
    int r = parse(text, &v);

    if (r != -EBADMSG)
        fprintf(stderr, "  accepted or wrong error (%d): %s\n", r, text);
    CHECK(r == -EBADMSG);
    CHECK(v == NULL);
}

/* The canonical text of text; the caller frees. */
static char *
canonical(const char *text)
{
    struct jread_value *v = NULL;
    struct jwbuf b = { 0 };

    CHECK_EQ_INT(parse(text, &v), 0);
    CHECK_EQ_INT(jwbuf_canonical(&b, v, NULL), 0);
    jread_free(v);
    return b.data;
}

TEST(test_values)
{
    struct jread_value *v = NULL;

    CHECK_EQ_INT(parse(" {\"a\": [1, -2, 9223372036854775807, -9223372036854775808, 1.5, 2e3],"
                       " \"b\": \"x\\u00e9\\ud83d\\ude00\\n\", \"c\": true, \"d\": null}\r\n",
                       &v),
                 0);
    CHECK_EQ_INT(v->type, JREAD_OBJECT);
    const struct jread_value *a = jread_get(v, "a");
    CHECK(a && a->type == JREAD_ARRAY && a->n == 6);
    CHECK_EQ_INT(a->items[0]->integer, 1);
    CHECK_EQ_INT(a->items[1]->integer, -2);
    CHECK(a->items[2]->integer == INT64_MAX);
    CHECK(a->items[3]->integer == INT64_MIN);
    CHECK_EQ_INT(a->items[4]->type, JREAD_NUMBER);
    CHECK_EQ_STR(a->items[4]->string, "1.5");
    CHECK_EQ_INT(a->items[5]->type, JREAD_NUMBER);
    CHECK_EQ_STR(jread_get_string(v, "b"), "x\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK(jread_get(v, "c")->boolean);
    CHECK_EQ_INT(jread_get(v, "d")->type, JREAD_NULL);
    CHECK(jread_get(v, "missing") == NULL);
    CHECK(jread_get_string(v, "c") == NULL);
    jread_free(v);

    /* Beyond int64: kept as a number, not an integer. */
    CHECK_EQ_INT(parse("9223372036854775808", &v), 0);
    CHECK_EQ_INT(v->type, JREAD_NUMBER);
    jread_free(v);
}

TEST(test_rejections)
{
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\":1,\"a\":2}", /* duplicate key */
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "+1",
        "tru",
        "nul",
        "\"abc",
        "\"a\x01\"",            /* raw control character */
        "\"\\x\"",              /* unknown escape */
        "\"\\u12\"",            /* short \u */
        "\"\\ud800\"",          /* lone high surrogate */
        "\"\\udc00\"",          /* lone low surrogate */
        "\"\\ud800\\u0041\"",   /* high surrogate + non-low */
        "\"\\u0000\"",          /* NUL */
        "\"\xc0\xaf\"",         /* overlong */
        "\"\xed\xa0\x80\"",     /* encoded surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xe2\x82\"",         /* truncated sequence */
        "\"\x80\"",             /* stray continuation byte */
        "{} {}",                /* trailing value */
        "{}x",
        "[1]\f", /* form feed is not JSON whitespace */
        "{1:2}",
        "{\"a\" 1}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_rejected(bad[i]);
}

TEST(test_limits)
{
    char deep[2 * JREAD_DEPTH_MAX + 3];
    struct jread_value *v = NULL;
    size_t n = 0;

    /* JREAD_DEPTH_MAX nested arrays are fine, one more is not. */
    for (unsigned i = 0; i < JREAD_DEPTH_MAX; i++)
        deep[n++] = '[';
    for (unsigned i = 0; i < JREAD_DEPTH_MAX; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    CHECK_EQ_INT(parse(deep, &v), 0);
    jread_free(v);
    memmove(deep + 1, deep, n + 1);
    deep[0] = '[';
    deep[n + 1] = ']';
    deep[n + 2] = '\0';
    check_rejected(deep);

    /* The size bound comes before any parsing. */
    CHECK_EQ_INT(jread_parse("[1]", 3, 2, &v, NULL), -E2BIG);

    /* The error offset points at the problem. */
    size_t offset = 0;
    CHECK_EQ_INT(jread_parse("[1, x]", 6, 100, &v, &offset), -EBADMSG);
    CHECK_EQ_INT(offset, 4);

    /* JREAD_MEMBERS_MAX members per object. */
    struct jwbuf b = { 0 };
    jwbuf_puts(&b, "{");
    for (unsigned i = 0; i <= JREAD_MEMBERS_MAX; i++)
        jwbuf_printf(&b, "%s\"k%u\":%u", i ? "," : "", i, i);
    jwbuf_puts(&b, "}");
    CHECK_EQ_INT(jread_parse(b.data, b.size, 1u << 20, &v, NULL), -EBADMSG);
    jwbuf_release(&b);
}

TEST(test_canonical)
{
    char *c;

    c = canonical(
        " { \"b\" : [ 1 , {\"z\":null, \"a\":false} ], \"a\": \"\\u0041\\/\\t\\u001f\\\"\" ,"
        "\"\xc3\xa9\": -0, \"B\": 10 } ");
    CHECK_EQ_STR(c, "{\"B\":10,\"a\":\"A/\\t\\u001f\\\"\",\"b\":[1,{\"a\":false,\"z\":null}],"
                    "\"\xc3\xa9\":0}");
    free(c);

    /* Canonical text is a fixed point. */
    c = canonical("{\"b\":[1,{\"a\":false,\"z\":null}],\"a\":\"\\u00e9\\\\\"}");
    char *again = canonical(c);
    CHECK_EQ_STR(again, c);
    free(again);
    free(c);

    /* No canonical form for non-integers. */
    struct jread_value *v = NULL;
    struct jwbuf b = { 0 };
    CHECK_EQ_INT(parse("[1.0]", &v), 0);
    CHECK_EQ_INT(jwbuf_canonical(&b, v, NULL), -EDOM);
    jwbuf_release(&b);
    jread_free(v);

    /* omit_key drops the top-level member only. */
    CHECK_EQ_INT(parse("{\"signer\":1,\"x\":{\"signer\":2}}", &v), 0);
    CHECK_EQ_INT(jwbuf_canonical(&b, v, "signer"), 0);
    CHECK_EQ_STR(b.data, "{\"x\":{\"signer\":2}}");
    jwbuf_release(&b);
    jread_free(v);
}

TEST(test_writer_strings)
{
    struct jwbuf b = { 0 };
    struct jread_value *v = NULL;
    const char *s = "line\nquote\" back\\ \x01 \xe2\x82\xac";

    jwbuf_string(&b, s);
    CHECK_EQ_STR(b.data, "\"line\\nquote\\\" back\\\\ \\u0001 \xe2\x82\xac\"");
    /* What the writer writes, the reader reads back unchanged. */
    CHECK_EQ_INT(jread_parse(b.data, b.size, 1024, &v, NULL), 0);
    CHECK_EQ_STR(v->string, s);
    jread_free(v);
    jwbuf_release(&b);
}

TEST_MAIN(TEST_CASE(test_values), TEST_CASE(test_rejections), TEST_CASE(test_limits),
          TEST_CASE(test_canonical), TEST_CASE(test_writer_strings))
