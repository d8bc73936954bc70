#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* Parses leading decimal digits; *ret_end points after them. */
static int
parse_digits(const char *s, uint64_t *ret, const char **ret_end)
{
    unsigned long long v;
    char *end;

    if (!isdigit((unsigned char)s[0]))
        return -EDOM;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    *ret = v;
    *ret_end = end;
    return 0;
}

int
args_uint(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    const char *end;
    uint64_t v;

    if (parse_digits(s, &v, &end) < 0 || *end || v < min || v > max)
        return cli_usage_error(NULL,
                               "%s: expected an integer from %" PRIu64 " to %" PRIu64 ", got '%s'",
                               flag, min, max, s);
    *ret = v;
    return 0;
}

/* The shift for a size suffix ("", "B", "K", "KB", "KiB", ... "TiB"), or -1. */
static int
size_suffix_shift(const char *suffix)
{
    static const char units[] = "KMGT";
    const char *u;
    const char *rest;

    if (!*suffix || strcasecmp(suffix, "b") == 0)
        return 0;
    u = strchr(units, toupper((unsigned char)suffix[0]));
    if (!u)
        return -1;
    rest = suffix + 1;
    if (*rest && strcasecmp(rest, "b") != 0 && strcasecmp(rest, "ib") != 0)
        return -1;
    return 10 * (int)(u - units + 1);
}

int
args_size(const char *flag, const char *s, uint64_t *ret)
{
    const char *end;
    uint64_t v;
    int shift;

    if (parse_digits(s, &v, &end) < 0)
        return cli_usage_error(NULL, "%s: expected a size such as 1G, 512M or 1073741824, got '%s'",
                               flag, s);
    shift = size_suffix_shift(end);
    if (shift < 0)
        return cli_usage_error(NULL, "%s: unknown size suffix in '%s' (use K, M, G or T)", flag, s);
    if (shift > 0 && v > (UINT64_MAX >> shift))
        return cli_usage_error(NULL, "%s: '%s' is too large", flag, s);
    *ret = v << shift;
    return 0;
}

int
args_format_size(uint64_t bytes, char **ret)
{
    static const char units[] = "KMGT";
    int i = 4;
    char *s;

    /* The largest unit that divides bytes exactly. */
    while (i > 0 && (bytes == 0 || (bytes & ((UINT64_C(1) << (10 * i)) - 1)) != 0))
        i--;
    if (i == 0 ? asprintf(&s, "%" PRIu64, bytes) < 0
               : asprintf(&s, "%" PRIu64 "%c", bytes >> (10 * i), units[i - 1]) < 0)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int
args_bool(const char *flag, const char *s, bool *ret)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };

    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return cli_usage_error(NULL, "%s: expected true or false, got '%s'", flag, s);
}

int
args_choice(const char *flag, const char *s, const char *const *choices, size_t n, const char **ret)
{
    _cleanup_free_ char *list = NULL;
    size_t len = 0;
    FILE *f;

    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, choices[i]) == 0) {
            *ret = choices[i];
            return 0;
        }
    f = open_memstream(&list, &len);
    if (!f)
        return cli_oom();
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i > 0 ? ", " : "", choices[i]);
    if (fclose(f) != 0)
        return cli_oom();
    return cli_usage_error(NULL, "%s: expected one of %s, got '%s'", flag, list, s);
}

int
args_hex(const char *flag, const char *s, size_t digits)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return cli_usage_error(NULL, "%s: '%s' is not hexadecimal", flag, s);
    if (n != digits)
        return cli_usage_error(NULL, "%s: expected %zu hexadecimal digits, got %zu", flag, digits,
                               n);
    return 0;
}

int
args_key_value(const char *flag, const char *s, char **ret_key, const char **ret_value)
{
    const char *eq = strchr(s, '=');
    char *key;

    if (!eq || eq == s)
        return cli_usage_error(NULL, "%s: expected KEY=VALUE, got '%s'", flag, s);
    key = strndup(s, (size_t)(eq - s));
    if (!key)
        return cli_oom();
    *ret_key = key;
    *ret_value = eq + 1;
    return 0;
}

bool
args_is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}
