/* Building JSON text in cloister-init: a growable buffer with JSON string escaping, and the
 * canonical encoding of a parsed tree that the measurement hashes (docs/manifest.md):
 * no whitespace; object members sorted by the bytes of their keys; strings as UTF-8 with only '"',
 * '\\' and U+0000..U+001F escaped (\b \t \n \f \r, else \u00xx lowercase); integers in decimal.
 * Non-integer numbers have no canonical form here (-EDOM). */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "cleanup.h"
#include "json-reader.h"

struct jwbuf {
    char *data; /* NUL-terminated */
    size_t size;
    size_t cap;
    int error; /* the first failure (-ENOMEM); appends after it do nothing */
};

void jwbuf_release(struct jwbuf *b);
void jwbuf_append(struct jwbuf *b, const char *data, size_t size);
void jwbuf_puts(struct jwbuf *b, const char *s);
void jwbuf_printf(struct jwbuf *b, const char *fmt, ...) _printf_(2, 3);
/* Appends s as a quoted JSON string. */
void jwbuf_string(struct jwbuf *b, const char *s);
/* Appends "key": with a leading comma unless first. */
void jwbuf_key(struct jwbuf *b, const char *key, int first);

/* Appends the canonical encoding of v, leaving out the member omit_key of v itself when v is an
 * object and omit_key is not NULL (nested objects keep theirs). -EDOM for a non-integer number,
 * -ENOMEM. */
int jwbuf_canonical(struct jwbuf *b, const struct jread_value *v, const char *omit_key);
