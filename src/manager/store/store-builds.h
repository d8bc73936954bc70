/* Builds (registered measurements of an app) in the store. Every function is scoped to one
 * account: a build of another account is missing (-ENOENT). Objects returned are in the wire
 * shape of docs/api.md and owned by the caller. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
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
    const char *tdx_identity; /* JSON text {mrtd, rtmr0..3, mrconfigid} (given ones), or NULL */
    const char *snp_identity; /* JSON text {measurement, host_data} (given ones), or NULL */
    const char *status;
    const char *now;
};

/* The sort keys of GET /v1/builds. */
extern const struct list_sort store_build_sorts[];

/* -EEXIST when the account already has a build with this mrenclave. */
int store_build_insert(struct store *store, const struct build_new *build);
/* The build object of docs/api.md; -ENOENT when it is not in the account. */
int store_build_get(struct store *store, const char *acct_id, const char *build_id,
                    json_t **ret_build);
/* GET /v1/builds: the page p asks for of the account's builds, only those of app_id and in status
 * unless they are NULL; all_search looks in docker_image_name and mrenclave. */
int store_build_list(struct store *store, const char *acct_id, const char *app_id,
                     const char *status, const struct list_params *p, struct list_page *ret_page);
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
