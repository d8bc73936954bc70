/* Stand-alone conversions (table tool_conversions; docs/convert.md "Stand-alone conversions"):
 * POST /v1/tools/converter/convert-app converts an image without an app or a build. A row is
 * the job while its status is CONVERTING (taken by the same runners as build conversions,
 * through store_conversion_claim(), fenced by attempts the same way) and the result after:
 * SUCCESS with the measurement and the pushed image, or FAILED with the reason in the log. The
 * sealed passwords are erased when it ends. Every call is scoped to one account. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "store-conversions.h"
#include "store.h"

/* A new CONVERTING row; job->build_id is the conversion's id. */
int store_tool_conversion_insert(struct store *store, const struct conversion_new *job);

/* The wire shape (docs/api.md): {conversion_id, status, progress, log, input_image,
 * output_image, result: null | {mrenclave, mrsigner, isvprodid, isvsvn, docker_image_sha,
 * docker_image_size}, requester_info{user_id, user_name}, created_at, updated_at}; -ENOENT when
 * the account has no such conversion. */
int store_tool_conversion_get(struct store *store, const char *acct_id, const char *id,
                              json_t **ret_conversion);

/* As store_conversion_progress() and store_conversion_hold(), for a stand-alone conversion
 * (the hold is store-conversions.c's, which knows both job tables). */
int store_tool_conversion_progress(struct store *store, const char *id, int64_t attempt,
                                   int64_t lease_until_ms, int progress, const char *log,
                                   const char *now);
int store_tool_conversion_hold(struct store *store, const char *id, int64_t attempt);

/* Inside a write transaction, after store_tool_conversion_hold(): the end. */
int store_tool_conversion_succeed(struct store *store, const char *id, const char *mrenclave,
                                  const char *mrsigner, const char *image_sha, int64_t image_size,
                                  const char *log, const char *now);
int store_tool_conversion_fail(struct store *store, const char *id, const char *log,
                               const char *now);
