/* A small, strict JSON reader for cloister-init (which is static and cannot use jansson): the
 * manifest and the agent's replies. RFC 8259 with these limits and refusals:
 *   - at most JREAD_DEPTH_MAX nested containers and JREAD_MEMBERS_MAX members per object;
 *   - strings must be valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), may
 *     not contain U+0000 (so they are C strings), and \u escapes must pair surrogates;
 *   - duplicate object keys, trailing commas, leading zeros and anything after the value are
 *     errors; whitespace is the four JSON whitespace characters only.
 * Integers that fit int64 are JREAD_INT; other numbers are JREAD_NUMBER (kept as text). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JREAD_DEPTH_MAX 32u
#define JREAD_MEMBERS_MAX 256u

enum jread_type {
    JREAD_NULL,
    JREAD_BOOL,
    JREAD_INT,
    JREAD_NUMBER,
    JREAD_STRING,
    JREAD_ARRAY,
    JREAD_OBJECT,
};

struct jread_value {
    enum jread_type type;
    bool boolean;
    int64_t integer;
    char *string;               /* JREAD_STRING (NUL-terminated), JREAD_NUMBER (its text) */
    size_t n;                   /* members of an array or object */
    struct jread_value **items; /* array items, or object values */
    char **keys;                /* object keys, in document order */
};

/* Parses size bytes of text (at most max_size, else -E2BIG) into a new tree. -EBADMSG for
 * malformed input (with *ret_offset, if not NULL, set to the byte offset of the error),
 * -ENOMEM. */
int jread_parse(const char *text, size_t size, size_t max_size, struct jread_value **ret_value,
                size_t *ret_offset);
struct jread_value *jread_free(struct jread_value *value);

/* The member named key of an object, or NULL (also when value is not an object). */
const struct jread_value *jread_get(const struct jread_value *object, const char *key);
/* Typed lookups: the string member (NULL if absent or not a string). */
const char *jread_get_string(const struct jread_value *object, const char *key);
