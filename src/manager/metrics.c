#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "api.h"

static const double latency_bounds_s[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
};

struct metrics *
metrics_map(void)
{
    void *p = mmap(NULL, sizeof(struct metrics), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void
metrics_unmap(struct metrics *metrics)
{
    if (metrics)
        munmap(metrics, sizeof(*metrics));
}

void
metrics_count_request(struct metrics *m, size_t route_index, int status, uint64_t usec)
{
    size_t cls = status >= 100 && status < 600 ? (size_t)status / 100 : 0;

    if (!m)
        return;
    if (route_index >= METRICS_ROUTES_MAX) {
        atomic_fetch_add(&m->unmatched_requests, 1);
        return;
    }
    atomic_fetch_add(&m->requests[route_index][cls], 1);
    atomic_fetch_add(&m->latency_sum_us[route_index], usec);
    for (size_t b = 0; b < METRICS_LATENCY_BUCKETS; b++)
        if ((double)usec / 1e6 <= latency_bounds_s[b])
            atomic_fetch_add(&m->latency[route_index][b], 1);
}

static void
render_route(FILE *out, const struct metrics *m, size_t i, const char *name)
{
    uint64_t total = 0;

    for (size_t c = 0; c < METRICS_STATUS_CLASSES; c++) {
        uint64_t n = atomic_load(&m->requests[i][c]);
        total += n;
        if (n)
            fprintf(out, "cloister_http_requests_total{route=\"%s\",code=\"%zuxx\"} %llu\n", name,
                    c, (unsigned long long)n);
    }
    if (!total)
        return;
    for (size_t b = 0; b < METRICS_LATENCY_BUCKETS; b++)
        fprintf(out, "cloister_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                name, latency_bounds_s[b], (unsigned long long)atomic_load(&m->latency[i][b]));
    fprintf(out, "cloister_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            name, (unsigned long long)total);
    fprintf(out, "cloister_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
            (double)atomic_load(&m->latency_sum_us[i]) / 1e6);
    fprintf(out, "cloister_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name,
            (unsigned long long)total);
}

int
metrics_render(const struct metrics *m, const struct route *const *routes, size_t n_routes,
               char **ret_text)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    if (!out)
        return -ENOMEM;
    fputs("# HELP cloister_http_requests_total HTTP requests by route and status class.\n"
          "# TYPE cloister_http_requests_total counter\n"
          "# HELP cloister_http_request_duration_seconds HTTP request latency.\n"
          "# TYPE cloister_http_request_duration_seconds histogram\n",
          out);
    for (size_t i = 0; i < n_routes && i < METRICS_ROUTES_MAX; i++)
        render_route(out, m, i, routes[i]->name);
    fprintf(out,
            "# TYPE cloister_http_unmatched_requests_total counter\n"
            "cloister_http_unmatched_requests_total %llu\n"
            "# TYPE cloister_auth_attempts_total counter\n"
            "cloister_auth_attempts_total{result=\"failure\"} %llu\n"
            "cloister_auth_attempts_total{result=\"success\"} %llu\n"
            "# TYPE cloister_child_restarts_total counter\n"
            "cloister_child_restarts_total %llu\n"
            "# TYPE cloister_store_errors_total counter\n"
            "cloister_store_errors_total %llu\n",
            (unsigned long long)atomic_load(&m->unmatched_requests),
            (unsigned long long)atomic_load(&m->auth_attempts[0]),
            (unsigned long long)atomic_load(&m->auth_attempts[1]),
            (unsigned long long)atomic_load(&m->child_restarts),
            (unsigned long long)atomic_load(&m->store_errors));
    if (fclose(out) != 0) {
        free(text);
        return -ENOMEM;
    }
    *ret_text = text;
    return 0;
}
