/* libattest: the node agent client (see include/attest/agent.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attest/agent.h>
#include <attest/attest.h>

#include "agent-http.h"
#include "attest-util.h"
#include "cleanup.h"

#define TIMEOUT_DEFAULT_MS 30000
#define TASK_ID_MAX 128u

struct attest_agent {
    struct agent_http_address *address;
    int timeout_ms; /* read and written atomically: set_timeout may race a call */
    /* The kept keep-alive connection. A thread that finds it taken does not wait (a call can take
     * the whole timeout) but makes a one-off connection instead. */
    pthread_mutex_t conn_lock;
    struct agent_http_conn conn;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_agent_task, attest_agent_task_free)

int
attest_agent_new(const char *base_url, struct attest_agent **ret_agent)
{
    struct attest_agent *agent;
    int r;

    if (!ret_agent)
        return -EINVAL;
    if (!base_url || !*base_url)
        base_url = secure_getenv("NODE_AGENT_BASE_URL");
    if (!base_url || !*base_url)
        base_url = ATTEST_AGENT_DEFAULT_URL;
    agent = calloc(1, sizeof(*agent));
    if (!agent)
        return -ENOMEM;
    r = agent_http_address_parse(base_url, &agent->address);
    if (r < 0) {
        free(agent);
        return r;
    }
    r = pthread_mutex_init(&agent->conn_lock, NULL);
    if (r != 0) {
        agent_http_address_free(agent->address);
        free(agent);
        return -r;
    }
    agent->conn = (struct agent_http_conn)AGENT_HTTP_CONN_INIT;
    agent->timeout_ms = TIMEOUT_DEFAULT_MS;
    *ret_agent = agent;
    return 0;
}

struct attest_agent *
attest_agent_free(struct attest_agent *agent)
{
    if (agent) {
        agent_http_conn_close(&agent->conn);
        pthread_mutex_destroy(&agent->conn_lock);
        agent_http_address_free(agent->address);
        free(agent);
    }
    return NULL;
}

int
attest_agent_set_timeout(struct attest_agent *agent, int timeout_ms)
{
    if (!agent || timeout_ms <= 0)
        return -EINVAL;
    __atomic_store_n(&agent->timeout_ms, timeout_ms, __ATOMIC_RELAXED);
    return 0;
}

struct attest_agent_task *
attest_agent_task_free(struct attest_agent_task *task)
{
    if (task) {
        free(task->task_id);
        free(task->message);
        free(task->certificate);
        free(task->chain);
        free(task->certificate_id);
        free(task->instance_id);
        free(task->valid_until);
        free(task->renew_after);
        free(task);
    }
    return NULL;
}

static const char *const status_names[] = {
    [ATTEST_TASK_SUCCESS] = "SUCCESS",       [ATTEST_TASK_PENDING_WHITELIST] = "PENDING_WHITELIST",
    [ATTEST_TASK_INPROGRESS] = "INPROGRESS", [ATTEST_TASK_DENIED] = "DENIED",
    [ATTEST_TASK_FAILED] = "FAILED",
};

const char *
attest_task_status_name(enum attest_task_status status)
{
    if ((unsigned)status >= ELEMENTSOF(status_names))
        return NULL;
    return status_names[status];
}

static void
error_set(struct attest_agent_error *error, int http_status, const char *code, const char *message)
{
    if (!error)
        return;
    error->http_status = http_status;
    snprintf(error->code, sizeof(error->code), "%s", code ? code : "");
    snprintf(error->message, sizeof(error->message), "%s", message ? message : "");
}

/* One request on the kept connection, or on a one-off connection if another thread has it. */
static int
request(struct attest_agent *agent, const char *method, const char *path, const char *body,
        struct agent_http_response *ret)
{
    int timeout_ms = __atomic_load_n(&agent->timeout_ms, __ATOMIC_RELAXED);
    size_t size = body ? strlen(body) : 0;
    int r;

    if (pthread_mutex_trylock(&agent->conn_lock) != 0)
        return agent_http_request(agent->address, method, path, body, size, timeout_ms,
                                  ATTEST_AGENT_REPLY_MAX, ret);
    r = agent_http_request_keep(agent->address, &agent->conn, method, path, body, size, timeout_ms,
                                ATTEST_AGENT_REPLY_MAX, ret);
    pthread_mutex_unlock(&agent->conn_lock);
    return r;
}

/* One call; a 2xx reply must be a JSON object (*ret), anything else is -EREMOTEIO. */
static int
call(struct attest_agent *agent, const char *method, const char *path, json_t *body, json_t **ret,
     struct attest_agent_error *error)
{
    _cleanup_free_ char *text = NULL;
    struct agent_http_response resp = { 0 };
    json_t *reply;
    json_error_t jerr;
    int r;

    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return -ENOMEM;
    }
    r = request(agent, method, path, text, &resp);
    if (r < 0) {
        error_set(error, 0, NULL, NULL);
        return r;
    }
    reply = json_loadb(resp.body, resp.body_size, JSON_REJECT_DUPLICATES, &jerr);
    if (resp.status < 200 || resp.status > 299) {
        error_set(error, resp.status, json_string_value(json_object_get(reply, "code")),
                  json_string_value(json_object_get(reply, "message")));
        json_decref(reply);
        agent_http_response_release(&resp);
        return -EREMOTEIO;
    }
    agent_http_response_release(&resp);
    if (!json_is_object(reply)) {
        error_set(error, 0, NULL, "the agent's reply is not a JSON object");
        json_decref(reply);
        return -EBADMSG;
    }
    *ret = reply;
    return 0;
}

static bool
nonce_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > ATTEST_NONCE_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int
attest_agent_challenge(struct attest_agent *agent, char **ret_nonce, char **ret_expires_at,
                       struct attest_agent_error *error)
{
    _cleanup_(json_decrefp) json_t *reply = NULL;
    _cleanup_free_ char *nonce = NULL, *expires = NULL;
    const char *n, *e;
    int r;

    if (!agent || !ret_nonce)
        return -EINVAL;
    r = call(agent, "GET", "/v1/challenge", NULL, &reply, error);
    if (r < 0)
        return r;
    n = json_string_value(json_object_get(reply, "nonce"));
    e = json_string_value(json_object_get(reply, "expires_at"));
    if (!nonce_ok(n)) {
        error_set(error, 0, NULL, "no usable nonce in the reply");
        return -EBADMSG;
    }
    nonce = strdup(n);
    if (!nonce || (e && !(expires = strdup(e))))
        return -ENOMEM;
    *ret_nonce = TAKE_PTR(nonce);
    if (ret_expires_at)
        *ret_expires_at = TAKE_PTR(expires);
    return 0;
}

static int
set_hex(json_t *object, const char *key, const uint8_t *data, size_t size)
{
    char hex[2 * ATTEST_REPORT_DATA_SIZE + 1];

    attest_hex_encode(data, size, hex);
    return json_object_set_new(object, key, json_string(hex)) == 0 ? 0 : -ENOMEM;
}

int
attest_agent_sim_quote(struct attest_agent *agent, const struct attest_sim_quote_request *request,
                       struct attest_evidence **ret_evidence, struct attest_agent_error *error)
{
    _cleanup_(json_decrefp) json_t *body = json_object(), *reply = NULL;
    int r;

    if (!agent || !request || !ret_evidence)
        return -EINVAL;
    if (!body)
        return -ENOMEM;
    if (set_hex(body, "report_data", request->report_data, ATTEST_REPORT_DATA_SIZE) < 0 ||
        set_hex(body, "mrenclave", request->mrenclave, ATTEST_MEASUREMENT_SIZE) < 0 ||
        set_hex(body, "mrsigner", request->mrsigner, ATTEST_MEASUREMENT_SIZE) < 0 ||
        json_object_set_new(body, "isvprodid", json_integer(request->isvprodid)) < 0 ||
        json_object_set_new(body, "isvsvn", json_integer(request->isvsvn)) < 0 ||
        json_object_set_new(body, "debug", json_boolean(request->debug)) < 0)
        return -ENOMEM;
    r = call(agent, "POST", "/v1/sim/quote", body, &reply, error);
    if (r < 0)
        return r;
    r = attest_evidence_from_json(json_object_get(reply, "evidence"), ret_evidence, NULL);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        error_set(error, 0, NULL, "no valid evidence {type, data} in the reply");
        return -EBADMSG;
    }
    return 0;
}

static int
status_from_name(const char *name, enum attest_task_status *ret)
{
    for (size_t i = 0; name && i < ELEMENTSOF(status_names); i++)
        if (strcmp(status_names[i], name) == 0) {
            *ret = (enum attest_task_status)i;
            return 0;
        }
    return -EBADMSG;
}

static int
dup_member(json_t *reply, const char *key, char **ret)
{
    json_t *v = json_object_get(reply, key);

    if (json_is_integer(v))
        return asprintf(ret, "%lld", (long long)json_integer_value(v)) < 0 ? -ENOMEM : 0;
    if (!json_is_string(v))
        return 0;
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : -ENOMEM;
}

static int
task_from_reply(json_t *reply, struct attest_agent_task **ret, struct attest_agent_error *error)
{
    _cleanup_(attest_agent_task_freep) struct attest_agent_task *task = calloc(1, sizeof(*task));

    if (!task)
        return -ENOMEM;
    if (status_from_name(json_string_value(json_object_get(reply, "task_status")), &task->status) <
        0) {
        error_set(error, 0, NULL, "unknown or missing task_status in the reply");
        return -EBADMSG;
    }
    if (dup_member(reply, "task_id", &task->task_id) < 0 ||
        dup_member(reply, "message", &task->message) < 0 ||
        dup_member(reply, "certificate", &task->certificate) < 0 ||
        dup_member(reply, "chain", &task->chain) < 0 ||
        dup_member(reply, "certificate_id", &task->certificate_id) < 0 ||
        dup_member(reply, "instance_id", &task->instance_id) < 0 ||
        dup_member(reply, "valid_until", &task->valid_until) < 0 ||
        dup_member(reply, "renew_after", &task->renew_after) < 0)
        return -ENOMEM;
    *ret = TAKE_PTR(task);
    return 0;
}

int
attest_agent_issue(struct attest_agent *agent, const char *csr_pem,
                   const struct attest_evidence *evidence, const char *nonce,
                   const uint8_t *manifest_digest, struct attest_agent_task **ret_task,
                   struct attest_agent_error *error)
{
    _cleanup_(json_decrefp) json_t *body = json_object(), *reply = NULL;
    json_t *envelope = NULL;
    int r;

    if (!agent || !csr_pem || !evidence || !nonce_ok(nonce) || !ret_task)
        return -EINVAL;
    if (!body)
        return -ENOMEM;
    r = attest_evidence_to_json(evidence, &envelope);
    if (r < 0)
        return r;
    if (json_object_set_new(body, "evidence", envelope) < 0 ||
        json_object_set_new(body, "csr", json_string(csr_pem)) < 0 ||
        json_object_set_new(body, "nonce", json_string(nonce)) < 0)
        return -ENOMEM;
    if (manifest_digest && set_hex(body, "manifest_digest", manifest_digest, 32) < 0)
        return -ENOMEM;
    r = call(agent, "POST", "/v1/certificate/issue", body, &reply, error);
    if (r < 0)
        return r;
    return task_from_reply(reply, ret_task, error);
}

int
attest_agent_result(struct attest_agent *agent, const char *task_id,
                    struct attest_agent_task **ret_task, struct attest_agent_error *error)
{
    _cleanup_(json_decrefp) json_t *reply = NULL;
    char path[64 + TASK_ID_MAX];
    int r;

    if (!agent || !task_id || !ret_task || strlen(task_id) == 0 || strlen(task_id) > TASK_ID_MAX)
        return -EINVAL;
    /* The id goes into the path: letters, digits, '-' and '_' only. */
    for (const char *c = task_id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return -EINVAL;
    snprintf(path, sizeof(path), "/v1/certificate/result/%s", task_id);
    r = call(agent, "POST", path, NULL, &reply, error);
    if (r < 0)
        return r;
    return task_from_reply(reply, ret_task, error);
}
