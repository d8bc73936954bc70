/* Where an image is: "oci:DIR[:TAG]" (an OCI layout), "docker://HOST/REPO[:TAG|@DIGEST]" (a
 * registry) or "docker-archive:FILE[:REPO:TAG]" (a `docker save` tarball), and a conversion
 * between any two of them: other inputs are read into a temporary OCI layout first, other
 * outputs are converted into one and pushed or written from it. */
#pragma once

#include "convert.h"
#include "inspect.h"
#include "image-error.h"
#include "registry.h"

enum image_location_kind {
    IMAGE_LOCATION_OCI,
    IMAGE_LOCATION_REGISTRY,
    IMAGE_LOCATION_DOCKER_ARCHIVE,
};

struct image_location {
    enum image_location_kind kind;
    char *dir, *tag; /* OCI; tag NULL: the only one (input) or "latest" (output);
                      * docker-archive: the file and the image's REPO:TAG (may be NULL) */
    struct registry_ref ref;
};

int image_location_parse(const char *text, struct image_location *ret, struct image_error *e);
void image_location_release(struct image_location *l);

/* image_convert() from and to any location: o's input and output directories are filled in
 * here. in_reg and out_reg are used for registry locations. */
int image_convert_locations(const struct image_location *in, const struct registry_options *in_reg,
                            const struct image_location *out,
                            const struct registry_options *out_reg, struct convert_options *o,
                            struct convert_result *ret, struct image_error *e);

/* image_inspect() of a location (a registry image is pulled into a temporary layout first). */
int image_inspect_location(const struct image_location *l, const struct registry_options *reg,
                           struct inspect_result *ret, struct image_error *e);

/* Removes the temporary directory of the conversion or inspection under way, if any: for a
 * program stopped by a signal while one runs (in another thread). */
void image_scratch_remove(void);

/* Removes dir and everything below it, without following symlinks; errors are ignored. */
void image_remove_tree(const char *dir);
