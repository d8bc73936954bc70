/* A minimal blocking HTTP/1.1 client for the node agent (see agent-http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent-http.h"
#include "cleanup.h"

struct agent_http_address {
    char *url;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    char host[INET6_ADDRSTRLEN + 16]; /* the Host header */
};

struct agent_http_address *
agent_http_address_free(struct agent_http_address *address)
{
    if (address) {
        free(address->url);
        free(address);
    }
    return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_http_address, agent_http_address_free);

const char *
agent_http_address_url(const struct agent_http_address *address)
{
    return address ? address->url : NULL;
}

static int
parse_port(const char *s, uint16_t *ret_port)
{
    unsigned long v = 0;

    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return -EINVAL;
    }
    if (v == 0)
        return -EINVAL;
    *ret_port = (uint16_t)v;
    return 0;
}

static int
parse_inet(struct agent_http_address *a, const char *hostport)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port;
    uint16_t p;
    size_t n;

    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');

        if (!end || end[1] != ':')
            return -EINVAL;
        n = (size_t)(end - hostport - 1);
        port = end + 2;
        if (n == 0 || n >= sizeof(host))
            return -EINVAL;
        memcpy(host, hostport + 1, n);
        host[n] = '\0';
        if (parse_port(port, &p) < 0)
            return -EINVAL;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -EINVAL;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(p);
        a->sa_len = sizeof(*sin6);
        snprintf(a->host, sizeof(a->host), "[%s]:%u", host, p);
        return 0;
    }
    port = strchr(hostport, ':');
    if (!port)
        return -EINVAL;
    n = (size_t)(port - hostport);
    if (n == 0 || n >= sizeof(host))
        return -EINVAL;
    memcpy(host, hostport, n);
    host[n] = '\0';
    if (parse_port(port + 1, &p) < 0)
        return -EINVAL;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -EINVAL;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(p);
    a->sa_len = sizeof(*sin);
    snprintf(a->host, sizeof(a->host), "%s:%u", host, p);
    return 0;
}

/* The path after HOST:PORT: none, "/", "/v1" or "/v1/". */
static bool
base_path_ok(const char *path)
{
    return strcmp(path, "") == 0 || strcmp(path, "/") == 0 || strcmp(path, "/v1") == 0 ||
           strcmp(path, "/v1/") == 0;
}

int
agent_http_address_parse(const char *url, struct agent_http_address **ret_address)
{
    _cleanup_(agent_http_address_freep) struct agent_http_address *a = NULL;
    int r;

    if (!url || !ret_address)
        return -EINVAL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->url = strdup(url);
    if (!a->url)
        return -ENOMEM;
    if (strncmp(url, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
        const char *path = url + 5;
        size_t n = strlen(path);

        if (path[0] != '/' || n >= sizeof(sun->sun_path))
            return -EINVAL;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, n + 1);
        a->sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        snprintf(a->host, sizeof(a->host), "localhost");
    } else if (strncmp(url, "http://", 7) == 0) {
        char hostport[INET6_ADDRSTRLEN + 16];
        size_t n = strcspn(url + 7, "/");

        /* SPEC 5 gives the base URL as http://IP:9092/v1/; the calls name their /v1/ paths. */
        if (!base_path_ok(url + 7 + n))
            return -EINVAL;
        if (n == 0 || n >= sizeof(hostport))
            return -EINVAL;
        memcpy(hostport, url + 7, n);
        hostport[n] = '\0';
        r = parse_inet(a, hostport);
        if (r < 0)
            return r;
    } else
        return -EINVAL;
    *ret_address = TAKE_PTR(a);
    return 0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes (-ETIMEDOUT). */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int64_t left = deadline - now_ms();
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n > 0)
            return 0;
    }
}

static int
connect_deadline(const struct agent_http_address *a, int64_t deadline, int *ret_fd)
{
    _cleanup_close_ int fd = -1;
    int err = 0, one = 1;
    socklen_t len = sizeof(err);
    int r;

    fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)&a->sa, a->sa_len) < 0) {
        /* EAGAIN on a Unix socket means its backlog is full, not "in progress". */
        if (errno != EINPROGRESS)
            return -errno;
        r = wait_fd(fd, POLLOUT, deadline);
        if (r < 0)
            return r;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        if (err != 0)
            return -err;
    }
    /* A request goes out in one sendmsg(), but one larger than a segment (an issue request over a
     * real network) would have its tail held by Nagle's algorithm until the agent's delayed ACK
     * of the first part: up to 40 ms on a kept connection. Best effort: the request works
     * without it. */
    if (a->sa.ss_family != AF_UNIX)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* Sends the head and the body in as few sendmsg() calls as the socket allows. MSG_NOSIGNAL: a
 * connection the agent closed is -EPIPE here, never a SIGPIPE that kills the caller. */
static int
send_request(int fd, const char *head, size_t head_size, const char *body, size_t body_size,
             int64_t deadline)
{
    struct iovec iov[2] = { { (void *)head, head_size }, { (void *)body, body_size } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = body_size > 0 ? 2 : 1 };

    while (msg.msg_iovlen > 0) {
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        int r;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0)
                return r;
            continue;
        }
        if (n < 0)
            return -errno;
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
            n -= (ssize_t)msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
            msg.msg_iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Reads up to size bytes; 0 at end of stream. wait_first: poll before the first recv(), as
 * right after a request the answer is not there yet (one system call fewer than a recv() that
 * fails with EAGAIN). */
static ssize_t
recv_some(int fd, char *buf, size_t size, int64_t deadline, bool wait_first)
{
    int r;

    if (wait_first) {
        r = wait_fd(fd, POLLIN, deadline);
        if (r < 0)
            return r;
    }
    for (;;) {
        ssize_t n = recv(fd, buf, size, 0);

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        r = wait_fd(fd, POLLIN, deadline);
        if (r < 0)
            return r;
    }
}

/* Finds header name (case-insensitive) in the header block; returns its value or NULL. Values
 * end at "\r\n" and the block is NUL-terminated. Duplicates are reported as -EPROTO by the
 * caller through *ret_count. */
static const char *
header_find(const char *headers, const char *name, size_t *ret_count)
{
    size_t name_len = strlen(name), count = 0;
    const char *found = NULL;

    for (const char *line = headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");

        if (!eol)
            break;
        if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            found = line + name_len + 1;
            while (*found == ' ' || *found == '\t')
                found++;
            count++;
        }
        line = eol + 2;
    }
    *ret_count = count;
    return found;
}

static int
parse_content_length(const char *value, size_t *ret_length)
{
    size_t v = 0;

    if (*value < '0' || *value > '9')
        return -EPROTO;
    for (; *value >= '0' && *value <= '9'; value++) {
        if (v > (SIZE_MAX - 9) / 10)
            return -EPROTO;
        v = v * 10 + (size_t)(*value - '0');
    }
    while (*value == ' ' || *value == '\t')
        value++;
    if (value[0] != '\r' || value[1] != '\n')
        return -EPROTO;
    *ret_length = v;
    return 0;
}

/* Whether a Connection header's value (ending in "\r\n") lists the option "close". */
static bool
connection_says_close(const char *value)
{
    while (*value && *value != '\r') {
        size_t n;

        while (*value == ' ' || *value == '\t' || *value == ',')
            value++;
        n = strcspn(value, " \t,\r");
        if (n == 5 && strncasecmp(value, "close", 5) == 0)
            return true;
        value += n;
    }
    return false;
}

/* Splits the status line and headers in buf (head_len bytes, ending in "\r\n\r\n"). */
static int
parse_head(char *buf, size_t head_len, struct agent_http_reply_head *ret)
{
    const char *headers, *v;
    size_t count = 0;
    bool http11;
    int status;

    buf[head_len - 2] = '\0'; /* keep the last header's "\r\n" */
    http11 = strncmp(buf, "HTTP/1.1 ", 9) == 0;
    if (!http11 && strncmp(buf, "HTTP/1.0 ", 9) != 0)
        return -EPROTO;
    if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
        buf[11] > '9' || (buf[12] != ' ' && buf[12] != '\r'))
        return -EPROTO;
    status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    /* Interim replies: we send no "Expect" and ask for no upgrade. */
    if (status < 200)
        return -EPROTO;
    headers = strstr(buf, "\r\n");
    if (!headers)
        return -EPROTO;
    headers += 2;
    v = header_find(headers, "Transfer-Encoding", &count);
    if (count > 0 && strncasecmp(v, "identity\r\n", 10) != 0)
        return -EPROTO;
    v = header_find(headers, "Content-Length", &count);
    if (count > 1)
        return -EPROTO;
    ret->has_length = count == 1;
    if (count == 1) {
        int r = parse_content_length(v, &ret->length);
        if (r < 0)
            return r;
    }
    /* RFC 9112, 6.3: these end at the blank line whatever the headers say. On a kept connection
     * the server does not close after them, so reading to the end would wait for the deadline. */
    if (status == 204 || status == 304) {
        ret->has_length = true;
        ret->length = 0;
    }
    v = header_find(headers, "Connection", &count);
    ret->keep_alive =
        http11 && ret->has_length && count <= 1 && !(count == 1 && connection_says_close(v));
    ret->status = status;
    return 0;
}

static int
request_text(const struct agent_http_address *a, const char *method, const char *path,
             size_t body_size, bool keep_alive, char **ret_text, size_t *ret_size)
{
    const char *connection = keep_alive ? "keep-alive" : "close";
    char *text = NULL;
    int n;

    if (body_size > 0)
        n = asprintf(&text,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Accept: application/json\r\n\r\n",
                     method, path, a->host, connection, body_size);
    else
        n = asprintf(&text,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: %s\r\n"
                     "Content-Length: 0\r\nAccept: application/json\r\n\r\n",
                     method, path, a->host, connection);
    if (n < 0)
        return -ENOMEM;
    *ret_text = text;
    *ret_size = (size_t)n;
    return 0;
}

static bool
token_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static bool
request_ok(const struct agent_http_address *address, const char *method, const char *path,
           const char *body, size_t body_size, size_t max_body,
           const struct agent_http_response *ret)
{
    return address && method && path && path[0] == '/' && ret && (body_size == 0 || body) &&
           token_ok(method, 16) && token_ok(path, AGENT_HTTP_PATH_MAX) &&
           max_body <= SIZE_MAX - AGENT_HTTP_HEADER_MAX - 1;
}

/* What one attempt (a request and its reply on one connection) got to, for the retry and the
 * keep decisions. */
struct attempt {
    bool sent;     /* the whole request was handed to the kernel */
    bool answered; /* a byte of the reply arrived */
    bool eof;      /* the server closed its end */
    bool reusable; /* the reply ended exactly where its length said and allows another request */
};

#define READ_BUFFER_INITIAL AGENT_HTTP_HEADER_MAX

/* Grows buf to at least need bytes (at least doubling), at most limit (-E2BIG). */
static int
buffer_grow(char **buf, size_t *cap, size_t need, size_t limit)
{
    size_t n = *cap > limit / 2 ? limit : *cap * 2;
    char *p;

    if (need > limit)
        return -E2BIG;
    if (n < need)
        n = need;
    if (n <= *cap)
        return -E2BIG;
    p = realloc(*buf, n);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

int
agent_http_head_parse(char *buf, size_t used, size_t max_body, size_t *head_len,
                      struct agent_http_reply_head *head)
{
    char *end = memmem(buf, used, "\r\n\r\n", 4);
    int r;

    if (!end)
        return used > AGENT_HTTP_HEADER_MAX ? -EPROTO : 0;
    if ((size_t)(end - buf) + 4 > AGENT_HTTP_HEADER_MAX)
        return -EPROTO;
    r = parse_head(buf, (size_t)(end - buf) + 4, head);
    if (r < 0)
        return r;
    if (head->has_length && head->length > max_body)
        return -E2BIG;
    *head_len = (size_t)(end - buf) + 4;
    return 0;
}

/* Reads one reply. With its length known it reads exactly to its end, so that a kept connection
 * holds nothing of it afterwards; without, to the end of the stream. */
static int
read_reply(int fd, int64_t deadline, size_t max_body, struct attempt *att,
           struct agent_http_response *ret)
{
    size_t limit = AGENT_HTTP_HEADER_MAX + max_body + 1; /* request_ok() bounded max_body */
    size_t cap = limit < READ_BUFFER_INITIAL ? limit : READ_BUFFER_INITIAL;
    size_t used = 0, head_len = 0, length;
    struct agent_http_reply_head head = { 0 };
    _cleanup_free_ char *buf = malloc(cap);
    int r;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        size_t want = SIZE_MAX;
        ssize_t n;

        if (head_len > 0 && head.has_length) {
            if (used - head_len >= head.length)
                break;
            want = head_len + head.length - used;
        }
        if (used + 1 >= cap || (want != SIZE_MAX && used + want + 1 > cap)) {
            r = buffer_grow(&buf, &cap, want != SIZE_MAX ? used + want + 1 : cap + 1, limit);
            if (r == -E2BIG && head_len == 0)
                return -EPROTO;
            if (r < 0)
                return r;
        }
        if (want > cap - 1 - used)
            want = cap - 1 - used;
        n = recv_some(fd, buf + used, want, deadline, used == 0);
        if (n < 0)
            return (int)n;
        if (n == 0) {
            att->eof = true;
            break;
        }
        att->answered = true;
        used += (size_t)n;
        buf[used] = '\0';
        if (head_len == 0) {
            r = agent_http_head_parse(buf, used, max_body, &head_len, &head);
            if (r < 0)
                return r;
        }
    }
    if (head_len == 0)
        return -EPROTO; /* closed before a complete head, or without a byte */
    if (head.has_length && used - head_len < head.length)
        return -EPROTO; /* closed early */
    length = head.has_length ? head.length : used - head_len;
    if (length > max_body)
        return -E2BIG;
    att->reusable = head.keep_alive && !att->eof && used == head_len + length;

    memmove(buf, buf + head_len, length);
    buf[length] = '\0';
    ret->status = head.status;
    ret->body = TAKE_PTR(buf);
    ret->body_size = length;
    return 0;
}

static int
exchange(int fd, const char *head, size_t head_size, const char *body, size_t body_size,
         int64_t deadline, size_t max_body, struct attempt *att, struct agent_http_response *ret)
{
    int r = send_request(fd, head, head_size, body, body_size, deadline);

    if (r < 0)
        return r;
    att->sent = true;
    return read_reply(fd, deadline, max_body, att, ret);
}

int
agent_http_request(const struct agent_http_address *address, const char *method, const char *path,
                   const char *body, size_t body_size, int timeout_ms, size_t max_body,
                   struct agent_http_response *ret)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    _cleanup_free_ char *head = NULL;
    _cleanup_close_ int fd = -1;
    struct attempt att = { 0 };
    size_t head_size;
    int r;

    if (!request_ok(address, method, path, body, body_size, max_body, ret))
        return -EINVAL;
    r = request_text(address, method, path, body_size, false, &head, &head_size);
    if (r < 0)
        return r;
    r = connect_deadline(address, deadline, &fd);
    if (r < 0)
        return r;
    return exchange(fd, head, head_size, body, body_size, deadline, max_body, &att, ret);
}

void
agent_http_conn_close(struct agent_http_conn *conn)
{
    if (conn && conn->fd >= 0) {
        close(conn->fd);
        conn->fd = -1;
    }
}

/* Whether conn's connection can carry another request: it is this process's (a child after
 * fork() shares the socket with its parent, and the two would read each other's replies), and
 * the server neither closed it nor sent anything unasked (an unknown state). One recv() that
 * does not wait: cheaper than a request sent into a connection the server already closed. */
static bool
conn_idle(const struct agent_http_conn *conn, pid_t self)
{
    ssize_t n;
    char c;

    if (conn->fd < 0 || conn->pid != self)
        return false;
    n = recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Whether a failed attempt on a reused connection may be sent again on a new one: the server
 * cannot have had the whole request, or it ended the connection without a byte of answer (see
 * agent-http.h for what that does and does not prove). A timeout is never retried: the deadline
 * covers the whole call. */
static bool
attempt_unanswered(int r, const struct attempt *att)
{
    if (r == -ETIMEDOUT || r == -ENOMEM || att->answered)
        return false;
    if (!att->sent)
        return true;
    return att->eof || r == -ECONNRESET || r == -EPIPE || r == -ECONNABORTED || r == -ENOTCONN;
}

int
agent_http_request_keep(const struct agent_http_address *address, struct agent_http_conn *conn,
                        const char *method, const char *path, const char *body, size_t body_size,
                        int timeout_ms, size_t max_body, struct agent_http_response *ret)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    _cleanup_free_ char *head = NULL;
    _cleanup_close_ int fd = -1;
    struct attempt att = { 0 };
    pid_t self = getpid();
    size_t head_size;
    bool reused;
    int r;

    if (!conn || !request_ok(address, method, path, body, body_size, max_body, ret))
        return -EINVAL;
    r = request_text(address, method, path, body_size, true, &head, &head_size);
    if (r < 0)
        return r;
    /* The connection is this call's until the reply is read; it goes back only if reusable. */
    reused = conn_idle(conn, self);
    if (reused)
        fd = TAKE_FD(conn->fd);
    else
        agent_http_conn_close(conn); /* after fork(): our copy only; the parent's stays open */
    if (fd < 0) {
        r = connect_deadline(address, deadline, &fd);
        if (r < 0)
            return r;
    }
    r = exchange(fd, head, head_size, body, body_size, deadline, max_body, &att, ret);
    if (r < 0 && reused && attempt_unanswered(r, &att)) {
        closep(&fd);
        fd = -1;
        att = (struct attempt){ 0 };
        r = connect_deadline(address, deadline, &fd);
        if (r < 0)
            return r;
        r = exchange(fd, head, head_size, body, body_size, deadline, max_body, &att, ret);
    }
    if (r < 0)
        return r;
    if (att.reusable) {
        conn->fd = TAKE_FD(fd);
        conn->pid = self;
    }
    return 0;
}

void
agent_http_response_release(struct agent_http_response *response)
{
    if (!response)
        return;
    free(response->body);
    response->body = NULL;
    response->body_size = 0;
}
