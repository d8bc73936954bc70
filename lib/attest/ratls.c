/* libattest: RA-TLS certificates (evidence in the TCG DICE tagged-evidence extension), their
 * verification and the OpenSSL verification hook (SPEC 6.4, docs/ratls.md). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <attest/attest.h>
#include <attest/ratls.h>

#include "attest-util.h"
#include "cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME, X509_NAME_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION, X509_EXTENSION_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT, ASN1_OBJECT_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_BIT_STRING, ASN1_BIT_STRING_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM, BN_free)

static void
evidence_freep(struct attest_evidence **p)
{
    attest_evidence_free(*p);
}

/* CBOR (RFC 8949), only what the extension needs: a head of major type 6 (tag) or 2 (byte
 * string) with a definite argument in its shortest form. */
#define CBOR_MAJOR_BYTES 2u
#define CBOR_MAJOR_TAG 6u
#define CBOR_HEAD_MAX 9u

static size_t
cbor_head_write(uint8_t *out, unsigned major, uint64_t value)
{
    unsigned n;
    uint8_t ai;

    if (value < 24) {
        out[0] = (uint8_t)(major << 5 | value);
        return 1;
    }
    if (value <= UINT8_MAX) {
        ai = 24, n = 1;
    } else if (value <= UINT16_MAX) {
        ai = 25, n = 2;
    } else if (value <= UINT32_MAX) {
        ai = 26, n = 4;
    } else {
        ai = 27, n = 8;
    }
    out[0] = (uint8_t)(major << 5 | ai);
    for (unsigned i = 0; i < n; i++)
        out[1 + i] = (uint8_t)(value >> (8 * (n - 1 - i)));
    return 1 + n;
}

/* Reads one head at *pos of data[0..size); advances *pos. -EBADMSG for a truncated head, an
 * indefinite length, a reserved additional-information value or a non-shortest argument. */
static int
cbor_head_read(const uint8_t *data, size_t size, size_t *pos, unsigned *ret_major,
               uint64_t *ret_value)
{
    size_t p = *pos;
    uint64_t value;
    unsigned n;
    uint8_t ai;

    if (p >= size)
        return -EBADMSG;
    ai = data[p] & 0x1f;
    if (ai < 24) {
        value = ai;
        n = 0;
    } else if (ai <= 27) {
        n = 1u << (ai - 24);
        if (size - p - 1 < n)
            return -EBADMSG;
        value = 0;
        for (unsigned i = 0; i < n; i++)
            value = value << 8 | data[p + 1 + i];
        /* Shortest form only: one encoding per value. */
        if ((n == 1 && value < 24) || (n == 2 && value <= UINT8_MAX) ||
            (n == 4 && value <= UINT16_MAX) || (n == 8 && value <= UINT32_MAX))
            return -EBADMSG;
    } else {
        return -EBADMSG;
    }
    *ret_major = data[p] >> 5;
    *ret_value = value;
    *pos = p + 1 + n;
    return 0;
}

static int
ratls_tag_of(enum attest_platform type, uint64_t *ret_tag)
{
    switch (type) {
    case ATTEST_PLATFORM_SIM:
        *ret_tag = ATTEST_RATLS_CBOR_TAG_SIM;
        return 0;
    default:
        return -EOPNOTSUPP;
    }
}

static int
ratls_type_of(uint64_t tag, enum attest_platform *ret_type)
{
    if (tag == ATTEST_RATLS_CBOR_TAG_SIM) {
        *ret_type = ATTEST_PLATFORM_SIM;
        return 0;
    }
    return -EPROTONOSUPPORT;
}

/* tag(ratls tag of evidence's type, bstr(evidence bytes)), malloc'd. */
static int
ratls_encode(const struct attest_evidence *evidence, uint8_t **ret_data, size_t *ret_size)
{
    _cleanup_free_ uint8_t *out = NULL;
    uint64_t tag;
    size_t n;
    int r;

    if (!evidence || !evidence->data || evidence->size == 0)
        return -EINVAL;
    if (evidence->size > ATTEST_EVIDENCE_DATA_MAX)
        return -E2BIG;
    r = ratls_tag_of(evidence->type, &tag);
    if (r < 0)
        return r;
    out = malloc(2 * CBOR_HEAD_MAX + evidence->size);
    if (!out)
        return -ENOMEM;
    n = cbor_head_write(out, CBOR_MAJOR_TAG, tag);
    n += cbor_head_write(out + n, CBOR_MAJOR_BYTES, evidence->size);
    memcpy(out + n, evidence->data, evidence->size);
    *ret_size = n + evidence->size;
    *ret_data = TAKE_PTR(out);
    return 0;
}

static int
ratls_decode(const uint8_t *data, size_t size, struct attest_evidence **ret,
             enum attest_step *failed_step)
{
    enum attest_platform type;
    uint64_t tag, length;
    unsigned major;
    size_t pos = 0;
    int r;

    attest_fail(failed_step, ATTEST_STEP_ENVELOPE);
    if (size > ATTEST_RATLS_EXTENSION_MAX)
        return -E2BIG;
    r = cbor_head_read(data, size, &pos, &major, &tag);
    if (r < 0)
        return r;
    if (major != CBOR_MAJOR_TAG)
        return -EBADMSG;
    r = cbor_head_read(data, size, &pos, &major, &length);
    if (r < 0)
        return r;
    if (major != CBOR_MAJOR_BYTES || length == 0 || length != size - pos)
        return -EBADMSG;
    if (length > ATTEST_EVIDENCE_DATA_MAX)
        return -E2BIG;
    r = ratls_type_of(tag, &type);
    if (r < 0) {
        attest_fail(failed_step, ATTEST_STEP_TYPE);
        return r;
    }
    r = attest_evidence_new(type, data + pos, (size_t)length, ret);
    if (r < 0)
        return r == -EINVAL ? -EBADMSG : r;
    attest_fail(failed_step, ATTEST_STEP_NONE);
    return 0;
}

int
attest_ratls_report_data(EVP_PKEY *key, const uint8_t *nonce, size_t nonce_size,
                         uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE])
{
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE] = { 0 };
    int r;

    if (!key || !ret_report_data || (!nonce && nonce_size != 0))
        return -EINVAL;
    if (nonce)
        return attest_report_data_compute(nonce, nonce_size, key, NULL, ret_report_data);
    r = attest_spki_sha256(key, report_data);
    if (r < 0)
        return r;
    memcpy(ret_report_data, report_data, sizeof(report_data));
    return 0;
}

static bool
options_valid(const struct attest_ratls_cert_options *options)
{
    size_t cn_length;

    if (!options || !options->common_name)
        return false;
    cn_length = strlen(options->common_name);
    if (cn_length == 0 || cn_length > ATTEST_RATLS_CN_MAX)
        return false;
    if (options->not_before >= options->not_after)
        return false;
    if (!options->nonce != (options->nonce_size == 0) || options->nonce_size > ATTEST_NONCE_MAX)
        return false;
    return true;
}

static int
cert_set_serial(X509 *cert)
{
    uint8_t bytes[16];
    _cleanup_(BN_freep) BIGNUM *bn = NULL;

    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return -EIO;
    /* Positive, and 16 bytes long in DER. */
    bytes[0] = (uint8_t)((bytes[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    if (!bn)
        return -ENOMEM;
    if (!BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
        return -ENOMEM;
    return 0;
}

static int
cert_set_names_and_dates(X509 *cert, const struct attest_ratls_cert_options *options)
{
    _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();

    if (!name)
        return -ENOMEM;
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)options->common_name, -1, -1, 0) != 1)
        return -EINVAL;
    if (X509_set_subject_name(cert, name) != 1 || X509_set_issuer_name(cert, name) != 1)
        return -ENOMEM;
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), options->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), options->not_after))
        return -EINVAL;
    return 0;
}

static int
cert_add_constraints(X509 *cert)
{
    _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *usage = ASN1_BIT_STRING_new();

    if (!bc || !usage)
        return -ENOMEM;
    bc->ca = 0;
    if (ASN1_BIT_STRING_set_bit(usage, 0, 1) != 1) /* digitalSignature */
        return -ENOMEM;
    if (X509_add1_ext_i2d(cert, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1 ||
        X509_add1_ext_i2d(cert, NID_key_usage, usage, 1, X509V3_ADD_DEFAULT) != 1)
        return -EIO;
    return 0;
}

static int
cert_add_evidence(X509 *cert, const struct attest_evidence *evidence)
{
    _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = OBJ_txt2obj(ATTEST_RATLS_OID, 1);
    _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
    _cleanup_free_ uint8_t *cbor = NULL;
    size_t size = 0;
    int r;

    if (!oid || !value)
        return -ENOMEM;
    r = ratls_encode(evidence, &cbor, &size);
    if (r < 0)
        return r;
    if (ASN1_OCTET_STRING_set(value, cbor, (int)size) != 1)
        return -ENOMEM;
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value);
    if (!ext)
        return -ENOMEM;
    if (X509_add_ext(cert, ext, -1) != 1)
        return -ENOMEM;
    return 0;
}

int
attest_ratls_make_cert_evidence(EVP_PKEY *key, const struct attest_ratls_cert_options *options,
                                const struct attest_evidence *evidence, X509 **ret)
{
    _cleanup_(X509_freep) X509 *cert = NULL;
    const EVP_MD *md = EVP_sha256();
    int r;

    if (!key || !options_valid(options) || !evidence || !ret)
        return -EINVAL;
    cert = X509_new();
    if (!cert)
        return -ENOMEM;
    if (X509_set_version(cert, X509_VERSION_3) != 1)
        return -ENOMEM;
    r = cert_set_serial(cert);
    if (r < 0)
        return r;
    r = cert_set_names_and_dates(cert, options);
    if (r < 0)
        return r;
    if (X509_set_pubkey(cert, key) != 1)
        return -EINVAL;
    r = cert_add_constraints(cert);
    if (r < 0)
        return r;
    r = cert_add_evidence(cert, evidence);
    if (r < 0)
        return r;
    /* Keys with their own hash (Ed25519, Ed448) sign without a digest. */
    if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
        md = NULL;
    if (X509_sign(cert, key, md) <= 0)
        return -EIO;
    *ret = TAKE_PTR(cert);
    return 0;
}

int
attest_ratls_make_cert(EVP_PKEY *key, const struct attest_ratls_cert_options *options,
                       attest_ratls_evidence_fn produce, void *userdata, X509 **ret)
{
    _cleanup_(evidence_freep) struct attest_evidence *evidence = NULL;
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    int r;

    if (!key || !options_valid(options) || !produce || !ret)
        return -EINVAL;
    r = attest_ratls_report_data(key, options->nonce, options->nonce_size, report_data);
    if (r < 0)
        return r;
    r = produce(report_data, userdata, &evidence);
    if (r < 0)
        return r;
    if (!evidence)
        return -EINVAL;
    return attest_ratls_make_cert_evidence(key, options, evidence, ret);
}

int
attest_ratls_get_evidence(X509 *cert, struct attest_evidence **ret, enum attest_step *failed_step)
{
    _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = OBJ_txt2obj(ATTEST_RATLS_OID, 1);
    const ASN1_OCTET_STRING *value;
    X509_EXTENSION *ext;
    int i;

    attest_fail(failed_step, ATTEST_STEP_ENVELOPE);
    if (!cert || !ret)
        return -EINVAL;
    if (!oid)
        return -ENOMEM;
    i = X509_get_ext_by_OBJ(cert, oid, -1);
    if (i < 0)
        return -ENODATA;
    /* Exactly one: which of two would be meant is not for us to guess. */
    if (X509_get_ext_by_OBJ(cert, oid, i) >= 0)
        return -EBADMSG;
    ext = X509_get_ext(cert, i);
    value = ext ? X509_EXTENSION_get_data(ext) : NULL;
    if (!value)
        return -EBADMSG;
    return ratls_decode(ASN1_STRING_get0_data(value), (size_t)ASN1_STRING_length(value), ret,
                        failed_step);
}

int
attest_ratls_verify_cert(X509 *cert, const struct attest_trust *trust, const uint8_t *nonce,
                         size_t nonce_size, attest_ratls_check_fn check, void *userdata,
                         struct attest_claims *ret_claims, enum attest_step *failed_step)
{
    _cleanup_(evidence_freep) struct attest_evidence *evidence = NULL;
    uint8_t expected[ATTEST_REPORT_DATA_SIZE];
    struct attest_claims claims;
    EVP_PKEY *key;
    int r;

    attest_fail(failed_step, ATTEST_STEP_ENVELOPE);
    if (!cert || !trust || (!nonce && nonce_size != 0))
        return -EINVAL;
    key = X509_get0_pubkey(cert);
    if (!key)
        return -EBADMSG;
    /* The certificate is signed by the key it names (self-signed), so nothing in it was changed
     * after the key holder made it. */
    if (X509_verify(cert, key) != 1)
        return -EBADMSG;
    r = attest_ratls_get_evidence(cert, &evidence, failed_step);
    if (r < 0)
        return r;
    r = attest_evidence_verify(evidence, trust, &claims, failed_step);
    if (r < 0)
        return r;
    attest_fail(failed_step, ATTEST_STEP_REPORT_DATA);
    r = attest_ratls_report_data(key, nonce, nonce_size, expected);
    if (r < 0)
        return r;
    if (CRYPTO_memcmp(expected, claims.report_data, sizeof(expected)) != 0)
        return -EBADMSG;
    if (check) {
        attest_fail(failed_step, ATTEST_STEP_POLICY);
        r = check(&claims, userdata);
        if (r > 0)
            r = -EACCES;
        if (r < 0)
            return r;
    }
    attest_fail(failed_step, ATTEST_STEP_NONE);
    if (ret_claims)
        *ret_claims = claims;
    return 0;
}

/* The TLS hook. The ex_data index is obtained once per process (pthread_once) and never changes
 * afterwards; the policy lives in each SSL_CTX. */
struct ratls_policy {
    struct attest_trust trust; /* holds a reference to sim_key */
    attest_ratls_check_fn check;
    void *userdata;
};

static pthread_once_t policy_index_once = PTHREAD_ONCE_INIT;
static int policy_index = -1;

static struct ratls_policy *
policy_free(struct ratls_policy *policy)
{
    if (policy) {
        EVP_PKEY_free(policy->trust.sim_key);
        free(policy);
    }
    return NULL;
}

static void
policy_freep(struct ratls_policy **p)
{
    policy_free(*p);
}

static void
policy_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    policy_free(ptr);
}

static void
policy_index_init(void)
{
    policy_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, policy_ex_free);
}

static int
policy_index_get(void)
{
    if (pthread_once(&policy_index_once, policy_index_init) != 0)
        return -EIO;
    return policy_index < 0 ? -ENOMEM : policy_index;
}

static int
policy_verify(const struct ratls_policy *policy, X509 *cert, struct attest_claims *ret_claims,
              enum attest_step *failed_step)
{
    return attest_ratls_verify_cert(cert, &policy->trust, NULL, 0, policy->check, policy->userdata,
                                    ret_claims, failed_step);
}

static int
ratls_cert_verify_callback(X509_STORE_CTX *store_ctx, void *arg)
{
    const struct ratls_policy *policy = arg;
    X509 *cert = X509_STORE_CTX_get0_cert(store_ctx);

    if (!cert) {
        X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_UNSPECIFIED);
        return 0;
    }
    X509_STORE_CTX_set_current_cert(store_ctx, cert);
    X509_STORE_CTX_set_error_depth(store_ctx, 0);
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
        X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_NOT_YET_VALID);
        return 0;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_HAS_EXPIRED);
        return 0;
    }
    if (!policy || policy_verify(policy, cert, NULL, NULL) < 0) {
        X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
    return 1;
}

int
attest_ratls_ssl_ctx_set_verify(SSL_CTX *ctx, const struct attest_trust *trust,
                                attest_ratls_check_fn check, void *userdata)
{
    _cleanup_(policy_freep) struct ratls_policy *policy = NULL;
    struct ratls_policy *old;
    int index;

    if (!ctx || !trust)
        return -EINVAL;
    index = policy_index_get();
    if (index < 0)
        return index;
    policy = calloc(1, sizeof(*policy));
    if (!policy)
        return -ENOMEM;
    if (trust->sim_key) {
        if (EVP_PKEY_up_ref(trust->sim_key) != 1)
            return -EIO;
        policy->trust.sim_key = trust->sim_key;
    }
    policy->check = check;
    policy->userdata = userdata;
    old = SSL_CTX_get_ex_data(ctx, index);
    if (SSL_CTX_set_ex_data(ctx, index, policy) != 1)
        return -ENOMEM;
    SSL_CTX_set_cert_verify_callback(ctx, ratls_cert_verify_callback, policy);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    TAKE_PTR(policy);
    policy_free(old);
    return 0;
}

int
attest_ratls_get_peer_claims(SSL *ssl, struct attest_claims *ret_claims,
                             enum attest_step *failed_step)
{
    const struct ratls_policy *policy;
    X509 *cert;
    int index;

    attest_fail(failed_step, ATTEST_STEP_ENVELOPE);
    if (!ssl)
        return -EINVAL;
    index = policy_index_get();
    if (index < 0)
        return index;
    policy = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), index);
    if (!policy)
        return -EINVAL;
    cert = SSL_get0_peer_certificate(ssl);
    if (!cert)
        return -ENOTCONN;
    return policy_verify(policy, cert, ret_claims, failed_step);
}
