/* Request dispatch: route matching, authentication, role checks, transactions, responses. */
#pragma once

#include <stddef.h>

#include <event2/http.h>

#include "manager.h"

/* Builds the table of every route (once per process). */
int router_init(void);
/* The evhttp callback: arg is the process's struct manager_context. */
void router_handle(struct evhttp_request *http, void *arg);
struct route;
/* Every route, in the order metrics index them. */
const struct route *const *router_routes(size_t *ret_count);
