#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "crypto-util.h"
#include "log.h"

#define SELF_SIGNED_DAYS 365

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free);

static int
add_extension(X509 *cert, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -EINVAL;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -ENOMEM;
}

static int
build_certificate(EVP_PKEY *key, X509 **ret_cert)
{
    _cleanup_(X509_freep) X509 *cert = X509_new();
    X509_NAME *name;
    uint8_t serial[16];
    BIGNUM *bn;
    int r;

    if (!cert)
        return -ENOMEM;
    r = crypto_random(serial, sizeof(serial));
    if (r < 0)
        return r;
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
        BN_free(bn);
        return -ENOMEM;
    }
    BN_free(bn);
    X509_set_version(cert, X509_VERSION_3);
    X509_gmtime_adj(X509_getm_notBefore(cert), -300);
    X509_gmtime_adj(X509_getm_notAfter(cert), 60L * 60 * 24 * SELF_SIGNED_DAYS);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Cloister", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"cloister-manager (self-signed)", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    /* A self-signed certificate is its own trust anchor: mark it a CA so strict verifiers
     * accept it when clients pin it with --ca. */
    if (add_extension(cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
        add_extension(cert, NID_key_usage, "critical,digitalSignature,keyCertSign") < 0 ||
        add_extension(cert, NID_ext_key_usage, "serverAuth") < 0 ||
        add_extension(cert, NID_subject_key_identifier, "hash") < 0 ||
        add_extension(cert, NID_authority_key_identifier, "keyid:always") < 0 ||
        add_extension(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") < 0)
        return -EINVAL;
    if (!X509_sign(cert, key, EVP_sha256()))
        return -EIO;
    *ret_cert = TAKE_PTR(cert);
    return 0;
}

static int
write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    _cleanup_fclose_ FILE *f = NULL;
    int ok;

    if (fd < 0)
        return -errno;
    f = fdopen(fd, "w");
    if (!f)
        return -errno;
    TAKE_FD(fd);
    ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    if (!ok || fflush(f) != 0 || fsync(fileno(f)) < 0)
        return -EIO;
    return 0;
}

int
tls_generate_self_signed(const char *cert_path, const char *key_path)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    _cleanup_(X509_freep) X509 *cert = NULL;
    int r;

    if (!key)
        return -EIO;
    r = build_certificate(key, &cert);
    if (r < 0)
        return r;
    r = write_pem(key_path, 0600, key, NULL);
    if (r < 0)
        return r;
    return write_pem(cert_path, 0644, NULL, cert);
}

/* Every client may present a certificate and none is refused here: only nodes have one, and
 * which CA signed a node's depends on the node it names, which api-node-auth.c checks against
 * the store. Browsers and the CLI present none. */
static int
accept_any_client_certificate(int preverify_ok, X509_STORE_CTX *store_ctx)
{
    return 1;
}

int
tls_server_ctx_new(const char *cert_path, const char *key_path, SSL_CTX **ret_ctx)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx)
        return -ENOMEM;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client_certificate);
    /* Needed for session resumption once peer verification is on. */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"cloister", 8);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") ||
        !SSL_CTX_use_certificate_chain_file(ctx, cert_path) ||
        !SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) ||
        !SSL_CTX_check_private_key(ctx)) {
        log_error("TLS: cannot use certificate '%s' with key '%s': %s", cert_path, key_path,
                  ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return -EINVAL;
    }
    *ret_ctx = ctx;
    return 0;
}
