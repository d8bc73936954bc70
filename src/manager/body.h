/* Validation of JSON request bodies against a table of field specifications.
 *
 * Every body decoder is a table of struct field_spec; body_check() walks a parsed body and
 * rejects, with a message naming the field by its JSON path, anything missing, of the wrong
 * type, out of range, too long, badly formed or unknown. After it succeeds, handlers read fields
 * with jansson knowing their types are right. The same tables are fuzzed (fuzz/). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum field_type {
    FIELD_STRING, /* min/max: length in bytes */
    FIELD_INT,    /* min/max: value */
    FIELD_BOOL,
    FIELD_ENUM,         /* a string from values[] */
    FIELD_OBJECT,       /* fields: the nested table */
    FIELD_STRING_ARRAY, /* min/max: count; item_max: each item's length */
    FIELD_STRING_MAP,   /* object of strings: max: count; item_max: value length (keys ≤ 64) */
};

#define FIELD_NAME_MAX 255
#define FIELD_DESCRIPTION_MAX 1024
#define FIELD_EMAIL_MAX 254

/* The user_email field of sign-up and invitation bodies. */
#define FIELD_SPEC_USER_EMAIL                                                                      \
    {                                                                                              \
        .name = "user_email", .type = FIELD_STRING, .required = true, .min = 1,                    \
        .max = FIELD_EMAIL_MAX, .check_string = check_email                                        \
    }

struct field_spec {
    const char *name;
    enum field_type type;
    bool required; /* on create; update bodies make every field optional */
    int64_t min, max;
    int64_t item_max;
    const char *const *values;       /* FIELD_ENUM, NULL-terminated */
    const struct field_spec *fields; /* FIELD_OBJECT, ends with { .name = NULL } */
    /* Extra check of a string (or each array item); returns NULL or the reason it is bad. */
    const char *(*check_string)(const char *value);
    const char *(*check_int)(int64_t value);
};

enum body_mode { BODY_CREATE, BODY_UPDATE };

#define BODY_ERROR_MAX 512

/* Checks body against specs. On failure returns -EINVAL and writes "path: reason" to err.
 * BODY_UPDATE makes fields optional but requires at least one. */
int body_check(const json_t *body, const struct field_spec *specs, enum body_mode mode,
               char err[BODY_ERROR_MAX]);

/* Parses text and checks it: the entry point of the fuzz targets. */
int body_check_text(const char *text, size_t len, const struct field_spec *specs,
                    enum body_mode mode, char err[BODY_ERROR_MAX]);

/* Common string checks (return NULL when fine, else the reason). */
const char *check_dns_name(const char *value); /* lower-case host name, optional "*." */
const char *check_email(const char *value);
/* E-mail addresses are compared and stored in lower case (ASCII: domains are case-insensitive
 * and nobody relies on a case-sensitive local part); at most FIELD_EMAIL_MAX bytes are kept. */
void email_normalize(const char *in, char out[FIELD_EMAIL_MAX + 1]);
const char *check_abs_path(const char *value);   /* absolute, no ".." component */
const char *check_image_ref(const char *value);  /* no whitespace or control characters */
const char *check_hex64(const char *value);      /* exactly 64 hex digits */
const char *check_no_control(const char *value); /* printable text */
/* PEM text: printable ASCII lines (check_no_control refuses the line breaks PEM needs). */
const char *check_pem_text(const char *value);
const char *check_power_of_two(int64_t value);

/* UTF-8 as JSON strings need it (jansson's rules: no overlong forms, surrogates, or code points
 * past U+10FFFF). utf8_sanitize() replaces, in place, every byte that is not part of such a
 * character with '?', so text from outside (a query value, a path, a cut message) fits a JSON
 * string. */
bool utf8_is_valid(const char *text);
void utf8_sanitize(char *text);
