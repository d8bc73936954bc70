/* A very small HTTPS server for end-to-end tests: the "application" that cloister-init starts in
 * a prepared root filesystem. Static, so it runs in a rootfs with nothing else in it.
 *
 *   tiny-https CERT KEY PORT [GREETING]
 *
 * Serves every request on 127.0.0.1:PORT with "200 GREETING\n", using the certificate (with its
 * chain appended) and key that cloister-init wrote. Exits 0 on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
    stopping = 1;
}

static int
listen_on(int port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
        perror("tiny-https: listen");
        exit(1);
    }
    return fd;
}

static void
serve(SSL_CTX *ctx, int fd, const char *greeting)
{
    char request[4096], reply[512];
    SSL *ssl = SSL_new(ctx);
    int n;

    if (!ssl)
        return;
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1 && (n = SSL_read(ssl, request, sizeof(request) - 1)) > 0) {
        n = snprintf(reply, sizeof(reply),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     strlen(greeting) + 1, greeting);
        SSL_write(ssl, reply, n);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
}

static int
parse_port(const char *text)
{
    char *end;
    long port;

    errno = 0;
    port = strtol(text, &end, 10);
    if (errno || end == text || *end || port < 1 || port > 65535) {
        fprintf(stderr, "tiny-https: bad port '%s'\n", text);
        exit(2);
    }
    return (int)port;
}

int
main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_term };
    SSL_CTX *ctx;
    int lfd;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: tiny-https CERT KEY PORT [GREETING]\n");
        return 2;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "tiny-https: cannot use %s and %s\n", argv[1], argv[2]);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    lfd = listen_on(parse_port(argv[3]));
    fprintf(stderr, "tiny-https: serving on 127.0.0.1:%s as uid %d\n", argv[3], (int)getuid());
    while (!stopping) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("tiny-https: accept");
            return 1;
        }
        serve(ctx, fd, argc == 5 ? argv[4] : "hello");
        close(fd);
    }
    SSL_CTX_free(ctx);
    close(lfd);
    return 0;
}
