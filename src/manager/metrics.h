/* Prometheus metrics in a shared anonymous mapping made by the supervisor before it forks, so
 * every worker counts into the same place and any worker can answer a scrape with the totals. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_ROUTES_MAX 96
#define METRICS_STATUS_CLASSES 6 /* 0: other, 1xx..5xx */
#define METRICS_LATENCY_BUCKETS 10
/* Attestations by enum attest_platform (claims.h): 0 counts evidence of no known platform. */
#define METRICS_PLATFORMS 5

/* The outcome of an attestation: the task_status of the issue answer (issue.h). */
enum metrics_attestation {
    METRICS_ATTESTATION_SUCCESS,
    METRICS_ATTESTATION_PENDING_WHITELIST,
    METRICS_ATTESTATION_DENIED,
    METRICS_ATTESTATION_FAILED,
    METRICS_ATTESTATION_RESULTS
};

enum metrics_certificate {
    METRICS_CERTIFICATE_APP,
    METRICS_CERTIFICATE_NODE,
    METRICS_CERTIFICATE_KINDS
};

/* The outcome of POST /v1/nodes/enroll. */
enum metrics_enrollment {
    METRICS_ENROLLMENT_SUCCESS,
    METRICS_ENROLLMENT_TOKEN_REFUSED,       /* unknown, expired or used up join token (401) */
    METRICS_ENROLLMENT_ATTESTATION_REFUSED, /* the account does not allow its attestation (403) */
    METRICS_ENROLLMENT_INVALID,             /* a bad body or CSR (400) */
    METRICS_ENROLLMENT_ERROR,               /* the manager could not serve it (5xx) */
    METRICS_ENROLLMENT_RESULTS
};

/* Nodes by their computed status (store-nodes.h), read from the store at scrape time. */
struct metrics_nodes {
    int64_t running;
    int64_t stopped;
    int64_t deactivated;
};

struct route;

struct metrics {
    atomic_uint_fast64_t requests[METRICS_ROUTES_MAX][METRICS_STATUS_CLASSES];
    atomic_uint_fast64_t latency[METRICS_ROUTES_MAX][METRICS_LATENCY_BUCKETS]; /* cumulative */
    atomic_uint_fast64_t latency_sum_us[METRICS_ROUTES_MAX];
    atomic_uint_fast64_t unmatched_requests;
    atomic_uint_fast64_t auth_attempts[2]; /* [0] failed, [1] succeeded */
    atomic_uint_fast64_t child_restarts;
    atomic_uint_fast64_t store_errors;
    atomic_uint_fast64_t attestations[METRICS_PLATFORMS][METRICS_ATTESTATION_RESULTS];
    atomic_uint_fast64_t certificates_issued[METRICS_CERTIFICATE_KINDS];
    atomic_uint_fast64_t node_enrollments[METRICS_ENROLLMENT_RESULTS];
};

/* Maps a zeroed shared area; NULL on failure. */
struct metrics *metrics_map(void);
void metrics_unmap(struct metrics *metrics);

void metrics_count_request(struct metrics *m, size_t route_index, int status, uint64_t usec);
/* The events of issuance and enrollment (m may be NULL: nothing is counted). Callers count an
 * outcome once its answer is prepared; platform is an enum attest_platform, anything else counts
 * as "unknown". */
void metrics_count_attestation(struct metrics *m, int platform, enum metrics_attestation result);
void metrics_count_certificate(struct metrics *m, enum metrics_certificate kind);
void metrics_count_enrollment(struct metrics *m, enum metrics_enrollment result);

/* Renders the Prometheus text exposition; route names indexed like the router's table. nodes
 * may be NULL (the store did not answer): the node gauge is left out. */
int metrics_render(const struct metrics *m, const struct route *const *routes, size_t n_routes,
                   const struct metrics_nodes *nodes, char **ret_text);
