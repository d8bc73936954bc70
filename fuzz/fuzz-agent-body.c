/* Fuzz target for the agent API's request bodies (src/agent/agent-body.c): every input is tried
 * as a /v1/sim/quote body, a /v1/heartbeat body, a /v1/certificate/issue body and a task id.
 * Checks that nothing crashes, that refusals always come with a message, and that an accepted
 * quote signs into a report that verifies and says exactly what was asked. The same bytes are
 * also the manager's answer to POST /v1/node/nonce for the nonce pool (agent-nonces.c): every
 * nonce it pools must come back out as the JSON of GET /v1/challenge, unchanged. And they are
 * the manager's answer to a batch of certificate requests (agent-issue.c), read record by record. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <attest/attest.h>

#include "agent-body.h"
#include "agent-nonces.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *sim_key;

static void
check_message(int r, const char err[AGENT_ERROR_MAX])
{
    if (!memchr(err, '\0', AGENT_ERROR_MAX))
        __builtin_trap();
    if (r == -EINVAL && err[0] == '\0')
        __builtin_trap();
    if (r != 0 && r != -EINVAL && r != -ENOMEM)
        __builtin_trap();
}

static void
check_quote(const struct agent_quote_request *q)
{
    struct attest_claims claims;
    enum attest_step step;
    unsigned char raw[ATTEST_SIM_SIZE_MAX + 3];
    char *json = NULL;
    json_t *root;
    const char *b64;
    size_t len;
    int n;

    if (agent_quote_make(q, sim_key, &json) < 0)
        __builtin_trap();
    root = json_loads(json, 0, NULL);
    b64 = json_string_value(json_object_get(json_object_get(root, "evidence"), "data"));
    if (!b64 || (len = strlen(b64)) < 4 || len > 4 * (ATTEST_SIM_SIZE_MAX / 3 + 1))
        __builtin_trap();
    n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
    if (n <= 0 || attest_sim_verify(raw, (size_t)n, sim_key, &claims, &step) < 0 ||
        claims.debug != q->debug || claims.isvprodid != q->isvprodid ||
        claims.isvsvn != q->isvsvn || memcmp(claims.mrenclave, q->mrenclave, 32) != 0 ||
        memcmp(claims.mrsigner, q->mrsigner, 32) != 0 ||
        memcmp(claims.report_data, q->report_data, 64) != 0)
        __builtin_trap();
    json_decref(root);
    free(json);
}

static void
check_nonce_answer(const uint8_t *data, size_t size)
{
    static struct agent_nonces pool;
    struct agent_nonce n;
    char text[AGENT_CHALLENGE_JSON_MAX];
    json_t *o;
    int added;

    memset(&pool, 0, sizeof(pool));
    added = agent_nonces_add_answer(&pool, (const char *)data, size, 0);
    if (added != -EBADMSG && (added < 0 || added > (int)AGENT_NONCES_MAX))
        __builtin_trap();
    if ((added < 0 ? 0u : (unsigned)added) != pool.count)
        __builtin_trap();
    while (agent_nonces_take(&pool, 0, &n) == 0) {
        if (agent_nonce_format(&n, text) != strlen(text))
            __builtin_trap();
        o = json_loads(text, 0, NULL);
        if (!o || json_object_size(o) != 2 ||
            strcmp(json_string_value(json_object_get(o, "nonce")), n.nonce) != 0 ||
            strcmp(json_string_value(json_object_get(o, "expires_at")), n.expires_at) != 0)
            __builtin_trap();
        json_decref(o);
    }
}

/* The same bytes as the manager's answer to a batch: records stay inside the input, in order,
 * each one rewritten the way the manager writes it reads back the same. */
static void
check_answer_records(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *body;
    size_t at = 0, before, len;
    char head[32];
    int status, r;

    for (before = at; (r = agent_answer_record_next(text, size, &at, &status, &body, &len)) == 0;
         before = at) {
        if (at <= before || at > size || body < text + before || body + len + 1 != text + at ||
            status < 100 || status > 599)
            __builtin_trap();
        if ((size_t)snprintf(head, sizeof(head), "%d %zu\n", status, len) !=
                (size_t)(body - (text + before)) ||
            memcmp(head, text + before, (size_t)(body - (text + before))) != 0)
            __builtin_trap();
    }
    if ((r != -ENOENT && r != -EBADMSG) || (r == -ENOENT && at != size))
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_quote_request q;
    char err[AGENT_ERROR_MAX], id[AGENT_INSTANCE_ID_MAX + 1];
    char *text;
    int r;

    if (!sim_key && !(sim_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")))
        __builtin_trap();
    r = agent_body_parse_quote((const char *)data, size, &q, err);
    check_message(r, err);
    if (r == 0)
        check_quote(&q);
    r = agent_body_parse_heartbeat((const char *)data, size, id, err);
    check_message(r, err);
    if (r == 0 && strlen(id) != AGENT_INSTANCE_ID_MAX)
        __builtin_trap();
    check_message(agent_body_check_issue((const char *)data, size, err), err);
    check_nonce_answer(data, size);
    check_answer_records(data, size);
    /* The same bytes as a path segment. */
    text = strndup((const char *)data, size < 256 ? size : 256);
    if (text) {
        (void)agent_task_id_valid(text);
        free(text);
    }
    return 0;
}
