#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca-issue.h" /* CA_CLAIMS_OID */
#include "ca-keys.h"
#include "ca-x509.h"

struct ca_zone_sealed *
ca_zone_sealed_free(struct ca_zone_sealed *sealed)
{
    if (!sealed)
        return NULL;
    free(sealed->root_cert_pem);
    free(sealed->issuing_cert_pem);
    free(sealed->root_key_sealed);
    free(sealed->issuing_key_sealed);
    free(sealed);
    return NULL;
}

struct zone_ca *
ca_zone_free(struct zone_ca *ca)
{
    if (!ca)
        return NULL;
    X509_free(ca->root);
    X509_free(ca->issuing);
    EVP_PKEY_free(ca->issuing_key); /* OpenSSL clears private key material it frees */
    free(ca->chain_pem);
    ca_leaf_exts_free(ca->leaf_exts);
    free(ca);
    return NULL;
}

bool
ca_zone_id_is_valid(const char *zone_id)
{
    size_t len;

    if (!zone_id)
        return false;
    len = strlen(zone_id);
    if (len == 0 || len > CA_ZONE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = zone_id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static const char *
role_name(enum ca_key_role role)
{
    return role == CA_KEY_ROOT ? "root" : "issuing";
}

static int
key_aad(const char *zone_id, enum ca_key_role role, char *out, size_t size)
{
    int n;

    if (!ca_zone_id_is_valid(zone_id))
        return -EINVAL;
    n = snprintf(out, size, "%s:%s", zone_id, role_name(role));
    if (n < 0 || (size_t)n >= size)
        return -EINVAL;
    return 0;
}

static int
key_generate(enum ca_key_type type, EVP_PKEY **ret_key)
{
    EVP_PKEY *key;

    switch (type) {
    case CA_KEY_P384:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
        break;
    case CA_KEY_P256:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
        break;
    default:
        return -EINVAL;
    }
    if (!key)
        return -EIO;
    *ret_key = key;
    return 0;
}

static int
key_seal(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id, enum ca_key_role role,
         EVP_PKEY *key, char **ret_sealed)
{
    _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    unsigned char *der = NULL;
    char aad[CA_ZONE_ID_MAX + 16];
    int len, r;

    if (!p8)
        return -EIO;
    r = key_aad(zone_id, role, aad, sizeof(aad));
    if (r < 0)
        return r;
    len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    if (len <= 0)
        return -EIO;
    r = seal_secret(seal_key, aad, der, (size_t)len, ret_sealed);
    OPENSSL_clear_free(der, (size_t)len);
    return r;
}

int
ca_key_open(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id, enum ca_key_role role,
            const char *sealed, EVP_PKEY **ret_key)
{
    _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
    char aad[CA_ZONE_ID_MAX + 16];
    char *plain = NULL;
    const unsigned char *p;
    size_t len = 0;
    EVP_PKEY *key;
    int r;

    if (!sealed)
        return -EINVAL;
    r = key_aad(zone_id, role, aad, sizeof(aad));
    if (r < 0)
        return r;
    r = open_secret(seal_key, aad, sealed, &plain, &len);
    if (r < 0)
        return r;
    p = (const unsigned char *)plain;
    p8 = len <= LONG_MAX ? d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len) : NULL;
    r = p8 && p == (const unsigned char *)plain + len ? 0 : -EBADMSG;
    OPENSSL_clear_free(plain, len + 1);
    if (r < 0) {
        ERR_clear_error();
        return r;
    }
    key = EVP_PKCS82PKEY(p8);
    if (!key) {
        ERR_clear_error();
        return -EBADMSG;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
        EVP_PKEY_free(key);
        return -EBADMSG;
    }
    *ret_key = key;
    return 0;
}

/* The UTF-8 name cut to at most CA_ZONE_NAME_MAX bytes at a character boundary. */
static void
name_cut(const char *name, char out[CA_ZONE_NAME_MAX + 1])
{
    size_t len = strnlen(name, CA_ZONE_NAME_MAX + 1);

    if (len > CA_ZONE_NAME_MAX) {
        len = CA_ZONE_NAME_MAX;
        while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(out, name, len);
    out[len] = '\0';
}

/* "O=Cloister, OU=<zone_id>, CN=Cloister zone <name> <what>". */
static int
ca_name(const char *zone_id, const char *zone_name, const char *what, X509_NAME **ret_name)
{
    _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
    char cut[CA_ZONE_NAME_MAX + 1], cn[128];
    int n;

    if (!name)
        return -ENOMEM;
    name_cut(zone_name, cut);
    n = snprintf(cn, sizeof(cn), "Cloister zone %s %s", cut, what);
    if (n < 0 || (size_t)n >= sizeof(cn))
        return -EINVAL;
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Cloister", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)zone_id, -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1)
        return -EINVAL; /* not UTF-8, or too long */
    *ret_name = TAKE_PTR(name);
    return 0;
}

/* A CA certificate for key, signed by signer_key (issuer NULL: self-signed). */
static int
ca_cert_make(EVP_PKEY *key, X509_NAME *subject, X509 *issuer, EVP_PKEY *signer_key,
             const char *basic_constraints, int64_t validity, X509 **ret_cert)
{
    _cleanup_(X509_freep) X509 *cert = X509_new();
    int64_t now = time_now_unix();
    int r;

    if (!cert)
        return -ENOMEM;
    if (X509_set_version(cert, X509_VERSION_3) != 1 || X509_set_subject_name(cert, subject) != 1 ||
        X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_set_pubkey(cert, key) != 1)
        return -EIO;
    r = ca_x509_set_random_serial(cert, NULL);
    if (r < 0)
        return r;
    r = ca_x509_set_validity(cert, now - CA_BACKDATE_SECONDS, now + validity);
    if (r < 0)
        return r;
    r = ca_x509_add_ext(cert, issuer ? issuer : cert, NID_basic_constraints, basic_constraints);
    if (r < 0)
        return r;
    r = ca_x509_add_ext(cert, issuer ? issuer : cert, NID_key_usage,
                        "critical,keyCertSign,cRLSign");
    if (r < 0)
        return r;
    r = ca_x509_add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash");
    if (r < 0)
        return r;
    r = ca_x509_add_ext(cert, issuer ? issuer : cert, NID_authority_key_identifier, "keyid:always");
    if (r < 0)
        return r;
    if (X509_sign(cert, signer_key, ca_x509_digest_for(signer_key)) <= 0)
        return -EIO;
    *ret_cert = TAKE_PTR(cert);
    return 0;
}

int
ca_zone_create(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id, const char *zone_name,
               enum ca_key_type type, struct ca_zone_sealed **ret_sealed)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *sealed = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *root_key = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *issuing_key = NULL;
    _cleanup_(X509_NAME_freep) X509_NAME *root_name = NULL;
    _cleanup_(X509_NAME_freep) X509_NAME *issuing_name = NULL;
    _cleanup_(X509_freep) X509 *root = NULL;
    _cleanup_(X509_freep) X509 *issuing = NULL;
    int r;

    if (!ca_zone_id_is_valid(zone_id) || !zone_name || !*zone_name)
        return -EINVAL;
    r = ca_name(zone_id, zone_name, "root", &root_name);
    if (r < 0)
        return r;
    r = ca_name(zone_id, zone_name, "issuing CA", &issuing_name);
    if (r < 0)
        return r;
    r = key_generate(type, &root_key);
    if (r < 0)
        return r;
    r = key_generate(type, &issuing_key);
    if (r < 0)
        return r;
    r = ca_cert_make(root_key, root_name, NULL, root_key, "critical,CA:TRUE",
                     CA_ROOT_VALIDITY_SECONDS, &root);
    if (r < 0)
        return r;
    r = ca_cert_make(issuing_key, issuing_name, root, root_key, "critical,CA:TRUE,pathlen:0",
                     CA_ISSUING_VALIDITY_SECONDS, &issuing);
    if (r < 0)
        return r;

    sealed = calloc(1, sizeof(*sealed));
    if (!sealed)
        return -ENOMEM;
    r = ca_x509_to_pem(root, &sealed->root_cert_pem);
    if (r < 0)
        return r;
    r = ca_x509_to_pem(issuing, &sealed->issuing_cert_pem);
    if (r < 0)
        return r;
    r = key_seal(seal_key, zone_id, CA_KEY_ROOT, root_key, &sealed->root_key_sealed);
    if (r < 0)
        return r;
    r = key_seal(seal_key, zone_id, CA_KEY_ISSUING, issuing_key, &sealed->issuing_key_sealed);
    if (r < 0)
        return r;
    *ret_sealed = TAKE_PTR(sealed);
    return 0;
}

int
ca_zone_load(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id, const char *root_cert_pem,
             const char *issuing_cert_pem, const char *issuing_key_sealed, struct zone_ca **ret_ca)
{
    _cleanup_(ca_zone_freep) struct zone_ca *ca = NULL;
    _cleanup_free_ char *root_pem = NULL;
    _cleanup_free_ char *issuing_pem = NULL;
    size_t root_len, issuing_len;
    EVP_PKEY *root_pub;
    int r;

    if (!ca_zone_id_is_valid(zone_id) || !root_cert_pem || !issuing_cert_pem)
        return -EINVAL;
    ca = calloc(1, sizeof(*ca));
    if (!ca)
        return -ENOMEM;
    memcpy(ca->zone_id, zone_id, strlen(zone_id) + 1);
    r = ca_x509_from_pem(root_cert_pem, &ca->root);
    if (r < 0)
        return r;
    r = ca_x509_from_pem(issuing_cert_pem, &ca->issuing);
    if (r < 0)
        return r;
    r = ca_key_open(seal_key, zone_id, CA_KEY_ISSUING, issuing_key_sealed, &ca->issuing_key);
    if (r < 0)
        return r;

    root_pub = X509_get0_pubkey(ca->root);
    if (!root_pub || X509_verify(ca->root, root_pub) != 1 ||
        X509_verify(ca->issuing, root_pub) != 1 ||
        X509_check_private_key(ca->issuing, ca->issuing_key) != 1) {
        ERR_clear_error(); /* an expected refusal, not an error for whoever looks next */
        return -EBADMSG;
    }

    /* The chain a leaf is served with: issuing first, then the root, re-encoded so nothing but
     * the two certificates is passed on. */
    r = ca_x509_to_pem(ca->issuing, &issuing_pem);
    if (r < 0)
        return r;
    r = ca_x509_to_pem(ca->root, &root_pem);
    if (r < 0)
        return r;
    root_len = strlen(root_pem);
    issuing_len = strlen(issuing_pem);
    ca->chain_pem = malloc(issuing_len + root_len + 1);
    if (!ca->chain_pem)
        return -ENOMEM;
    memcpy(ca->chain_pem, issuing_pem, issuing_len);
    memcpy(ca->chain_pem + issuing_len, root_pem, root_len + 1);

    ca->digest = ca_x509_digest_for(ca->issuing_key);
    r = ca_x509_not_after(ca->issuing, &ca->issuing_not_after);
    if (r < 0)
        return r;
    r = ca_leaf_exts_new(ca->issuing, CA_CLAIMS_OID, &ca->leaf_exts);
    if (r < 0)
        return r;
    *ret_ca = TAKE_PTR(ca);
    return 0;
}
