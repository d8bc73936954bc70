/* bench/issue load generator: N threads, each an "application" attesting and getting a
 * certificate through the node agent again and again, as cloister-init does at start:
 * challenge → report_data → sim quote → issue. Each thread makes its key and CSR once (the CSR
 * only contributes its key; a fresh nonce binds every round). Prints one JSON line:
 *   {"threads":N,"seconds":S,"issued":K,"failed":F,"per_second":R,"first_error":"…"}
 *
 *   issue-load AGENT_URL THREADS SECONDS MRENCLAVE_HEX MRSIGNER_HEX ISVPRODID ISVSVN */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <attest/agent.h>
#include <attest/binding.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define THREADS_MAX 256

struct load {
    const char *url;
    struct attest_sim_quote_request body; /* measurement fields; report_data per round */
    double deadline;
    atomic_long issued;
    atomic_long failed;
    pthread_mutex_t lock;
    char first_error[1024];
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
hex32(const char *hex, uint8_t out[32])
{
    if (strlen(hex) != 64)
        return -EINVAL;
    for (size_t i = 0; i < 32; i++)
        if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
            return -EINVAL;
    return 0;
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

static char *
make_csr(EVP_PKEY *key)
{
    X509_REQ *req = X509_REQ_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, *data;
    long len;

    if (req && bio && X509_REQ_set_version(req, 0) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"bench", -1, -1, 0) == 1 &&
        X509_REQ_sign(req, key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(bio, req) == 1) {
        len = BIO_get_mem_data(bio, &data);
        pem = strndup(data, (size_t)len);
    }
    X509_REQ_free(req);
    BIO_free(bio);
    return pem;
}

static void
note_error(struct load *load, const char *what, int r, const struct attest_agent_error *error)
{
    atomic_fetch_add(&load->failed, 1);
    pthread_mutex_lock(&load->lock);
    if (!load->first_error[0])
        snprintf(load->first_error, sizeof(load->first_error), "%s: %s (%d) %s", what, strerror(-r),
                 error ? error->http_status : 0, error ? error->message : "");
    /* Printed inside a JSON string: keep it plain. */
    for (char *c = load->first_error; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '?';
    pthread_mutex_unlock(&load->lock);
}

/* One attest-and-issue round; 0 when a certificate was issued. */
static int
round_trip(struct load *load, struct attest_agent *agent, EVP_PKEY *key, const char *csr)
{
    struct attest_sim_quote_request body = load->body;
    struct attest_agent_error error = { 0 };
    struct attest_evidence *evidence = NULL;
    struct attest_agent_task *task = NULL;
    char *nonce = NULL;
    int r;

    r = attest_agent_challenge(agent, &nonce, NULL, &error);
    if (r < 0)
        return note_error(load, "challenge", r, &error), r;
    r = attest_report_data_compute((const uint8_t *)nonce, strlen(nonce), key, NULL,
                                   body.report_data);
    if (r >= 0)
        r = attest_agent_sim_quote(agent, &body, &evidence, &error);
    if (r >= 0)
        r = attest_agent_issue(agent, csr, evidence, nonce, NULL, &task, &error);
    if (r < 0)
        note_error(load, "quote or issue", r, &error);
    else if (task->status != ATTEST_TASK_SUCCESS) {
        snprintf(error.message, sizeof(error.message), "%s: %s",
                 attest_task_status_name(task->status), task->message ? task->message : "");
        note_error(load, "issue", -EPERM, &error);
        r = -EPERM;
    }
    attest_agent_task_free(task);
    attest_evidence_free(evidence);
    free(nonce);
    return r;
}

static void *
run(void *arg)
{
    struct load *load = arg;
    struct attest_agent *agent = NULL;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *csr = key ? make_csr(key) : NULL;

    if (!csr || attest_agent_new(load->url, &agent) < 0) {
        note_error(load, "setup", -ENOMEM, NULL);
        goto out;
    }
    while (now_s() < load->deadline)
        if (round_trip(load, agent, key, csr) >= 0)
            atomic_fetch_add(&load->issued, 1);
out:
    attest_agent_free(agent);
    free(csr);
    EVP_PKEY_free(key);
    return NULL;
}

int
main(int argc, char **argv)
{
    static struct load load = { .lock = PTHREAD_MUTEX_INITIALIZER };
    pthread_t threads[THREADS_MAX];
    int n, seconds;
    double start;

    if (argc != 8) {
        fprintf(stderr, "usage: issue-load AGENT_URL THREADS SECONDS MRENCLAVE MRSIGNER "
                        "ISVPRODID ISVSVN\n");
        return 2;
    }
    n = (int)parse_number(argv[2], 1, THREADS_MAX);
    seconds = (int)parse_number(argv[3], 1, 3600);
    if (n < 1 || seconds < 1 || hex32(argv[4], load.body.mrenclave) < 0 ||
        hex32(argv[5], load.body.mrsigner) < 0 || parse_number(argv[6], 0, 65535) < 0 ||
        parse_number(argv[7], 0, 65535) < 0) {
        fprintf(stderr, "issue-load: bad arguments\n");
        return 2;
    }
    load.url = argv[1];
    load.body.isvprodid = (uint16_t)parse_number(argv[6], 0, 65535);
    load.body.isvsvn = (uint16_t)parse_number(argv[7], 0, 65535);
    start = now_s();
    load.deadline = start + seconds;
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, run, &load);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    printf("{\"threads\":%d,\"seconds\":%.3f,\"issued\":%ld,\"failed\":%ld,\"per_second\":%.1f,"
           "\"first_error\":\"%s\"}\n",
           n, now_s() - start, atomic_load(&load.issued), atomic_load(&load.failed),
           (double)atomic_load(&load.issued) / (now_s() - start), load.first_error);
    return 0;
}
