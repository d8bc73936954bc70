/* libattest: X.509 helpers for hardware collateral (x509-util.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "attest-util.h"
#include "cleanup.h"
#include "x509-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM, OSSL_PARAM_free);

void
x509_chain_clear(struct x509_chain *chain)
{
    for (size_t i = 0; i < chain->count; i++)
        X509_free(chain->certs[i]);
    chain->count = 0;
}

int
x509_chain_read_pem(const void *pem, size_t size, struct x509_chain *ret)
{
    _cleanup_(BIO_free_allp) BIO *bio = NULL;
    struct x509_chain chain = { 0 };
    X509 *cert;

    if (!pem || size == 0 || size > INT32_MAX)
        return -EBADMSG;
    bio = BIO_new_mem_buf(pem, (int)size);
    if (!bio)
        return -ENOMEM;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (chain.count == X509_CHAIN_MAX) {
            X509_free(cert);
            x509_chain_clear(&chain);
            return -E2BIG;
        }
        chain.certs[chain.count++] = cert;
    }
    /* The loop ends at the first block that is not a certificate: only "no more PEM" is fine. */
    unsigned long error = ERR_peek_last_error();
    ERR_clear_error();
    if (chain.count == 0 || (ERR_GET_REASON(error) != PEM_R_NO_START_LINE && error != 0)) {
        x509_chain_clear(&chain);
        return -EBADMSG;
    }
    *ret = chain;
    return 0;
}

static bool
looks_like_pem(const void *data, size_t size)
{
    static const char marker[] = "-----BEGIN ";

    return memmem(data, size, marker, sizeof(marker) - 1) != NULL;
}

int
x509_read_any(const void *data, size_t size, X509 **ret)
{
    _cleanup_(BIO_free_allp) BIO *bio = NULL;
    const unsigned char *p = data;
    X509 *cert;

    if (!data || size == 0 || size > INT32_MAX)
        return -EBADMSG;
    if (looks_like_pem(data, size)) {
        bio = BIO_new_mem_buf(data, (int)size);
        if (!bio)
            return -ENOMEM;
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    } else {
        cert = d2i_X509(NULL, &p, (long)size);
        if (cert && p != (const unsigned char *)data + size) {
            X509_free(cert);
            cert = NULL;
        }
    }
    ERR_clear_error();
    if (!cert)
        return -EBADMSG;
    *ret = cert;
    return 0;
}

int
x509_crl_read_any(const void *data, size_t size, X509_CRL **ret)
{
    _cleanup_(BIO_free_allp) BIO *bio = NULL;
    const unsigned char *p = data;
    X509_CRL *crl;

    if (!data || size == 0 || size > INT32_MAX)
        return -EBADMSG;
    if (looks_like_pem(data, size)) {
        bio = BIO_new_mem_buf(data, (int)size);
        if (!bio)
            return -ENOMEM;
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    } else {
        crl = d2i_X509_CRL(NULL, &p, (long)size);
        if (crl && p != (const unsigned char *)data + size) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    ERR_clear_error();
    if (!crl)
        return -EBADMSG;
    *ret = crl;
    return 0;
}

int
x509_name_cn(const X509_NAME *name, char out[X509_CN_SIZE])
{
    const X509_NAME_ENTRY *entry;
    const ASN1_STRING *value;
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1), n;

    if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        return -EBADMSG;
    entry = X509_NAME_get_entry(name, i);
    value = entry ? X509_NAME_ENTRY_get_data(entry) : NULL;
    n = value ? ASN1_STRING_length(value) : -1;
    if (n <= 0 || n >= (int)X509_CN_SIZE || memchr(ASN1_STRING_get0_data(value), 0, (size_t)n))
        return -EBADMSG;
    memcpy(out, ASN1_STRING_get0_data(value), (size_t)n);
    out[n] = '\0';
    return 0;
}

int
x509_spki_sha256(X509 *cert, uint8_t ret[32])
{
    _cleanup_free_ unsigned char *der = NULL;
    int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);

    if (size <= 0)
        return -EBADMSG;
    return attest_sha256(der, (size_t)size, NULL, 0, ret);
}

/* Whether issuer's key signed cert, with issuer's subject as cert's issuer name. */
static bool
signed_by(X509 *cert, X509 *issuer)
{
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    bool ok = key &&
              X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) == 0 &&
              X509_verify(cert, key) == 1;

    ERR_clear_error();
    return ok;
}

int
x509_chain_check(const struct x509_chain *chain, const uint8_t pin[32], const char *item,
                 struct attest_failure *failure)
{
    uint8_t digest[32];
    X509 *root;

    if (chain->count == 0)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EBADMSG, "%s: no certificates",
                                  item);
    for (size_t i = 0; i + 1 < chain->count; i++)
        if (!signed_by(chain->certs[i], chain->certs[i + 1]))
            return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                      "%s: certificate %zu is not signed by certificate %zu", item,
                                      i, i + 1);
    root = chain->certs[chain->count - 1];
    if (x509_spki_sha256(root, digest) < 0 || memcmp(digest, pin, sizeof(digest)) != 0)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "%s: the root's key is not the pinned root key", item);
    if (!signed_by(root, root))
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "%s: the root is not self-signed", item);
    return 0;
}

static int
asn1_time_unix(const ASN1_TIME *time, int64_t *ret)
{
    struct tm tm;

    if (!time || ASN1_TIME_to_tm(time, &tm) != 1)
        return -EBADMSG;
    *ret = (int64_t)timegm(&tm);
    return 0;
}

int
x509_validity(X509 *cert, int64_t *ret_not_before, int64_t *ret_not_after)
{
    if (asn1_time_unix(X509_get0_notBefore(cert), ret_not_before) < 0 ||
        asn1_time_unix(X509_get0_notAfter(cert), ret_not_after) < 0)
        return -EBADMSG;
    return 0;
}

int
x509_crl_validity(X509_CRL *crl, int64_t *ret_this_update, int64_t *ret_next_update)
{
    /* A CRL without nextUpdate would be valid for ever; Intel's and AMD's always have one. */
    if (asn1_time_unix(X509_CRL_get0_lastUpdate(crl), ret_this_update) < 0 ||
        asn1_time_unix(X509_CRL_get0_nextUpdate(crl), ret_next_update) < 0)
        return -EBADMSG;
    return 0;
}

static void
format_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(out, 32, "%lld", (long long)t);
}

int
x509_window_check(int64_t from, int64_t until, int64_t at, const char *item,
                  struct attest_failure *failure)
{
    char a[32], b[32];

    if (at >= from && at <= until)
        return 0;
    format_time(from, a);
    format_time(until, b);
    return attest_failure_set(failure, ATTEST_STEP_EXPIRED, -EKEYEXPIRED,
                              "%s %s at the verification time (valid %s to %s)", item,
                              at < from ? "is not yet valid" : "has expired", a, b);
}

bool
x509_crl_lists(X509_CRL *crl, X509 *cert)
{
    X509_REVOKED *entry = NULL;

    return X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(cert)) == 1;
}

/* One big-endian unsigned integer as a DER INTEGER at out; its length, 0 for zero. */
static size_t
der_integer(const uint8_t *value, size_t size, uint8_t *out)
{
    size_t k = 0;

    while (size > 0 && value[0] == 0) {
        value++;
        size--;
    }
    if (size == 0)
        return 0;
    out[k++] = 0x02;
    out[k++] = (uint8_t)(size + (value[0] >> 7));
    if (value[0] & 0x80)
        out[k++] = 0; /* keep it positive */
    memcpy(out + k, value, size);
    return k + size;
}

size_t
x509_ecdsa_der(const uint8_t *r, const uint8_t *s, size_t size, uint8_t out[X509_ECDSA_DER_MAX])
{
    size_t r_size, s_size;

    if (size == 0 || size > 48)
        return 0;
    r_size = der_integer(r, size, out + 2);
    s_size = r_size ? der_integer(s, size, out + 2 + r_size) : 0;
    if (s_size == 0)
        return 0;
    out[0] = 0x30;
    out[1] = (uint8_t)(r_size + s_size); /* < 128: short form */
    return 2 + r_size + s_size;
}

int
x509_verify_p256_raw(EVP_PKEY *key, const uint8_t *message, size_t size,
                     const uint8_t signature[64])
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[X509_ECDSA_DER_MAX];
    size_t der_size = x509_ecdsa_der(signature, signature + 32, 32, der);
    int ok;

    if (!ctx)
        return -ENOMEM;
    if (der_size == 0)
        return -EKEYREJECTED;
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestVerify(ctx, der, der_size, message, size) == 1;
    ERR_clear_error();
    return ok ? 0 : -EKEYREJECTED;
}

int
x509_p256_key_from_raw(const uint8_t xy[64], EVP_PKEY **ret)
{
    _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *builder = NULL;
    _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
    uint8_t point[65];
    EVP_PKEY *key = NULL;

    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    memcpy(point + 1, xy, 64);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    builder = OSSL_PARAM_BLD_new();
    if (!ctx || !builder ||
        OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) !=
            1)
        return -ENOMEM;
    params = OSSL_PARAM_BLD_to_param(builder);
    if (!params || EVP_PKEY_fromdata_init(ctx) != 1)
        return -ENOMEM;
    /* fromdata decodes the point, which checks that it is on the curve. */
    if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        return -EBADMSG;
    }
    *ret = key;
    return 0;
}
