/* A client of the OCI distribution API (registries: the CNCF distribution registry, Docker Hub,
 * Harbor, ...), enough to pull an image into an OCI layout and push one from it
 * (docs/convert.md, "Registries"):
 *   - anonymous access, HTTP Basic, and bearer tokens from the realm a 401 names (with the
 *     credentials as Basic there);
 *   - manifests by tag or digest (OCI and Docker v2 schema 2; an index → linux/amd64);
 *   - blobs streamed to and from files, every digest checked;
 *   - pushes: a blob the registry has is skipped, one in another repository of the same
 *     registry is mounted, the others uploaded whole (PUT) or in chunks (PATCH) above a size.
 * Loopback registries may be plain HTTP (as Docker allows); others must be HTTPS. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "image-error.h"

/* docker://HOST[:PORT]/REPO[:TAG|@sha256:...] */
struct registry_ref {
    char *host; /* with the port, if any */
    char *repo;
    char *tag;    /* NULL with a digest */
    char *digest; /* NULL with a tag */
};

int registry_ref_parse(const char *text, struct registry_ref *ret, struct image_error *e);
void registry_ref_release(struct registry_ref *ref);

struct registry_options {
    const char *username, *password; /* NULL: anonymous */
    const char *ca_file;             /* NULL: the system's trust store */
    bool plain_http;                 /* http:// (allowed for loopback hosts only) */
    uint64_t chunk_size;             /* push blobs larger than this in PATCH chunks; 0: 64 MiB */
    const char *mount_from;          /* push: a repository of the same registry to mount from */
};

/* Pulls ref's image (linux/amd64) into the OCI layout dir (created if missing) as tag. */
int registry_pull(const struct registry_ref *ref, const struct registry_options *o, const char *dir,
                  const char *tag, struct image_error *e);

/* Pushes the image tagged tag of the OCI layout dir to ref (which must name a tag).
 * *ret_digest (72 bytes) gets the pushed manifest's digest. */
int registry_push(const char *dir, const char *tag, const struct registry_ref *ref,
                  const struct registry_options *o, char *ret_digest, struct image_error *e);
