/* Readers of request header values: see http-headers.h. */
#include "http-headers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
header_accepts_gzip(const char *value)
{
    for (const char *p = value; p && *p; p = strchr(p, ',')) {
        const char *params, *q, *next;

        p += strspn(p, " \t,");
        if (strncasecmp(p, "gzip", 4) != 0 || !strchr(" \t,;", p[4]))
            continue;
        params = p + 4 + strspn(p + 4, " \t");
        if (*params != ';')
            return true;
        /* Only this element's parameters: up to the next comma. */
        q = strstr(params, "q=");
        next = strchr(params, ',');
        if (!q || (next && q > next))
            return true;
        return strtod(q + 2, NULL) > 0;
    }
    return false;
}

bool
header_etag_matches(const char *if_none_match, const char *etag)
{
    size_t len = strlen(etag);

    if (!if_none_match || len == 0)
        return false;
    if (strcmp(if_none_match, "*") == 0)
        return true;
    /* A listed tag is followed by the end, a comma or blanks. */
    for (const char *p = strstr(if_none_match, etag); p; p = strstr(p + 1, etag))
        if (p[len] == '\0' || strchr(" \t,", p[len]))
            return true;
    return false;
}

int
header_cookie_value(const char *cookie_header, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);

    for (const char *p = cookie_header; p && *p; p = strchr(p, ';')) {
        size_t len;

        p += strspn(p, "; \t");
        if (strncmp(p, name, name_len) != 0 || p[name_len] != '=')
            continue;
        p += name_len + 1;
        len = strcspn(p, "; \t");
        if (len == 0)
            return -ENOENT;
        if (len + 1 > size)
            return -E2BIG;
        memcpy(out, p, len);
        out[len] = '\0';
        return 0;
    }
    return -ENOENT;
}
