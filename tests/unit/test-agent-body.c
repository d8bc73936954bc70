/* cloister-agent: request body parsing (src/agent/agent-body.c) and the sim quote it signs. Each
 * refusal must name the offending field; a quote must verify with libattest against the public
 * half of the key that signed it and carry exactly the requested measurements. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <jansson.h>

#include <attest/attest.h>

#include "agent-body.h"
#include "cleanup.h"
#include "test.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX62 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"

static char hex_rd[129], hex_a[65], hex_b[65];

static void
fill_hex(void)
{
    for (int i = 0; i < 64; i++)
        snprintf(hex_rd + 2 * i, 3, "%02x", i);
    for (int i = 0; i < 32; i++) {
        snprintf(hex_a + 2 * i, 3, "%02X", 0xa0 + (i & 0xf)); /* upper case is accepted too */
        snprintf(hex_b + 2 * i, 3, "%02x", 0xb0 + (i & 0xf));
    }
}

static int
parse_quote(const char *extra, struct agent_quote_request *q, char err[AGENT_ERROR_MAX])
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"report_data\":\"%s\",\"mrenclave\":\"%s\",\"mrsigner\":\"%s\",\"isvprodid\":7,"
             "\"isvsvn\":65535%s}",
             hex_rd, hex_a, hex_b, extra);
    return agent_body_parse_quote(body, strlen(body), q, err);
}

/* A valid body with field set to raw (a JSON value), or left out when raw is NULL. */
static void
body_with(const char *field, const char *raw, char out[1024])
{
    static const char *const names[] = { "report_data", "mrenclave", "mrsigner", "isvprodid",
                                         "isvsvn" };
    char v[5][160];
    size_t len = 0;
    bool known = false;

    snprintf(v[0], sizeof(v[0]), "\"%s\"", hex_rd);
    snprintf(v[1], sizeof(v[1]), "\"%s\"", hex_a);
    snprintf(v[2], sizeof(v[2]), "\"%s\"", hex_b);
    snprintf(v[3], sizeof(v[3]), "1");
    snprintf(v[4], sizeof(v[4]), "2");
    len += (size_t)snprintf(out + len, 1024 - len, "{");
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        const char *value = v[i];
        if (strcmp(names[i], field) == 0) {
            known = true;
            if (!raw)
                continue;
            value = raw;
        }
        len += (size_t)snprintf(out + len, 1024 - len, "%s\"%s\":%s", len > 1 ? "," : "", names[i],
                                value);
    }
    if (!known)
        len += (size_t)snprintf(out + len, 1024 - len, ",\"%s\":%s", field, raw);
    snprintf(out + len, 1024 - len, "}");
}

/* err names field as a whole token (as the integration tests' field_named does). */
static bool
names(const char *err, const char *field)
{
    size_t n = strlen(field);

    for (const char *p = strstr(err, field); p; p = strstr(p + 1, field)) {
        bool before = p == err || !(p[-1] == '_' || p[-1] == '.' || (p[-1] >= 'a' && p[-1] <= 'z'));
        bool after = !(p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9'));
        if (before && after)
            return true;
    }
    return false;
}

TEST(quote_valid)
{
    struct agent_quote_request q;
    char err[AGENT_ERROR_MAX];

    fill_hex();
    CHECK_EQ_INT(parse_quote("", &q, err), 0);
    CHECK_EQ_INT(q.report_data[0], 0);
    CHECK_EQ_INT(q.report_data[63], 63);
    CHECK_EQ_INT(q.mrenclave[0], 0xa0);
    CHECK_EQ_INT(q.mrsigner[31], 0xbf);
    CHECK_EQ_INT(q.isvprodid, 7);
    CHECK_EQ_INT(q.isvsvn, 65535);
    CHECK(!q.debug);
    CHECK_EQ_INT(parse_quote(",\"debug\":true", &q, err), 0);
    CHECK(q.debug);
}

TEST(quote_refusals_name_the_field)
{
    static const struct {
        const char *field;
        const char *raw;
    } cases[] = {
        { "report_data", "\"abcd\"" },
        { "report_data", NULL },
        { "report_data", "\"" HEX64 HEX64 "0\"" },
        { "mrenclave", "\"" HEX62 "zz\"" },
        { "mrenclave", "\"" HEX64 HEX64 "\"" },
        { "mrsigner", "12" },
        { "mrsigner", "null" },
        { "isvprodid", "65536" },
        { "isvprodid", "-1" },
        { "isvprodid", "\"1\"" },
        { "isvsvn", "1.5" },
        { "isvsvn", NULL },
        { "debug", "\"yes\"" },
        { "mrsignr", "\"\"" },
    };
    char err[AGENT_ERROR_MAX], body[1024];
    struct agent_quote_request q;

    fill_hex();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        body_with(cases[i].field, cases[i].raw, body);
        memset(err, 'x', sizeof(err));
        CHECK_EQ_INT(agent_body_parse_quote(body, strlen(body), &q, err), -EINVAL);
        CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        if (!names(err, cases[i].field)) {
            fprintf(stderr, "  case %zu (%s): '%s' does not name %s\n", i, body, err,
                    cases[i].field);
            CHECK(false);
        }
    }
    /* Not an object, not JSON, duplicate keys, empty, too large: the body as a whole. */
    static const char *const bad[] = { "[1,2]", "{\"report_data\":", "{\"a\":1,\"a\":2}", "" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        CHECK_EQ_INT(agent_body_parse_quote(bad[i], strlen(bad[i]), &q, err), -EINVAL);
        CHECK(names(err, "body"));
    }
    CHECK_EQ_INT(agent_body_parse_quote("{}", AGENT_BODY_MAX + 1, &q, err), -EINVAL);
    CHECK(names(err, "body"));
}

TEST(quote_signature_verifies)
{
    struct agent_quote_request q;
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_NONE;
    char err[AGENT_ERROR_MAX];
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *json = NULL;
    json_t *root, *ev;
    unsigned char raw[ATTEST_SIM_SIZE_MAX + 4];
    const char *b64;
    int n;

    CHECK(key);
    fill_hex();
    CHECK_EQ_INT(parse_quote(",\"debug\":true", &q, err), 0);
    CHECK_EQ_INT(agent_quote_make(&q, key, &json), 0);
    root = json_loads(json, 0, NULL);
    CHECK(root);
    ev = json_object_get(root, "evidence");
    CHECK_EQ_STR(json_string_value(json_object_get(ev, "type")), "sim");
    b64 = json_string_value(json_object_get(ev, "data"));
    CHECK(b64 && strlen(b64) <= 4 * ((sizeof(raw) - 4) / 3 + 1));
    n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    CHECK(n > 0);
    n -= (b64[strlen(b64) - 1] == '=') + (b64[strlen(b64) - 2] == '=');
    CHECK_EQ_INT(attest_sim_verify(raw, (size_t)n, key, &claims, &step), 0);
    CHECK(claims.debug);
    CHECK_EQ_INT(claims.isvprodid, 7);
    CHECK_EQ_INT(claims.isvsvn, 65535);
    CHECK(memcmp(claims.mrenclave, q.mrenclave, 32) == 0);
    CHECK(memcmp(claims.mrsigner, q.mrsigner, 32) == 0);
    CHECK(memcmp(claims.report_data, q.report_data, 64) == 0);
    /* The envelope is exactly what the manager's parser accepts. */
    {
        struct attest_evidence *e = NULL;
        char *text = json_dumps(ev, JSON_COMPACT);
        CHECK(text);
        CHECK_EQ_INT(attest_evidence_parse(text, strlen(text), &e, &step), 0);
        CHECK_EQ_INT(e->size, (size_t)n);
        attest_evidence_free(e);
        free(text);
    }
    json_decref(root);
    free(json);
    EVP_PKEY_free(key);
}

TEST(heartbeat_and_ids)
{
    char id[AGENT_INSTANCE_ID_MAX + 1], err[AGENT_ERROR_MAX];
    static const char *const bad[] = {
        "{\"instance_id\":\"app-1\"}",
        "{\"instance_id\":7}",
        "{\"instance_id\":\"\"}",
        "{\"instance_id\":\"0f1e2d3c-aaaa-4bbb-8ccc-123456789abcd\"}",
        "{\"instance_id\":\"0f1e2d3c+aaaa-4bbb-8ccc-123456789abc\"}",
        "{\"instance_id\":\"0f1e2d3c-aaaa-4bbb-8ccc-123456789abg\"}",
        "{}",
    };
    const char *ok = "{\"instance_id\":\"0F1E2D3C-aaaa-4bbb-8ccc-123456789abc\"}";

    CHECK_EQ_INT(agent_body_parse_heartbeat(ok, strlen(ok), id, err), 0);
    CHECK_EQ_STR(id, "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc");
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        CHECK_EQ_INT(agent_body_parse_heartbeat(bad[i], strlen(bad[i]), id, err), -EINVAL);
        CHECK(names(err, "instance_id"));
    }
    /* A NUL inside the JSON string must not shorten the id silently (jansson refuses it). */
    ok = "{\"instance_id\":\"0f1e2d3c-aaaa-4bbb-8ccc-123456789a\\u0000c\"}";
    CHECK_EQ_INT(agent_body_parse_heartbeat(ok, strlen(ok), id, err), -EINVAL);
    ok = "{\"id\":\"x\"}";
    CHECK_EQ_INT(agent_body_parse_heartbeat(ok, strlen(ok), id, err), -EINVAL);
    CHECK(names(err, "id"));

    CHECK(agent_task_id_valid("0f1e-ab_C"));
    CHECK(!agent_task_id_valid(""));
    CHECK(!agent_task_id_valid("../x"));
    CHECK(!agent_task_id_valid("a%2f"));
    CHECK(
        !agent_task_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(issue_shape)
{
    char err[AGENT_ERROR_MAX];
    const char *ok = "{\"csr\":\"-----BEGIN\",\"evidence\":{\"type\":\"sim\"},\"nonce\":\"n\"}";

    CHECK_EQ_INT(agent_body_check_issue(ok, strlen(ok), err), 0);
    CHECK_EQ_INT(agent_body_check_issue("{\"evidence\":{},\"nonce\":\"n\"}",
                                        strlen("{\"evidence\":{},\"nonce\":\"n\"}"), err),
                 -EINVAL);
    CHECK(names(err, "csr"));
    CHECK_EQ_INT(
        agent_body_check_issue("{\"csr\":\"c\",\"evidence\":\"x\",\"nonce\":\"n\"}",
                               strlen("{\"csr\":\"c\",\"evidence\":\"x\",\"nonce\":\"n\"}"), err),
        -EINVAL);
    CHECK(names(err, "evidence"));
    CHECK_EQ_INT(agent_body_check_issue("{\"csr\":\"c\",\"evidence\":{},\"nonce\":1}",
                                        strlen("{\"csr\":\"c\",\"evidence\":{},\"nonce\":1}"), err),
                 -EINVAL);
    CHECK(names(err, "nonce"));
}

/* The records of the manager's answer to a batch: "<status> <length>\n<body>\n" each. */
TEST(answer_records)
{
    static const char two[] = "200 2\n{}\n400 12\n{\"code\":\"x\"}\n";
    static const char *const bad[] = {
        "20 2\n{}\n",                        /* two digits of status */
        "099 2\n{}\n",                       /* below 100 */
        "600 2\n{}\n",                       /* above 599 */
        "200 02\n{}\n",                      /* a leading zero */
        "200 -2\n{}\n",                      /* not a length */
        "200 2 \n{}\n",                      /* after the length */
        "200 3\n{}\n",                       /* longer than what follows */
        "200 1\n{}\n",                       /* no newline after the body */
        "200 2\n{}",                         /* none at the end */
        "200 99999999999999999999999\n{}\n", /* would overflow */
    };
    const char *body = NULL;
    size_t at = 0, len = 0;
    int status = 0;

    CHECK_EQ_INT(agent_answer_record_next(two, strlen(two), &at, &status, &body, &len), 0);
    CHECK_EQ_INT(status, 200);
    CHECK(len == 2 && memcmp(body, "{}", 2) == 0);
    CHECK_EQ_INT(agent_answer_record_next(two, strlen(two), &at, &status, &body, &len), 0);
    CHECK_EQ_INT(status, 400);
    CHECK(len == 12 && memcmp(body, "{\"code\":\"x\"}", 12) == 0);
    CHECK(at == strlen(two));
    CHECK_EQ_INT(agent_answer_record_next(two, strlen(two), &at, &status, &body, &len), -ENOENT);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        at = 0;
        CHECK_EQ_INT(agent_answer_record_next(bad[i], strlen(bad[i]), &at, &status, &body, &len),
                     -EBADMSG);
        CHECK(at == 0);
    }
}

TEST_MAIN(TEST_CASE(quote_valid), TEST_CASE(quote_refusals_name_the_field),
          TEST_CASE(quote_signature_verifies), TEST_CASE(heartbeat_and_ids), TEST_CASE(issue_shape),
          TEST_CASE(answer_records))
