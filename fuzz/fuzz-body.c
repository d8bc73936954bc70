/* Fuzz target for a JSON request body decoder: parses the input and checks it against one field
 * table (chosen at build time with -DFIELD_TABLE=name), as a create and as an update body. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bodies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[BODY_ERROR_MAX];

    if (body_check_text((const char *)data, size, FIELD_TABLE, BODY_CREATE, err) < 0 &&
        strlen(err) == 0)
        __builtin_trap(); /* a rejection must always say why */
    body_check_text((const char *)data, size, FIELD_TABLE, BODY_UPDATE, err);
    return 0;
}
