#include "worker.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "config.h"
#include "event-loop.h"
#include "hw-verify.h"
#include "log.h"
#include "router.h"
#include "store.h"
#include "tls.h"

#define WORKER_HEAP_KEEP_BYTES (4 << 20)
#define HEADERS_MAX (16u << 10)
#define DRAIN_USEC 500000

struct worker {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    SSL_CTX *ssl_ctx;
};

static struct bufferevent *
make_tls_bufferevent(struct event_base *base, void *arg)
{
    SSL_CTX *ssl_ctx = arg;
    SSL *ssl = SSL_new(ssl_ctx);

    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

/* SIGTERM: stop accepting; requests already read are answered (handlers run to completion in
 * the loop), then the loop ends after a short grace for requests still arriving. */
static void
on_sigterm(evutil_socket_t sig, short events, void *arg)
{
    struct worker *w = arg;
    struct timeval grace = { 0, DRAIN_USEC };

    if (w->bound) {
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
        log_debug("Draining");
    }
    event_base_loopexit(w->base, &grace);
}

static int
worker_setup_http(struct worker *w, struct manager_context *ctx, int listen_fd)
{
    const struct manager_config *c = ctx->config;

    w->http = evhttp_new(w->base);
    if (!w->http)
        return -ENOMEM;
    evhttp_set_bevcb(w->http, make_tls_bufferevent, w->ssl_ctx);
    /* evhttp refuses bodies past its own limit with a bare 413; the router checks the real
     * limit itself to answer with {code, message}, so evhttp's is a safety net above it. */
    evhttp_set_max_body_size(w->http, (ev_ssize_t)c->max_body_bytes * 2);
    evhttp_set_max_headers_size(w->http, HEADERS_MAX);
    evhttp_set_timeout(w->http, c->request_timeout);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(w->http, router_handle, ctx);
    w->bound = evhttp_accept_socket_with_handle(w->http, listen_fd);
    return w->bound ? 0 : -EIO;
}

static void
worker_release(struct worker *w)
{
    if (w->http)
        evhttp_free(w->http);
    if (w->base)
        event_base_free(w->base);
    SSL_CTX_free(w->ssl_ctx);
}

int
worker_run(struct manager_context *ctx, int listen_fd)
{
    struct worker w = { 0 };
    struct event *sigterm = NULL;
    int r;

    prctl(PR_SET_NAME, "cl-worker");
    /* A request allocates and frees a few hundred KiB (statement results, the JSON of bodies,
     * TLS buffers). With glibc's default 128 KiB trim threshold the heap shrank and grew again
     * with brk() about twice per request, each costing a system call and page faults. Keeping up
     * to 4 MiB of freed heap per worker avoids that. */
    mallopt(M_TRIM_THRESHOLD, WORKER_HEAP_KEEP_BYTES);
    mallopt(M_TOP_PAD, WORKER_HEAP_KEEP_BYTES / 4);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    r = router_init();
    if (r >= 0)
        r = store_open(ctx->config->store_url, &ctx->store);
    if (r < 0)
        return log_error_errno(r, "Worker cannot open the store: %m"), EXIT_FAILURE;
    r = tls_server_ctx_new(ctx->config->tls_cert, ctx->config->tls_key, &w.ssl_ctx);
    w.base = r >= 0 ? event_loop_new() : NULL;
    if (w.base)
        r = worker_setup_http(&w, ctx, listen_fd);
    if (!w.base || r < 0) {
        worker_release(&w);
        return log_error_errno(r < 0 ? r : -ENOMEM, "Worker setup failed: %m"), EXIT_FAILURE;
    }
    sigterm = evsignal_new(w.base, SIGTERM, on_sigterm, &w);
    evsignal_add(sigterm, NULL);
    log_debug("Worker serving");
    event_base_dispatch(w.base);
    event_free(sigterm);
    worker_release(&w);
    store_close(ctx->store);
    ctx->store = NULL;
    ctx->hw_cache = hw_cache_free(ctx->hw_cache);
    return EXIT_SUCCESS;
}
