/* The /.cloister layer (cloister-layer.h): libarchive writes the tar into our callback, which
 * hashes it (the diff_id), gzips it, hashes that (the digest) and writes it to a blob. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "cloister-layer.h"
#include "manifest.h"

#define GZIP_LEVEL 6

struct layer_sink {
    int fd;
    z_stream z;
    EVP_MD_CTX *tar_sha, *blob_sha;
    uint64_t size;
    int error;
    uint8_t buf[1u << 16];
};

static int
sink_write(struct layer_sink *s, const void *data, size_t size, int flush)
{
    s->z.next_in = (Bytef *)data;
    s->z.avail_in = (uInt)size;
    do {
        size_t n;
        ssize_t w;
        s->z.next_out = s->buf;
        s->z.avail_out = sizeof(s->buf);
        if (deflate(&s->z, flush) == Z_STREAM_ERROR)
            return -EIO;
        n = sizeof(s->buf) - s->z.avail_out;
        if (n > 0 && EVP_DigestUpdate(s->blob_sha, s->buf, n) != 1)
            return -ENOMEM;
        for (size_t done = 0; done < n; done += (size_t)w) {
            w = write(s->fd, s->buf + done, n - done);
            if (w < 0 && errno == EINTR)
                w = 0;
            else if (w < 0)
                return -errno;
        }
        s->size += n;
    } while (s->z.avail_out == 0 || s->z.avail_in > 0);
    return 0;
}

static la_ssize_t
on_tar(struct archive *a, void *userdata, const void *data, size_t size)
{
    struct layer_sink *s = userdata;
    int r;

    (void)a;
    r = EVP_DigestUpdate(s->tar_sha, data, size) == 1 ? sink_write(s, data, size, Z_NO_FLUSH)
                                                      : -ENOMEM;
    if (r < 0) {
        s->error = r;
        return -1;
    }
    return (la_ssize_t)size;
}

static int
add_entry(struct archive *a, const char *path, unsigned type, uint32_t mode, uint64_t size)
{
    struct archive_entry *ae = archive_entry_new();
    int x;

    if (!ae)
        return -ENOMEM;
    archive_entry_set_pathname(ae, path);
    archive_entry_set_filetype(ae, type);
    archive_entry_set_perm(ae, mode);
    archive_entry_set_size(ae, (la_int64_t)size);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    archive_entry_set_mtime(ae, 0, 0);
    x = archive_write_header(a, ae);
    archive_entry_free(ae);
    return x == ARCHIVE_OK ? 0 : -EIO;
}

static int
add_file(struct archive *a, const struct cloister_layer_file *f)
{
    _cleanup_free_ char *path = NULL;
    uint8_t buf[1u << 16];
    off_t size = (off_t)f->size;
    int r;

    if (asprintf(&path, ".cloister/%s", f->name) < 0)
        return -ENOMEM;
    if (!f->data) {
        size = lseek(f->fd, 0, SEEK_END);
        if (size < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
            return -errno;
    }
    r = add_entry(a, path, AE_IFREG, f->mode, (uint64_t)size);
    if (r < 0)
        return r;
    if (f->data)
        return archive_write_data(a, f->data, f->size) == (la_ssize_t)f->size ? 0 : -EIO;
    for (off_t left = size; left > 0;) {
        ssize_t n = read(f->fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO; /* the file shrank */
        if (archive_write_data(a, buf, (size_t)n) != n)
            return -EIO;
        left -= n;
    }
    return 0;
}

static void
hex_digest(EVP_MD_CTX *ctx, char ret[OCI_DIGEST_SIZE])
{
    uint8_t d[32];

    EVP_DigestFinal_ex(ctx, d, NULL);
    memcpy(ret, "sha256:", 7);
    manifest_hex(d, 32, ret + 7);
}

static int
write_tar(struct layer_sink *s, const struct cloister_layer_file *files, size_t n)
{
    struct archive *a = archive_write_new();
    int r;

    if (!a)
        return -ENOMEM;
    r = archive_write_set_format_ustar(a) == ARCHIVE_OK &&
                archive_write_add_filter_none(a) == ARCHIVE_OK &&
                archive_write_open(a, s, NULL, on_tar, NULL) == ARCHIVE_OK
            ? 0
            : -EIO;
    if (r == 0)
        r = add_entry(a, ".cloister/", AE_IFDIR, 0755, 0);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = add_file(a, &files[i]);
    if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
        r = -EIO;
    archive_write_free(a);
    return s->error ? s->error : r;
}

int
cloister_layer_write(struct oci_layout_out *out, const struct cloister_layer_file *files, size_t n,
                     struct oci_descriptor *ret, char diff_id[OCI_DIGEST_SIZE],
                     struct image_error *e)
{
    _cleanup_free_ struct layer_sink *s = calloc(1, sizeof(*s));
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    bool z_ready = false;
    int r;

    if (!s)
        return -ENOMEM;
    r = oci_layout_out_temp(out, &fd, &tmp, e);
    if (r < 0)
        return r;
    s->fd = fd;
    s->tar_sha = EVP_MD_CTX_new();
    s->blob_sha = EVP_MD_CTX_new();
    if (!s->tar_sha || !s->blob_sha || EVP_DigestInit_ex(s->tar_sha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(s->blob_sha, EVP_sha256(), NULL) != 1 ||
        deflateInit2(&s->z, GZIP_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        r = -ENOMEM;
    else
        z_ready = true;
    if (r == 0)
        r = write_tar(s, files, n);
    if (r == 0)
        r = sink_write(s, NULL, 0, Z_FINISH);
    if (r == 0) {
        *ret = (struct oci_descriptor){ .media_type = OCI_MT_LAYER_GZIP, .size = s->size };
        hex_digest(s->blob_sha, ret->digest);
        hex_digest(s->tar_sha, diff_id);
    }
    if (z_ready)
        deflateEnd(&s->z);
    EVP_MD_CTX_free(s->tar_sha);
    EVP_MD_CTX_free(s->blob_sha);
    if (r < 0) {
        unlink(tmp);
        return image_errorf(e, r, "cannot write the /.cloister layer: %s", strerror(-r));
    }
    return oci_layout_out_commit_blob(out, fd, tmp, ret->digest, e);
}
