/* Inspecting a converted image (inspect.h). The last layer is read with libarchive's own
 * decompression; the raw bytes are hashed on the way, so the layer's digest is checked too. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "inspect.h"
#include "oci-layout.h"

#define SMALL_FILE_MAX (64u << 10)

struct raw_reader {
    int fd;
    EVP_MD_CTX *sha;
    uint64_t size;
    uint8_t buf[1u << 16];
};

static la_ssize_t
read_raw(struct archive *a, void *userdata, const void **ret)
{
    struct raw_reader *rr = userdata;
    ssize_t n;

    (void)a;
    do
        n = read(rr->fd, rr->buf, sizeof(rr->buf));
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        EVP_DigestUpdate(rr->sha, rr->buf, (size_t)n);
        rr->size += (uint64_t)n;
    }
    *ret = rr->buf;
    return n;
}

/* The /.cloister files, as read from the layer. */
struct cloister_files {
    char *manifest, *signature, *signer_pem;
    size_t manifest_size, signature_size, signer_pem_size;
    bool has_init;
    uint8_t init_digest[32];
};

static void
cloister_files_release(struct cloister_files *f)
{
    free(f->manifest);
    free(f->signature);
    free(f->signer_pem);
}

static int
read_small(struct archive *a, struct archive_entry *ae, size_t max, char **ret, size_t *ret_size)
{
    la_int64_t size = archive_entry_size(ae);
    char *buf;

    if (size < 0 || (uint64_t)size > max)
        return -E2BIG;
    buf = malloc((size_t)size + 1);
    if (!buf)
        return -ENOMEM;
    if (archive_read_data(a, buf, (size_t)size) != size) {
        free(buf);
        return -EINVAL;
    }
    buf[size] = '\0';
    free(*ret);
    *ret = buf;
    *ret_size = (size_t)size;
    return 0;
}

static int
hash_entry(struct archive *a, uint8_t ret[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const void *buf;
    size_t len;
    la_int64_t offset;
    int x, r = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;

    while (r == 0 && (x = archive_read_data_block(a, &buf, &len, &offset)) != ARCHIVE_EOF)
        r = x >= ARCHIVE_WARN && EVP_DigestUpdate(ctx, buf, len) == 1 ? 0 : -EINVAL;
    if (r == 0 && EVP_DigestFinal_ex(ctx, ret, NULL) != 1)
        r = -ENOMEM;
    EVP_MD_CTX_free(ctx);
    return r;
}

static int
read_entries(struct archive *a, struct cloister_files *f)
{
    struct archive_entry *ae;
    int x, r = 0;

    while (r == 0 && (x = archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
        const char *p = x >= ARCHIVE_WARN ? archive_entry_pathname(ae) : NULL;
        if (!p)
            return -EINVAL;
        p += strncmp(p, "./", 2) == 0 ? 2 : p[0] == '/' ? 1 : 0;
        if (strcmp(p, ".cloister/manifest.json") == 0)
            r = read_small(a, ae, MANIFEST_SIZE_MAX, &f->manifest, &f->manifest_size);
        else if (strcmp(p, ".cloister/manifest.sig") == 0)
            r = read_small(a, ae, SMALL_FILE_MAX, &f->signature, &f->signature_size);
        else if (strcmp(p, ".cloister/signer.pem") == 0)
            r = read_small(a, ae, SMALL_FILE_MAX, &f->signer_pem, &f->signer_pem_size);
        else if (strcmp(p, ".cloister/cloister-init") == 0) {
            r = hash_entry(a, f->init_digest);
            f->has_init = r == 0;
        }
    }
    return r;
}

/* Reads the last layer, checking its digest. */
static int
read_cloister_layer(const struct oci_image *img, struct cloister_files *f, struct image_error *e)
{
    const struct oci_descriptor *l = &img->manifest.layers[img->manifest.n_layers - 1];
    struct raw_reader *rr = calloc(1, sizeof(*rr));
    struct archive *a = archive_read_new();
    char digest[OCI_DIGEST_SIZE] = "sha256:";
    const void *rest;
    uint8_t d[32];
    int r;

    if (rr)
        rr->fd = -1;
    r = rr && a && (rr->sha = EVP_MD_CTX_new()) &&
                EVP_DigestInit_ex(rr->sha, EVP_sha256(), NULL) == 1
            ? oci_layout_blob_open(img->dir, l->digest, &rr->fd, e)
            : -ENOMEM;
    if (r == 0 && (archive_read_support_format_tar(a) != ARCHIVE_OK ||
                   archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
                   archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
                   archive_read_open(a, rr, NULL, read_raw, NULL) != ARCHIVE_OK))
        r = image_errorf(e, -EINVAL, "the last layer is not a tar: %s", archive_error_string(a));
    if (r == 0 && read_entries(a, f) < 0)
        r = image_errorf(e, -EINVAL, "the last layer cannot be read: %s",
                         archive_error_string(a) ? archive_error_string(a) : "bad entry");
    while (r == 0 && read_raw(NULL, rr, &rest) > 0)
        ; /* the rest, for the digest */
    if (r == 0) {
        EVP_DigestFinal_ex(rr->sha, d, NULL);
        manifest_hex(d, 32, digest + 7);
        if (strcmp(digest, l->digest) != 0 || rr->size != l->size)
            r = image_errorf(e, -EINVAL, "the last layer does not match its digest %s", l->digest);
    }
    if (rr) {
        if (rr->fd >= 0)
            close(rr->fd);
        EVP_MD_CTX_free(rr->sha);
    }
    free(rr);
    archive_read_free(a);
    return r;
}

static bool
label_is(const struct oci_image *img, const char *name, const uint8_t value[32])
{
    const char *v = json_string_value(json_object_get(
        json_object_get(json_object_get(img->config.json, "config"), "Labels"), name));
    char hex[65];

    manifest_hex(value, 32, hex);
    return v && strcmp(v, hex) == 0;
}

void
inspect_result_release(struct inspect_result *r)
{
    manifest_free(r->manifest);
    free(r->manifest_text);
    *r = (struct inspect_result){ 0 };
}

int
image_inspect(const char *dir, const char *tag, struct inspect_result *ret, struct image_error *e)
{
    struct oci_image img = { 0 };
    struct cloister_files f = { 0 };
    struct inspect_result res = { 0 };
    const char *error = NULL;
    int r;

    r = oci_layout_read(dir, tag, &img, e);
    if (r == 0 && img.manifest.n_layers == 0)
        r = image_errorf(e, -ENOENT, "the image has no layers: it is not a converted image");
    if (r == 0)
        r = read_cloister_layer(&img, &f, e);
    if (r == 0 && (!f.manifest || !f.has_init))
        r = image_errorf(e, -ENOENT,
                         "the last layer has no /.cloister/manifest.json and "
                         "cloister-init: it is not a converted image");
    if (r == 0 && manifest_parse(f.manifest, f.manifest_size, &res.manifest, &error) < 0)
        r = image_errorf(e, -EINVAL, "/.cloister/manifest.json is not valid: %s",
                         error ? error : "malformed");
    if (r == 0)
        r = manifest_measurement(res.manifest, f.init_digest, res.mrenclave);
    if (r == 0) {
        memcpy(res.init_digest, f.init_digest, 32);
        res.signature =
            manifest_signature_check(res.manifest, f.signer_pem, f.signer_pem_size, f.signature,
                                     f.signature_size, &res.signature_problem);
        res.labels_match = label_is(&img, "dev.cloister.mrenclave", res.mrenclave) &&
                           label_is(&img, "dev.cloister.mrsigner", res.manifest->signer);
        memcpy(res.image_digest, img.manifest_desc.digest, OCI_DIGEST_SIZE);
        res.manifest_text = TAKE_PTR(f.manifest);
        res.manifest_size = f.manifest_size;
        *ret = res;
        res = (struct inspect_result){ 0 };
    }
    inspect_result_release(&res);
    cloister_files_release(&f);
    oci_image_release(&img);
    return r;
}
