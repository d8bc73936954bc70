/* The converter (convert.h). Reads everything and checks it before it writes anything but
 * content-addressed blobs; the output tag is the last thing written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cloister-layer.h"
#include "convert.h"
#include "image-layer.h"
#include "image-tree.h"
#include "manifest-build.h"
#include "manifest-signature.h"
#include "oci-layout.h"

#define INIT_ENTRYPOINT "/.cloister/cloister-init"
#define LABEL_MRENCLAVE "dev.cloister.mrenclave"
#define LABEL_MRSIGNER "dev.cloister.mrsigner"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct image_tree, image_tree_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free);

/* Everything a conversion holds, released in one place. */
struct conversion {
    const struct convert_options *o;
    struct image_error *e;
    struct oci_image in;
    struct jread_value *cfg; /* the settings with the image's "image" section */
    struct manifest_filters filters;
    struct tree_scan scan;
    enum image_compression *compression; /* of each input layer */
    struct jwbuf manifest_json;
    struct manifest *manifest;
    EVP_PKEY *key;
    unsigned char *signature;
    size_t signature_size;
    char *signer_pem;
    struct oci_layout_out out;
    size_t layer; /* the one being read, for progress */
};

static void
conversion_release(struct conversion *c)
{
    oci_image_release(&c->in);
    jread_free(c->cfg);
    manifest_filters_release(&c->filters);
    tree_scan_release(&c->scan);
    free(c->compression);
    jwbuf_release(&c->manifest_json);
    manifest_free(c->manifest);
    EVP_PKEY_free(c->key);
    OPENSSL_free(c->signature);
    free(c->signer_pem);
    oci_layout_out_release(&c->out);
}

static void
step(const struct conversion *c, const char *what)
{
    if (c->o->progress.step)
        c->o->progress.step(c->o->progress.userdata, what);
}

/* The manifest's "image" section from the input's config (Docker's names, as OCI keeps them). */
static json_t *
image_section(const json_t *config)
{
    const json_t *run = json_object_get(config, "config");
    const char *workdir = json_string_value(json_object_get(run, "WorkingDir"));
    const char *user = json_string_value(json_object_get(run, "User"));
    static const char *const lists[][2] = { { "entrypoint", "Entrypoint" },
                                            { "cmd", "Cmd" },
                                            { "env", "Env" } };
    json_t *image = json_object();

    for (size_t i = 0; image && i < ELEMENTSOF(lists); i++) {
        json_t *v = json_object_get(run, lists[i][1]);
        if (json_object_set_new(image, lists[i][0],
                                json_is_array(v) ? json_deep_copy(v) : json_array()) < 0)
            return json_decref(image), NULL;
    }
    if (image && workdir && *workdir && json_object_set_new(image, "workdir", json_string(workdir)))
        return json_decref(image), NULL;
    if (image && user && *user && json_object_set_new(image, "user", json_string(user)))
        return json_decref(image), NULL;
    return image;
}

static int
read_settings(struct conversion *c)
{
    _cleanup_(json_decrefp) json_t *settings = NULL;
    _cleanup_free_ char *text = NULL;
    json_error_t err;
    int r;

    settings = json_loadb(c->o->app_config, c->o->app_config_size, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(settings))
        return image_errorf(c->e, -EINVAL, "the app settings are not a JSON object: %s",
                            settings ? "" : err.text);
    if (json_object_get(settings, "image"))
        return image_errorf(c->e, -EINVAL,
                            "the app settings may not have \"image\": it comes "
                            "from the input image's config");
    if (json_object_set_new(settings, "image", image_section(c->in.config.json)) < 0)
        return -ENOMEM;
    text = json_dumps(settings, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    r = jread_parse(text, strlen(text), MANIFEST_SIZE_MAX, &c->cfg, NULL);
    if (r < 0)
        return image_errorf(c->e, r, "the app settings cannot be read: %s", strerror(-r));
    r = manifest_filters_get(c->cfg, &c->filters);
    if (r < 0)
        return image_errorf(c->e, r,
                            "the app settings' tree.skip, rw_dirs or encrypted_dirs are "
                            "not lists of paths (tree.skip must contain /.cloister)");
    return 0;
}

static bool
is_layer_type(const char *mt)
{
    static const char *const types[] = { OCI_MT_LAYER,         OCI_MT_LAYER_GZIP,
                                         OCI_MT_LAYER_ZSTD,    DOCKER_MT_LAYER_GZIP,
                                         OCI_MT_LAYER_NONDIST, OCI_MT_LAYER_NONDIST "+gzip" };

    for (size_t i = 0; i < ELEMENTSOF(types); i++)
        if (strcmp(mt, types[i]) == 0)
            return true;
    return false;
}

static void
on_layer_read(void *userdata, uint64_t done)
{
    const struct conversion *c = userdata;
    if (c->o->progress.layer_read)
        c->o->progress.layer_read(c->o->progress.userdata, done,
                                  c->in.manifest.layers[c->layer].size);
}

/* "layer 2 of 3 (sha256:…): " before the message of what failed in it. */
static int
layer_failed(struct conversion *c, int r, size_t i)
{
    char why[384];

    if (!c->e)
        return r;
    snprintf(why, sizeof(why), "%.383s", c->e->text[0] ? c->e->text : strerror(-r));
    snprintf(c->e->text, sizeof(c->e->text), "layer %zu of %zu (%s): %s", i + 1,
             c->in.manifest.n_layers, c->in.manifest.layers[i].digest, why);
    return r;
}

static int
check_layer(struct conversion *c, size_t i, const struct image_layer_info *info)
{
    const struct oci_descriptor *l = &c->in.manifest.layers[i];
    char digest[OCI_DIGEST_SIZE] = "sha256:", diff_id[OCI_DIGEST_SIZE] = "sha256:";

    manifest_hex(info->digest, 32, digest + 7);
    manifest_hex(info->diff_id, 32, diff_id + 7);
    if (strcmp(digest, l->digest) != 0 || info->size != l->size)
        return image_errorf(c->e, -EINVAL,
                            "the blob does not match its digest: it has %s, %llu "
                            "bytes, the manifest says %s, %llu bytes",
                            digest, (unsigned long long)info->size, l->digest,
                            (unsigned long long)l->size);
    if (strcmp(diff_id, c->in.config.diff_ids[i]) != 0)
        return image_errorf(c->e, -EINVAL,
                            "the uncompressed layer is %s, the config's diff_id "
                            "says %s",
                            diff_id, c->in.config.diff_ids[i]);
    return 0;
}

/* Every layer in order into one tree: the file list of the manifest. */
static int
flatten(struct conversion *c)
{
    _cleanup_(image_tree_freep) struct image_tree *tree = NULL;
    const struct oci_manifest *m = &c->in.manifest;
    int r;

    r = image_tree_new(&c->filters.skip, &c->filters.keep, &tree);
    if (r < 0)
        return r;
    c->compression = calloc(m->n_layers + 1, sizeof(*c->compression));
    if (!c->compression)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_layers; i++) {
        _cleanup_close_ int fd = -1;
        struct image_layer_info info;
        c->layer = i;
        if (c->o->progress.layer_begin)
            c->o->progress.layer_begin(c->o->progress.userdata, i, m->n_layers, m->layers[i].digest,
                                       m->layers[i].size);
        if (!is_layer_type(m->layers[i].media_type))
            r = image_errorf(c->e, -EINVAL, "media type %s is not a layer",
                             m->layers[i].media_type);
        if (r == 0)
            r = oci_layout_blob_open(c->in.dir, m->layers[i].digest, &fd, c->e);
        image_tree_next_layer(tree);
        if (r == 0)
            r = image_layer_apply(fd, tree, on_layer_read, c, &info, c->e);
        if (r == 0)
            r = check_layer(c, i, &info);
        if (r < 0)
            return layer_failed(c, r, i);
        c->compression[i] = info.compression;
    }
    return image_tree_entries(tree, &c->scan);
}

static int
read_key_file(struct conversion *c)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new_file(c->o->signer_key, "r");

    if (!bio)
        return image_errorf(c->e, -ENOENT, "cannot read the signing key %s", c->o->signer_key);
    c->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!c->key)
        return image_errorf(c->e, -EINVAL, "the signing key %s is not a PEM private key",
                            c->o->signer_key);
    return 0;
}

/* The key, its public half as PEM (signer.pem) and the signer it gives. */
static int
load_key(struct conversion *c, uint8_t ret_signer[32])
{
    int r;

    if (c->o->signer_pkey) {
        if (EVP_PKEY_up_ref(c->o->signer_pkey) != 1)
            return -ENOMEM;
        c->key = c->o->signer_pkey;
    } else {
        r = read_key_file(c);
        if (r < 0)
            return r;
    }
    r = manifest_key_pem(c->key, &c->signer_pem);
    if (r == -EINVAL)
        return image_errorf(c->e, r, "the signing key has no usable public key");
    if (r < 0)
        return r;
    return manifest_key_signer(c->key, ret_signer);
}

static int
make_manifest(struct conversion *c, const uint8_t init_digest[32], struct convert_result *ret)
{
    uint8_t signer[32] = { 0 };
    const char *error = NULL;
    int r;

    if (c->o->signer_key || c->o->signer_pkey) {
        r = load_key(c, signer);
        if (r < 0)
            return r;
    }
    r = manifest_build(c->cfg, &c->filters, &c->scan, signer, &c->manifest_json);
    if (r < 0)
        return image_errorf(c->e, r,
                            "cannot make the manifest from the app settings (a value "
                            "of the wrong type?)");
    r = manifest_parse(c->manifest_json.data, c->manifest_json.size, &c->manifest, &error);
    if (r < 0)
        return image_errorf(c->e, r, "the manifest would not be valid: %s",
                            error ? error : "malformed");
    if (c->key) {
        r = manifest_sign(c->manifest, c->key, &c->signature, &c->signature_size);
        if (r < 0)
            return image_errorf(c->e, r, "cannot sign the manifest with the signing key");
    }
    r = manifest_measurement(c->manifest, init_digest, ret->mrenclave);
    if (r < 0)
        return r;
    memcpy(ret->mrsigner, c->manifest->signer, 32);
    memcpy(ret->manifest_digest, c->manifest->digest, 32);
    memcpy(ret->tree_digest, c->manifest->tree_digest, 32);
    ret->isvprodid = c->manifest->isvprodid;
    ret->isvsvn = c->manifest->isvsvn;
    return 0;
}

static const char *
output_layer_type(enum image_compression compression)
{
    switch (compression) {
    case IMAGE_COMPRESSION_GZIP:
        return OCI_MT_LAYER_GZIP;
    case IMAGE_COMPRESSION_ZSTD:
        return OCI_MT_LAYER_ZSTD;
    case IMAGE_COMPRESSION_NONE:
        break;
    }
    return OCI_MT_LAYER;
}

/* The input's config with cloister-init as the entrypoint, the measurement in the labels, the
 * new layer's diff_id and history. */
static json_t *
output_config(const struct conversion *c, const struct convert_result *res, const char *diff_id)
{
    json_t *config = json_deep_copy(c->in.config.json), *run, *labels, *history;
    char hex[65];
    int r = config ? 0 : -1;

    run = json_object_get(config, "config");
    if (r == 0 && !json_is_object(run)) {
        run = json_object();
        r = json_object_set_new(config, "config", run);
    }
    labels = json_object_get(run, "Labels");
    if (r == 0 && !json_is_object(labels)) {
        labels = json_object();
        r = json_object_set_new(run, "Labels", labels);
    }
    if (r == 0)
        r = json_object_set_new(run, "Entrypoint", json_pack("[s]", INIT_ENTRYPOINT));
    /* cloister-init starts as root to write the key and certificate, then runs the original
     * entrypoint as the image's user, which the manifest records. */
    if (r == 0) {
        json_object_del(run, "Cmd");
        json_object_del(run, "User");
    }
    manifest_hex(res->mrenclave, 32, hex);
    if (r == 0)
        r = json_object_set_new(labels, LABEL_MRENCLAVE, json_string(hex));
    manifest_hex(res->mrsigner, 32, hex);
    if (r == 0)
        r = json_object_set_new(labels, LABEL_MRSIGNER, json_string(hex));
    if (r == 0)
        r = json_array_append_new(json_object_get(json_object_get(config, "rootfs"), "diff_ids"),
                                  json_string(diff_id));
    history = json_object_get(config, "history");
    if (r == 0 && json_is_array(history))
        r = json_array_append_new(history,
                                  json_pack("{s:s, s:s}", "created_by", "cloister image convert",
                                            "comment", "cloister-init and its manifest"));
    if (r < 0) {
        json_decref(config);
        return NULL;
    }
    return config;
}

static int
put_json(struct conversion *c, const json_t *v, char digest[OCI_DIGEST_SIZE], size_t *ret_size)
{
    _cleanup_free_ char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    if (!text)
        return -ENOMEM;
    *ret_size = strlen(text);
    return oci_layout_out_put(&c->out, text, *ret_size, digest, c->e);
}

static int
write_layer(struct conversion *c, int init_fd, struct oci_descriptor *ret, char *diff_id)
{
    struct cloister_layer_file files[4] = {
        { .name = "cloister-init", .fd = init_fd, .mode = 0755 },
        { .name = "manifest.json",
          .data = c->manifest_json.data,
          .size = c->manifest_json.size,
          .mode = 0644 },
    };
    size_t n = 2;

    if (c->key) {
        files[n++] = (struct cloister_layer_file){
            .name = "manifest.sig", .data = c->signature, .size = c->signature_size, .mode = 0644
        };
        files[n++] = (struct cloister_layer_file){
            .name = "signer.pem", .data = c->signer_pem, .size = strlen(c->signer_pem), .mode = 0644
        };
    }
    return cloister_layer_write(&c->out, files, n, ret, diff_id, c->e);
}

static int
write_output(struct conversion *c, int init_fd, struct convert_result *res)
{
    _cleanup_(json_decrefp) json_t *config = NULL, *manifest = NULL;
    struct oci_descriptor layer, cfg_desc = { .media_type = OCI_MT_CONFIG };
    struct oci_descriptor man_desc = { .media_type = OCI_MT_MANIFEST };
    char diff_id[OCI_DIGEST_SIZE];
    json_t *layers;
    size_t size;
    int r;

    r = oci_layout_out_open(c->o->output_dir, &c->out, c->e);
    for (size_t i = 0; r == 0 && i < c->in.manifest.n_layers; i++)
        r = oci_layout_out_copy_blob(&c->out, c->in.dir, c->in.manifest.layers[i].digest, c->e);
    if (r == 0) {
        step(c, "writing the /.cloister layer");
        r = write_layer(c, init_fd, &layer, diff_id);
    }
    if (r < 0)
        return r;
    config = output_config(c, res, diff_id);
    r = put_json(c, config, cfg_desc.digest, &size);
    if (r < 0)
        return r;
    cfg_desc.size = size;
    res->image_size = size;
    manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                         OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG, "digest",
                         cfg_desc.digest, "size", (json_int_t)cfg_desc.size, "layers");
    layers = json_object_get(manifest, "layers");
    for (size_t i = 0; layers && i <= c->in.manifest.n_layers; i++) {
        const struct oci_descriptor *l =
            i < c->in.manifest.n_layers ? &c->in.manifest.layers[i] : &layer;
        const char *mt =
            i < c->in.manifest.n_layers ? output_layer_type(c->compression[i]) : l->media_type;
        if (json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest",
                                                    l->digest, "size", (json_int_t)l->size)) < 0)
            return -ENOMEM;
        res->image_size += l->size;
    }
    r = put_json(c, manifest, man_desc.digest, &size);
    if (r < 0)
        return r;
    man_desc.size = size;
    snprintf(res->image_digest, sizeof(res->image_digest), "%s", man_desc.digest);
    step(c, "tagging the image");
    return oci_layout_out_tag(&c->out, c->o->output_tag ? c->o->output_tag : "latest", &man_desc,
                              c->e);
}

int
image_convert(const struct convert_options *o, struct convert_result *ret, struct image_error *e)
{
    _cleanup_(conversion_release) struct conversion c = { .o = o, .e = e };
    _cleanup_close_ int init_fd = -1;
    struct convert_result res = { 0 };
    uint8_t init_digest[32];
    int r;

    init_fd = open(o->init_path, O_RDONLY | O_CLOEXEC);
    r = init_fd < 0 ? -errno : manifest_sha256_file(init_fd, init_digest, NULL);
    if (r < 0)
        return image_errorf(e, r, "cannot read cloister-init at %s: %s", o->init_path,
                            strerror(-r));
    step(&c, "reading the input image");
    r = oci_layout_read(o->input_dir, o->input_tag, &c.in, e);
    if (r == 0)
        r = read_settings(&c);
    if (r == 0)
        r = flatten(&c);
    if (r == 0) {
        step(&c, "making the manifest");
        r = make_manifest(&c, init_digest, &res);
    }
    if (r == 0)
        r = write_output(&c, init_fd, &res);
    if (r < 0)
        return r == -ENOMEM ? image_errorf(e, r, "out of memory") : r;
    *ret = res;
    return 0;
}
