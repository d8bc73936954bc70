/* One pass over a layer blob (image-layer.h): the stream (layer-stream.h, its own thread) reads,
 * hashes and decompresses the blob; here the uncompressed tar is hashed (diff_id) and read by
 * libarchive into an image_tree, each file's content hashed as it is read. libarchive only
 * parses the tar: decompression is ours so that the uncompressed stream can be hashed too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "image-layer.h"
#include "layer-stream.h"

#define LAYER_HOLES_MAX (1024u << 20)
#define PROGRESS_EVERY (8u << 20)

/* The tar side of the pass; the stored bytes and their decompression are the stream's. */
struct layer_reader {
    struct layer_stream *stream;
    EVP_MD_CTX *tar_sha;
    uint64_t stored, uncompressed, last_progress;
    uint64_t holes; /* zeros hashed for sparse files so far */
    image_progress_fn progress;
    void *userdata;
    struct image_error *e;
    int error; /* the first failure of a callback, as a negative errno */
};

/* libarchive's read callback: the next piece of the uncompressed tar. */
static la_ssize_t
read_tar(struct archive *a, void *userdata, const void **ret_buf)
{
    struct layer_reader *s = userdata;
    size_t len = 0;
    int r;

    (void)a;
    r = layer_stream_next(s->stream, ret_buf, &len, &s->stored, s->e);
    if (r < 0) {
        s->error = r;
        return -1;
    }
    s->uncompressed += len;
    if (len > 0 && EVP_DigestUpdate(s->tar_sha, *ret_buf, len) != 1) {
        s->error = -ENOMEM;
        return -1;
    }
    if (s->progress && s->stored - s->last_progress >= PROGRESS_EVERY) {
        s->last_progress = s->stored;
        s->progress(s->userdata, s->stored);
    }
    return (la_ssize_t)len;
}

static enum image_entry_kind
entry_kind(struct archive_entry *ae)
{
    if (archive_entry_hardlink(ae))
        return IMAGE_ENTRY_HARDLINK;
    switch (archive_entry_filetype(ae)) {
    case AE_IFREG:
        return IMAGE_ENTRY_FILE;
    case AE_IFDIR:
        return IMAGE_ENTRY_DIR;
    case AE_IFLNK:
        return IMAGE_ENTRY_SYMLINK;
    default:
        return IMAGE_ENTRY_OTHER;
    }
}

/* Feeds n zero bytes (a sparse file's hole) to ctx. */
static int
hash_zeros(EVP_MD_CTX *ctx, uint64_t n)
{
    static const uint8_t zeros[1u << 16];

    for (; n > 0; n -= n < sizeof(zeros) ? n : sizeof(zeros))
        if (EVP_DigestUpdate(ctx, zeros, n < sizeof(zeros) ? n : sizeof(zeros)) != 1)
            return -ENOMEM;
    return 0;
}

/* A sparse file's hole, hashed as zeros, within the layer's budget for holes: a few KiB of tar
 * can describe a file of terabytes. */
static int
hash_hole(struct layer_reader *s, EVP_MD_CTX *ctx, const char *path, uint64_t n)
{
    if (n > LAYER_HOLES_MAX - s->holes)
        return image_errorf(s->e, -EINVAL,
                            "%s: sparse files with more than %u MiB of holes in "
                            "one layer are not supported",
                            path, LAYER_HOLES_MAX >> 20);
    s->holes += n;
    return hash_zeros(ctx, n);
}

/* Hashes the content of the current (regular file) entry: its data blocks, and the holes of a
 * sparse file as the zeros a runtime unpacks them to, up to the entry's size. */
static int
hash_content(struct archive *a, struct layer_reader *s, const char *path, uint64_t size,
             uint8_t ret[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const void *buf;
    size_t len;
    la_int64_t offset;
    uint64_t at = 0;
    int r = 0;

    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -ENOMEM;
    }
    for (;;) {
        int x = archive_read_data_block(a, &buf, &len, &offset);
        if (x == ARCHIVE_EOF)
            break;
        if (x < ARCHIVE_WARN) {
            r = s->error ? s->error
                         : image_errorf(s->e, -EINVAL, "%s: %s", path, archive_error_string(a));
            break;
        }
        if (offset < 0 || (uint64_t)offset < at || (uint64_t)offset + len > size) {
            r = image_errorf(s->e, -EINVAL, "%s: data blocks out of order or past its size", path);
            break;
        }
        r = hash_hole(s, ctx, path, (uint64_t)offset - at);
        if (r == 0 && EVP_DigestUpdate(ctx, buf, len) != 1)
            r = -ENOMEM;
        at = (uint64_t)offset + len;
        if (r < 0)
            break;
    }
    if (r == 0)
        r = hash_hole(s, ctx, path, size - at);
    if (r == 0 && EVP_DigestFinal_ex(ctx, ret, NULL) != 1)
        r = -ENOMEM;
    EVP_MD_CTX_free(ctx);
    return r;
}

static int
apply_entries(struct archive *a, struct layer_reader *s, struct image_tree *t)
{
    struct archive_entry *ae;
    int x, r;

    for (;;) {
        struct image_entry in = { 0 };

        x = archive_read_next_header(a, &ae);
        if (x == ARCHIVE_EOF)
            return 0;
        if (x < ARCHIVE_WARN)
            return s->error ? s->error
                            : image_errorf(s->e, -EINVAL, "not a valid tar: %s",
                                           archive_error_string(a));
        in.path = archive_entry_pathname(ae);
        if (!in.path)
            in.path = archive_entry_pathname_utf8(ae);
        if (!in.path)
            return image_errorf(s->e, -EINVAL, "an entry without a usable name");
        in.kind = entry_kind(ae);
        in.mode = archive_entry_perm(ae) & 07777;
        in.uid = (uint32_t)archive_entry_uid(ae);
        in.gid = (uint32_t)archive_entry_gid(ae);
        if (archive_entry_uid(ae) < 0 || archive_entry_uid(ae) > UINT32_MAX - 1 ||
            archive_entry_gid(ae) < 0 || archive_entry_gid(ae) > UINT32_MAX - 1)
            return image_errorf(s->e, -EINVAL, "%s: uid or gid out of range", in.path);
        in.size = archive_entry_size(ae) > 0 ? (uint64_t)archive_entry_size(ae) : 0;
        in.link = in.kind == IMAGE_ENTRY_HARDLINK ? archive_entry_hardlink(ae)
                                                  : archive_entry_symlink(ae);
        if (in.kind == IMAGE_ENTRY_FILE) {
            r = hash_content(a, s, in.path, in.size, in.sha256);
            if (r < 0)
                return r;
        }
        r = image_tree_add(t, &in, s->e);
        if (r < 0)
            return r;
    }
}

/* Reads what libarchive left of the stream (tar padding after the end blocks), so that the two
 * digests cover the whole blob. */
static int
drain(struct layer_reader *s)
{
    const void *buf;
    int r = 0;

    while (r == 0) {
        la_ssize_t n = read_tar(NULL, s, &buf);
        if (n < 0)
            return s->error;
        if (n == 0)
            break;
    }
    return 0;
}

int
image_layer_apply(int fd, struct image_tree *t, image_progress_fn progress, void *userdata,
                  struct image_layer_info *ret, struct image_error *e)
{
    struct layer_reader s = { .progress = progress, .userdata = userdata, .e = e };
    struct archive *a = NULL;
    int r;

    s.tar_sha = EVP_MD_CTX_new();
    a = archive_read_new();
    r = s.tar_sha && a && EVP_DigestInit_ex(s.tar_sha, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
    if (r == 0)
        r = layer_stream_open(fd, &s.stream, e);
    if (r == 0 && (archive_read_support_format_tar(a) != ARCHIVE_OK ||
                   archive_read_support_format_empty(a) != ARCHIVE_OK))
        r = -ENOMEM;
    if (r == 0 && archive_read_open(a, &s, NULL, read_tar, NULL) != ARCHIVE_OK)
        r = s.error ? s.error
                    : image_errorf(e, -EINVAL, "not a valid tar: %s", archive_error_string(a));
    if (r == 0)
        r = apply_entries(a, &s, t);
    if (r == 0)
        r = drain(&s);
    if (r == 0) {
        *ret = (struct image_layer_info){ .uncompressed = s.uncompressed };
        r = layer_stream_result(s.stream, ret->digest, &ret->size, &ret->compression);
        if (r == 0 && EVP_DigestFinal_ex(s.tar_sha, ret->diff_id, NULL) != 1)
            r = -ENOMEM;
    }
    if (progress && r == 0)
        progress(userdata, ret->size);
    archive_read_free(a);
    layer_stream_free(s.stream);
    EVP_MD_CTX_free(s.tar_sha);
    return r;
}
