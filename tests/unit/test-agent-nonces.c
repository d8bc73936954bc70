/* cloister-agent: the nonce pool (src/agent/agent-nonces.c). Nonces come out once each, oldest
 * first, never when older than AGENT_NONCE_MAX_AGE_MS; the manager's answer is taken whole or not
 * at all; refills are asked for below the low-water mark, one at a time, not right after a
 * failure; what GET /v1/challenge answers is JSON that reads back to the same nonce. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent-nonces.h"
#include "test.h"

/* {"nonce": first, "nonces": ["n<base>-0", ...], "expires_at": ...} with n names (n >= 1). */
static void
batch(unsigned base, unsigned n, char *out, size_t size)
{
    size_t len = (size_t)snprintf(out, size, "{\"nonce\":\"n%u-0\",\"nonces\":[", base);

    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, size - len, "%s\"n%u-%u\"", i ? "," : "", base, i);
    snprintf(out + len, size - len, "],\"expires_at\":\"2026-12-04T17:00:00Z\"}");
}

static int
add(struct agent_nonces *p, const char *text, int64_t at)
{
    return agent_nonces_add_answer(p, text, strlen(text), at);
}

TEST(batch_comes_out_once_in_order)
{
    static struct agent_nonces p;
    struct agent_nonce n;
    char text[16384], name[32];

    batch(1, AGENT_NONCES_MAX, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 1000), (int)AGENT_NONCES_MAX);
    CHECK_EQ_INT((int)agent_nonces_room(&p), 0);
    for (unsigned i = 0; i < AGENT_NONCES_MAX; i++) {
        CHECK_EQ_INT(agent_nonces_take(&p, 2000, &n), 0);
        snprintf(name, sizeof(name), "n1-%u", i);
        CHECK_EQ_STR(n.nonce, name);
        CHECK_EQ_STR(n.expires_at, "2026-12-04T17:00:00Z");
    }
    /* "nonce" repeats nonces[0]: it was not pooled a second time. */
    CHECK_EQ_INT(agent_nonces_take(&p, 2000, &n), -ENOENT);
    CHECK_EQ_INT((int)agent_nonces_room(&p), (int)AGENT_NONCES_MAX);
}

TEST(old_nonces_are_dropped)
{
    static struct agent_nonces p;
    struct agent_nonce n;
    char text[16384];

    batch(1, 3, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 0), 3);
    batch(2, 2, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 30000), 2);
    /* Just young enough, then one millisecond too old: batch 1 goes, batch 2 is served. */
    CHECK_EQ_INT(agent_nonces_take(&p, AGENT_NONCE_MAX_AGE_MS - 1, &n), 0);
    CHECK_EQ_STR(n.nonce, "n1-0");
    CHECK_EQ_INT(agent_nonces_take(&p, AGENT_NONCE_MAX_AGE_MS, &n), 0);
    CHECK_EQ_STR(n.nonce, "n2-0");
    CHECK_EQ_INT((int)p.count, 1);
    CHECK_EQ_INT(agent_nonces_take(&p, 30000 + AGENT_NONCE_MAX_AGE_MS, &n), -ENOENT);
    CHECK_EQ_INT((int)p.count, 0);
}

TEST(room_limits_a_batch_and_the_ring_wraps)
{
    static struct agent_nonces p;
    struct agent_nonce n;
    char text[16384], name[32];

    batch(1, 60, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 0), 60);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(agent_nonces_take(&p, 1, &n), 0);
    /* 10 held, room for AGENT_NONCES_MAX - 10: the other 10 of a full batch are dropped. */
    batch(2, AGENT_NONCES_MAX, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 2), (int)AGENT_NONCES_MAX - 10);
    CHECK_EQ_INT(add(&p, text, 2), 0);
    for (unsigned i = 50; i < 60; i++) {
        CHECK_EQ_INT(agent_nonces_take(&p, 3, &n), 0);
        snprintf(name, sizeof(name), "n1-%u", i);
        CHECK_EQ_STR(n.nonce, name);
    }
    for (unsigned i = 0; i < AGENT_NONCES_MAX - 10; i++) {
        CHECK_EQ_INT(agent_nonces_take(&p, 3, &n), 0);
        snprintf(name, sizeof(name), "n2-%u", i);
        CHECK_EQ_STR(n.nonce, name);
    }
    CHECK_EQ_INT(agent_nonces_take(&p, 3, &n), -ENOENT);
}

TEST(single_nonce_of_an_older_manager)
{
    static struct agent_nonces p;
    struct agent_nonce n;
    const char *old = "{\"nonce\":\"AQAAAZ_-abc_\",\"expires_at\":\"2026-12-04T17:00:00.123Z\"}";

    CHECK_EQ_INT(add(&p, old, 5), 1);
    CHECK_EQ_INT(agent_nonces_take(&p, 6, &n), 0);
    CHECK_EQ_STR(n.nonce, "AQAAAZ_-abc_");
    CHECK_EQ_STR(n.expires_at, "2026-12-04T17:00:00.123Z");
    CHECK_EQ_INT(agent_nonces_take(&p, 6, &n), -ENOENT);
}

TEST(malformed_answers_add_nothing)
{
    static struct agent_nonces p;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"nonce\":\"abc\"}",
        "{\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonce\":5,\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonce\":\"\",\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonce\":\"a\\\"b\",\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonce\":\"a\\\\b\",\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonce\":\"ab\",\"expires_at\":\"2026-12-04 17:00\"}",
        "{\"nonce\":\"ab\",\"expires_at\":\"</script>\"}",
        "{\"nonces\":[],\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonces\":\"ab\",\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonces\":[\"ab\",7],\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonces\":[\"ab\",\"c d\"],\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        "{\"nonces\":[\"ab\"],\"nonces\":[\"cd\"],\"expires_at\":\"2026-12-04T17:00:00Z\"}",
        /* 64 characters: one too many */
        ("{\"nonce\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
         "\"expires_at\":\"2026-12-04T17:00:00Z\"}"),
    };
    char text[16384];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(add(&p, bad[i], 0), -EBADMSG);
        CHECK_EQ_INT((int)p.count, 0);
    }
    /* One more than the pool holds is malformed, not cut. */
    batch(1, AGENT_NONCES_MAX + 1, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 0), -EBADMSG);
    CHECK_EQ_INT((int)p.count, 0);
    /* The longest nonce that fits. */
    CHECK_EQ_INT(
        add(&p,
            "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
            "\"expires_at\":\"2026-12-04T17:00:00Z\"}",
            0),
        1);
}

TEST(refill_wanted)
{
    static struct agent_nonces p;
    char text[16384];

    CHECK(agent_nonces_want_refill(&p, 0));
    batch(1, AGENT_NONCES_LOW, text, sizeof(text));
    CHECK_EQ_INT(add(&p, text, 0), (int)AGENT_NONCES_LOW);
    CHECK(!agent_nonces_want_refill(&p, 0));
    p.count--;
    CHECK(agent_nonces_want_refill(&p, 0));
    p.refilling = true;
    CHECK(!agent_nonces_want_refill(&p, 0));
    p.refilling = false;
    p.retry_after_ms = 1000;
    CHECK(!agent_nonces_want_refill(&p, 999));
    CHECK(agent_nonces_want_refill(&p, 1000));
}

TEST(challenge_text_reads_back)
{
    static struct agent_nonces p;
    struct agent_nonce n;
    char out[AGENT_CHALLENGE_JSON_MAX];
    json_t *o;

    CHECK_EQ_INT(
        add(&p,
            "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
            "\"expires_at\":\"2026-12-04T17:00:00.123456789+01:00\"}",
            0),
        1);
    CHECK_EQ_INT(agent_nonces_take(&p, 0, &n), 0);
    CHECK_EQ_INT((int)agent_nonce_format(&n, out), (int)strlen(out));
    o = json_loads(out, 0, NULL);
    CHECK(json_is_object(o) && json_object_size(o) == 2);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "nonce")), n.nonce);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "expires_at")),
                 "2026-12-04T17:00:00.123456789+01:00");
    json_decref(o);
}

TEST_MAIN(TEST_CASE(batch_comes_out_once_in_order), TEST_CASE(old_nonces_are_dropped),
          TEST_CASE(room_limits_a_batch_and_the_ring_wraps),
          TEST_CASE(single_nonce_of_an_older_manager), TEST_CASE(malformed_answers_add_nothing),
          TEST_CASE(refill_wanted), TEST_CASE(challenge_text_reads_back))
