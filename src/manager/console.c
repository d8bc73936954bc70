/* The web console's static files, embedded in the binary (console-assets.c, generated from
 * web/console/ at build time), so that a manager is one file and the console always matches
 * the API it was built with.
 *
 * Caching: every answer carries a strong ETag and "Cache-Control: no-cache", so browsers keep
 * the files and revalidate them with one small 304 per file; a new manager version is picked up
 * at the next load without versioned file names. Files are served gzip-compressed (compressed at
 * build time) to browsers that accept it. */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "cleanup.h"
#include "console-assets.h"
#include "http-headers.h"

#define DISK_FILE_MAX (4 << 20)

/* Only our own files; no inline script or style, no framing, no form posts elsewhere. The
 * console talks to /v1 on the same origin (connect-src 'self'); downloads use blob: URLs. */
#define CONTENT_SECURITY_POLICY                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "               \
    "frame-ancestors 'none'; base-uri 'none'"

void
console_add_security_headers(struct evkeyvalq *headers)
{
    evhttp_add_header(headers, "Content-Security-Policy", CONTENT_SECURITY_POLICY);
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(headers, "X-Frame-Options", "DENY");
    evhttp_add_header(headers, "Referrer-Policy", "no-referrer");
    evhttp_add_header(headers, "Cross-Origin-Opener-Policy", "same-origin");
    evhttp_add_header(headers, "Cross-Origin-Resource-Policy", "same-origin");
    evhttp_add_header(headers, "Permissions-Policy",
                      "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
    evhttp_add_header(headers, "Strict-Transport-Security", "max-age=31536000");
}

static const struct console_asset *
find_asset(const char *path)
{
    for (const struct console_asset *a = console_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

/* The content type of a file the console may hold, by extension; NULL for any other. */
static const char *
content_type(const char *path)
{
    static const char *const types[][2] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".json", "application/json" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < ELEMENTSOF(types); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return NULL;
}

/* Reads directory/path into a struct console_asset (development mode). Only plain files of a
 * known type, by a path without "." segments (so never outside the directory), up to
 * DISK_FILE_MAX bytes. The bytes go to *ret_data (free them); no gzip form. */
static int
read_disk_asset(const char *directory, const char *path, struct console_asset *a,
                unsigned char **ret_data, char etag[64])
{
    char full[2048];
    struct stat st;
    ssize_t n;
    int fd;

    if (strstr(path, "/.") || !(a->content_type = content_type(path)))
        return -ENOENT;
    if (snprintf(full, sizeof(full), "%s%s", directory, path) >= (int)sizeof(full))
        return -ENOENT;
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DISK_FILE_MAX ||
        !(*ret_data = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return -ENOENT;
    }
    n = read(fd, *ret_data, (size_t)st.st_size);
    close(fd);
    if (n != st.st_size) {
        free(*ret_data);
        return -EIO;
    }
    snprintf(etag, 64, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec);
    a->path = path;
    a->etag = etag;
    a->data = *ret_data;
    a->size = (size_t)n;
    return 0;
}

/* Sends one asset with its headers; returns the status. */
static int
send_asset(struct evhttp_request *http, const struct console_asset *asset)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(http);
    struct evkeyvalq *out = evhttp_request_get_output_headers(http);
    const char *encoding;
    struct evbuffer *body;
    bool gzip;

    console_add_security_headers(out);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "ETag", asset->etag);
    evhttp_add_header(out, "Vary", "Accept-Encoding");
    if (header_etag_matches(evhttp_find_header(in, "If-None-Match"), asset->etag)) {
        evhttp_send_reply(http, 304, "Not Modified", NULL);
        return 304;
    }
    encoding = evhttp_find_header(in, "Accept-Encoding");
    gzip = asset->gzip_data && encoding && header_accepts_gzip(encoding);
    evhttp_add_header(out, "Content-Type", asset->content_type);
    if (gzip)
        evhttp_add_header(out, "Content-Encoding", "gzip");
    body = evbuffer_new();
    if (!body) {
        evhttp_send_error(http, 503, NULL);
        return 503;
    }
    if (gzip)
        evbuffer_add(body, asset->gzip_data, asset->gzip_size);
    else
        evbuffer_add(body, asset->data, asset->size);
    evhttp_send_reply(http, 200, "OK", body);
    evbuffer_free(body);
    return 200;
}

int
console_serve(struct evhttp_request *http, const char *path, const char *directory)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(http);
    _cleanup_free_ unsigned char *disk_data = NULL;
    struct console_asset disk = { 0 };
    const struct console_asset *asset;
    char etag[64];

    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD)
        return 0;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (*directory)
        asset = read_disk_asset(directory, path, &disk, &disk_data, etag) == 0 ? &disk : NULL;
    else
        asset = find_asset(path);
    return asset ? send_asset(http, asset) : 0;
}
