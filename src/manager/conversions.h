/* Image conversions in the jobs process (docs/convert.md, "In the manager"): each tick reaps
 * finished runners and, while fewer than [conversion] workers run, takes the next job from the
 * store (store-conversions.h) and forks a runner for it. A runner pulls, converts, pushes,
 * records the build's measurement (PENDING, with its BUILD_WHITELIST task) or its failure, and
 * exits. It holds its job by a lease it renews; if it dies or stalls, the lease runs out and a
 * runner of any replica takes the job over, up to CONVERSION_ATTEMPTS_MAX times. The job's
 * attempt number fences the runners: one that lost its job (taken over) neither renews nor
 * records anything. */
#pragma once

#include <limits.h>
#include <sys/types.h>

#include "manager.h"

#define CONVERSION_WORKERS_MAX 64
#define CONVERSION_ATTEMPTS_MAX 3

struct conversion_runners {
    pid_t pids[CONVERSION_WORKERS_MAX];
    int n;
    char work_dir[PATH_MAX]; /* DATA_DIR/conversions: runner-PID/ is each runner's TMPDIR */
};

/* Makes the runners' work directory and empties it: what is there was left by runners that were
 * killed (their scratch directories can be large). A runner's directory is also removed when it
 * is reaped, whatever became of it. Without the directory, runners use the default TMPDIR. */
void conversions_init(struct manager_context *ctx, struct conversion_runners *runners);

void conversions_tick(struct manager_context *ctx, struct conversion_runners *runners);
/* Stops the runners (their jobs are taken over later, by lease). */
void conversions_stop(struct conversion_runners *runners);
