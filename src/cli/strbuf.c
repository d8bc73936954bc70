#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
strbuf_release(struct strbuf *sb)
{
    free(sb->buf);
    *sb = (struct strbuf)STRBUF_INIT;
}

/* Makes room for extra more bytes plus the terminating NUL. */
static int
strbuf_grow(struct strbuf *sb, size_t extra)
{
    size_t need, alloc;
    char *p;

    if (__builtin_add_overflow(sb->len, extra, &need) || __builtin_add_overflow(need, 1, &need))
        return -ENOMEM;
    if (need <= sb->alloc)
        return 0;
    alloc = sb->alloc ? sb->alloc : 64;
    while (alloc < need)
        if (__builtin_mul_overflow(alloc, 2, &alloc))
            return -ENOMEM;
    p = realloc(sb->buf, alloc);
    if (!p)
        return -ENOMEM;
    sb->buf = p;
    sb->alloc = alloc;
    return 0;
}

int
strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    int r = strbuf_grow(sb, len);

    if (r < 0)
        return r;
    if (len > 0)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int
strbuf_adds(struct strbuf *sb, const char *s)
{
    return strbuf_add(sb, s, strlen(s));
}

int
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EOVERFLOW;
    r = strbuf_grow(sb, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
    return 0;
}

const char *
strbuf_str(const struct strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

char *
strbuf_detach(struct strbuf *sb)
{
    char *s;

    if (!sb->buf) {
        if (strbuf_grow(sb, 0) < 0)
            return NULL;
        sb->buf[0] = '\0';
    }
    s = sb->buf;
    *sb = (struct strbuf)STRBUF_INIT;
    return s;
}

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 if p does not start one. */
static size_t
utf8_valid_prefix(const unsigned char *p)
{
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

int
strbuf_add_printable(struct strbuf *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_valid_prefix(p);
        bool c0 = n == 1 && (*p < 0x20 || *p == 0x7f);
        bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
        int r;

        if (n == 0 || c0 || c1) {
            r = strbuf_add(sb, "?", 1);
            n = n ? n : 1;
        } else
            r = strbuf_add(sb, p, n);
        if (r < 0)
            return r;
        p += n;
    }
    return 0;
}
