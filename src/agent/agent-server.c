/* The agent API (SPEC 5, docs/agent.md) on evhttp. Handlers never block: local answers are
 * computed on the spot, forwarded ones complete from agent-upstream's callback. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "agent.h"
#include "crypto-util.h"
#include "log.h"

void
agent_reply_text(struct evhttp_request *req, int status, const char *reason, const char *body,
                 size_t size)
{
    struct evbuffer *buf = evbuffer_new();

    if (!buf) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (body)
        evbuffer_add(buf, body, size);
    evhttp_send_reply(req, status, reason, buf);
    evbuffer_free(buf);
}

static void
reply_json(struct evhttp_request *req, int status, const char *reason, json_t *body)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    if (body && !text) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    agent_reply_text(req, status, reason, text, text ? strlen(text) : 0);
}

void
agent_reply_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
    _cleanup_(json_decrefp) json_t *body = json_pack("{s:s,s:s}", "code", code, "message", message);
    const char *reason = status == 400   ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 502 ? "Bad Gateway"
                         : status == 503 ? "Service Unavailable"
                         : status == 413 ? "Payload Too Large"
                                         : "Internal Server Error";

    reply_json(req, status, reason, body);
}

/* The request body, NUL-terminated (evhttp enforced AGENT_BODY_MAX already). */
static char *
body_of(struct evhttp_request *req, size_t *ret_size)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t size = evbuffer_get_length(in);
    char *text = malloc(size + 1);

    if (!text)
        return NULL;
    evbuffer_copyout(in, text, size);
    text[size] = '\0';
    *ret_size = size;
    return text;
}

/* The manager's answer (or its absence) for a request the app is waiting on. If the app went away
 * meanwhile, libevent 2.1 has detached the request from its connection (it does not free a
 * request its user has not answered) and the reply below frees it without writing anything. */
void
agent_reply_forwarded(struct evhttp_request *req, int status, const char *reason, const char *body,
                      size_t size)
{
    if (status == -ECANCELED) {
        agent_reply_error(req, 503, "SHUTTING_DOWN", "the agent is shutting down");
        return;
    }
    if (status < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the manager cannot be reached: %s", upstream_strerror(status));
        agent_reply_error(req, status == -EBUSY ? 503 : 502,
                          status == -EBUSY ? "BUSY" : "MANAGER_UNREACHABLE", msg);
        return;
    }
    agent_reply_text(req, status, reason && *reason ? reason : "Manager", body, size);
}

static void
on_forwarded(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    agent_reply_forwarded(userdata, status, reason, body, size);
}

static void
forward(struct agent *a, struct evhttp_request *req, enum evhttp_cmd_type method, const char *path,
        const char *body, size_t size)
{
    if (!a->up) {
        agent_reply_error(req, 503, "SHUTTING_DOWN", "the agent is shutting down");
        return;
    }
    if (upstream_request(a->up, method, path, NULL, body, size, on_forwarded, req) < 0)
        agent_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
}

static void
handle_version(struct agent *a, struct evhttp_request *req)
{
    _cleanup_(json_decrefp) json_t *body =
        json_pack("{s:s,s:s,s:s,s:s}", "version", CLOISTER_VERSION, "node_id", a->state->node_id,
                  "platform", "sim", "zone_id", a->state->zone_id);

    reply_json(req, 200, "OK", body);
}

/* From the nonce pool when it has a young enough nonce; otherwise the manager's single nonce,
 * as without a pool (a 502 when it cannot be reached). Either way the pool refills when low. */
static void
handle_challenge(struct agent *a, struct evhttp_request *req)
{
    char text[AGENT_CHALLENGE_JSON_MAX];
    struct agent_nonce n;

    if (agent_nonces_take(&a->nonces, time_monotonic_ms(), &n) == 0)
        agent_reply_text(req, 200, "OK", text, agent_nonce_format(&n, text));
    else
        forward(a, req, EVHTTP_REQ_POST, "/v1/node/nonce", "{}", 2);
    /* After the forward: an app waiting for a nonce goes to the manager before the refill. */
    agent_nonces_refill(a);
}

static void
handle_issue(struct agent *a, struct evhttp_request *req)
{
    char err[AGENT_ERROR_MAX];
    size_t size;
    _cleanup_free_ char *body = body_of(req, &size);

    if (!body) {
        agent_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (agent_body_check_issue(body, size, err) < 0) {
        agent_reply_error(req, 400, "BAD_REQUEST", err);
        return;
    }
    agent_issue_submit(a, req, TAKE_PTR(body), size);
}

static void
handle_result(struct agent *a, struct evhttp_request *req, const char *task_id)
{
    char path[128];

    if (!agent_task_id_valid(task_id)) {
        agent_reply_error(req, 400, "BAD_REQUEST",
                          "task_id: expected 1 to 64 letters, digits, - or _");
        return;
    }
    snprintf(path, sizeof(path), "/v1/node/certificate/result/%s", task_id);
    forward(a, req, EVHTTP_REQ_GET, path, NULL, 0);
}

static void
handle_quote(struct agent *a, struct evhttp_request *req)
{
    struct agent_quote_request q;
    char err[AGENT_ERROR_MAX];
    size_t size;
    _cleanup_free_ char *body = body_of(req, &size);
    _cleanup_free_ char *out = NULL;
    int r;

    if (!body) {
        agent_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (agent_body_parse_quote(body, size, &q, err) < 0) {
        agent_reply_error(req, 400, "BAD_REQUEST", err);
        return;
    }
    r = agent_quote_make(&q, a->state->sim_key, &out);
    if (r < 0) {
        log_error_errno(r, "Cannot sign a sim report: %m");
        agent_reply_error(req, 500, "INTERNAL_ERROR", "cannot sign the report");
        return;
    }
    agent_reply_text(req, 200, "OK", out, strlen(out));
}

static void
handle_heartbeat(struct agent *a, struct evhttp_request *req)
{
    char err[AGENT_ERROR_MAX], id[AGENT_INSTANCE_ID_MAX + 1];
    size_t size;
    _cleanup_free_ char *body = body_of(req, &size);
    int r;

    if (!body) {
        agent_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (agent_body_parse_heartbeat(body, size, id, err) < 0) {
        agent_reply_error(req, 400, "BAD_REQUEST", err);
        return;
    }
    r = agent_instance_touch(a, id, agent_now());
    if (r == -ENOSPC) {
        agent_reply_error(req, 503, "TOO_MANY_INSTANCES",
                          "instance_id: the agent tracks at most 1000 instances");
        return;
    }
    if (r < 0) {
        agent_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (r > 0)
        log_info("Instance %s is running", id);
    evhttp_send_reply(req, 204, "No Content", NULL);
}

static bool
method_is(struct evhttp_request *req, enum evhttp_cmd_type want)
{
    if (evhttp_request_get_command(req) == want)
        return true;
    agent_reply_error(req, 405, "METHOD_NOT_ALLOWED",
                      want == EVHTTP_REQ_GET ? "use GET on this path" : "use POST on this path");
    return false;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    static const char result_prefix[] = "/v1/certificate/result/";
    struct agent *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

    if (!path) {
        agent_reply_error(req, 400, "BAD_REQUEST", "path: malformed");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            agent_reply_text(req, a->state ? 200 : 503, a->state ? "OK" : "Service Unavailable",
                             a->state ? "{\"status\":\"ok\"}" : "{\"status\":\"enrolling\"}",
                             a->state ? 15 : 22);
        return;
    }
    if (!a->state) {
        agent_reply_error(req, 503, "NOT_ENROLLED",
                          "the agent has not enrolled with the manager yet");
        return;
    }
    if (strcmp(path, "/v1/sys/version") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            handle_version(a, req);
    } else if (strcmp(path, "/v1/challenge") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            handle_challenge(a, req);
    } else if (strcmp(path, "/v1/certificate/issue") == 0) {
        if (method_is(req, EVHTTP_REQ_POST))
            handle_issue(a, req);
    } else if (strncmp(path, result_prefix, sizeof(result_prefix) - 1) == 0) {
        if (method_is(req, EVHTTP_REQ_POST))
            handle_result(a, req, path + sizeof(result_prefix) - 1);
    } else if (strcmp(path, "/v1/sim/quote") == 0) {
        if (method_is(req, EVHTTP_REQ_POST))
            handle_quote(a, req);
    } else if (strcmp(path, "/v1/heartbeat") == 0) {
        if (method_is(req, EVHTTP_REQ_POST))
            handle_heartbeat(a, req);
    } else {
        agent_reply_error(req, 404, "NOT_FOUND", "no such endpoint");
    }
}

static int
split_listen(const char *listen, char host[64], unsigned short *ret_port)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    unsigned long port;
    size_t len;

    if (!colon)
        return -EINVAL;
    len = (size_t)(colon - listen);
    if (len > 0 && listen[0] == '[' && listen[len - 1] == ']') {
        listen++;
        len -= 2;
    }
    if (len == 0 || len >= 64)
        return -EINVAL;
    memcpy(host, listen, len);
    host[len] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '\0' || port == 0 || port > 65535)
        return -EINVAL;
    *ret_port = (unsigned short)port;
    return 0;
}

static int
bind_unix(struct agent *a, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* A socket left by a previous run is replaced; anything else at the path is not touched. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST;
        (void)unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!evhttp_accept_socket_with_handle(a->http, fd)) {
        close(fd);
        return -ENOMEM;
    }
    memcpy(a->unix_path, path, strlen(path) + 1);
    return 0;
}

int
agent_server_start(struct agent *a)
{
    char host[64];
    unsigned short port;
    int r;

    r = split_listen(a->opt.listen, host, &port);
    if (r < 0)
        return log_error_errno(r, "--listen '%s': expected ADDRESS:PORT", a->opt.listen);
    a->http = evhttp_new(a->base);
    if (!a->http)
        return log_error_errno(-ENOMEM, "Cannot create the HTTP server");
    evhttp_set_max_body_size(a->http, AGENT_BODY_MAX);
    evhttp_set_max_headers_size(a->http, AGENT_HEADERS_MAX);
    evhttp_set_timeout(a->http, AGENT_CLIENT_TIMEOUT_S);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(a->http, on_request, a);
    if (!evhttp_bind_socket_with_handle(a->http, host, port))
        return log_error_errno(-EADDRNOTAVAIL, "Cannot listen on %s: %m", a->opt.listen);
    log_info("Serving the agent API on http://%s", a->opt.listen);
    if (a->opt.unix_socket) {
        r = bind_unix(a, a->opt.unix_socket);
        if (r < 0)
            return log_error_errno(r, "Cannot listen on Unix socket '%s': %m", a->opt.unix_socket);
        log_info("Serving the agent API on unix:%s", a->opt.unix_socket);
    }
    return 0;
}

void
agent_server_stop(struct agent *a)
{
    if (a->http) {
        evhttp_free(a->http);
        a->http = NULL;
    }
    if (a->unix_path[0])
        (void)unlink(a->unix_path);
}
