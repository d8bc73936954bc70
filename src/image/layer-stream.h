/* The uncompressed bytes of a layer blob, made on a thread of their own. The thread reads the
 * blob, hashes it as stored (its digest) and decompresses it (gzip or zstd, told by their magic
 * numbers; anything else is passed through as a plain tar) into a small ring of fixed buffers,
 * which the caller takes one at a time. Inflating is most of a conversion's work, and the
 * caller has the rest (tar parsing and the other hashes), so on two cores the two overlap
 * (bench/convert). Memory is fixed: LAYER_STREAM_SLOTS buffers of LAYER_STREAM_CHUNK bytes. */
#pragma once

#include <stdint.h>
#include <stddef.h>

#include "image-error.h"

#define LAYER_STREAM_CHUNK (256u << 10)
#define LAYER_STREAM_SLOTS 4

enum image_compression {
    IMAGE_COMPRESSION_NONE,
    IMAGE_COMPRESSION_GZIP,
    IMAGE_COMPRESSION_ZSTD,
};

struct layer_stream;

/* Starts reading fd (to its end). */
int layer_stream_open(int fd, struct layer_stream **ret, struct image_error *e);

/* The next piece of the uncompressed stream, valid until the next call: *ret_len 0 at the end.
 * *ret_stored is how many stored bytes were read to make it. A read error or a corrupt stream
 * is a negative errno with the message in e (then and on every later call). */
int layer_stream_next(struct layer_stream *s, const void **ret_buf, size_t *ret_len,
                      uint64_t *ret_stored, struct image_error *e);

/* Once layer_stream_next() said the end: the blob's SHA-256, its stored size and how it was
 * compressed. */
int layer_stream_result(struct layer_stream *s, uint8_t ret_digest[32], uint64_t *ret_stored,
                        enum image_compression *ret_compression);

/* Stops the thread (at any point) and frees everything. */
void layer_stream_free(struct layer_stream *s);
