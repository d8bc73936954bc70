/* inflate-sha: the floor of bench/convert (README.md here). One thread reads gzip layer blobs,
 * inflates them with zlib and hashes the uncompressed stream (the tar, whose SHA-256 is the
 * layer's diff_id) with OpenSSL's SHA-256: the least work any converter that checks diff_ids
 * must do per uncompressed byte.
 *
 *   inflate-sha [--mode floor|inflate|hashes] BLOB...
 *
 * --mode floor (default): read → inflate → SHA-256 of the uncompressed stream.
 * --mode inflate: read → inflate, no hashing (what inflate alone costs).
 * --mode hashes: read → SHA-256 of the stored bytes → inflate → SHA-256 of the uncompressed
 *   stream, twice (the hashing `cloister image convert` does: blob digest, diff_id, and every
 *   file's content, which is nearly all of the tar again), without any tar parsing.
 *
 * Prints one JSON object: mode, stored and uncompressed bytes, wall and CPU seconds, and the
 * diff_id of each blob in floor and hashes modes (bench/convert/run checks them against the
 * image's config, so the floor is known to have done the work). Buffers are 256 KiB, as in the
 * converter's layer reader. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#define CHUNK (256u << 10)

enum mode { MODE_FLOOR, MODE_INFLATE, MODE_HASHES };

static uint8_t in_buf[CHUNK], out_buf[CHUNK];

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
die(const char *what, const char *path)
{
    fprintf(stderr, "inflate-sha: %s: %s\n", path, what);
    exit(1);
}

static void
update(EVP_MD_CTX *ctx, const void *data, size_t len, const char *path)
{
    if (EVP_DigestUpdate(ctx, data, len) != 1)
        die("SHA-256 failed", path);
}

/* One blob: a gzip stream of one or more members. Adds to *stored and *uncompressed; writes the
 * diff_id (SHA-256 of the uncompressed stream) to ret unless mode is MODE_INFLATE. */
static void
one_blob(const char *path, enum mode mode, uint64_t *stored, uint64_t *uncompressed,
         uint8_t ret[32])
{
    EVP_MD_CTX *blob_sha = EVP_MD_CTX_new(), *tar_sha = EVP_MD_CTX_new(),
               *tar_sha2 = EVP_MD_CTX_new();
    z_stream z = { 0 };
    bool member_end = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        die(strerror(errno), path);
    if (!blob_sha || !tar_sha || !tar_sha2 ||
        EVP_DigestInit_ex(blob_sha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(tar_sha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(tar_sha2, EVP_sha256(), NULL) != 1 ||
        inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        die("out of memory", path);
    for (;;) {
        ssize_t n = read(fd, in_buf, sizeof(in_buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die(strerror(errno), path);
        if (n == 0)
            break;
        *stored += (uint64_t)n;
        if (mode == MODE_HASHES)
            update(blob_sha, in_buf, (size_t)n, path);
        z.next_in = in_buf;
        z.avail_in = (uInt)n;
        while (z.avail_in > 0) {
            int x;
            size_t len;
            if (member_end) { /* another gzip member follows (`cat a.gz b.gz`) */
                if (inflateReset(&z) != Z_OK)
                    die("inflateReset failed", path);
                member_end = false;
            }
            z.next_out = out_buf;
            z.avail_out = sizeof(out_buf);
            x = inflate(&z, Z_NO_FLUSH);
            if (x == Z_STREAM_END)
                member_end = true;
            else if (x != Z_OK && x != Z_BUF_ERROR)
                die(z.msg ? z.msg : "corrupt gzip stream", path);
            len = sizeof(out_buf) - z.avail_out;
            *uncompressed += len;
            if (mode != MODE_INFLATE)
                update(tar_sha, out_buf, len, path);
            if (mode == MODE_HASHES)
                update(tar_sha2, out_buf, len, path);
        }
    }
    /* Finish what inflate still holds (its window) once the input is all in. */
    while (!member_end) {
        int x;
        size_t len;
        z.next_out = out_buf;
        z.avail_out = sizeof(out_buf);
        x = inflate(&z, Z_NO_FLUSH);
        len = sizeof(out_buf) - z.avail_out;
        *uncompressed += len;
        if (mode != MODE_INFLATE)
            update(tar_sha, out_buf, len, path);
        if (mode == MODE_HASHES)
            update(tar_sha2, out_buf, len, path);
        if (x == Z_STREAM_END)
            member_end = true;
        else if (len == 0)
            die("truncated gzip stream", path);
    }
    if (mode != MODE_INFLATE && EVP_DigestFinal_ex(tar_sha, ret, NULL) != 1)
        die("SHA-256 failed", path);
    inflateEnd(&z);
    close(fd);
    EVP_MD_CTX_free(blob_sha);
    EVP_MD_CTX_free(tar_sha);
    EVP_MD_CTX_free(tar_sha2);
}

int
main(int argc, char **argv)
{
    static const char *const names[] = { "floor", "inflate", "hashes" };
    enum mode mode = MODE_FLOOR;
    uint64_t stored = 0, uncompressed = 0;
    uint8_t(*digests)[32];
    double t0, c0, seconds, cpu;
    int first = 1;

    if (argc > 2 && strcmp(argv[1], "--mode") == 0) {
        for (mode = 0; mode < 3 && strcmp(argv[2], names[mode]) != 0; mode++)
            ;
        if (mode == 3) {
            fprintf(stderr, "inflate-sha: --mode: floor, inflate or hashes\n");
            return 2;
        }
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: inflate-sha [--mode floor|inflate|hashes] BLOB...\n");
        return 2;
    }
    digests = calloc((size_t)(argc - first), sizeof(*digests));
    if (!digests)
        return 1;
    t0 = now();
    c0 = cpu_seconds();
    for (int i = first; i < argc; i++)
        one_blob(argv[i], mode, &stored, &uncompressed, digests[i - first]);
    seconds = now() - t0;
    cpu = cpu_seconds() - c0;
    printf("{\"mode\": \"%s\", \"stored\": %" PRIu64 ", \"uncompressed\": %" PRIu64
           ", \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"diff_ids\": [",
           names[mode], stored, uncompressed, seconds, cpu);
    for (int i = first; mode != MODE_INFLATE && i < argc; i++) {
        printf("%s\"sha256:", i > first ? ", " : "");
        for (int j = 0; j < 32; j++)
            printf("%02x", digests[i - first][j]);
        printf("\"");
    }
    printf("]}\n");
    free(digests);
    return 0;
}
