/* The rows every request of a batch reads alike (issue-internal.h, struct issue_cache): the
 * node, its account, and the build of a measurement with its app and DNS names. The requests of
 * one batch come from one node and usually from one app, so they are read once per batch
 * instead of once per request: the same snapshot (the prepare step's read transaction) or the
 * same write transaction, under the account's lock, and no request that answers SUCCESS writes
 * them. One that answers anything else may (a PENDING_WHITELIST raises a task and points the
 * build or the app at it): issue-batch.c empties the cache after it. */
#include "issue-internal.h"

#include <string.h>

#include "crypto-util.h"
#include "store-instances.h"
#include "store-apps.h"

void
issue_cache_clear(struct issue_cache *c)
{
    if (!c)
        return;
    json_decref(c->node);
    json_decref(c->account);
    json_decref(c->build);
    json_decref(c->app);
    json_decref(c->names);
    *c = (struct issue_cache){ 0 };
}

int
issue_get_node(struct issue_state *s)
{
    struct issue_cache *c = s->cache;
    int err;

    if (c && c->node) {
        s->node = json_incref(c->node);
        return 0;
    }
    err = store_issuance_node_get(s->r->store, s->r->acct_id, s->r->node_id, &s->node);
    if (err >= 0 && c)
        c->node = json_incref(s->node);
    return err;
}

int
issue_get_account(struct issue_state *s)
{
    struct issue_cache *c = s->cache;
    int err;

    if (c && c->account) {
        s->account = json_incref(c->account);
        return 0;
    }
    err = store_issuance_account_get(s->r->store, s->r->acct_id, &s->account);
    if (err >= 0 && c)
        c->account = json_incref(s->account);
    return err;
}

/* The build of the claims' measurement, its app (the row locked when lock) and DNS names; a
 * measurement no build has is not kept. */
int
issue_load_build(struct issue_state *s, bool lock)
{
    struct issue_cache *c = s->cache;
    char mrenclave[2 * ATTEST_MEASUREMENT_SIZE + 1];
    int err;

    hex_encode(s->claims.mrenclave, ATTEST_MEASUREMENT_SIZE, mrenclave);
    if (c && c->build && strcmp(c->mrenclave, mrenclave) == 0) {
        s->build = json_incref(c->build);
        s->app = json_incref(c->app);
        s->names = json_incref(c->names);
        return 0;
    }
    err = store_issuance_build_get(s->r->store, s->r->acct_id, mrenclave, &s->build);
    if (err == -ENOENT)
        return 0;
    if (err >= 0)
        err = store_app_get(s->r->store, s->r->acct_id, member_text(s->build, "app_id"), lock,
                            &s->app);
    if (err >= 0)
        err = policy_dns_names(s->app, &s->names);
    if (err >= 0 && c) {
        json_decref(c->build);
        json_decref(c->app);
        json_decref(c->names);
        c->build = json_incref(s->build);
        c->app = json_incref(s->app);
        c->names = json_incref(s->names);
        memcpy(c->mrenclave, mrenclave, sizeof(mrenclave));
    }
    return err;
}
