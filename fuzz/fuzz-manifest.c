/* Fuzz target for cloister-init's strict JSON reader and manifest parser (src/init): the
 * manifest comes from the image, and agent replies go through the same reader. Invariants: a
 * document the reader accepts has a canonical encoding (unless it has non-integer numbers) that
 * the reader accepts again and that is its own canonical encoding; the manifest parser either
 * accepts with an all-consistent result or refuses with -EBADMSG and a message. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-reader.h"
#include "json-writer.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_canonical(const struct jread_value *v)
{
    struct jwbuf once = { 0 }, twice = { 0 };
    struct jread_value *again = NULL;
    int r = jwbuf_canonical(&once, v, NULL);

    if (r == -EDOM) {
        jwbuf_release(&once);
        return;
    }
    if (r < 0)
        __builtin_trap();
    if (jread_parse(once.data, once.size, SIZE_MAX, &again, NULL) != 0)
        __builtin_trap();
    if (jwbuf_canonical(&twice, again, NULL) != 0 || twice.size != once.size ||
        memcmp(twice.data, once.data, once.size) != 0)
        __builtin_trap();
    jread_free(again);
    jwbuf_release(&once);
    jwbuf_release(&twice);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jread_value *v = NULL;
    struct manifest *m = NULL;
    const char *error = NULL;
    int r;

    if (jread_parse((const char *)data, size, 1u << 20, &v, NULL) == 0) {
        check_canonical(v);
        jread_free(v);
    }
    r = manifest_parse((const char *)data, size, &m, &error);
    if (r == 0) {
        for (size_t i = 1; i < m->n_entries; i++)
            if (strcmp(m->entries[i - 1].path, m->entries[i].path) >= 0)
                __builtin_trap();
        manifest_free(m);
    } else if (r != -EBADMSG || !error || m) {
        __builtin_trap();
    }
    return 0;
}
