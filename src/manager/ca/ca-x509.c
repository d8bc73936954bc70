#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca-x509.h"
#include "crypto-util.h"

int
ca_x509_to_pem(X509 *cert, char **ret_pem)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
    static const char end[] = "-----END CERTIFICATE-----\n";
    unsigned char *der = NULL;
    size_t size;
    char *pem, *q;
    int len;

    /* PEM_write_bio_X509 encodes the certificate twice (once for the length) and goes through a
     * BIO; one encoding and base64 lines of 64 characters give the same text. */
    len = i2d_X509(cert, &der);
    if (len <= 0) {
        ERR_clear_error();
        return -EIO;
    }
    size = sizeof(begin) - 1 + 4 * (((size_t)len + 2) / 3) + ((size_t)len + 47) / 48 + sizeof(end) -
           1 + 1;
    pem = malloc(size);
    if (!pem) {
        OPENSSL_free(der);
        return -ENOMEM;
    }
    q = pem;
    memcpy(q, begin, sizeof(begin) - 1);
    q += sizeof(begin) - 1;
    for (int i = 0; i < len; i += 48) {
        /* EVP_EncodeBlock writes a NUL after the line, where its newline goes. */
        q += EVP_EncodeBlock((unsigned char *)q, der + i, len - i < 48 ? len - i : 48);
        *q++ = '\n';
    }
    memcpy(q, end, sizeof(end));
    OPENSSL_free(der);
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
    uint8_t bytes[CA_SERIAL_LEN];
    int r;

    r = crypto_random(bytes, sizeof(bytes));
    if (r < 0)
        return r;
    /* A fixed top bit keeps every serial exactly 128 bits long, so its hex form is unique. */
    bytes[0] |= 0x80;
    /* The serial in place: an ASN1_INTEGER holds the magnitude big-endian, as these bytes are. */
    if (ASN1_STRING_set(X509_get_serialNumber(cert), bytes, sizeof(bytes)) != 1)
        return -ENOMEM;
    if (ret_hex)
        hex_encode(bytes, sizeof(bytes), ret_hex);
    return 0;
}

int
ca_x509_set_validity(X509 *cert, int64_t not_before, int64_t not_after)
{
    if (not_after <= not_before)
        return -EINVAL;
    /* Set in place: X509_set1_notBefore would copy a new ASN1_TIME. */
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after))
        return -ENOMEM;
    return 0;
}

struct ca_leaf_exts *
ca_leaf_exts_free(struct ca_leaf_exts *exts)
{
    if (!exts)
        return NULL;
    BASIC_CONSTRAINTS_free(exts->basic_constraints);
    ASN1_BIT_STRING_free(exts->key_usage_ec);
    ASN1_BIT_STRING_free(exts->key_usage_rsa);
    EXTENDED_KEY_USAGE_free(exts->eku_app);
    EXTENDED_KEY_USAGE_free(exts->eku_node);
    AUTHORITY_KEYID_free(exts->authority_key_id);
    ASN1_OBJECT_free(exts->claims_oid);
    EVP_MD_free(exts->sha1);
    free(exts);
    return NULL;
}

/* An extendedKeyUsage of the purposes nids. */
static EXTENDED_KEY_USAGE *
eku_new(const int *nids, size_t n)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

    for (size_t i = 0; eku && i < n; i++)
        if (sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nids[i])) <= 0) {
            EXTENDED_KEY_USAGE_free(eku);
            return NULL;
        }
    return eku;
}

/* SHA-1 of key's BIT STRING contents: a subject key id (RFC 5280 4.2.1.2, method 1). */
static ASN1_OCTET_STRING *
key_id_of(const ASN1_BIT_STRING *key, const EVP_MD *sha1)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASN1_OCTET_STRING *id;

    if (!key || EVP_Digest(ASN1_STRING_get0_data(key), (size_t)ASN1_STRING_length(key), md, &md_len,
                           sha1, NULL) != 1)
        return NULL;
    id = ASN1_OCTET_STRING_new();
    if (id && ASN1_OCTET_STRING_set(id, md, (int)md_len) != 1) {
        ASN1_OCTET_STRING_free(id);
        return NULL;
    }
    return id;
}

int
ca_leaf_exts_new(X509 *issuer, const char *claims_oid, struct ca_leaf_exts **ret_exts)
{
    static const int app[] = { NID_server_auth, NID_client_auth }, node[] = { NID_client_auth };
    _cleanup_(ca_leaf_exts_freep) struct ca_leaf_exts *exts = calloc(1, sizeof(*exts));
    const ASN1_OCTET_STRING *issuer_id;

    if (!exts)
        return -ENOMEM;
    exts->basic_constraints = BASIC_CONSTRAINTS_new(); /* cA defaults to FALSE: left out */
    exts->key_usage_ec = ASN1_BIT_STRING_new();
    exts->key_usage_rsa = ASN1_BIT_STRING_new();
    exts->eku_app = eku_new(app, ELEMENTSOF(app));
    exts->eku_node = eku_new(node, ELEMENTSOF(node));
    exts->authority_key_id = AUTHORITY_KEYID_new();
    exts->claims_oid = OBJ_txt2obj(claims_oid, 1);
    exts->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!exts->basic_constraints || !exts->key_usage_ec || !exts->key_usage_rsa || !exts->eku_app ||
        !exts->eku_node || !exts->authority_key_id || !exts->claims_oid || !exts->sha1)
        return -ENOMEM;
    if (ASN1_BIT_STRING_set_bit(exts->key_usage_ec, 0, 1) != 1 ||  /* digitalSignature */
        ASN1_BIT_STRING_set_bit(exts->key_usage_rsa, 0, 1) != 1 || /* digitalSignature */
        ASN1_BIT_STRING_set_bit(exts->key_usage_rsa, 2, 1) != 1)   /* keyEncipherment */
        return -ENOMEM;
    issuer_id = X509_get0_subject_key_id(issuer);
    exts->authority_key_id->keyid = issuer_id
                                        ? ASN1_OCTET_STRING_dup(issuer_id)
                                        : key_id_of(X509_get0_pubkey_bitstr(issuer), exts->sha1);
    if (!exts->authority_key_id->keyid) {
        ERR_clear_error();
        return -EIO;
    }
    *ret_exts = TAKE_PTR(exts);
    return 0;
}

int
ca_x509_add_subject_key_id(X509 *cert, const struct ca_leaf_exts *exts)
{
    _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *id =
        key_id_of(X509_get0_pubkey_bitstr(cert), exts->sha1);

    if (!id || X509_add1_ext_i2d(cert, NID_subject_key_identifier, id, 0, X509V3_ADD_APPEND) != 1) {
        ERR_clear_error();
        return -EIO;
    }
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
