/* Fuzz target for the head of the node agent's HTTP replies, as libattest's agent client and
 * cloister-init read them (lib/attest/agent-http.c): the agent is outside the enclave, so its
 * bytes are outside input. Invariants: a parsed head lies within the input, has a final status
 * and announces no body longer than allowed, and keep-alive needs a known length. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent-http.h"

#define FUZZ_MAX_BODY (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_http_reply_head head = { 0 };
    size_t head_len = 0;
    char *buf = malloc(size + 1);
    int r;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    r = agent_http_head_parse(buf, size, FUZZ_MAX_BODY, &head_len, &head);
    if (r != 0 && r != -EPROTO && r != -E2BIG)
        __builtin_trap();
    if (r == 0 && head_len > 0 &&
        (head_len > size || head.status < 200 || head.status > 599 ||
         (head.has_length && head.length > FUZZ_MAX_BODY) || (head.keep_alive && !head.has_length)))
        __builtin_trap();
    if (r == 0 && head_len == 0 && memmem(data, size, "\r\n\r\n", 4))
        __builtin_trap(); /* a complete head is never taken for an incomplete one */
    free(buf);
    return 0;
}
