/* OCI layout directories (oci-layout.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "manifest.h"
#include "oci-layout.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define LAYOUT_FILE "{\"imageLayoutVersion\":\"1.0.0\"}"

static int
read_all(int fd, size_t max, char **ret, size_t *ret_size)
{
    _cleanup_free_ char *buf = malloc(max + 1);
    size_t used = 0;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, buf + used, max + 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max)
            return -E2BIG;
    }
    buf[used] = '\0';
    *ret = TAKE_PTR(buf);
    *ret_size = used;
    return 0;
}

static char *
blob_path(const char *dir, const char *digest)
{
    char *p = NULL;

    if (asprintf(&p, "%s/blobs/sha256/%s", dir, digest + 7) < 0)
        return NULL;
    return p;
}

int
oci_layout_blob_open(const char *dir, const char *digest, int *ret_fd, struct image_error *e)
{
    _cleanup_free_ char *path = blob_path(dir, digest);
    int fd;

    if (!path)
        return -ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return image_errorf(e, -errno, "blob %s is missing from %s: %s", digest, dir,
                            strerror(errno));
    *ret_fd = fd;
    return 0;
}

static void
digest_of(const void *data, size_t size, char ret[OCI_DIGEST_SIZE])
{
    uint8_t d[32];

    manifest_sha256(data, size, d);
    memcpy(ret, "sha256:", 7);
    manifest_hex(d, 32, ret + 7);
}

/* A small JSON blob, checked against its descriptor's size and digest. */
static int
read_json_blob(const char *dir, const struct oci_descriptor *desc, const char *what, char **ret,
               size_t *ret_size, struct image_error *e)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *text = NULL;
    char digest[OCI_DIGEST_SIZE];
    size_t size = 0;
    int r;

    if (desc->size > OCI_JSON_MAX)
        return image_errorf(e, -EINVAL, "the %s (%s) is larger than %u bytes", what, desc->digest,
                            OCI_JSON_MAX);
    r = oci_layout_blob_open(dir, desc->digest, &fd, e);
    if (r < 0)
        return r;
    r = read_all(fd, OCI_JSON_MAX, &text, &size);
    if (r < 0)
        return image_errorf(e, r, "cannot read the %s %s: %s", what, desc->digest, strerror(-r));
    digest_of(text, size, digest);
    if (size != desc->size || strcmp(digest, desc->digest) != 0)
        return image_errorf(e, -EINVAL,
                            "the %s blob does not match its digest %s (it has %s, "
                            "%zu bytes)",
                            what, desc->digest, digest, size);
    *ret = TAKE_PTR(text);
    *ret_size = size;
    return 0;
}

static int
read_index(const char *dir, json_t **ret, struct image_error *e)
{
    _cleanup_free_ char *path = NULL, *text = NULL;
    _cleanup_close_ int fd = -1;
    json_error_t err;
    size_t size = 0;
    int r;

    if (asprintf(&path, "%s/index.json", dir) < 0)
        return -ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return image_errorf(e, -errno, "%s is not an OCI layout: %s", dir, strerror(errno));
    r = read_all(fd, OCI_JSON_MAX, &text, &size);
    if (r < 0)
        return image_errorf(e, r, "cannot read %s: %s", path, strerror(-r));
    *ret = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
    if (!*ret || !json_is_array(json_object_get(*ret, "manifests"))) {
        json_decref(*ret);
        *ret = NULL;
        return image_errorf(e, -EINVAL, "%s is not an OCI index: %s", path,
                            err.text[0] ? err.text : "no manifests array");
    }
    return 0;
}

/* The descriptor index.json gives tag (or its only one). */
static int
find_tag(const char *dir, const char *tag, struct oci_descriptor *ret, struct image_error *e)
{
    _cleanup_(json_decrefp) json_t *index = NULL;
    json_t *manifests, *d;
    size_t i;
    int r;

    r = read_index(dir, &index, e);
    if (r < 0)
        return r;
    manifests = json_object_get(index, "manifests");
    if (!tag && json_array_size(manifests) == 1)
        return oci_descriptor_parse(json_array_get(manifests, 0), "index.json manifests[0]", ret,
                                    e);
    if (!tag)
        return image_errorf(e, -EINVAL, "%s holds %zu images: name one with oci:%s:TAG", dir,
                            json_array_size(manifests), dir);
    json_array_foreach(manifests, i, d) {
        const char *name =
            json_string_value(json_object_get(json_object_get(d, "annotations"), REF_NAME));
        if (name && strcmp(name, tag) == 0)
            return oci_descriptor_parse(d, "index.json's descriptor of the tag", ret, e);
    }
    return image_errorf(e, -ENOENT, "%s has no image tagged %s", dir, tag);
}

void
oci_image_release(struct oci_image *img)
{
    free(img->dir);
    free(img->manifest_text);
    oci_manifest_release(&img->manifest);
    oci_config_release(&img->config);
    free(img->config_text);
    *img = (struct oci_image){ 0 };
}

int
oci_layout_read(const char *dir, const char *tag, struct oci_image *ret, struct image_error *e)
{
    struct oci_image img = { 0 };
    struct oci_descriptor desc;
    _cleanup_free_ char *text = NULL;
    size_t size = 0;
    int r;

    r = find_tag(dir, tag, &desc, e);
    if (r == 0 && oci_is_index_type(desc.media_type)) {
        r = read_json_blob(dir, &desc, "image index", &text, &size, e);
        if (r == 0)
            r = oci_index_pick(text, size, &desc, e);
        free(TAKE_PTR(text));
    } else if (r == 0 && !oci_is_manifest_type(desc.media_type))
        r = image_errorf(e, -EINVAL, "the tag points at a %s, not an image", desc.media_type);
    if (r == 0)
        r = read_json_blob(dir, &desc, "image manifest", &img.manifest_text, &img.manifest_size, e);
    if (r == 0)
        r = oci_manifest_parse(img.manifest_text, img.manifest_size, &img.manifest, e);
    img.manifest_desc = desc;
    if (r == 0)
        r = read_json_blob(dir, &img.manifest.config, "image config", &img.config_text,
                           &img.config_size, e);
    if (r == 0)
        r = oci_config_parse(img.config_text, img.config_size, img.manifest.n_layers, &img.config,
                             e);
    if (r == 0 && !(img.dir = strdup(dir)))
        r = -ENOMEM;
    if (r < 0) {
        oci_image_release(&img);
        return r;
    }
    *ret = img;
    return 0;
}

/* Writing. */

static int
write_all(int fd, const void *data, size_t size)
{
    const char *p = data;

    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Writes path atomically: a temporary file, fsync, rename. */
static int
replace_file(const char *path, const void *data, size_t size)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    r = write_all(fd, data, size);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

static int
make_dir(const char *path)
{
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int
oci_layout_out_open(const char *dir, struct oci_layout_out *ret, struct image_error *e)
{
    _cleanup_free_ char *blobs = NULL, *sha = NULL, *layout = NULL;
    struct stat st;
    int r;

    if (asprintf(&blobs, "%s/blobs", dir) < 0 || asprintf(&sha, "%s/blobs/sha256", dir) < 0 ||
        asprintf(&layout, "%s/oci-layout", dir) < 0)
        return -ENOMEM;
    r = make_dir(dir);
    if (r == 0)
        r = make_dir(blobs);
    if (r == 0)
        r = make_dir(sha);
    if (r == 0 && stat(layout, &st) < 0)
        r = errno == ENOENT ? replace_file(layout, LAYOUT_FILE, strlen(LAYOUT_FILE)) : -errno;
    if (r < 0)
        return image_errorf(e, r, "cannot make the OCI layout %s: %s", dir, strerror(-r));
    ret->dir = strdup(dir);
    return ret->dir ? 0 : -ENOMEM;
}

void
oci_layout_out_release(struct oci_layout_out *out)
{
    free(out->dir);
    out->dir = NULL;
}

int
oci_layout_out_temp(struct oci_layout_out *out, int *ret_fd, char **ret_path, struct image_error *e)
{
    char *path = NULL;
    int fd;

    if (asprintf(&path, "%s/blobs/sha256/.tmp-XXXXXX", out->dir) < 0)
        return -ENOMEM;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        free(path);
        return image_errorf(e, r, "cannot write in %s: %s", out->dir, strerror(-r));
    }
    *ret_fd = fd;
    *ret_path = path;
    return 0;
}

int
oci_layout_out_commit_blob(struct oci_layout_out *out, int fd, const char *temp_path,
                           const char *digest, struct image_error *e)
{
    _cleanup_free_ char *path = blob_path(out->dir, digest);
    int r = 0;

    if (!path)
        r = -ENOMEM;
    else if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(temp_path, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(temp_path);
        return image_errorf(e, r, "cannot write blob %s in %s: %s", digest, out->dir, strerror(-r));
    }
    return 0;
}

int
oci_layout_out_put(struct oci_layout_out *out, const void *data, size_t size, char *ret,
                   struct image_error *e)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    digest_of(data, size, ret);
    r = oci_layout_out_temp(out, &fd, &tmp, e);
    if (r < 0)
        return r;
    r = write_all(fd, data, size);
    if (r < 0) {
        unlink(tmp);
        return image_errorf(e, r, "cannot write blob %s in %s: %s", ret, out->dir, strerror(-r));
    }
    return oci_layout_out_commit_blob(out, fd, tmp, ret, e);
}

static int
copy_checked(struct oci_layout_out *out, const char *src_dir, const char *digest,
             struct image_error *e)
{
    _cleanup_close_ int in = -1, fd = -1;
    _cleanup_free_ char *tmp = NULL, *buf = malloc(1u << 20);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char got[OCI_DIGEST_SIZE] = "sha256:";
    uint8_t d[32];
    int r;

    r = buf && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
    if (r == 0)
        r = oci_layout_blob_open(src_dir, digest, &in, e);
    if (r == 0)
        r = oci_layout_out_temp(out, &fd, &tmp, e);
    while (r == 0) {
        ssize_t n = read(in, buf, 1u << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        r = EVP_DigestUpdate(ctx, buf, (size_t)n) == 1 ? write_all(fd, buf, (size_t)n) : -ENOMEM;
    }
    if (r == 0 && EVP_DigestFinal_ex(ctx, d, NULL) != 1)
        r = -ENOMEM;
    EVP_MD_CTX_free(ctx);
    if (r == 0) {
        manifest_hex(d, 32, got + 7);
        if (strcmp(got, digest) != 0)
            r = image_errorf(e, -EINVAL, "blob %s of %s changed while it was copied (now %s)",
                             digest, src_dir, got);
    }
    if (r < 0) {
        if (tmp)
            unlink(tmp);
        return image_errorf(e, r, "cannot copy blob %s: %s", digest, strerror(-r));
    }
    return oci_layout_out_commit_blob(out, fd, tmp, digest, e);
}

int
oci_layout_out_copy_blob(struct oci_layout_out *out, const char *src_dir, const char *digest,
                         struct image_error *e)
{
    _cleanup_free_ char *from = blob_path(src_dir, digest), *to = blob_path(out->dir, digest);
    struct stat st;

    if (!from || !to)
        return -ENOMEM;
    if (stat(to, &st) == 0)
        return 0; /* content-addressed: already there */
    if (link(from, to) == 0)
        return 0;
    return copy_checked(out, src_dir, digest, e);
}

static json_t *
descriptor_json(const struct oci_descriptor *d, const char *tag)
{
    return json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", d->media_type, "digest", d->digest,
                     "size", (json_int_t)d->size, "annotations", REF_NAME, tag);
}

int
oci_layout_out_tag(struct oci_layout_out *out, const char *tag,
                   const struct oci_descriptor *manifest, struct image_error *e)
{
    _cleanup_(json_decrefp) json_t *index = NULL;
    _cleanup_free_ char *path = NULL, *text = NULL;
    json_t *manifests;
    size_t i = 0;
    int r;

    r = read_index(out->dir, &index, e);
    if (r < 0 && r != -ENOENT)
        return r; /* never replace an index.json that cannot be read */
    if (r == -ENOENT) {
        if (e)
            e->text[0] = '\0';
        index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
                          "manifests");
        if (!index)
            return -ENOMEM;
    }
    manifests = json_object_get(index, "manifests");
    while (i < json_array_size(manifests)) {
        json_t *d = json_array_get(manifests, i);
        const char *name =
            json_string_value(json_object_get(json_object_get(d, "annotations"), REF_NAME));
        if (name && strcmp(name, tag) == 0)
            json_array_remove(manifests, i);
        else
            i++;
    }
    if (json_array_append_new(manifests, descriptor_json(manifest, tag)) < 0)
        return -ENOMEM;
    text = json_dumps(index, JSON_COMPACT);
    if (!text || asprintf(&path, "%s/index.json", out->dir) < 0)
        return -ENOMEM;
    r = replace_file(path, text, strlen(text));
    if (r < 0)
        return image_errorf(e, r, "cannot write %s: %s", path, strerror(-r));
    return 0;
}
