/* OCI image layout directories (the OCI image spec's "image-layout"): reading an image by tag,
 * blobs checked against their digests, and writing one: blobs first (content-addressed, so a
 * failure leaves only unreferenced blobs), the tag in index.json last, replaced atomically. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image-error.h"
#include "oci-parse.h"

/* A tag's image in a layout: its manifest and config, read and checked. */
struct oci_image {
    char *dir;
    struct oci_descriptor manifest_desc; /* of the image manifest (not of an index) */
    char *manifest_text;                 /* its bytes, as stored */
    size_t manifest_size;
    struct oci_manifest manifest;
    struct oci_config config;
    char *config_text; /* the config's bytes, as stored */
    size_t config_size;
};

/* Reads DIR's image tagged tag (index.json's org.opencontainers.image.ref.name; NULL: the only
 * image of the layout). An index is followed to its linux/amd64 manifest. */
int oci_layout_read(const char *dir, const char *tag, struct oci_image *ret, struct image_error *e);
void oci_image_release(struct oci_image *img);

/* Opens a blob of DIR for reading (its digest is checked by whoever reads it). */
int oci_layout_blob_open(const char *dir, const char *digest, int *ret_fd, struct image_error *e);

/* A layout being written. */
struct oci_layout_out {
    char *dir;
};

/* Creates DIR (and its oci-layout file and blobs/sha256/) unless they exist. */
int oci_layout_out_open(const char *dir, struct oci_layout_out *ret, struct image_error *e);
void oci_layout_out_release(struct oci_layout_out *out);

/* A temporary file in the blobs directory, to be written then made a blob with
 * oci_layout_out_commit_blob(), which renames it to its digest. */
int oci_layout_out_temp(struct oci_layout_out *out, int *ret_fd, char **ret_path,
                        struct image_error *e);
int oci_layout_out_commit_blob(struct oci_layout_out *out, int fd, const char *temp_path,
                               const char *digest, struct image_error *e);

/* Writes bytes as a blob; *ret (OCI_DIGEST_SIZE) gets its digest. */
int oci_layout_out_put(struct oci_layout_out *out, const void *data, size_t size, char *ret,
                       struct image_error *e);

/* Makes the blob digest of the layout src_dir a blob of out: a hard link when both are on one
 * file system, else a copy whose digest is checked on the way. */
int oci_layout_out_copy_blob(struct oci_layout_out *out, const char *src_dir, const char *digest,
                             struct image_error *e);

/* Points tag at the manifest descriptor in index.json (replacing the tag's earlier image,
 * keeping the others). */
int oci_layout_out_tag(struct oci_layout_out *out, const char *tag,
                       const struct oci_descriptor *manifest, struct image_error *e);
