/* bench-ca: CPU time per application certificate in the CA process (bench/ca/README.md).
 *
 *   bench-ca [--count N] [--zone p256|p384]
 *
 * Three figures, each the mean of N runs after a warm-up, with the zone's issuing key (P-256 by
 * default, as api-zones.c creates zones):
 *   sign     the reference: one ECDSA signature over a certificate-sized message (the floor)
 *   issue    ca_issue_leaf_spki() for an app profile and an EC P-256 key, in this process
 *   served   ca_client_issue_spki() over a SOCK_SEQPACKET socketpair to a forked server that
 *            runs the CA process's loop (poll + ca_server_handle): the server's CPU per request,
 *            and the wall time of the round trip
 * Each is printed in µs and as a ratio to sign. Never part of the test run. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ca-issue.h"
#include "ca-keys.h"
#include "ca-process.h"
#include "cleanup.h"
#include "crypto-util.h"

#define BENCH_COUNT_DEFAULT 20000
#define BENCH_COUNT_MAX 10000000
#define BENCH_WARMUP 200
#define BENCH_TBS_LEN 600 /* about the to-be-signed part of an app certificate */

static const uint8_t seal_key[SEAL_KEY_LEN] = { 0xbe, 0x4c, 0xca };
static const char zone_id[] = "bench-zone";
static const char *const dns_names[] = { "app.example.com", "api.example.com" };
static const struct ca_claims claims = {
    .measurement = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    .signer = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    .isvprodid = 7,
    .isvsvn = 3,
    .platform = "sim",
    .tcb_status = "UpToDate",
    .node_id = "node-1",
};
static const struct ca_profile profile = {
    .kind = CA_PROFILE_APP,
    .trust_domain = "acme.zone-1.cloister",
    .app_name = "web-app",
    .dns_names = dns_names,
    .n_dns_names = 2,
    .claims = &claims,
    .validity_seconds = 86400,
};

static double
now_s(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int r)
{
    fprintf(stderr, "bench-ca: %s: %s\n", what, strerror(r < 0 ? -r : r));
    exit(EXIT_FAILURE);
}

/* µs of process CPU per ECDSA signature over BENCH_TBS_LEN bytes with key. */
static double
bench_sign(EVP_PKEY *key, const EVP_MD *md, long count)
{
    uint8_t tbs[BENCH_TBS_LEN] = { 0x30 }, sig[128];
    double start = 0;

    for (long i = -BENCH_WARMUP; i < count; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t len = sizeof(sig);

        if (i == 0)
            start = now_s(CLOCK_PROCESS_CPUTIME_ID);
        if (!ctx || EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &len, tbs, sizeof(tbs)) != 1)
            die("sign", EIO);
        EVP_MD_CTX_free(ctx);
    }
    return (now_s(CLOCK_PROCESS_CPUTIME_ID) - start) * 1e6 / (double)count;
}

/* µs of process CPU per ca_issue_leaf_spki(). */
static double
bench_issue(const struct zone_ca *ca, const uint8_t *spki, size_t spki_len, long count)
{
    double start = 0;

    for (long i = -BENCH_WARMUP; i < count; i++) {
        struct ca_issued *issued = NULL;
        struct ca_error error = { "" };
        int r;

        if (i == 0)
            start = now_s(CLOCK_PROCESS_CPUTIME_ID);
        r = ca_issue_leaf_spki(ca, &profile, spki, spki_len, &error, &issued);
        if (r < 0)
            die(error.message[0] ? error.message : "issue", r);
        ca_issued_free(issued);
    }
    return (now_s(CLOCK_PROCESS_CPUTIME_ID) - start) * 1e6 / (double)count;
}

static int
loader(void *userdata, const char *id, struct ca_zone_sealed **ret_sealed)
{
    const struct ca_zone_sealed *s = userdata;
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *copy = calloc(1, sizeof(*copy));

    if (strcmp(id, zone_id) != 0)
        return -ENOENT;
    if (!copy || !(copy->root_cert_pem = strdup(s->root_cert_pem)) ||
        !(copy->issuing_cert_pem = strdup(s->issuing_cert_pem)) ||
        !(copy->root_key_sealed = strdup(s->root_key_sealed)) ||
        !(copy->issuing_key_sealed = strdup(s->issuing_key_sealed)))
        return -ENOMEM;
    *ret_sealed = TAKE_PTR(copy);
    return 0;
}

/* The CA process's loop for one socket: after the warm-up requests, the CPU it spends until the
 * client closes is written to out_fd (a double, µs per request). */
static void
server_child(const struct ca_zone_sealed *s, int fd, int out_fd, long count)
{
    _cleanup_(ca_server_freep) struct ca_server *server = NULL;
    double start = 0, us;
    long handled = 0;
    int r;

    r = ca_server_new(seal_key, loader, (void *)s, &server);
    if (r < 0)
        die("server", r);
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            die("poll", errno);
        if (handled == BENCH_WARMUP)
            start = now_s(CLOCK_PROCESS_CPUTIME_ID);
        r = ca_server_handle(server, fd);
        if (r == -EPIPE)
            break;
        if (r < 0)
            die("serve", r);
        handled++;
    }
    us = (now_s(CLOCK_PROCESS_CPUTIME_ID) - start) * 1e6 / (double)count;
    if (handled != BENCH_WARMUP + count || write(out_fd, &us, sizeof(us)) != sizeof(us))
        die("server count", EPROTO);
}

/* µs of the server's CPU per request (*ret_server) and of wall time per round trip. */
static double
bench_served(const struct ca_zone_sealed *s, const uint8_t *spki, size_t spki_len, long count,
             double *ret_server)
{
    int sv[2], out[2], status;
    double start = 0, wall;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe(out) < 0)
        die("socketpair", errno);
    pid = fork();
    if (pid < 0)
        die("fork", errno);
    if (pid == 0) {
        close(sv[0]);
        server_child(s, sv[1], out[1], count);
        _exit(EXIT_SUCCESS);
    }
    close(sv[1]);
    close(out[1]);
    for (long i = -BENCH_WARMUP; i < count; i++) {
        struct ca_issued *issued = NULL;
        struct ca_error error = { "" };
        int r;

        if (i == 0)
            start = now_s(CLOCK_MONOTONIC);
        r = ca_client_issue_spki(sv[0], zone_id, &profile, spki, spki_len, &error, &issued);
        if (r < 0)
            die(error.message[0] ? error.message : "client issue", r);
        ca_issued_free(issued);
    }
    wall = (now_s(CLOCK_MONOTONIC) - start) * 1e6 / (double)count;
    close(sv[0]);
    if (read(out[0], ret_server, sizeof(*ret_server)) != sizeof(*ret_server) ||
        waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("server process", EPROTO);
    close(out[0]);
    return wall;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "count", required_argument, NULL, 'n' },
        { "zone", required_argument, NULL, 'z' },
        {},
    };
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *s = NULL;
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *leaf = NULL;
    enum ca_key_type type = CA_KEY_P256;
    unsigned char *spki = NULL;
    long count = BENCH_COUNT_DEFAULT;
    double sign, issue, served, wall;
    int c, n, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
        if (c == 'n') {
            char *end;

            count = strtol(optarg, &end, 10);
            if (*end || count < 1 || count > BENCH_COUNT_MAX)
                die("--count must be 1 to 10000000", EINVAL);
        } else if (c == 'z' && (strcmp(optarg, "p384") == 0 || strcmp(optarg, "p256") == 0)) {
            type = strcmp(optarg, "p256") == 0 ? CA_KEY_P256 : CA_KEY_P384;
        } else {
            die("usage: bench-ca [--count N] [--zone p256|p384]", EINVAL);
        }
    }
    r = ca_zone_create(seal_key, zone_id, "bench", type, &s);
    if (r < 0)
        die("zone", r);
    r = ca_zone_load(seal_key, zone_id, s->root_cert_pem, s->issuing_cert_pem,
                     s->issuing_key_sealed, &ca);
    if (r < 0)
        die("zone load", r);
    leaf = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    n = leaf ? i2d_PUBKEY(leaf, &spki) : -1;
    if (n <= 0)
        die("leaf key", EIO);

    sign = bench_sign(ca->issuing_key, ca_x509_digest_for(ca->issuing_key), count);
    issue = bench_issue(ca, spki, (size_t)n, count);
    wall = bench_served(s, spki, (size_t)n, count, &served);
    OPENSSL_free(spki);

    printf("zone %s, %ld runs each (CPU µs per certificate; ratio to one signature)\n",
           type == CA_KEY_P256 ? "P-256" : "P-384", count);
    printf("sign     %8.1f µs  1.00\n", sign);
    printf("issue    %8.1f µs  %.2f\n", issue, issue / sign);
    printf("served   %8.1f µs  %.2f  (server CPU; round trip %.1f µs wall)\n", served,
           served / sign, wall);
    return EXIT_SUCCESS;
}
