/* Reading a converted image back (cloister image inspect): its /.cloister layer's manifest,
 * cloister-init and signature, the measurement they give, and whether the labels and the
 * signature agree with them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "image-error.h"
#include "manifest-signature.h"
#include "manifest.h"
#include "oci-parse.h"

struct inspect_result {
    char image_digest[OCI_DIGEST_SIZE];
    struct manifest *manifest; /* owned */
    char *manifest_text;       /* owned */
    size_t manifest_size;
    uint8_t init_digest[32], mrenclave[32];
    enum manifest_signature_state signature;
    const char *signature_problem; /* static text, when MANIFEST_BAD_SIGNATURE */
    bool labels_match; /* dev.cloister.mrenclave and .mrsigner are the computed values */
};

/* Inspects the image tagged tag (NULL: the only one) of the OCI layout dir. -ENOENT (with e)
 * when its last layer is not a /.cloister layer. */
int image_inspect(const char *dir, const char *tag, struct inspect_result *ret,
                  struct image_error *e);
void inspect_result_release(struct inspect_result *r);
