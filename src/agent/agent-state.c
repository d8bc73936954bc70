#include "agent-state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#define STATE_FILE_MAX (256u << 10)

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free);

static void
chain_free(STACK_OF(X509) * chain)
{
    sk_X509_pop_free(chain, X509_free);
}

static inline void
chain_freep(STACK_OF(X509) * *chain)
{
    if (*chain)
        chain_free(*chain);
}

struct agent_state *
agent_state_new(void)
{
    struct agent_state *s = calloc(1, sizeof(*s));

    if (s) {
        s->refresh_interval = 60;
        s->renewal_threshold = 50;
    }
    return s;
}

struct agent_state *
agent_state_free(struct agent_state *s)
{
    if (!s)
        return NULL;
    free(s->ca_pem);
    EVP_PKEY_free(s->node_key);
    EVP_PKEY_free(s->sim_key);
    X509_free(s->node_cert);
    if (s->chain)
        chain_free(s->chain);
    free(s);
    return NULL;
}

int
agent_state_dir_prepare(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

static int
path_join(const char *dir, const char *name, const char *suffix, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, suffix);

    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int
agent_file_write_atomic(const char *dir, const char *name, const void *data, size_t size,
                        mode_t mode)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    const char *p = data;
    _cleanup_close_ int fd = -1, dfd = -1;
    int r;

    if ((r = path_join(dir, name, ".tmp", tmp)) < 0 || (r = path_join(dir, name, "", final)) < 0)
        return r;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    /* O_CREAT does not change the mode of a tmp file left over by a crash. */
    if (fchmod(fd, mode) < 0)
        goto fail;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += n;
        size -= (size_t)n;
    }
    if (fsync(fd) < 0 || rename(tmp, final) < 0)
        goto fail;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        (void)fsync(dfd); /* the rename itself is durable once the directory is */
    return 0;
fail:
    r = -errno;
    (void)unlink(tmp);
    return r;
}

static int
file_read_path(const char *path, int flags, char **ret, size_t *ret_size)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t got = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size > STATE_FILE_MAX)
        return -EFBIG;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_size)
        *ret_size = got;
    return 0;
}

/* State files are never symlinks: the agent wrote them itself. */
static int
file_read(const char *dir, const char *name, char **ret, size_t *ret_size)
{
    char path[PATH_MAX];
    int r = path_join(dir, name, "", path);

    return r < 0 ? r : file_read_path(path, O_NOFOLLOW, ret, ret_size);
}

int
agent_key_generate(EVP_PKEY **ret)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    if (!key)
        return -EIO;
    *ret = key;
    return 0;
}

static bool
key_is_p256(EVP_PKEY *key)
{
    char group[32];

    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), NULL) &&
           strcmp(group, "prime256v1") == 0;
}

static int
key_to_pem(EVP_PKEY *key, BIO *bio)
{
    return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ? 0 : -EIO;
}

static int
bio_save(BIO *bio, const char *dir, const char *name)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int r;

    if (len <= 0)
        return -EIO;
    r = agent_file_write_atomic(dir, name, data, (size_t)len, 0600);
    /* The buffer held a private key: do not leave it in freed memory. */
    OPENSSL_cleanse(data, (size_t)len);
    return r;
}

static int
key_save(EVP_PKEY *key, const char *dir, const char *name)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
    int r;

    if (!bio)
        return -ENOMEM;
    r = key_to_pem(key, bio);
    if (r < 0)
        return r;
    return bio_save(bio, dir, name);
}

static int
key_load(const char *dir, const char *name, EVP_PKEY **ret)
{
    _cleanup_free_ char *pem = NULL;
    _cleanup_(BIO_freep) BIO *bio = NULL;
    size_t size;
    EVP_PKEY *key;
    int r;

    r = file_read(dir, name, &pem, &size);
    if (r < 0)
        return r;
    bio = BIO_new_mem_buf(pem, (int)size);
    if (!bio)
        return -ENOMEM;
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    OPENSSL_cleanse(pem, size);
    if (!key)
        return -EBADMSG;
    if (!key_is_p256(key)) {
        EVP_PKEY_free(key);
        return -EBADMSG;
    }
    *ret = key;
    return 0;
}

int
agent_state_load_or_make_keys(const char *dir, EVP_PKEY **ret_node_key, EVP_PKEY **ret_sim_key)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *node = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *sim = NULL;
    int r;

    r = key_load(dir, "sim-key.pem", &sim);
    if (r == -ENOENT) {
        if ((r = agent_key_generate(&sim)) < 0 || (r = key_save(sim, dir, "sim-key.pem")) < 0)
            return r;
    } else if (r < 0)
        return r;
    r = key_load(dir, "node.pem", &node);
    if (r == -ENOENT) {
        if ((r = agent_key_generate(&node)) < 0 || (r = key_save(node, dir, "node.pem")) < 0)
            return r;
    } else if (r < 0)
        return r;
    *ret_node_key = TAKE_PTR(node);
    *ret_sim_key = TAKE_PTR(sim);
    return 0;
}

int
agent_state_save_identity(const char *dir, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
    int r;

    if (!bio)
        return -ENOMEM;
    r = key_to_pem(key, bio);
    if (r < 0)
        return r;
    if (!PEM_write_bio_X509(bio, cert))
        return -EIO;
    for (int i = 0; chain && i < sk_X509_num(chain); i++)
        if (!PEM_write_bio_X509(bio, sk_X509_value(chain, i)))
            return -EIO;
    return bio_save(bio, dir, "node.pem");
}

static int
set_string(char *out, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || strlen(s) >= cap)
        return -EBADMSG;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int
agent_state_save_meta(const char *dir, const struct agent_state *s)
{
    _cleanup_(json_decrefp) json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:s?}", "node_id", s->node_id, "zone_id", s->zone_id,
        "acct_id", s->acct_id, "trust_domain", s->trust_domain, "name", s->name, "manager_url",
        s->manager_url, "node_refresh_interval", (json_int_t)s->refresh_interval,
        "node_renewal_threshold", s->renewal_threshold, "ca_certificate", s->ca_pem);
    _cleanup_free_ char *text = NULL;

    if (!o)
        return -ENOMEM;
    text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    return agent_file_write_atomic(dir, "node.json", text, strlen(text), 0600);
}

static int
meta_parse(const char *text, size_t size, struct agent_state *s)
{
    _cleanup_(json_decrefp) json_t *o = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *ca;

    if (!json_is_object(o))
        return -EBADMSG;
    if (set_string(s->node_id, sizeof(s->node_id), json_object_get(o, "node_id")) < 0 ||
        set_string(s->zone_id, sizeof(s->zone_id), json_object_get(o, "zone_id")) < 0 ||
        set_string(s->acct_id, sizeof(s->acct_id), json_object_get(o, "acct_id")) < 0 ||
        set_string(s->trust_domain, sizeof(s->trust_domain), json_object_get(o, "trust_domain")) <
            0 ||
        set_string(s->name, sizeof(s->name), json_object_get(o, "name")) < 0 ||
        set_string(s->manager_url, sizeof(s->manager_url), json_object_get(o, "manager_url")) < 0)
        return -EBADMSG;
    if (!json_is_integer(json_object_get(o, "node_refresh_interval")) ||
        !json_is_integer(json_object_get(o, "node_renewal_threshold")))
        return -EBADMSG;
    s->refresh_interval = json_integer_value(json_object_get(o, "node_refresh_interval"));
    s->renewal_threshold = (int)json_integer_value(json_object_get(o, "node_renewal_threshold"));
    ca = json_object_get(o, "ca_certificate");
    if (json_is_string(ca)) {
        s->ca_pem = strdup(json_string_value(ca));
        if (!s->ca_pem)
            return -ENOMEM;
    }
    return 0;
}

/* node.pem: the key, the node certificate, then the chain. */
static int
identity_parse(const char *text, size_t size, struct agent_state *s)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(text, (int)size);
    _cleanup_(chain_freep) STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *x;

    if (!bio || !chain)
        return -ENOMEM;
    s->node_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!s->node_key || !key_is_p256(s->node_key))
        return -EBADMSG;
    s->node_cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!s->node_cert || X509_check_private_key(s->node_cert, s->node_key) != 1)
        return -EBADMSG;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            return -ENOMEM;
        }
    s->chain = TAKE_PTR(chain);
    return 0;
}

int
agent_state_load(const char *dir, struct agent_state **ret)
{
    _cleanup_(agent_state_freep) struct agent_state *s = agent_state_new();
    _cleanup_free_ char *meta = NULL, *ident = NULL;
    size_t meta_size, ident_size;
    int r;

    if (!s)
        return -ENOMEM;
    r = file_read(dir, "node.json", &meta, &meta_size);
    if (r < 0)
        return r;
    r = meta_parse(meta, meta_size, s);
    if (r < 0)
        return r;
    r = file_read(dir, "node.pem", &ident, &ident_size);
    if (r < 0)
        return r == -ENOENT ? -EBADMSG : r;
    r = identity_parse(ident, ident_size, s);
    OPENSSL_cleanse(ident, ident_size);
    if (r < 0)
        return r;
    r = key_load(dir, "sim-key.pem", &s->sim_key);
    if (r < 0)
        return r == -ENOENT ? -EBADMSG : r;
    *ret = TAKE_PTR(s);
    return 0;
}

int
agent_csr_make(EVP_PKEY *key, const char *cn, char **ret_pem)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
    _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
    X509_NAME *name;
    char *data;
    long len;

    if (!req || !bio)
        return -ENOMEM;
    name = X509_REQ_get_subject_name(req);
    if (!X509_REQ_set_version(req, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_REQ_set_pubkey(req, key) || !X509_REQ_sign(req, key, EVP_sha256()) ||
        !PEM_write_bio_X509_REQ(bio, req))
        return -EIO;
    len = BIO_get_mem_data(bio, &data);
    *ret_pem = strndup(data, (size_t)len);
    return *ret_pem ? 0 : -ENOMEM;
}

int
agent_spki_base64(EVP_PKEY *key, char **ret)
{
    _cleanup_free_ unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    char *out;

    if (len <= 0)
        return -EIO;
    out = malloc(4 * (((size_t)len + 2) / 3) + 1);
    if (!out)
        return -ENOMEM;
    EVP_EncodeBlock((unsigned char *)out, der, len);
    *ret = out;
    return 0;
}

int
agent_cert_parse(const char *pem, X509 **ret)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;

    if (!bio)
        return -ENOMEM;
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!x)
        return -EBADMSG;
    *ret = x;
    return 0;
}

int
agent_chain_parse(const char *pem, STACK_OF(X509) * *ret)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
    _cleanup_(chain_freep) STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *x;

    if (!bio || !chain)
        return -ENOMEM;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            return -ENOMEM;
        }
    if (sk_X509_num(chain) == 0)
        return -EBADMSG;
    *ret = TAKE_PTR(chain);
    return 0;
}

int
agent_cert_elapsed_percent(X509 *cert, int64_t now)
{
    const ASN1_TIME *nb = X509_get0_notBefore(cert), *na = X509_get0_notAfter(cert);
    struct tm tb, ta;
    int64_t from, to;

    if (!ASN1_TIME_to_tm(nb, &tb) || !ASN1_TIME_to_tm(na, &ta))
        return 100;
    from = (int64_t)timegm(&tb);
    to = (int64_t)timegm(&ta);
    if (to <= from || now >= to)
        return 100;
    if (now <= from)
        return 0;
    return (int)((now - from) * 100 / (to - from));
}

int
agent_state_save_manager_ca(const char *dir, const char *ca_file)
{
    _cleanup_free_ char *pem = NULL;
    size_t size;
    int r;

    r = file_read_path(ca_file, 0, &pem, &size);
    if (r < 0)
        return r;
    return agent_file_write_atomic(dir, AGENT_MANAGER_CA_FILE, pem, size, 0600);
}

int
agent_state_manager_ca_path(const char *dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", dir, AGENT_MANAGER_CA_FILE);

    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return access(out, R_OK) == 0 ? 0 : -errno;
}
