/* The layer the converter adds on top of an image: /.cloister/ with cloister-init, the manifest
 * and what goes with them. Byte for byte the same for the same files: ustar entries in the given
 * order with mtime 0, owner 0:0 and no names, gzip without a timestamp. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image-error.h"
#include "oci-layout.h"

struct cloister_layer_file {
    const char *name; /* below /.cloister/ */
    const void *data; /* the content, or NULL to read it from fd */
    size_t size;
    int fd; /* when data is NULL: read to its end */
    uint32_t mode;
};

/* Writes the layer as a blob of out. *ret gets its descriptor (OCI tar+gzip), diff_id the digest
 * of the uncompressed tar. */
int cloister_layer_write(struct oci_layout_out *out, const struct cloister_layer_file *files,
                         size_t n, struct oci_descriptor *ret, char diff_id[OCI_DIGEST_SIZE],
                         struct image_error *e);
