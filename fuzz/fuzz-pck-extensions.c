/* Fuzz target for libattest's reader of the PCK certificate's SGX extension
 * (lib/attest/pck-extensions.c): every input is parsed as the extension's DER. A refused one must
 * fail as a certificate chain error with a reason; an accepted one must hold values in their
 * ranges, and since its outer SEQUENCE fills it exactly, none of its prefixes may parse. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pck-extensions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct attest_failure failure = { .step = ATTEST_STEP_NONE };
    struct pck_extensions ext, again;
    int r = pck_extensions_parse(data, size, &ext, &failure);

    if (r < 0) {
        if (r != -EBADMSG || failure.step != ATTEST_STEP_CERT_CHAIN || failure.reason[0] == '\0')
            __builtin_trap();
        return 0;
    }
    if (r != 0 || failure.step != ATTEST_STEP_NONE || failure.reason[0] != '\0')
        __builtin_trap();
    if (size < 2 || size > PCK_EXTENSIONS_DER_MAX || data[0] != 0x30 || ext.sgx_type > 2 ||
        ext.has_platform_instance_id != ext.has_configuration)
        __builtin_trap();
    if (!ext.has_configuration && (ext.dynamic_platform || ext.cached_keys || ext.smt_enabled))
        __builtin_trap();
    /* The shortest prefixes are cheap to try, the longest exercise the walk: both. */
    for (size_t n = 0; n < size; n = n < 8 || n + 8 >= size ? n + 1 : size - 8)
        if (pck_extensions_parse(data, n, &again, NULL) == 0)
            __builtin_trap();
    return 0;
}
