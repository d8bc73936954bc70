/* Approval tasks, as other resources raise and end them (implemented in api/api-tasks.c).
 * All run inside the calling request's write transaction. */
#pragma once

#include <jansson.h>

#include "api.h"

#define TASK_DOMAIN_WHITELIST "DOMAIN_WHITELIST"
#define TASK_BUILD_WHITELIST "BUILD_WHITELIST"

/* Creates an INPROGRESS task in the request's account, requested by the caller, and records an
 * audit event. domains_added/domains_removed (arrays of strings) may be NULL. */
int task_create(struct api_request *r, const char *task_type, const char *entity_id,
                const char *entity_name, json_t *domains_added, json_t *domains_removed,
                char ret_task_id[37]);

/* Ends every INPROGRESS task of entity_id in the request's account with FAILED and reason. */
int task_fail_pending(struct api_request *r, const char *entity_id, const char *reason);
