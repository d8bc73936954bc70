/* Fuzz target for the HTTP Basic credentials decoder (the log-in header). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic-auth.h"
#include "body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct basic_credentials c = { 0 };
    char *header = malloc(size + 1);

    if (!header)
        return 0;
    memcpy(header, data, size);
    header[size] = '\0';
    if (basic_auth_parse(header, &c) == 0) {
        /* An accepted header always yields a non-empty UTF-8 e-mail without ':' and a UTF-8
         * password. */
        if (!c.email || !c.password || !*c.email || strchr(c.email, ':') ||
            !utf8_is_valid(c.email) || !utf8_is_valid(c.password))
            __builtin_trap();
    }
    basic_credentials_release(&c);
    free(header);
    return 0;
}
