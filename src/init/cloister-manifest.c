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
#include "manifest.h"
#include "tree.h"

#define CONFIG_SIZE_MAX (1u << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct jread_value, jread_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manifest, manifest_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free);

static const char *const default_skip[] = {
    "/.cloister", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys",
};

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

/* SHA-256 of the DER SubjectPublicKeyInfo of a PEM public or private key. */
static int
signer_from_key(const char *path, uint8_t ret[32])
{
    _cleanup_free_ char *text = NULL;
    _cleanup_(BIO_freep) BIO *bio = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    unsigned char *der = NULL;
    size_t size = 0;
    int n, r;

    r = read_file(path, 1u << 16, &text, &size);
    if (r < 0)
        return r;
    bio = BIO_new_mem_buf(text, (int)size);
    if (!bio)
        return -ENOMEM;
    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!key) {
        BIO_reset(bio);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    }
    if (!key)
        return -EINVAL;
    n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        return -EINVAL;
    r = manifest_sha256(der, (size_t)n, ret);
    OPENSSL_free(der);
    return r;
}

/* Copies member key of from (if present) into the object being written, canonically. */
static int
copy_member(struct jwbuf *b, const struct jread_value *from, const char *key, bool *first)
{
    const struct jread_value *v = jread_get(from, key);
    int r;

    if (!v)
        return 0;
    jwbuf_key(b, key, *first);
    *first = false;
    r = jwbuf_canonical(b, v, NULL);
    return r;
}

static int
strings_of(const struct jread_value *v, struct manifest_strings *ret)
{
    *ret = (struct manifest_strings){ 0 };
    if (!v)
        return 0;
    if (v->type != JREAD_ARRAY)
        return -EINVAL;
    ret->items = calloc(v->n + 1, sizeof(char *));
    if (!ret->items)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->type != JREAD_STRING)
            return -EINVAL;
        ret->items[ret->n++] = v->items[i]->string;
    }
    return 0;
}

static int
skip_list(const struct jread_value *tree_cfg, struct manifest_strings *ret)
{
    const struct jread_value *skip = jread_get(tree_cfg, "skip");
    int r;

    if (!skip) {
        ret->items = calloc(ELEMENTSOF(default_skip) + 1, sizeof(char *));
        if (!ret->items)
            return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(default_skip); i++)
            ret->items[ret->n++] = default_skip[i];
        return 0;
    }
    r = strings_of(skip, ret);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ret->n; i++)
        if (strcmp(ret->items[i], "/.cloister") == 0)
            return 0;
    return -EINVAL; /* the manifest cannot list itself */
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
write_output(const char *path, const struct jwbuf *b)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;

    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, b->data, b->size) != (ssize_t)b->size || fsync(fd) < 0 || rename(tmp, path) < 0) {
        int r = -errno;
        unlink(tmp);
        return r ? r : -EIO;
    }
    return 0;
}

/* The "app" section: the app's settings as the manager stores them (top level and
 * advanced_settings), certificate without the issuer. */
static int
write_app(struct jwbuf *b, const struct jread_value *cfg)
{
    static const char *const cert_keys[] = { "alt_names", "cert_path", "chain_path", "key_param",
                                             "key_path",  "key_type",  "subject" };
    static const char *const adv_keys[] = { "allow_cmdline_args", "encrypted_dirs", "manifest_env",
                                            "rw_dirs" };
    const struct jread_value *adv = jread_get(cfg, "advanced_settings");
    const struct jread_value *cert = jread_get(adv, "certificate");
    bool first = true, cfirst = true;
    int r = 0;

    if (!cert)
        cert = jread_get(cfg, "certificate");
    jwbuf_puts(b, "{");
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(adv_keys); i++)
        r = copy_member(b, adv ? adv : cfg, adv_keys[i], &first);
    if (r < 0)
        return r;
    jwbuf_key(b, "certificate", first);
    first = false;
    jwbuf_puts(b, "{");
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(cert_keys); i++)
        r = copy_member(b, cert, cert_keys[i], &cfirst);
    jwbuf_puts(b, "}");
    if (r == 0)
        r = copy_member(b, cfg, "isvprodid", &first);
    if (r == 0)
        r = copy_member(b, cfg, "isvsvn", &first);
    if (r == 0)
        r = copy_member(b, cfg, "mem_size", &first);
    if (r == 0)
        r = copy_member(b, cfg, "threads", &first);
    jwbuf_puts(b, "}");
    return r < 0 ? r : b->error;
}

/* What create() builds, released in one place. */
struct create_state {
    struct manifest_strings skip, keep, rw, enc;
    struct tree_scan scan;
    struct jwbuf entries, b;
};

static void
create_state_release(struct create_state *st)
{
    tree_scan_release(&st->scan);
    jwbuf_release(&st->entries);
    jwbuf_release(&st->b);
    free(st->skip.items);
    free(st->keep.items);
    free(st->rw.items);
    free(st->enc.items);
}

static int
create(const struct create_args *a)
{
    _cleanup_free_ char *config_text = NULL;
    _cleanup_(jread_freep) struct jread_value *cfg = NULL;
    _cleanup_(manifest_freep) struct manifest *m = NULL;
    _cleanup_close_ int root_fd = -1;
    _cleanup_(create_state_release) struct create_state st = { 0 };
    const struct jread_value *tree_cfg, *adv, *check;
    _cleanup_free_ char *bad = NULL;
    uint8_t digest[32], signer[32] = { 0 };
    const char *error = NULL;
    char hex[65];
    size_t size = 0;
    int r;

    r = read_file(a->config, CONFIG_SIZE_MAX, &config_text, &size);
    if (r < 0)
        return log_error_errno(r, "Cannot read %s: %m", a->config);
    r = jread_parse(config_text, size, CONFIG_SIZE_MAX, &cfg, NULL);
    if (r < 0 || cfg->type != JREAD_OBJECT)
        return log_error_errno(r < 0 ? r : -EINVAL, "%s is not a JSON object", a->config);
    if (a->signer_key) {
        r = signer_from_key(a->signer_key, signer);
        if (r < 0)
            return log_error_errno(r, "Cannot read the signing key %s: %m", a->signer_key);
    } else if (jread_get_string(cfg, "signer")) {
        if (manifest_unhex(jread_get_string(cfg, "signer"), signer, 32) < 0)
            return log_error_errno(-EINVAL, "signer in %s must be 64 lowercase hex", a->config);
    }
    tree_cfg = jread_get(cfg, "tree");
    adv = jread_get(cfg, "advanced_settings");
    r = skip_list(tree_cfg, &st.skip);
    if (r == 0)
        r = strings_of(jread_get(adv ? adv : cfg, "rw_dirs"), &st.rw);
    if (r == 0)
        r = strings_of(jread_get(adv ? adv : cfg, "encrypted_dirs"), &st.enc);
    if (r == 0) {
        st.keep.items = calloc(st.rw.n + st.enc.n + 1, sizeof(char *));
        r = st.keep.items ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < st.rw.n; i++)
            st.keep.items[st.keep.n++] = st.rw.items[i];
        for (size_t i = 0; r == 0 && i < st.enc.n; i++)
            st.keep.items[st.keep.n++] = st.enc.items[i];
    }
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
    r = tree_scan(root_fd, &st.skip, &st.keep, 100, &st.scan, &bad);
    if (r < 0) {
        return log_error_errno(r, "Cannot scan %s%s%s: %m", a->rootfs, bad ? " at " : "",
                               bad ? bad : "");
    }
    r = tree_scan_to_json(&st.scan, &st.entries, digest);
    if (r < 0)
        return r;

    check = jread_get(tree_cfg, "check");
    manifest_hex(digest, 32, hex);
    jwbuf_printf(&st.b, "{\n\"version\": 1,\n\"tree\": {\"digest\": \"%s\", \"check\": ", hex);
    if (check)
        r = jwbuf_canonical(&st.b, check, NULL);
    else
        jwbuf_puts(&st.b, "\"full\"");
    if (r == 0 && jread_get(tree_cfg, "sample_percent")) {
        jwbuf_puts(&st.b, ", \"sample_percent\": ");
        r = jwbuf_canonical(&st.b, jread_get(tree_cfg, "sample_percent"), NULL);
    }
    jwbuf_puts(&st.b, ", \"skip\": [");
    for (size_t i = 0; i < st.skip.n; i++) {
        jwbuf_puts(&st.b, i ? ", " : "");
        jwbuf_string(&st.b, st.skip.items[i]);
    }
    jwbuf_puts(&st.b, "],\n\"entries\": ");
    jwbuf_append(&st.b, st.entries.data, st.entries.size);
    jwbuf_puts(&st.b, "},\n\"image\": ");
    if (r == 0)
        r = jread_get(cfg, "image") ? jwbuf_canonical(&st.b, jread_get(cfg, "image"), NULL)
                                    : -EINVAL;
    jwbuf_puts(&st.b, ",\n\"app\": ");
    if (r == 0)
        r = write_app(&st.b, cfg);
    manifest_hex(signer, 32, hex);
    jwbuf_printf(&st.b, ",\n\"signer\": \"%s\"\n}\n", hex);
    if (r == 0)
        r = st.b.error;
    if (r < 0) {
        return log_error_errno(r, "Cannot make the manifest from %s (is \"image\" there?): %m",
                               a->config);
    }
    /* What cloister-init will accept, checked by cloister-init's own parser. */
    r = manifest_parse(st.b.data, st.b.size, &m, &error);
    if (r < 0) {
        return log_error_errno(r, "The manifest made from %s is not valid: %s", a->config,
                               error ? error : "malformed");
    }
    r = write_output(a->output, &st.b);
    if (r < 0) {
        return log_error_errno(r, "Cannot write %s: %m", a->output);
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
