/* JSON text building and the canonical encoding (see json-writer.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"

void
jwbuf_release(struct jwbuf *b)
{
    free(b->data);
    *b = (struct jwbuf){ 0 };
}

static int
reserve(struct jwbuf *b, size_t more)
{
    size_t need;

    if (b->error)
        return b->error;
    if (more > SIZE_MAX - b->size - 1) {
        b->error = -ENOMEM;
        return b->error;
    }
    need = b->size + more + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->error = -ENOMEM;
            return b->error;
        }
        b->data = data;
        b->cap = cap;
    }
    return 0;
}

void
jwbuf_append(struct jwbuf *b, const char *data, size_t size)
{
    if (reserve(b, size) < 0)
        return;
    memcpy(b->data + b->size, data, size);
    b->size += size;
    b->data[b->size] = '\0';
}

void
jwbuf_puts(struct jwbuf *b, const char *s)
{
    jwbuf_append(b, s, strlen(s));
}

void
jwbuf_printf(struct jwbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0) {
        if (!b->error)
            b->error = -ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->size, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->size += (size_t)n;
}

void
jwbuf_string(struct jwbuf *b, const char *s)
{
    jwbuf_append(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;
        char u[8];

        if (c != '\0' && c != '"' && c != '\\' && c >= 0x20)
            continue;
        jwbuf_append(b, run, (size_t)(s - run));
        if (c == '\0')
            break;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            snprintf(u, sizeof(u), "\\u%04x", c);
            esc = u;
        }
        jwbuf_puts(b, esc);
        run = s + 1;
    }
    jwbuf_append(b, "\"", 1);
}

void
jwbuf_key(struct jwbuf *b, const char *key, int first)
{
    if (!first)
        jwbuf_append(b, ",", 1);
    jwbuf_string(b, key);
    jwbuf_append(b, ":", 1);
}

static int
compare_keys(const void *a, const void *b, void *keys)
{
    char **k = keys;
    return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

int
jwbuf_canonical(struct jwbuf *b, const struct jread_value *v, const char *omit_key)
{
    int r;

    switch (v->type) {
    case JREAD_NULL:
        jwbuf_puts(b, "null");
        break;
    case JREAD_BOOL:
        jwbuf_puts(b, v->boolean ? "true" : "false");
        break;
    case JREAD_INT:
        jwbuf_printf(b, "%" PRId64, v->integer);
        break;
    case JREAD_NUMBER:
        return -EDOM;
    case JREAD_STRING:
        jwbuf_string(b, v->string);
        break;
    case JREAD_ARRAY:
        jwbuf_append(b, "[", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (i > 0)
                jwbuf_append(b, ",", 1);
            r = jwbuf_canonical(b, v->items[i], NULL);
            if (r < 0)
                return r;
        }
        jwbuf_append(b, "]", 1);
        break;
    case JREAD_OBJECT: {
        /* strcmp orders UTF-8 by code point; keys are unique (the reader refuses duplicates). */
        _cleanup_free_ size_t *order = calloc(v->n ? v->n : 1, sizeof(size_t));
        if (!order)
            return -ENOMEM;
        for (size_t i = 0; i < v->n; i++)
            order[i] = i;
        qsort_r(order, v->n, sizeof(size_t), compare_keys, v->keys);
        jwbuf_append(b, "{", 1);
        for (size_t i = 0, written = 0; i < v->n; i++) {
            if (omit_key && strcmp(v->keys[order[i]], omit_key) == 0)
                continue;
            jwbuf_key(b, v->keys[order[i]], written++ == 0);
            r = jwbuf_canonical(b, v->items[order[i]], NULL);
            if (r < 0)
                return r;
        }
        jwbuf_append(b, "}", 1);
        break;
    }
    }
    return b->error;
}
