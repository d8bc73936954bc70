/* Key, CSR and report_data for cloister-init (see csr.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "csr.h"

#define NONCE_MAX 256u /* ATTEST_NONCE_MAX */

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free);

static void
extensions_freep(STACK_OF(X509_EXTENSION) * *p)
{
    sk_X509_EXTENSION_pop_free(*p, X509_EXTENSION_free);
}

int
csr_key_generate(const struct manifest_certificate *config, EVP_PKEY **ret_key)
{
    EVP_PKEY *key;

    if (config->key_type == MANIFEST_KEY_RSA)
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                (size_t)(config->rsa_bits ? config->rsa_bits : 2048));
    else
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", config->curve ? config->curve : "P-256");
    if (!key)
        return -EIO;
    *ret_key = key;
    return 0;
}

static int
add_dns(GENERAL_NAMES *names, const char *dns)
{
    GENERAL_NAME *name = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    if (!name || !ia5 || ASN1_STRING_set(ia5, dns, (int)strlen(dns)) != 1) {
        GENERAL_NAME_free(name);
        ASN1_IA5STRING_free(ia5);
        return -ENOMEM;
    }
    GENERAL_NAME_set0_value(name, GEN_DNS, ia5);
    if (!sk_GENERAL_NAME_push(names, name)) {
        GENERAL_NAME_free(name);
        return -ENOMEM;
    }
    return 0;
}

static int
bio_to_string(BIO *bio, char **ret, size_t *ret_size)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *copy;

    if (n <= 0)
        return -EIO;
    copy = malloc((size_t)n + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *ret = copy;
    if (ret_size)
        *ret_size = (size_t)n;
    return 0;
}

int
csr_make_pem(EVP_PKEY *key, const struct manifest_certificate *config, char **ret_pem)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
    _cleanup_(X509_NAME_freep) X509_NAME *subject = X509_NAME_new();
    _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = GENERAL_NAMES_new();
    _cleanup_(extensions_freep) STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
    int r;

    if (!req || !subject || !names || !exts || !bio)
        return -ENOMEM;
    if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)config->subject, -1, -1, 0) != 1 ||
        X509_REQ_set_subject_name(req, subject) != 1 || X509_REQ_set_version(req, 0) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1)
        return -EINVAL;
    r = add_dns(names, config->subject);
    for (size_t i = 0; r == 0 && i < config->alt_names.n; i++)
        if (strcmp(config->alt_names.items[i], config->subject) != 0)
            r = add_dns(names, config->alt_names.items[i]);
    if (r < 0)
        return r;
    X509_EXTENSION *san = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
    if (!san)
        return -ENOMEM;
    if (!sk_X509_EXTENSION_push(exts, san)) {
        X509_EXTENSION_free(san);
        return -ENOMEM;
    }
    if (X509_REQ_add_extensions(req, exts) != 1)
        return -ENOMEM;
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        return -EIO;
    if (PEM_write_bio_X509_REQ(bio, req) != 1)
        return -EIO;
    return bio_to_string(bio, ret_pem, NULL);
}

int
csr_key_pem(EVP_PKEY *key, char **ret_pem, size_t *ret_size)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_secmem());
    int r;

    if (!bio)
        return -ENOMEM;
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        return -EIO;
    r = bio_to_string(bio, ret_pem, ret_size);
    return r;
}

int
csr_report_data(const uint8_t *nonce, size_t nonce_size, EVP_PKEY *key, uint8_t ret[64])
{
    uint8_t key_digest[32], out[64] = { 0 };
    unsigned char *der = NULL;
    unsigned len = 0;
    int n, ok;

    if (!nonce || nonce_size == 0 || nonce_size > NONCE_MAX || !key)
        return -EINVAL;
    n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        return -EINVAL;
    ok = EVP_Digest(der, (size_t)n, key_digest, &len, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (ok != 1)
        return -EIO;

    _cleanup_free_ uint8_t *buf = malloc(nonce_size + sizeof(key_digest));
    if (!buf)
        return -ENOMEM;
    memcpy(buf, nonce, nonce_size);
    memcpy(buf + nonce_size, key_digest, sizeof(key_digest));
    if (EVP_Digest(buf, nonce_size + sizeof(key_digest), out, &len, EVP_sha256(), NULL) != 1)
        return -EIO;
    memcpy(ret, out, sizeof(out));
    return 0;
}
