/* cloister-init: the entrypoint of a converted image (SPEC 6.2, 7; docs/init.md).
 *
 * Reads /.cloister/manifest.json, checks the file tree and the command line against it before
 * any network traffic, attests through the node agent (NODE_AGENT_BASE_URL) to get the
 * application's certificate, writes the key, certificate and chain, then runs the original
 * entrypoint as the original user and stays as a small supervisor that renews the certificate,
 * sends heartbeats to the agent and forwards signals. Static: it runs in any linux/amd64 image. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent-http.h"
#include "cleanup.h"
#include "csr.h"
#include "hw-evidence.h"
#include "init-agent.h"
#include "install.h"
#include "log.h"
#include "manifest-signature.h"
#include "manifest.h"
#include "supervise.h"
#include "tree.h"
#include "user.h"

#define DEFAULT_AGENT_URL "http://127.0.0.1:9092"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 30000u
#define RENEW_RETRY_MIN_S 5
#define HEARTBEAT_DEFAULT_S 10u
#define HEARTBEAT_MAX_S 3600u

DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free);

struct init {
    const char *root; /* "/" in production; CLOISTER_ROOT for tests and development */
    int root_fd;
    struct manifest *manifest;
    struct agent_http_address *agent;
    struct hw_evidence_source hw; /* TEE evidence producer; none: the agent's sim quote */
    uint8_t measurement[32];
    unsigned backoff_max_ms;
    unsigned max_attempts; /* 0: keep trying */
    bool switch_user;
    uid_t uid;
    gid_t gid;
    unsigned renew_failures;
    int64_t renew_at; /* seconds since the epoch */
    /* Heartbeats (POST /v1/heartbeat) keep the instance RUNNING in the manager: the agent's
     * check-in lists only instances heard from lately, the manager marks the others STOPPED. */
    char *instance_id; /* from the latest issue answer; NULL: no heartbeats */
    unsigned heartbeat_s;
    int64_t heartbeat_at;
    bool heartbeat_failing; /* warn once per failure streak */
    /* One key per start: renewals reuse it, so the key file never changes under the application
     * and never disagrees with the certificate file. */
    EVP_PKEY *key;
    char *csr;
};

/* What one successful attestation gives. */
struct issued {
    char *certificate;
    char *chain;
    char *instance_id; /* may be NULL */
    int64_t renew_at;  /* seconds since the epoch */
};

static void
issued_release(struct issued *i)
{
    free(i->certificate);
    free(i->chain);
    free(i->instance_id);
    *i = (struct issued){ 0 };
}

static unsigned
env_unsigned(const char *name, unsigned def)
{
    const char *s = getenv(name);
    char *end = NULL;
    unsigned long v;

    if (!s || !*s)
        return def;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end || v > 86400000ul) {
        log_warning("Ignoring %s=%s (not a number of at most 86400000)", name, s);
        return def;
    }
    return (unsigned)v;
}

/* CLOISTER_INIT_HEARTBEAT_SECONDS: unlike the test knobs above, a bad value is refused (-E2BIG:
 * exit status 2), since a silently ignored interval would make the instance look stopped. */
static int
env_heartbeat_seconds(unsigned *ret)
{
    const char *name = "CLOISTER_INIT_HEARTBEAT_SECONDS", *s = getenv(name);
    char *end = NULL;
    unsigned long v;

    if (!s || !*s) {
        *ret = HEARTBEAT_DEFAULT_S;
        return 0;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end || s[0] < '0' || s[0] > '9' || v < 1 || v > HEARTBEAT_MAX_S) {
        log_error("Bad %s=\"%s\": use a whole number of seconds from 1 to %u", name, s,
                  HEARTBEAT_MAX_S);
        return -E2BIG;
    }
    *ret = (unsigned)v;
    return 0;
}

static int
read_all_at(int dir_fd, const char *path, size_t max, char **ret, size_t *ret_size)
{
    _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t used = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if ((uint64_t)st.st_size > max)
        return -E2BIG;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    while (used < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *ret = TAKE_PTR(buf);
    *ret_size = used;
    return 0;
}

static int
init_binary_digest(uint8_t ret[32])
{
    _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    return manifest_sha256_file(fd, ret, NULL);
}

/* ---- renewal time ---- */

static int64_t
parse_rfc3339(const char *s)
{
    struct tm tm = { 0 };
    int n = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    s += n;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            ;
    if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* renew_after from the reply, else half-way through the certificate's validity. */
static int64_t
renewal_time(const char *renew_after, const char *certificate)
{
    _cleanup_(BIO_freep) BIO *bio = NULL;
    _cleanup_(X509_freep) X509 *x = NULL;
    struct tm from, until;
    int64_t t = parse_rfc3339(renew_after);

    if (t > 0)
        return t;
    bio = BIO_new_mem_buf(certificate, -1);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!x || ASN1_TIME_to_tm(X509_get0_notBefore(x), &from) != 1 ||
        ASN1_TIME_to_tm(X509_get0_notAfter(x), &until) != 1)
        return (int64_t)time(NULL) + 3600;
    int64_t a = (int64_t)timegm(&from), b = (int64_t)timegm(&until);
    return a + (b - a) / 2;
}

/* For messages: t as "YYYY-MM-DDTHH:MM:SSZ". */
static const char *
time_text(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "%lld", (long long)t);
    return buf;
}

/* ---- attestation ---- */

enum attempt_result {
    ATTEMPT_ISSUED,
    ATTEMPT_RETRY,
    ATTEMPT_FATAL,
};

/* Evidence for report_data: from the TEE when this machine has one (SPEC 6.2: on TDX and SNP
 * the second half of report_data is the manifest digest, which their measurement does not
 * cover), else the agent's simulated quote. -EHWPOISON: the TEE failed (logged). */
static int
get_evidence(struct init *init, uint8_t report_data[64], char **ret_evidence,
             struct init_agent_error *e)
{
    const struct manifest *m = init->manifest;

    if (init->hw.info.producer == ATTEST_HW_NONE)
        return init_agent_sim_quote(init->agent, report_data, init->measurement, m->signer,
                                    m->isvprodid, m->isvsvn, ret_evidence, e);
    if (hw_evidence_binds_manifest(&init->hw))
        memcpy(report_data + 32, init->measurement, 32);
    return hw_evidence_make(&init->hw, report_data, ret_evidence) < 0 ? -EHWPOISON : 0;
}

/* One round: nonce, report_data, quote, issue. Logs why it did not succeed. */
static enum attempt_result
attest_once(struct init *init, EVP_PKEY *key, const char *csr, struct issued *ret)
{
    struct init_agent_error e = { 0 };
    struct init_issue_reply reply = { 0 };
    _cleanup_free_ char *nonce = NULL, *evidence = NULL;
    const char *url = agent_http_address_url(init->agent);
    uint8_t report_data[64];
    enum attempt_result result;
    char when[32];
    int r;

    r = init_agent_challenge(init->agent, &nonce, &e);
    if (r == 0) {
        r = csr_report_data((const uint8_t *)nonce, strlen(nonce), key, report_data);
        if (r < 0) {
            log_error_errno(r, "Cannot compute report_data: %m");
            return ATTEMPT_FATAL;
        }
        r = get_evidence(init, report_data, &evidence, &e);
        if (r == -EHWPOISON)
            return ATTEMPT_FATAL; /* the producer failed and logged why */
    }
    if (r == 0)
        r = init_agent_issue(init->agent, csr, evidence, nonce, &reply, &e);
    if (r == -EREMOTEIO || r == -EBADMSG) {
        /* 5xx: the agent or the manager behind it is having trouble (e.g. 502
         * MANAGER_UNREACHABLE); 4xx: we sent something wrong, retrying will not help. */
        bool retry = r == -EREMOTEIO && e.http_status >= 500;
        if (retry)
            log_warning("Node agent at %s: %s", url, e.message ? e.message : "error");
        else
            log_error("Node agent at %s refused the request: %s", url,
                      e.message ? e.message : "error");
        init_agent_error_release(&e);
        return retry ? ATTEMPT_RETRY : ATTEMPT_FATAL;
    }
    init_agent_error_release(&e);
    if (r == -ENOMEM) {
        log_error_errno(r, "Out of memory");
        return ATTEMPT_FATAL;
    }
    if (r < 0) {
        log_warning_errno(r, "Cannot reach the node agent at %s: %m", url);
        return ATTEMPT_RETRY;
    }

    switch (reply.status) {
    case INIT_TASK_SUCCESS:
        ret->certificate = TAKE_PTR(reply.certificate);
        ret->chain = TAKE_PTR(reply.chain);
        ret->instance_id = TAKE_PTR(reply.instance_id);
        ret->renew_at = renewal_time(reply.renew_after, ret->certificate);
        log_info("Certificate issued (task %s); renewal at %s", reply.task_id ? reply.task_id : "-",
                 time_text(ret->renew_at, when));
        result = ATTEMPT_ISSUED;
        break;
    case INIT_TASK_PENDING_WHITELIST:
    case INIT_TASK_INPROGRESS:
        log_warning(
            "Certificate request %s (task %s): %s",
            reply.status == INIT_TASK_INPROGRESS ? "in progress"
                                                 : "waiting for approval (PENDING_WHITELIST)",
            reply.task_id ? reply.task_id : "-", reply.message ? reply.message : "no message");
        result = ATTEMPT_RETRY;
        break;
    default:
        log_error("Certificate request %s (task %s): %s",
                  reply.status == INIT_TASK_DENIED ? "DENIED" : "FAILED",
                  reply.task_id ? reply.task_id : "-",
                  reply.message ? reply.message : "no message");
        result = ATTEMPT_FATAL;
        break;
    }
    init_issue_reply_release(&reply);
    return result;
}

/* The key per the manifest's certificate config and its CSR, once per start. */
static int
prepare_key(struct init *init)
{
    const struct manifest_certificate *cc = &init->manifest->certificate;
    int r;

    r = csr_key_generate(cc, &init->key);
    if (r < 0)
        return log_error_errno(r, "Cannot generate the %s key: %m",
                               cc->key_type == MANIFEST_KEY_RSA ? "RSA" : "EC");
    r = csr_make_pem(init->key, cc, &init->csr);
    if (r < 0)
        return log_error_errno(r, "Cannot make the certificate request for %s: %m", cc->subject);
    return 0;
}

/* Rounds with exponential backoff until issued, refused, or (tests) max_attempts rounds.
 * Returns 0, -EACCES (refused) or -ETIMEDOUT (gave up). */
static int
attest(struct init *init, unsigned max_attempts, struct issued *ret)
{
    struct issued issued = { 0 };
    unsigned delay =
        BACKOFF_FIRST_MS < init->backoff_max_ms ? BACKOFF_FIRST_MS : init->backoff_max_ms;

    for (unsigned attempt = 1;; attempt++) {
        enum attempt_result a = attest_once(init, init->key, init->csr, &issued);

        if (a == ATTEMPT_ISSUED)
            break;
        if (a == ATTEMPT_FATAL)
            return -EACCES;
        if (max_attempts && attempt >= max_attempts) {
            log_error("Giving up after %u attempt%s", attempt, attempt == 1 ? "" : "s");
            return -ETIMEDOUT;
        }
        log_info("Retrying in %u ms (attempt %u)", delay, attempt + 1);
        struct timespec ts = { .tv_sec = delay / 1000, .tv_nsec = (long)(delay % 1000) * 1000000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        delay = delay > init->backoff_max_ms / 2 ? init->backoff_max_ms : delay * 2;
    }
    *ret = issued;
    return 0;
}

/* The key file, written once before the application starts. */
static int
install_key(struct init *init)
{
    const char *path = init->manifest->certificate.key_path;
    _cleanup_free_ char *pem = NULL;
    size_t size = 0;
    int r;

    r = csr_key_pem(init->key, &pem, &size);
    if (r < 0)
        return log_error_errno(r, "Cannot encode the key: %m");
    r = install_file(init->root_fd, path, pem, size, 0600, init->switch_user, init->uid, init->gid);
    OPENSSL_cleanse(pem, size);
    if (r < 0)
        return log_error_errno(r, "Cannot write the key to %s: %m", path);
    return 0;
}

static int
install(struct init *init, const struct issued *issued)
{
    const struct manifest_certificate *cc = &init->manifest->certificate;
    int r;

    r = install_file(init->root_fd, cc->cert_path, issued->certificate, strlen(issued->certificate),
                     0644, init->switch_user, init->uid, init->gid);
    if (r < 0)
        return log_error_errno(r, "Cannot write the certificate to %s: %m", cc->cert_path);
    if (cc->chain_path && issued->chain) {
        r = install_file(init->root_fd, cc->chain_path, issued->chain, strlen(issued->chain), 0644,
                         init->switch_user, init->uid, init->gid);
        if (r < 0)
            return log_error_errno(r, "Cannot write the chain to %s: %m", cc->chain_path);
    }
    log_info("Wrote certificate %s%s%s (key %s)", cc->cert_path, cc->chain_path ? ", chain " : "",
             cc->chain_path ? cc->chain_path : "", cc->key_path);
    return 0;
}

/* Called by the supervisor at the renewal time: one attestation round; on failure the old
 * certificate stays and the next round comes after a backoff. */
static int64_t
renew(void *userdata)
{
    struct init *init = userdata;
    struct issued issued = { 0 };
    int64_t next;
    unsigned delay_s;
    char when[32];

    log_info("Renewing the certificate");
    if (attest(init, 1, &issued) == 0 && install(init, &issued) == 0) {
        init->renew_failures = 0;
        next = issued.renew_at;
        if (issued.instance_id) { /* heartbeats name the instance of the current certificate */
            free(init->instance_id);
            init->instance_id = TAKE_PTR(issued.instance_id);
        }
        issued_release(&issued);
        /* Never sooner than RENEW_RETRY_MIN_S: a renew_after already past must not spin. */
        if (next < (int64_t)time(NULL) + RENEW_RETRY_MIN_S)
            next = (int64_t)time(NULL) + RENEW_RETRY_MIN_S;
        log_info("Certificate renewed; next renewal at %s", time_text(next, when));
        return next;
    }
    issued_release(&issued);
    init->renew_failures++;
    delay_s = RENEW_RETRY_MIN_S << (init->renew_failures < 4 ? init->renew_failures : 4);
    if (delay_s * 1000 > init->backoff_max_ms && init->backoff_max_ms / 1000 > RENEW_RETRY_MIN_S)
        delay_s = init->backoff_max_ms / 1000;
    log_warning("Certificate renewal failed; the current certificate stays; next try in %u s",
                delay_s);
    return (int64_t)time(NULL) + delay_s;
}

/* One heartbeat; a failure is logged once per streak and never stops the application: the
 * next tick tries again. */
static void
heartbeat(struct init *init)
{
    struct init_agent_error e = { 0 };
    int r;

    r = init_agent_heartbeat(init->agent, init->instance_id, &e);
    if (r < 0 && !init->heartbeat_failing) {
        if (e.message)
            log_warning("Heartbeat for instance %s refused by the node agent at %s: %s; "
                        "retrying every %u s",
                        init->instance_id, agent_http_address_url(init->agent), e.message,
                        init->heartbeat_s);
        else
            log_warning_errno(r,
                              "Heartbeat for instance %s: cannot reach the node agent at %s: "
                              "%m; retrying every %u s",
                              init->instance_id, agent_http_address_url(init->agent),
                              init->heartbeat_s);
    } else if (r == 0 && init->heartbeat_failing)
        log_info("Heartbeats reach the node agent again (instance %s)", init->instance_id);
    init->heartbeat_failing = r < 0;
    init_agent_error_release(&e);
}

/* The earlier of the next renewal and the next heartbeat. */
static int64_t
next_deadline(const struct init *init)
{
    if (init->instance_id && init->heartbeat_at < init->renew_at)
        return init->heartbeat_at;
    return init->renew_at;
}

/* The supervisor's deadline: renew and/or send a heartbeat, whichever is due. */
static int64_t
on_deadline(void *userdata)
{
    struct init *init = userdata;

    if ((int64_t)time(NULL) >= init->renew_at)
        init->renew_at = renew(init);
    if (init->instance_id && (int64_t)time(NULL) >= init->heartbeat_at) {
        heartbeat(init);
        init->heartbeat_at = (int64_t)time(NULL) + init->heartbeat_s;
    }
    return next_deadline(init);
}

/* ---- the application ---- */

static char *
path_join(const char *root, const char *path)
{
    char *out = NULL;

    if (asprintf(&out, "%s%s", strcmp(root, "/") == 0 ? "" : root, path) < 0)
        return NULL;
    return out;
}

static const char *
env_lookup(char *const *env, const char *name)
{
    size_t n = strlen(name);

    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

/* The program's path under prefix (what exec will see): as given when it contains '/', else
 * searched in the image's PATH, checked under root (where the image is). */
static char *
program_path(const char *prefix, const char *root, const char *name, char *const *env)
{
    const char *search = env_lookup(env, "PATH");

    if (strchr(name, '/'))
        return name[0] == '/' ? path_join(prefix, name) : strdup(name);
    if (!search)
        search = DEFAULT_PATH;
    for (const char *p = search; *p;) {
        size_t n = strcspn(p, ":");
        _cleanup_free_ char *dir = strndup(p, n), *rel = NULL;
        char *full;

        if (!dir || asprintf(&rel, "%s/%s", dir, name) < 0)
            return NULL;
        full = path_join(root, rel);
        if (full && access(full, X_OK) == 0) {
            free(full);
            return path_join(prefix, rel);
        }
        free(full);
        p += n;
        if (*p == ':')
            p++;
    }
    return NULL;
}

/* image env, then manifest_env (later entries replace earlier ones of the same name). */
static char **
build_env(const struct manifest *m)
{
    size_t cap = m->env.n + m->manifest_env.n + 1, n = 0;
    char **env = calloc(cap, sizeof(char *));
    const struct manifest_strings *lists[] = { &m->env, &m->manifest_env };

    if (!env)
        return NULL;
    for (size_t l = 0; l < ELEMENTSOF(lists); l++)
        for (size_t i = 0; i < lists[l]->n; i++) {
            const char *item = lists[l]->items[i];
            size_t name_len = strcspn(item, "=");
            size_t k;

            for (k = 0; k < n; k++)
                if (strncmp(env[k], item, name_len + 1) == 0)
                    break;
            env[k] = (char *)item;
            if (k == n)
                n++;
        }
    env[n] = NULL;
    return env;
}

static char **
build_argv(const struct manifest *m, int argc, char **argv)
{
    size_t extra = argc > 1 ? (size_t)argc - 1 : 0;
    size_t cmd = extra > 0 ? extra : m->cmd.n;
    char **out = calloc(m->entrypoint.n + cmd + 1, sizeof(char *));
    size_t n = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < m->entrypoint.n; i++)
        out[n++] = (char *)m->entrypoint.items[i];
    /* Arguments given to the container replace the image's cmd, as with docker run. */
    for (size_t i = 0; i < cmd; i++)
        out[n++] = extra > 0 ? argv[i + 1] : (char *)m->cmd.items[i];
    out[n] = NULL;
    return out;
}

/* ---- main ---- */

/* As PID 1 of a container, signals without a handler are ignored: until the application runs,
 * a stop request must still end cloister-init (128 + signal, as a shell reports it). */
static void
on_stop_signal(int sig)
{
    _exit(128 + sig);
}

static void
handle_stop_signals(void)
{
    struct sigaction sa = { .sa_handler = on_stop_signal };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* A file of /.cloister that may be missing: *ret NULL then. */
static int
read_optional_at(int dir_fd, const char *path, size_t max, char **ret, size_t *ret_size)
{
    int r = read_all_at(dir_fd, path, max, ret, ret_size);

    if (r == -ENOENT) {
        *ret = NULL;
        *ret_size = 0;
        return 0;
    }
    return r;
}

/* The manifest's signer is what the evidence will claim as mrsigner: only a signature that
 * verifies with the key it names lets the image claim it (SIGSTRUCT's role on SGX). */
static int
check_signature(struct init *init)
{
    _cleanup_free_ char *pem = NULL, *sig = NULL;
    size_t pem_size = 0, sig_size = 0;
    const char *problem = NULL;
    char hex[65];
    int r;

    r = read_optional_at(init->root_fd, &MANIFEST_SIGNER_PEM_PATH[1], MANIFEST_SIGNER_PEM_MAX, &pem,
                         &pem_size);
    if (r < 0) {
        log_error_errno(r, "Cannot read %s: %m", MANIFEST_SIGNER_PEM_PATH);
        return -EBADMSG; /* not -E2BIG: exit status 2 means refused arguments */
    }
    r = read_optional_at(init->root_fd, &MANIFEST_SIGNATURE_PATH[1], MANIFEST_SIGNATURE_MAX, &sig,
                         &sig_size);
    if (r < 0) {
        log_error_errno(r, "Cannot read %s: %m", MANIFEST_SIGNATURE_PATH);
        return -EBADMSG;
    }
    switch (manifest_signature_check(init->manifest, pem, pem_size, sig, sig_size, &problem)) {
    case MANIFEST_UNSIGNED:
        log_info("Manifest unsigned (mrsigner all zeros)");
        return 0;
    case MANIFEST_SIGNED:
        manifest_hex(init->manifest->signer, 32, hex);
        log_info("Manifest signature verifies (mrsigner %s)", hex);
        return 0;
    case MANIFEST_BAD_SIGNATURE:
        break;
    }
    log_error("Manifest signature check failed: %s", problem);
    return -EBADMSG;
}

static int
load(struct init *init, int argc, char **argv)
{
    _cleanup_free_ char *text = NULL;
    const char *error = NULL, *url;
    uint8_t init_digest[32];
    char hex[65];
    size_t size = 0;
    int r;

    init->root_fd = open(init->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (init->root_fd < 0)
        return log_error_errno(-errno, "Cannot open the root directory %s: %m", init->root);
    r = read_all_at(init->root_fd, &MANIFEST_PATH[1], MANIFEST_SIZE_MAX, &text, &size);
    if (r < 0)
        return log_error_errno(r, "Cannot read the manifest %s: %m", MANIFEST_PATH);
    r = manifest_parse(text, size, &init->manifest, &error);
    if (r == -EBADMSG)
        return log_error_errno(r, "Invalid manifest %s: %s", MANIFEST_PATH,
                               error ? error : "malformed");
    if (r < 0)
        return log_error_errno(r, "Cannot parse the manifest %s: %m", MANIFEST_PATH);
    if (argc > 1 && !init->manifest->allow_cmdline_args) {
        log_error("Refusing %d unexpected command-line argument%s (first: \"%s\"): the manifest "
                  "does not allow command-line arguments (app.allow_cmdline_args)",
                  argc - 1, argc > 2 ? "s" : "", argv[1]);
        return -E2BIG;
    }
    r = check_signature(init);
    if (r < 0)
        return r;
    r = init_binary_digest(init_digest);
    if (r < 0)
        return log_error_errno(r, "Cannot hash this program (/proc/self/exe): %m");
    r = manifest_measurement(init->manifest, init_digest, init->measurement);
    if (r < 0)
        return log_error_errno(r, "Cannot compute the measurement: %m");
    manifest_hex(init->measurement, 32, hex);
    log_info("Measurement (mrenclave) %s", hex);

    url = getenv("NODE_AGENT_BASE_URL");
    if (!url || !*url)
        url = DEFAULT_AGENT_URL;
    r = agent_http_address_parse(url, &init->agent);
    if (r < 0)
        return log_error_errno(r,
                               "Bad NODE_AGENT_BASE_URL \"%s\": use http://IP:PORT (numeric "
                               "address) or unix:/path",
                               url);
    return hw_evidence_detect(&init->hw);
}

static int
check_tree(struct init *init)
{
    _cleanup_free_ char *path = NULL;
    enum tree_problem problem = TREE_OK;
    const char *what = NULL;
    int r;

    r = tree_verify(init->root_fd, init->manifest, &problem, &path, &what);
    if (r < 0)
        return log_error_errno(r, "Cannot check the file tree: %m");
    if (problem != TREE_OK) {
        log_error("File tree check failed: %s: %s", path ? path : "?", what ? what : "differs");
        return -EBADMSG;
    }
    log_info("File tree matches the manifest (%zu entries, %s check)", init->manifest->n_entries,
             init->manifest->check == MANIFEST_CHECK_FULL ? "full" : "sampled");
    return 0;
}

static int
run(struct init *init, int argc, char **argv)
{
    const struct manifest *m = init->manifest;
    struct issued issued = { 0 };
    _cleanup_free_ char **env = build_env(m), **args = build_argv(m, argc, argv);
    _cleanup_free_ char *exec_path = NULL, *workdir = NULL;
    bool use_chroot;
    uid_t uid = 0;
    gid_t gid = 0;
    int r;

    if (!env || !args)
        return log_error_errno(-ENOMEM, "Out of memory");
    r = user_resolve(init->root_fd, m->user, &uid, &gid);
    if (r < 0)
        return log_error_errno(r,
                               "Cannot resolve the image's user \"%s\" in its /etc/passwd "
                               "and /etc/group: %m",
                               m->user ? m->user : "");
    init->uid = uid;
    init->gid = gid;
    init->switch_user = geteuid() == 0 && (uid != 0 || gid != 0);
    /* With CLOISTER_ROOT, as root, the application runs chrooted there as it would in its
     * image; otherwise (tests as a user) its paths are only prefixed with the root. */
    use_chroot = strcmp(init->root, "/") != 0 && geteuid() == 0;
    exec_path = program_path(use_chroot ? "/" : init->root, init->root, args[0], env);
    if (!exec_path)
        return log_error_errno(-ENOENT, "Cannot find the program \"%s\" in the image", args[0]);
    workdir = path_join(use_chroot ? "/" : init->root, m->workdir ? m->workdir : "/");
    if (!workdir)
        return log_error_errno(-ENOMEM, "Out of memory");

    r = prepare_key(init);
    if (r < 0)
        return r;
    r = attest(init, init->max_attempts, &issued);
    if (r < 0)
        return r;
    r = install_key(init);
    if (r == 0)
        r = install(init, &issued);
    init->renew_at = issued.renew_at;
    init->instance_id = TAKE_PTR(issued.instance_id);
    issued_release(&issued);
    if (r < 0)
        return r;
    if (init->instance_id) {
        log_info("Heartbeats for instance %s every %u s", init->instance_id, init->heartbeat_s);
        heartbeat(init);
        init->heartbeat_at = (int64_t)time(NULL) + init->heartbeat_s;
    } else
        log_warning("The issue answer names no instance_id: no heartbeats; the manager will show "
                    "this instance STOPPED");

    struct supervise_spec spec = {
        .chroot_dir = use_chroot ? init->root : NULL,
        .exec_path = exec_path,
        .argv = args,
        .envp = env,
        .workdir = workdir,
        .switch_user = init->switch_user,
        .uid = uid,
        .gid = gid,
    };
    r = supervise_run(&spec, next_deadline(init), on_deadline, init);
    if (r < 0)
        return log_error_errno(r, "Cannot start %s: %m", args[0]);
    return r;
}

int
main(int argc, char **argv)
{
    struct init init = {
        .root = "/",
        .root_fd = -1,
    };
    const char *root = getenv("CLOISTER_ROOT");
    int r;

    log_setup("cloister-init", LOG_LEVEL_INFO, false);
    handle_stop_signals();
    if (root && *root) {
        /* For tests and development only: a production image runs cloister-init at "/". */
        init.root = root;
        log_warning("CLOISTER_ROOT=%s: using it as the image root (tests and development only)",
                    root);
    }
    init.backoff_max_ms = env_unsigned("CLOISTER_INIT_BACKOFF_MAX_MS", BACKOFF_MAX_MS);
    if (init.backoff_max_ms == 0)
        init.backoff_max_ms = 1;
    init.max_attempts = env_unsigned("CLOISTER_INIT_MAX_ATTEMPTS", 0);

    r = env_heartbeat_seconds(&init.heartbeat_s);
    if (r == 0)
        r = load(&init, argc, argv);
    if (r == 0)
        r = check_tree(&init);
    if (r == 0)
        r = run(&init, argc, argv);
    manifest_free(init.manifest);
    agent_http_address_free(init.agent);
    EVP_PKEY_free(init.key);
    free(init.csr);
    free(init.instance_id);
    if (init.root_fd >= 0)
        close(init.root_fd);
    if (r < 0)
        return r == -E2BIG ? 2 : 1;
    return r;
}
