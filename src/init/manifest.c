/* The cloister manifest: strict parsing, canonical encoding, measurement (see manifest.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "json-writer.h"
#include "manifest.h"

struct manifest *
manifest_free(struct manifest *m)
{
    if (!m)
        return NULL;
    free(m->entries);
    free(m->skip.items);
    free(m->entrypoint.items);
    free(m->cmd.items);
    free(m->env.items);
    free(m->certificate.alt_names.items);
    free(m->encrypted_dirs.items);
    free(m->rw_dirs.items);
    free(m->manifest_env.items);
    jread_free(m->root);
    free(m);
    return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manifest, manifest_free);

void
manifest_hex(const uint8_t *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    out[2 * size] = '\0';
}

static int
unhex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Lowercase hex only: one spelling per value, since the manifest is hashed as written. */
int
manifest_unhex(const char *hex, uint8_t *out, size_t size)
{
    if (!hex || strlen(hex) != 2 * size)
        return -EINVAL;
    for (size_t i = 0; i < size; i++) {
        int hi = unhex_digit(hex[2 * i]), lo = unhex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int
manifest_sha256(const void *data, size_t size, uint8_t ret_digest[32])
{
    unsigned len = 0;

    return EVP_Digest(data, size, ret_digest, &len, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

static void
md_ctx_freep(EVP_MD_CTX **p)
{
    EVP_MD_CTX_free(*p);
}

int
manifest_sha256_file(int fd, uint8_t ret_digest[32], uint64_t *ret_size)
{
    _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    _cleanup_free_ uint8_t *buf = malloc(1u << 16);
    uint64_t total = 0;
    unsigned len = 0;

    if (!ctx || !buf)
        return -ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        return -EIO;
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            return -EIO;
        total += (uint64_t)n;
    }
    if (EVP_DigestFinal_ex(ctx, ret_digest, &len) != 1)
        return -EIO;
    if (ret_size)
        *ret_size = total;
    return 0;
}

bool
manifest_path_ok(const char *path)
{
    size_t n;

    if (!path || path[0] != '/')
        return false;
    n = strlen(path);
    if (n < 2 || n > MANIFEST_PATH_MAX || path[n - 1] == '/')
        return false;
    for (const char *c = path; *c;) {
        const char *next = strchr(c + 1, '/');
        size_t len = next ? (size_t)(next - c - 1) : strlen(c + 1);

        if (len == 0 || (len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
            return false;
        if (!next)
            break;
        c = next;
    }
    return true;
}

/* ---- field checks ---- */

struct ctx {
    const char *error;
};

static int
fail(struct ctx *c, const char *message)
{
    if (!c->error)
        c->error = message;
    return -EBADMSG;
}

/* Refuses members other than those named (NULL-terminated): what is measured must be understood. */
static int
only_keys(struct ctx *c, const struct jread_value *o, const char *const *names, const char *what)
{
    for (size_t i = 0; i < o->n; i++) {
        bool known = false;
        for (const char *const *n = names; *n; n++)
            known = known || strcmp(*n, o->keys[i]) == 0;
        if (!known)
            return fail(c, what);
    }
    return 0;
}

static int
get_object(struct ctx *c, const struct jread_value *o, const char *key, bool required,
           const struct jread_value **ret, const char *error)
{
    const struct jread_value *v = jread_get(o, key);

    if (!v && !required) {
        *ret = NULL;
        return 0;
    }
    if (!v || v->type != JREAD_OBJECT)
        return fail(c, error);
    *ret = v;
    return 0;
}

static int
get_int(struct ctx *c, const struct jread_value *o, const char *key, bool required, int64_t min,
        int64_t max, int64_t *ret, const char *error)
{
    const struct jread_value *v = jread_get(o, key);

    if (!v && !required)
        return 0;
    if (!v || v->type != JREAD_INT || v->integer < min || v->integer > max)
        return fail(c, error);
    *ret = v->integer;
    return 0;
}

static int
get_string(struct ctx *c, const struct jread_value *o, const char *key, bool required,
           const char **ret, const char *error)
{
    const struct jread_value *v = jread_get(o, key);

    if (!v && !required) {
        *ret = NULL;
        return 0;
    }
    if (!v || v->type != JREAD_STRING || v->string[0] == '\0' ||
        strlen(v->string) > MANIFEST_STRING_MAX)
        return fail(c, error);
    *ret = v->string;
    return 0;
}

static int
get_hex32(struct ctx *c, const struct jread_value *o, const char *key, uint8_t out[32],
          const char *error)
{
    const char *s = jread_get_string(o, key);

    if (!s || manifest_unhex(s, out, 32) < 0)
        return fail(c, error);
    return 0;
}

static bool
env_ok(const char *s)
{
    const char *p = s;

    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
        return false;
    for (; *p && *p != '='; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (*p >= '0' && *p <= '9')))
            return false;
    return *p == '=';
}

static bool
dns_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || (*p == '*' && p == s && p[1] == '.')))
            return false;
    return true;
}

enum string_kind {
    STRINGS_ANY,
    STRINGS_PATH,
    STRINGS_ENV,
    STRINGS_DNS,
};

static bool
string_kind_ok(const char *s, enum string_kind kind)
{
    switch (kind) {
    case STRINGS_PATH:
        return manifest_path_ok(s);
    case STRINGS_ENV:
        return env_ok(s);
    case STRINGS_DNS:
        return dns_ok(s);
    case STRINGS_ANY:
        break;
    }
    return strlen(s) <= MANIFEST_STRING_MAX;
}

static int
get_strings(struct ctx *c, const struct jread_value *o, const char *key, enum string_kind kind,
            struct manifest_strings *ret, const char *error)
{
    const struct jread_value *v = jread_get(o, key);

    *ret = (struct manifest_strings){ 0 };
    if (!v)
        return 0;
    if (v->type != JREAD_ARRAY || v->n > MANIFEST_LIST_MAX)
        return fail(c, error);
    ret->items = calloc(v->n + 1, sizeof(char *));
    if (!ret->items)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->type != JREAD_STRING || !string_kind_ok(v->items[i]->string, kind))
            return fail(c, error);
        ret->items[i] = v->items[i]->string;
    }
    ret->n = v->n;
    return 0;
}

/* ---- sections ---- */

static int
parse_entry(struct ctx *c, const struct jread_value *e, struct manifest_entry *out)
{
    static const char *const keys[] = {
        "path", "type", "mode", "uid", "gid", "size", "sha256", NULL
    };
    const char *type;
    int64_t mode = 0, uid = 0, gid = 0, size = 0;
    int r;

    if (e->type != JREAD_OBJECT)
        return fail(c, "tree.entries: every entry must be an object");
    r = only_keys(c, e, keys, "tree.entries: unknown member in an entry");
    if (r < 0)
        return r;
    out->path = jread_get_string(e, "path");
    if (!manifest_path_ok(out->path))
        return fail(c, "tree.entries: path must be absolute and normalised");
    type = jread_get_string(e, "type");
    if (type && strcmp(type, "file") == 0)
        out->type = MANIFEST_ENTRY_FILE;
    else if (type && strcmp(type, "dir") == 0)
        out->type = MANIFEST_ENTRY_DIR;
    else if (type && strcmp(type, "symlink") == 0)
        out->type = MANIFEST_ENTRY_SYMLINK;
    else
        return fail(c, "tree.entries: type must be file, dir or symlink");
    if (get_int(c, e, "mode", true, 0, 07777, &mode, "tree.entries: mode must be 0..4095") < 0 ||
        get_int(c, e, "uid", true, 0, UINT32_MAX, &uid, "tree.entries: bad uid") < 0 ||
        get_int(c, e, "gid", true, 0, UINT32_MAX, &gid, "tree.entries: bad gid") < 0 ||
        get_int(c, e, "size", true, 0, INT64_MAX, &size, "tree.entries: bad size") < 0)
        return -EBADMSG;
    out->mode = (uint32_t)mode;
    out->uid = (uint32_t)uid;
    out->gid = (uint32_t)gid;
    out->size = (uint64_t)size;
    out->has_sha256 = out->type != MANIFEST_ENTRY_DIR;
    if (out->has_sha256)
        return get_hex32(c, e, "sha256", out->sha256,
                         "tree.entries: files and symlinks need sha256 (64 lowercase hex)");
    if (jread_get(e, "sha256") || size != 0)
        return fail(c, "tree.entries: a dir has no sha256 and size 0");
    return 0;
}

static int
parse_tree(struct ctx *c, struct manifest *m, const struct jread_value *tree)
{
    static const char *const keys[] = {
        "digest", "check", "sample_percent", "skip", "entries", NULL
    };
    const struct jread_value *entries = jread_get(tree, "entries");
    const char *check = jread_get_string(tree, "check");
    uint8_t digest[32];
    int64_t percent = 0;
    int r;

    r = only_keys(c, tree, keys, "tree: unknown member");
    if (r < 0)
        return r;
    if (get_hex32(c, tree, "digest", m->tree_digest, "tree.digest must be 64 lowercase hex") < 0)
        return -EBADMSG;
    if (check && strcmp(check, "full") == 0) {
        m->check = MANIFEST_CHECK_FULL;
        if (jread_get(tree, "sample_percent"))
            return fail(c, "tree.sample_percent is only for check \"sampled\"");
    } else if (check && strcmp(check, "sampled") == 0) {
        m->check = MANIFEST_CHECK_SAMPLED;
        if (get_int(c, tree, "sample_percent", true, 1, 100, &percent,
                    "tree.sample_percent must be 1..100") < 0)
            return -EBADMSG;
        m->sample_percent = (unsigned)percent;
    } else
        return fail(c, "tree.check must be \"full\" or \"sampled\"");
    r = get_strings(c, tree, "skip", STRINGS_PATH, &m->skip,
                    "tree.skip must be a list of absolute paths");
    if (r < 0)
        return r;
    if (!entries || entries->type != JREAD_ARRAY || entries->n > MANIFEST_ENTRIES_MAX)
        return fail(c, "tree.entries must be a list");
    m->entries = calloc(entries->n ? entries->n : 1, sizeof(struct manifest_entry));
    if (!m->entries)
        return -ENOMEM;
    for (size_t i = 0; i < entries->n; i++) {
        r = parse_entry(c, entries->items[i], &m->entries[i]);
        if (r < 0)
            return r;
        if (i > 0 && strcmp(m->entries[i - 1].path, m->entries[i].path) >= 0)
            return fail(c, "tree.entries must be sorted by path, without duplicates");
    }
    m->n_entries = entries->n;
    r = manifest_tree_digest(entries, digest);
    if (r < 0)
        return r;
    if (memcmp(digest, m->tree_digest, sizeof(digest)) != 0)
        return fail(c, "tree.digest does not match tree.entries");
    return 0;
}

static int
parse_image(struct ctx *c, struct manifest *m, const struct jread_value *image)
{
    static const char *const keys[] = { "entrypoint", "cmd", "env", "workdir", "user", NULL };
    int r;

    r = only_keys(c, image, keys, "image: unknown member");
    if (r < 0)
        return r;
    if (get_strings(c, image, "entrypoint", STRINGS_ANY, &m->entrypoint,
                    "image.entrypoint must be a list of strings") < 0 ||
        get_strings(c, image, "cmd", STRINGS_ANY, &m->cmd, "image.cmd must be a list of strings") <
            0 ||
        get_strings(c, image, "env", STRINGS_ENV, &m->env,
                    "image.env must be a list of NAME=value") < 0)
        return c->error ? -EBADMSG : -ENOMEM;
    if (m->entrypoint.n + m->cmd.n == 0)
        return fail(c, "image: entrypoint or cmd must name a program");
    if (get_string(c, image, "workdir", false, &m->workdir, "image.workdir must be a string") < 0 ||
        (m->workdir && strcmp(m->workdir, "/") != 0 && !manifest_path_ok(m->workdir)))
        return fail(c, "image.workdir must be an absolute path");
    /* "" is root, as in an OCI image config. */
    m->user = jread_get_string(image, "user");
    if ((jread_get(image, "user") && !m->user) || (m->user && strlen(m->user) > 256))
        return fail(c, "image.user must be a string");
    return 0;
}

static int
parse_certificate(struct ctx *c, struct manifest *m, const struct jread_value *cert)
{
    static const char *const keys[] = { "subject",  "alt_names", "key_type",   "key_param",
                                        "key_path", "cert_path", "chain_path", NULL };
    static const char *const param_keys[] = { "size", "curve", NULL };
    struct manifest_certificate *mc = &m->certificate;
    const struct jread_value *param = NULL;
    const char *key_type;
    int64_t bits = 2048;
    int r;

    r = only_keys(c, cert, keys, "app.certificate: unknown member");
    if (r < 0)
        return r;
    if (get_string(c, cert, "subject", true, &mc->subject,
                   "app.certificate.subject (the domain) is required") < 0 ||
        !dns_ok(mc->subject))
        return fail(c, "app.certificate.subject must be a DNS name");
    r = get_strings(c, cert, "alt_names", STRINGS_DNS, &mc->alt_names,
                    "app.certificate.alt_names must be a list of DNS names");
    if (r < 0)
        return r;
    if (get_object(c, cert, "key_param", false, &param,
                   "app.certificate.key_param must be an object") < 0)
        return -EBADMSG;
    if (param && only_keys(c, param, param_keys, "app.certificate.key_param: unknown member") < 0)
        return -EBADMSG;
    key_type = jread_get_string(cert, "key_type");
    if (key_type && strcmp(key_type, "RSA") == 0) {
        mc->key_type = MANIFEST_KEY_RSA;
        if (jread_get(param, "curve"))
            return fail(c, "app.certificate.key_param.curve is for EC keys");
        if (get_int(c, param, "size", false, 2048, 4096, &bits,
                    "app.certificate.key_param.size must be 2048, 3072 or 4096") < 0 ||
            bits % 1024 != 0)
            return fail(c, "app.certificate.key_param.size must be 2048, 3072 or 4096");
        mc->rsa_bits = (unsigned)bits;
    } else if (key_type && strcmp(key_type, "EC") == 0) {
        mc->key_type = MANIFEST_KEY_EC;
        if (jread_get(param, "size"))
            return fail(c, "app.certificate.key_param.size is for RSA keys");
        mc->curve = jread_get_string(param, "curve");
        if (!mc->curve)
            mc->curve = "P-256";
        if (strcmp(mc->curve, "P-256") != 0 && strcmp(mc->curve, "P-384") != 0)
            return fail(c, "app.certificate.key_param.curve must be P-256 or P-384");
    } else
        return fail(c, "app.certificate.key_type must be RSA or EC");
    if (get_string(c, cert, "key_path", true, &mc->key_path,
                   "app.certificate.key_path is required") < 0 ||
        get_string(c, cert, "cert_path", true, &mc->cert_path,
                   "app.certificate.cert_path is required") < 0 ||
        get_string(c, cert, "chain_path", false, &mc->chain_path,
                   "app.certificate.chain_path must be a string") < 0)
        return -EBADMSG;
    if (!manifest_path_ok(mc->key_path) || !manifest_path_ok(mc->cert_path) ||
        (mc->chain_path && !manifest_path_ok(mc->chain_path)))
        return fail(c,
                    "app.certificate: key_path, cert_path and chain_path must be absolute paths");
    return 0;
}

static int
parse_app(struct ctx *c, struct manifest *m, const struct jread_value *app)
{
    static const char *const keys[] = {
        "mem_size",       "threads", "isvprodid",          "isvsvn",       "certificate",
        "encrypted_dirs", "rw_dirs", "allow_cmdline_args", "manifest_env", NULL
    };
    const struct jread_value *cert = NULL, *args;
    int64_t mem = 0, threads = 0, prodid = 0, svn = 0;
    int r;

    r = only_keys(c, app, keys, "app: unknown member");
    if (r < 0)
        return r;
    if (get_int(c, app, "mem_size", true, 1, INT64_MAX, &mem, "app.mem_size must be > 0") < 0 ||
        get_int(c, app, "threads", true, 1, 4096, &threads, "app.threads must be 1..4096") < 0 ||
        get_int(c, app, "isvprodid", true, 0, 65535, &prodid, "app.isvprodid must be 0..65535") <
            0 ||
        get_int(c, app, "isvsvn", true, 0, 65535, &svn, "app.isvsvn must be 0..65535") < 0)
        return -EBADMSG;
    m->mem_size = (uint64_t)mem;
    m->threads = (unsigned)threads;
    m->isvprodid = (unsigned)prodid;
    m->isvsvn = (unsigned)svn;
    if (get_object(c, app, "certificate", true, &cert, "app.certificate is required") < 0)
        return -EBADMSG;
    r = parse_certificate(c, m, cert);
    if (r < 0)
        return r;
    if (get_strings(c, app, "encrypted_dirs", STRINGS_PATH, &m->encrypted_dirs,
                    "app.encrypted_dirs must be a list of absolute paths") < 0 ||
        get_strings(c, app, "rw_dirs", STRINGS_PATH, &m->rw_dirs,
                    "app.rw_dirs must be a list of absolute paths") < 0 ||
        get_strings(c, app, "manifest_env", STRINGS_ENV, &m->manifest_env,
                    "app.manifest_env must be a list of NAME=value") < 0)
        return c->error ? -EBADMSG : -ENOMEM;
    args = jread_get(app, "allow_cmdline_args");
    if (args && args->type != JREAD_BOOL)
        return fail(c, "app.allow_cmdline_args must be true or false");
    m->allow_cmdline_args = args && args->boolean;
    return 0;
}

int
manifest_tree_digest(const struct jread_value *entries, uint8_t ret_digest[32])
{
    struct jwbuf b = { 0 };
    int r;

    r = jwbuf_canonical(&b, entries, NULL);
    if (r == 0)
        r = manifest_sha256(b.data, b.size, ret_digest);
    jwbuf_release(&b);
    return r;
}

int
manifest_canonical(const struct manifest *m, char **ret_text, size_t *ret_size)
{
    struct jwbuf b = { 0 };
    int r;

    r = jwbuf_canonical(&b, m->root, "signer");
    if (r < 0) {
        jwbuf_release(&b);
        return r;
    }
    *ret_text = b.data;
    *ret_size = b.size;
    return 0;
}

int
manifest_measurement(const struct manifest *m, const uint8_t init_digest[32],
                     uint8_t ret_measurement[32])
{
    _cleanup_free_ char *text = NULL;
    size_t size = 0;
    int r;

    r = manifest_canonical(m, &text, &size);
    if (r < 0)
        return r;
    char *all = realloc(text, size + 32);
    if (!all)
        return -ENOMEM;
    text = all;
    memcpy(text + size, init_digest, 32);
    return manifest_sha256(text, size + 32, ret_measurement);
}

int
manifest_parse(const char *text, size_t size, struct manifest **ret_manifest,
               const char **ret_error)
{
    static const char *const keys[] = { "version", "tree", "image", "app", "signer", NULL };
    _cleanup_(manifest_freep) struct manifest *m = calloc(1, sizeof(struct manifest));
    const struct jread_value *tree = NULL, *image = NULL, *app = NULL;
    _cleanup_free_ char *canonical = NULL;
    struct ctx c = { 0 };
    size_t canonical_size = 0, offset = 0;
    int64_t version = 0;
    int r;

    if (!m)
        return -ENOMEM;
    r = jread_parse(text, size, MANIFEST_SIZE_MAX, &m->root, &offset);
    if (r == -EBADMSG || r == -E2BIG) {
        if (ret_error)
            *ret_error = r == -E2BIG ? "too large" : "not valid strict JSON";
        return -EBADMSG;
    }
    if (r < 0)
        return r;
    if (m->root->type != JREAD_OBJECT)
        r = fail(&c, "manifest must be a JSON object");
    if (r == 0)
        r = only_keys(&c, m->root, keys, "manifest: unknown top-level member");
    if (r == 0)
        r = get_int(&c, m->root, "version", true, 1, 1, &version, "manifest version must be 1");
    if (r == 0)
        r = get_object(&c, m->root, "tree", true, &tree, "tree is required");
    if (r == 0)
        r = get_object(&c, m->root, "image", true, &image, "image is required");
    if (r == 0)
        r = get_object(&c, m->root, "app", true, &app, "app is required");
    if (r == 0)
        r = get_hex32(&c, m->root, "signer", m->signer, "signer must be 64 lowercase hex");
    if (r == 0)
        r = parse_tree(&c, m, tree);
    if (r == 0)
        r = parse_image(&c, m, image);
    if (r == 0)
        r = parse_app(&c, m, app);
    if (r == 0)
        r = manifest_canonical(m, &canonical, &canonical_size);
    if (r == -EDOM)
        r = fail(&c, "manifest numbers must be integers");
    if (r == 0)
        r = manifest_sha256(canonical, canonical_size, m->digest);
    if (r < 0) {
        if (ret_error)
            *ret_error = c.error;
        return r;
    }
    *ret_manifest = TAKE_PTR(m);
    return 0;
}
