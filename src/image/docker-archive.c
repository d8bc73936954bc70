/* docker-archive tarballs through OCI layouts (docker-archive.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "docker-archive.h"
#include "manifest.h"
#include "oci-layout.h"

#define MEMBERS_MAX 4096u

/* A file of the archive: small JSON kept in memory, anything else made a blob. */
struct member {
    char *name;
    char digest[OCI_DIGEST_SIZE];
    uint64_t size;
    char *data; /* JSON files only */
    uint8_t magic[4];
};

struct archive_members {
    struct member items[MEMBERS_MAX];
    size_t n;
};

static void
members_release(struct archive_members *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].name);
        free(m->items[i].data);
    }
    free(m);
}

static const struct member *
member_find(const struct archive_members *m, const char *name)
{
    if (name && strncmp(name, "./", 2) == 0)
        name += 2;
    for (size_t i = 0; name && i < m->n; i++)
        if (strcmp(m->items[i].name, name) == 0)
            return &m->items[i];
    return NULL;
}

static void
hex_digest(const uint8_t d[32], char out[OCI_DIGEST_SIZE])
{
    memcpy(out, "sha256:", 7);
    manifest_hex(d, 32, out + 7);
}

static int
keep_json(struct archive *a, struct member *m)
{
    uint8_t d[32];

    m->data = malloc(m->size + 1);
    if (!m->data)
        return -ENOMEM;
    if (archive_read_data(a, m->data, m->size) != (la_ssize_t)m->size)
        return -EINVAL;
    m->data[m->size] = '\0';
    manifest_sha256(m->data, m->size, d);
    hex_digest(d, m->digest);
    return 0;
}

/* Streams the current entry into a blob of out. */
static int
store_blob(struct archive *a, struct oci_layout_out *out, struct member *m, struct image_error *e)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const void *buf;
    size_t len, got = 0;
    la_int64_t offset;
    uint8_t d[32];
    int x, r;

    r = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
    if (r == 0)
        r = oci_layout_out_temp(out, &fd, &tmp, e);
    while (r == 0 && (x = archive_read_data_block(a, &buf, &len, &offset)) != ARCHIVE_EOF) {
        if (x < ARCHIVE_WARN || (uint64_t)offset != got) {
            r = image_errorf(e, -EINVAL, "%s: cannot read it from the archive: %s", m->name,
                             archive_error_string(a) ? archive_error_string(a) : "sparse");
            break;
        }
        if (got < 4)
            memcpy(m->magic + got, buf, len < 4 - got ? len : 4 - got);
        r = EVP_DigestUpdate(ctx, buf, len) == 1 && write(fd, buf, len) == (ssize_t)len ? 0 : -EIO;
        got += len;
    }
    if (r == 0 && EVP_DigestFinal_ex(ctx, d, NULL) != 1)
        r = -ENOMEM;
    EVP_MD_CTX_free(ctx);
    if (r < 0) {
        if (tmp)
            unlink(tmp);
        return image_errorf(e, r, "cannot store %s: %s", m->name, strerror(-r));
    }
    m->size = got;
    hex_digest(d, m->digest);
    return oci_layout_out_commit_blob(out, fd, tmp, m->digest, e);
}

static int
read_members(const char *file, struct oci_layout_out *out, struct archive_members *ms,
             struct image_error *e)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    int x, r = 0;

    if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(a) != ARCHIVE_OK)
        r = -ENOMEM;
    else if (archive_read_open_filename(a, file, 1u << 16) != ARCHIVE_OK)
        r = image_errorf(e, -EINVAL, "%s is not a readable tar: %s", file, archive_error_string(a));
    while (r == 0 && (x = archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
        const char *name = x >= ARCHIVE_WARN ? archive_entry_pathname(ae) : NULL;
        struct member *m;
        if (!name) {
            r = image_errorf(e, -EINVAL, "%s is not a valid tar: %s", file,
                             archive_error_string(a));
            break;
        }
        if (archive_entry_filetype(ae) != AE_IFREG)
            continue;
        if (ms->n == MEMBERS_MAX) {
            r = image_errorf(e, -E2BIG, "%s has more than %u files", file, MEMBERS_MAX);
            break;
        }
        m = &ms->items[ms->n++];
        m->name = strdup(name + (strncmp(name, "./", 2) == 0 ? 2 : 0));
        m->size = archive_entry_size(ae) > 0 ? (uint64_t)archive_entry_size(ae) : 0;
        if (!m->name)
            r = -ENOMEM;
        else if (m->size <= OCI_JSON_MAX && strstr(m->name, ".json"))
            r = keep_json(a, m);
        else
            r = store_blob(a, out, m, e);
    }
    archive_read_free(a);
    return r;
}

/* Whether a RepoTags name is repo_tag, also in the long form tools write for Docker Hub names
 * ("docker.io/library/tiny:1.0" for "tiny:1.0"). */
static bool
same_name(const char *listed, const char *repo_tag)
{
    static const char *const prefixes[] = { "", "docker.io/library/", "docker.io/" };

    for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(listed, prefixes[i], n) == 0 && strcmp(listed + n, repo_tag) == 0)
            return true;
    }
    return false;
}

/* The entry of manifest.json for repo_tag (or its only one). */
static const json_t *
pick_image(const json_t *list, const char *repo_tag)
{
    size_t i, j;
    const json_t *item, *t;

    if (!repo_tag)
        return json_array_size(list) == 1 ? json_array_get(list, 0) : NULL;
    json_array_foreach(list, i, item)
        json_array_foreach(json_object_get(item, "RepoTags"), j, t)
            if (json_is_string(t) && same_name(json_string_value(t), repo_tag))
                return item;
    return NULL;
}

static const char *
layer_type(const uint8_t magic[4])
{
    if (magic[0] == 0x1f && magic[1] == 0x8b)
        return OCI_MT_LAYER_GZIP;
    if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        return OCI_MT_LAYER_ZSTD;
    return OCI_MT_LAYER;
}

/* An OCI manifest for the archive's image, its config made a blob. */
static int
oci_manifest_of(struct oci_layout_out *out, const struct archive_members *ms, const json_t *img,
                json_t **ret, struct image_error *e)
{
    const struct member *cfg = member_find(ms, json_string_value(json_object_get(img, "Config")));
    json_t *layers = json_object_get(img, "Layers"), *l, *list;
    char digest[OCI_DIGEST_SIZE];
    size_t i;
    int r;

    if (!cfg || !cfg->data || !json_is_array(layers))
        return image_errorf(e, -EINVAL,
                            "the archive's manifest.json names a Config or Layers "
                            "that are not in it");
    r = oci_layout_out_put(out, cfg->data, cfg->size, digest, e);
    if (r < 0)
        return r;
    *ret = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                     OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG, "digest", digest,
                     "size", (json_int_t)cfg->size, "layers");
    list = json_object_get(*ret, "layers");
    json_array_foreach(layers, i, l) {
        const struct member *m = member_find(ms, json_string_value(l));
        if (!m || m->data)
            return image_errorf(e, -EINVAL, "the archive's layer %s is missing",
                                json_is_string(l) ? json_string_value(l) : "(not a string)");
        if (json_array_append_new(list,
                                  json_pack("{s:s, s:s, s:I}", "mediaType", layer_type(m->magic),
                                            "digest", m->digest, "size", (json_int_t)m->size)) < 0)
            return -ENOMEM;
    }
    return 0;
}

int
docker_archive_read(const char *archive, const char *repo_tag, const char *dir, const char *tag,
                    struct image_error *e)
{
    struct archive_members *ms = calloc(1, sizeof(*ms));
    struct oci_layout_out out = { 0 };
    struct oci_descriptor desc = { .media_type = OCI_MT_MANIFEST };
    json_t *list = NULL, *manifest = NULL;
    const struct member *mf;
    char *text = NULL;
    int r;

    r = ms ? oci_layout_out_open(dir, &out, e) : -ENOMEM;
    if (r == 0)
        r = read_members(archive, &out, ms, e);
    mf = r == 0 ? member_find(ms, "manifest.json") : NULL;
    if (r == 0 && !mf)
        r = image_errorf(e, -EINVAL, "%s has no manifest.json: it is not a docker-archive",
                         archive);
    if (r == 0)
        list = json_loadb(mf->data, mf->size, JSON_REJECT_DUPLICATES, NULL);
    if (r == 0 && !pick_image(list, repo_tag))
        r = image_errorf(e, -ENOENT, "%s has %s", archive,
                         repo_tag ? "no image of that name" : "not exactly one image");
    if (r == 0)
        r = oci_manifest_of(&out, ms, pick_image(list, repo_tag), &manifest, e);
    if (r == 0 && !(text = json_dumps(manifest, JSON_COMPACT)))
        r = -ENOMEM;
    if (r == 0)
        r = oci_layout_out_put(&out, text, strlen(text), desc.digest, e);
    desc.size = text ? strlen(text) : 0;
    if (r == 0)
        r = oci_layout_out_tag(&out, tag, &desc, e);
    free(text);
    json_decref(manifest);
    json_decref(list);
    oci_layout_out_release(&out);
    if (ms)
        members_release(ms);
    return r;
}

/* Writing. */

static int
add_header(struct archive *a, const char *name, uint64_t size)
{
    struct archive_entry *ae = archive_entry_new();
    int x;

    if (!ae)
        return -ENOMEM;
    archive_entry_set_pathname(ae, name);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, (la_int64_t)size);
    archive_entry_set_mtime(ae, 0, 0);
    x = archive_write_header(a, ae);
    archive_entry_free(ae);
    return x == ARCHIVE_OK ? 0 : -EIO;
}

static int
add_bytes(struct archive *a, const char *name, const void *data, size_t size)
{
    int r = add_header(a, name, size);

    if (r == 0 && archive_write_data(a, data, size) != (la_ssize_t)size)
        r = -EIO;
    return r;
}

static int
add_blob(struct archive *a, const char *dir, const struct oci_descriptor *d, const char *name,
         struct image_error *e)
{
    _cleanup_close_ int fd = -1;
    char buf[1u << 16];
    uint64_t left = d->size;
    int r;

    r = oci_layout_blob_open(dir, d->digest, &fd, e);
    if (r == 0)
        r = add_header(a, name, d->size);
    while (r == 0 && left > 0) {
        ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        if (archive_write_data(a, buf, (size_t)n) != n)
            return -EIO;
        left -= (uint64_t)n;
    }
    return r;
}

static int
write_archive(struct archive *a, const struct oci_image *img, const char *repo_tag,
              struct image_error *e)
{
    json_t *layers = json_array(), *list;
    char name[OCI_DIGEST_SIZE + 16], config[OCI_DIGEST_SIZE + 8];
    _cleanup_free_ char *text = NULL;
    int r = layers ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < img->manifest.n_layers; i++) {
        snprintf(name, sizeof(name), "%s/layer.tar", img->manifest.layers[i].digest + 7);
        r = add_blob(a, img->dir, &img->manifest.layers[i], name, e);
        if (r == 0 && json_array_append_new(layers, json_string(name)) < 0)
            r = -ENOMEM;
    }
    snprintf(config, sizeof(config), "%s.json", img->manifest.config.digest + 7);
    if (r == 0)
        r = add_bytes(a, config, img->config_text, img->config_size);
    list = json_pack("[{s:s, s:o, s:o}]", "Config", config, "RepoTags",
                     repo_tag ? json_pack("[s]", repo_tag) : json_null(), "Layers", layers);
    text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (r == 0 && !text)
        r = -ENOMEM;
    if (r == 0)
        r = add_bytes(a, "manifest.json", text, strlen(text));
    return r;
}

int
docker_archive_write(const char *dir, const char *tag, const char *archive, const char *repo_tag,
                     struct image_error *e)
{
    struct oci_image img = { 0 };
    struct archive *a = NULL;
    _cleanup_free_ char *tmp = NULL;
    int r;

    if (asprintf(&tmp, "%s.tmp-%d", archive, (int)getpid()) < 0)
        return -ENOMEM;
    r = oci_layout_read(dir, tag, &img, e);
    if (r == 0) {
        a = archive_write_new();
        r = a && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
                    archive_write_add_filter_none(a) == ARCHIVE_OK
                ? 0
                : -ENOMEM;
    }
    if (r == 0 && archive_write_open_filename(a, tmp) != ARCHIVE_OK)
        r = image_errorf(e, -EIO, "cannot write %s: %s", tmp, archive_error_string(a));
    if (r == 0)
        r = write_archive(a, &img, repo_tag, e);
    if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
        r = image_errorf(e, -EIO, "cannot write %s: %s", tmp, archive_error_string(a));
    if (a)
        archive_write_free(a);
    if (r == 0 && rename(tmp, archive) < 0)
        r = image_errorf(e, -errno, "cannot write %s: %s", archive, strerror(errno));
    if (r < 0) {
        unlink(tmp);
        if (e && !e->text[0])
            image_errorf(e, r, "cannot write %s: %s", archive, strerror(-r));
    }
    oci_image_release(&img);
    return r;
}
