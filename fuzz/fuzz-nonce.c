/* Fuzz target for the nonce checker (nonces come back from apps through the agent). Invariant:
 * only a nonce made under the key passes, so with a key nobody issued under, nothing does. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nonce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[NONCE_KEY_LEN] = { 0x42 };
    char id[NONCE_ID_LEN + 1];
    char *text = malloc(size + 1);
    int r;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    r = nonce_check(key, text, INT64_C(1795000000000), 300, id);
    if (r != -EBADMSG && r != -EKEYREJECTED)
        __builtin_trap();
    free(text);
    return 0;
}
