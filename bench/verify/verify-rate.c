/* bench/verify: hardware evidence verified per second by libattest with warm collateral
 * (README.md here). The collateral (Intel) or the certificate chain (SNP) of one case folder of
 * the shared test vectors is loaded and checked once; then THREADS threads verify the case's
 * quote or report against that one shared object, at the case's verification time, again and
 * again for SECONDS. Every verification must succeed: a rate of failures measures nothing.
 * Prints one JSON line (per_second by the wall clock, per_cpu_second by the process's CPU time,
 * which a busy machine does not distort: `openssl speed` divides by CPU time too):
 *   {"case":"…","kind":"intel"|"snp","threads":N,"seconds":S,"cpu_seconds":C,"verified":K,
 *    "per_second":K/S,"per_cpu_second":K/C}
 *
 *   verify-rate CASE_DIR SECONDS THREADS */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <attest/intel.h>
#include <attest/snp.h>

#include "cleanup.h"

#define THREADS_MAX 256
#define FILE_MAX ATTEST_INTEL_COLLATERAL_MAX
#define CHECK_EVERY 32 /* verifications between two looks at the clock */

/* A file of the case folder, read whole. */
struct blob {
    uint8_t *data;
    size_t size;
};

static void
blob_release(struct blob *b)
{
    free(b->data);
    b->data = NULL;
    b->size = 0;
}

/* Reads dir/name into *b; -ENOENT leaves *b empty (an optional file), other errors are fatal. */
static int
blob_read(const char *dir, const char *name, struct blob *b)
{
    char path[4096];
    _cleanup_close_ int fd = -1;
    _cleanup_free_ uint8_t *data = NULL;
    size_t size = 0;
    ssize_t n;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    data = malloc(FILE_MAX + 1);
    if (!data)
        return -ENOMEM;
    while ((n = read(fd, data + size, FILE_MAX + 1 - size)) > 0)
        size += (size_t)n;
    if (n < 0)
        return -errno;
    if (size > FILE_MAX)
        return -EFBIG;
    b->data = TAKE_PTR(data);
    b->size = size;
    return 0;
}

static struct attest_bytes
bytes_of(const struct blob *b)
{
    return (struct attest_bytes){ .data = b->data, .size = b->data ? b->size : 0 };
}

/* Everything one case needs, loaded once and shared by the threads (read only). */
struct bench {
    const char *dir;
    bool snp;
    int64_t at;
    struct blob evidence;
    struct attest_intel_collateral *collateral;
    bool crls_missing_ok;
    struct attest_snp_certs *certs;
    double deadline;
};

struct worker {
    pthread_t thread;
    const struct bench *bench;
    long verified;
    double ended;
    int error;
    struct attest_failure failure;
};

static double
clock_s(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int
verify_once(const struct bench *b, struct attest_failure *failure)
{
    if (b->snp) {
        struct attest_snp_options options = { .at = b->at };
        struct attest_snp_result result;

        return attest_snp_verify(b->evidence.data, b->evidence.size, b->certs, &options, &result,
                                 failure);
    }
    struct attest_intel_options options = { .at = b->at, .crls_missing_ok = b->crls_missing_ok };
    struct attest_intel_result result;

    return attest_intel_verify(b->evidence.data, b->evidence.size, b->collateral, &options, &result,
                               failure);
}

static void *
worker_run(void *userdata)
{
    struct worker *w = userdata;

    while (w->error == 0 && now_s() < w->bench->deadline)
        for (int i = 0; i < CHECK_EVERY && w->error == 0; i++) {
            w->error = verify_once(w->bench, &w->failure);
            if (w->error == 0)
                w->verified++;
        }
    w->ended = now_s();
    return NULL;
}

/* verification_time.unix of DIR/case.json. */
static int
case_time(const char *dir, int64_t *ret_at)
{
    char path[4096];
    json_error_t error;
    json_t *root, *t;

    if ((size_t)snprintf(path, sizeof(path), "%s/case.json", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    root = json_load_file(path, 0, &error);
    if (!root)
        return -EBADMSG;
    t = json_object_get(json_object_get(root, "verification_time"), "unix");
    if (!json_is_integer(t)) {
        json_decref(root);
        return -EBADMSG;
    }
    *ret_at = json_integer_value(t);
    json_decref(root);
    return 0;
}

static int
load_intel(struct bench *b)
{
    static const char *const names[] = {
        "tcb_info.json",
        "tcb_info_issuer_chain.pem",
        "qe_identity.json",
        "qe_identity_issuer_chain.pem",
        "root_ca_crl.der",
        "pck_crl.der",
        "pck_crl_issuer_chain.pem",
    };
    struct blob f[ELEMENTSOF(names)] = { 0 };
    struct attest_failure failure = { 0 };
    int r = 0;

    for (size_t i = 0; i < ELEMENTSOF(names) && r >= 0; i++) {
        r = blob_read(b->dir, names[i], &f[i]);
        if (r == -ENOENT && i >= 4) /* the CRLs and their chain are optional */
            r = 0;
        else if (r < 0)
            fprintf(stderr, "verify-rate: %s/%s: %s\n", b->dir, names[i], strerror(-r));
    }
    if (r >= 0) {
        struct attest_intel_collateral_files files = {
            .tcb_info = bytes_of(&f[0]),
            .tcb_info_issuer_chain = bytes_of(&f[1]),
            .qe_identity = bytes_of(&f[2]),
            .qe_identity_issuer_chain = bytes_of(&f[3]),
            .root_ca_crl = bytes_of(&f[4]),
            .pck_crl = bytes_of(&f[5]),
            .pck_crl_issuer_chain = bytes_of(&f[6]),
        };
        b->crls_missing_ok = !f[5].data;
        r = attest_intel_collateral_new(&files, &b->collateral, &failure);
        if (r < 0)
            fprintf(stderr, "verify-rate: %s: collateral refused at step %s: %s\n", b->dir,
                    attest_step_name(failure.step), failure.reason);
    }
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        blob_release(&f[i]);
    return r;
}

static int
load_snp(struct bench *b)
{
    struct blob leaf = { 0 }, ask = { 0 }, ark = { 0 };
    struct attest_failure failure = { 0 };
    int r;

    r = blob_read(b->dir, "vcek.der", &leaf);
    if (r == -ENOENT)
        r = blob_read(b->dir, "vlek.der", &leaf);
    if (r >= 0) {
        r = blob_read(b->dir, "ask.pem", &ask);
        if (r == -ENOENT)
            r = blob_read(b->dir, "asvk.pem", &ask);
    }
    if (r >= 0)
        r = blob_read(b->dir, "ark.pem", &ark);
    if (r < 0) {
        fprintf(stderr, "verify-rate: %s: certificates: %s\n", b->dir, strerror(-r));
    } else {
        struct attest_snp_cert_files files = {
            .vcek = bytes_of(&leaf),
            .ask = bytes_of(&ask),
            .ark = bytes_of(&ark),
        };
        r = attest_snp_certs_new(&files, &b->certs, &failure);
        if (r < 0)
            fprintf(stderr, "verify-rate: %s: certificates refused at step %s: %s\n", b->dir,
                    attest_step_name(failure.step), failure.reason);
    }
    blob_release(&leaf);
    blob_release(&ask);
    blob_release(&ark);
    return r;
}

/* Loads the case and verifies its evidence once, so that a broken case stops here. */
static int
bench_load(struct bench *b)
{
    struct attest_failure failure = { 0 };
    int r;

    r = case_time(b->dir, &b->at);
    if (r < 0) {
        fprintf(stderr, "verify-rate: %s/case.json: no verification_time.unix\n", b->dir);
        return r;
    }
    r = blob_read(b->dir, "report.bin", &b->evidence);
    b->snp = r >= 0;
    if (r == -ENOENT)
        r = blob_read(b->dir, "quote.bin", &b->evidence);
    if (r < 0) {
        fprintf(stderr, "verify-rate: %s: no report.bin or quote.bin: %s\n", b->dir, strerror(-r));
        return r;
    }
    r = b->snp ? load_snp(b) : load_intel(b);
    if (r < 0)
        return r;
    r = verify_once(b, &failure);
    if (r < 0)
        fprintf(stderr, "verify-rate: %s: does not verify (step %s): %s\n", b->dir,
                attest_step_name(failure.step), failure.reason);
    return r;
}

static void
bench_release(struct bench *b)
{
    blob_release(&b->evidence);
    b->collateral = attest_intel_collateral_free(b->collateral);
    b->certs = attest_snp_certs_free(b->certs);
}

/* A whole decimal number in [min, max], or -1. */
static long
parse_number(const char *text, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    return v;
}

static int
run(struct bench *b, long seconds, long threads)
{
    _cleanup_free_ struct worker *workers = calloc((size_t)threads, sizeof(*workers));
    double start, ended = 0, cpu_start;
    long verified = 0;
    int r;

    if (!workers)
        return -ENOMEM;
    cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    start = now_s();
    b->deadline = start + (double)seconds;
    for (long i = 0; i < threads; i++) {
        workers[i].bench = b;
        r = pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]);
        if (r != 0) {
            fprintf(stderr, "verify-rate: pthread_create: %s\n", strerror(r));
            exit(EXIT_FAILURE); /* the threads already started hold b */
        }
    }
    r = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        verified += workers[i].verified;
        if (workers[i].ended > ended)
            ended = workers[i].ended;
        if (workers[i].error < 0 && r == 0) {
            r = workers[i].error;
            fprintf(stderr, "verify-rate: %s: verification %ld failed (step %s): %s\n", b->dir,
                    workers[i].verified + 1, attest_step_name(workers[i].failure.step),
                    workers[i].failure.reason);
        }
    }
    if (r < 0)
        return r;
    double elapsed = ended - start, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    json_t *line = json_pack("{s:s, s:s, s:i, s:f, s:f, s:I, s:f, s:f}", "case", b->dir, "kind",
                             b->snp ? "snp" : "intel", "threads", (int)threads, "seconds", elapsed,
                             "cpu_seconds", cpu, "verified", (json_int_t)verified, "per_second",
                             (double)verified / elapsed, "per_cpu_second", (double)verified / cpu);
    if (!line || json_dumpf(line, stdout, JSON_COMPACT) < 0) {
        json_decref(line);
        return -ENOMEM;
    }
    json_decref(line);
    putchar('\n');
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench b = { 0 };
    long seconds, threads;
    int r;

    if (argc != 4) {
        fprintf(stderr, "usage: verify-rate CASE_DIR SECONDS THREADS\n");
        return 2;
    }
    seconds = parse_number(argv[2], 1, 3600);
    threads = parse_number(argv[3], 1, THREADS_MAX);
    if (seconds < 0 || threads < 0) {
        fprintf(stderr, "verify-rate: SECONDS 1..3600, THREADS 1..%d\n", THREADS_MAX);
        return 2;
    }
    b.dir = argv[1];
    r = bench_load(&b);
    if (r >= 0)
        r = run(&b, seconds, threads);
    bench_release(&b);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
