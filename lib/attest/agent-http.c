/* A minimal blocking HTTP/1.1 client for the node agent (see agent-http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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
        size_t n = strlen(url + 7);

        if (n > 0 && url[7 + n - 1] == '/')
            n--;
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
    int err = 0;
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
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int
send_all(int fd, const char *data, size_t size, int64_t deadline)
{
    while (size > 0) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        int r;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0)
                return r;
            continue;
        }
        if (n < 0)
            return -errno;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Reads up to size bytes; 0 at end of stream. */
static ssize_t
recv_some(int fd, char *buf, size_t size, int64_t deadline)
{
    for (;;) {
        ssize_t n = recv(fd, buf, size, 0);
        int r;

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
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

/* Splits the status line and headers in buf (head_len bytes, ending in "\r\n\r\n"). */
static int
parse_head(char *buf, size_t head_len, int *ret_status, bool *ret_has_length, size_t *ret_length)
{
    const char *headers, *v;
    size_t count = 0;
    int status;

    buf[head_len - 2] = '\0'; /* keep the last header's "\r\n" */
    if (strncmp(buf, "HTTP/1.1 ", 9) != 0 && strncmp(buf, "HTTP/1.0 ", 9) != 0)
        return -EPROTO;
    if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
        buf[11] > '9' || (buf[12] != ' ' && buf[12] != '\r'))
        return -EPROTO;
    status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
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
    *ret_has_length = count == 1;
    if (count == 1) {
        int r = parse_content_length(v, ret_length);
        if (r < 0)
            return r;
    }
    *ret_status = status;
    return 0;
}

static int
request_text(const struct agent_http_address *a, const char *method, const char *path,
             size_t body_size, char **ret_text, size_t *ret_size)
{
    char *text = NULL;
    int n;

    if (body_size > 0)
        n = asprintf(&text,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Accept: application/json\r\n\r\n",
                     method, path, a->host, body_size);
    else
        n = asprintf(&text,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                     "Content-Length: 0\r\nAccept: application/json\r\n\r\n",
                     method, path, a->host);
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

int
agent_http_request(const struct agent_http_address *address, const char *method, const char *path,
                   const char *body, size_t body_size, int timeout_ms, size_t max_body,
                   struct agent_http_response *ret)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    _cleanup_free_ char *head = NULL, *buf = NULL;
    _cleanup_close_ int fd = -1;
    size_t head_size, used = 0, cap, head_len = 0, length = 0;
    bool has_length = false;
    int status = 0, r;

    if (!address || !method || !path || path[0] != '/' || !ret || (body_size > 0 && !body) ||
        !token_ok(method, 16) || !token_ok(path, AGENT_HTTP_PATH_MAX))
        return -EINVAL;
    r = request_text(address, method, path, body_size, &head, &head_size);
    if (r < 0)
        return r;
    r = connect_deadline(address, deadline, &fd);
    if (r < 0)
        return r;
    r = send_all(fd, head, head_size, deadline);
    if (r < 0)
        return r;
    if (body_size > 0) {
        r = send_all(fd, body, body_size, deadline);
        if (r < 0)
            return r;
    }

    if (max_body > SIZE_MAX - AGENT_HTTP_HEADER_MAX - 1)
        return -EINVAL;
    cap = AGENT_HTTP_HEADER_MAX + max_body + 1;
    buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;

        if (used + 1 >= cap)
            return head_len == 0 ? -EPROTO : -E2BIG;
        n = recv_some(fd, buf + used, cap - 1 - used, deadline);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        if (head_len == 0) {
            char *end = memmem(buf, used, "\r\n\r\n", 4);

            if (!end) {
                if (used > AGENT_HTTP_HEADER_MAX)
                    return -EPROTO;
                continue;
            }
            head_len = (size_t)(end - buf) + 4;
            char saved = buf[head_len - 2];
            r = parse_head(buf, head_len, &status, &has_length, &length);
            if (r < 0)
                return r;
            buf[head_len - 2] = saved;
            if (has_length && length > max_body)
                return -E2BIG;
        }
        if (has_length && used - head_len >= length)
            break;
    }
    if (head_len == 0)
        return -EPROTO;
    if (has_length && used - head_len < length)
        return -EPROTO; /* closed early */
    if (!has_length)
        length = used - head_len;
    if (length > max_body)
        return -E2BIG;

    char *out = malloc(length + 1);
    if (!out)
        return -ENOMEM;
    memcpy(out, buf + head_len, length);
    out[length] = '\0';
    ret->status = status;
    ret->body = out;
    ret->body_size = length;
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
