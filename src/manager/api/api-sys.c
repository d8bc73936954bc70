/* Version, liveness, readiness and metrics. */
#include <string.h>

#include "api.h"
#include "metrics.h"
#include "router.h"
#include "routes.h"
#include "store-nodes.h"
#include "store.h"

static bool
is_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

/* Probes and metrics answer loopback only, unless the configuration opens them. */
static int
check_probe_access(struct api_request *r)
{
    if (r->ctx->config->metrics_allow_remote || is_loopback(r->remote_ip))
        return 0;
    return api_error(r, 403, "FORBIDDEN", "only served on loopback (see metrics.allow_remote)");
}

static int
sys_version(struct api_request *r)
{
    bool dev = r->ctx->config->dev_mode;

    return api_reply(r, 200,
                     json_pack("{s:s, s:s, s:[s], s:b}", "version", CLOISTER_VERSION, "api_version",
                               "v1", "platforms", "sim", "insecure_simulation", dev));
}

static int
sys_healthz(struct api_request *r)
{
    int err = check_probe_access(r);

    if (err < 0)
        return err;
    return api_reply_text(r, 200, "text/plain", "ok\n");
}

static int
sys_readyz(struct api_request *r)
{
    int err = check_probe_access(r);

    if (err < 0)
        return err;
    if (store_ping(r->store) < 0)
        return api_reply_text(r, 503, "text/plain", "store unavailable\n");
    return api_reply_text(r, 200, "text/plain", "ready\n");
}

static int
sys_metrics(struct api_request *r)
{
    const struct route *const *all;
    struct node_counts counts;
    struct metrics_nodes nodes;
    size_t n;
    char *text;
    int err = check_probe_access(r);

    if (err < 0)
        return err;
    all = router_routes(&n);
    /* One aggregate query; without the store the counters are still worth a scrape. */
    err = store_node_count_by_status(r->store, time_now_unix_ms(), &counts);
    if (err >= 0)
        nodes = (struct metrics_nodes){
            .running = counts.running,
            .stopped = counts.stopped,
            .deactivated = counts.deactivated,
        };
    err = metrics_render(r->ctx->metrics, all, n, err >= 0 ? &nodes : NULL, &text);
    if (err < 0)
        return err;
    api_reply(r, 200, NULL);
    r->response_text = text;
    r->content_type = "text/plain; version=0.0.4";
    return 0;
}

const struct route api_sys_routes[] = {
    { EVHTTP_REQ_GET, "/v1/sys/version", AUTH_NONE, ROLE_NONE, false, sys_version, "sys_version" },
    { EVHTTP_REQ_GET, "/healthz", AUTH_NONE, ROLE_NONE, false, sys_healthz, "healthz" },
    { EVHTTP_REQ_GET, "/readyz", AUTH_NONE, ROLE_NONE, false, sys_readyz, "readyz" },
    { EVHTTP_REQ_GET, "/metrics", AUTH_NONE, ROLE_NONE, false, sys_metrics, "metrics" },
    { .pattern = NULL },
};
