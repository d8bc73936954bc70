/* Image conversion jobs in the store (table conversion_jobs, docs/convert.md "In the manager").
 * A job is created with its CONVERTING build, taken by one runner at a time through a lease
 * (FOR UPDATE SKIP LOCKED on PostgreSQL, so replicas never take the same job), and deleted when
 * its build is PENDING or FAILED. Until then the build's mrenclave holds the build's own id
 * (builds.mrenclave is NOT NULL and unique per account), which reads back as null. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* A new job; strings borrowed, NULL where optional. */
struct conversion_new {
    const char *build_id, *acct_id;
    const char *requester_id, *requester_email, *requester_name;
    const char *input_image, *output_image; /* HOST/REPO:TAG */
    const char *input_username, *input_password_sealed;
    const char *output_username, *output_password_sealed;
    const char *settings; /* JSON: the app's settings the manifest records */
    const char *now;
};

int store_conversion_insert(struct store *store, const struct conversion_new *job);

/* Takes the oldest job that is waiting or whose runner's lease ran out, leasing it until
 * lease_until_ms, in its own transaction: a build's conversion (conversion_jobs) first, else a
 * stand-alone one (tool_conversions, store-tool-conversions.h). *ret_job: every column of the
 * row (and attempts counting this one), with "build_id" or "conversion_id" saying which, or
 * NULL when there is none. */
int store_conversion_claim(struct store *store, int64_t now_ms, int64_t lease_until_ms,
                           json_t **ret_job);

/* Extends the lease of the runner of attempt (the job's "attempts" when it was claimed) and
 * records progress (0..100) and the log so far: -ENOENT when that runner no longer holds the
 * job (another took it over, or the build was deleted). Outside any transaction. */
int store_conversion_progress(struct store *store, const char *build_id, int64_t attempt,
                              int64_t lease_until_ms, int progress, const char *log,
                              const char *now);

/* Inside a write transaction: locks the job's row and checks that the runner of attempt still
 * holds it: -ENOENT when the job is gone, -ESTALE when another runner took it over. */
int store_conversion_hold(struct store *store, const char *build_id, int64_t attempt);

/* Inside a write transaction holding the account's lock: the build's measurement and image,
 * PENDING (-EEXIST, with nothing written, when the account already has a build with this
 * mrenclave). */
int store_conversion_succeed(struct store *store, const char *build_id, const char *mrenclave,
                             const char *mrsigner, int64_t isvprodid, int64_t isvsvn,
                             const char *image_sha, int64_t image_size, const char *log,
                             const char *now);
/* Inside a write transaction: the build FAILED with log. */
int store_conversion_fail(struct store *store, const char *build_id, const char *log,
                          const char *now);
/* Inside a write transaction: the job's row goes. */
int store_conversion_delete(struct store *store, const char *build_id);
