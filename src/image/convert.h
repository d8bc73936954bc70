/* The converter (SPEC 7, docs/convert.md): an input image and an app's settings in, a
 * confidential image out: the input's layers unchanged, plus one layer with cloister-init and
 * /.cloister/manifest.json listing the flattened tree, cloister-init as the entrypoint, and the
 * measurement in the labels. Deterministic: the same input, settings, key and cloister-init give
 * the same bytes. */
#pragma once

#include <stdint.h>

#include <openssl/evp.h>

#include "image-error.h"
#include "oci-parse.h"

struct convert_progress {
    void (*layer_begin)(void *userdata, size_t index, size_t count, const char *digest,
                        uint64_t size);
    void (*layer_read)(void *userdata, uint64_t done, uint64_t size);
    void (*step)(void *userdata, const char *what);
    void *userdata;
};

struct convert_options {
    const char *input_dir, *input_tag;   /* an OCI layout; tag NULL: its only image */
    const char *output_dir, *output_tag; /* an OCI layout, created if missing */
    const char *app_config;              /* JSON text: the app's settings (manifest-build.h) */
    size_t app_config_size;
    const char *init_path; /* the cloister-init binary the image will run */
    /* The signing key: a PEM private key file, or a loaded key (borrowed; the manager's key
     * never touches a file), or neither (signer all zeros, unsigned). */
    const char *signer_key;
    EVP_PKEY *signer_pkey;
    struct convert_progress progress;
};

struct convert_result {
    uint8_t mrenclave[32], mrsigner[32], manifest_digest[32], tree_digest[32];
    unsigned isvprodid, isvsvn;
    char image_digest[OCI_DIGEST_SIZE]; /* of the output image manifest */
    uint64_t image_size;                /* its config and layers, as stored (compressed) */
};

int image_convert(const struct convert_options *o, struct convert_result *ret,
                  struct image_error *e);
