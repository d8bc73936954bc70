#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca-issue.h"
#include "domains.h"

_printf_(2, 3) static void error_set(struct ca_error *error, const char *fmt, ...)
{
    va_list ap;

    if (!error)
        return;
    va_start(ap, fmt);
    vsnprintf(error->message, sizeof(error->message), fmt, ap);
    va_end(ap);
}

struct ca_issued *
ca_issued_free(struct ca_issued *issued)
{
    if (!issued)
        return NULL;
    free(issued->cert_pem);
    free(issued->chain_pem);
    free(issued);
    return NULL;
}

/* SPIFFE trust domain: lower-case letters, digits, '.', '-', '_' (SPIFFE ID, section 2.1). */
static bool
trust_domain_is_valid(const char *s)
{
    size_t len = s ? strnlen(s, CA_TRUST_DOMAIN_MAX + 1) : 0;

    if (len == 0 || len > CA_TRUST_DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* One SPIFFE path segment: letters, digits, '.', '-', '_', and not "." or "..". */
static bool
segment_is_valid(const char *s)
{
    size_t len = s ? strnlen(s, CA_NAME_SEGMENT_MAX + 1) : 0;

    if (len == 0 || len > CA_NAME_SEGMENT_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static int
csr_read(const void *csr, size_t csr_len, X509_REQ **ret_req)
{
    const unsigned char *p = csr;
    size_t i = 0;
    X509_REQ *req;

    while (i < csr_len && isspace(p[i]))
        i++;
    if (csr_len - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(csr, (int)csr_len);

        if (!bio)
            return -ENOMEM;
        req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    } else {
        req = d2i_X509_REQ(NULL, &p, (long)csr_len);
        if (req && p != (const unsigned char *)csr + csr_len) {
            X509_REQ_free(req);
            req = NULL;
        }
    }
    if (!req)
        return -EBADMSG;
    *ret_req = req;
    return 0;
}

static int
key_check(EVP_PKEY *key, struct ca_error *error)
{
    char group[64];
    size_t len = 0;
    int bits;

    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(key);
        if (bits < CA_RSA_BITS_MIN || bits > CA_RSA_BITS_MAX) {
            error_set(error, "RSA key of %d bits not accepted (%d to %d bits)", bits,
                      CA_RSA_BITS_MIN, CA_RSA_BITS_MAX);
            return -EOPNOTSUPP;
        }
        return 0;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
            error_set(error, "EC key without a named curve not accepted (P-256 or P-384)");
            return -EOPNOTSUPP;
        }
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0) {
            error_set(error, "EC key on curve %s not accepted (P-256 or P-384)", group);
            return -EOPNOTSUPP;
        }
        return 0;
    default: {
        const char *type = EVP_PKEY_get0_type_name(key);

        error_set(error, "%s key not accepted (RSA 2048+ or EC P-256/P-384)",
                  type ? type : "this type of");
        return -EOPNOTSUPP;
    }
    }
}

int
ca_csr_parse_req(const void *csr, size_t csr_len, struct ca_error *error, X509_REQ **ret_req)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
    EVP_PKEY *key;
    int r;

    if (!csr || csr_len == 0) {
        error_set(error, "CSR is empty");
        return -EBADMSG;
    }
    if (csr_len > CA_CSR_MAX) {
        error_set(error, "CSR is larger than %u bytes", CA_CSR_MAX);
        return -E2BIG;
    }
    r = csr_read(csr, csr_len, &req);
    if (r < 0) {
        ERR_clear_error();
        error_set(error, "CSR is not a PEM or DER PKCS#10 request");
        return r;
    }
    /* Decoded once, by d2i_X509_REQ: get0 borrows the request's key. */
    key = X509_REQ_get0_pubkey(req);
    if (!key) {
        ERR_clear_error();
        error_set(error, "CSR public key does not parse");
        return -EBADMSG;
    }
    r = key_check(key, error);
    if (r < 0)
        return r;
    if (X509_REQ_verify(req, key) != 1) {
        ERR_clear_error();
        error_set(error, "CSR signature does not verify");
        return -EBADMSG;
    }
    *ret_req = TAKE_PTR(req);
    return 0;
}

/* A PKCS#10 request as X509_REQ's ASN.1 template reads it, except that the public key stays
 * an algorithm and a BIT STRING. d2i_X509_REQ decodes the key into an EVP_PKEY with OpenSSL 3.0's
 * decoder machinery, which costs more than verifying the request's signature; ca_csr_check
 * builds the key of an EC P-256 or P-384 request from its point instead. */
typedef struct {
    X509_ALGOR *algor;
    ASN1_BIT_STRING *public_key;
} CSR_SPKI;

typedef struct {
    ASN1_ENCODING enc; /* the bytes as received, which the signature covers */
    ASN1_INTEGER *version;
    X509_NAME *subject;
    CSR_SPKI *spki;
    STACK_OF(X509_ATTRIBUTE) * attributes;
} CSR_INFO;

typedef struct {
    CSR_INFO *info;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} CSR_RAW;

ASN1_SEQUENCE(CSR_SPKI) = {
    ASN1_SIMPLE(CSR_SPKI, algor, X509_ALGOR),
    ASN1_SIMPLE(CSR_SPKI, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_SPKI)

ASN1_SEQUENCE_enc(CSR_INFO, enc, NULL) = {
    ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
    ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
    ASN1_SIMPLE(CSR_INFO, spki, CSR_SPKI),
    ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(CSR_INFO, CSR_INFO)

ASN1_SEQUENCE(CSR_RAW) = {
    ASN1_SIMPLE(CSR_RAW, info, CSR_INFO),
    ASN1_SIMPLE(CSR_RAW, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(CSR_RAW, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_RAW)

static void
csr_raw_freep(CSR_RAW **raw)
{
    ASN1_item_free((ASN1_VALUE *)*raw, ASN1_ITEM_rptr(CSR_RAW));
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free);

/* The curve of an EC key given as algorithm and point, when it is P-256 or P-384 and the point
 * is uncompressed; NULL otherwise (the key takes the general path). */
static const char *
fast_ec_group(const X509_ALGOR *algor, const ASN1_BIT_STRING *point)
{
    const ASN1_OBJECT *oid;
    const void *param;
    int param_type, curve, len = ASN1_STRING_length(point);
    const unsigned char *p = ASN1_STRING_get0_data(point);

    X509_ALGOR_get0(&oid, &param_type, &param, algor);
    if (OBJ_obj2nid(oid) != NID_X9_62_id_ecPublicKey || param_type != V_ASN1_OBJECT ||
        (point->flags & 0x07) != 0 || len < 1 || p[0] != 0x04)
        return NULL;
    curve = OBJ_obj2nid(param);
    if (curve == NID_X9_62_prime256v1 && len == 65)
        return "prime256v1";
    if (curve == NID_secp384r1 && len == 97)
        return "secp384r1";
    return NULL;
}

/* A key holding only group's parameters, made once per process: building the group from its
 * name costs OpenSSL 3.0 about 11 µs per key, three times what copying it does. Published with
 * a compare-and-swap, so threads racing to make it both succeed and one copy stays. */
static EVP_PKEY *
ec_group_template(const char *group)
{
    static _Atomic(EVP_PKEY *) templates[2];
    _Atomic(EVP_PKEY *) *slot = &templates[strcmp(group, "prime256v1") == 0 ? 0 : 1];
    _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *made = NULL, *expected = NULL;

    if (atomic_load(slot))
        return atomic_load(slot);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &made, EVP_PKEY_KEY_PARAMETERS, params) != 1)
        return NULL;
    if (!atomic_compare_exchange_strong(slot, &expected, made)) {
        EVP_PKEY_free(made);
        return expected;
    }
    return made;
}

/* The EC key of group (fast_ec_group's names) with this uncompressed point; decoding the point
 * checks that it is on the curve. */
static EVP_PKEY *
ec_key_from_point(const char *group, const ASN1_BIT_STRING *point)
{
    EVP_PKEY *template = ec_group_template(group);
    EVP_PKEY *key = template ? EVP_PKEY_dup(template) : NULL;

    if (key && EVP_PKEY_set1_encoded_public_key(key, ASN1_STRING_get0_data(point),
                                                (size_t)ASN1_STRING_length(point)) == 1)
        return key;
    EVP_PKEY_free(key);
    return NULL;
}

/* csr as DER: PEM text is converted, DER is copied. */
static int
csr_der(const void *csr, size_t csr_len, unsigned char **ret_der, long *ret_len)
{
    const unsigned char *p = csr;
    size_t i = 0;

    while (i < csr_len && isspace(p[i]))
        i++;
    if (csr_len - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(csr, (int)csr_len);

        if (!bio ||
            PEM_bytes_read_bio(ret_der, ret_len, NULL, PEM_STRING_X509_REQ, bio, NULL, NULL) != 1)
            return -EBADMSG;
        return 0;
    }
    *ret_der = OPENSSL_memdup(csr, csr_len);
    if (!*ret_der)
        return -ENOMEM;
    *ret_len = (long)csr_len;
    return 0;
}

/* The fast path of ca_csr_check: 1 when csr is an EC P-256 or P-384 request with an uncompressed
 * point whose key and signature were checked (or refused: r < 0), 0 when it is something else
 * for the general path. */
static int
csr_check_fast(const void *csr, size_t csr_len, struct ca_error *error, EVP_PKEY **ret_key,
               uint8_t **ret_spki, size_t *ret_spki_len)
{
    _cleanup_(csr_raw_freep) CSR_RAW *raw = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    unsigned char *der = NULL, *spki = NULL;
    const unsigned char *p;
    const char *group;
    long der_len = 0;
    int n, r;

    r = csr_der(csr, csr_len, &der, &der_len);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return 0;
    p = der;
    raw = (CSR_RAW *)ASN1_item_d2i(NULL, &p, der_len, ASN1_ITEM_rptr(CSR_RAW));
    r = raw && p == der + der_len;
    OPENSSL_free(der);
    if (!r || !(group = fast_ec_group(raw->info->spki->algor, raw->info->spki->public_key))) {
        ERR_clear_error();
        return 0;
    }
    key = ec_key_from_point(group, raw->info->spki->public_key);
    if (!key) {
        ERR_clear_error();
        error_set(error, "CSR public key does not parse");
        return -EBADMSG;
    }
    if (ASN1_item_verify(ASN1_ITEM_rptr(CSR_INFO), raw->sig_alg, raw->signature, raw->info, key) !=
        1) {
        ERR_clear_error();
        error_set(error, "CSR signature does not verify");
        return -EBADMSG;
    }
    n = ASN1_item_i2d((ASN1_VALUE *)raw->info->spki, &spki, ASN1_ITEM_rptr(CSR_SPKI));
    if (n <= 0) {
        ERR_clear_error();
        return -ENOMEM;
    }
    *ret_key = TAKE_PTR(key);
    *ret_spki = spki;
    *ret_spki_len = (size_t)n;
    return 1;
}

int
ca_csr_check(const void *csr, size_t csr_len, struct ca_error *error, EVP_PKEY **ret_key,
             uint8_t **ret_spki, size_t *ret_spki_len)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
    EVP_PKEY *key;
    int r;

    if (!csr || csr_len == 0) {
        error_set(error, "CSR is empty");
        return -EBADMSG;
    }
    if (csr_len > CA_CSR_MAX) {
        error_set(error, "CSR is larger than %u bytes", CA_CSR_MAX);
        return -E2BIG;
    }
    r = csr_check_fast(csr, csr_len, error, ret_key, ret_spki, ret_spki_len);
    if (r != 0)
        return r < 0 ? r : 0;
    r = ca_csr_parse_req(csr, csr_len, error, &req);
    if (r < 0)
        return r;
    r = ca_req_spki_der(req, ret_spki, ret_spki_len);
    if (r < 0)
        return r;
    key = X509_REQ_get0_pubkey(req);
    if (EVP_PKEY_up_ref(key) != 1) {
        OPENSSL_free(*ret_spki);
        *ret_spki = NULL;
        return -ENOMEM;
    }
    *ret_key = key;
    return 0;
}

int
ca_csr_parse(const void *csr, size_t csr_len, struct ca_error *error, EVP_PKEY **ret_key)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
    EVP_PKEY *key;
    int r;

    r = ca_csr_parse_req(csr, csr_len, error, &req);
    if (r < 0)
        return r;
    key = X509_REQ_get0_pubkey(req);
    if (EVP_PKEY_up_ref(key) != 1)
        return -ENOMEM;
    *ret_key = key;
    return 0;
}

int
ca_req_spki_der(X509_REQ *req, uint8_t **ret_der, size_t *ret_len)
{
    unsigned char *der = NULL;
    int n;

    /* The SubjectPublicKeyInfo as the request holds it: plain ASN.1, no key encoder. */
    n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &der);
    if (n <= 0) {
        ERR_clear_error();
        return -ENOMEM;
    }
    *ret_der = der;
    *ret_len = (size_t)n;
    return 0;
}

/* The EC point length of an uncompressed (0x04) or compressed (0x02, 0x03) point on a curve whose
 * field elements are field_len bytes. */
static bool
ec_point_length_ok(const unsigned char *pk, int pk_len, int field_len)
{
    if (pk_len == 1 + 2 * field_len)
        return pk[0] == 0x04;
    if (pk_len == 1 + field_len)
        return pk[0] == 0x02 || pk[0] == 0x03;
    return false;
}

/* Sets the certificate's SubjectPublicKeyInfo to spki (DER), a key a worker took from a CSR whose
 * signature it verified (docs/ca.md, "What the CA process checks"). An EC P-256 or P-384 key is
 * copied field by field, without decoding it into an EVP_PKEY: OpenSSL 3.0 sets up its decoder
 * machinery for every key it decodes, which cost more than the signature. Any other key is
 * decoded and checked as a CSR's would be. *ret_rsa tells the key usage apart. */
static int
cert_set_spki(X509 *cert, const void *spki, size_t spki_len, struct ca_error *error, bool *ret_rsa)
{
    _cleanup_(X509_ALGOR_freep) X509_ALGOR *alg = NULL;
    _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *bits = NULL;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    const unsigned char *p = spki, *end = p + spki_len, *pk;
    const ASN1_OBJECT *alg_oid;
    const void *param;
    unsigned char *pk_copy;
    long body_len;
    int tag, class, param_type, pk_len, field_len, r;

    if (!spki || spki_len == 0 || spki_len > CA_CSR_MAX) {
        error_set(error, "public key is empty or too long");
        return -EBADMSG;
    }
    /* SEQUENCE { AlgorithmIdentifier, BIT STRING }, nothing after. */
    if ((ASN1_get_object(&p, &body_len, &tag, &class, (long)spki_len) & 0x80) ||
        tag != V_ASN1_SEQUENCE || class != V_ASN1_UNIVERSAL || p + body_len != end ||
        !(alg = d2i_X509_ALGOR(NULL, &p, end - p)) ||
        !(bits = d2i_ASN1_BIT_STRING(NULL, &p, end - p)) || p != end) {
        ERR_clear_error();
        error_set(error, "public key is not a DER SubjectPublicKeyInfo");
        return -EBADMSG;
    }
    X509_ALGOR_get0(&alg_oid, &param_type, &param, alg);
    if (OBJ_obj2nid(alg_oid) == NID_X9_62_id_ecPublicKey && param_type == V_ASN1_OBJECT) {
        int curve = OBJ_obj2nid(param);

        field_len = curve == NID_X9_62_prime256v1 ? 32 : curve == NID_secp384r1 ? 48 : 0;
        pk = ASN1_STRING_get0_data(bits);
        pk_len = ASN1_STRING_length(bits);
        if (field_len == 0) {
            error_set(error, "EC key on this curve not accepted (P-256 or P-384)");
            return -EOPNOTSUPP;
        }
        if ((bits->flags & 0x07) != 0 || !ec_point_length_ok(pk, pk_len, field_len)) {
            error_set(error, "EC public key is not a point encoding");
            return -EBADMSG;
        }
        pk_copy = OPENSSL_memdup(pk, (size_t)pk_len);
        if (!pk_copy)
            return -ENOMEM;
        if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert),
                                   OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                   OBJ_nid2obj(curve), pk_copy, pk_len) != 1) {
            OPENSSL_free(pk_copy);
            return -ENOMEM;
        }
        *ret_rsa = false;
        return 0;
    }
    p = spki;
    key = d2i_PUBKEY(NULL, &p, (long)spki_len);
    if (!key || p != end) {
        ERR_clear_error();
        error_set(error, "public key does not parse");
        return -EBADMSG;
    }
    r = key_check(key, error);
    if (r < 0)
        return r;
    if (X509_set_pubkey(cert, key) != 1)
        return -EIO;
    *ret_rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    return 0;
}

static int
profile_check(const struct ca_profile *profile, struct ca_error *error)
{
    const struct ca_claims *c = profile->claims;

    if (!trust_domain_is_valid(profile->trust_domain)) {
        error_set(error, "trust domain is not a valid SPIFFE trust domain");
        return -EINVAL;
    }
    switch (profile->kind) {
    case CA_PROFILE_APP:
        if (!segment_is_valid(profile->app_name)) {
            error_set(error, "app name is not a valid SPIFFE path segment");
            return -EINVAL;
        }
        if (profile->n_dns_names == 0 || !c) {
            error_set(error, "an app certificate needs a DNS name and claims");
            return -EINVAL;
        }
        break;
    case CA_PROFILE_NODE:
        if (!segment_is_valid(profile->node_id)) {
            error_set(error, "node id is not a valid SPIFFE path segment");
            return -EINVAL;
        }
        break;
    default:
        error_set(error, "unknown certificate profile");
        return -EINVAL;
    }
    if (profile->n_dns_names > CA_DNS_NAMES_MAX) {
        error_set(error, "more than %d DNS names", CA_DNS_NAMES_MAX);
        return -E2BIG;
    }
    for (size_t i = 0; i < profile->n_dns_names; i++)
        if (!profile->dns_names || !domain_is_dns_name(profile->dns_names[i])) {
            error_set(error, "DNS name %zu is not a host name", i + 1);
            return -EINVAL;
        }
    if (profile->validity_seconds < CA_LEAF_VALIDITY_MIN ||
        profile->validity_seconds > CA_LEAF_VALIDITY_MAX) {
        error_set(error, "validity of %lld s out of bounds (%lld to %lld s)",
                  (long long)profile->validity_seconds, CA_LEAF_VALIDITY_MIN, CA_LEAF_VALIDITY_MAX);
        return -ERANGE;
    }
    if (c &&
        ((c->isvprodid > 65535 || c->isvprodid < -1) || (c->isvsvn > 65535 || c->isvsvn < -1))) {
        error_set(error, "isvprodid and isvsvn must be 0 to 65535");
        return -EINVAL;
    }
    return 0;
}

static int
claims_add_string(json_t *obj, const char *key, const char *value, struct ca_error *error)
{
    if (!value)
        return 0;
    if (strnlen(value, CA_CLAIM_MAX + 1) > CA_CLAIM_MAX) {
        error_set(error, "claim %s is longer than %d bytes", key, CA_CLAIM_MAX);
        return -E2BIG;
    }
    /* json_string() refuses text that is not UTF-8. */
    if (json_object_set_new(obj, key, json_string(value)) < 0) {
        error_set(error, "claim %s is not UTF-8 text", key);
        return -EINVAL;
    }
    return 0;
}

/* Printable ASCII without '"' or '\\': what JSON holds as it is, unescaped. */
static bool
claim_is_plain(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* claims_json's text written directly, when every claim string is plain: jansson writes plain
 * strings as they are, so the text is the same (keys sorted, compact), without building and
 * sorting an object for each certificate. -EINVAL when a string is not plain. */
static int
claims_json_plain(const struct ca_claims *c, char **ret_json)
{
    const struct {
        const char *key;
        const char *text; /* a string member, or NULL */
        int64_t number;   /* a number member when >= 0 */
    } members[] = {
        /* in the order of their keys */
        { "isvprodid", NULL, c->isvprodid },   { "isvsvn", NULL, c->isvsvn },
        { "measurement", c->measurement, -1 }, { "node_id", c->node_id, -1 },
        { "platform", c->platform, -1 },       { "signer", c->signer, -1 },
        { "tcb_status", c->tcb_status, -1 },   { "version", NULL, CA_CLAIMS_VERSION },
    };
    size_t size = 2, used = 1;
    char *text;

    for (size_t i = 0; i < ELEMENTSOF(members); i++) {
        if (members[i].text && !claim_is_plain(members[i].text))
            return -EINVAL;
        /* "key": "text" or a number of at most 20 characters, and a comma */
        size += strlen(members[i].key) + 6 + (members[i].text ? strlen(members[i].text) : 20);
    }
    text = malloc(size);
    if (!text)
        return -ENOMEM;
    text[0] = '{';
    for (size_t i = 0; i < ELEMENTSOF(members); i++) {
        int n;

        if (members[i].text)
            n = snprintf(text + used, size - used, "%s\"%s\":\"%s\"", used > 1 ? "," : "",
                         members[i].key, members[i].text);
        else if (members[i].number >= 0)
            n = snprintf(text + used, size - used, "%s\"%s\":%" PRId64, used > 1 ? "," : "",
                         members[i].key, members[i].number);
        else
            continue;
        if (n < 0 || (size_t)n >= size - used) {
            free(text);
            return -ENOMEM;
        }
        used += (size_t)n;
    }
    memcpy(text + used, "}", 2);
    *ret_json = text;
    return 0;
}

/* {"isvprodid":…,"isvsvn":…,"measurement":…,"node_id":…,"platform":…,"signer":…,
 *  "tcb_status":…,"version":1} as compact JSON with sorted keys. */
static int
claims_json(const struct ca_claims *c, struct ca_error *error, char **ret_json)
{
    _cleanup_(json_decrefp) json_t *obj = NULL;
    const char *const strings[] = { c->measurement, c->signer, c->platform, c->tcb_status,
                                    c->node_id };
    bool fits = true;
    char *text;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(strings); i++)
        if (strings[i] && strnlen(strings[i], CA_CLAIM_MAX + 1) > CA_CLAIM_MAX)
            fits = false; /* refused below, naming the claim */
    if (fits) {
        r = claims_json_plain(c, ret_json);
        if (r != -EINVAL)
            return r;
    }
    obj = json_object();
    if (!obj)
        return -ENOMEM;
    if (json_object_set_new(obj, "version", json_integer(CA_CLAIMS_VERSION)) < 0)
        return -ENOMEM;
    if ((r = claims_add_string(obj, "measurement", c->measurement, error)) < 0 ||
        (r = claims_add_string(obj, "signer", c->signer, error)) < 0 ||
        (r = claims_add_string(obj, "platform", c->platform, error)) < 0 ||
        (r = claims_add_string(obj, "tcb_status", c->tcb_status, error)) < 0 ||
        (r = claims_add_string(obj, "node_id", c->node_id, error)) < 0)
        return r;
    if (c->isvprodid >= 0 && json_object_set_new(obj, "isvprodid", json_integer(c->isvprodid)) < 0)
        return -ENOMEM;
    if (c->isvsvn >= 0 && json_object_set_new(obj, "isvsvn", json_integer(c->isvsvn)) < 0)
        return -ENOMEM;
    text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    *ret_json = text;
    return 0;
}

static int
claims_add(X509 *cert, const struct ca_claims *c, const ASN1_OBJECT *oid, struct ca_error *error)
{
    _cleanup_free_ char *json = NULL;
    _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
    _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *outer = ASN1_OCTET_STRING_new();
    _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    int der_len, r;

    if (!inner || !outer)
        return -ENOMEM;
    r = claims_json(c, error, &json);
    if (r < 0)
        return r;
    if (ASN1_OCTET_STRING_set(inner, (const unsigned char *)json, (int)strlen(json)) != 1)
        return -ENOMEM;
    /* extnValue holds the DER of the value, here an OCTET STRING with the JSON text. */
    der_len = i2d_ASN1_OCTET_STRING(inner, &der);
    if (der_len <= 0)
        return -EIO;
    ASN1_STRING_set0(outer, der, der_len); /* outer owns der */
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, outer);
    if (!ext)
        return -ENOMEM;
    if (X509_add_ext(cert, ext, -1) != 1)
        return -ENOMEM;
    return 0;
}

static int
general_name_push(GENERAL_NAMES *names, int type, const char *value)
{
    _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    if (!gen || !ia5 || ASN1_STRING_set(ia5, value, (int)strlen(value)) != 1) {
        ASN1_IA5STRING_free(ia5);
        return -ENOMEM;
    }
    GENERAL_NAME_set0_value(gen, type, ia5);
    if (sk_GENERAL_NAME_push(names, gen) <= 0)
        return -ENOMEM;
    gen = NULL;
    return 0;
}

static int
san_add(X509 *cert, const struct ca_profile *profile, bool critical)
{
    _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    char uri[sizeof("spiffe:///node/") + CA_TRUST_DOMAIN_MAX + CA_NAME_SEGMENT_MAX];
    int n, r;

    if (!names)
        return -ENOMEM;
    for (size_t i = 0; i < profile->n_dns_names; i++) {
        char lower[DOMAIN_NAME_MAX + 1];
        size_t len = strnlen(profile->dns_names[i], DOMAIN_NAME_MAX + 1);

        if (len > DOMAIN_NAME_MAX)
            return -EINVAL;
        for (size_t j = 0; j < len; j++)
            lower[j] = (char)tolower((unsigned char)profile->dns_names[i][j]);
        lower[len] = '\0';
        r = general_name_push(names, GEN_DNS, lower);
        if (r < 0)
            return r;
    }
    if (profile->kind == CA_PROFILE_APP)
        n = snprintf(uri, sizeof(uri), "spiffe://%s/app/%s", profile->trust_domain,
                     profile->app_name);
    else
        n = snprintf(uri, sizeof(uri), "spiffe://%s/node/%s", profile->trust_domain,
                     profile->node_id);
    if (n < 0 || (size_t)n >= sizeof(uri))
        return -EINVAL;
    r = general_name_push(names, GEN_URI, uri);
    if (r < 0)
        return r;
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names, critical ? 1 : 0, X509V3_ADD_APPEND) !=
        1)
        return -ENOMEM;
    return 0;
}

/* CN = the first DNS name, or the node id of a node without one; empty (and the SAN critical,
 * RFC 5280 4.2.1.6) when that does not fit a common name's 64 characters. */
static int
subject_set(X509 *cert, const struct ca_profile *profile, bool *ret_empty)
{
    char cn[DOMAIN_NAME_MAX + 1];
    const char *source;
    size_t len;

    source = profile->n_dns_names > 0 ? profile->dns_names[0] : profile->node_id;
    len = strnlen(source, DOMAIN_NAME_MAX + 1);
    if (len > DOMAIN_NAME_MAX)
        return -EINVAL;
    for (size_t j = 0; j < len; j++)
        cn[j] = (char)tolower((unsigned char)source[j]);
    cn[len] = '\0';
    /* Into the certificate's own (empty) name: X509_set_subject_name would copy a new one. */
    if (len <= 64 &&
        X509_NAME_add_entry_by_NID(X509_get_subject_name(cert), NID_commonName, MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0) != 1)
        return -EIO;
    *ret_empty = len > 64;
    return 0;
}

/* Adds the value of an extension with a registered nid (ca_leaf_exts), already built. */
static int
ext_add(X509 *cert, int nid, void *value, bool critical)
{
    if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_APPEND) != 1) {
        ERR_clear_error();
        return -ENOMEM;
    }
    return 0;
}

/* basicConstraints, keyUsage, extendedKeyUsage, subject and authority key ids: the extensions
 * every leaf has, in the order (and with the bytes) the configuration strings "critical,CA:FALSE",
 * "critical,digitalSignature[,keyEncipherment]", "serverAuth,clientAuth" or "clientAuth", "hash"
 * and "keyid:always" gave before; tests/unit/test-ca.c compares them. */
static int
profile_exts_add(X509 *cert, const struct ca_leaf_exts *exts, enum ca_profile_kind kind, bool rsa)
{
    int r;

    if ((r = ext_add(cert, NID_basic_constraints, exts->basic_constraints, true)) < 0 ||
        (r = ext_add(cert, NID_key_usage, rsa ? exts->key_usage_rsa : exts->key_usage_ec, true)) <
            0 ||
        (r = ext_add(cert, NID_ext_key_usage,
                     kind == CA_PROFILE_APP ? exts->eku_app : exts->eku_node, false)) < 0)
        return r;
    r = ca_x509_add_subject_key_id(cert, exts);
    if (r < 0)
        return r;
    return ext_add(cert, NID_authority_key_identifier, exts->authority_key_id, false);
}

/* The certificate for one of key or spki (DER), under profile. */
static int
issue_leaf(const struct zone_ca *ca, const struct ca_profile *profile, EVP_PKEY *key,
           const void *spki, size_t spki_len, struct ca_error *error, struct ca_issued **ret_issued)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_(X509_freep) X509 *cert = NULL;
    int64_t now = time_now_unix();
    bool empty_subject = false, rsa;
    int r;

    if (now + profile->validity_seconds > ca->issuing_not_after) {
        error_set(error, "validity would end after the issuing CA's");
        return -ERANGE;
    }

    issued = calloc(1, sizeof(*issued));
    cert = X509_new();
    if (!issued || !cert)
        return -ENOMEM;
    issued->not_before = now - CA_BACKDATE_SECONDS;
    issued->not_after = now + profile->validity_seconds;
    /* The one copy of the issuer's name per certificate: OpenSSL has no call that shares it. */
    if (X509_set_version(cert, X509_VERSION_3) != 1 ||
        X509_set_issuer_name(cert, X509_get_subject_name(ca->issuing)) != 1)
        return -EIO;
    if (key) {
        if (X509_set_pubkey(cert, key) != 1)
            return -EIO;
        rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    } else {
        r = cert_set_spki(cert, spki, spki_len, error, &rsa);
        if (r < 0)
            return r;
    }
    r = ca_x509_set_random_serial(cert, issued->serial_hex);
    if (r < 0)
        return r;
    r = ca_x509_set_validity(cert, issued->not_before, issued->not_after);
    if (r < 0)
        return r;
    r = subject_set(cert, profile, &empty_subject);
    if (r < 0)
        return r;

    r = profile_exts_add(cert, ca->leaf_exts, profile->kind, rsa);
    if (r < 0)
        return r;
    r = san_add(cert, profile, empty_subject);
    if (r < 0)
        return r;
    if (profile->claims) {
        r = claims_add(cert, profile->claims, ca->leaf_exts->claims_oid, error);
        if (r < 0)
            return r;
    }

    if (X509_sign(cert, ca->issuing_key, ca->digest) <= 0) {
        ERR_clear_error();
        return -EIO;
    }
    r = ca_x509_to_pem(cert, &issued->cert_pem);
    if (r < 0)
        return r;
    issued->chain_pem = strdup(ca->chain_pem);
    if (!issued->chain_pem)
        return -ENOMEM;
    *ret_issued = TAKE_PTR(issued);
    return 0;
}

int
ca_issue_leaf(const struct zone_ca *ca, const struct ca_profile *profile, const void *csr,
              size_t csr_len, struct ca_error *error, struct ca_issued **ret_issued)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    int r;

    if (!ca || !ca->issuing || !ca->issuing_key || !ca->leaf_exts || !profile)
        return -EINVAL;
    r = profile_check(profile, error);
    if (r < 0)
        return r;
    r = ca_csr_parse(csr, csr_len, error, &key);
    if (r < 0)
        return r;
    return issue_leaf(ca, profile, key, NULL, 0, error, ret_issued);
}

int
ca_issue_leaf_spki(const struct zone_ca *ca, const struct ca_profile *profile, const void *spki,
                   size_t spki_len, struct ca_error *error, struct ca_issued **ret_issued)
{
    int r;

    if (!ca || !ca->issuing || !ca->issuing_key || !ca->leaf_exts || !profile)
        return -EINVAL;
    r = profile_check(profile, error);
    if (r < 0)
        return r;
    return issue_leaf(ca, profile, NULL, spki, spki_len, error, ret_issued);
}
