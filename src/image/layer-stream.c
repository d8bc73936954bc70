/* A layer blob decompressed on its own thread (layer-stream.h).
 *
 * The ring: the thread fills slot `put`, the caller reads slot `take`. `filled` slots wait for
 * the caller; the caller holds the slot it was last given until its next call (its data must
 * stay valid until then), so the thread may use LAYER_STREAM_SLOTS - filled - held slots. A
 * slot of length 0 is the end. An error ends the thread; the caller sees it once it has taken
 * the slots filled before it. */
#include "layer-stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

struct layer_stream {
    /* The thread's own, until it ends. */
    int fd;
    EVP_MD_CTX *blob_sha;
    enum image_compression compression;
    z_stream z;
    bool z_ready, z_end;
    ZSTD_DStream *zstd;
    uint8_t in[LAYER_STREAM_CHUNK];
    size_t in_pos, in_len;
    bool eof;
    uint64_t stored;
    struct image_error error_text;

    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint8_t slot[LAYER_STREAM_SLOTS][LAYER_STREAM_CHUNK];
    size_t slot_len[LAYER_STREAM_SLOTS];
    uint64_t slot_stored[LAYER_STREAM_SLOTS];
    unsigned put, take, filled;
    bool held, cancel, finished;
    int error;

    /* The caller's. */
    pthread_t thread;
    bool started, at_end;
};

static int
fill(struct layer_stream *s)
{
    ssize_t n;

    if (s->in_pos < s->in_len || s->eof)
        return 0;
    do
        n = read(s->fd, s->in, sizeof(s->in));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return image_errorf(&s->error_text, -EIO, "cannot read the layer: %s", strerror(errno));
    s->in_pos = 0;
    s->in_len = (size_t)n;
    s->eof = n == 0;
    s->stored += (uint64_t)n;
    if (n > 0 && EVP_DigestUpdate(s->blob_sha, s->in, (size_t)n) != 1)
        return -ENOMEM;
    return 0;
}

static int
detect(struct layer_stream *s)
{
    int r = fill(s);

    if (r < 0)
        return r;
    if (s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
        s->compression = IMAGE_COMPRESSION_GZIP;
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return -ENOMEM;
        s->z_ready = true;
    } else if (s->in_len >= 4 && s->in[0] == 0x28 && s->in[1] == 0xb5 && s->in[2] == 0x2f &&
               s->in[3] == 0xfd) {
        s->compression = IMAGE_COMPRESSION_ZSTD;
        s->zstd = ZSTD_createDStream();
        if (!s->zstd || ZSTD_isError(ZSTD_initDStream(s->zstd)))
            return -ENOMEM;
    }
    return 0;
}

/* Inflates into out; a gzip stream may have several members (as `cat a.gz b.gz` makes). */
static int
gunzip(struct layer_stream *s, uint8_t *out, size_t *ret_len)
{
    int r, z;

    s->z.next_out = out;
    s->z.avail_out = LAYER_STREAM_CHUNK;
    while (s->z.avail_out == LAYER_STREAM_CHUNK) {
        r = fill(s);
        if (r < 0)
            return r;
        if (s->z_end) {
            if (s->in_pos == s->in_len)
                break; /* a clean end */
            if (inflateReset(&s->z) != Z_OK)
                return -ENOMEM;
            s->z_end = false;
        }
        if (s->in_pos == s->in_len)
            return image_errorf(&s->error_text, -EINVAL, "the gzip stream is truncated");
        s->z.next_in = s->in + s->in_pos;
        s->z.avail_in = (uInt)(s->in_len - s->in_pos);
        z = inflate(&s->z, Z_NO_FLUSH);
        s->in_pos = s->in_len - s->z.avail_in;
        if (z == Z_STREAM_END)
            s->z_end = true;
        else if (z != Z_OK && z != Z_BUF_ERROR)
            return image_errorf(&s->error_text, -EINVAL, "the gzip stream is corrupt: %s",
                                s->z.msg ? s->z.msg : "inflate failed");
    }
    *ret_len = LAYER_STREAM_CHUNK - s->z.avail_out;
    return 0;
}

static int
unzstd(struct layer_stream *s, uint8_t *out_buf, size_t *ret_len)
{
    ZSTD_outBuffer out = { out_buf, LAYER_STREAM_CHUNK, 0 };
    size_t z = 0;
    int r;

    while (out.pos == 0) {
        ZSTD_inBuffer in;
        r = fill(s);
        if (r < 0)
            return r;
        if (s->in_pos == s->in_len) {
            if (s->z_end)
                break;
            return image_errorf(&s->error_text, -EINVAL, "the zstd stream is truncated");
        }
        in = (ZSTD_inBuffer){ s->in, s->in_len, s->in_pos };
        z = ZSTD_decompressStream(s->zstd, &out, &in);
        s->in_pos = in.pos;
        if (ZSTD_isError(z))
            return image_errorf(&s->error_text, -EINVAL, "the zstd stream is corrupt: %s",
                                ZSTD_getErrorName(z));
        s->z_end = z == 0; /* a frame ended; another may follow */
    }
    *ret_len = out.pos;
    return 0;
}

static int
copy_plain(struct layer_stream *s, uint8_t *out, size_t *ret_len)
{
    int r = fill(s);

    if (r < 0)
        return r;
    *ret_len = s->in_len - s->in_pos;
    memcpy(out, s->in + s->in_pos, *ret_len);
    s->in_pos = s->in_len;
    return 0;
}

static int
decompress(struct layer_stream *s, uint8_t *out, size_t *ret_len)
{
    if (s->compression == IMAGE_COMPRESSION_GZIP)
        return gunzip(s, out, ret_len);
    if (s->compression == IMAGE_COMPRESSION_ZSTD)
        return unzstd(s, out, ret_len);
    return copy_plain(s, out, ret_len);
}

/* The next free slot for the thread, or -1 when told to stop. */
static int
slot_to_fill(struct layer_stream *s)
{
    int slot;

    pthread_mutex_lock(&s->lock);
    while (!s->cancel && s->filled + s->held >= LAYER_STREAM_SLOTS)
        pthread_cond_wait(&s->changed, &s->lock);
    slot = s->cancel ? -1 : (int)s->put;
    pthread_mutex_unlock(&s->lock);
    return slot;
}

static void
publish(struct layer_stream *s, unsigned slot, size_t len, int error)
{
    pthread_mutex_lock(&s->lock);
    if (error < 0) {
        s->error = error;
        s->finished = true;
    } else {
        s->slot_len[slot] = len;
        s->slot_stored[slot] = s->stored;
        s->put = (s->put + 1) % LAYER_STREAM_SLOTS;
        s->filled++;
        s->finished = len == 0;
    }
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void *
produce(void *userdata)
{
    struct layer_stream *s = userdata;
    size_t len;
    int slot, r;

    do {
        slot = slot_to_fill(s);
        if (slot < 0)
            break;
        len = 0;
        r = decompress(s, s->slot[slot], &len);
        publish(s, (unsigned)slot, len, r);
    } while (r == 0 && len > 0);
    return NULL;
}

int
layer_stream_open(int fd, struct layer_stream **ret, struct image_error *e)
{
    struct layer_stream *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    s->fd = fd;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->blob_sha = EVP_MD_CTX_new();
    r = s->blob_sha && EVP_DigestInit_ex(s->blob_sha, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
    if (r == 0)
        r = detect(s);
    if (r == 0) {
        r = -pthread_create(&s->thread, NULL, produce, s);
        s->started = r == 0;
    }
    if (r < 0) {
        if (s->error_text.text[0])
            image_errorf(e, r, "%s", s->error_text.text);
        layer_stream_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

int
layer_stream_next(struct layer_stream *s, const void **ret_buf, size_t *ret_len,
                  uint64_t *ret_stored, struct image_error *e)
{
    unsigned slot;
    int r = 0;

    *ret_len = 0;
    *ret_buf = NULL;
    if (s->at_end)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (s->held) {
        s->held = false;
        pthread_cond_broadcast(&s->changed);
    }
    while (s->filled == 0 && !s->finished)
        pthread_cond_wait(&s->changed, &s->lock);
    if (s->filled == 0) {
        r = s->error; /* finished without the end: failed */
    } else {
        slot = s->take;
        s->take = (s->take + 1) % LAYER_STREAM_SLOTS;
        s->filled--;
        s->held = true;
        *ret_buf = s->slot[slot];
        *ret_len = s->slot_len[slot];
        *ret_stored = s->slot_stored[slot];
        s->at_end = *ret_len == 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (r < 0 && s->error_text.text[0])
        image_errorf(e, r, "%s", s->error_text.text);
    return r;
}

int
layer_stream_result(struct layer_stream *s, uint8_t ret_digest[32], uint64_t *ret_stored,
                    enum image_compression *ret_compression)
{
    if (!s->at_end)
        return -EINVAL;
    pthread_join(s->thread, NULL);
    s->started = false;
    *ret_stored = s->stored;
    *ret_compression = s->compression;
    return EVP_DigestFinal_ex(s->blob_sha, ret_digest, NULL) == 1 ? 0 : -ENOMEM;
}

void
layer_stream_free(struct layer_stream *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->cancel = true;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    EVP_MD_CTX_free(s->blob_sha);
    if (s->z_ready)
        inflateEnd(&s->z);
    ZSTD_freeDStream(s->zstd);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
