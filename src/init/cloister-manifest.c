/* cloister-manifest: makes /.cloister/manifest.json for a root file system and prints its
 * measurement, until the converter (issue 5) does this as part of building an image.
 *
 *   cloister-manifest create --rootfs DIR --config APP.json --init PATH/cloister-init
 *                            [--signer-key PEM] -o DIR/.cloister/manifest.json
 *   cloister-manifest measure --manifest FILE --init PATH/cloister-init
 *
 * Both print "mrenclave <hex>", "mrsigner <hex>", "manifest_digest <hex>" and "tree_digest <hex>"
 * lines on stdout. The measurement code is cloister-init's own (manifest.c), so both agree. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cleanup.h"
#include "json-reader.h"
#include "json-writer.h"
#include "log.h"
#include "manifest-build.h"
#include "manifest-signature.h"
#include "manifest.h"
#include "tree.h"

#define CONFIG_SIZE_MAX (1u << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct jread_value, jread_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manifest, manifest_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free);

static int
read_file(const char *path, size_t max, char **ret, size_t *ret_size)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *buf = NULL;
    size_t used = 0;

    if (fd < 0)
        return -errno;
    buf = malloc(max + 1);
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

static int
file_sha256(const char *path, uint8_t ret[32])
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    return manifest_sha256_file(fd, ret, NULL);
}

/* The signing key: a PEM private key (the manifest is signed, not only named). */
static int
read_signing_key(const char *path, EVP_PKEY **ret)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_(BIO_freep) BIO *bio = NULL;
    size_t size = 0;
    int r;

    r = read_file(path, 1u << 16, &text, &size);
    if (r < 0)
        return r;
    bio = BIO_new_mem_buf(text, (int)size);
    if (!bio)
        return -ENOMEM;
    *ret = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    return *ret ? 0 : -EINVAL;
}

struct create_args {
    const char *rootfs, *config, *init, *output, *signer_key;
};

static int
print_measurement(const struct manifest *m, const char *init_path)
{
    uint8_t init_digest[32], measurement[32];
    char hex[65];
    int r;

    r = file_sha256(init_path, init_digest);
    if (r < 0)
        return log_error_errno(r, "Cannot read %s: %m", init_path);
    r = manifest_measurement(m, init_digest, measurement);
    if (r < 0)
        return log_error_errno(r, "Cannot compute the measurement: %m");
    manifest_hex(measurement, 32, hex);
    printf("mrenclave %s\n", hex);
    manifest_hex(m->signer, 32, hex);
    printf("mrsigner %s\n", hex);
    manifest_hex(m->digest, 32, hex);
    printf("manifest_digest %s\n", hex);
    manifest_hex(m->tree_digest, 32, hex);
    printf("tree_digest %s\n", hex);
    printf("isvprodid %u\nisvsvn %u\n", m->isvprodid, m->isvsvn);
    return 0;
}

static int
write_output(const char *path, const void *data, size_t size)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;

    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, data, size) != (ssize_t)size || fsync(fd) < 0 || rename(tmp, path) < 0) {
        int r = -errno;
        unlink(tmp);
        return r ? r : -EIO;
    }
    return 0;
}

/* NAME in the directory of the manifest file (DIR/.cloister). */
static char *
sibling_path(const char *manifest_path, const char *name)
{
    const char *slash = strrchr(manifest_path, '/');
    int dir_len = slash ? (int)(slash - manifest_path) : 1;
    char *path = NULL;

    if (asprintf(&path, "%.*s/%s", dir_len, slash ? manifest_path : ".", name) < 0)
        return NULL;
    return path;
}

/* manifest.sig and signer.pem beside the manifest (manifest-signature.h). */
static int
write_signature(const struct create_args *a, const struct manifest *m, EVP_PKEY *key)
{
    _cleanup_free_ char *sig_path = sibling_path(a->output, "manifest.sig");
    _cleanup_free_ char *pem_path = sibling_path(a->output, "signer.pem"), *pem = NULL;
    unsigned char *signature = NULL;
    size_t sig_size = 0;
    int r;

    if (!sig_path || !pem_path || manifest_key_pem(key, &pem) < 0)
        return log_error_errno(-ENOMEM, "Cannot write the signature files: %m");
    r = manifest_sign(m, key, &signature, &sig_size);
    if (r < 0)
        return log_error_errno(r, "Cannot sign the manifest with %s", a->signer_key);
    r = write_output(sig_path, signature, sig_size);
    OPENSSL_free(signature);
    if (r < 0)
        return log_error_errno(r, "Cannot write %s: %m", sig_path);
    r = write_output(pem_path, pem, strlen(pem));
    if (r < 0)
        return log_error_errno(r, "Cannot write %s: %m", pem_path);
    return 0;
}

static int
create(const struct create_args *a)
{
    _cleanup_free_ char *config_text = NULL;
    _cleanup_(jread_freep) struct jread_value *cfg = NULL;
    _cleanup_(manifest_freep) struct manifest *m = NULL;
    _cleanup_close_ int root_fd = -1;
    _cleanup_(manifest_filters_release) struct manifest_filters filters = { 0 };
    _cleanup_(tree_scan_release) struct tree_scan scan = { 0 };
    _cleanup_(jwbuf_release) struct jwbuf b = { 0 };
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    _cleanup_free_ char *bad = NULL;
    uint8_t signer[32] = { 0 };
    const char *error = NULL;
    size_t size = 0;
    int r;

    r = read_file(a->config, CONFIG_SIZE_MAX, &config_text, &size);
    if (r < 0)
        return log_error_errno(r, "Cannot read %s: %m", a->config);
    r = jread_parse(config_text, size, CONFIG_SIZE_MAX, &cfg, NULL);
    if (r < 0 || cfg->type != JREAD_OBJECT)
        return log_error_errno(r < 0 ? r : -EINVAL, "%s is not a JSON object", a->config);
    if (a->signer_key) {
        r = read_signing_key(a->signer_key, &key);
        if (r == 0)
            r = manifest_key_signer(key, signer);
        if (r < 0)
            return log_error_errno(r, "Cannot read the signing key %s (a PEM private key): %m",
                                   a->signer_key);
    } else if (jread_get_string(cfg, "signer")) {
        if (manifest_unhex(jread_get_string(cfg, "signer"), signer, 32) < 0)
            return log_error_errno(-EINVAL, "signer in %s must be 64 lowercase hex", a->config);
        log_warning("signer from %s: cloister-init refuses the image until manifest.sig and "
                    "signer.pem, made with that key, are beside the manifest",
                    a->config);
    }
    r = manifest_filters_get(cfg, &filters);
    if (r < 0) {
        return log_error_errno(r,
                               "Bad tree.skip, rw_dirs or encrypted_dirs in %s (tree.skip must "
                               "contain /.cloister)",
                               a->config);
    }
    root_fd = open(a->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        return log_error_errno(-errno, "Cannot open %s: %m", a->rootfs);
    }
    r = tree_scan(root_fd, &filters.skip, &filters.keep, 100, &scan, &bad);
    if (r < 0) {
        return log_error_errno(r, "Cannot scan %s%s%s: %m", a->rootfs, bad ? " at " : "",
                               bad ? bad : "");
    }
    r = manifest_build(cfg, &filters, &scan, signer, &b);
    if (r < 0) {
        return log_error_errno(r, "Cannot make the manifest from %s (is \"image\" there?): %m",
                               a->config);
    }
    /* What cloister-init will accept, checked by cloister-init's own parser. */
    r = manifest_parse(b.data, b.size, &m, &error);
    if (r < 0) {
        return log_error_errno(r, "The manifest made from %s is not valid: %s", a->config,
                               error ? error : "malformed");
    }
    r = write_output(a->output, b.data, b.size);
    if (r < 0) {
        return log_error_errno(r, "Cannot write %s: %m", a->output);
    }
    if (key) {
        r = write_signature(a, m, key);
        if (r < 0)
            return r;
    }
    return print_measurement(m, a->init);
}

static int
measure(const char *manifest_path, const char *init_path)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_(manifest_freep) struct manifest *m = NULL;
    const char *error = NULL;
    size_t size = 0;
    int r;

    r = read_file(manifest_path, MANIFEST_SIZE_MAX, &text, &size);
    if (r < 0)
        return log_error_errno(r, "Cannot read %s: %m", manifest_path);
    r = manifest_parse(text, size, &m, &error);
    if (r < 0)
        return log_error_errno(r, "Invalid manifest %s: %s", manifest_path,
                               error ? error : "malformed");
    return print_measurement(m, init_path);
}

static void
usage(FILE *f)
{
    fputs("Usage: cloister-manifest create --rootfs DIR --config APP.json --init CLOISTER_INIT\n"
          "                                [--signer-key PEM] -o OUTPUT\n"
          "       cloister-manifest measure --manifest FILE --init CLOISTER_INIT\n",
          f);
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "rootfs", required_argument, NULL, 'r' },
        { "config", required_argument, NULL, 'c' },
        { "init", required_argument, NULL, 'i' },
        { "output", required_argument, NULL, 'o' },
        { "signer-key", required_argument, NULL, 's' },
        { "manifest", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct create_args a = { 0 };
    const char *manifest_path = NULL, *verb;
    int c, r;

    log_setup("cloister-manifest", LOG_LEVEL_INFO, false);
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    verb = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0) {
        switch (c) {
        case 'r':
            a.rootfs = optarg;
            break;
        case 'c':
            a.config = optarg;
            break;
        case 'i':
            a.init = optarg;
            break;
        case 'o':
            a.output = optarg;
            break;
        case 's':
            a.signer_key = optarg;
            break;
        case 'm':
            manifest_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(verb, "create") == 0 && a.rootfs && a.config && a.init && a.output)
        r = create(&a);
    else if (strcmp(verb, "measure") == 0 && manifest_path && a.init)
        r = measure(manifest_path, a.init);
    else {
        usage(stderr);
        return 2;
    }
    return r < 0 ? 1 : 0;
}
