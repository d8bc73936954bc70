/* The web console's files, embedded at build time by scripts/embed-console from web/console/. */
#pragma once

#include <stddef.h>

struct console_asset {
    const char *path;         /* "/index.html" */
    const char *content_type; /* "text/html; charset=utf-8" */
    const char *etag;         /* strong ETag, quotes included */
    const unsigned char *data;
    size_t size;
    const unsigned char *gzip_data; /* the same bytes gzip-compressed */
    size_t gzip_size;
};

/* Every file, ending with an entry whose path is NULL. */
extern const struct console_asset console_assets[];
