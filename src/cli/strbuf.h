/* A growable, always NUL-terminated byte string (after git's strbuf).
 *
 * The buffer owns its memory; strbuf_release() frees it and leaves an empty, reusable buffer, so
 * it can be used directly with _cleanup_(strbuf_release). Every add returns 0 or -ENOMEM. */
#pragma once

#include <stddef.h>

#include "cleanup.h"

struct strbuf {
    char *buf;
    size_t len;
    size_t alloc;
};

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void strbuf_release(struct strbuf *sb);
int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) _printf_(2, 3);

/* The contents as a C string; "" for an empty buffer. Borrowed. */
const char *strbuf_str(const struct strbuf *sb);

/* Hands the string to the caller (never NULL unless out of memory) and empties the buffer. */
char *strbuf_detach(struct strbuf *sb);

/* Appends s for display on a terminal: control characters (C0, DEL, C1) and bytes that are not
 * valid UTF-8 become '?', so text from a server cannot drive the terminal. */
int strbuf_add_printable(struct strbuf *sb, const char *s);
