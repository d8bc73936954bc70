/* cloister-init's calls to the node agent (see init-agent.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "init-agent.h"
#include "json-reader.h"
#include "json-writer.h"
#include "manifest.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct jread_value, jread_free);

void
init_agent_error_release(struct init_agent_error *e)
{
    free(e->message);
    *e = (struct init_agent_error){ 0 };
}

void
init_issue_reply_release(struct init_issue_reply *r)
{
    free(r->task_id);
    free(r->message);
    free(r->certificate);
    free(r->chain);
    free(r->renew_after);
    free(r->instance_id);
    *r = (struct init_issue_reply){ 0 };
}

static void set_error(struct init_agent_error *e, int http_status, const char *fmt, ...)
    _printf_(3, 4);

static void
set_error(struct init_agent_error *e, int http_status, const char *fmt, ...)
{
    va_list ap;

    free(e->message);
    e->http_status = http_status;
    va_start(ap, fmt);
    if (vasprintf(&e->message, fmt, ap) < 0)
        e->message = NULL;
    va_end(ap);
}

/* Sends the request and parses a 2xx JSON object reply; a non-2xx reply becomes -EREMOTEIO with
 * the agent's {code, message} in the error. */
static int
call(const struct agent_http_address *agent, const char *method, const char *path,
     const struct jwbuf *body, struct jread_value **ret, struct init_agent_error *e)
{
    struct agent_http_response resp = { 0 };
    _cleanup_(jread_freep) struct jread_value *v = NULL;
    int r;

    r = agent_http_request(agent, method, path, body ? body->data : NULL, body ? body->size : 0,
                           INIT_AGENT_TIMEOUT_MS, INIT_AGENT_REPLY_MAX, &resp);
    if (r < 0)
        return r;
    r = jread_parse(resp.body, resp.body_size, INIT_AGENT_REPLY_MAX, &v, NULL);
    if (resp.status < 200 || resp.status > 299) {
        char status[64];
        const char *code = r == 0 ? jread_get_string(v, "code") : NULL;
        const char *message = r == 0 ? jread_get_string(v, "message") : NULL;

        snprintf(status, sizeof(status), "HTTP %d %s", resp.status, code ? code : "");
        set_error(e, resp.status, "%s: %s", status, message ? message : "(no message)");
        agent_http_response_release(&resp);
        return -EREMOTEIO;
    }
    agent_http_response_release(&resp);
    if (r < 0 || v->type != JREAD_OBJECT) {
        set_error(e, 0, "%s %s: the agent's reply is not a JSON object", method, path);
        return -EBADMSG;
    }
    *ret = TAKE_PTR(v);
    return 0;
}

static bool
nonce_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 256)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int
init_agent_challenge(const struct agent_http_address *agent, char **ret_nonce,
                     struct init_agent_error *e)
{
    _cleanup_(jread_freep) struct jread_value *v = NULL;
    const char *nonce;
    int r;

    r = call(agent, "GET", "/v1/challenge", NULL, &v, e);
    if (r < 0)
        return r;
    nonce = jread_get_string(v, "nonce");
    if (!nonce || !nonce_ok(nonce)) {
        set_error(e, 0, "GET /v1/challenge: no usable nonce in the reply");
        return -EBADMSG;
    }
    *ret_nonce = strdup(nonce);
    return *ret_nonce ? 0 : -ENOMEM;
}

int
init_agent_sim_quote(const struct agent_http_address *agent, const uint8_t report_data[64],
                     const uint8_t mrenclave[32], const uint8_t mrsigner[32], unsigned isvprodid,
                     unsigned isvsvn, char **ret_evidence, struct init_agent_error *e)
{
    _cleanup_(jread_freep) struct jread_value *v = NULL;
    struct jwbuf body = { 0 }, out = { 0 };
    char hex[129];
    const struct jread_value *evidence;
    int r;

    jwbuf_puts(&body, "{");
    manifest_hex(report_data, 64, hex);
    jwbuf_key(&body, "report_data", 1);
    jwbuf_string(&body, hex);
    manifest_hex(mrenclave, 32, hex);
    jwbuf_key(&body, "mrenclave", 0);
    jwbuf_string(&body, hex);
    manifest_hex(mrsigner, 32, hex);
    jwbuf_key(&body, "mrsigner", 0);
    jwbuf_string(&body, hex);
    jwbuf_printf(&body, ",\"isvprodid\":%u,\"isvsvn\":%u,\"debug\":false}", isvprodid, isvsvn);
    r = body.error;
    if (r == 0)
        r = call(agent, "POST", "/v1/sim/quote", &body, &v, e);
    jwbuf_release(&body);
    if (r < 0)
        return r;
    evidence = jread_get(v, "evidence");
    if (!evidence || evidence->type != JREAD_OBJECT || !jread_get_string(evidence, "type") ||
        !jread_get_string(evidence, "data")) {
        set_error(e, 0, "POST /v1/sim/quote: no evidence {type, data} in the reply");
        return -EBADMSG;
    }
    r = jwbuf_canonical(&out, evidence, NULL);
    if (r < 0) {
        jwbuf_release(&out);
        return r;
    }
    *ret_evidence = out.data;
    return 0;
}

static int
status_parse(const char *s, enum init_task_status *ret)
{
    static const struct {
        const char *name;
        enum init_task_status status;
    } table[] = {
        { "SUCCESS", INIT_TASK_SUCCESS },
        { "PENDING_WHITELIST", INIT_TASK_PENDING_WHITELIST },
        { "INPROGRESS", INIT_TASK_INPROGRESS },
        { "DENIED", INIT_TASK_DENIED },
        { "FAILED", INIT_TASK_FAILED },
    };

    for (size_t i = 0; s && i < ELEMENTSOF(table); i++)
        if (strcmp(table[i].name, s) == 0) {
            *ret = table[i].status;
            return 0;
        }
    return -EBADMSG;
}

static int
dup_optional(const struct jread_value *v, const char *key, char **ret)
{
    const char *s = jread_get_string(v, key);

    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int
init_agent_issue(const struct agent_http_address *agent, const char *csr_pem,
                 const char *evidence_json, const char *nonce, struct init_issue_reply *ret,
                 struct init_agent_error *e)
{
    _cleanup_(jread_freep) struct jread_value *v = NULL;
    struct init_issue_reply reply = { 0 };
    struct jwbuf body = { 0 };
    const struct jread_value *task_id;
    int r;

    jwbuf_puts(&body, "{");
    jwbuf_key(&body, "csr", 1);
    jwbuf_string(&body, csr_pem);
    jwbuf_key(&body, "evidence", 0);
    jwbuf_puts(&body, evidence_json);
    jwbuf_key(&body, "nonce", 0);
    jwbuf_string(&body, nonce);
    jwbuf_puts(&body, "}");
    r = body.error;
    if (r == 0)
        r = call(agent, "POST", "/v1/certificate/issue", &body, &v, e);
    jwbuf_release(&body);
    if (r < 0)
        return r;
    if (status_parse(jread_get_string(v, "task_status"), &reply.status) < 0) {
        set_error(e, 0, "POST /v1/certificate/issue: unknown task_status in the reply");
        return -EBADMSG;
    }
    task_id = jread_get(v, "task_id");
    if (task_id && task_id->type == JREAD_INT) {
        if (asprintf(&reply.task_id, "%" PRId64, task_id->integer) < 0)
            return -ENOMEM;
    } else if (dup_optional(v, "task_id", &reply.task_id) < 0)
        return -ENOMEM;
    if (dup_optional(v, "message", &reply.message) < 0 ||
        dup_optional(v, "certificate", &reply.certificate) < 0 ||
        dup_optional(v, "chain", &reply.chain) < 0 ||
        dup_optional(v, "renew_after", &reply.renew_after) < 0 ||
        dup_optional(v, "instance_id", &reply.instance_id) < 0) {
        init_issue_reply_release(&reply);
        return -ENOMEM;
    }
    if (reply.instance_id && strlen(reply.instance_id) > INIT_AGENT_INSTANCE_ID_MAX) {
        init_issue_reply_release(&reply);
        set_error(e, 0, "POST /v1/certificate/issue: instance_id longer than %u characters",
                  INIT_AGENT_INSTANCE_ID_MAX);
        return -EBADMSG;
    }
    if (reply.status == INIT_TASK_SUCCESS && !reply.certificate) {
        init_issue_reply_release(&reply);
        set_error(e, 0, "POST /v1/certificate/issue: SUCCESS without a certificate");
        return -EBADMSG;
    }
    *ret = reply;
    return 0;
}

int
init_agent_heartbeat(const struct agent_http_address *agent, const char *instance_id,
                     struct init_agent_error *e)
{
    struct agent_http_response resp = { 0 };
    _cleanup_(jread_freep) struct jread_value *v = NULL;
    struct jwbuf body = { 0 };
    int r;

    jwbuf_puts(&body, "{");
    jwbuf_key(&body, "instance_id", 1);
    jwbuf_string(&body, instance_id);
    jwbuf_puts(&body, "}");
    r = body.error;
    if (r == 0)
        r = agent_http_request(agent, "POST", "/v1/heartbeat", body.data, body.size,
                               INIT_AGENT_HEARTBEAT_TIMEOUT_MS, INIT_AGENT_REPLY_MAX, &resp);
    jwbuf_release(&body);
    if (r < 0)
        return r;
    if (resp.status < 200 || resp.status > 299) {
        /* The error reply, as call() reads it. */
        const char *code = NULL, *message = NULL;

        if (jread_parse(resp.body, resp.body_size, INIT_AGENT_REPLY_MAX, &v, NULL) == 0) {
            code = jread_get_string(v, "code");
            message = jread_get_string(v, "message");
        }
        set_error(e, resp.status, "HTTP %d %s: %s", resp.status, code ? code : "",
                  message ? message : "(no message)");
        r = -EREMOTEIO;
    }
    agent_http_response_release(&resp);
    return r;
}
