#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <attest/claims.h>

#include "api.h"

_Static_assert(ATTEST_PLATFORM_SNP + 1 == METRICS_PLATFORMS, "a platform without a metric row");

static const char *const attestation_results[METRICS_ATTESTATION_RESULTS] = {
    "success",
    "pending_whitelist",
    "denied",
    "failed",
};
static const char *const certificate_kinds[METRICS_CERTIFICATE_KINDS] = { "app", "node" };
static const char *const enrollment_results[METRICS_ENROLLMENT_RESULTS] = {
    "success", "token_refused", "attestation_refused", "invalid", "error",
};

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

void
metrics_count_attestation(struct metrics *m, int platform, enum metrics_attestation result)
{
    if (!m || result < 0 || result >= METRICS_ATTESTATION_RESULTS)
        return;
    if (platform < 0 || platform >= METRICS_PLATFORMS)
        platform = 0;
    atomic_fetch_add(&m->attestations[platform][result], 1);
}

void
metrics_count_certificate(struct metrics *m, enum metrics_certificate kind)
{
    if (m && kind >= 0 && kind < METRICS_CERTIFICATE_KINDS)
        atomic_fetch_add(&m->certificates_issued[kind], 1);
}

void
metrics_count_enrollment(struct metrics *m, enum metrics_enrollment result)
{
    if (m && result >= 0 && result < METRICS_ENROLLMENT_RESULTS)
        atomic_fetch_add(&m->node_enrollments[result], 1);
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

/* Every known platform and result, zeros included, so that rates start from the first scrape;
 * evidence of no known platform only once there was some. */
static void
render_attestations(FILE *out, const struct metrics *m)
{
    fputs("# HELP cloister_attestations_total Certificate requests of nodes by evidence platform "
          "and answer.\n"
          "# TYPE cloister_attestations_total counter\n",
          out);
    for (int p = 0; p < METRICS_PLATFORMS; p++) {
        const char *platform = p ? attest_platform_name((enum attest_platform)p) : NULL;
        uint64_t n[METRICS_ATTESTATION_RESULTS], any = 0;

        for (size_t r = 0; r < METRICS_ATTESTATION_RESULTS; r++)
            any |= n[r] = atomic_load(&m->attestations[p][r]);
        if (!platform && !any)
            continue;
        for (size_t r = 0; r < METRICS_ATTESTATION_RESULTS; r++)
            fprintf(out, "cloister_attestations_total{platform=\"%s\",result=\"%s\"} %llu\n",
                    platform ? platform : "unknown", attestation_results[r],
                    (unsigned long long)n[r]);
    }
}

static void
render_events(FILE *out, const struct metrics *m, const struct metrics_nodes *nodes)
{
    render_attestations(out, m);
    fputs("# HELP cloister_certificates_issued_total Certificates signed and recorded, by kind.\n"
          "# TYPE cloister_certificates_issued_total counter\n",
          out);
    for (size_t k = 0; k < METRICS_CERTIFICATE_KINDS; k++)
        fprintf(out, "cloister_certificates_issued_total{kind=\"%s\"} %llu\n", certificate_kinds[k],
                (unsigned long long)atomic_load(&m->certificates_issued[k]));
    fputs("# HELP cloister_node_enrollments_total Node enrollments by outcome.\n"
          "# TYPE cloister_node_enrollments_total counter\n",
          out);
    for (size_t r = 0; r < METRICS_ENROLLMENT_RESULTS; r++)
        fprintf(out, "cloister_node_enrollments_total{result=\"%s\"} %llu\n", enrollment_results[r],
                (unsigned long long)atomic_load(&m->node_enrollments[r]));
    if (!nodes)
        return;
    fprintf(out,
            "# HELP cloister_nodes Enrolled nodes of every account by status.\n"
            "# TYPE cloister_nodes gauge\n"
            "cloister_nodes{status=\"RUNNING\"} %lld\n"
            "cloister_nodes{status=\"STOPPED\"} %lld\n"
            "cloister_nodes{status=\"DEACTIVATED\"} %lld\n",
            (long long)nodes->running, (long long)nodes->stopped, (long long)nodes->deactivated);
}

int
metrics_render(const struct metrics *m, const struct route *const *routes, size_t n_routes,
               const struct metrics_nodes *nodes, char **ret_text)
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
    render_events(out, m, nodes);
    if (fclose(out) != 0) {
        free(text);
        return -ENOMEM;
    }
    *ret_text = text;
    return 0;
}
