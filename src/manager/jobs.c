#include "jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include "audit.h"
#include "collateral-fetch.h"
#include "conversions.h"
#include "crypto-util.h"
#include "log.h"
#include "store.h"

#define AUTH_FAILURE_WINDOW 300
/* How often the store's write-ahead log is checkpointed (store_checkpoint): often enough that
 * the API workers' own fallback (store-sqlite.c) never starts under load. */
#define STORE_CHECKPOINT_INTERVAL_MS 250
#define JOIN_TOKEN_KEEP_EXPIRED 86400

/* Sessions past their expiry and rate-limit rows past their window are never read again. */
static void
expire_rows(struct store *store)
{
    int64_t now = time_now_unix();
    int r;

    r = store_begin(store, STORE_TXN_WRITE);
    if (r >= 0)
        r = store_exec(store, "DELETE FROM sessions WHERE expires_at <= ?", STORE_ARGS(SV_INT(now)),
                       NULL);
    if (r >= 0)
        r = store_exec(store, "DELETE FROM auth_failures WHERE failed_at <= ?",
                       STORE_ARGS(SV_INT(now - AUTH_FAILURE_WINDOW)), NULL);
    /* An expired join token's row stays a day, so that using it says "expired" rather than
     * "unknown"; a consumed nonce's row is needed only while the nonce could be presented. */
    if (r >= 0)
        r = store_exec(store, "DELETE FROM join_tokens WHERE expires_ms <= ?",
                       STORE_ARGS(SV_INT((now - JOIN_TOKEN_KEEP_EXPIRED) * 1000)), NULL);
    if (r >= 0)
        r = store_exec(store, "DELETE FROM used_nonces WHERE expires_ms <= ?",
                       STORE_ARGS(SV_INT(now * 1000)), NULL);
    if (r >= 0)
        r = store_commit(store);
    else
        store_rollback(store);
    if (r < 0)
        log_warning_errno(r, "Expiring sessions, tokens and nonces failed: %m");
}

static void
run_once(struct manager_context *ctx)
{
    int r = audit_checkpoint_all(ctx->store, ctx->keys);

    if (r < 0)
        log_warning_errno(r, "Audit checkpoints failed: %m");
    expire_rows(ctx->store);
}

static void
checkpoint_store(struct store *store)
{
    int r = store_checkpoint(store);

    if (r < 0 && r != -EBUSY)
        log_warning_errno(r, "Checkpointing the store failed: %m");
}

int
jobs_run(struct manager_context *ctx)
{
    const struct timespec tick = { 0, STORE_CHECKPOINT_INTERVAL_MS * 1000000L };
    struct conversion_runners runners = { 0 };
    struct collateral_refresher refresher = { 0 };
    int64_t every = (int64_t)ctx->config->audit_checkpoint_interval * 1000, next = 0, now;
    sigset_t mask;
    int r;

    prctl(PR_SET_NAME, "cl-jobs");
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    r = store_open(ctx->config->store_url, &ctx->store);
    if (r < 0)
        return log_error_errno(r, "Jobs cannot open the store: %m"), EXIT_FAILURE;
    conversions_init(ctx, &runners);
    for (;;) {
        now = time_monotonic_ms();
        if (now >= next) {
            run_once(ctx);
            next = now + every;
        }
        checkpoint_store(ctx->store);
        conversions_tick(ctx, &runners);
        collateral_refresh_tick(ctx, &refresher);
        r = sigtimedwait(&mask, NULL, &tick);
        if (r == SIGTERM || r == SIGINT)
            break;
    }
    conversions_stop(&runners);
    collateral_refresh_stop(&refresher);
    /* A last checkpoint covers the events written since the previous one. */
    run_once(ctx);
    store_close(ctx->store);
    ctx->store = NULL;
    return EXIT_SUCCESS;
}
