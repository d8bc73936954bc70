/* libattest: AMD SEV-SNP certificates (attest_snp_certs_new/free): the chain ARK → ASK/ASVK →
 * VCEK/VLEK checked once, and the VCEK/VLEK extensions of AMD's "Versioned Chip Endorsement Key
 * (VCEK) Certificate and KDS Interface Specification" (OID arc 1.3.6.1.4.1.3704.1) read into what
 * each verification compares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest-util.h"
#include "cleanup.h"
#include "snp-report.h"
#include "x509-util.h"

#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."
#define OID_TEXT_MAX 64
#define NAME_MAX_SIZE 32 /* product names, common names */
#define SPL_COUNT 9      /* KDS SPL arcs .3.1 to .3.9 */

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_snp_certs, attest_snp_certs_free)

/* The SHA-256 of each product's ARK SubjectPublicKeyInfo (from AMD's KDS cert_chain, as virtee/sev
 * and go-sev-guest ship them; recomputed from ../shared/testvectors/roots/amd/ x/ark.pem). */
static const struct {
    enum snp_product product;
    uint8_t sha256[SHA256_SIZE];
} ark_pins[] = {
    { SNP_PRODUCT_MILAN, { 0x9f, 0x05, 0x6b, 0xee, 0x44, 0x37, 0x7e, 0x29, 0x30, 0x8c, 0xb5,
                           0xff, 0xa8, 0x95, 0xbd, 0xfb, 0x62, 0xd1, 0x88, 0x81, 0xfa, 0x6b,
                           0xed, 0x8d, 0x6f, 0x07, 0x5b, 0x02, 0x04, 0x08, 0x9c, 0xb9 } },
    { SNP_PRODUCT_GENOA, { 0x42, 0x9a, 0x69, 0xc9, 0x42, 0x2a, 0xa2, 0x58, 0xee, 0x4d, 0x8d,
                           0xb5, 0xfc, 0xda, 0x9c, 0x64, 0x70, 0xef, 0x15, 0xf8, 0xcd, 0x5a,
                           0x9c, 0xeb, 0xd6, 0xcb, 0xc7, 0xd9, 0x0b, 0x86, 0x38, 0x31 } },
    { SNP_PRODUCT_TURIN, { 0x4f, 0x12, 0x54, 0x10, 0x56, 0x3a, 0x2a, 0xb9, 0xa5, 0x03, 0x56,
                           0xf9, 0x24, 0x3f, 0x6f, 0xe0, 0xb6, 0xf7, 0x3d, 0xe9, 0x86, 0x03,
                           0xf5, 0x3f, 0x90, 0x33, 0x9c, 0x70, 0xe9, 0xd7, 0xad, 0x08 } },
};

/* What the VCEK/VLEK extensions say. */
struct amd_extensions {
    char product_name[NAME_MAX_SIZE];
    bool has_spl[SPL_COUNT + 1]; /* indexed by the arc: 1 bl, 2 tee, 3 snp, 4-7, 8 ucode, 9 fmc */
    uint8_t spl[SPL_COUNT + 1];
    bool has_hwid;
    uint8_t hwid[SNP_CHIP_ID_SIZE];
    size_t hwid_size;
    bool has_csp_id; /* VLEK: the cloud provider's name */
};

/* The three certificates being loaded. */
struct chain {
    X509 *leaf;
    X509 *ask;
    X509 *ark;
};

static void
chain_release(struct chain *chain)
{
    X509_free(chain->leaf);
    X509_free(chain->ask);
    X509_free(chain->ark);
}

static int
cert_load(const struct attest_bytes *bytes, const char *name, X509 **ret,
          struct attest_failure *failure)
{
    X509 *cert;

    if (!bytes->data || bytes->size == 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOENT,
                                  "collateral missing: %s", name);
    if (bytes->size > ATTEST_SNP_CERT_MAX)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -E2BIG,
                                  "collateral malformed: %s is larger than %u bytes", name,
                                  ATTEST_SNP_CERT_MAX);
    if (x509_read_any(bytes->data, bytes->size, &cert) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: %s is not a DER or PEM certificate", name);
    *ret = cert;
    return 0;
}

/* cert is issued by issuer: names chain, RSA-PSS with SHA-384 (AMD signs nothing else), and the
 * signature verifies with issuer's key. */
static int
cert_signed_by(X509 *cert, X509 *issuer, const char *name, const char *issuer_name,
               struct attest_failure *failure)
{
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    int md = NID_undef, ok;

    if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: %s is not issued by the %s", name, issuer_name);
    ERR_set_mark();
    ok = X509_get_signature_nid(cert) == NID_rsassaPss &&
         X509_get_signature_info(cert, &md, NULL, NULL, NULL) == 1 && md == NID_sha384 && key &&
         EVP_PKEY_is_a(key, "RSA") && X509_verify(cert, key) == 1;
    ERR_pop_to_mark();
    if (!ok)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: %s signature by the %s (RSA-PSS SHA-384) does not "
                                  "verify",
                                  name, issuer_name);
    return 0;
}

/* The ARK's key is pinned; its product is the pin's (UNKNOWN for a caller's pin). */
static int
ark_check(X509 *ark, const uint8_t *pin, enum snp_product *ret_product,
          struct attest_failure *failure)
{
    uint8_t digest[SHA256_SIZE];
    int r = attest_spki_sha256(X509_get0_pubkey(ark), digest);

    if (r == -ENOMEM)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, r, "out of memory");
    if (r < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: ark has no usable key");
    if (pin) {
        if (CRYPTO_memcmp(digest, pin, SHA256_SIZE) != 0)
            return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                      "cert_chain: ark key is not the pinned key");
        *ret_product = SNP_PRODUCT_UNKNOWN;
    } else {
        size_t i;

        for (i = 0; i < ELEMENTSOF(ark_pins); i++)
            if (CRYPTO_memcmp(digest, ark_pins[i].sha256, SHA256_SIZE) == 0)
                break;
        if (i == ELEMENTSOF(ark_pins))
            return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                      "cert_chain: ark key is not an AMD root key");
        *ret_product = ark_pins[i].product;
    }
    if (X509_check_ca(ark) < 1)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: ark is not a CA certificate");
    return cert_signed_by(ark, ark, "ark", "ark itself", failure);
}

/* DER INTEGER 0-255 in its minimal form (02 01 xx with xx < 80h, or 02 02 00 xx with xx >= 80h). */
static int
der_u8(const uint8_t *p, size_t size, uint8_t *ret)
{
    if (size == 3 && p[0] == 0x02 && p[1] == 1 && p[2] < 0x80) {
        *ret = p[2];
        return 0;
    }
    if (size == 4 && p[0] == 0x02 && p[1] == 2 && p[2] == 0 && p[3] >= 0x80) {
        *ret = p[3];
        return 0;
    }
    return -EBADMSG;
}

/* DER IA5String of printable characters, short form. */
static int
der_ia5(const uint8_t *p, size_t size, char out[NAME_MAX_SIZE])
{
    if (size < 3 || p[0] != 0x16 || p[1] != size - 2 || size - 2 >= NAME_MAX_SIZE)
        return -EBADMSG;
    for (size_t i = 2; i < size; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return -EBADMSG;
    memcpy(out, p + 2, size - 2);
    out[size - 2] = '\0';
    return 0;
}

/* hwID: the KDS puts the raw bytes in the extension (64, or 8 on Turin); an OCTET STRING around
 * them is accepted too, as go-sev-guest does in case AMD starts to tag it. */
static int
hwid_read(const uint8_t *p, size_t size, struct amd_extensions *ext)
{
    if (size == SNP_CHIP_ID_SIZE + 2 || size == SNP_TURIN_HWID_SIZE + 2) {
        if (p[0] != 0x04 || p[1] != size - 2)
            return -EBADMSG;
        p += 2;
        size -= 2;
    } else if (size != SNP_CHIP_ID_SIZE && size != SNP_TURIN_HWID_SIZE) {
        return -EBADMSG;
    }
    memcpy(ext->hwid, p, size);
    ext->hwid_size = size;
    ext->has_hwid = true;
    return 0;
}

/* One AMD extension, by the arc after 1.3.6.1.4.1.3704.1. ("2", "3.8", ...). Unknown arcs are
 * skipped so that AMD may add some; each known one may appear once. */
static int
amd_extension_read(const char *arc, const uint8_t *p, size_t size, struct amd_extensions *ext)
{
    if (strcmp(arc, "2") == 0) {
        if (ext->product_name[0])
            return -EBADMSG;
        return der_ia5(p, size, ext->product_name);
    }
    if (strcmp(arc, "4") == 0)
        return ext->has_hwid ? -EBADMSG : hwid_read(p, size, ext);
    if (strcmp(arc, "5") == 0) {
        /* Only its presence matters here: a VLEK has one, a VCEK does not. */
        if (ext->has_csp_id || size < 2 || p[0] != 0x16)
            return -EBADMSG;
        ext->has_csp_id = true;
        return 0;
    }
    if (strncmp(arc, "3.", 2) == 0 && arc[2] >= '1' && arc[2] <= '0' + SPL_COUNT && !arc[3]) {
        int i = arc[2] - '0';

        if (ext->has_spl[i])
            return -EBADMSG;
        ext->has_spl[i] = true;
        return der_u8(p, size, &ext->spl[i]);
    }
    return 0;
}

static int
amd_extensions_read(X509 *leaf, struct amd_extensions *ret)
{
    struct amd_extensions ext = { 0 };
    int count = X509_get_ext_count(leaf);

    for (int i = 0; i < count; i++) {
        X509_EXTENSION *e = X509_get_ext(leaf, i);
        const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(e);
        char oid[OID_TEXT_MAX];
        int n = OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(e), 1), r;

        if (n <= 0 || n >= (int)sizeof(oid))
            continue; /* not ours: AMD's arcs are short */
        if (strncmp(oid, AMD_OID_PREFIX, strlen(AMD_OID_PREFIX)) != 0)
            continue;
        if (!value || ASN1_STRING_length(value) <= 0)
            return -EBADMSG;
        r = amd_extension_read(oid + strlen(AMD_OID_PREFIX), ASN1_STRING_get0_data(value),
                               (size_t)ASN1_STRING_length(value), &ext);
        if (r < 0)
            return r;
    }
    *ret = ext;
    return 0;
}

/* The TCB_VERSION the SPLs name, in the product's layout. Reserved SPLs may be absent (zero). */
static int
tcb_from_extensions(const struct amd_extensions *ext, enum snp_product product, uint64_t *ret)
{
    struct snp_tcb tcb = { 0 };

    if (!ext->has_spl[1] || !ext->has_spl[2] || !ext->has_spl[3] || !ext->has_spl[8] ||
        (product == SNP_PRODUCT_TURIN && !ext->has_spl[9]))
        return -EBADMSG;
    tcb.bootloader = ext->spl[1];
    tcb.tee = ext->spl[2];
    tcb.snp = ext->spl[3];
    memcpy(tcb.spl, ext->spl + 4, sizeof(tcb.spl));
    tcb.microcode = ext->spl[8];
    tcb.fmc = ext->spl[9];
    *ret = snp_tcb_encode(product, &tcb);
    return 0;
}

/* The ASK's or ASVK's common name says which kind of leaf it signs and for which product:
 * "SEV-Milan" (VCEKs) or "SEV-VLEK-Milan" (VLEKs). */
static int
ask_kind(X509 *ask, bool *ret_vlek, enum snp_product *ret_product)
{
    char cn[X509_CN_SIZE];
    enum snp_product product;
    const char *name;
    bool vlek;

    if (x509_name_cn(X509_get_subject_name(ask), cn) < 0 || strncmp(cn, "SEV-", 4) != 0)
        return -EBADMSG;
    vlek = strncmp(cn, "SEV-VLEK-", 9) == 0;
    name = cn + (vlek ? 9 : 4);
    product = snp_product_from_name(name);
    if (product == SNP_PRODUCT_UNKNOWN || strchr(name, '-'))
        return -EBADMSG;
    *ret_vlek = vlek;
    *ret_product = product;
    return 0;
}

/* The leaf's identity: its kind and product agree with its issuer's and the ARK's, a VCEK names
 * its chip (hwID) and a VLEK does not. */
static int
leaf_identity(struct attest_snp_certs *certs, X509 *leaf, const struct amd_extensions *ext,
              enum snp_product ask_product, struct attest_failure *failure)
{
    const char *name = certs->vlek ? "vlek" : "vcek";
    size_t hwid_size = certs->product == SNP_PRODUCT_TURIN ? SNP_TURIN_HWID_SIZE : SNP_CHIP_ID_SIZE;
    char cn[X509_CN_SIZE];

    if (x509_name_cn(X509_get_subject_name(leaf), cn) < 0 ||
        strcmp(cn, certs->vlek ? "SEV-VLEK" : "SEV-VCEK") != 0)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: %s subject is not SEV-%s", name,
                                  certs->vlek ? "VLEK" : "VCEK");
    if (certs->product != ask_product || snp_product_from_name(ext->product_name) != ask_product)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: %s product \"%s\" is not the chain's %s", name,
                                  ext->product_name, snp_product_name(certs->product));
    if (certs->vlek ? ext->has_hwid || !ext->has_csp_id : !ext->has_hwid || ext->has_csp_id)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: %s has %s", name,
                                  certs->vlek ? "a hwID or no CSP_ID" : "no hwID or a CSP_ID");
    if (ext->has_hwid && ext->hwid_size != hwid_size)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: vcek hwID is %zu bytes, %s has %zu",
                                  ext->hwid_size, snp_product_name(certs->product), hwid_size);
    memcpy(certs->hwid, ext->hwid, ext->hwid_size);
    certs->hwid_size = ext->hwid_size;
    return 0;
}

/* The leaf: a P-384 key, its extensions, its identity. */
static int
leaf_read(struct attest_snp_certs *certs, X509 *leaf, enum snp_product ask_product,
          struct attest_failure *failure)
{
    const char *name = certs->vlek ? "vlek" : "vcek";
    struct amd_extensions ext;
    EVP_PKEY *key = X509_get0_pubkey(leaf);
    char group[NAME_MAX_SIZE];
    size_t n = 0;
    int r;

    ERR_set_mark();
    r = key && EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n) ==
            1 &&
        strcmp(group, "secp384r1") == 0;
    ERR_pop_to_mark();
    if (!r)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: %s key is not EC P-384", name);
    if (amd_extensions_read(leaf, &ext) < 0 || !ext.product_name[0])
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: %s AMD extensions", name);
    /* A caller's ARK pin names no product: the chain's names do. */
    if (certs->product == SNP_PRODUCT_UNKNOWN)
        certs->product = ask_product;
    r = leaf_identity(certs, leaf, &ext, ask_product, failure);
    if (r < 0)
        return r;
    if (tcb_from_extensions(&ext, certs->product, &certs->tcb) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: %s lacks a TCB SPL", name);
    r = attest_spki_sha256(key, certs->key_id);
    if (r < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, r, "%s key", name);
    if (!EVP_PKEY_up_ref(key))
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOMEM, "out of memory");
    certs->key = key;
    return 0;
}

static int
window_read(X509 *cert, const char *name, struct snp_cert_window *ret,
            struct attest_failure *failure)
{
    if (x509_validity(cert, &ret->not_before, &ret->not_after) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: %s validity", name);
    ret->name = name;
    return 0;
}

static int
chain_load(const struct attest_snp_cert_files *files, struct chain *chain,
           struct attest_failure *failure)
{
    int r;

    r = cert_load(&files->vcek, "vcek", &chain->leaf, failure);
    if (r < 0)
        return r;
    r = cert_load(&files->ask, "ask", &chain->ask, failure);
    if (r < 0)
        return r;
    return cert_load(&files->ark, "ark", &chain->ark, failure);
}

/* ARK (pinned, self-signed) → ASK/ASVK → leaf, and the leaf's kind and product. */
static int
chain_check(struct attest_snp_certs *certs, const struct chain *chain, const uint8_t *pin,
            enum snp_product *ret_ask_product, struct attest_failure *failure)
{
    const char *ask_name;
    int r;

    r = ark_check(chain->ark, pin, &certs->product, failure);
    if (r < 0)
        return r;
    if (ask_kind(chain->ask, &certs->vlek, ret_ask_product) < 0)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: ask subject is not an AMD SEV signing key");
    ask_name = certs->vlek ? "asvk" : "ask";
    if (X509_check_ca(chain->ask) < 1)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EKEYREJECTED,
                                  "cert_chain: %s is not a CA certificate", ask_name);
    r = cert_signed_by(chain->ask, chain->ark, ask_name, "ark", failure);
    if (r < 0)
        return r;
    return cert_signed_by(chain->leaf, chain->ask, certs->vlek ? "vlek" : "vcek", ask_name,
                          failure);
}

int
attest_snp_certs_new(const struct attest_snp_cert_files *files, struct attest_snp_certs **ret,
                     struct attest_failure *failure)
{
    _cleanup_(attest_snp_certs_freep) struct attest_snp_certs *certs = NULL;
    _cleanup_(chain_release) struct chain chain = { 0 };
    enum snp_product ask_product = SNP_PRODUCT_UNKNOWN;
    int r;

    if (!files || !ret)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EINVAL, "no certificates");
    r = chain_load(files, &chain, failure);
    if (r < 0)
        return r;
    certs = calloc(1, sizeof(*certs));
    if (!certs)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOMEM, "out of memory");
    r = chain_check(certs, &chain, files->ark_key_sha256, &ask_product, failure);
    if (r < 0)
        return r;
    r = leaf_read(certs, chain.leaf, ask_product, failure);
    if (r < 0)
        return r;
    if (window_read(chain.leaf, certs->vlek ? "vlek" : "vcek", &certs->windows[0], failure) < 0 ||
        window_read(chain.ask, certs->vlek ? "asvk" : "ask", &certs->windows[1], failure) < 0 ||
        window_read(chain.ark, "ark", &certs->windows[2], failure) < 0)
        return -EBADMSG;
    *ret = TAKE_PTR(certs);
    return attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
}

struct attest_snp_certs *
attest_snp_certs_free(struct attest_snp_certs *certs)
{
    if (!certs)
        return NULL;
    EVP_PKEY_free(certs->key);
    free(certs);
    return NULL;
}
