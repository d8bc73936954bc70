/* Prometheus metrics in a shared anonymous mapping made by the supervisor before it forks, so
 * every worker counts into the same place and any worker can answer a scrape with the totals. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_ROUTES_MAX 96
#define METRICS_STATUS_CLASSES 6 /* 0: other, 1xx..5xx */
#define METRICS_LATENCY_BUCKETS 10

struct route;

struct metrics {
    atomic_uint_fast64_t requests[METRICS_ROUTES_MAX][METRICS_STATUS_CLASSES];
    atomic_uint_fast64_t latency[METRICS_ROUTES_MAX][METRICS_LATENCY_BUCKETS]; /* cumulative */
    atomic_uint_fast64_t latency_sum_us[METRICS_ROUTES_MAX];
    atomic_uint_fast64_t unmatched_requests;
    atomic_uint_fast64_t auth_attempts[2]; /* [0] failed, [1] succeeded */
    atomic_uint_fast64_t child_restarts;
    atomic_uint_fast64_t store_errors;
};

/* Maps a zeroed shared area; NULL on failure. */
struct metrics *metrics_map(void);
void metrics_unmap(struct metrics *metrics);

void metrics_count_request(struct metrics *m, size_t route_index, int status, uint64_t usec);
/* Renders the Prometheus text exposition; route names indexed like the router's table. */
int metrics_render(const struct metrics *m, const struct route *const *routes, size_t n_routes,
                   char **ret_text);
