/* Fuzz target for the request header readers of the console and its sessions
 * (src/manager/http-headers.c): Accept-Encoding, If-None-Match and Cookie values. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    char value[64];
    int r;

    if (!header)
        return 0;
    memcpy(header, data, size);
    header[size] = '\0';
    (void)header_accepts_gzip(header);
    (void)header_etag_matches(header, "\"0123456789abcdef\"");
    r = header_cookie_value(header, "cloister_session", value, sizeof(value));
    /* A value found is non-empty, within the buffer, and never runs into the next cookie. */
    if (r == 0 && (!*value || strlen(value) >= sizeof(value) || strpbrk(value, "; \t")))
        __builtin_trap();
    if (r != 0 && r != -ENOENT && r != -E2BIG)
        __builtin_trap();
    free(header);
    return 0;
}
