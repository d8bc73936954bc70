/* Check-in (POST /v1/node/status) every node_refresh_interval with the instances heard of, and
 * node certificate renewal past node_renewal_threshold percent of its validity. While the
 * manager cannot be reached the agent keeps serving and retries with exponential backoff; it logs
 * once per change of the manager's state, not once per attempt. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free);

static void checkin_send(struct agent *a);

static void
schedule(struct agent *a, int64_t seconds)
{
    struct timeval tv = { .tv_sec = seconds };

    evtimer_add(a->checkin_timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    checkin_send(arg);
}

static void
set_manager_state(struct agent *a, int state, int status, const char *detail)
{
    if (a->manager_state == state)
        return;
    a->manager_state = state;
    if (state == 1)
        log_info("Manager %s reachable: check-in accepted", a->manager_url);
    else if (status < 0)
        log_warning("Manager %s unreachable (%s): serving on, retrying with backoff",
                    a->manager_url, upstream_strerror(status));
    else
        log_warning("Manager %s refused the check-in: %d %s; retrying with backoff", a->manager_url,
                    status, detail);
}

static void
on_renewed(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    struct agent *a = userdata;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = TAKE_PTR(a->renew_key);
    _cleanup_(json_decrefp) json_t *o = NULL;
    _cleanup_(X509_freep) X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    const char *cert_pem, *chain_pem;
    SSL_CTX *ctx = NULL;
    int r;

    a->renewing = false;
    if (status == -ECANCELED)
        return;
    if (status != 200) {
        log_warning("Node certificate renewal failed: %d %s; retrying at the next check-in", status,
                    status < 0 ? upstream_strerror(status) : reason);
        return;
    }
    o = json_loadb(body, size, 0, NULL);
    cert_pem = json_string_value(json_object_get(o, "certificate"));
    chain_pem = json_string_value(json_object_get(o, "chain"));
    if (!cert_pem || agent_cert_parse(cert_pem, &cert) < 0 ||
        X509_check_private_key(cert, key) != 1 ||
        (chain_pem && agent_chain_parse(chain_pem, &chain) < 0)) {
        log_warning("Node certificate renewal: the manager's answer is not a certificate for "
                    "our new key; keeping the current one");
        return;
    }
    if (!chain)
        chain = X509_chain_up_ref(a->state->chain);
    r = agent_state_save_identity(a->opt.state_dir, key, cert, chain);
    if (r >= 0)
        r = agent_ssl_ctx_new(a->opt.ca_file, key, cert, chain, &ctx);
    if (r < 0) {
        log_warning_errno(r, "Cannot install the renewed node certificate: %m");
        sk_X509_pop_free(chain, X509_free);
        return;
    }
    EVP_PKEY_free(a->state->node_key);
    X509_free(a->state->node_cert);
    sk_X509_pop_free(a->state->chain, X509_free);
    a->state->node_key = TAKE_PTR(key);
    a->state->node_cert = TAKE_PTR(cert);
    a->state->chain = chain;
    upstream_set_ssl_ctx(a->up, ctx);
    SSL_CTX_free(a->node_ctx);
    a->node_ctx = ctx;
    log_info("Node certificate renewed");
}

static void
maybe_renew(struct agent *a)
{
    _cleanup_free_ char *csr = NULL, *text = NULL;
    _cleanup_(json_decrefp) json_t *body = NULL;
    int pct, r;

    if (a->renewing)
        return;
    pct = agent_cert_elapsed_percent(a->state->node_cert, (int64_t)time(NULL));
    if (pct < a->state->renewal_threshold)
        return;
    log_info("Node certificate %d%% through its validity (threshold %d%%): renewing", pct,
             a->state->renewal_threshold);
    r = agent_key_generate(&a->renew_key);
    if (r >= 0)
        r = agent_csr_make(a->renew_key, a->state->name[0] ? a->state->name : a->state->node_id,
                           &csr);
    if (r >= 0 && !(body = json_pack("{s:s}", "csr", csr)))
        r = -ENOMEM;
    if (r >= 0 && !(text = json_dumps(body, JSON_COMPACT)))
        r = -ENOMEM;
    if (r >= 0)
        r = upstream_request(a->up, EVHTTP_REQ_POST, "/v1/node/certificate/renew", NULL, text,
                             strlen(text), on_renewed, a);
    if (r < 0) {
        log_warning_errno(r, "Cannot start the node certificate renewal: %m");
        EVP_PKEY_free(TAKE_PTR(a->renew_key));
        return;
    }
    a->renewing = true;
}

static bool
update_settings(struct agent *a, json_t *o)
{
    json_t *ri = json_object_get(o, "node_refresh_interval");
    json_t *rt = json_object_get(o, "node_renewal_threshold");
    bool changed = false;

    if (json_is_integer(ri) && json_integer_value(ri) >= AGENT_REFRESH_MIN_S &&
        json_integer_value(ri) <= AGENT_REFRESH_MAX_S &&
        json_integer_value(ri) != a->state->refresh_interval) {
        a->state->refresh_interval = json_integer_value(ri);
        changed = true;
    }
    if (json_is_integer(rt) && json_integer_value(rt) > 0 && json_integer_value(rt) <= 100 &&
        json_integer_value(rt) != a->state->renewal_threshold) {
        a->state->renewal_threshold = (int)json_integer_value(rt);
        changed = true;
    }
    return changed;
}

static void
on_checked_in(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    struct agent *a = userdata;
    _cleanup_(json_decrefp) json_t *o = NULL;
    int delay;

    a->checkin_in_flight = false;
    if (status == -ECANCELED)
        return;
    if (status == 200) {
        o = json_loadb(body, size, 0, NULL);
        if (json_is_object(o) && update_settings(a, o)) {
            int r = agent_state_save_meta(a->opt.state_dir, a->state);
            if (r < 0)
                log_warning_errno(r, "Cannot save node.json: %m");
        }
        set_manager_state(a, 1, status, reason);
        a->checkin_failures = 0;
        maybe_renew(a);
        schedule(a, a->state->refresh_interval);
        return;
    }
    o = status > 0 ? json_loadb(body, size, 0, NULL) : NULL;
    set_manager_state(a, 0, status,
                      json_string_value(json_object_get(o, "message"))
                          ? json_string_value(json_object_get(o, "message"))
                          : reason);
    delay = 1 << (a->checkin_failures < 5 ? a->checkin_failures : 5);
    a->checkin_failures++;
    if (delay > AGENT_BACKOFF_MAX_S)
        delay = AGENT_BACKOFF_MAX_S;
    if (delay > a->state->refresh_interval)
        delay = (int)a->state->refresh_interval;
    schedule(a, delay);
}

static void
checkin_send(struct agent *a)
{
    _cleanup_(json_decrefp) json_t *body = NULL;
    _cleanup_free_ char *text = NULL;
    json_t *list;
    int r;

    if (a->checkin_in_flight)
        return;
    agent_instances_expire(a, agent_now());
    body = json_pack("{s:s,s:[]}", "agent_version", CLOISTER_VERSION, "instances");
    if (!body)
        goto oom;
    list = json_object_get(body, "instances");
    for (unsigned i = 0; i < a->n_instances; i++)
        if (json_array_append_new(list, json_pack("{s:s}", "instance_id", a->instances[i].id)) < 0)
            goto oom;
    text = json_dumps(body, JSON_COMPACT);
    if (!text)
        goto oom;
    r = upstream_request(a->up, EVHTTP_REQ_POST, "/v1/node/status", NULL, text, strlen(text),
                         on_checked_in, a);
    if (r < 0)
        goto oom;
    a->checkin_in_flight = true;
    return;
oom:
    log_warning("Out of memory building the check-in; retrying in %d s", AGENT_BACKOFF_MAX_S);
    schedule(a, AGENT_BACKOFF_MAX_S);
}

int
agent_enrolled(struct agent *a)
{
    int r;

    r = agent_ssl_ctx_new(a->opt.ca_file, a->state->node_key, a->state->node_cert, a->state->chain,
                          &a->node_ctx);
    if (r < 0)
        return log_error_errno(r, "Cannot use the node certificate: %m");
    r = upstream_new(a->base, a->dns, a->manager_url, a->node_ctx, a->opt.pool_size, &a->up);
    if (r < 0)
        return log_error_errno(r, "Manager URL '%s': expected https://HOST[:PORT]", a->manager_url);
    a->checkin_timer = evtimer_new(a->base, on_timer, a);
    if (!a->checkin_timer)
        return -ENOMEM;
    a->manager_state = -1;
    log_info("Node %s (zone %s) ready; checking in every %lld s", a->state->node_id,
             a->state->zone_id, (long long)a->state->refresh_interval);
    checkin_send(a);
    return 0;
}

void
agent_checkin_stop(struct agent *a)
{
    if (a->checkin_timer) {
        event_free(a->checkin_timer);
        a->checkin_timer = NULL;
    }
}
