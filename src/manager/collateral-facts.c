/* Facts read from collateral items (collateral-facts.h), with OpenSSL. */
#include "collateral-facts.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cleanup.h"
#include "crypto-util.h"

#define CN_MAX 128
#define OID_TEXT_MAX 64
#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."
#define AMD_SPL_ARCS 9 /* 3.1 bl, 3.2 tee, 3.3 snp, 3.4-3.7 reserved, 3.8 ucode, 3.9 fmc */
#define TURIN_HWID_SIZE 8

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL, X509_CRL_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER, ASN1_INTEGER_free)

int
collateral_b64_encode(const void *data, size_t size, char **ret_text)
{
    char *text;

    if (size > INT_MAX / 2)
        return -E2BIG;
    text = malloc((size + 2) / 3 * 4 + 1);
    if (!text)
        return -ENOMEM;
    EVP_EncodeBlock((unsigned char *)text, data, (int)size);
    *ret_text = text;
    return 0;
}

static bool
is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int
collateral_b64_decode(const char *text, size_t max, uint8_t **ret_data, size_t *ret_size)
{
    size_t len = strlen(text), pad = 0, padded, size;
    _cleanup_free_ char *copy = NULL;
    _cleanup_free_ uint8_t *data = NULL;

    while (len > 0 && text[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!is_b64_char(text[i]))
            return -EINVAL;
    size = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (size > max || len > INT_MAX - 4)
        return -E2BIG;
    padded = (len + 3) / 4 * 4;
    copy = malloc(padded + 1);
    data = malloc(padded / 4 * 3 + 1);
    if (!copy || !data)
        return -ENOMEM;
    memcpy(copy, text, len);
    memset(copy + len, '=', padded - len);
    copy[padded] = '\0';
    if (EVP_DecodeBlock(data, (unsigned char *)copy, (int)padded) < 0)
        return -EINVAL;
    data[size] = '\0';
    *ret_data = TAKE_PTR(data);
    *ret_size = size;
    return 0;
}

static int
asn1_time_unix(const ASN1_TIME *t, int64_t *ret)
{
    struct tm tm;

    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -EBADMSG;
    *ret = (int64_t)timegm(&tm);
    return 0;
}

int
collateral_chain_not_after(const char *pem, size_t size, int64_t *ret_not_after)
{
    _cleanup_(BIO_freep) BIO *bio = NULL;
    int64_t until = INT64_MAX;
    unsigned count = 0;

    if (size > INT_MAX)
        return -E2BIG;
    bio = BIO_new_mem_buf(pem, (int)size);
    if (!bio)
        return -ENOMEM;
    for (;;) {
        _cleanup_(X509_freep) X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        int64_t t;

        if (!cert)
            break;
        if (asn1_time_unix(X509_get0_notAfter(cert), &t) < 0)
            return -EBADMSG;
        until = t < until ? t : until;
        count++;
    }
    ERR_clear_error();
    if (count == 0)
        return -EBADMSG;
    *ret_not_after = until;
    return 0;
}

static void
name_cn(const X509_NAME *name, char cn[CN_MAX])
{
    cn[0] = '\0';
    if (X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, cn, CN_MAX) < 0)
        cn[0] = '\0';
    ERR_clear_error();
}

static X509_CRL *
crl_read(const void *data, size_t size)
{
    const unsigned char *p = data;
    _cleanup_(BIO_freep) BIO *bio = NULL;
    X509_CRL *crl;

    if (size > INT_MAX)
        return NULL;
    if (memmem(data, size, "-----BEGIN X509 CRL-----", 24)) {
        bio = BIO_new_mem_buf(data, (int)size);
        crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
    } else {
        crl = d2i_X509_CRL(NULL, &p, (long)size);
    }
    ERR_clear_error();
    return crl;
}

int
collateral_crl_facts(const void *data, size_t size, struct crl_facts *ret)
{
    _cleanup_(X509_CRL_freep) X509_CRL *crl = crl_read(data, size);
    struct crl_facts facts = { CRL_ISSUER_OTHER, 0, 0 };
    char cn[CN_MAX];

    if (!crl)
        return -EBADMSG;
    if (asn1_time_unix(X509_CRL_get0_lastUpdate(crl), &facts.this_update) < 0 ||
        asn1_time_unix(X509_CRL_get0_nextUpdate(crl), &facts.next_update) < 0)
        return -EBADMSG;
    /* The issuers' names of Intel's SGX PCK Certificate and CRL Profile. */
    name_cn(X509_CRL_get_issuer(crl), cn);
    if (strcmp(cn, "Intel SGX PCK Processor CA") == 0)
        facts.issuer = CRL_ISSUER_PROCESSOR;
    else if (strcmp(cn, "Intel SGX PCK Platform CA") == 0)
        facts.issuer = CRL_ISSUER_PLATFORM;
    else if (strcmp(cn, "Intel SGX Root CA") == 0)
        facts.issuer = CRL_ISSUER_ROOT;
    *ret = facts;
    return 0;
}

/* ---- AMD ---- */

static bool
strip_prefix(const char *s, const char *prefix, char out[AMD_PRODUCT_MAX])
{
    size_t n = strlen(prefix);

    if (strncmp(s, prefix, n) != 0 || !s[n] || strlen(s + n) >= AMD_PRODUCT_MAX)
        return false;
    snprintf(out, AMD_PRODUCT_MAX, "%s", s + n);
    return true;
}

/* The role and product by the names AMD gives its certificates (VCEK specification, KDS). */
static int
amd_role(X509 *cert, struct amd_cert_facts *f)
{
    char subject[CN_MAX], issuer[CN_MAX];
    bool self = X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;

    name_cn(X509_get_subject_name(cert), subject);
    name_cn(X509_get_issuer_name(cert), issuer);
    if (self && strip_prefix(subject, "ARK-", f->product))
        f->role = AMD_CERT_ARK;
    else if (strncmp(issuer, "ARK-", 4) == 0 && strip_prefix(subject, "SEV-VLEK-", f->product))
        f->role = AMD_CERT_ASVK;
    else if (strncmp(issuer, "ARK-", 4) == 0 && strip_prefix(subject, "SEV-", f->product))
        f->role = AMD_CERT_ASK;
    else if (strcmp(subject, "SEV-VLEK") == 0 && strip_prefix(issuer, "SEV-VLEK-", f->product))
        f->role = AMD_CERT_VLEK;
    else if (strcmp(subject, "SEV-VCEK") == 0 && strip_prefix(issuer, "SEV-", f->product))
        f->role = AMD_CERT_VCEK;
    else
        return -EBADMSG;
    return 0;
}

static int
der_small_int(const uint8_t *p, size_t size, uint8_t *ret)
{
    const unsigned char *q = p;
    _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &q, (long)size);
    int64_t v;

    if (!i || q != p + size || ASN1_INTEGER_get_int64(&v, i) != 1 || v < 0 || v > 255) {
        ERR_clear_error();
        return -EBADMSG;
    }
    *ret = (uint8_t)v;
    return 0;
}

/* hwID: the raw bytes (64, or 8 on Turin), or an OCTET STRING around them. */
static int
hwid_read(const uint8_t *p, size_t size, struct amd_cert_facts *f)
{
    if ((size == AMD_HWID_MAX + 2 || size == TURIN_HWID_SIZE + 2) && p[0] == 0x04 &&
        p[1] == size - 2) {
        p += 2;
        size -= 2;
    }
    if (size != AMD_HWID_MAX && size != TURIN_HWID_SIZE)
        return -EBADMSG;
    memcpy(f->hwid, p, size);
    f->hwid_size = size;
    return 0;
}

struct amd_spls {
    uint8_t spl[AMD_SPL_ARCS + 1]; /* by arc */
    bool has[AMD_SPL_ARCS + 1];
};

static int
amd_extension(const char *arc, const uint8_t *p, size_t size, struct amd_cert_facts *f,
              struct amd_spls *spls)
{
    if (strcmp(arc, "4") == 0)
        return hwid_read(p, size, f);
    if (strncmp(arc, "3.", 2) == 0 && arc[2] >= '1' && arc[2] <= '0' + AMD_SPL_ARCS && !arc[3]) {
        int i = arc[2] - '0';

        spls->has[i] = true;
        return der_small_int(p, size, &spls->spl[i]);
    }
    return 0;
}

static int
amd_extensions(X509 *cert, struct amd_cert_facts *f)
{
    struct amd_spls spls = { 0 };
    int count = X509_get_ext_count(cert), r;

    for (int i = 0; i < count; i++) {
        X509_EXTENSION *e = X509_get_ext(cert, i);
        const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(e);
        char oid[OID_TEXT_MAX];
        int n = OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(e), 1);

        if (n <= 0 || n >= (int)sizeof(oid) || strncmp(oid, AMD_OID_PREFIX, 19) != 0 || !value)
            continue;
        r = amd_extension(oid + strlen(AMD_OID_PREFIX), ASN1_STRING_get0_data(value),
                          (size_t)ASN1_STRING_length(value), f, &spls);
        if (r < 0)
            return r;
    }
    if (!spls.has[1] || !spls.has[2] || !spls.has[3] || !spls.has[8])
        return -EBADMSG;
    if (f->role == AMD_CERT_VCEK && f->hwid_size == 0)
        return -EBADMSG;
    f->tcb = collateral_amd_tcb(f->product, spls.spl[9], spls.spl[1], spls.spl[2], spls.spl[3],
                                spls.spl[8]);
    return 0;
}

static int
spki_sha256(X509 *cert, uint8_t out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(X509_get0_pubkey(cert), &der);

    if (n <= 0)
        return -EBADMSG;
    sha256(der, (size_t)n, out);
    OPENSSL_free(der);
    return 0;
}

int
collateral_amd_facts(const void *der, size_t size, struct amd_cert_facts *ret)
{
    const unsigned char *p = der;
    _cleanup_(X509_freep) X509 *cert = size <= LONG_MAX ? d2i_X509(NULL, &p, (long)size) : NULL;
    struct amd_cert_facts f = { 0 };
    int r;

    ERR_clear_error();
    if (!cert || p != (const unsigned char *)der + size)
        return -EBADMSG;
    r = amd_role(cert, &f);
    if (r >= 0 && (f.role == AMD_CERT_VCEK || f.role == AMD_CERT_VLEK))
        r = amd_extensions(cert, &f);
    if (r >= 0)
        r = spki_sha256(cert, f.key_id);
    if (r >= 0 && (asn1_time_unix(X509_get0_notBefore(cert), &f.not_before) < 0 ||
                   asn1_time_unix(X509_get0_notAfter(cert), &f.not_after) < 0))
        r = -EBADMSG;
    if (r < 0)
        return r;
    *ret = f;
    return 0;
}

uint64_t
collateral_amd_tcb(const char *product, uint8_t fmc, uint8_t bl, uint8_t tee, uint8_t snp,
                   uint8_t ucode)
{
    uint8_t b[8] = { 0 };
    uint64_t v = 0;

    if (strcmp(product, "Turin") == 0) {
        b[0] = fmc;
        b[1] = bl;
        b[2] = tee;
        b[3] = snp;
    } else {
        b[0] = bl;
        b[1] = tee;
        b[6] = snp;
    }
    b[7] = ucode;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

void
collateral_amd_key(const struct amd_cert_facts *f, char *out, size_t size)
{
    char hex[2 * AMD_HWID_MAX + 1], tcb_hex[17];
    uint8_t tcb[8];

    switch (f->role) {
    case AMD_CERT_VCEK:
        hex_encode(f->hwid, f->hwid_size, hex);
        for (size_t i = 0; i < sizeof(tcb); i++)
            tcb[i] = (uint8_t)(f->tcb >> (8 * i));
        hex_encode(tcb, sizeof(tcb), tcb_hex);
        snprintf(out, size, "%s/%s/%s", f->product, hex, tcb_hex);
        break;
    case AMD_CERT_VLEK:
        hex_encode(f->key_id, sizeof(f->key_id), hex);
        snprintf(out, size, "%s/%s", f->product, hex);
        break;
    default:
        snprintf(out, size, "%s", f->product);
        break;
    }
}

const char *
collateral_amd_kind(enum amd_cert_role role)
{
    switch (role) {
    case AMD_CERT_VCEK:
        return "amd_vcek";
    case AMD_CERT_VLEK:
        return "amd_vlek";
    case AMD_CERT_ASK:
        return "amd_ask";
    case AMD_CERT_ASVK:
        return "amd_asvk";
    case AMD_CERT_ARK:
        return "amd_ark";
    }
    return "amd_unknown";
}
