#include "ca-crl.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/pem.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL, X509_CRL_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REVOKED, X509_REVOKED_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TIME, ASN1_TIME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER, ASN1_INTEGER_free);

static int
serial_from_hex(const char *hex, ASN1_INTEGER **ret)
{
    _cleanup_(BN_freep) BIGNUM *bn = NULL;
    size_t len = strlen(hex);

    if (len == 0 || len > CA_SERIAL_HEX_LEN || strspn(hex, "0123456789abcdef") != len)
        return -EINVAL;
    if (BN_hex2bn(&bn, hex) != (int)len)
        return -EINVAL;
    *ret = BN_to_ASN1_INTEGER(bn, NULL);
    return *ret ? 0 : -ENOMEM;
}

static int
add_entry(X509_CRL *crl, const struct ca_revoked *entry)
{
    _cleanup_(X509_REVOKED_freep) X509_REVOKED *rev = X509_REVOKED_new();
    _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
    _cleanup_(ASN1_TIME_freep) ASN1_TIME *when = NULL;
    int r;

    if (!rev)
        return -ENOMEM;
    r = serial_from_hex(entry->serial_hex, &serial);
    if (r < 0)
        return r;
    when = ASN1_TIME_set(NULL, (time_t)entry->revoked_at);
    if (!when)
        return -ENOMEM;
    if (X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
        X509_REVOKED_set_revocationDate(rev, when) != 1)
        return -EIO;
    if (X509_CRL_add0_revoked(crl, rev) != 1)
        return -EIO;
    TAKE_PTR(rev);
    return 0;
}

static int
set_times_and_number(X509_CRL *crl, X509 *issuer, int64_t number, int64_t now, int64_t validity)
{
    _cleanup_(ASN1_TIME_freep) ASN1_TIME *this_update = ASN1_TIME_set(NULL, (time_t)now);
    _cleanup_(ASN1_TIME_freep) ASN1_TIME *next_update =
        ASN1_TIME_set(NULL, (time_t)(now + validity));
    _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *crl_number = ASN1_INTEGER_new();
    X509V3_CTX v3;

    if (!this_update || !next_update || !crl_number)
        return -ENOMEM;
    if (X509_CRL_set1_lastUpdate(crl, this_update) != 1 ||
        X509_CRL_set1_nextUpdate(crl, next_update) != 1 ||
        ASN1_INTEGER_set_int64(crl_number, number) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, crl_number, 0, 0) != 1)
        return -EIO;
    /* The authority key identifier ties the CRL to the issuing CA's key (RFC 5280 5.2.1). */
    X509V3_set_ctx(&v3, issuer, NULL, NULL, crl, 0);
    {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *akid =
            X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
        if (!akid || X509_CRL_add_ext(crl, akid, -1) != 1)
            return -EIO;
    }
    return 0;
}

int
ca_make_crl(const struct zone_ca *ca, int64_t crl_number, const struct ca_revoked *revoked,
            size_t n, int64_t now, int64_t validity, char **ret_pem)
{
    _cleanup_(X509_CRL_freep) X509_CRL *crl = X509_CRL_new();
    _cleanup_(BIO_free_allp) BIO *bio = NULL;
    char *pem, *data;
    long len;
    int r;

    if (!ca || crl_number < 0 || n > CA_CRL_ENTRIES_MAX || validity < 60 || validity > 31LL * 86400)
        return -EINVAL;
    if (!crl)
        return -ENOMEM;
    if (X509_CRL_set_version(crl, 1) != 1 || /* v2 */
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuing)) != 1)
        return -EIO;
    r = set_times_and_number(crl, ca->issuing, crl_number, now, validity);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        r = add_entry(crl, &revoked[i]);
        if (r < 0)
            return r;
    }
    X509_CRL_sort(crl);
    if (X509_CRL_sign(crl, ca->issuing_key, ca_x509_digest_for(ca->issuing_key)) <= 0)
        return -EIO;
    bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_X509_CRL(bio, crl) != 1)
        return -EIO;
    len = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)len);
    if (!pem)
        return -ENOMEM;
    *ret_pem = pem;
    return 0;
}
