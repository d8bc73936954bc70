/* Reading a converted image back (cloister image inspect): its /.cloister layer's manifest,
 * cloister-init and signature, the measurement they give, and whether the labels and the
 * signature agree with them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "image-error.h"
#include "manifest.h"
#include "oci-parse.h"

enum inspect_signature {
    INSPECT_UNSIGNED, /* no manifest.sig: signer is whatever the manifest says */
    INSPECT_SIGNED,   /* signer.pem is the signer and manifest.sig verifies with it */
    INSPECT_BAD_SIGNATURE,
};

struct inspect_result {
    char image_digest[OCI_DIGEST_SIZE];
    struct manifest *manifest; /* owned */
    char *manifest_text;       /* owned */
    size_t manifest_size;
    uint8_t init_digest[32], mrenclave[32];
    enum inspect_signature signature;
    bool labels_match; /* dev.cloister.mrenclave and .mrsigner are the computed values */
};

/* Inspects the image tagged tag (NULL: the only one) of the OCI layout dir. -ENOENT (with e)
 * when its last layer is not a /.cloister layer. */
int image_inspect(const char *dir, const char *tag, struct inspect_result *ret,
                  struct image_error *e);
void inspect_result_release(struct inspect_result *r);
