#include "body.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"

#define BODY_TEXT_MAX (1u << 20)
#define BODY_DEPTH_MAX 8
#define MAP_KEY_MAX 64

static const char *
type_name(enum field_type type)
{
    switch (type) {
    case FIELD_STRING:
    case FIELD_ENUM:
        return "a string";
    case FIELD_INT:
        return "an integer";
    case FIELD_BOOL:
        return "a boolean";
    case FIELD_OBJECT:
    case FIELD_STRING_MAP:
        return "an object";
    case FIELD_STRING_ARRAY:
        return "an array of strings";
    }
    return "?";
}

static int
fail(char err[BODY_ERROR_MAX], const char *path, const char *fmt, const char *detail)
{
    char reason[BODY_ERROR_MAX];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(reason, sizeof(reason), fmt, detail);
#pragma GCC diagnostic pop
    snprintf(err, BODY_ERROR_MAX, "%.200s: %.300s", path, reason);
    return -EINVAL;
}

static int check_object(const json_t *object, const struct field_spec *specs, enum body_mode mode,
                        const char *prefix, int depth, char err[BODY_ERROR_MAX]);

static int
check_string(const struct field_spec *spec, const char *value, const char *path,
             char err[BODY_ERROR_MAX])
{
    size_t len = strlen(value);
    const char *reason;
    char limit[32];

    if ((int64_t)len < spec->min) {
        snprintf(limit, sizeof(limit), "%lld", (long long)spec->min);
        return fail(err, path,
                    spec->min == 1 ? "must not be empty%.0s" : "must be at least %s bytes long",
                    limit);
    }
    if (spec->max > 0 && (int64_t)len > spec->max) {
        snprintf(limit, sizeof(limit), "%lld", (long long)spec->max);
        return fail(err, path, "must be at most %s bytes long", limit);
    }
    reason = spec->check_string ? spec->check_string(value) : check_no_control(value);
    if (reason)
        return fail(err, path, "%s", reason);
    return 0;
}

static int
check_enum(const struct field_spec *spec, const char *value, const char *path,
           char err[BODY_ERROR_MAX])
{
    char allowed[256] = "";
    size_t n = 0;

    for (const char *const *v = spec->values; *v; v++) {
        if (strcmp(*v, value) == 0)
            return 0;
        n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%s", n ? ", " : "", *v);
        if (n >= sizeof(allowed))
            break;
    }
    return fail(err, path, "must be one of %s", allowed);
}

static int
check_int(const struct field_spec *spec, const json_t *value, const char *path,
          char err[BODY_ERROR_MAX])
{
    json_int_t v = json_integer_value(value);
    char range[64];
    const char *reason;

    if (v < spec->min || v > spec->max) {
        snprintf(range, sizeof(range), "%lld and %lld", (long long)spec->min, (long long)spec->max);
        return fail(err, path, "must be between %s", range);
    }
    reason = spec->check_int ? spec->check_int(v) : NULL;
    if (reason)
        return fail(err, path, "%s", reason);
    return 0;
}

static int
check_array(const struct field_spec *spec, const json_t *array, const char *path,
            char err[BODY_ERROR_MAX])
{
    size_t i, n = json_array_size(array);
    const json_t *item;
    char limit[32], item_path[BODY_ERROR_MAX];

    if ((int64_t)n < spec->min || (spec->max > 0 && (int64_t)n > spec->max)) {
        snprintf(limit, sizeof(limit), "%lld to %lld", (long long)spec->min, (long long)spec->max);
        return fail(err, path, "must have %s items", limit);
    }
    json_array_foreach(array, i, item) {
        struct field_spec item_spec = { .min = 1,
                                        .max = spec->item_max,
                                        .check_string = spec->check_string };
        snprintf(item_path, sizeof(item_path), "%.200s[%zu]", path, i);
        if (!json_is_string(item))
            return fail(err, item_path, "must be a string%s", "");
        if (check_string(&item_spec, json_string_value(item), item_path, err) < 0)
            return -EINVAL;
    }
    return 0;
}

static int
check_map(const struct field_spec *spec, const json_t *map, const char *path,
          char err[BODY_ERROR_MAX])
{
    const char *key;
    const json_t *value;
    char item_path[BODY_ERROR_MAX], limit[32];

    if (spec->max > 0 && (int64_t)json_object_size(map) > spec->max) {
        snprintf(limit, sizeof(limit), "%lld", (long long)spec->max);
        return fail(err, path, "must have at most %s entries", limit);
    }
    json_object_foreach((json_t *)map, key, value) {
        struct field_spec value_spec = { .max = spec->item_max };
        snprintf(item_path, sizeof(item_path), "%.200s.%.64s", path, key);
        if (strlen(key) == 0 || strlen(key) > MAP_KEY_MAX || check_no_control(key))
            return fail(err, path, "keys must be 1 to 64 printable bytes%s", "");
        if (!json_is_string(value))
            return fail(err, item_path, "must be a string%s", "");
        if (check_string(&value_spec, json_string_value(value), item_path, err) < 0)
            return -EINVAL;
    }
    return 0;
}

static bool
type_matches(enum field_type type, const json_t *value)
{
    switch (type) {
    case FIELD_STRING:
    case FIELD_ENUM:
        return json_is_string(value);
    case FIELD_INT:
        return json_is_integer(value);
    case FIELD_BOOL:
        return json_is_boolean(value);
    case FIELD_OBJECT:
    case FIELD_STRING_MAP:
        return json_is_object(value);
    case FIELD_STRING_ARRAY:
        return json_is_array(value);
    }
    return false;
}

static int
check_field(const struct field_spec *spec, const json_t *value, enum body_mode mode,
            const char *path, int depth, char err[BODY_ERROR_MAX])
{
    if (!type_matches(spec->type, value))
        return fail(err, path, "must be %s", type_name(spec->type));

    switch (spec->type) {
    case FIELD_STRING:
        return check_string(spec, json_string_value(value), path, err);
    case FIELD_ENUM:
        return check_enum(spec, json_string_value(value), path, err);
    case FIELD_INT:
        return check_int(spec, value, path, err);
    case FIELD_BOOL:
        return 0;
    case FIELD_OBJECT:
        /* A nested object given in an update is replaced whole: its own required fields apply. */
        return check_object(value, spec->fields, BODY_CREATE, path, depth + 1, err);
    case FIELD_STRING_ARRAY:
        return check_array(spec, value, path, err);
    case FIELD_STRING_MAP:
        return check_map(spec, value, path, err);
    }
    (void)mode;
    return 0;
}

static const struct field_spec *
find_spec(const struct field_spec *specs, const char *name)
{
    for (const struct field_spec *s = specs; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static void
join_path(char *out, size_t size, const char *prefix, const char *name)
{
    if (prefix && *prefix)
        snprintf(out, size, "%.200s.%.100s", prefix, name);
    else
        snprintf(out, size, "%s", name);
}

static int
check_object(const json_t *object, const struct field_spec *specs, enum body_mode mode,
             const char *prefix, int depth, char err[BODY_ERROR_MAX])
{
    char path[BODY_ERROR_MAX];
    const char *key;
    const json_t *value;

    if (depth > BODY_DEPTH_MAX)
        return fail(err, prefix, "nested too deeply%s", "");

    /* Unknown fields first: a misspelt optional field must not pass silently. */
    json_object_foreach((json_t *)object, key, value) {
        join_path(path, sizeof(path), prefix, key);
        if (!find_spec(specs, key))
            return fail(err, path, "unknown field%s", "");
    }
    for (const struct field_spec *s = specs; s->name; s++) {
        const json_t *v = json_object_get(object, s->name);
        join_path(path, sizeof(path), prefix, s->name);
        if (!v) {
            if (s->required && mode == BODY_CREATE)
                return fail(err, path, "is required%s", "");
            continue;
        }
        if (json_is_null(v) && !(s->required && mode == BODY_CREATE))
            continue; /* null clears an optional field */
        if (check_field(s, v, mode, path, depth, err) < 0)
            return -EINVAL;
    }
    return 0;
}

int
body_check(const json_t *body, const struct field_spec *specs, enum body_mode mode,
           char err[BODY_ERROR_MAX])
{
    if (!json_is_object(body))
        return fail(err, "body", "must be a JSON object%s", "");
    if (mode == BODY_UPDATE && json_object_size(body) == 0)
        return fail(err, "body", "must contain at least one field to change%s", "");
    return check_object(body, specs, mode, "", 0, err);
}

int
body_check_text(const char *text, size_t len, const struct field_spec *specs, enum body_mode mode,
                char err[BODY_ERROR_MAX])
{
    json_t *body;
    json_error_t error;
    int r;

    if (len > BODY_TEXT_MAX)
        return fail(err, "body", "is too large%s", "");
    body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (!body)
        return fail(err, "body", "is not valid JSON: %s", error.text);
    r = body_check(body, specs, mode, err);
    json_decref(body);
    return r;
}

/* The length of the UTF-8 character text starts with, or 0 when it starts none: checked as
 * jansson checks JSON strings (no overlong forms, surrogates, or code points past U+10FFFF). */
static size_t
utf8_char_length(const unsigned char *text)
{
    size_t len;
    uint32_t cp;

    if (text[0] < 0x80)
        return 1;
    if ((text[0] & 0xe0) == 0xc0)
        len = 2;
    else if ((text[0] & 0xf0) == 0xe0)
        len = 3;
    else if ((text[0] & 0xf8) == 0xf0)
        len = 4;
    else
        return 0;
    cp = text[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((text[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (text[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool
utf8_is_valid(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;

    while (*p) {
        size_t len = utf8_char_length(p);
        if (len == 0)
            return false;
        p += len;
    }
    return true;
}

void
utf8_sanitize(char *text)
{
    unsigned char *p = (unsigned char *)text;

    while (*p) {
        size_t len = utf8_char_length(p);
        if (len == 0) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

const char *
check_no_control(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "must not contain control characters";
    return NULL;
}

const char *
check_pem_text(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\r') || *p >= 0x7f)
            return "must be PEM text";
    return NULL;
}

static bool
is_label(const char *s, size_t len)
{
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

const char *
check_dns_name(const char *value)
{
    const char *p = value;
    size_t labels = 0;

    if (strlen(value) > 253)
        return "must be a DNS name of at most 253 bytes";
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!is_label(p, len))
            return "must be a lower-case DNS name (labels of a-z, 0-9 and '-')";
        labels++;
        p += len + (dot ? 1 : 0);
        if (dot && !*p)
            return "must not end with a dot";
    }
    return labels ? NULL : "must be a DNS name";
}

const char *
check_email(const char *value)
{
    const char *at = strchr(value, '@');

    if (check_no_control(value) || strchr(value, ' '))
        return "must be an e-mail address without spaces";
    if (!at || at == value || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        value[strlen(value) - 1] == '.')
        return "must be an e-mail address like name@example.com";
    return NULL;
}

void
email_normalize(const char *in, char out[FIELD_EMAIL_MAX + 1])
{
    size_t i;

    for (i = 0; in[i] && i < FIELD_EMAIL_MAX; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

const char *
check_abs_path(const char *value)
{
    if (value[0] != '/')
        return "must be an absolute path";
    if (check_no_control(value))
        return "must not contain control characters";
    for (const char *p = value; (p = strstr(p, "..")); p += 2)
        if ((p == value || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return "must not contain '..'";
    return NULL;
}

const char *
check_image_ref(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return "must be an image reference without spaces or control characters";
    return NULL;
}

const char *
check_hex64(const char *value)
{
    if (strlen(value) != 64)
        return "must be 64 hexadecimal digits";
    for (const char *p = value; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return "must be 64 hexadecimal digits";
    return NULL;
}

const char *
check_power_of_two(int64_t value)
{
    if (value <= 0 || (value & (value - 1)) != 0)
        return "must be a power of two";
    return NULL;
}
