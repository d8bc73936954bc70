/* Fuzz target for request routing: any path either matches a route with at most ROUTE_PARAMS_MAX
 * decoded segments, each non-empty, of at most API_ID_MAX bytes and without '/', or none. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum evhttp_cmd_type methods[] = { EVHTTP_REQ_GET, EVHTTP_REQ_POST,
                                                    EVHTTP_REQ_PATCH, EVHTTP_REQ_DELETE };
    char params[ROUTE_PARAMS_MAX][API_ID_MAX + 1];
    const struct route *route;
    size_t index;
    bool known;
    char *path;

    if (size == 0 || router_init() < 0)
        return 0;
    path = malloc(size);
    if (!path)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    memset(params, 0, sizeof(params));
    route = router_find(methods[data[0] % 4], path, params, &index, &known);
    if (route) {
        size_t n_routes;
        const struct route *const *all = router_routes(&n_routes);
        if (!known || index >= n_routes || all[index] != route)
            __builtin_trap();
        for (size_t i = 0; i < ROUTE_PARAMS_MAX; i++)
            if (strchr(params[i], '/'))
                __builtin_trap();
    }
    free(path);
    return 0;
}
