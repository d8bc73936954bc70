#include "agent-upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "log.h"

struct upconn;

struct call {
    struct upstream *u;
    struct call *next;
    enum evhttp_cmd_type method;
    char *path;
    char *bearer;
    char *reason; /* the answer's status phrase */
    char *body;
    size_t size;
    upstream_cb cb;
    void *userdata;
    int error; /* from the evhttp error callback */
    bool retried;
    struct upconn *conn;
};

struct upconn {
    struct upstream *u;
    struct evhttp_connection *evcon;
    struct call *call; /* in flight, or NULL when idle */
    unsigned completed;
    bool dead;  /* closed or failed: freed from the kick event, never reused */
    bool stale; /* made with a replaced SSL_CTX: close once idle */
    bool nodelay;
};

struct upstream {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ctx;
    char host[256];
    char hostport[300];
    bool host_is_ip;
    unsigned port;
    unsigned pool_size;
    struct upconn *conns[UPSTREAM_POOL_MAX];
    struct call *head, *tail; /* waiting for a connection */
    unsigned queued;
    struct event *kick; /* dispatches the queue and frees dead connections, outside callbacks */
    struct call *done;  /* finished calls whose callbacks the kick runs */
    struct call *done_tail;
};

static void
call_free(struct call *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->bearer);
    free(c->reason);
    if (c->body)
        OPENSSL_cleanse(c->body, c->size);
    free(c->body);
    free(c);
}

const char *
upstream_strerror(int status)
{
    switch (status) {
    case -ETIMEDOUT:
        return "timed out";
    case -ECONNRESET:
        return "connection closed";
    case -EBUSY:
        return "too many requests waiting for the manager";
    case -ECANCELED:
        return "shutting down";
    case -EPROTO:
        return "TLS or HTTP error";
    default:
        return "connection failed";
    }
}

int
upstream_new(struct event_base *base, struct evdns_base *dns, const char *url, SSL_CTX *ctx,
             unsigned pool_size, struct upstream **ret)
{
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    struct upstream *u;
    const char *host, *scheme;
    int port;
    unsigned char buf[16];

    if (!uri)
        return -EINVAL;
    scheme = evhttp_uri_get_scheme(uri);
    host = evhttp_uri_get_host(uri);
    port = evhttp_uri_get_port(uri);
    if (!scheme || strcmp(scheme, "https") != 0 || !host || !*host || strlen(host) >= 256) {
        evhttp_uri_free(uri);
        return -EINVAL;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        evhttp_uri_free(uri);
        return -ENOMEM;
    }
    u->base = base;
    u->dns = dns;
    memcpy(u->host, host, strlen(host) + 1);
    u->port = port > 0 ? (unsigned)port : 443;
    evhttp_uri_free(uri);
    u->host_is_ip = inet_pton(AF_INET, u->host, buf) == 1 || inet_pton(AF_INET6, u->host, buf) == 1;
    snprintf(u->hostport, sizeof(u->hostport), strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host,
             u->port);
    u->pool_size = pool_size == 0                  ? 1
                   : pool_size > UPSTREAM_POOL_MAX ? UPSTREAM_POOL_MAX
                                                   : pool_size;
    SSL_CTX_up_ref(ctx);
    u->ctx = ctx;
    *ret = u;
    return 0;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg);

static int
kick(struct upstream *u)
{
    if (!u->kick) {
        u->kick = event_new(u->base, -1, 0, kick_cb, u);
        if (!u->kick)
            return -ENOMEM;
    }
    event_active(u->kick, 0, 0);
    return 0;
}

/* Hands a finished call to the kick event, which runs its callback outside libevent's. */
static void
call_finish(struct call *c, int error)
{
    struct upstream *u = c->u;

    c->error = error;
    c->next = NULL;
    if (u->done_tail)
        u->done_tail->next = c;
    else
        u->done = c;
    u->done_tail = c;
    (void)kick(u);
}

static void
conn_free(struct upconn *conn)
{
    if (!conn)
        return;
    if (conn->evcon)
        evhttp_connection_free(conn->evcon);
    free(conn);
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
    struct upconn *conn = arg;

    conn->dead = true;
    (void)kick(conn->u);
}

static struct upconn *
conn_new(struct upstream *u)
{
    struct upconn *conn = calloc(1, sizeof(*conn));
    struct bufferevent *bev;
    SSL *ssl;

    if (!conn)
        return NULL;
    conn->u = u;
    ssl = SSL_new(u->ctx);
    if (!ssl) {
        free(conn);
        return NULL;
    }
    if (u->host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host);
    } else {
        SSL_set_tlsext_host_name(ssl, u->host);
        SSL_set1_host(ssl, u->host);
    }
    bev = bufferevent_openssl_socket_new(u->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev) {
        SSL_free(ssl);
        free(conn);
        return NULL;
    }
    /* A peer that closes without close_notify still delivered a complete HTTP message. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    conn->evcon = evhttp_connection_base_bufferevent_new(u->base, u->dns, bev, u->host,
                                                         (unsigned short)u->port);
    if (!conn->evcon) {
        bufferevent_free(bev);
        free(conn);
        return NULL;
    }
    evhttp_connection_set_timeout(conn->evcon, UPSTREAM_TIMEOUT_S);
    evhttp_connection_set_retries(conn->evcon, 0);
    evhttp_connection_set_max_body_size(conn->evcon, UPSTREAM_RESPONSE_MAX);
    evhttp_connection_set_max_headers_size(conn->evcon, 16u << 10);
    evhttp_connection_set_closecb(conn->evcon, on_close, conn);
    return conn;
}

static void
on_error(enum evhttp_request_error error, void *arg)
{
    struct call *c = arg;

    c->error = error == EVREQ_HTTP_TIMEOUT ? -ETIMEDOUT
               : error == EVREQ_HTTP_EOF   ? -ECONNRESET
               : error == EVREQ_HTTP_INVALID_HEADER || error == EVREQ_HTTP_DATA_TOO_LONG
                   ? -EPROTO
                   : -ECONNREFUSED;
}

static void
on_done(struct evhttp_request *req, void *arg)
{
    struct call *c = arg;
    struct upconn *conn = c->conn;
    struct upstream *u = c->u;
    bool reused = conn->completed > 0;
    struct evbuffer *in;
    int code;

    conn->call = NULL;
    c->conn = NULL;
    code = req ? evhttp_request_get_response_code(req) : 0;
    if (code == 0) {
        conn->dead = true;
        if (reused && !c->retried && c->error != -ETIMEDOUT) {
            /* The keep-alive connection was closed under us: once more on a fresh one. (Not
             * after a timeout: the manager may be slow, and waiting twice helps nobody.) */
            c->retried = true;
            c->error = 0;
            c->next = u->head;
            u->head = c;
            if (!u->tail)
                u->tail = c;
            u->queued++;
            (void)kick(u);
            return;
        }
        call_finish(c, c->error < 0 ? c->error : -ECONNREFUSED);
        return;
    }
    conn->completed++;
    if (conn->stale)
        conn->dead = true;
    in = evhttp_request_get_input_buffer(req);
    c->error = code;
    /* Keep the answer: evhttp frees req when this callback returns. */
    free(c->body);
    c->size = evbuffer_get_length(in);
    c->body = malloc(c->size + 1);
    if (!c->body) {
        call_finish(c, -ENOMEM);
        return;
    }
    evbuffer_remove(in, c->body, c->size);
    c->body[c->size] = '\0';
    c->reason = strdup(evhttp_request_get_response_code_line(req)
                           ? evhttp_request_get_response_code_line(req)
                           : "");
    call_finish(c, code);
}

/* evhttp writes a request's headers and body separately, and TLS makes a record of each: with
 * Nagle's algorithm the second waits for the peer's delayed ACK (40 ms) on every request. The
 * socket exists once evhttp has started connecting (or is connected), so this runs after
 * evhttp_make_request. */
static void
set_nodelay(struct upconn *conn)
{
    int one = 1;
    evutil_socket_t fd;

    if (conn->nodelay)
        return;
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(conn->evcon));
    if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
        conn->nodelay = true;
}

static int
call_send(struct upstream *u, struct upconn *conn, struct call *c)
{
    struct evhttp_request *req = evhttp_request_new(on_done, c);
    struct evkeyvalq *h;

    if (!req)
        return -ENOMEM;
    evhttp_request_set_error_cb(req, on_error);
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", u->hostport);
    evhttp_add_header(h, "Accept", "application/json");
    evhttp_add_header(h, "User-Agent", "cloister-agent/" CLOISTER_VERSION);
    if (c->bearer) {
        char auth[1024];
        if ((size_t)snprintf(auth, sizeof(auth), "Bearer %s", c->bearer) < sizeof(auth))
            evhttp_add_header(h, "Authorization", auth);
        OPENSSL_cleanse(auth, sizeof(auth));
    }
    if (c->body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), c->body, c->size);
    }
    c->conn = conn;
    conn->call = c;
    if (evhttp_make_request(conn->evcon, req, c->method, c->path) < 0) {
        /* evhttp freed req. */
        conn->call = NULL;
        c->conn = NULL;
        conn->dead = true;
        return -ECONNREFUSED;
    }
    set_nodelay(conn);
    return 0;
}

static struct upconn *
pick_conn(struct upstream *u)
{
    int empty = -1;

    for (unsigned i = 0; i < u->pool_size; i++) {
        struct upconn *conn = u->conns[i];
        if (!conn) {
            if (empty < 0)
                empty = (int)i;
        } else if (!conn->dead && !conn->call) {
            return conn;
        }
    }
    if (empty < 0)
        return NULL;
    u->conns[empty] = conn_new(u);
    return u->conns[empty];
}

static void
reap(struct upstream *u)
{
    for (unsigned i = 0; i < u->pool_size; i++) {
        struct upconn *conn = u->conns[i];
        if (conn && !conn->call && (conn->dead || conn->stale)) {
            u->conns[i] = NULL;
            conn_free(conn);
        }
    }
}

static void
dispatch(struct upstream *u)
{
    while (u->head) {
        struct upconn *conn = pick_conn(u);
        struct call *c = u->head;
        int r;

        if (!conn)
            break;
        u->head = c->next;
        if (!u->head)
            u->tail = NULL;
        u->queued--;
        c->next = NULL;
        r = call_send(u, conn, c);
        if (r < 0)
            call_finish(c, r);
    }
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *u = arg;
    struct call *done = u->done;

    u->done = u->done_tail = NULL;
    reap(u);
    dispatch(u);
    /* Callbacks last: they may queue new requests, which the next kick dispatches. */
    while (done) {
        struct call *next = done->next;
        if (done->error >= 0)
            done->cb(done->error, done->reason ? done->reason : "", done->body, done->size,
                     done->userdata);
        else
            done->cb(done->error, "", NULL, 0, done->userdata);
        call_free(done);
        done = next;
    }
}

int
upstream_request(struct upstream *u, enum evhttp_cmd_type method, const char *path,
                 const char *bearer, const char *body, size_t size, upstream_cb cb, void *userdata)
{
    struct call *c = calloc(1, sizeof(*c));

    if (!c)
        return -ENOMEM;
    c->u = u;
    c->method = method;
    c->cb = cb;
    c->userdata = userdata;
    c->path = strdup(path);
    c->bearer = bearer ? strdup(bearer) : NULL;
    if (body) {
        c->body = malloc(size + 1);
        if (c->body) {
            memcpy(c->body, body, size);
            c->body[size] = '\0';
            c->size = size;
        }
    }
    if (!c->path || (bearer && !c->bearer) || (body && !c->body)) {
        call_free(c);
        return -ENOMEM;
    }
    if (u->queued >= UPSTREAM_QUEUE_MAX) {
        call_finish(c, -EBUSY);
        return 0;
    }
    if (u->tail)
        u->tail->next = c;
    else
        u->head = c;
    u->tail = c;
    u->queued++;
    return kick(u) < 0 ? -ENOMEM : 0;
}

void
upstream_set_ssl_ctx(struct upstream *u, SSL_CTX *ctx)
{
    SSL_CTX_up_ref(ctx);
    SSL_CTX_free(u->ctx);
    u->ctx = ctx;
    for (unsigned i = 0; i < u->pool_size; i++)
        if (u->conns[i])
            u->conns[i]->stale = true;
    (void)kick(u);
}

struct upstream *
upstream_free(struct upstream *u)
{
    if (!u)
        return NULL;
    /* In-flight calls first: evhttp frees their requests without calling back. */
    for (unsigned i = 0; i < u->pool_size; i++) {
        struct upconn *conn = u->conns[i];
        if (!conn)
            continue;
        if (conn->call) {
            conn->call->cb(-ECANCELED, "", NULL, 0, conn->call->userdata);
            call_free(conn->call);
            conn->call = NULL;
        }
        conn_free(conn);
        u->conns[i] = NULL;
    }
    for (struct call *lists[2] = { u->head, u->done }, **l = lists; l < lists + 2; l++)
        while (*l) {
            struct call *next = (*l)->next;
            (*l)->cb(-ECANCELED, "", NULL, 0, (*l)->userdata);
            call_free(*l);
            *l = next;
        }
    if (u->kick)
        event_free(u->kick);
    SSL_CTX_free(u->ctx);
    free(u);
    return NULL;
}
