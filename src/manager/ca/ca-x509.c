#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca-x509.h"
#include "crypto-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TIME, ASN1_TIME_free);

int
ca_x509_to_pem(X509 *cert, char **ret_pem)
{
    _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
    char *data, *pem;
    long len;

    if (!bio)
        return -ENOMEM;
    if (PEM_write_bio_X509(bio, cert) != 1)
        return -EIO;
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0)
        return -EIO;
    pem = malloc((size_t)len + 1);
    if (!pem)
        return -ENOMEM;
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
    *ret_pem = pem;
    return 0;
}

int
ca_x509_from_pem(const char *pem, X509 **ret_cert)
{
    _cleanup_(BIO_free_allp) BIO *bio = NULL;
    X509 *cert;

    if (!pem)
        return -EINVAL;
    bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return -ENOMEM;
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!cert) {
        ERR_clear_error();
        return -EBADMSG;
    }
    *ret_cert = cert;
    return 0;
}

const EVP_MD *
ca_x509_digest_for(EVP_PKEY *signer)
{
    char group[64];
    size_t len = 0;

    if (EVP_PKEY_get_base_id(signer) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(signer, group, sizeof(group), &len) == 1 &&
        strcmp(group, "secp384r1") == 0)
        return EVP_sha384();
    return EVP_sha256();
}

int
ca_x509_set_random_serial(X509 *cert, char *ret_hex)
{
    _cleanup_(BN_freep) BIGNUM *bn = NULL;
    _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
    uint8_t bytes[CA_SERIAL_LEN];
    int r;

    r = crypto_random(bytes, sizeof(bytes));
    if (r < 0)
        return r;
    /* A fixed top bit keeps every serial exactly 128 bits long, so its hex form is unique. */
    bytes[0] |= 0x80;
    bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    if (!bn)
        return -ENOMEM;
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    if (!serial)
        return -ENOMEM;
    if (X509_set_serialNumber(cert, serial) != 1)
        return -EIO;
    if (ret_hex)
        hex_encode(bytes, sizeof(bytes), ret_hex);
    return 0;
}

int
ca_x509_set_validity(X509 *cert, int64_t not_before, int64_t not_after)
{
    _cleanup_(ASN1_TIME_freep) ASN1_TIME *nb = ASN1_TIME_set(NULL, (time_t)not_before);
    _cleanup_(ASN1_TIME_freep) ASN1_TIME *na = ASN1_TIME_set(NULL, (time_t)not_after);

    if (!nb || !na)
        return -ENOMEM;
    if (not_after <= not_before)
        return -EINVAL;
    if (X509_set1_notBefore(cert, nb) != 1 || X509_set1_notAfter(cert, na) != 1)
        return -EIO;
    return 0;
}

int
ca_x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
    X509V3_CTX ctx;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -EIO;
    if (X509_add_ext(cert, ext, -1) != 1)
        return -ENOMEM;
    return 0;
}

int
ca_x509_not_after(const X509 *cert, int64_t *ret_unix)
{
    const ASN1_TIME *t = X509_get0_notAfter(cert);
    struct tm tm;
    time_t when;

    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -EBADMSG;
    when = timegm(&tm);
    if (when == (time_t)-1)
        return -EBADMSG;
    *ret_unix = (int64_t)when;
    return 0;
}
