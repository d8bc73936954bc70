/* The agent client's kept keep-alive connection (lib/attest/agent-http.c, agent-client.c)
 * against real sockets: a small threaded HTTP server in this file counts the connections it
 * accepts and the requests it reads, and misbehaves on purpose (closes without saying so, says
 * "Connection: close" but stays open, drops a request unanswered, answers half, stalls, sends
 * what nobody asked for). */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <attest/agent.h>
#include <attest/evidence.h>

#include "agent-http.h"
#include "test.h"

enum serve_mode {
    SERVE_KEEP,         /* keep-alive, any number of requests per connection */
    SERVE_SILENT_CLOSE, /* closes after each reply without a "Connection: close" */
    SERVE_SAY_CLOSE,    /* replies "Connection: close" but keeps serving the connection */
    SERVE_DROP_FIRST,   /* reads each connection's first request and closes unanswered */
    SERVE_DROP_SECOND,  /* the second request: read, then closed unanswered (an idle close race) */
    SERVE_HALF_SECOND,  /* the second request: a status line, then closed */
    SERVE_STALL_SECOND, /* the second request: read and never answered */
    SERVE_SLAM,         /* closes each connection as soon as it is accepted */
    SERVE_UNASKED,      /* after the first reply, a second one nobody asked for (a 408) */
};

#define CONN_MAX 256

struct server {
    int fd;
    char url[160];
    char dir[64]; /* the Unix socket's directory, if any */
    enum serve_mode mode;
    int accepted;         /* atomic */
    int requests;         /* atomic: complete requests read */
    int client_closed;    /* atomic: connections the client closed (end of stream while idle) */
    pthread_mutex_t lock; /* last_request */
    char last_request[4096];
    pthread_t thread;
    pthread_t conns[CONN_MAX];
    size_t n_conns;
};

struct conn {
    struct server *s;
    int fd;
};

static int
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void
send_text(int fd, const char *text, size_t size)
{
    while (size > 0) {
        ssize_t n = send(fd, text, size, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        text += n;
        size -= (size_t)n;
    }
}

/* Reads one request (head and Content-Length body) into buf, which may hold the start already;
 * returns its length, 0 at end of stream or on error. */
static size_t
read_request(int fd, char *buf, size_t cap, size_t *used)
{
    for (;;) {
        char *end = memmem(buf, *used, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - buf) + 4, body = 0;
            char *cl = memmem(buf, head, "Content-Length: ", 16);
            if (cl)
                body = strtoul(cl + 16, NULL, 10);
            if (*used >= head + body)
                return head + body;
        }
        if (*used + 1 >= cap)
            return 0;
        ssize_t n = recv(fd, buf + *used, cap - 1 - *used, 0);
        if (n <= 0)
            return 0;
        *used += (size_t)n;
        buf[*used] = '\0';
    }
}

/* The reply to one request, chosen by its path; the mode adds "Connection: close". */
static void
reply(struct server *s, int fd, const char *request)
{
    static const char chunked[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    static const char no_content[] = "HTTP/1.1 204 No Content\r\n\r\n";
    static const char extra[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}XX";
    char body[6000], text[8192], id[160] = "";
    const char *path = strchr(request, ' ') + 1;
    const char *canned = NULL;

    if (strncmp(path, "/chunked ", 9) == 0)
        canned = chunked;
    else if (strncmp(path, "/204 ", 5) == 0)
        canned = no_content;
    else if (strncmp(path, "/extra ", 7) == 0)
        canned = extra;
    if (canned) {
        send_text(fd, canned, strlen(canned));
        return;
    }
    if (strncmp(path, "/v1/challenge ", 14) == 0)
        snprintf(body, sizeof(body), "{\"nonce\":\"n-%d\",\"expires_at\":\"2026-12-04T15:00:00Z\"}",
                 __atomic_load_n(&s->requests, __ATOMIC_SEQ_CST));
    else if (strncmp(path, "/v1/sim/quote ", 14) == 0)
        snprintf(body, sizeof(body), "{\"evidence\":{\"type\":\"sim\",\"data\":\"AAECAw==\"}}");
    else if (strncmp(path, "/v1/certificate/issue ", 22) == 0)
        snprintf(body, sizeof(body), "{\"task_id\":\"t-1\",\"task_status\":\"SUCCESS\"}");
    else if (sscanf(path, "/v1/certificate/result/%150[A-Za-z0-9_-] ", id) == 1)
        snprintf(body, sizeof(body), "{\"task_id\":\"%s\",\"task_status\":\"INPROGRESS\"}", id);
    else if (strncmp(path, "/big ", 5) == 0) {
        memset(body, 'x', 5000);
        body[5000] = '\0';
    } else
        snprintf(body, sizeof(body), "{}");
    int n = snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n%s",
                     strlen(body), s->mode == SERVE_SAY_CLOSE ? "Connection: close\r\n" : "", body);
    send_text(fd, text, (size_t)n);
}

/* What the mode does with a connection's request number nth (1-based); false: stop serving. */
static bool
serve_one(struct server *s, int fd, unsigned nth, const char *request)
{
    if (s->mode == SERVE_DROP_FIRST && nth == 1)
        return false;
    if (s->mode == SERVE_DROP_SECOND && nth == 2)
        return false;
    if (s->mode == SERVE_HALF_SECOND && nth == 2) {
        send_text(fd, "HTTP/1.1 200 OK\r\n", 17);
        return false;
    }
    if (s->mode == SERVE_STALL_SECOND && nth == 2) {
        char c;
        (void)recv(fd, &c, 1, 0); /* until the client gives up and closes */
        return false;
    }
    reply(s, fd, request);
    if (s->mode == SERVE_UNASKED && nth == 1) {
        static const char timeout[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n";

        nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
        send_text(fd, timeout, strlen(timeout));
    }
    return s->mode != SERVE_SILENT_CLOSE;
}

static void *
serve_conn(void *arg)
{
    struct conn *c = arg;
    struct server *s = c->s;
    size_t cap = 1 << 16, used = 0, len;
    char *buf = malloc(cap);
    unsigned nth = 0;

    for (; buf && s->mode != SERVE_SLAM;) {
        len = read_request(c->fd, buf, cap, &used);
        if (len == 0) {
            if (used == 0)
                __atomic_add_fetch(&s->client_closed, 1, __ATOMIC_SEQ_CST);
            break;
        }
        __atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&s->lock);
        snprintf(s->last_request, sizeof(s->last_request), "%.*s", (int)len, buf);
        pthread_mutex_unlock(&s->lock);
        if (!serve_one(s, c->fd, ++nth, buf))
            break;
        memmove(buf, buf + len, used - len);
        used -= len;
    }
    free(buf);
    close(c->fd);
    free(c);
    return NULL;
}

static void *
serve(void *arg)
{
    struct server *s = arg;

    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        struct timeval tv = { .tv_sec = 10 };
        struct conn *c;

        if (fd < 0)
            return NULL; /* shut down */
        __atomic_add_fetch(&s->accepted, 1, __ATOMIC_SEQ_CST);
        /* A server thread never outlives a broken test by long. */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        c = malloc(sizeof(*c));
        if (!c || s->n_conns == CONN_MAX) {
            free(c);
            close(fd);
            continue;
        }
        *c = (struct conn){ s, fd };
        if (pthread_create(&s->conns[s->n_conns], NULL, serve_conn, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        s->n_conns++;
    }
}

static void
server_start(struct server *s, enum serve_mode mode, bool unix_socket)
{
    *s = (struct server){ .mode = mode };
    pthread_mutex_init(&s->lock, NULL);
    if (unix_socket) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        snprintf(s->dir, sizeof(s->dir), "/tmp/test-attest-agent-XXXXXX");
        CHECK(mkdtemp(s->dir));
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/agent.sock", s->dir);
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(s->fd >= 0);
        CHECK_EQ_INT(bind(s->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        snprintf(s->url, sizeof(s->url), "unix:%s", sun.sun_path);
    } else {
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sin);

        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(s->fd >= 0);
        CHECK_EQ_INT(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        CHECK_EQ_INT(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
        snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", ntohs(sin.sin_port));
    }
    CHECK_EQ_INT(listen(s->fd, 64), 0);
    CHECK_EQ_INT(pthread_create(&s->thread, NULL, serve, s), 0);
}

/* Stops accepting and waits for every connection thread: they end when the client closes. */
static void
server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->n_conns; i++)
        pthread_join(s->conns[i], NULL);
    close(s->fd);
    if (s->dir[0]) {
        char path[128];
        snprintf(path, sizeof(path), "%s/agent.sock", s->dir);
        unlink(path);
        rmdir(s->dir);
    }
    pthread_mutex_destroy(&s->lock);
}

static int
counter(int *c)
{
    return __atomic_load_n(c, __ATOMIC_SEQ_CST);
}

/* Waits up to 3 s for *c to reach want (a server thread counts asynchronously). */
static int
counter_wait(int *c, int want)
{
    for (int i = 0; i < 300 && counter(c) < want; i++)
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
    return counter(c);
}

static bool
last_request_has(struct server *s, const char *text)
{
    bool found;

    pthread_mutex_lock(&s->lock);
    found = strstr(s->last_request, text) != NULL;
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* challenge → sim quote → issue → result on one handle, as cloister-init and issue-load do. */
static void
issuance_round(struct attest_agent *agent)
{
    struct attest_sim_quote_request req = { .isvprodid = 1, .isvsvn = 1 };
    struct attest_agent_error e = { 0 };
    struct attest_evidence *evidence = NULL;
    struct attest_agent_task *task = NULL;
    char *nonce = NULL;

    CHECK_EQ_INT(attest_agent_challenge(agent, &nonce, NULL, &e), 0);
    CHECK_EQ_INT(attest_agent_sim_quote(agent, &req, &evidence, &e), 0);
    CHECK_EQ_INT(attest_agent_issue(agent, "CSR", evidence, nonce, NULL, &task, &e), 0);
    CHECK_EQ_INT(task->status, ATTEST_TASK_SUCCESS);
    attest_agent_task_free(task);
    CHECK_EQ_INT(attest_agent_result(agent, "t-1", &task, &e), 0);
    CHECK_EQ_INT(task->status, ATTEST_TASK_INPROGRESS);
    attest_agent_task_free(task);
    attest_evidence_free(evidence);
    free(nonce);
}

static void
check_reuse(bool unix_socket)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct server s;

    server_start(&s, SERVE_KEEP, unix_socket);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    issuance_round(agent);
    CHECK_EQ_INT(counter(&s.requests), 4);
    CHECK_EQ_INT(counter(&s.accepted), 1);
    CHECK(last_request_has(&s, "Connection: keep-alive\r\n"));
    issuance_round(agent);
    CHECK_EQ_INT(counter(&s.requests), 8);
    CHECK_EQ_INT(counter(&s.accepted), 1);
    /* attest_agent_free closes the kept connection: the server sees the end of the stream. */
    CHECK_EQ_INT(counter(&s.client_closed), 0);
    attest_agent_free(agent);
    CHECK_EQ_INT(counter_wait(&s.client_closed, 1), 1);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

TEST(test_reuse_tcp)
{
    check_reuse(false);
}

TEST(test_reuse_unix)
{
    check_reuse(true);
}

/* The server closes after each reply without saying so: each request finds the connection
 * closed (or, racing the close, is sent again on a new one); every call succeeds. */
TEST(test_server_closes_silently)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct server s;

    server_start(&s, SERVE_SILENT_CLOSE, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    issuance_round(agent);
    CHECK_EQ_INT(counter(&s.requests), 4);
    CHECK_EQ_INT(counter(&s.accepted), 4);
    attest_agent_free(agent);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* "Connection: close" is obeyed even when the server would in fact go on. */
TEST(test_server_says_close)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct server s;

    server_start(&s, SERVE_SAY_CLOSE, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    issuance_round(agent);
    CHECK_EQ_INT(counter(&s.requests), 4);
    CHECK_EQ_INT(counter(&s.accepted), 4);
    attest_agent_free(agent);
    CHECK_EQ_INT(counter_wait(&s.client_closed, 4), 4);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* A request the server read on a reused connection and dropped without a byte of answer (what
 * an idle close racing the request looks like) is sent once more on a new connection. */
TEST(test_retry_unanswered_on_reused)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    struct attest_agent_error e = { 0 };
    struct server s;

    server_start(&s, SERVE_DROP_SECOND, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    CHECK_EQ_INT(attest_agent_result(agent, "a", &task, &e), 0);
    CHECK_EQ_STR(task->task_id, "a");
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(counter(&s.accepted), 1);
    CHECK_EQ_INT(attest_agent_result(agent, "b", &task, &e), 0);
    CHECK_EQ_STR(task->task_id, "b");
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(counter(&s.accepted), 2);
    CHECK_EQ_INT(counter(&s.requests), 3); /* b twice */
    attest_agent_free(agent);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* Never retried: a request whose answer had begun, or one on a fresh connection. */
TEST(test_no_retry_after_answer_or_on_fresh)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    struct attest_agent_error e = { 0 };
    struct server s;

    server_start(&s, SERVE_HALF_SECOND, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    CHECK_EQ_INT(attest_agent_result(agent, "a", &task, &e), 0);
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(attest_agent_result(agent, "b", &task, &e), -EPROTO);
    CHECK_EQ_INT(counter(&s.accepted), 1);
    CHECK_EQ_INT(counter(&s.requests), 2);
    /* The broken connection was dropped: the next call makes a new one. */
    CHECK_EQ_INT(attest_agent_result(agent, "c", &task, &e), 0);
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(counter(&s.accepted), 2);
    attest_agent_free(agent);
    server_stop(&s);

    server_start(&s, SERVE_DROP_FIRST, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    CHECK_EQ_INT(attest_agent_result(agent, "a", &task, &e), -EPROTO);
    CHECK_EQ_INT(counter(&s.accepted), 1);
    CHECK_EQ_INT(counter(&s.requests), 1);
    attest_agent_free(agent);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* A timeout on a reused connection is the caller's deadline: no retry, the connection goes. */
TEST(test_timeout_not_retried)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    struct attest_agent_error e = { 0 };
    struct server s;

    server_start(&s, SERVE_STALL_SECOND, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    CHECK_EQ_INT(attest_agent_set_timeout(agent, 300), 0);
    CHECK_EQ_INT(attest_agent_result(agent, "a", &task, &e), 0);
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(attest_agent_result(agent, "b", &task, &e), -ETIMEDOUT);
    CHECK_EQ_INT(counter(&s.accepted), 1);
    CHECK_EQ_INT(counter(&s.requests), 2);
    attest_agent_free(agent);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* Replies that leave the connection in doubt close it; 204 has no body even on a kept one. */
TEST(test_unusual_replies_not_reused)
{
    static const struct {
        const char *path;
        int r;
        bool kept;
    } cases[] = {
        { "/ok", 0, true },        { "/chunked", -EPROTO, false }, { "/ok", 0, true },
        { "/big", -E2BIG, false }, { "/extra", 0, false },         { "/204", 0, true },
        { "/ok", 0, true },
    };
    int fds = count_fds(), connections = 0;
    struct agent_http_conn conn = AGENT_HTTP_CONN_INIT;
    struct agent_http_address *a = NULL;
    struct server s;
    bool kept = false;

    server_start(&s, SERVE_KEEP, false);
    CHECK_EQ_INT(agent_http_address_parse(s.url, &a), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_http_response resp = { 0 };
        int r = agent_http_request_keep(a, &conn, "GET", cases[i].path, NULL, 0, 2000, 1024, &resp);

        if (!kept)
            connections++;
        if (r != cases[i].r)
            fprintf(stderr, "  %s: %d\n", cases[i].path, r);
        CHECK_EQ_INT(r, cases[i].r);
        CHECK_EQ_INT(conn.fd >= 0, cases[i].kept);
        CHECK_EQ_INT(counter(&s.accepted), connections);
        if (r == 0 && strcmp(cases[i].path, "/204") == 0) {
            CHECK_EQ_INT(resp.status, 204);
            CHECK_EQ_INT(resp.body_size, 0);
        }
        if (r == 0 && strcmp(cases[i].path, "/extra") == 0)
            CHECK_EQ_STR(resp.body, "{}");
        agent_http_response_release(&resp);
        kept = cases[i].kept;
    }
    agent_http_conn_close(&conn);
    CHECK_EQ_INT(conn.fd, -1);
    agent_http_address_free(a);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* Bytes nobody asked for on an idle connection put it in an unknown state: it is not used. */
TEST(test_unasked_bytes_not_taken_for_a_reply)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    struct attest_agent_error e = { 0 };
    struct server s;

    server_start(&s, SERVE_UNASKED, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    CHECK_EQ_INT(attest_agent_result(agent, "a", &task, &e), 0);
    task = attest_agent_task_free(task);
    nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
    CHECK_EQ_INT(attest_agent_result(agent, "b", &task, &e), 0);
    CHECK_EQ_STR(task->task_id, "b");
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(counter(&s.accepted), 2);
    attest_agent_free(agent);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

struct worker {
    struct attest_agent *agent;
    int id;
    int failures;
};

static void *
work(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < 50; i++) {
        struct attest_agent_error e = { 0 };
        struct attest_agent_task *task = NULL;
        char id[32];

        snprintf(id, sizeof(id), "w%d-%d", w->id, i);
        if (attest_agent_result(w->agent, id, &task, &e) != 0 || strcmp(task->task_id, id) != 0)
            w->failures++;
        attest_agent_task_free(task);
    }
    return NULL;
}

/* One handle, four threads: every reply reaches the thread that asked; a thread that finds the
 * kept connection taken uses a one-off one ("Connection: close"). */
TEST(test_threads_share_handle)
{
    int fds = count_fds();
    struct attest_agent *agent = NULL;
    struct worker w[4];
    pthread_t t[4];
    struct server s;

    server_start(&s, SERVE_KEEP, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ agent, i, 0 };
        CHECK_EQ_INT(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(w[i].failures, 0);
    }
    CHECK_EQ_INT(counter(&s.requests), 200);
    CHECK(counter(&s.accepted) >= 1 && counter(&s.accepted) <= 200);
    fprintf(stderr, "  4 threads x 50 calls: %d connections\n", counter(&s.accepted));
    attest_agent_free(agent);
    server_stop(&s);
    CHECK_EQ_INT(count_fds(), fds);
}

/* A child made by fork() after a call does not use the parent's connection. */
TEST(test_fork_does_not_share)
{
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    struct attest_agent_error e = { 0 };
    struct server s;
    int status = 0;
    pid_t pid;

    server_start(&s, SERVE_KEEP, false);
    CHECK_EQ_INT(attest_agent_new(s.url, &agent), 0);
    CHECK_EQ_INT(attest_agent_result(agent, "parent", &task, &e), 0);
    task = attest_agent_task_free(task);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int r = attest_agent_result(agent, "child", &task, &e);
        _exit(r == 0 && strcmp(task->task_id, "child") == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(counter(&s.accepted), 2);
    CHECK_EQ_INT(attest_agent_result(agent, "parent-2", &task, &e), 0);
    CHECK_EQ_STR(task->task_id, "parent-2");
    task = attest_agent_task_free(task);
    CHECK_EQ_INT(counter(&s.accepted), 2);
    attest_agent_free(agent);
    server_stop(&s);
}

static volatile sig_atomic_t sigpipes;

static void
on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

/* Sending into a connection the server closed is an error, never a SIGPIPE: 4 MiB cannot all
 * be buffered, so part of it is written after the close. */
TEST(test_no_sigpipe)
{
    struct sigaction sa = { .sa_handler = on_sigpipe }, old;
    size_t size = 4u << 20;
    char *body = malloc(size);
    int fds = count_fds();
    struct agent_http_conn conn = AGENT_HTTP_CONN_INIT;
    struct agent_http_address *a = NULL;
    struct agent_http_response resp = { 0 };
    struct server s;
    int r;

    CHECK(body);
    memset(body, ' ', size);
    CHECK_EQ_INT(sigaction(SIGPIPE, &sa, &old), 0);
    sigpipes = 0;
    server_start(&s, SERVE_SLAM, true);
    CHECK_EQ_INT(agent_http_address_parse(s.url, &a), 0);
    r = agent_http_request(a, "POST", "/x", body, size, 5000, 1024, &resp);
    CHECK(r == -EPIPE || r == -ECONNRESET);
    r = agent_http_request_keep(a, &conn, "POST", "/x", body, size, 5000, 1024, &resp);
    CHECK(r == -EPIPE || r == -ECONNRESET);
    CHECK_EQ_INT(counter(&s.accepted), 2); /* a fresh connection is never retried */
    CHECK_EQ_INT(conn.fd, -1);
    CHECK_EQ_INT(sigpipes, 0);
    CHECK_EQ_INT(sigaction(SIGPIPE, &old, NULL), 0);
    agent_http_address_free(a);
    server_stop(&s);
    free(body);
    CHECK_EQ_INT(count_fds(), fds);
}

TEST_MAIN(TEST_CASE(test_reuse_tcp), TEST_CASE(test_reuse_unix),
          TEST_CASE(test_server_closes_silently), TEST_CASE(test_server_says_close),
          TEST_CASE(test_retry_unanswered_on_reused),
          TEST_CASE(test_no_retry_after_answer_or_on_fresh), TEST_CASE(test_timeout_not_retried),
          TEST_CASE(test_unusual_replies_not_reused),
          TEST_CASE(test_unasked_bytes_not_taken_for_a_reply), TEST_CASE(test_threads_share_handle),
          TEST_CASE(test_fork_does_not_share), TEST_CASE(test_no_sigpipe))
