/* Reading the JSON documents of an image (docs/convert.md, "Input"): an image index (OCI index or
 * Docker manifest list), an image manifest (OCI or Docker v2 schema 2) and an image config.
 * Every member used is checked for type and form; what is not used is kept as is (the config is
 * carried into the converted image). Outside input: fuzzed by fuzz-oci. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image-error.h"

#define OCI_JSON_MAX (4u << 20) /* manifests, indexes and configs are small documents */
#define OCI_LAYERS_MAX 1000u
#define OCI_DIGEST_SIZE 72 /* "sha256:" + 64 hex + NUL */

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_NONDIST "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

struct oci_descriptor {
    char media_type[128];
    char digest[OCI_DIGEST_SIZE];
    uint64_t size;
};

struct oci_manifest {
    struct oci_descriptor config;
    struct oci_descriptor *layers; /* owned */
    size_t n_layers;
};

/* What the converter needs of the config, besides the config itself (owned). */
struct oci_config {
    json_t *json;
    char (*diff_ids)[OCI_DIGEST_SIZE]; /* owned, one a layer */
    size_t n_diff_ids;
};

/* Whether s is "sha256:" and 64 lowercase hex digits (the only algorithm accepted). */
bool oci_digest_ok(const char *s);

bool oci_is_index_type(const char *media_type);
bool oci_is_manifest_type(const char *media_type);

/* Reads a descriptor object ({mediaType, digest, size}); what names it in messages. */
int oci_descriptor_parse(const json_t *v, const char *what, struct oci_descriptor *ret,
                         struct image_error *e);

/* From an index, the descriptor of the linux/amd64 image manifest. -ENOENT when there is none. */
int oci_index_pick(const char *text, size_t size, struct oci_descriptor *ret,
                   struct image_error *e);

int oci_manifest_parse(const char *text, size_t size, struct oci_manifest *ret,
                       struct image_error *e);
void oci_manifest_release(struct oci_manifest *m);

/* Checks os/architecture (linux/amd64), rootfs.diff_ids (n_layers of them) and the types of the
 * config members the converter reads (Entrypoint, Cmd, Env, WorkingDir, User, Labels). */
int oci_config_parse(const char *text, size_t size, size_t n_layers, struct oci_config *ret,
                     struct image_error *e);
void oci_config_release(struct oci_config *c);
