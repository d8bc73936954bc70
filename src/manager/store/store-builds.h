/* Builds (registered measurements of an app) in the store. Every function is scoped to one
 * account: a build of another account is missing (-ENOENT). Objects returned are in the wire
 * shape of docs/api.md and owned by the caller. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

#define BUILD_STATUS_CONVERTING "CONVERTING"
#define BUILD_STATUS_PENDING "PENDING"
#define BUILD_STATUS_WHITELISTED "WHITELISTED"
#define BUILD_STATUS_REJECTED "REJECTED"
#define BUILD_STATUS_FAILED "FAILED"

/* A new build row; strings are borrowed, NULL where optional and absent. */
struct build_new {
    const char *build_id;
    const char *acct_id;
    const char *app_id;
    const char *docker_image_name;
    const char *docker_version;
    const char *docker_image_sha;
    int64_t docker_image_size; /* < 0: none */
    const char *platform;
    const char *mrenclave; /* lower-case hex */
    const char *mrsigner;
    int64_t isvprodid;
    int64_t isvsvn;
    bool debug;
    const char *status;
    const char *now;
};

/* What a list selects; NULL members do not filter. */
struct build_filter {
    const char *app_id;
    const char *status;
    const char *search; /* case-insensitive substring of docker_image_name or mrenclave */
    bool sort_desc;     /* by created_at */
    int64_t limit;
    int64_t offset;
};

/* -EEXIST when the account already has a build with this mrenclave. */
int store_build_insert(struct store *store, const struct build_new *build);
/* The build object of docs/api.md; -ENOENT when it is not in the account. */
int store_build_get(struct store *store, const char *acct_id, const char *build_id,
                    json_t **ret_build);
/* Counts the account's builds matching filter (every build when filter is NULL). */
int store_build_count(struct store *store, const char *acct_id, const struct build_filter *filter,
                      int64_t *ret_count);
/* One page of build objects matching filter, as a JSON array. */
int store_build_list(struct store *store, const char *acct_id, const struct build_filter *filter,
                     json_t **ret_items);
/* -ENOENT when it is not in the account. */
int store_build_delete(struct store *store, const char *acct_id, const char *build_id);
int store_build_set_pending_task(struct store *store, const char *acct_id, const char *build_id,
                                 const char *task_id);
/* Sets status and status_updated_at. -ENOENT when the build is not in the account. */
int store_build_set_status(struct store *store, const char *acct_id, const char *build_id,
                           const char *status, const char *now);
/* {name, isvprodid, isvsvn} of an app of the account, for registering its builds. */
int store_build_app_get(struct store *store, const char *acct_id, const char *app_id,
                        json_t **ret_app);
