/* docker-archive tarballs (what `docker save` writes and `docker load` reads): a tar holding
 * manifest.json ([{Config, RepoTags, Layers}]), the config and one file per layer. They are
 * converted through an OCI layout: read into one (the layer files become blobs, hashed on the
 * way), and written from one. */
#pragma once

#include "image-error.h"

/* Reads the image of archive named repo_tag ("repo:tag"; NULL: the archive's only image) into
 * the OCI layout dir (created if missing) as tag. */
int docker_archive_read(const char *archive, const char *repo_tag, const char *dir, const char *tag,
                        struct image_error *e);

/* Writes the image tagged tag of the OCI layout dir as the archive file (replaced atomically),
 * named repo_tag (may be NULL: no RepoTags). Layer files keep their compression, which
 * `docker load` detects. */
int docker_archive_write(const char *dir, const char *tag, const char *archive,
                         const char *repo_tag, struct image_error *e);
