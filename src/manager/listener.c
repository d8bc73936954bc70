#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

#define LISTEN_BACKLOG 1024

static int
split_address(const char *address, char *host, size_t host_size, const char **ret_port)
{
    const char *colon;

    if (address[0] == '[') {
        const char *end = strchr(address, ']');
        if (!end || end[1] != ':' || (size_t)(end - address - 1) >= host_size)
            return -EINVAL;
        snprintf(host, host_size, "%.*s", (int)(end - address - 1), address + 1);
        *ret_port = end + 2;
        return 0;
    }
    colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= host_size)
        return -EINVAL;
    snprintf(host, host_size, "%.*s", (int)(colon - address), address);
    *ret_port = colon + 1;
    return 0;
}

int
listener_open(const char *address, int *ret_fd)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    _cleanup_close_ int fd = -1;
    const char *port;
    char host[256];
    int one = 1, rc;

    if (split_address(address, host, sizeof(host), &port) < 0 || !*port)
        return log_error_errno(EINVAL, "listen: '%s' is not host:port", address);
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        return log_error_errno(EINVAL, "listen: '%s': %s", address, gai_strerror(rc));
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        /* Accepted sockets inherit it: a response must not wait for the client's delayed ACK
         * (Nagle), which costs ~40 ms a request on keep-alive connections. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int err = errno;
        freeaddrinfo(ai);
        return log_error_errno(err, "Cannot listen on %s: %m", address);
    }
    freeaddrinfo(ai);
    *ret_fd = TAKE_FD(fd);
    return 0;
}
