#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca-service.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#define CHILDREN_MAX 257
#define STOP_TIMEOUT_S 10
#define RESTART_BURST 5     /* restarts of one slot within RESTART_WINDOW_S ... */
#define RESTART_WINDOW_S 10 /* ... before restarts of it slow down to one a second */

enum child_kind { CHILD_WORKER, CHILD_JOBS, CHILD_CA };

struct child {
    enum child_kind kind;
    size_t slot; /* workers and jobs: the index of its socketpair to the CA process */
    pid_t pid;
    time_t window_start;
    int restarts_in_window;
};

struct supervisor {
    struct manager_context *ctx;
    int listen_fd;
    struct child children[CHILDREN_MAX];
    size_t n_children;
    /* One SOCK_SEQPACKET socketpair per worker and for the jobs process: [slot][0] is the
     * client's end, [slot][1] the CA process's. The supervisor keeps both open, so a restarted
     * child gets the same socket (see ca-process.h for why that is safe). */
    int ca_pairs[CHILDREN_MAX][2];
    size_t n_pairs;
    sigset_t blocked;
};

static const char *
child_name(enum child_kind kind)
{
    return kind == CHILD_WORKER ? "Worker" : kind == CHILD_JOBS ? "Jobs process" : "CA process";
}

/* In a new child: keeps only its own end(s) of the CA sockets. */
static void
close_other_ca_fds(struct supervisor *s, const struct child *c)
{
    for (size_t i = 0; i < s->n_pairs; i++) {
        if (c->kind == CHILD_CA || i != c->slot)
            close(s->ca_pairs[i][0]);
        if (c->kind != CHILD_CA)
            close(s->ca_pairs[i][1]);
    }
}

static int
run_child(struct supervisor *s, struct child *c)
{
    int ca_fds[CHILDREN_MAX];

    close_other_ca_fds(s, c);
    switch (c->kind) {
    case CHILD_WORKER:
        s->ctx->ca_fd = s->ca_pairs[c->slot][0];
        return worker_run(s->ctx, s->listen_fd);
    case CHILD_JOBS:
        s->ctx->ca_fd = s->ca_pairs[c->slot][0];
        return jobs_run(s->ctx);
    case CHILD_CA:
        close(s->listen_fd);
        for (size_t i = 0; i < s->n_pairs; i++)
            ca_fds[i] = s->ca_pairs[i][1];
        return ca_service_run(s->ctx, ca_fds, s->n_pairs);
    }
    return EXIT_FAILURE;
}

static pid_t
spawn(struct supervisor *s, struct child *c)
{
    pid_t pid = fork();

    if (pid < 0)
        return log_error_errno(errno, "fork failed: %m");
    if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, &s->blocked, NULL);
        /* exit(), not _exit(): LeakSanitizer checks each child when it ends. */
        exit(run_child(s, c));
    }
    c->pid = pid;
    return pid;
}

/* Restarts a child at once, or after a pause when it keeps dying (a crash loop must not spin). */
static void
restart(struct supervisor *s, struct child *c)
{
    time_t now = time(NULL);

    if (now - c->window_start > RESTART_WINDOW_S) {
        c->window_start = now;
        c->restarts_in_window = 0;
    }
    if (++c->restarts_in_window > RESTART_BURST)
        sleep(1);
    if (s->ctx->metrics)
        atomic_fetch_add(&s->ctx->metrics->child_restarts, 1);
    spawn(s, c);
}

static struct child *
find_child(struct supervisor *s, pid_t pid)
{
    for (size_t i = 0; i < s->n_children; i++)
        if (s->children[i].pid == pid)
            return &s->children[i];
    return NULL;
}

static void
reap(struct supervisor *s, bool stopping)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct child *c = find_child(s, pid);
        if (!c)
            continue;
        c->pid = 0;
        if (stopping)
            continue;
        if (WIFSIGNALED(status))
            log_warning("%s %d killed by signal %d; restarting", child_name(c->kind), (int)pid,
                        WTERMSIG(status));
        else
            log_warning("%s %d exited with status %d; restarting", child_name(c->kind), (int)pid,
                        WEXITSTATUS(status));
        restart(s, c);
    }
}

static size_t
count_alive(struct supervisor *s)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_children; i++)
        n += s->children[i].pid > 0;
    return n;
}

static void
signal_all(struct supervisor *s, int sig)
{
    for (size_t i = 0; i < s->n_children; i++)
        if (s->children[i].pid > 0)
            kill(s->children[i].pid, sig);
}

/* Asks every child to finish, waits, and kills what is left after the timeout. */
static void
stop_all(struct supervisor *s)
{
    struct timespec tick = { 0, 100 * 1000 * 1000 };
    time_t deadline = time(NULL) + STOP_TIMEOUT_S;

    signal_all(s, SIGTERM);
    while (count_alive(s) > 0 && time(NULL) < deadline) {
        sigtimedwait(&s->blocked, NULL, &tick);
        reap(s, true);
    }
    if (count_alive(s) > 0) {
        log_warning("Children still running after %d s; killing them", STOP_TIMEOUT_S);
        signal_all(s, SIGKILL);
        while (count_alive(s) > 0 && waitpid(-1, NULL, 0) > 0)
            reap(s, true);
    }
}

static int
open_ca_pairs(struct supervisor *s, size_t n)
{
    for (; s->n_pairs < n; s->n_pairs++)
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s->ca_pairs[s->n_pairs]) < 0)
            return log_error_errno(errno, "Cannot make a socketpair for the CA process: %m");
    return 0;
}

static void
close_ca_pairs(struct supervisor *s)
{
    for (size_t i = 0; i < s->n_pairs; i++) {
        close(s->ca_pairs[i][0]);
        close(s->ca_pairs[i][1]);
    }
    s->n_pairs = 0;
}

static int
start_children(struct supervisor *s, int workers)
{
    int r;

    /* The CA process first: workers may need it for their first request. */
    s->children[s->n_children++] = (struct child){ .kind = CHILD_CA };
    for (int i = 0; i < workers; i++)
        s->children[s->n_children++] = (struct child){ .kind = CHILD_WORKER, .slot = (size_t)i };
    s->children[s->n_children++] = (struct child){ .kind = CHILD_JOBS, .slot = (size_t)workers };
    r = open_ca_pairs(s, (size_t)workers + 1);
    if (r < 0)
        return r;
    for (size_t i = 0; i < s->n_children; i++)
        if (spawn(s, &s->children[i]) < 0)
            return -EAGAIN;
    return 0;
}

int
supervisor_run(struct manager_context *ctx, int listen_fd)
{
    struct supervisor s = { .ctx = ctx, .listen_fd = listen_fd };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = ctx->config->workers > 0 ? ctx->config->workers : (int)(cores > 0 ? cores : 1);
    siginfo_t info;

    if (workers > CHILDREN_MAX - 2)
        workers = CHILDREN_MAX - 2;
    sigemptyset(&s.blocked);
    sigaddset(&s.blocked, SIGCHLD);
    sigaddset(&s.blocked, SIGTERM);
    sigaddset(&s.blocked, SIGINT);
    sigaddset(&s.blocked, SIGHUP);
    sigprocmask(SIG_BLOCK, &s.blocked, NULL);
    if (start_children(&s, workers) < 0) {
        stop_all(&s);
        close_ca_pairs(&s);
        return EXIT_FAILURE;
    }
    log_info("Serving https://%s with %d workers", ctx->config->listen, workers);
    for (;;) {
        int sig = sigwaitinfo(&s.blocked, &info);
        if (sig == SIGCHLD)
            reap(&s, false);
        else if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    log_info("Stopping");
    stop_all(&s);
    close_ca_pairs(&s);
    log_info("Stopped");
    return EXIT_SUCCESS;
}
