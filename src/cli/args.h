/* Parsing of flag values. Each parser names the flag in its message ("error: --threads: ...") and
 * returns -EINVAL, which the program turns into exit status 2 (usage error). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A decimal integer in [min, max]; no sign, no spaces. */
int args_uint(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* A byte count: digits with an optional binary suffix K, M, G or T (also KiB/KB, ...):
 * 1G = 1073741824. */
int args_size(const char *flag, const char *s, uint64_t *ret);

/* true/false, yes/no, on/off, 1/0. */
int args_bool(const char *flag, const char *s, bool *ret);

/* One of choices, compared without case; *ret is the canonical spelling from choices. */
int args_choice(const char *flag, const char *s, const char *const *choices, size_t n,
                const char **ret);

/* Exactly digits hexadecimal digits. */
int args_hex(const char *flag, const char *s, size_t digits);

/* KEY=VALUE with a non-empty key; *ret_key is a new string, *ret_value points into s. */
int args_key_value(const char *flag, const char *s, char **ret_key, const char **ret_value);

/* True when s has the shape of a UUID (8-4-4-4-12 hex digits). */
bool args_is_uuid(const char *s);

/* Renders a byte count with the largest exact binary suffix (1073741824 -> "1G"). */
int args_format_size(uint64_t bytes, char **ret);
