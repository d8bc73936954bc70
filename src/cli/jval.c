#include "jval.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strbuf.h"

json_t *
jval_get(const json_t *root, const char *path)
{
    json_t *cur = (json_t *)root;
    const char *p = path;

    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        p += n + (dot ? 1 : 0);
    }
    return cur;
}

const char *
jval_str(const json_t *root, const char *path)
{
    return json_string_value(jval_get(root, path));
}

static bool
jval_is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static int
jval_scalar_text(const json_t *v, struct strbuf *sb)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strbuf_add(sb, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return strbuf_addf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return strbuf_addf(sb, "%g", json_real_value(v));
    case JSON_TRUE:
        return strbuf_adds(sb, "true");
    case JSON_FALSE:
        return strbuf_adds(sb, "false");
    default:
        return strbuf_adds(sb, "-");
    }
}

static int
jval_array_text(const json_t *v, struct strbuf *sb)
{
    size_t i;
    json_t *e;

    if (json_array_size(v) == 0)
        return strbuf_adds(sb, "-");
    json_array_foreach(v, i, e) {
        int r = i > 0 ? strbuf_adds(sb, ", ") : 0;

        if (r >= 0)
            r = jval_scalar_text(e, sb);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool
jval_array_of_scalars(const json_t *v)
{
    size_t i;
    json_t *e;

    json_array_foreach(v, i, e)
        if (!jval_is_scalar(e))
            return false;
    return true;
}

int
jval_add_text(struct strbuf *sb, const json_t *v)
{
    _cleanup_free_ char *dump = NULL;

    if (!v)
        return strbuf_adds(sb, "-");
    if (jval_is_scalar(v))
        return jval_scalar_text(v, sb);
    if (json_is_array(v) && jval_array_of_scalars(v))
        return jval_array_text(v, sb);
    dump = json_dumps(v, JSON_COMPACT);
    return dump ? strbuf_adds(sb, dump) : -ENOMEM;
}

int
jval_to_text(const json_t *v, char **ret_text)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    int r = jval_add_text(&sb, v);
    char *s;

    if (r < 0)
        return r;
    s = strbuf_detach(&sb);
    if (!s)
        return -ENOMEM;
    *ret_text = s;
    return 0;
}

json_t *
jval_find(const json_t *array, const char *key, const char *value, bool nocase)
{
    json_t *item;
    size_t i;

    json_array_foreach(array, i, item) {
        const char *s = jval_str(item, key);

        if (s && (nocase ? strcasecmp(s, value) : strcmp(s, value)) == 0)
            return item;
    }
    return NULL;
}

/* Length of the UTF-8 sequence starting with byte c, 0 if c cannot start one. */
static size_t
utf8_sequence_length(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

bool
jval_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_sequence_length(*p);
        unsigned long cp;

        if (n == 0)
            return false;
        cp = n == 1 ? *p : (*p & (0xff >> (n + 1)));
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n;
    }
    return true;
}

int
jval_set_new(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return -ENOMEM;
    return json_object_set_new(obj, key, value) < 0 ? -ENOMEM : 0;
}

int
jval_set_str(json_t *obj, const char *key, const char *value)
{
    if (!jval_utf8_valid(value))
        return -EILSEQ;
    return jval_set_new(obj, key, json_string(value));
}

int
jval_set_int(json_t *obj, const char *key, json_int_t value)
{
    return jval_set_new(obj, key, json_integer(value));
}

int
jval_set_bool(json_t *obj, const char *key, bool value)
{
    return jval_set_new(obj, key, json_boolean(value));
}

int
jval_set_fields(json_t *obj, const struct jval_field *fields)
{
    for (const struct jval_field *f = fields; f->key; f++) {
        int r = f->value ? jval_set_str(obj, f->key, f->value) : 0;

        if (r < 0)
            return r;
    }
    return 0;
}

int
jval_set_numbers(json_t *obj, const struct jval_number *numbers)
{
    for (const struct jval_number *num = numbers; num->key; num++) {
        int r = 0;

        if (num->set && num->boolean)
            r = jval_set_bool(obj, num->key, num->value != 0);
        else if (num->set)
            r = jval_set_int(obj, num->key, (json_int_t)num->value);
        if (r < 0)
            return r;
    }
    return 0;
}

json_t *
jval_string_lower(const char *s)
{
    _cleanup_free_ char *lower = strdup(s);

    if (!lower || !jval_utf8_valid(lower))
        return NULL;
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return json_string(lower);
}

int
jval_append_str(json_t *array, const char *value)
{
    if (!jval_utf8_valid(value))
        return -EILSEQ;
    return json_array_append_new(array, json_string(value)) < 0 ? -ENOMEM : 0;
}

void
jval_strip_nulls(json_t *v)
{
    const char *key;
    json_t *e;
    void *tmp;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
            jval_strip_nulls(e);
        return;
    }
    json_object_foreach_safe(v, tmp, key, e) {
        if (json_is_null(e))
            json_object_del(v, key);
        else
            jval_strip_nulls(e);
    }
}

void
jval_erase_str(json_t *obj, const char *key)
{
    json_t *s = json_object_get(obj, key);

    if (json_is_string(s))
        OPENSSL_cleanse((char *)json_string_value(s), json_string_length(s));
}
