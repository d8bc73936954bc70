/* bench-store: operations per second of the control plane's hot store transactions, each run
 * exactly as its API handler runs it at the store level (bench/store/README.md).
 *
 *   bench-store --store URL --state FILE --op OP --setup [--procs N] [--apps N] [--tasks N]
 *   bench-store --store URL --state FILE --op OP --seconds S [--procs N] [--spread]
 *
 * --setup migrates a fresh store and creates what OP needs (two approvers, one account per
 * process, 10,000 apps or the pending build tasks), then writes the ids to the state file, so
 * the timed run that follows measures nothing but OP. A timed run forks N processes, each with
 * its own store connection (what one replica's worker is at the store level), releases them
 * together and prints one line "ops=<total> seconds=<s> ops_per_s=<x>" summing them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "cleanup.h"
#include "crypto-util.h"
#include "log.h"
#include "store-accounts.h"
#include "store-apps.h"
#include "store-builds.h"
#include "store-list.h"
#include "store-members.h"
#include "store-tasks.h"
#include "store-users.h"
#include "store.h"

#define BENCH_PROCS_MAX 16
#define BENCH_SECONDS_MAX 600
#define BENCH_APPS_DEFAULT 10000
#define BENCH_APPS_MAX 1000000
#define BENCH_TASKS_DEFAULT 20000
#define BENCH_TASKS_MAX 1000000
#define BENCH_USERS 2 /* the approvers: a task needs both votes */
#define BENCH_APPROVALS_REQUIRED 2
#define BENCH_WARMUP_OPS 20 /* per process, before the clock starts: statements get prepared */
#define BENCH_LIST_LIMIT 20
#define BENCH_SETUP_BATCH 1000 /* rows per setup transaction */
#define BENCH_ID_LEN 37
#define BENCH_EMAIL_MAX 64
#define BENCH_NAME_MAX 64
#define BENCH_LINE_MAX 256
#define BENCH_SETUP_TIME_MS INT64_C(1767225600000) /* 2026-01-01: setup rows' created_at base */
#define BENCH_EXIT_EXHAUSTED 3 /* approve_task used up the pending tasks before the deadline */

enum bench_op {
    OP_CREATE_APP,
    OP_LIST_APPS,
    OP_APPROVE_TASK,
    OP_APPEND_EVENT,
    N_OPS,
};

static const char *const op_names[N_OPS] = {
    [OP_CREATE_APP] = "create_app",
    [OP_LIST_APPS] = "list_apps",
    [OP_APPROVE_TASK] = "approve_task",
    [OP_APPEND_EVENT] = "append_event",
};

struct bench_options {
    const char *store_url;
    const char *state_file;
    enum bench_op op;
    bool op_set;
    bool setup;
    bool spread;
    int64_t seconds;
    int64_t procs;
    int64_t apps;
    int64_t tasks;
};

struct bench_user {
    char user_id[BENCH_ID_LEN];
    char email[BENCH_EMAIL_MAX];
    char name[BENCH_NAME_MAX]; /* "first last", as the router puts it in r->user_name */
};

/* What --setup created, read back by the timed run. */
struct bench_state {
    struct bench_user users[BENCH_USERS];
    size_t n_users;
    char accounts[BENCH_PROCS_MAX][BENCH_ID_LEN];
    size_t n_accounts;
    enum bench_op op; /* what the store was set up for */
    int64_t apps;     /* apps of accounts[0] (list_apps) */
};

/* One process's view of a timed run. */
struct bench_worker {
    struct store *store;
    const struct bench_state *state;
    const char *acct_id;
    size_t index; /* which process */
    int64_t counter;
    /* approve_task: this process's share of the pending tasks, two votes each */
    char (*tasks)[BENCH_ID_LEN];
    size_t n_tasks;
};

/* What a process reports to the parent through the results pipe (one write < PIPE_BUF). */
struct bench_result {
    int error; /* 0, or the negative errno that stopped the process */
    int64_t ops;
    int64_t nsec;
};

static void
usage(FILE *out)
{
    fputs("Usage: bench-store --store URL --state FILE --op OP --setup [--procs N] [--apps N]\n"
          "                   [--tasks N]\n"
          "       bench-store --store URL --state FILE --op OP --seconds S [--procs N] "
          "[--spread]\n"
          "\n"
          "  --store URL    sqlite:PATH or postgres://... (a fresh store for --setup)\n"
          "  --state FILE   ids written by --setup and read by the timed run\n"
          "  --op OP        create_app, list_apps, approve_task or append_event\n"
          "  --setup        migrate the store and create what OP needs, untimed\n"
          "  --seconds S    run OP for S seconds (1-600)\n"
          "  --procs N      processes, each with its own store connection (1-16, default 1);\n"
          "                 with --setup: how many accounts to create (one per process)\n"
          "  --spread       each process writes its own account (default: all the same one)\n"
          "  --apps N       list_apps setup: apps in the account (default 10000)\n"
          "  --tasks N      approve_task setup: pending tasks (default 20000; each takes 2 ops)\n"
          "\n"
          "Exit status: 0 done, 1 failed, 3 approve_task ran out of pending tasks before the\n"
          "deadline (set up more with --tasks; no result is printed).\n",
          out);
}

static int
parse_int(const char *flag, const char *text, int64_t min, int64_t max, int64_t *ret_value)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end || v < min || v > max)
        return log_error_errno(EINVAL, "%s: must be a number from %" PRId64 " to %" PRId64, flag,
                               min, max);
    *ret_value = v;
    return 0;
}

static int
parse_op(const char *text, enum bench_op *ret_op)
{
    for (size_t i = 0; i < N_OPS; i++)
        if (strcmp(text, op_names[i]) == 0) {
            *ret_op = (enum bench_op)i;
            return 0;
        }
    return log_error_errno(EINVAL,
                           "--op: must be create_app, list_apps, approve_task or append_event");
}

static int
parse_options(int argc, char **argv, struct bench_options *o)
{
    static const struct option options[] = {
        { "store", required_argument, NULL, 's' },
        { "state", required_argument, NULL, 'f' },
        { "op", required_argument, NULL, 'o' },
        { "setup", no_argument, NULL, 'S' },
        { "seconds", required_argument, NULL, 't' },
        { "procs", required_argument, NULL, 'p' },
        { "spread", no_argument, NULL, 'x' },
        { "apps", required_argument, NULL, 'a' },
        { "tasks", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt, r = 0;

    *o = (struct bench_options){ .procs = 1,
                                 .apps = BENCH_APPS_DEFAULT,
                                 .tasks = BENCH_TASKS_DEFAULT };
    while (r >= 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            o->store_url = optarg;
            break;
        case 'f':
            o->state_file = optarg;
            break;
        case 'o':
            r = parse_op(optarg, &o->op);
            o->op_set = true;
            break;
        case 'S':
            o->setup = true;
            break;
        case 't':
            r = parse_int("--seconds", optarg, 1, BENCH_SECONDS_MAX, &o->seconds);
            break;
        case 'p':
            r = parse_int("--procs", optarg, 1, BENCH_PROCS_MAX, &o->procs);
            break;
        case 'x':
            o->spread = true;
            break;
        case 'a':
            r = parse_int("--apps", optarg, BENCH_LIST_LIMIT, BENCH_APPS_MAX, &o->apps);
            break;
        case 'k':
            r = parse_int("--tasks", optarg, 1, BENCH_TASKS_MAX, &o->tasks);
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_SUCCESS);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (r < 0)
        return r;
    if (optind < argc)
        return log_error_errno(EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!o->store_url)
        return log_error_errno(EINVAL, "--store: required (sqlite:PATH or postgres://...)");
    if (!o->state_file)
        return log_error_errno(EINVAL, "--state: required (the file --setup writes)");
    if (!o->op_set)
        return log_error_errno(EINVAL, "--op: required");
    if (o->setup && o->seconds > 0)
        return log_error_errno(EINVAL, "--seconds: not with --setup (setup is never timed)");
    if (!o->setup && o->seconds == 0)
        return log_error_errno(EINVAL, "--seconds: required for a timed run (or give --setup)");
    if (o->spread && (o->setup || o->op != OP_CREATE_APP))
        return log_error_errno(EINVAL, "--spread: only for a timed run of --op create_app");
    return 0;
}

static int64_t
clock_nsec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the operations, as the handlers run them ---- */

/* An app as apps_create() stores it for the body bench/api posts: optional fields at their
 * defaults, nothing whitelisted nor pending. */
static int
app_object(const char *acct_id, const char *app_id, const char *name, const char *now,
           json_t **ret_app)
{
    json_t *app = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:i, s:[], s:[], s:n, s:{}, s:{}, s:s, "
        "s:s}",
        "app_id", app_id, "acct_id", acct_id, "name", name, "description", "", "input_image_name",
        "in:1", "output_image_name", "out:1", "isvprodid", 1, "isvsvn", 1, "mem_size",
        (json_int_t)(INT64_C(1) << 30), "threads", 128, "allowed_domains", "whitelisted_domains",
        "pending_task_id", "labels", "advanced_settings", "created_at", now, "updated_at", now);

    if (!app)
        return -ENOMEM;
    *ret_app = app;
    return 0;
}

/* api_audit(): an event on the account's chain by a user. */
static int
audit_user_event(struct store *store, const char *acct_id, const struct bench_user *user,
                 const char *now, const char *action_type, const char *entity_type,
                 const char *entity_id, const char *message)
{
    return audit_append(store, &(struct audit_event){
                                   .chain = acct_id,
                                   .time = now,
                                   .actor_type = "USER",
                                   .actor_id = user->user_id,
                                   .actor_name = user->email,
                                   .action_type = action_type,
                                   .severity = "INFO",
                                   .message = message,
                                   .entity_type = entity_type,
                                   .entity_id = entity_id,
                               });
}

/* The router's write transaction: begin, then the scope lock of the request's account. */
static int
begin_write(struct store *store, const char *acct_id)
{
    int r = store_begin(store, STORE_TXN_WRITE);

    if (r < 0)
        return r;
    r = store_lock_scope(store, acct_id);
    if (r < 0)
        store_rollback(store);
    return r;
}

/* Commits what body did, or rolls it back when it failed (router.c run_route()). */
static int
finish(struct store *store, int r)
{
    if (r < 0) {
        store_rollback(store);
        return r;
    }
    return store_commit(store);
}

/* POST /v1/apps (apps_create): insert, audit, re-read for the reply. */
static int
op_create_app(struct bench_worker *w)
{
    _cleanup_(json_decrefp) json_t *app = NULL, *reply = NULL;
    const struct bench_user *user = &w->state->users[0];
    char app_id[BENCH_ID_LEN], name[64], message[128], now[32];
    int r;

    time_now_rfc3339(now);
    r = uuid_random(app_id);
    if (r < 0)
        return r;
    snprintf(name, sizeof(name), "bench-%zu-%" PRId64, w->index, w->counter++);
    r = app_object(w->acct_id, app_id, name, now, &app);
    if (r < 0)
        return r;
    snprintf(message, sizeof(message), "Created app '%s'", name);

    r = begin_write(w->store, w->acct_id);
    if (r < 0)
        return r;
    r = store_app_insert(w->store, w->acct_id, app);
    if (r >= 0)
        r = audit_user_event(w->store, w->acct_id, user, now, "ADMIN", "app", app_id, message);
    if (r >= 0)
        r = store_app_get(w->store, w->acct_id, app_id, false, &reply);
    return finish(w->store, r);
}

/* GET /v1/apps?limit=20 (apps_list): the count and the newest page. */
static int
op_list_apps(struct bench_worker *w)
{
    const struct list_params p = {
        .limit = BENCH_LIST_LIMIT,
        .sort_key = "created_at",
        .sort_desc = true,
    };
    struct list_page page = { .items = NULL };
    int r;

    r = store_begin(w->store, STORE_TXN_READ);
    if (r < 0)
        return r;
    r = store_app_list(w->store, w->acct_id, NULL, &p, &page);
    /* A page of another size means the setup is not what the numbers claim to measure. */
    if (r >= 0 && (page.total != w->state->apps || json_array_size(page.items) != BENCH_LIST_LIMIT))
        r = -EBADMSG;
    json_decref(page.items);
    return finish(w->store, r);
}

/* PATCH /v1/tasks/{id} {"status":"APPROVED"} (tasks_vote, task_tally, task_complete) on a
 * BUILD_WHITELIST task: the first of its two votes counts 1 of 2, the second ends the task and
 * whitelists the build. */
static int
op_approve_task(struct bench_worker *w)
{
    _cleanup_(json_decrefp) json_t *task = NULL, *reply = NULL;
    size_t vote_index = (size_t)(w->counter % BENCH_USERS);
    const struct bench_user *user = &w->state->users[vote_index];
    const char *task_id, *task_type, *entity_id, *entity_name;
    int64_t approvals = 0, required = 0;
    char message[512], now[32];
    int r;

    if ((size_t)(w->counter / BENCH_USERS) >= w->n_tasks)
        return -ENOSPC;
    task_id = w->tasks[w->counter / BENCH_USERS];
    w->counter++;
    time_now_rfc3339(now);

    r = begin_write(w->store, w->acct_id);
    if (r < 0)
        return r;
    r = store_task_lock(w->store, w->acct_id, task_id, &task);
    if (r >= 0 &&
        strcmp(json_string_value(json_object_get(task, "status")), TASK_STATUS_INPROGRESS) != 0)
        r = -ESTALE; /* the handler's 409: this run would measure a refusal */
    if (r >= 0)
        r = store_task_vote_insert(w->store, &(struct task_vote){
                                                 .task_id = task_id,
                                                 .user_id = user->user_id,
                                                 .user_name = user->name,
                                                 .status = VOTE_APPROVED,
                                                 .now = now,
                                             });
    if (r >= 0)
        r = store_task_count_approvals(w->store, w->acct_id, task_id, &approvals);
    if (r >= 0)
        r = store_task_approvals_required(w->store, w->acct_id, &required);
    if (r >= 0 && (approvals != (int64_t)vote_index + 1 || required != BENCH_APPROVALS_REQUIRED))
        r = -EBADMSG;
    if (r < 0)
        return finish(w->store, r);
    task_type = json_string_value(json_object_get(task, "task_type"));
    entity_id = json_string_value(json_object_get(task, "entity_id"));
    entity_name = json_string_value(json_object_get(task, "entity_name"));
    snprintf(message, sizeof(message),
             "%s approved task %s of '%s' (%" PRId64 " of %" PRId64 " approvals)", user->name,
             task_type, entity_name, approvals, required);
    r = audit_user_event(w->store, w->acct_id, user, now, "USER_APPROVAL", "task", task_id,
                         message);
    if (r >= 0 && approvals >= required) {
        r = store_task_finish(w->store, w->acct_id, task_id, TASK_STATUS_SUCCESS, NULL, now);
        if (r >= 0)
            r = store_build_set_status(w->store, w->acct_id, entity_id, BUILD_STATUS_WHITELISTED,
                                       now);
        if (r >= 0)
            r = store_task_clear_entity_pending(w->store, w->acct_id, task_type, entity_id,
                                                task_id);
        snprintf(message, sizeof(message), "Task %s of '%s' succeeded: approved by quorum",
                 task_type, entity_name);
        if (r >= 0)
            r = audit_user_event(w->store, w->acct_id, user, now, "USER_APPROVAL", "task", task_id,
                                 message);
    }
    if (r >= 0)
        r = store_task_get(w->store, w->acct_id, task_id, &reply);
    return finish(w->store, r);
}

/* One audit event in its own write transaction (what every write request adds to its own). */
static int
op_append_event(struct bench_worker *w)
{
    char message[64], now[32];
    int r;

    time_now_rfc3339(now);
    snprintf(message, sizeof(message), "Bench event %zu-%" PRId64, w->index, w->counter++);
    r = begin_write(w->store, w->acct_id);
    if (r < 0)
        return r;
    r = audit_user_event(w->store, w->acct_id, &w->state->users[0], now, "ADMIN", NULL, NULL,
                         message);
    return finish(w->store, r);
}

static int (*const op_functions[N_OPS])(struct bench_worker *w) = {
    [OP_CREATE_APP] = op_create_app,
    [OP_LIST_APPS] = op_list_apps,
    [OP_APPROVE_TASK] = op_approve_task,
    [OP_APPEND_EVENT] = op_append_event,
};

/* ---- setup ---- */

static int
setup_users(struct store *store, struct bench_state *state, const char *now)
{
    int r;

    for (size_t i = 0; i < BENCH_USERS; i++) {
        struct bench_user *u = &state->users[i];

        r = uuid_random(u->user_id);
        if (r < 0)
            return r;
        snprintf(u->email, sizeof(u->email), "bench-%zu@example.com", i);
        snprintf(u->name, sizeof(u->name), "Bench Approver%zu", i);
        r = store_user_insert(store, &(struct user_record){
                                         .user_id = u->user_id,
                                         .user_email = u->email,
                                         .password_hash = "not-a-password-hash",
                                         .first_name = "Bench",
                                         .last_name = u->name + strlen("Bench "),
                                         .created_at = now,
                                     });
        if (r < 0)
            return r;
    }
    state->n_users = BENCH_USERS;
    return 0;
}

/* accounts_create(): the account, its MANAGERs (both approvers) and the first event. */
static int
setup_accounts(struct store *store, struct bench_state *state, size_t n, const char *now)
{
    int r;

    for (size_t i = 0; i < n; i++) {
        char *acct_id = state->accounts[i], name[32];

        r = uuid_random(acct_id);
        if (r < 0)
            return r;
        snprintf(name, sizeof(name), "bench-%zu", i);
        r = store_account_insert(store, &(struct account_record){
                                            .acct_id = acct_id,
                                            .name = name,
                                            .description = "",
                                            .settings = {
                                                .approvals_required = BENCH_APPROVALS_REQUIRED,
                                                .allow_simulation = true,
                                                .certificate_validity = 7776000,
                                                .renewal_threshold = 30,
                                                .node_refresh_interval = 3600,
                                            },
                                            .now = now,
                                        });
        for (size_t u = 0; r >= 0 && u < BENCH_USERS; u++)
            r = store_member_insert(store, acct_id, state->users[u].user_id, "MANAGER", now);
        if (r >= 0)
            r = audit_user_event(store, acct_id, &state->users[0], now, "ADMIN", "account", acct_id,
                                 "Account created; creator is its MANAGER");
        if (r < 0)
            return r;
    }
    state->n_accounts = n;
    return 0;
}

/* Row i of a setup batch: created_at a millisecond after row i-1, so the list's order is its
 * index order, as if created one by one. */
static void
setup_time(int64_t i, char out[32])
{
    time_format_rfc3339(BENCH_SETUP_TIME_MS + i, out);
}

static int
setup_app(struct store *store, const char *acct_id, int64_t i, char ret_app_id[BENCH_ID_LEN])
{
    _cleanup_(json_decrefp) json_t *app = NULL;
    char app_id[BENCH_ID_LEN], name[32], now[32];
    int r;

    r = uuid_random(app_id);
    if (r < 0)
        return r;
    snprintf(name, sizeof(name), "app-%06" PRId64, i);
    setup_time(i, now);
    r = app_object(acct_id, app_id, name, now, &app);
    if (r >= 0)
        r = store_app_insert(store, acct_id, app);
    if (r < 0)
        return r;
    if (ret_app_id)
        memcpy(ret_app_id, app_id, BENCH_ID_LEN);
    return 0;
}

/* builds_create() of build i of app_id: the build, its BUILD_WHITELIST task and the link. */
static int
setup_build_task(struct store *store, const struct bench_state *state, const char *app_id,
                 int64_t i)
{
    const char *acct_id = state->accounts[0];
    const struct bench_user *user = &state->users[0];
    char build_id[BENCH_ID_LEN], task_id[BENCH_ID_LEN], mrenclave[SHA256_HEX_LEN + 1];
    char now[32], message[256];
    int r;

    r = uuid_random(build_id);
    if (r >= 0)
        r = uuid_random(task_id);
    if (r < 0)
        return r;
    sha256_hex(build_id, strlen(build_id), mrenclave);
    setup_time(i, now);
    r = store_build_insert(store, &(struct build_new){
                                      .build_id = build_id,
                                      .acct_id = acct_id,
                                      .app_id = app_id,
                                      .docker_image_name = "out:1",
                                      .docker_image_size = -1,
                                      .platform = "sim",
                                      .mrenclave = mrenclave,
                                      .mrsigner = mrenclave,
                                      .isvprodid = 1,
                                      .isvsvn = 1,
                                      .status = BUILD_STATUS_PENDING,
                                      .now = now,
                                  });
    if (r >= 0)
        r = store_task_insert(store, &(struct task_new){
                                         .task_id = task_id,
                                         .acct_id = acct_id,
                                         .task_type = "BUILD_WHITELIST",
                                         .entity_id = build_id,
                                         .entity_name = "bench-app",
                                         .requester_id = user->user_id,
                                         .requester_name = user->name,
                                         .domains_added = "[]",
                                         .domains_removed = "[]",
                                         .now = now,
                                     });
    if (r >= 0)
        r = store_build_set_pending_task(store, acct_id, build_id, task_id);
    snprintf(message, sizeof(message), "Registered build %s (sim) of app 'bench-app'", mrenclave);
    if (r >= 0)
        r = audit_user_event(store, acct_id, user, now, "ADMIN", "build", build_id, message);
    return r;
}

/* Creates rows [0, n) with fn in transactions of BENCH_SETUP_BATCH rows. */
static int
setup_rows(struct store *store, const struct bench_state *state, int64_t n, const char *app_id,
           int (*fn)(struct store *, const struct bench_state *, const char *, int64_t))
{
    int r = 0;

    for (int64_t i = 0; r >= 0 && i < n; i += BENCH_SETUP_BATCH) {
        r = begin_write(store, state->accounts[0]);
        for (int64_t j = i; r >= 0 && j < n && j < i + BENCH_SETUP_BATCH; j++)
            r = fn(store, state, app_id, j);
        if (r >= 0 || store->in_txn)
            r = finish(store, r);
    }
    return r;
}

static int
setup_list_app(struct store *store, const struct bench_state *state, const char *unused, int64_t i)
{
    return setup_app(store, state->accounts[0], i, NULL);
}

static int
state_write(const char *path, const struct bench_state *state)
{
    _cleanup_fclose_ FILE *f = fopen(path, "we");

    if (!f)
        return log_error_errno(errno, "--state: cannot write '%s': %m", path);
    fprintf(f, "op %s\n", op_names[state->op]);
    fprintf(f, "apps %" PRId64 "\n", state->apps);
    for (size_t i = 0; i < state->n_users; i++)
        fprintf(f, "user %s %s\n", state->users[i].user_id, state->users[i].email);
    for (size_t i = 0; i < state->n_accounts; i++)
        fprintf(f, "account %s\n", state->accounts[i]);
    if (fflush(f) != 0 || ferror(f))
        return log_error_errno(EIO, "--state: cannot write '%s'", path);
    return 0;
}

static int
run_setup(const struct bench_options *o)
{
    _cleanup_(store_closep) struct store *store = NULL;
    struct bench_state state = { .op = o->op };
    char now[32], app_id[BENCH_ID_LEN];
    int64_t existing = 0;
    int r;

    r = store_open(o->store_url, &store);
    if (r < 0)
        return log_error_errno(r, "--store: cannot open '%s' (sqlite:PATH or postgres://...): %m",
                               o->store_url);
    r = store_migrate(store);
    if (r < 0)
        return log_error_errno(r, "Cannot migrate store '%s': %m", o->store_url);
    r = store_user_count(store, &existing);
    if (r < 0)
        return log_error_errno(r, "Cannot read store '%s': %m", o->store_url);
    if (existing > 0)
        return log_error_errno(EEXIST, "--store: '%s' is not empty; --setup needs a fresh store",
                               o->store_url);

    time_now_rfc3339(now);
    r = store_begin(store, STORE_TXN_WRITE);
    if (r >= 0)
        r = store_lock_scope(store, AUDIT_SYSTEM_CHAIN);
    if (r >= 0)
        r = setup_users(store, &state, now);
    if (r >= 0)
        r = setup_accounts(store, &state, (size_t)o->procs, now);
    if (r >= 0 && o->op == OP_APPROVE_TASK)
        r = setup_app(store, state.accounts[0], 0, app_id);
    r = finish(store, r);
    if (r < 0)
        return log_error_errno(r, "Setup of users and accounts failed: %m");

    if (o->op == OP_LIST_APPS) {
        r = setup_rows(store, &state, o->apps, NULL, setup_list_app);
        state.apps = o->apps;
    } else if (o->op == OP_APPROVE_TASK)
        r = setup_rows(store, &state, o->tasks, app_id, setup_build_task);
    if (r < 0)
        return log_error_errno(r, "Setup of %s failed: %m", op_names[o->op]);
    return state_write(o->state_file, &state);
}

/* ---- timed run ---- */

static int
state_read(const char *path, struct bench_state *state)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[BENCH_LINE_MAX], a[BENCH_ID_LEN], b[BENCH_EMAIL_MAX];
    unsigned line_no = 0;
    bool has_op = false;

    if (!f)
        return log_error_errno(errno, "--state: cannot read '%s' (run --setup first): %m", path);
    *state = (struct bench_state){ .apps = 0 };
    while (fgets(line, sizeof(line), f)) {
        line_no++;
        if (sscanf(line, "apps %" SCNd64, &state->apps) == 1)
            continue;
        if (sscanf(line, "op %36s", a) == 1 && parse_op(a, &state->op) >= 0) {
            has_op = true;
            continue;
        }
        if (sscanf(line, "user %36s %63s", a, b) == 2 && state->n_users < BENCH_USERS &&
            is_uuid(a)) {
            struct bench_user *u = &state->users[state->n_users];
            snprintf(u->user_id, sizeof(u->user_id), "%s", a);
            snprintf(u->email, sizeof(u->email), "%s", b);
            snprintf(u->name, sizeof(u->name), "Bench Approver%zu", state->n_users++);
            continue;
        }
        if (sscanf(line, "account %36s", a) == 1 && state->n_accounts < BENCH_PROCS_MAX &&
            is_uuid(a)) {
            snprintf(state->accounts[state->n_accounts++], BENCH_ID_LEN, "%s", a);
            continue;
        }
        return log_error_errno(EINVAL, "--state: '%s' line %u is not what --setup writes", path,
                               line_no);
    }
    if (!has_op || state->n_users != BENCH_USERS || state->n_accounts == 0)
        return log_error_errno(EINVAL, "--state: '%s' lacks users or accounts (run --setup)", path);
    return 0;
}

static int
collect_task_id(struct store_rows *rows, void *userdata)
{
    json_t *ids = userdata;

    return json_array_append_new(ids, json_string(store_rows_text(rows, 0))) < 0 ? -ENOMEM : 0;
}

/* This process's share of the pending tasks: every procs-th one from index. */
static int
worker_load_tasks(struct bench_worker *w, size_t procs)
{
    _cleanup_(json_decrefp) json_t *ids = json_array();
    size_t n = 0;
    int r;

    if (!ids)
        return -ENOMEM;
    r = store_begin(w->store, STORE_TXN_READ);
    if (r < 0)
        return r;
    r = store_query_each(w->store,
                         "SELECT task_id FROM tasks WHERE acct_id = ? AND status = ?"
                         " ORDER BY task_id",
                         STORE_ARGS(SV_TEXT(w->acct_id), SV_TEXT(TASK_STATUS_INPROGRESS)),
                         collect_task_id, ids);
    r = finish(w->store, r);
    if (r < 0)
        return r;
    w->tasks = calloc(json_array_size(ids) / procs + 1, sizeof(*w->tasks));
    if (!w->tasks)
        return -ENOMEM;
    for (size_t i = w->index; i < json_array_size(ids); i += procs)
        snprintf(w->tasks[n++], BENCH_ID_LEN, "%s", json_string_value(json_array_get(ids, i)));
    w->n_tasks = n;
    if (n <= BENCH_WARMUP_OPS / BENCH_USERS)
        return log_error_errno(ENOSPC,
                               "approve_task: %zu pending tasks for this process, too few to "
                               "warm up; run --setup with a larger --tasks",
                               n);
    return 0;
}

/* One process before the start: its own connection, its share of the work, a warm-up. */
static int
worker_prepare(const struct bench_options *o, struct bench_worker *w)
{
    int r;

    r = store_open(o->store_url, &w->store);
    if (r < 0)
        return log_error_errno(r, "--store: cannot open '%s' (sqlite:PATH or postgres://...): %m",
                               o->store_url);
    if (o->op == OP_APPROVE_TASK) {
        r = worker_load_tasks(w, (size_t)o->procs);
        if (r == -ENOSPC)
            return r; /* said why */
        if (r < 0)
            return log_error_errno(r, "Cannot read the pending tasks: %m");
    }
    for (int i = 0; i < BENCH_WARMUP_OPS; i++) {
        r = op_functions[o->op](w);
        if (r < 0)
            return log_error_errno(r, "%s failed while warming up: %m", op_names[o->op]);
    }
    return 0;
}

/* Runs the operation until the deadline; the first error stops the process. */
static void
worker_measure(const struct bench_options *o, struct bench_worker *w,
               struct bench_result *ret_result)
{
    int64_t start = clock_nsec(), now = start, deadline = start + o->seconds * 1000000000;
    struct bench_result result = { .error = 0 };

    while (now < deadline) {
        int r = op_functions[o->op](w);
        now = clock_nsec();
        if (r < 0) {
            result.error = r;
            break;
        }
        result.ops++;
    }
    result.nsec = now - start;
    *ret_result = result;
}

/* A forked process: prepare, say 'R'eady (or 'F'ailed), wait for the start, measure, report. */
static _Noreturn void
worker_main(const struct bench_options *o, const struct bench_state *state, size_t index,
            int ready_fd, int go_fd, int results_fd)
{
    struct bench_worker w = {
        .state = state,
        .acct_id = state->accounts[o->spread ? index : 0],
        .index = index,
    };
    struct bench_result result;
    char byte;
    int r;

    r = worker_prepare(o, &w);
    byte = r < 0 ? 'F' : 'R';
    if (write(ready_fd, &byte, 1) != 1 || r < 0)
        _exit(EXIT_FAILURE);
    close(ready_fd); /* so the parent sees EOF, not a hang, if another process dies first */
    if (read(go_fd, &byte, 1) != 0) /* the parent closes it to start everyone at once */
        _exit(EXIT_FAILURE);
    worker_measure(o, &w, &result);
    if (write(results_fd, &result, sizeof(result)) != sizeof(result))
        _exit(EXIT_FAILURE);
    store_close(w.store);
    free(w.tasks);
    _exit(EXIT_SUCCESS);
}

/* Sums the processes' results: 0, -ENOSPC when one ran out of tasks, -EIO when one failed (it
 * says why). */
static int
results_collect(const struct bench_options *o, int results_fd, int64_t *ret_ops, int64_t *ret_nsec,
                double *ret_rate)
{
    int64_t ops = 0, max_nsec = 0;
    double rate = 0;
    int r = 0;

    for (size_t i = 0; i < (size_t)o->procs; i++) {
        struct bench_result result;

        if (read(results_fd, &result, sizeof(result)) != sizeof(result))
            return -EIO; /* a process died: its exit status tells */
        if (result.error == -ENOSPC) {
            log_error("%s ran out of pending tasks after %.1f s: give --setup a larger --tasks",
                      op_names[o->op], (double)result.nsec / 1e9);
            r = r < 0 ? r : -ENOSPC;
        } else if (result.error < 0) {
            log_error_errno(result.error, "%s failed after %" PRId64 " operations: %m",
                            op_names[o->op], result.ops);
            r = -EIO;
        }
        ops += result.ops;
        if (result.nsec > max_nsec)
            max_nsec = result.nsec;
        if (result.nsec > 0)
            rate += (double)result.ops / ((double)result.nsec / 1e9);
    }
    *ret_ops = ops;
    *ret_nsec = max_nsec;
    *ret_rate = rate;
    return r;
}

static int
run_timed(const struct bench_options *o)
{
    struct bench_state state;
    pid_t pids[BENCH_PROCS_MAX];
    size_t started = 0, ready_count = 0;
    int ready[2], go[2], results[2];
    int64_t ops = 0, nsec = 0;
    double rate = 0;
    bool ok = true;
    char byte;
    int r, collected = -EIO;

    r = state_read(o->state_file, &state);
    if (r < 0)
        return r;
    if (o->spread && state.n_accounts < (size_t)o->procs)
        return log_error_errno(EINVAL,
                               "--spread: the state has %zu accounts for %" PRId64
                               " processes; run --setup with --procs %" PRId64,
                               state.n_accounts, o->procs, o->procs);
    if (state.op != o->op)
        return log_error_errno(EINVAL, "--op: the store was set up for %s; run --setup --op %s",
                               op_names[state.op], op_names[o->op]);
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(results, O_CLOEXEC) < 0)
        return log_error_errno(errno, "pipe: %m");
    fflush(NULL);
    for (; started < (size_t)o->procs; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            log_error_errno(errno, "fork: %m");
            ok = false;
            break;
        }
        if (pids[started] == 0) {
            close(go[1]);
            worker_main(o, &state, started, ready[1], go[0], results[1]);
        }
    }
    close(ready[1]);
    close(results[1]);
    close(go[0]);
    /* Every process says 'R' or 'F' once; EOF means one died before it could. */
    for (; ok && ready_count < started; ready_count++)
        ok = read(ready[0], &byte, 1) == 1 && byte == 'R';
    if (!ok)
        for (size_t i = 0; i < started; i++)
            kill(pids[i], SIGTERM); /* ours: they would only wait for the start */
    close(go[1]);                   /* the start */
    if (ok)
        collected = results_collect(o, results[0], &ops, &nsec, &rate);
    for (size_t i = 0; i < started; i++) {
        int status = 0;
        if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != EXIT_SUCCESS)
            ok = false;
    }
    close(ready[0]);
    close(results[0]);
    if (ok && collected == -ENOSPC)
        return -ENOSPC;
    if (!ok || collected < 0)
        return log_error_errno(EIO, "%s: the run failed (see above); no result", op_names[o->op]);
    printf("ops=%" PRId64 " seconds=%.3f ops_per_s=%.1f\n", ops, (double)nsec / 1e9, rate);
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench_options o;
    int r;

    log_setup("bench-store", LOG_LEVEL_INFO, false);
    r = parse_options(argc, argv, &o);
    if (r < 0)
        return EXIT_FAILURE;
    r = o.setup ? run_setup(&o) : run_timed(&o);
    if (r == -ENOSPC)
        return BENCH_EXIT_EXHAUSTED;
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
