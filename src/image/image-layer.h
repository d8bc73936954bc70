/* Reading one layer blob in a single pass: the stored bytes are hashed (the blob's digest),
 * decompressed (gzip or zstd, told by their magic numbers; anything else is a plain tar),
 * hashed again (the diff_id) and read as a tar whose entries go to an image_tree, each file's
 * content hashed on the way. Nothing is held whole in memory. Reading and decompressing run on a
 * thread of their own (layer-stream.h). */
#pragma once

#include <stdint.h>

#include "image-error.h"
#include "image-tree.h"
#include "layer-stream.h"

struct image_layer_info {
    uint8_t digest[32];  /* SHA-256 of the blob as stored */
    uint8_t diff_id[32]; /* SHA-256 of the uncompressed tar */
    uint64_t size;       /* bytes stored */
    uint64_t uncompressed;
    enum image_compression compression;
};

/* Called now and then with the stored bytes read so far. */
typedef void (*image_progress_fn)(void *userdata, uint64_t done);

/* Applies the layer read from fd (to its end) to t. The caller compares ret->digest and
 * ret->diff_id with what the image claims. -EINVAL for a corrupt stream or a refused entry,
 * -EIO for read errors, each with the message in e. */
int image_layer_apply(int fd, struct image_tree *t, image_progress_fn progress, void *userdata,
                      struct image_layer_info *ret, struct image_error *e);
