/* Fuzz target for the image documents a registry or a layout hands the converter
 * (src/image/oci-parse.c): the same bytes go to the index, manifest and config readers. Each
 * must refuse or accept without crashing, and what it accepts must hold: descriptors with valid
 * digests, at most OCI_LAYERS_MAX layers, one diff_id per layer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oci-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_descriptor(const struct oci_descriptor *d)
{
    if (!oci_digest_ok(d->digest) || !d->media_type[0])
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct oci_descriptor picked;
    struct oci_manifest m = { 0 };
    struct oci_config c = { 0 };
    struct image_error e = { 0 };

    if (oci_index_pick(text, size, &picked, &e) == 0) {
        check_descriptor(&picked);
        if (!oci_is_manifest_type(picked.media_type))
            __builtin_trap();
    }
    if (oci_manifest_parse(text, size, &m, &e) == 0) {
        check_descriptor(&m.config);
        if (m.n_layers > OCI_LAYERS_MAX)
            __builtin_trap();
        for (size_t i = 0; i < m.n_layers; i++)
            check_descriptor(&m.layers[i]);
        if (oci_config_parse(text, size, m.n_layers, &c, &e) == 0 && c.n_diff_ids != m.n_layers)
            __builtin_trap();
        oci_config_release(&c);
        oci_manifest_release(&m);
    }
    for (size_t n = 0; n < 3; n++) {
        if (oci_config_parse(text, size, n, &c, &e) == 0) {
            if (c.n_diff_ids != n)
                __builtin_trap();
            for (size_t i = 0; i < n; i++)
                if (!oci_digest_ok(c.diff_ids[i]))
                    __builtin_trap();
            oci_config_release(&c);
        }
    }
    return 0;
}
