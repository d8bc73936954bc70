/* Small helpers over jansson values: dotted-path lookup, text rendering, checked setters.
 *
 * Getters return values borrowed from the object they were given. Setters return 0, -ENOMEM, or
 * -EILSEQ for a string that is not valid UTF-8 (jansson refuses those). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"

struct strbuf;

static inline void
jval_unrefp(json_t **p)
{
    json_decref(*p);
}
#define _cleanup_json_ _cleanup_(jval_unrefp)

/* Overwrites the bytes of the string member key (a secret) before the object is released. */
void jval_erase_str(json_t *obj, const char *key);

/* For request and response bodies that carry a secret: erases the "password",
 * "user_password" and "access_token" members before releasing the value. */
static inline void
jval_secret_unrefp(json_t **p)
{
    if (*p) {
        jval_erase_str(*p, "password");
        jval_erase_str(*p, "user_password");
        jval_erase_str(*p, "access_token");
    }
    json_decref(*p);
}

/* The value at a dotted path ("status.status") through nested objects, or NULL. */
json_t *jval_get(const json_t *root, const char *path);

/* The string at path, or NULL when it is missing or not a string. */
const char *jval_str(const json_t *root, const char *path);

/* Renders v for humans into a new string: strings as they are, numbers, true/false, "-" for
 * null or a missing value or an empty array, arrays of scalars joined by ", ", anything else as
 * compact JSON. */
int jval_to_text(const json_t *v, char **ret_text);

/* Appends the rendering of jval_to_text() to sb. */
int jval_add_text(struct strbuf *sb, const json_t *v);

/* The first object of array whose string member key equals value (compared without case with
 * nocase), or NULL. Borrowed. */
json_t *jval_find(const json_t *array, const char *key, const char *value, bool nocase);

bool jval_utf8_valid(const char *s);

int jval_set_str(json_t *obj, const char *key, const char *value);
int jval_set_int(json_t *obj, const char *key, json_int_t value);
int jval_set_bool(json_t *obj, const char *key, bool value);

/* Sets key to value and takes the reference to value, also on failure. */
int jval_set_new(json_t *obj, const char *key, json_t *value);

/* A string member of a request body, or a query parameter; left out where value is NULL. Tables
 * of them end with an entry whose key is NULL ({}). */
struct jval_field {
    const char *key;
    const char *value;
};

/* A number member of a request body (with boolean: true or false), left out unless set
 * (given on the command line). Tables of them end with an entry whose key is NULL. */
struct jval_number {
    const char *key;
    bool set;
    uint64_t value;
    bool boolean;
};

int jval_set_fields(json_t *obj, const struct jval_field *fields);
int jval_set_numbers(json_t *obj, const struct jval_number *numbers);

/* A new JSON string of s in lower case (DNS names, hex digits), or NULL (out of memory, or s
 * is not UTF-8). */
json_t *jval_string_lower(const char *s);

/* Appends a string to an array. */
int jval_append_str(json_t *array, const char *value);

/* Removes, recursively, object members whose value is null. */
void jval_strip_nulls(json_t *v);
