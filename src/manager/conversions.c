/* Conversion runners (conversions.h). */
#include "conversions.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api.h"
#include "image-location.h"
#include "json-member.h"
#include "log.h"
#include "manifest.h"
#include "signing-keys.h"
#include "store-builds.h"
#include "store-conversions.h"
#include "store-tool-conversions.h"
#include "store.h"
#include "tasks.h"

#define LOG_MAX (16u << 10)
#define PROGRESS_EVERY_MS 1000

static void
password_freep(char **p)
{
    if (*p) {
        OPENSSL_cleanse(*p, strlen(*p));
        free(*p);
    }
}

struct runner;

/* What differs between a build's conversion (conversion_jobs, store-conversions.h) and a
 * stand-alone one (tool_conversions, store-tool-conversions.h): where progress and the end go. */
struct job_kind {
    const char *id_member; /* the job's id column */
    int (*progress)(struct store *store, const char *id, int64_t attempt, int64_t lease_until_ms,
                    int progress, const char *log, const char *now);
    int (*hold)(struct store *store, const char *id, int64_t attempt);
    /* Inside the final transaction: -EEXIST (nothing written) when the measurement is taken. */
    int (*succeed)(struct runner *rn, struct api_request *r, const struct convert_result *res);
    int (*fail)(struct runner *rn, struct api_request *r, const char *why);
    int (*finish)(struct store *store, const char *id); /* NULL: nothing more */
};

/* One runner's job and what it has said so far. */
struct runner {
    struct manager_context *ctx;
    const struct job_kind *kind;
    struct store *store;
    json_t *job;
    const char *id, *acct_id;
    int64_t attempt; /* the job's attempts when this runner took it: its fencing token */
    bool lost;       /* another runner took the job over (or its record is gone) */
    char log[LOG_MAX];
    size_t log_len;
    int progress;
    size_t layers;
    int64_t last_report_ms;
};

static void say(struct runner *rn, const char *fmt, ...) _printf_(2, 3);

static void
say(struct runner *rn, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (rn->log_len >= sizeof(rn->log) - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(rn->log + rn->log_len, sizeof(rn->log) - rn->log_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        rn->log_len += (size_t)n < sizeof(rn->log) - rn->log_len
                           ? (size_t)n
                           : sizeof(rn->log) - 1 - rn->log_len;
}

static int64_t
lease_until(const struct manager_context *ctx)
{
    return time_now_unix_ms() + (int64_t)ctx->config->conversion_lease * 1000;
}

/* Records progress and renews the lease, at most once a second unless forced. */
static void
report(struct runner *rn, bool force)
{
    int64_t now = time_monotonic_ms();
    char stamp[32];
    int r;

    if (rn->lost || (!force && now - rn->last_report_ms < PROGRESS_EVERY_MS))
        return;
    rn->last_report_ms = now;
    time_now_rfc3339(stamp);
    r = rn->kind->progress(rn->store, rn->id, rn->attempt, lease_until(rn->ctx), rn->progress,
                           rn->log, stamp);
    if (r == -ENOENT) {
        /* It goes on (the converter cannot be stopped half-way without leaving files behind)
         * but records nothing more: record() checks again. */
        rn->lost = true;
        log_warning("Conversion %s: attempt %lld lost its job (its lease ran out and another "
                    "runner took it over, or its record is gone)",
                    rn->id, (long long)rn->attempt);
    } else if (r < 0)
        log_warning_errno(r, "Conversion %s: recording progress failed: %m", rn->id);
}

static void
on_layer_begin(void *userdata, size_t index, size_t count, const char *digest, uint64_t size)
{
    struct runner *rn = userdata;

    rn->layers = count;
    rn->progress = (int)(10 + 70 * index / (count ? count : 1));
    say(rn, "Layer %zu/%zu %.19s (%.1f MiB)\n", index + 1, count, digest, (double)size / (1 << 20));
    report(rn, false);
}

static void
on_layer_read(void *userdata, uint64_t done, uint64_t size)
{
    report(userdata, false);
}

static void
on_step(void *userdata, const char *what)
{
    struct runner *rn = userdata;

    if (strncmp(what, "writing", 7) == 0 || strncmp(what, "making", 6) == 0)
        rn->progress = 80;
    else if (strncmp(what, "pushing", 7) == 0)
        rn->progress = 85;
    say(rn, "%c%s\n", what[0] - 'a' + 'A', what + 1);
    report(rn, true);
}

/* The job's credentials for one side ("input" or "output"), unsealed into o. */
static int
credentials(struct runner *rn, const char *which, struct registry_options *o, char **ret_password)
{
    char user_key[32], sealed_key[40], aad[80];
    const char *sealed;
    size_t len = 0;

    snprintf(user_key, sizeof(user_key), "%s_username", which);
    snprintf(sealed_key, sizeof(sealed_key), "%s_password_sealed", which);
    o->username = member_text(rn->job, user_key);
    sealed = member_text(rn->job, sealed_key);
    *ret_password = NULL;
    if (!sealed)
        return 0;
    snprintf(aad, sizeof(aad), "conversion:%s:%s", rn->id, which);
    return open_secret(rn->ctx->keys->seal_key, aad, sealed, ret_password, &len);
}

/* The account's signing key (signing-keys.h), which the request made. A job queued by a manager
 * that did not sign yet finds none: its image stays unsigned, as that manager would have made
 * it. */
static int
signing_key(struct runner *rn, EVP_PKEY **ret_key, struct image_error *e)
{
    int r = signing_key_open(rn->ctx->keys->seal_key, rn->store, rn->acct_id, ret_key);

    if (r == -ENOENT) {
        say(rn, "The account has no signing key: the image is unsigned\n");
        *ret_key = NULL;
        return 0;
    }
    if (r < 0)
        return image_errorf(e, r, "cannot open the account's signing key: %s", strerror(-r));
    return 0;
}

/* cloister-init beside this program (installed) or in the build tree, unless configured. */
static int
init_path(const struct manager_config *config, char out[PATH_MAX])
{
    char self[PATH_MAX];
    ssize_t n;

    if (*config->conversion_init) {
        snprintf(out, PATH_MAX, "%s", config->conversion_init);
        return 0;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -errno;
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(out, PATH_MAX, "%.4000s/cloister-init", self);
    if (access(out, R_OK) == 0)
        return 0;
    snprintf(out, PATH_MAX, "%.4000s/../init/cloister-init", self);
    return 0;
}

static int
parse_ref(const char *image, struct image_location *ret, struct image_error *e)
{
    _cleanup_free_ char *text = NULL;

    if (asprintf(&text, "docker://%s", image) < 0)
        return -ENOMEM;
    return image_location_parse(text, ret, e);
}

struct convert_outcome {
    struct convert_result res;
    struct image_error e;
};

static int
convert(struct runner *rn, struct convert_outcome *out)
{
    const char *settings = member_text(rn->job, "settings");
    struct image_location in = { 0 }, outl = { 0 };
    struct registry_options in_reg = { .plain_http = rn->ctx->config->conversion_plain_http };
    struct registry_options out_reg = in_reg;
    _cleanup_(password_freep) char *in_pw = NULL, *out_pw = NULL;
    char init[PATH_MAX];
    struct convert_options o = {
        .app_config = settings,
        .app_config_size = strlen(settings),
        .init_path = init,
        .progress = { on_layer_begin, on_layer_read, on_step, rn },
    };
    int r;

    r = init_path(rn->ctx->config, init);
    if (r == 0)
        r = signing_key(rn, &o.signer_pkey, &out->e);
    if (r == 0)
        r = credentials(rn, "input", &in_reg, &in_pw);
    if (r == 0)
        r = credentials(rn, "output", &out_reg, &out_pw);
    in_reg.password = in_pw;
    out_reg.password = out_pw;
    if (r == 0)
        r = parse_ref(member_text(rn->job, "input_image"), &in, &out->e);
    if (r == 0)
        r = parse_ref(member_text(rn->job, "output_image"), &outl, &out->e);
    if (r == 0)
        r = image_convert_locations(&in, &in_reg, &outl, &out_reg, &o, &out->res, &out->e);
    image_location_release(&in);
    image_location_release(&outl);
    EVP_PKEY_free(o.signer_pkey);
    return r;
}

/* The request the job came from, for task_create() and api_audit(): the same account and
 * requester, acting now. */
static void
job_request(struct runner *rn, struct api_request *r)
{
    *r = (struct api_request){ .ctx = rn->ctx, .store = rn->store };
    snprintf(r->acct_id, sizeof(r->acct_id), "%s", rn->acct_id);
    snprintf(r->user_id, sizeof(r->user_id), "%s", member_text(rn->job, "requester_id") ?: "");
    snprintf(r->user_email, sizeof(r->user_email), "%s",
             member_text(rn->job, "requester_email") ?: "");
    snprintf(r->user_name, sizeof(r->user_name), "%s",
             member_text(rn->job, "requester_name") ?: "");
    time_now_rfc3339(r->now);
}

static int
build_succeed(struct runner *rn, struct api_request *r, const struct convert_result *res)
{
    json_auto_t *build = NULL;
    char mrenclave[65], mrsigner[65], task_id[37];
    int err;

    manifest_hex(res->mrenclave, 32, mrenclave);
    manifest_hex(res->mrsigner, 32, mrsigner);
    say(rn, "Measurement %s, signer %s, image %s\n", mrenclave, mrsigner, res->image_digest);
    err = store_conversion_succeed(rn->store, rn->id, mrenclave, mrsigner, res->isvprodid,
                                   res->isvsvn, res->image_digest, (int64_t)res->image_size,
                                   rn->log, r->now);
    if (err == -EEXIST)
        return -EEXIST;
    if (err >= 0)
        err = store_build_get(rn->store, rn->acct_id, rn->id, &build);
    if (err >= 0)
        err = task_create(r, TASK_BUILD_WHITELIST, rn->id, member_text(build, "app_name"), NULL,
                          NULL, task_id);
    if (err >= 0)
        err = store_build_set_pending_task(rn->store, rn->acct_id, rn->id, task_id);
    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "INFO", "build", rn->id,
                        "Converted app '%s': build %s, mrenclave %s",
                        member_text(build, "app_name"), rn->id, mrenclave);
    return err;
}

static int
build_fail(struct runner *rn, struct api_request *r, const char *why)
{
    int err;

    err = store_conversion_fail(rn->store, rn->id, rn->log, r->now);
    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "ERROR", "build", rn->id,
                        "Conversion of build %s failed: %s", rn->id, why);
    return err;
}

static int
tool_succeed(struct runner *rn, struct api_request *r, const struct convert_result *res)
{
    char mrenclave[65], mrsigner[65];
    int err;

    manifest_hex(res->mrenclave, 32, mrenclave);
    manifest_hex(res->mrsigner, 32, mrsigner);
    say(rn, "Measurement %s, signer %s, image %s\n", mrenclave, mrsigner, res->image_digest);
    err = store_tool_conversion_succeed(rn->store, rn->id, mrenclave, mrsigner, res->image_digest,
                                        (int64_t)res->image_size, rn->log, r->now);
    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "INFO", "conversion", rn->id,
                        "Converted %s to %s (stand-alone conversion %s): mrenclave %s",
                        member_text(rn->job, "input_image"), member_text(rn->job, "output_image"),
                        rn->id, mrenclave);
    return err;
}

static int
tool_fail(struct runner *rn, struct api_request *r, const char *why)
{
    int err = store_tool_conversion_fail(rn->store, rn->id, rn->log, r->now);

    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "ERROR", "conversion", rn->id,
                        "Stand-alone conversion %s failed: %s", rn->id, why);
    return err;
}

static const struct job_kind build_kind = {
    .id_member = "build_id",
    .progress = store_conversion_progress,
    .hold = store_conversion_hold,
    .succeed = build_succeed,
    .fail = build_fail,
    .finish = store_conversion_delete,
};

static const struct job_kind tool_kind = {
    .id_member = "conversion_id",
    .progress = store_tool_conversion_progress,
    .hold = store_tool_conversion_hold,
    .succeed = tool_succeed,
    .fail = tool_fail,
};

static const struct job_kind *
kind_of(const json_t *job)
{
    return json_object_get(job, "build_id") ? &build_kind : &tool_kind;
}

static int
record_failure(struct runner *rn, struct api_request *r, const char *why)
{
    say(rn, "error: %s\n", why);
    return rn->kind->fail(rn, r, why);
}

/* The job's end, in one transaction under the account's lock. Returns 1 with nothing recorded
 * when this runner no longer holds the job (taken over by another, or its build was deleted
 * meanwhile). */
static int
record(struct runner *rn, int result, const struct convert_outcome *out)
{
    struct api_request r;
    int err;

    job_request(rn, &r);
    err = store_begin(rn->store, STORE_TXN_WRITE);
    if (err >= 0)
        err = store_lock_scope(rn->store, rn->acct_id);
    if (err >= 0)
        err = rn->kind->hold(rn->store, rn->id, rn->attempt);
    if (err == -ESTALE || err == -ENOENT) {
        log_warning("Conversion %s: attempt %lld lost its job (%s); nothing recorded", rn->id,
                    (long long)rn->attempt,
                    err == -ESTALE ? "a later attempt took it over" : "it is gone");
        store_rollback(rn->store);
        return 1;
    }
    if (err >= 0 && result == 0) {
        err = rn->kind->succeed(rn, &r, &out->res);
        if (err == -EEXIST)
            err = record_failure(rn, &r,
                                 "this image's measurement is already registered as "
                                 "another build of the account");
    } else if (err >= 0)
        err = record_failure(rn, &r, out->e.text[0] ? out->e.text : strerror(-result));
    if (err >= 0 && rn->kind->finish)
        err = rn->kind->finish(rn->store, rn->id);
    if (err == -ENOENT) {
        log_info("Conversion %s: its record is gone, nothing recorded", rn->id);
        err = 0;
    }
    if (err >= 0)
        return store_commit(rn->store);
    store_rollback(rn->store);
    return err;
}

static int
run_job(struct manager_context *ctx, json_t *job)
{
    struct runner *rn = calloc(1, sizeof(*rn));
    struct convert_outcome out = { 0 };
    int r, result;

    if (!rn)
        return -ENOMEM;
    *rn = (struct runner){ .ctx = ctx, .job = job };
    rn->kind = kind_of(job);
    rn->id = member_text(job, rn->kind->id_member);
    rn->acct_id = member_text(job, "acct_id");
    rn->attempt = json_integer_value(json_object_get(job, "attempts"));
    r = store_open(ctx->config->store_url, &rn->store);
    if (r >= 0) {
        say(rn, "Converting %s to %s (attempt %lld)\n", member_text(job, "input_image"),
            member_text(job, "output_image"),
            (long long)json_integer_value(json_object_get(job, "attempts")));
        report(rn, true);
        result = convert(rn, &out);
        rn->progress = 100;
        r = record(rn, result, &out);
        if (r == 0 && result < 0)
            log_warning("Conversion %s failed: %s", rn->id, out.e.text);
        else if (r == 0)
            log_info("Conversion %s done", rn->id);
    }
    if (r < 0)
        log_error_errno(r, "Conversion %s: recording the result failed: %m", rn->id);
    store_close(rn->store);
    free(rn);
    return r;
}

/* A job that its runners kept dying on: failed for good, by whoever finds it. */
static void
give_up(struct manager_context *ctx, json_t *job)
{
    struct runner rn = { .ctx = ctx,
                         .store = ctx->store,
                         .job = job,
                         .kind = kind_of(job),
                         .id = member_text(job, kind_of(job)->id_member),
                         .acct_id = member_text(job, "acct_id"),
                         .attempt = json_integer_value(json_object_get(job, "attempts")) };
    struct convert_outcome out = { 0 };

    snprintf(out.e.text, sizeof(out.e.text),
             "the conversion was interrupted %d times (its "
             "runner stopped: the manager restarted or the runner crashed)",
             CONVERSION_ATTEMPTS_MAX);
    if (record(&rn, -EINTR, &out) < 0)
        log_warning("Conversion %s: recording that it was given up failed", rn.id);
}

void
conversions_init(struct manager_context *ctx, struct conversion_runners *runners)
{
    char path[PATH_MAX + 300];
    struct dirent *d;
    DIR *dir;

    snprintf(runners->work_dir, sizeof(runners->work_dir), "%.4000s/conversions",
             ctx->config->data_dir);
    if (mkdir(runners->work_dir, 0700) < 0 && errno != EEXIST) {
        log_warning_errno(-errno, "Cannot make %s, conversions use TMPDIR: %m", runners->work_dir);
        runners->work_dir[0] = '\0';
        return;
    }
    dir = opendir(runners->work_dir);
    while (dir && (d = readdir(dir)))
        if (strncmp(d->d_name, "runner-", 7) == 0) {
            snprintf(path, sizeof(path), "%s/%s", runners->work_dir, d->d_name);
            log_info("Removing %s, left by a conversion runner that was killed", path);
            image_remove_tree(path);
        }
    if (dir)
        closedir(dir);
}

static void
runner_dir(const struct conversion_runners *runners, pid_t pid, char out[PATH_MAX + 32])
{
    snprintf(out, PATH_MAX + 32, "%s/runner-%ld", runners->work_dir, (long)pid);
}

/* In the runner: its own TMPDIR, which its parent removes when it has reaped it. */
static void
use_runner_dir(const struct conversion_runners *runners)
{
    char dir[PATH_MAX + 32];

    if (!runners->work_dir[0])
        return;
    runner_dir(runners, getpid(), dir);
    if (mkdir(dir, 0700) == 0)
        setenv("TMPDIR", dir, 1);
}

static void
remove_runner_dir(const struct conversion_runners *runners, pid_t pid)
{
    char dir[PATH_MAX + 32];

    if (!runners->work_dir[0])
        return;
    runner_dir(runners, pid, dir);
    image_remove_tree(dir);
}

static void
start_runner(struct manager_context *ctx, struct conversion_runners *runners, json_t *job)
{
    pid_t pid = fork();

    if (pid < 0) {
        log_warning_errno(-errno, "Cannot start a conversion runner: %m");
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_NAME, "cl-convert");
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        use_runner_dir(runners);
        _exit(run_job(ctx, job) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
    }
    runners->pids[runners->n++] = pid;
}

static void
reap(struct conversion_runners *runners)
{
    for (int i = 0; i < runners->n;) {
        int status;
        if (waitpid(runners->pids[i], &status, WNOHANG) == runners->pids[i]) {
            if (WIFSIGNALED(status))
                log_warning("A conversion runner died of signal %d; its job will be taken over",
                            WTERMSIG(status));
            remove_runner_dir(runners, runners->pids[i]);
            runners->pids[i] = runners->pids[--runners->n];
        } else
            i++;
    }
}

void
conversions_tick(struct manager_context *ctx, struct conversion_runners *runners)
{
    int workers = ctx->config->conversion_workers;

    reap(runners);
    if (workers > CONVERSION_WORKERS_MAX)
        workers = CONVERSION_WORKERS_MAX;
    while (runners->n < workers) {
        int64_t now = time_now_unix_ms();
        json_t *job = NULL;
        int r = store_conversion_claim(ctx->store, now, lease_until(ctx), &job);

        if (r < 0)
            log_warning_errno(r, "Taking a conversion job failed: %m");
        if (!job)
            return;
        if (json_integer_value(json_object_get(job, "attempts")) > CONVERSION_ATTEMPTS_MAX)
            give_up(ctx, job);
        else
            start_runner(ctx, runners, job);
        json_decref(job);
    }
}

void
conversions_stop(struct conversion_runners *runners)
{
    for (int i = 0; i < runners->n; i++)
        kill(runners->pids[i], SIGTERM);
    for (int i = 0; i < runners->n; i++) {
        waitpid(runners->pids[i], NULL, 0);
        remove_runner_dir(runners, runners->pids[i]);
    }
    runners->n = 0;
}
