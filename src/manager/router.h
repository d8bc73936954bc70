/* Request dispatch: route matching, authentication, role checks, transactions, responses. */
#pragma once

#include <stddef.h>

#include <event2/http.h>

#include "api.h"
#include "manager.h"

/* Builds the table of every route (once per process). */
int router_init(void);
/* The evhttp callback: arg is the process's struct manager_context. */
void router_handle(struct evhttp_request *http, void *arg);
struct route;
/* Finds the route for method and path, with its index and the {} segments (URL-decoded) in
 * params; NULL when none, with *ret_path_known telling a 405 (the path exists) from a 404. */
const struct route *router_find(enum evhttp_cmd_type method, const char *path,
                                char params[][API_ID_MAX + 1], size_t *ret_index,
                                bool *ret_path_known);
/* Every route, in the order metrics index them. */
const struct route *const *router_routes(size_t *ret_count);
