/* The strict JSON reader (see json-reader.h): recursive descent with an explicit depth bound. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "json-reader.h"

struct parser {
    const char *p;
    const char *start;
    const char *end;
};

struct jread_value *
jread_free(struct jread_value *v)
{
    if (!v)
        return NULL;
    for (size_t i = 0; i < v->n; i++) {
        jread_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
    return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct jread_value, jread_free);

static void
skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int
hex4(const char *s, unsigned *ret)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EBADMSG;
    }
    *ret = v;
    return 0;
}

static size_t
utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (at most left bytes), or 0 if invalid. */
static size_t
utf8_valid(const unsigned char *s, size_t left)
{
    unsigned cp;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int
parse_string(struct parser *ps, char **ret, size_t *ret_len)
{
    _cleanup_free_ char *out = NULL;
    const char *s = ps->p + 1; /* after the quote */
    size_t len = 0;

    /* The decoded string is never longer than its source. */
    for (const char *q = s;; q++) {
        if (q >= ps->end)
            return -EBADMSG;
        if (*q == '\\') {
            q++;
            if (q >= ps->end)
                return -EBADMSG;
            continue;
        }
        if (*q == '"') {
            out = malloc((size_t)(q - s) + 1);
            break;
        }
    }
    if (!out)
        return -ENOMEM;
    while (*s != '"') {
        unsigned char c = (unsigned char)*s;

        if (c < 0x20) {
            ps->p = s;
            return -EBADMSG;
        }
        if (c == '\\') {
            unsigned cp, lo;

            switch (s[1]) {
            case '"':
            case '\\':
            case '/':
                out[len++] = s[1];
                s += 2;
                continue;
            case 'b':
                out[len++] = '\b';
                s += 2;
                continue;
            case 'f':
                out[len++] = '\f';
                s += 2;
                continue;
            case 'n':
                out[len++] = '\n';
                s += 2;
                continue;
            case 'r':
                out[len++] = '\r';
                s += 2;
                continue;
            case 't':
                out[len++] = '\t';
                s += 2;
                continue;
            case 'u':
                break;
            default:
                ps->p = s;
                return -EBADMSG;
            }
            ps->p = s;
            if (ps->end - s < 6 || hex4(s + 2, &cp) < 0)
                return -EBADMSG;
            s += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return -EBADMSG;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (ps->end - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return -EBADMSG;
                s += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0)
                return -EBADMSG;
            len += utf8_put(out + len, cp);
            continue;
        }
        size_t n = utf8_valid((const unsigned char *)s, (size_t)(ps->end - s));
        if (n == 0) {
            ps->p = s;
            return -EBADMSG;
        }
        memcpy(out + len, s, n);
        len += n;
        s += n;
    }
    out[len] = '\0';
    ps->p = s + 1;
    *ret = TAKE_PTR(out);
    if (ret_len)
        *ret_len = len;
    return 0;
}

static int
parse_number(struct parser *ps, struct jread_value *v)
{
    const char *s = ps->p;
    bool integral = true, negative = false;
    uint64_t mag = 0;
    bool overflow = false;

    if (s < ps->end && *s == '-') {
        negative = true;
        s++;
    }
    if (s >= ps->end || *s < '0' || *s > '9')
        return -EBADMSG;
    if (*s == '0') {
        s++;
    } else {
        for (; s < ps->end && *s >= '0' && *s <= '9'; s++) {
            unsigned d = (unsigned)(*s - '0');
            if (mag > (UINT64_MAX - d) / 10)
                overflow = true;
            else
                mag = mag * 10 + d;
        }
    }
    if (s < ps->end && *s == '.') {
        integral = false;
        s++;
        if (s >= ps->end || *s < '0' || *s > '9')
            return -EBADMSG;
        while (s < ps->end && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < ps->end && (*s == 'e' || *s == 'E')) {
        integral = false;
        s++;
        if (s < ps->end && (*s == '+' || *s == '-'))
            s++;
        if (s >= ps->end || *s < '0' || *s > '9')
            return -EBADMSG;
        while (s < ps->end && *s >= '0' && *s <= '9')
            s++;
    }
    if (integral && !overflow &&
        (negative ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
        v->type = JREAD_INT;
        v->integer = negative ? (int64_t)(0 - mag) : (int64_t)mag;
    } else {
        v->type = JREAD_NUMBER;
        v->string = strndup(ps->p, (size_t)(s - ps->p));
        if (!v->string)
            return -ENOMEM;
    }
    ps->p = s;
    return 0;
}

static int parse_value(struct parser *ps, unsigned depth, struct jread_value **ret);

static int
append_item(struct jread_value *v, struct jread_value *item, char *key, size_t *cap)
{
    if (v->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct jread_value **items = reallocarray(v->items, ncap, sizeof(*items));
        if (!items)
            return -ENOMEM;
        v->items = items;
        if (v->type == JREAD_OBJECT) {
            char **keys = reallocarray(v->keys, ncap, sizeof(*keys));
            if (!keys)
                return -ENOMEM;
            v->keys = keys;
        }
        *cap = ncap;
    }
    v->items[v->n] = item;
    if (v->type == JREAD_OBJECT)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int
parse_container(struct parser *ps, unsigned depth, struct jread_value *v)
{
    bool object = *ps->p == '{';
    char close = object ? '}' : ']';
    size_t cap = 0;
    int r;

    if (depth >= JREAD_DEPTH_MAX)
        return -EBADMSG;
    v->type = object ? JREAD_OBJECT : JREAD_ARRAY;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        _cleanup_free_ char *key = NULL;
        _cleanup_(jread_freep) struct jread_value *item = NULL;

        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return -EBADMSG;
            r = parse_string(ps, &key, NULL);
            if (r < 0)
                return r;
            if (v->n >= JREAD_MEMBERS_MAX || jread_get(v, key))
                return -EBADMSG;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return -EBADMSG;
            ps->p++;
        }
        r = parse_value(ps, depth + 1, &item);
        if (r < 0)
            return r;
        r = append_item(v, item, key, &cap);
        if (r < 0)
            return r;
        TAKE_PTR(item);
        TAKE_PTR(key);
        skip_ws(ps);
        if (ps->p >= ps->end)
            return -EBADMSG;
        if (*ps->p == close) {
            ps->p++;
            return 0;
        }
        if (*ps->p != ',')
            return -EBADMSG;
        ps->p++;
    }
}

static int
parse_literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return -EBADMSG;
    ps->p += n;
    return 0;
}

static int
parse_value(struct parser *ps, unsigned depth, struct jread_value **ret)
{
    _cleanup_(jread_freep) struct jread_value *v = calloc(1, sizeof(struct jread_value));
    int r;

    if (!v)
        return -ENOMEM;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return -EBADMSG;
    switch (*ps->p) {
    case '{':
    case '[':
        r = parse_container(ps, depth, v);
        break;
    case '"':
        v->type = JREAD_STRING;
        r = parse_string(ps, &v->string, NULL);
        break;
    case 't':
        v->type = JREAD_BOOL;
        v->boolean = true;
        r = parse_literal(ps, "true");
        break;
    case 'f':
        v->type = JREAD_BOOL;
        r = parse_literal(ps, "false");
        break;
    case 'n':
        v->type = JREAD_NULL;
        r = parse_literal(ps, "null");
        break;
    default:
        r = parse_number(ps, v);
        break;
    }
    if (r < 0)
        return r;
    *ret = TAKE_PTR(v);
    return 0;
}

int
jread_parse(const char *text, size_t size, size_t max_size, struct jread_value **ret_value,
            size_t *ret_offset)
{
    struct parser ps = { .p = text, .start = text, .end = text + size };
    _cleanup_(jread_freep) struct jread_value *v = NULL;
    int r;

    if (!text || !ret_value)
        return -EINVAL;
    if (size > max_size)
        return -E2BIG;
    r = parse_value(&ps, 0, &v);
    if (r == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            r = -EBADMSG;
    }
    if (r < 0) {
        if (ret_offset)
            *ret_offset = (size_t)(ps.p - ps.start);
        return r;
    }
    *ret_value = TAKE_PTR(v);
    return 0;
}

const struct jread_value *
jread_get(const struct jread_value *object, const char *key)
{
    if (!object || object->type != JREAD_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < object->n; i++)
        if (strcmp(object->keys[i], key) == 0)
            return object->items[i];
    return NULL;
}

const char *
jread_get_string(const struct jread_value *object, const char *key)
{
    const struct jread_value *v = jread_get(object, key);

    return v && v->type == JREAD_STRING ? v->string : NULL;
}
