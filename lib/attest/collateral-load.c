/* libattest: collateral loading (collateral.h). Every shape is reduced to the same lists: TCB
 * infos keyed by kind (SGX/TDX) and FMSPC, QE identities keyed by kind (QE/TD_QE), PCK CRLs
 * keyed by issuing CA, one root CA CRL, and AMD certificates by role; the verifiers' structs
 * are then picked from those lists (docs/collateral-formats.md). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attest/collateral.h>

#include "attest-util.h"
#include "x509-util.h"
#include "cleanup.h"

#define ITEM_MAX ATTEST_INTEL_COLLATERAL_MAX
#define AMD_FILE_MAX (4u * ATTEST_SNP_CERT_MAX) /* cert_chain.pem holds two certificates */
#define AMD_CERTS_MAX 8u                        /* certificates in one file, and per role */
#define FMSPC_SIZE 6u

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL, X509_CRL_free)

/* Bytes owned by the collateral. */
struct blob {
    uint8_t *data;
    size_t size;
};

static void
blob_clear(struct blob *b)
{
    free(b->data);
    *b = (struct blob){ 0 };
}

/* A TCB info and its issuer chain. keyed: the body was there to read the kind and FMSPC from;
 * an entry without one matches any key (its chain alone is still worth passing on). */
struct tcb_entry {
    struct blob body, chain;
    bool keyed, tdx;
    uint8_t fmspc[FMSPC_SIZE];
};

struct qe_entry {
    struct blob body, chain;
    bool keyed, td; /* "TD_QE" (TDX) rather than "QE" (SGX) */
};

struct crl_entry {
    struct blob crl, chain;
    enum attest_pck_ca ca; /* ATTEST_PCK_CA_ANY: an issuer we do not recognise */
};

enum kind {
    KIND_ANY = 0,
    KIND_SGX,
    KIND_TDX,
};

/* Bundles hold at most the SGX QE and the TD QE identity, and the two PCK CAs' CRLs. */
#define QE_ENTRIES_MAX 2u
#define CRL_ENTRIES_MAX 2u

struct attest_collateral {
    const char *shape;
    struct tcb_entry *tcb;
    size_t n_tcb;
    struct qe_entry qe[QE_ENTRIES_MAX];
    size_t n_qe;
    struct crl_entry pck[CRL_ENTRIES_MAX];
    size_t n_pck;
    struct blob root_ca_crl;
    bool has_intel; /* intel is the unambiguous pick */
    struct attest_intel_collateral_files intel;
    struct blob vcek, ask, ark; /* DER */
    bool has_snp;
    struct attest_snp_cert_files snp;
};

/* AMD certificates by role, collected from every file before the chain is picked. */
enum amd_role {
    AMD_LEAF = 0,     /* VCEK or VLEK */
    AMD_INTERMEDIATE, /* ASK or ASVK */
    AMD_ARK,
    AMD_ROLES,
    AMD_ROLE_ANY = AMD_ROLES, /* a file that may hold any role (bundles, cert_chain.pem) */
};

struct amd_pool {
    X509 *certs[AMD_ROLES][AMD_CERTS_MAX];
    size_t n[AMD_ROLES];
};

static void
amd_pool_clear(struct amd_pool *pool)
{
    for (size_t r = 0; r < AMD_ROLES; r++)
        for (size_t i = 0; i < pool->n[r]; i++)
            X509_free(pool->certs[r][i]);
}

/* One load in progress: where failures go and how the input is named in them. */
struct load {
    struct attest_collateral *c;
    const char *source; /* the file's name, or NULL */
    struct attest_failure *failure;
    struct amd_pool amd;
};

/* Fails with "source: what: reason". */
static int __attribute__((format(printf, 4, 5)))
refuse(const struct load *l, const char *what, int error, const char *format, ...)
{
    char reason[ATTEST_FAILURE_REASON_SIZE];
    va_list ap;

    va_start(ap, format);
    vsnprintf(reason, sizeof(reason), format, ap);
    va_end(ap);
    if (l->source && what)
        return attest_failure_set(l->failure, ATTEST_STEP_COLLATERAL, error, "%s: %s: %s",
                                  l->source, what, reason);
    if (!l->source && !what)
        return attest_failure_set(l->failure, ATTEST_STEP_COLLATERAL, error, "%s", reason);
    return attest_failure_set(l->failure, ATTEST_STEP_COLLATERAL, error, "%s: %s",
                              l->source ? l->source : what, reason);
}

static int
oom(const struct load *l)
{
    return attest_failure_set(l->failure, ATTEST_STEP_COLLATERAL, -ENOMEM, "out of memory");
}

static int
blob_copy(const void *data, size_t size, struct blob *ret)
{
    uint8_t *copy = malloc(size + 1);

    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, size);
    copy[size] = '\0'; /* text items stay NUL-terminated for whoever prints them */
    *ret = (struct blob){ copy, size };
    return 0;
}

static bool
blob_equal(const struct blob *a, const struct blob *b)
{
    return a->size == b->size && (a->size == 0 || memcmp(a->data, b->data, a->size) == 0);
}

/* ---- Encodings ---- */

static bool
is_hex(const char *s, size_t n)
{
    if (n == 0 || n % 2 != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (attest_hex_digit((char)s[i]) < 0)
            return false;
    return true;
}

/* Hex to bytes; -EBADMSG unless every character is a digit and the count is even. */
static int
hex_decode(const char *s, size_t n, size_t max, struct blob *ret)
{
    _cleanup_free_ uint8_t *data = NULL;

    if (!is_hex(s, n))
        return -EBADMSG;
    if (n / 2 > max)
        return -E2BIG;
    data = malloc(n / 2 + 1);
    if (!data)
        return -ENOMEM;
    for (size_t i = 0; i < n / 2; i++)
        data[i] =
            (uint8_t)(attest_hex_digit((char)s[2 * i]) << 4 | attest_hex_digit((char)s[2 * i + 1]));
    data[n / 2] = '\0';
    *ret = (struct blob){ TAKE_PTR(data), n / 2 };
    return 0;
}

/* PCS sends issuer chains in HTTP headers, percent-encoded (RFC 3986); tools save them so.
 * Only %XX is decoded: '+' is a base64 character in PEM, never an encoded space here. */
static int
percent_decode(const char *s, size_t n, struct blob *ret)
{
    _cleanup_free_ uint8_t *data = malloc(n + 1);
    size_t out = 0;

    if (!data)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            data[out++] = (uint8_t)s[i];
            continue;
        }
        if (n - i < 3 || attest_hex_digit((char)s[i + 1]) < 0 ||
            attest_hex_digit((char)s[i + 2]) < 0)
            return -EBADMSG;
        data[out++] =
            (uint8_t)(attest_hex_digit((char)s[i + 1]) << 4 | attest_hex_digit((char)s[i + 2]));
        i += 2;
    }
    data[out] = '\0';
    *ret = (struct blob){ TAKE_PTR(data), out };
    return 0;
}

static bool
looks_pem(const void *data, size_t size)
{
    return data && memmem(data, size, "-----BEGIN ", 11) != NULL;
}

/* ---- X.509 ---- */

/* Calls add for each PEM block of data, which must all be of type label; at least one. add
 * takes the certificate or CRL it is given, also when it fails. */
static int
pem_each(const void *data, size_t size, const char *label, int (*add)(void *, X509 *, X509_CRL *),
         void *userdata)
{
    _cleanup_(BIO_freep) BIO *bio = NULL;
    unsigned count = 0;
    int r = 0;

    if (size > INT32_MAX)
        return -E2BIG;
    ERR_clear_error(); /* the end of the input is told by the error PEM_read_bio leaves */
    bio = BIO_new_mem_buf(data, (int)size);
    if (!bio)
        return -ENOMEM;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        const unsigned char *p;
        long len = 0;

        if (PEM_read_bio(bio, &name, &header, &der, &len) != 1)
            break; /* the end, or a broken block: told apart below by the count */
        p = der;
        if (strcmp(name, label) != 0)
            r = -EBADMSG;
        else if (strcmp(label, "CERTIFICATE") == 0) {
            X509 *cert = d2i_X509(NULL, &p, len);

            if (cert && p == der + len)
                r = add(userdata, cert, NULL); /* add takes cert, whatever it returns */
            else {
                X509_free(cert);
                r = -EBADMSG;
            }
        } else {
            X509_CRL *crl = d2i_X509_CRL(NULL, &p, len);

            if (crl && p == der + len)
                r = add(userdata, NULL, crl);
            else {
                X509_CRL_free(crl);
                r = -EBADMSG;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        if (r < 0)
            break;
        count++;
    }
    /* PEM_read_bio ends with "no start line" at a clean end; anything else is a broken block. */
    if (r == 0 && ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
        r = -EBADMSG;
    ERR_clear_error();
    if (r == 0 && count == 0)
        r = -EBADMSG;
    return r;
}

static int
count_cert(void *userdata, X509 *cert, X509_CRL *crl)
{
    (void)crl;
    X509_free(cert);
    ++*(unsigned *)userdata;
    return 0;
}

/* Whether text is a PEM certificate chain (one or more CERTIFICATE blocks, nothing else). */
static bool
pem_chain_valid(const struct blob *b)
{
    unsigned count = 0;

    return pem_each(b->data, b->size, "CERTIFICATE", count_cert, &count) == 0;
}

static int
keep_crl(void *userdata, X509 *cert, X509_CRL *crl)
{
    X509_CRL **ret = userdata;

    (void)cert;
    if (*ret) {
        X509_CRL_free(crl);
        return -EBADMSG; /* one CRL per item */
    }
    *ret = crl;
    return 0;
}

/* A CRL in DER (exactly, no trailing bytes) or PEM. */
static X509_CRL *
crl_parse(const struct blob *b)
{
    X509_CRL *crl = NULL;
    const unsigned char *p = b->data;

    if (looks_pem(b->data, b->size)) {
        if (pem_each(b->data, b->size, "X509 CRL", keep_crl, &crl) < 0) {
            X509_CRL_free(crl);
            return NULL;
        }
        return crl;
    }
    if (b->size > LONG_MAX)
        return NULL;
    crl = d2i_X509_CRL(NULL, &p, (long)b->size);
    ERR_clear_error();
    if (crl && p != b->data + b->size) {
        X509_CRL_free(crl);
        return NULL;
    }
    return crl;
}

/* The common name, or "" when there is not exactly one. */
static void
name_cn(const X509_NAME *name, char cn[X509_CN_SIZE])
{
    if (x509_name_cn(name, cn) < 0)
        cn[0] = '\0';
}

/* The PCK CA that issued a CRL, by its issuer's common name (SGX PCK Certificate and CRL
 * Profile); ATTEST_PCK_CA_ANY for another issuer. */
static enum attest_pck_ca
crl_pck_ca(const X509_CRL *crl)
{
    char cn[X509_CN_SIZE];

    name_cn(X509_CRL_get_issuer(crl), cn);
    if (strcmp(cn, "Intel SGX PCK Processor CA") == 0)
        return ATTEST_PCK_CA_PROCESSOR;
    if (strcmp(cn, "Intel SGX PCK Platform CA") == 0)
        return ATTEST_PCK_CA_PLATFORM;
    return ATTEST_PCK_CA_ANY;
}

/* ---- Intel items ---- */

static int
fmspc_parse(const char *hex, uint8_t ret[FMSPC_SIZE])
{
    return attest_hex_decode(hex, strlen(hex), ret, FMSPC_SIZE) ? 0 : -EBADMSG;
}

/* Reads the kind ("id", absent in version 2: SGX) and FMSPC of a TCB info body. */
static int
tcb_key(const struct load *l, const char *what, struct tcb_entry *e)
{
    json_error_t error;
    _cleanup_(json_decrefp) json_t *doc =
        json_loadb((const char *)e->body.data, e->body.size, JSON_REJECT_DUPLICATES, &error);
    json_t *info, *id, *fmspc;

    if (!doc)
        return refuse(l, what, -EBADMSG, "not JSON (line %d: %s)", error.line, error.text);
    info = json_object_get(doc, "tcbInfo");
    if (!json_is_object(info))
        return refuse(l, what, -EBADMSG, "no tcbInfo object");
    id = json_object_get(info, "id");
    if (id && (!json_is_string(id) || (strcmp(json_string_value(id), "SGX") != 0 &&
                                       strcmp(json_string_value(id), "TDX") != 0)))
        return refuse(l, what, -EBADMSG, "tcbInfo.id is not \"SGX\" or \"TDX\"");
    e->tdx = id && strcmp(json_string_value(id), "TDX") == 0;
    fmspc = json_object_get(info, "fmspc");
    if (!json_is_string(fmspc) || fmspc_parse(json_string_value(fmspc), e->fmspc) < 0)
        return refuse(l, what, -EBADMSG, "tcbInfo.fmspc is not 12 hex digits");
    e->keyed = true;
    return 0;
}

/* Reads the kind of a QE identity body: "QE" (SGX) or "TD_QE"; identities of version 1 have no
 * id and are the SGX QE's. Other enclaves (QVE) are not what a quote is checked against. */
static int
qe_key(const struct load *l, const char *what, struct qe_entry *e)
{
    json_error_t error;
    _cleanup_(json_decrefp) json_t *doc =
        json_loadb((const char *)e->body.data, e->body.size, JSON_REJECT_DUPLICATES, &error);
    json_t *identity, *id;

    if (!doc)
        return refuse(l, what, -EBADMSG, "not JSON (line %d: %s)", error.line, error.text);
    identity = json_object_get(doc, "enclaveIdentity");
    if (!json_is_object(identity))
        return refuse(l, what, -EBADMSG, "no enclaveIdentity object");
    id = json_object_get(identity, "id");
    if (id && (!json_is_string(id) || (strcmp(json_string_value(id), "QE") != 0 &&
                                       strcmp(json_string_value(id), "TD_QE") != 0)))
        return refuse(l, what, -EBADMSG, "enclaveIdentity.id is not \"QE\" or \"TD_QE\"");
    e->td = id && strcmp(json_string_value(id), "TD_QE") == 0;
    e->keyed = true;
    return 0;
}

static int
check_chain(const struct load *l, const char *what, const struct blob *chain)
{
    if (chain->data && !pem_chain_valid(chain))
        return refuse(l, what, -EBADMSG, "not a PEM certificate chain");
    return 0;
}

static int
check_size(const struct load *l, const char *what, const struct blob *b)
{
    if (b->size > ITEM_MAX)
        return refuse(l, what, -E2BIG, "more than %u bytes", ITEM_MAX);
    return 0;
}

/* Adds a TCB info (either part may be absent); takes the blobs. kind, when not KIND_ANY, is
 * what the document says it is, and fmspc (may be NULL) the FMSPC it is filed under. */
static int
add_tcb(const struct load *l, const char *what, struct blob *body, struct blob *chain,
        enum kind kind, const uint8_t *fmspc)
{
    struct attest_collateral *c = l->c;
    struct tcb_entry e = { .body = *body, .chain = *chain }, *grown;
    int r;

    *body = *chain = (struct blob){ 0 };
    r = check_size(l, what, &e.body);
    if (r >= 0)
        r = check_size(l, what, &e.chain);
    if (r >= 0 && e.body.data)
        r = tcb_key(l, what, &e);
    if (r >= 0 && e.keyed && kind != KIND_ANY && e.tdx != (kind == KIND_TDX))
        r = refuse(l, what, -EBADMSG, "tcbInfo.id is %s", e.tdx ? "TDX" : "SGX");
    if (r >= 0 && e.keyed && fmspc && memcmp(fmspc, e.fmspc, FMSPC_SIZE) != 0)
        r = refuse(l, what, -EBADMSG, "tcbInfo.fmspc differs from the FMSPC it is filed under");
    if (r >= 0 && c->n_tcb >= ATTEST_COLLATERAL_TCB_INFOS_MAX)
        r = refuse(l, what, -E2BIG, "more than %u TCB infos", ATTEST_COLLATERAL_TCB_INFOS_MAX);
    if (r >= 0) {
        grown = reallocarray(c->tcb, c->n_tcb + 1, sizeof(*c->tcb));
        if (!grown)
            r = oom(l);
        else
            c->tcb = grown;
    }
    if (r < 0) {
        blob_clear(&e.body);
        blob_clear(&e.chain);
        return r;
    }
    c->tcb[c->n_tcb++] = e;
    return 0;
}

static int
add_qe(const struct load *l, const char *what, struct blob *body, struct blob *chain,
       enum kind kind)
{
    struct attest_collateral *c = l->c;
    struct qe_entry e = { .body = *body, .chain = *chain };
    int r;

    *body = *chain = (struct blob){ 0 };
    r = check_size(l, what, &e.body);
    if (r >= 0)
        r = check_size(l, what, &e.chain);
    if (r >= 0 && e.body.data)
        r = qe_key(l, what, &e);
    if (r >= 0 && e.keyed && kind != KIND_ANY && e.td != (kind == KIND_TDX))
        r = refuse(l, what, -EBADMSG, "enclaveIdentity.id is %s", e.td ? "TD_QE" : "QE");
    if (r >= 0 && c->n_qe >= QE_ENTRIES_MAX)
        r = refuse(l, what, -E2BIG, "more than %u QE identities", QE_ENTRIES_MAX);
    if (r < 0) {
        blob_clear(&e.body);
        blob_clear(&e.chain);
        return r;
    }
    c->qe[c->n_qe++] = e;
    return 0;
}

/* Adds a PCK CRL; ca, when not ATTEST_PCK_CA_ANY, is the CA the document files it under. */
static int
add_crl(const struct load *l, const char *what, struct blob *crl, struct blob *chain,
        enum attest_pck_ca ca)
{
    struct attest_collateral *c = l->c;
    struct crl_entry e = { .crl = *crl, .chain = *chain, .ca = ca };
    int r;

    *crl = *chain = (struct blob){ 0 };
    r = check_size(l, what, &e.crl);
    if (r >= 0)
        r = check_size(l, what, &e.chain);
    if (r >= 0 && e.crl.data) {
        _cleanup_(X509_CRL_freep) X509_CRL *parsed = crl_parse(&e.crl);
        enum attest_pck_ca issuer = parsed ? crl_pck_ca(parsed) : ATTEST_PCK_CA_ANY;

        if (!parsed)
            r = refuse(l, what, -EBADMSG, "not a CRL (DER or PEM)");
        else if (ca != ATTEST_PCK_CA_ANY && issuer != ATTEST_PCK_CA_ANY && issuer != ca)
            r = refuse(l, what, -EBADMSG, "issued by the other PCK CA");
        else if (ca == ATTEST_PCK_CA_ANY)
            e.ca = issuer;
    }
    if (r >= 0 && c->n_pck >= CRL_ENTRIES_MAX)
        r = refuse(l, what, -E2BIG, "more than %u PCK CRLs", CRL_ENTRIES_MAX);
    if (r < 0) {
        blob_clear(&e.crl);
        blob_clear(&e.chain);
        return r;
    }
    c->pck[c->n_pck++] = e;
    return 0;
}

static int
set_root_crl(const struct load *l, const char *what, struct blob *crl)
{
    _cleanup_(X509_CRL_freep) X509_CRL *parsed = NULL;
    int r = check_size(l, what, crl);

    if (r >= 0 && !(parsed = crl_parse(crl)))
        r = refuse(l, what, -EBADMSG, "not a CRL (DER or PEM)");
    if (r >= 0 && l->c->root_ca_crl.data)
        r = refuse(l, what, -ENOTUNIQ, "a second root CA CRL");
    if (r < 0) {
        blob_clear(crl);
        return r;
    }
    l->c->root_ca_crl = *crl;
    *crl = (struct blob){ 0 };
    return 0;
}

/* ---- Picking the Intel items a quote needs ---- */

static bool
has_intel_items(const struct attest_collateral *c)
{
    return c->n_tcb > 0 || c->n_qe > 0 || c->n_pck > 0 || c->root_ca_crl.data;
}

static bool
tcb_matches(const struct tcb_entry *e, enum kind kind, const uint8_t *fmspc)
{
    if (!e->keyed)
        return true;
    if (kind != KIND_ANY && e->tdx != (kind == KIND_TDX))
        return false;
    return !fmspc || memcmp(e->fmspc, fmspc, FMSPC_SIZE) == 0;
}

static int
pick_tcb(const struct attest_collateral *c, enum kind kind, const uint8_t *fmspc,
         const struct tcb_entry **ret)
{
    const struct tcb_entry *found = NULL;

    for (size_t i = 0; i < c->n_tcb; i++) {
        if (!tcb_matches(&c->tcb[i], kind, fmspc))
            continue;
        if (found)
            return -ENOTUNIQ;
        found = &c->tcb[i];
    }
    *ret = found;
    return 0;
}

static int
pick_qe(const struct attest_collateral *c, enum kind kind, const struct qe_entry **ret)
{
    const struct qe_entry *found = NULL;

    for (size_t i = 0; i < c->n_qe; i++) {
        const struct qe_entry *e = &c->qe[i];

        if (e->keyed && kind != KIND_ANY && e->td != (kind == KIND_TDX))
            continue;
        if (found)
            return -ENOTUNIQ;
        found = e;
    }
    *ret = found;
    return 0;
}

static int
pick_crl(const struct attest_collateral *c, enum attest_pck_ca ca, const struct crl_entry **ret)
{
    const struct crl_entry *found = NULL;

    for (size_t i = 0; i < c->n_pck; i++) {
        const struct crl_entry *e = &c->pck[i];

        if (ca != ATTEST_PCK_CA_ANY && e->ca != ATTEST_PCK_CA_ANY && e->ca != ca)
            continue;
        if (found)
            return -ENOTUNIQ;
        found = e;
    }
    *ret = found;
    return 0;
}

static struct attest_bytes
span(const struct blob *b)
{
    return (struct attest_bytes){ b->data, b->size };
}

/* The items for kind, fmspc and ca. With KIND_ANY the QE identity follows the TCB info's kind.
 */
static int
pick_intel(const struct attest_collateral *c, enum kind kind, const uint8_t *fmspc,
           enum attest_pck_ca ca, struct attest_intel_collateral_files *ret,
           struct attest_failure *failure)
{
    const struct tcb_entry *tcb;
    const struct qe_entry *qe;
    const struct crl_entry *crl;

    if (!has_intel_items(c))
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOENT,
                                  "no Intel collateral loaded");
    if (pick_tcb(c, kind, fmspc, &tcb) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOTUNIQ,
                                  "tcb_info: several TCB infos match; name the FMSPC");
    if (kind == KIND_ANY && tcb && tcb->keyed)
        kind = tcb->tdx ? KIND_TDX : KIND_SGX;
    if (pick_qe(c, kind, &qe) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOTUNIQ,
                                  "qe_identity: both the QE and the TD_QE identity match");
    if (pick_crl(c, ca, &crl) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOTUNIQ,
                                  "pck_crl: both PCK CAs' CRLs match; name the PCK CA");
    *ret = (struct attest_intel_collateral_files){
        .tcb_info = tcb ? span(&tcb->body) : (struct attest_bytes){ 0 },
        .tcb_info_issuer_chain = tcb ? span(&tcb->chain) : (struct attest_bytes){ 0 },
        .qe_identity = qe ? span(&qe->body) : (struct attest_bytes){ 0 },
        .qe_identity_issuer_chain = qe ? span(&qe->chain) : (struct attest_bytes){ 0 },
        .pck_crl = crl ? span(&crl->crl) : (struct attest_bytes){ 0 },
        .pck_crl_issuer_chain = crl ? span(&crl->chain) : (struct attest_bytes){ 0 },
        .root_ca_crl = span(&c->root_ca_crl),
    };
    return 0;
}

/* ---- AMD certificates ---- */

static bool
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* AMD names its certificates (SEV-SNP ABI, KDS interface spec): ARK-<product> (self-signed),
 * SEV-<product> (ASK) and SEV-VLEK-<product> (ASVK) issued by the ARK, SEV-VCEK and SEV-VLEK. */
static int
amd_role(X509 *cert, enum amd_role *ret, char cn[X509_CN_SIZE])
{
    char issuer[X509_CN_SIZE];

    name_cn(X509_get_subject_name(cert), cn);
    name_cn(X509_get_issuer_name(cert), issuer);
    if (starts_with(cn, "ARK-") &&
        X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0)
        *ret = AMD_ARK;
    else if (strcmp(cn, "SEV-VCEK") == 0 || strcmp(cn, "SEV-VLEK") == 0)
        *ret = AMD_LEAF;
    else if (starts_with(cn, "SEV-") && starts_with(issuer, "ARK-"))
        *ret = AMD_INTERMEDIATE;
    else
        return -EBADMSG;
    return 0;
}

static const char *const amd_role_names[AMD_ROLES] = { "a VCEK/VLEK", "an ASK/ASVK", "an ARK" };

struct amd_add {
    struct load *l;
    const char *what;
    enum amd_role expect; /* AMD_ROLE_ANY, or the role the file name promises */
    unsigned count;
    bool refused; /* amd_add_cert set the failure */
};

/* Files cert (taken) under its role; a certificate seen before in another file is dropped. */
static int
amd_add_cert(void *userdata, X509 *cert, X509_CRL *crl)
{
    struct amd_add *a = userdata;
    struct amd_pool *pool = &a->l->amd;
    _cleanup_(X509_freep) X509 *owned = cert;
    char cn[X509_CN_SIZE];
    enum amd_role role;

    (void)crl;
    a->refused = true;
    if (++a->count > AMD_CERTS_MAX)
        return refuse(a->l, a->what, -E2BIG, "more than %u certificates", AMD_CERTS_MAX);
    if (i2d_X509(cert, NULL) > (int)ATTEST_SNP_CERT_MAX)
        return refuse(a->l, a->what, -E2BIG, "a certificate of more than %u bytes",
                      ATTEST_SNP_CERT_MAX);
    if (amd_role(cert, &role, cn) < 0)
        return refuse(a->l, a->what, -EBADMSG, "not an AMD SEV certificate (CN \"%s\")", cn);
    if (a->expect != AMD_ROLE_ANY && role != a->expect)
        return refuse(a->l, a->what, -EBADMSG, "holds %s (CN \"%s\"), not %s", amd_role_names[role],
                      cn, amd_role_names[a->expect]);
    a->refused = false;
    for (size_t i = 0; i < pool->n[role]; i++)
        if (X509_cmp(pool->certs[role][i], cert) == 0)
            return 0;
    if (pool->n[role] >= AMD_CERTS_MAX) {
        a->refused = true;
        return refuse(a->l, a->what, -E2BIG, "more than %u certificates", AMD_CERTS_MAX);
    }
    pool->certs[role][pool->n[role]++] = TAKE_PTR(owned);
    return 0;
}

/* Reads AMD certificates from a PEM bundle or one DER certificate. */
static int
amd_add_file(struct load *l, const char *what, const uint8_t *data, size_t size,
             enum amd_role expect)
{
    struct amd_add a = { .l = l, .what = what, .expect = expect };
    const unsigned char *p = data;
    X509 *cert;
    int r;

    if (size > AMD_FILE_MAX)
        return refuse(l, what, -E2BIG, "more than %u bytes", AMD_FILE_MAX);
    if (looks_pem(data, size)) {
        r = pem_each(data, size, "CERTIFICATE", amd_add_cert, &a);
        if (r < 0 && a.refused)
            return r; /* amd_add_cert said why */
        if (r < 0)
            return refuse(l, what, r, "not a PEM certificate bundle");
        return 0;
    }
    cert = d2i_X509(NULL, &p, (long)size);
    ERR_clear_error();
    if (!cert || p != data + size) {
        X509_free(cert);
        return refuse(l, what, -EBADMSG, "not a DER or PEM certificate");
    }
    return amd_add_cert(&a, cert, NULL);
}

/* Of several candidates for a role, the one that issued child (by name); with one, that one:
 * the verifier checks the signatures. */
static int
amd_pick(struct load *l, enum amd_role role, X509 *child, X509 **ret)
{
    struct amd_pool *pool = &l->amd;
    X509 *found = NULL;
    size_t matches = 0;

    *ret = NULL;
    if (pool->n[role] <= 1) {
        *ret = pool->n[role] ? pool->certs[role][0] : NULL;
        return 0;
    }
    for (size_t i = 0; child && i < pool->n[role]; i++) {
        if (X509_NAME_cmp(X509_get_subject_name(pool->certs[role][i]),
                          X509_get_issuer_name(child)) != 0)
            continue;
        found = pool->certs[role][i];
        matches++;
    }
    if (matches != 1)
        return refuse(l, NULL, -ENOTUNIQ, "%zu different certificates could be %s", pool->n[role],
                      amd_role_names[role]);
    *ret = found;
    return 0;
}

static int
der_of(X509 *cert, struct blob *ret)
{
    unsigned char *der = NULL;
    int n;

    if (!cert)
        return 0;
    n = i2d_X509(cert, &der);
    if (n <= 0)
        return -ENOMEM;
    ret->data = malloc((size_t)n);
    if (!ret->data) {
        OPENSSL_free(der);
        return -ENOMEM;
    }
    memcpy(ret->data, der, (size_t)n);
    ret->size = (size_t)n;
    OPENSSL_free(der);
    return 0;
}

/* Picks the chain from the collected certificates: the leaf, its issuer, the issuer's root. */
static int
amd_finish(struct load *l)
{
    struct attest_collateral *c = l->c;
    X509 *leaf, *intermediate, *ark;
    int r;

    r = amd_pick(l, AMD_LEAF, NULL, &leaf);
    if (r >= 0)
        r = amd_pick(l, AMD_INTERMEDIATE, leaf, &intermediate);
    if (r >= 0)
        r = amd_pick(l, AMD_ARK, intermediate ? intermediate : leaf, &ark);
    if (r < 0)
        return r;
    if (der_of(leaf, &c->vcek) < 0 || der_of(intermediate, &c->ask) < 0 || der_of(ark, &c->ark) < 0)
        return oom(l);
    c->has_snp = leaf || intermediate || ark;
    c->snp = (struct attest_snp_cert_files){
        .vcek = span(&c->vcek),
        .ask = span(&c->ask),
        .ark = span(&c->ark),
    };
    return 0;
}

/* ---- JSON documents ---- */

/* A string field, or NULL when absent, null or empty (PCCS writes "" for what it lacks). */
static int
json_text(const struct load *l, json_t *object, const char *name, const char **ret,
          size_t *ret_size)
{
    json_t *v = json_object_get(object, name);

    *ret = NULL;
    *ret_size = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return refuse(l, name, -EBADMSG, "not a string");
    if (json_string_length(v) == 0)
        return 0;
    *ret = json_string_value(v);
    *ret_size = json_string_length(v);
    return 0;
}

/* Bytes as serde writes a Vec<u8> by default: an array of integers 0-255. */
static int
json_byte_array(const struct load *l, const char *what, json_t *array, struct blob *ret)
{
    _cleanup_free_ uint8_t *data = NULL;
    size_t n = json_array_size(array);

    if (n > ITEM_MAX)
        return refuse(l, what, -E2BIG, "more than %u bytes", ITEM_MAX);
    data = malloc(n + 1);
    if (!data)
        return oom(l);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(array, i);

        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
            return refuse(l, what, -EBADMSG, "byte %zu is not an integer 0-255", i);
        data[i] = (uint8_t)json_integer_value(v);
    }
    data[n] = '\0';
    *ret = (struct blob){ TAKE_PTR(data), n };
    return 0;
}

/* An issuer chain: PEM, percent-encoded or not. */
static int
chain_from_value(const struct load *l, const char *name, json_t *v, struct blob *ret)
{
    const char *text;
    size_t size;
    int r;

    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return 0;
    if (!json_is_string(v))
        return refuse(l, name, -EBADMSG, "not a string");
    text = json_string_value(v);
    size = json_string_length(v);
    if (size > 3 * (size_t)ITEM_MAX)
        return refuse(l, name, -E2BIG, "more than %u bytes", ITEM_MAX);
    r = memchr(text, '%', size) ? percent_decode(text, size, ret) : blob_copy(text, size, ret);
    if (r == -ENOMEM)
        return oom(l);
    if (r < 0)
        return refuse(l, name, r, "bad percent-encoding");
    r = check_size(l, name, ret);
    if (r >= 0)
        r = check_chain(l, name, ret);
    if (r < 0)
        blob_clear(ret);
    return r;
}

static int
json_chain(const struct load *l, json_t *object, const char *name, struct blob *ret)
{
    return chain_from_value(l, name, json_object_get(object, name), ret);
}

/* A CRL: PEM text, hex of the DER (sgx_ql_qve_collateral_t, dcap-qvl, PCCS) or a byte array.
 * Checked to be a CRL by add_crl / set_root_crl. */
static int
json_crl(const struct load *l, json_t *object, const char *name, struct blob *ret)
{
    json_t *v = json_object_get(object, name);
    const char *text;
    size_t size;
    int r;

    if (json_is_array(v))
        return json_byte_array(l, name, v, ret);
    r = json_text(l, object, name, &text, &size);
    if (r < 0 || !text)
        return r;
    if (looks_pem(text, size))
        r = size > ITEM_MAX ? -E2BIG : blob_copy(text, size, ret);
    else
        r = hex_decode(text, size, ITEM_MAX, ret);
    if (r == -ENOMEM)
        return oom(l);
    if (r == -E2BIG)
        return refuse(l, name, r, "more than %u bytes", ITEM_MAX);
    if (r < 0)
        return refuse(l, name, r, "neither PEM nor hex");
    return 0;
}

/* A signature as hex text: kept as written (it goes back into the body verbatim), or made from
 * a byte array. */
static int
json_signature(const struct load *l, json_t *v, const char *name, struct blob *ret)
{
    _cleanup_(blob_clear) struct blob bytes = { 0 };
    int r;

    if (json_is_string(v)) {
        if (!is_hex(json_string_value(v), json_string_length(v)))
            return refuse(l, name, -EBADMSG, "not hex");
        if (json_string_length(v) > ITEM_MAX)
            return refuse(l, name, -E2BIG, "more than %u bytes", ITEM_MAX);
        r = blob_copy(json_string_value(v), json_string_length(v), ret);
        return r < 0 ? oom(l) : 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return refuse(l, name, -EBADMSG, "not hex or a byte array");
    r = json_byte_array(l, name, v, &bytes);
    if (r < 0)
        return r;
    ret->data = malloc(2 * bytes.size + 1);
    if (!ret->data)
        return oom(l);
    attest_hex_encode(bytes.data, bytes.size, (char *)ret->data);
    ret->size = 2 * bytes.size;
    return 0;
}

/* The PCS body {"<wrapper>":<raw>,"signature":"<hex>"}: the signature covers raw exactly as
 * written, so raw is spliced in, never re-encoded. */
static int
body_splice(const char *wrapper, const char *raw, size_t raw_size, const struct blob *sig,
            struct blob *ret)
{
    static const char middle[] = ",\"signature\":\"", end[] = "\"}";
    size_t head = strlen(wrapper) + 4; /* {"<wrapper>": */
    size_t size = head + raw_size + strlen(middle) + sig->size + strlen(end);
    char *text = malloc(size + 1);

    if (!text)
        return -ENOMEM;
    snprintf(text, head + 1, "{\"%s\":", wrapper);
    memcpy(text + head, raw, raw_size);
    memcpy(text + head + raw_size, middle, strlen(middle));
    memcpy(text + head + raw_size + strlen(middle), sig->data, sig->size);
    memcpy(text + size - strlen(end), end, strlen(end));
    text[size] = '\0';
    *ret = (struct blob){ (uint8_t *)text, size };
    return 0;
}

/* A body given as a parsed JSON object (PCCS's platform_collaterals.json stores the TCB info so).
 * Written back compact in its key order, which gives PCS's bytes: PCS bodies are compact and
 * pure ASCII. If they ever were not, the signature check will say so. */
static int
body_from_object(const struct load *l, const char *what, json_t *object, const char *wrapper,
                 struct blob *ret)
{
    json_t *inner = json_object_get(object, wrapper), *sig = json_object_get(object, "signature");
    _cleanup_free_ char *raw = NULL;
    _cleanup_(blob_clear) struct blob hex = { 0 };
    int r;

    if (!json_is_object(inner) || !json_is_string(sig))
        return refuse(l, what, -EBADMSG, "no %s object and signature string", wrapper);
    r = json_signature(l, sig, what, &hex);
    if (r < 0)
        return r;
    raw = json_dumps(inner, JSON_COMPACT);
    if (!raw)
        return oom(l);
    if (strlen(raw) > ITEM_MAX)
        return refuse(l, what, -E2BIG, "more than %u bytes", ITEM_MAX);
    return body_splice(wrapper, raw, strlen(raw), &hex, ret) < 0 ? oom(l) : 0;
}

/* A TCB info or QE identity body: the whole PCS body as a string, the body as an object, or
 * (dcap-qvl) the raw signed text plus a separate signature field sig_name (may be NULL). */
static int
json_body(const struct load *l, json_t *object, const char *name, const char *sig_name,
          const char *wrapper, struct blob *ret)
{
    json_t *v = json_object_get(object, name);
    json_t *sig = sig_name ? json_object_get(object, sig_name) : NULL;
    _cleanup_(blob_clear) struct blob hex = { 0 };
    int r;

    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return 0;
    if (json_is_object(v))
        return body_from_object(l, name, v, wrapper, ret);
    if (!json_is_string(v))
        return refuse(l, name, -EBADMSG, "not a string or object");
    if (json_string_length(v) > ITEM_MAX)
        return refuse(l, name, -E2BIG, "more than %u bytes", ITEM_MAX);
    if (!sig || json_is_null(sig))
        return blob_copy(json_string_value(v), json_string_length(v), ret) < 0 ? oom(l) : 0;
    r = json_signature(l, sig, sig_name, &hex);
    if (r < 0)
        return r;
    r = body_splice(wrapper, json_string_value(v), json_string_length(v), &hex, ret);
    return r < 0 ? oom(l) : 0;
}

/* Field names of sgx_ql_qve_collateral_t-style documents, as written by dcap-qvl and QVL-based
 * tools (snake_case) and by Intel's Rust tools (camelCase). */
struct flat_names {
    const char *pck_crl_issuer_chain, *root_ca_crl, *pck_crl, *tcb_info_issuer_chain, *tcb_info,
        *tcb_info_signature, *qe_identity_issuer_chain, *qe_identity, *qe_identity_signature;
};

static const struct flat_names snake_names = {
    "pck_crl_issuer_chain",     "root_ca_crl", "pck_crl",
    "tcb_info_issuer_chain",    "tcb_info",    "tcb_info_signature",
    "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature",
};

static const struct flat_names camel_names = {
    "pckCrlIssuerChain",     "rootCaCrl",  "pckCrl",
    "tcbInfoIssuerChain",    "tcbInfo",    "tcbInfoSignature",
    "qeIdentityIssuerChain", "qeIdentity", "qeIdentitySignature",
};

static bool
has_flat_field(json_t *doc, const struct flat_names *n)
{
    const char *const all[] = { n->pck_crl_issuer_chain,  n->root_ca_crl, n->pck_crl,
                                n->tcb_info_issuer_chain, n->tcb_info,    n->qe_identity };

    for (size_t i = 0; i < ELEMENTSOF(all); i++)
        if (json_object_get(doc, all[i]))
            return true;
    return false;
}

/* A TCB info and its chain; fmspc (may be NULL) is the FMSPC it is filed under. */
static int
flat_tcb(const struct load *l, json_t *object, const struct flat_names *n, const uint8_t *fmspc)
{
    _cleanup_(blob_clear) struct blob body = { 0 }, chain = { 0 };
    int r = json_body(l, object, n->tcb_info, n->tcb_info_signature, "tcbInfo", &body);

    if (r >= 0)
        r = json_chain(l, object, n->tcb_info_issuer_chain, &chain);
    if (r < 0 || (!body.data && !chain.data))
        return r;
    return add_tcb(l, n->tcb_info, &body, &chain, KIND_ANY, fmspc);
}

/* Intel's tools write one TCB info per platform: {"platforms":[{fmspc, tcbInfoIssuerChain,
 * tcbInfo}, ...]}. */
static int
flat_platforms(const struct load *l, json_t *doc, const struct flat_names *n)
{
    json_t *platforms = json_object_get(doc, "platforms"), *p;
    size_t i;
    int r;

    if (!platforms)
        return 0;
    if (!json_is_array(platforms))
        return refuse(l, "platforms", -EBADMSG, "not an array");
    json_array_foreach(platforms, i, p) {
        json_t *fmspc_field = json_object_get(p, "fmspc");
        uint8_t fmspc[FMSPC_SIZE];

        if (!json_is_object(p))
            return refuse(l, "platforms", -EBADMSG, "entry %zu is not an object", i);
        if (fmspc_field && (!json_is_string(fmspc_field) ||
                            fmspc_parse(json_string_value(fmspc_field), fmspc) < 0))
            return refuse(l, "platforms", -EBADMSG, "entry %zu: fmspc is not 12 hex digits", i);
        r = flat_tcb(l, p, n, fmspc_field ? fmspc : NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
flat_qe(const struct load *l, json_t *doc, const struct flat_names *n)
{
    _cleanup_(blob_clear) struct blob body = { 0 }, chain = { 0 };
    int r = json_body(l, doc, n->qe_identity, n->qe_identity_signature, "enclaveIdentity", &body);

    if (r >= 0)
        r = json_chain(l, doc, n->qe_identity_issuer_chain, &chain);
    if (r < 0 || (!body.data && !chain.data))
        return r;
    return add_qe(l, n->qe_identity, &body, &chain, KIND_ANY);
}

static int
flat_crls(const struct load *l, json_t *doc, const struct flat_names *n)
{
    _cleanup_(blob_clear) struct blob crl = { 0 }, chain = { 0 }, root = { 0 };
    int r = json_crl(l, doc, n->pck_crl, &crl);

    if (r >= 0)
        r = json_chain(l, doc, n->pck_crl_issuer_chain, &chain);
    if (r >= 0 && (crl.data || chain.data))
        r = add_crl(l, n->pck_crl, &crl, &chain, ATTEST_PCK_CA_ANY);
    if (r >= 0)
        r = json_crl(l, doc, n->root_ca_crl, &root);
    if (r >= 0 && root.data)
        r = set_root_crl(l, n->root_ca_crl, &root);
    return r;
}

/* dcap-qvl's QuoteCollateralV3 and sgx_ql_qve_collateral_t-style objects. */
static int
load_flat(struct load *l, json_t *doc)
{
    const struct flat_names *n = has_flat_field(doc, &snake_names) ? &snake_names : &camel_names;
    int r;

    l->c->shape = json_object_get(doc, n->tcb_info_signature) ||
                          json_object_get(doc, n->qe_identity_signature)
                      ? "dcap-qvl"
                      : "qve-collateral";
    r = flat_tcb(l, doc, n, NULL);
    if (r >= 0)
        r = flat_platforms(l, doc, n);
    if (r >= 0)
        r = flat_qe(l, doc, n);
    if (r >= 0)
        r = flat_crls(l, doc, n);
    return r;
}

/* PCCS bundles name their certificate objects after HTTP headers, whose case varies between
 * PCCS versions. */
static json_t *
get_nocase(json_t *object, const char *name)
{
    const char *key;
    json_t *v;

    json_object_foreach(object, key, v)
        if (strcasecmp(key, name) == 0)
            return v;
    return NULL;
}

static int
chain_nocase(const struct load *l, json_t *object, const char *const *names, struct blob *ret)
{
    json_t *v = NULL;
    const char *key = NULL;

    for (size_t i = 0; names[i] && !v; i++) {
        key = names[i];
        v = get_nocase(object, key);
    }
    return chain_from_value(l, key, v, ret);
}

static const char *const tcb_chain_names[] = { "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain",
                                               NULL };
static const char *const qe_chain_names[] = { "SGX-Enclave-Identity-Issuer-Chain", NULL };
static const char *const pck_chain_names[] = { "SGX-PCK-Certificate-Issuer-Chain", NULL };

/* collaterals.tcbinfos[]: {fmspc, sgx_tcbinfo | tcbinfo (API v3), tdx_tcbinfo}; the *_early
 * variants (early TCB recovery) are not used. */
static int
pccs_tcb_info(const struct load *l, json_t *entry, size_t index, const char *name, enum kind kind,
              const uint8_t *fmspc, json_t *certificates)
{
    _cleanup_(blob_clear) struct blob body = { 0 }, chain = { 0 };
    json_t *v = json_object_get(entry, name);
    char what[64];
    int r;

    if (!v || json_is_null(v))
        return 0;
    snprintf(what, sizeof(what), "tcbinfos[%zu].%s", index, name);
    if (json_is_object(v))
        r = body_from_object(l, what, v, "tcbInfo", &body);
    else
        r = json_body(l, entry, name, NULL, "tcbInfo", &body);
    if (r >= 0)
        r = chain_nocase(l, certificates, tcb_chain_names, &chain);
    if (r < 0)
        return r;
    return add_tcb(l, what, &body, &chain, kind, fmspc);
}

static int
pccs_tcb_infos(const struct load *l, json_t *coll, json_t *certificates)
{
    json_t *list = json_object_get(coll, "tcbinfos"), *entry;
    size_t i;
    int r = 0;

    if (list && !json_is_array(list))
        return refuse(l, "tcbinfos", -EBADMSG, "not an array");
    json_array_foreach(list, i, entry) {
        json_t *fmspc_field = json_object_get(entry, "fmspc");
        uint8_t fmspc[FMSPC_SIZE];

        if (!json_is_object(entry) || !json_is_string(fmspc_field) ||
            fmspc_parse(json_string_value(fmspc_field), fmspc) < 0)
            return refuse(l, "tcbinfos", -EBADMSG, "entry %zu has no 12-digit fmspc", i);
        r = pccs_tcb_info(l, entry, i, "sgx_tcbinfo", KIND_SGX, fmspc, certificates);
        if (r >= 0)
            r = pccs_tcb_info(l, entry, i, "tcbinfo", KIND_SGX, fmspc, certificates);
        if (r >= 0)
            r = pccs_tcb_info(l, entry, i, "tdx_tcbinfo", KIND_TDX, fmspc, certificates);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
pccs_identity(const struct load *l, json_t *coll, const char *name, enum kind kind,
              json_t *certificates)
{
    _cleanup_(blob_clear) struct blob body = { 0 }, chain = { 0 };
    int r = json_body(l, coll, name, NULL, "enclaveIdentity", &body);

    if (r < 0 || !body.data)
        return r;
    r = chain_nocase(l, certificates, qe_chain_names, &chain);
    if (r < 0)
        return r;
    return add_qe(l, name, &body, &chain, kind);
}

/* collaterals.pckcacrl.{processorCrl, platformCrl} (hex DER since API v3, PEM before), each
 * with its CA's chain from certificates["SGX-PCK-Certificate-Issuer-Chain"].{PROCESSOR,
 * PLATFORM}: the CA that signs the PCK certificates signs their CRL. */
static int
pccs_crl(const struct load *l, json_t *crls, const char *name, const char *ca_name,
         enum attest_pck_ca ca, json_t *certificates)
{
    _cleanup_(blob_clear) struct blob crl = { 0 }, chain = { 0 };
    json_t *chains = NULL;
    int r = json_crl(l, crls, name, &crl);

    if (r < 0 || !crl.data)
        return r;
    for (size_t i = 0; pck_chain_names[i] && !chains; i++)
        chains = get_nocase(certificates, pck_chain_names[i]);
    if (chains && !json_is_object(chains))
        return refuse(l, pck_chain_names[0], -EBADMSG, "not an object");
    if (chains) {
        const char *const names[] = { ca_name, NULL };

        r = chain_nocase(l, chains, names, &chain);
        if (r < 0)
            return r;
    }
    return add_crl(l, name, &crl, &chain, ca);
}

/* PCCS's platform_collaterals.json (PccsAdminTool "fetch", PCCS PUT /platformcollateral). */
static int
load_pccs(struct load *l, json_t *doc)
{
    json_t *coll = json_object_get(doc, "collaterals"), *certificates, *crls;
    _cleanup_(blob_clear) struct blob root = { 0 };
    int r;

    l->c->shape = "pccs-platform-collaterals";
    if (!json_is_object(coll))
        return refuse(l, "collaterals", -EBADMSG, "not an object");
    certificates = json_object_get(coll, "certificates");
    if (certificates && !json_is_object(certificates))
        return refuse(l, "certificates", -EBADMSG, "not an object");
    crls = json_object_get(coll, "pckcacrl");
    if (crls && !json_is_object(crls))
        return refuse(l, "pckcacrl", -EBADMSG, "not an object");
    r = pccs_tcb_infos(l, coll, certificates);
    if (r >= 0)
        r = pccs_identity(l, coll, "qeidentity", KIND_SGX, certificates);
    if (r >= 0)
        r = pccs_identity(l, coll, "tdqeidentity", KIND_TDX, certificates);
    if (r >= 0 && crls)
        r = pccs_crl(l, crls, "processorCrl", "PROCESSOR", ATTEST_PCK_CA_PROCESSOR, certificates);
    if (r >= 0 && crls)
        r = pccs_crl(l, crls, "platformCrl", "PLATFORM", ATTEST_PCK_CA_PLATFORM, certificates);
    if (r >= 0)
        r = json_crl(l, coll, "rootcacrl", &root);
    if (r >= 0 && root.data)
        r = set_root_crl(l, "rootcacrl", &root);
    return r;
}

/* A bare PCS body ({"tcbInfo":…} or {"enclaveIdentity":…}): kept byte for byte. */
static int
load_pcs_body(struct load *l, const char *text, size_t size, bool tcb)
{
    _cleanup_(blob_clear) struct blob body = { 0 }, chain = { 0 };

    l->c->shape = tcb ? "pcs-tcb-info" : "pcs-qe-identity";
    if (blob_copy(text, size, &body) < 0)
        return oom(l);
    return tcb ? add_tcb(l, "tcbInfo", &body, &chain, KIND_ANY, NULL)
               : add_qe(l, "enclaveIdentity", &body, &chain, KIND_ANY);
}

static int
load_json_text(struct load *l, const char *text, size_t size)
{
    json_error_t error;
    _cleanup_(json_decrefp) json_t *doc = NULL;

    if (size > ATTEST_COLLATERAL_DOCUMENT_MAX)
        return refuse(l, "JSON", -E2BIG, "more than %u bytes", ATTEST_COLLATERAL_DOCUMENT_MAX);
    doc = json_loadb(text, size, JSON_REJECT_DUPLICATES, &error);
    if (!doc)
        return refuse(l, "JSON", -EBADMSG, "line %d: %s", error.line, error.text);
    if (!json_is_object(doc))
        return refuse(l, "JSON", -EBADMSG, "not an object");
    if (json_object_get(doc, "collaterals"))
        return load_pccs(l, doc);
    /* A PCS body has a top-level signature; camelCase documents may have a tcbInfo object. */
    if (json_is_object(json_object_get(doc, "tcbInfo")) && json_object_get(doc, "signature"))
        return load_pcs_body(l, text, size, true);
    if (json_is_object(json_object_get(doc, "enclaveIdentity")) &&
        json_object_get(doc, "signature"))
        return load_pcs_body(l, text, size, false);
    if (has_flat_field(doc, &snake_names) || has_flat_field(doc, &camel_names))
        return load_flat(l, doc);
    return refuse(l, "JSON", -EBADMSG,
                  "unknown shape: none of the fields tcb_info, qe_identity, pck_crl, "
                  "root_ca_crl, collaterals, tcbInfo, enclaveIdentity");
}

/* ---- Files and directories ---- */

/* Reads the regular file fd of at most max bytes, NUL-terminated. -E2BIG, -EISDIR (a directory
 * or another type), -EIO, -ENOMEM. */
static int
read_fd(int fd, size_t max, struct blob *ret)
{
    _cleanup_free_ uint8_t *data = NULL;
    struct stat st;
    size_t size = 0;

    if (fstat(fd, &st) < 0)
        return -EIO;
    if (!S_ISREG(st.st_mode))
        return -EISDIR;
    if ((uint64_t)st.st_size > max)
        return -E2BIG;
    data = malloc((size_t)st.st_size + 1);
    if (!data)
        return -ENOMEM;
    /* The file may change under us: read what fstat promised, no more. */
    while (size < (size_t)st.st_size) {
        ssize_t n = read(fd, data + size, (size_t)st.st_size - size);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        size += (size_t)n;
    }
    data[size] = '\0';
    *ret = (struct blob){ TAKE_PTR(data), size };
    return 0;
}

/* Reads dirfd/name as read_fd does; -ENOENT when it is not there (not an error to callers). */
static int
read_file_at(int dirfd, const char *name, size_t max, struct blob *ret)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -EIO;
    return read_fd(fd, max, ret);
}

static int
read_failed(const struct load *l, const char *name, int r, size_t max)
{
    switch (r) {
    case -E2BIG:
        return refuse(l, name, r, "more than %zu bytes", max);
    case -EISDIR:
        return refuse(l, name, -EBADMSG, "not a regular file");
    case -ENOMEM:
        return oom(l);
    default:
        return refuse(l, name, -EIO, "cannot be read");
    }
}

/* The file of the first of names that exists (its name in *ret_name); any other of names that
 * exists must hold the same bytes. */
static int
dir_item(const struct load *l, int dirfd, const char *const *names, struct blob *ret,
         const char **ret_name)
{
    *ret_name = NULL;
    for (size_t i = 0; names[i]; i++) {
        _cleanup_(blob_clear) struct blob b = { 0 };
        int r = read_file_at(dirfd, names[i], ITEM_MAX, &b);

        if (r == -ENOENT)
            continue;
        if (r < 0)
            return read_failed(l, names[i], r, ITEM_MAX);
        if (!ret->data) {
            *ret = b;
            b = (struct blob){ 0 };
            *ret_name = names[i];
        } else if (!blob_equal(ret, &b))
            return refuse(l, names[i], -ENOTUNIQ, "differs from %s", *ret_name);
    }
    return 0;
}

/* An issuer chain file; a chain saved from an HTTP header may still be percent-encoded. */
static int
dir_chain(const struct load *l, int dirfd, const char *const *names, struct blob *ret)
{
    const char *name;
    int r = dir_item(l, dirfd, names, ret, &name);

    if (r < 0 || !ret->data)
        return r;
    if (memchr(ret->data, '%', ret->size)) {
        struct blob decoded;

        r = percent_decode((const char *)ret->data, ret->size, &decoded);
        if (r < 0)
            return r == -ENOMEM ? oom(l) : refuse(l, name, r, "bad percent-encoding");
        blob_clear(ret);
        *ret = decoded;
    }
    return check_chain(l, name, ret);
}

/* The names used by the test vectors (../shared/testvectors), then those of Intel's QVL sample
 * application (AttestationApp: tcbSignChain.pem signs both TCB info and QE identity,
 * intermediateCaCrl is the PCK CA's CRL, pckSignChain.pem that CA's chain). */
static const char *const tcb_names[] = { "tcb_info.json", "tcbInfo.json", NULL };
static const char *const tcb_chain_files[] = { "tcb_info_issuer_chain.pem", "tcbSignChain.pem",
                                               NULL };
static const char *const qe_names[] = { "qe_identity.json", "qeIdentity.json", NULL };
static const char *const qe_chain_files[] = { "qe_identity_issuer_chain.pem", "tcbSignChain.pem",
                                              NULL };
static const char *const pck_crl_names[] = { "pck_crl.der", "pck_crl.pem", "intermediateCaCrl.der",
                                             "intermediateCaCrl.pem", NULL };
static const char *const pck_chain_files[] = { "pck_crl_issuer_chain.pem", "pckSignChain.pem",
                                               NULL };
static const char *const root_crl_names[] = { "root_ca_crl.der", "root_ca_crl.pem", "rootCaCrl.der",
                                              "rootCaCrl.pem", NULL };

static int
dir_intel(struct load *l, int dirfd)
{
    _cleanup_(blob_clear) struct blob tcb = { 0 }, tcb_chain = { 0 }, qe = { 0 }, qe_chain = { 0 },
                                      crl = { 0 }, crl_chain = { 0 }, root = { 0 };
    const char *tcb_name, *qe_name, *crl_name, *root_name;
    int r;

    r = dir_item(l, dirfd, tcb_names, &tcb, &tcb_name);
    if (r >= 0)
        r = dir_chain(l, dirfd, tcb_chain_files, &tcb_chain);
    if (r >= 0 && (tcb.data || tcb_chain.data))
        r = add_tcb(l, tcb_name ? tcb_name : tcb_chain_files[0], &tcb, &tcb_chain, KIND_ANY, NULL);
    if (r >= 0)
        r = dir_item(l, dirfd, qe_names, &qe, &qe_name);
    if (r >= 0)
        r = dir_chain(l, dirfd, qe_chain_files, &qe_chain);
    if (r >= 0 && (qe.data || qe_chain.data))
        r = add_qe(l, qe_name ? qe_name : qe_chain_files[0], &qe, &qe_chain, KIND_ANY);
    if (r >= 0)
        r = dir_item(l, dirfd, pck_crl_names, &crl, &crl_name);
    if (r >= 0)
        r = dir_chain(l, dirfd, pck_chain_files, &crl_chain);
    if (r >= 0 && (crl.data || crl_chain.data))
        r = add_crl(l, crl_name ? crl_name : pck_chain_files[0], &crl, &crl_chain,
                    ATTEST_PCK_CA_ANY);
    if (r >= 0)
        r = dir_item(l, dirfd, root_crl_names, &root, &root_name);
    if (r >= 0 && root.data)
        r = set_root_crl(l, root_name, &root);
    return r;
}

/* The names of the test vectors, of snpguest ("fetch ca", "fetch vcek", "certificates": ark,
 * ask or asvk, vcek or vlek; .pem or .der) and of AMD KDS downloads (cert_chain.pem is the
 * ASK or ASVK then the ARK; the VCEK comes as DER, often saved as vcek.crt or vcek.cer). */
static const struct {
    const char *name;
    enum amd_role role;
} amd_files[] = {
    { "vcek.der", AMD_LEAF },
    { "vcek.pem", AMD_LEAF },
    { "vcek.crt", AMD_LEAF },
    { "vcek.cer", AMD_LEAF },
    { "vlek.der", AMD_LEAF },
    { "vlek.pem", AMD_LEAF },
    { "vlek.crt", AMD_LEAF },
    { "vlek.cer", AMD_LEAF },
    { "ask.pem", AMD_INTERMEDIATE },
    { "ask.der", AMD_INTERMEDIATE },
    { "asvk.pem", AMD_INTERMEDIATE },
    { "asvk.der", AMD_INTERMEDIATE },
    { "ark.pem", AMD_ARK },
    { "ark.der", AMD_ARK },
    { "cert_chain.pem", AMD_ROLE_ANY },
};

static int
dir_amd(struct load *l, int dirfd)
{
    for (size_t i = 0; i < ELEMENTSOF(amd_files); i++) {
        _cleanup_(blob_clear) struct blob b = { 0 };
        int r = read_file_at(dirfd, amd_files[i].name, AMD_FILE_MAX, &b);

        if (r == -ENOENT)
            continue;
        if (r < 0)
            return read_failed(l, amd_files[i].name, r, AMD_FILE_MAX);
        r = amd_add_file(l, amd_files[i].name, b.data, b.size, amd_files[i].role);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One file's contents: JSON, or AMD certificates. */
static int
load_contents(struct load *l, const uint8_t *data, size_t size)
{
    size_t skip = 0;

    if (size > ATTEST_COLLATERAL_DOCUMENT_MAX)
        return refuse(l, NULL, -E2BIG, "more than %u bytes", ATTEST_COLLATERAL_DOCUMENT_MAX);
    while (skip < size &&
           (data[skip] == ' ' || data[skip] == '\t' || data[skip] == '\r' || data[skip] == '\n'))
        skip++;
    if (skip < size && data[skip] == '{')
        return load_json_text(l, (const char *)data, size);
    l->c->shape = "amd-certificates";
    if (size > AMD_FILE_MAX)
        return refuse(l, NULL, -EBADMSG, "not JSON, and too large for AMD certificates");
    return amd_add_file(l, NULL, data, size, AMD_ROLE_ANY);
}

/* ---- Public functions ---- */

/* Starts a load: a new, empty collateral. */
static int
load_begin(struct load *l, const char *source, struct attest_failure *failure)
{
    *l = (struct load){ .source = source, .failure = failure };
    l->c = calloc(1, sizeof(*l->c));
    if (!l->c)
        return oom(l);
    return 0;
}

/* Outside bundles a document describes one platform: a TCB info and a QE identity of different
 * kinds (SGX and TD_QE, TDX and QE) cannot both be meant. */
static int
check_kinds(const struct load *l)
{
    const struct attest_collateral *c = l->c;

    if (c->shape && strcmp(c->shape, "pccs-platform-collaterals") == 0)
        return 0;
    for (size_t i = 0; i < c->n_tcb; i++)
        for (size_t j = 0; j < c->n_qe; j++)
            if (c->tcb[i].keyed && c->qe[j].keyed && c->tcb[i].tdx != c->qe[j].td)
                return refuse(l, NULL, -EBADMSG,
                              "qe_identity: the %s identity does not go with a%s TCB info",
                              c->qe[j].td ? "TD_QE" : "QE", c->tcb[i].tdx ? " TDX" : "n SGX");
    return 0;
}

/* Ends a load that returned r: on success picks the AMD chain and the unambiguous Intel set and
 * hands the collateral to *ret; on failure frees it. */
static int
load_end(struct load *l, int r, struct attest_collateral **ret)
{
    if (r >= 0)
        r = check_kinds(l);
    if (r >= 0)
        r = amd_finish(l);
    amd_pool_clear(&l->amd);
    if (r < 0) {
        l->c = attest_collateral_free(l->c);
        return r;
    }
    l->c->has_intel = has_intel_items(l->c) &&
                      pick_intel(l->c, KIND_ANY, NULL, ATTEST_PCK_CA_ANY, &l->c->intel, NULL) == 0;
    attest_failure_set(l->failure, ATTEST_STEP_NONE, 0, "%s", "");
    *ret = TAKE_PTR(l->c);
    return 0;
}

int
attest_collateral_load_json(const char *text, size_t size, struct attest_collateral **ret,
                            struct attest_failure *failure)
{
    struct load l;
    int r = load_begin(&l, NULL, failure);

    if (r >= 0 && !text && size > 0)
        r = refuse(&l, NULL, -EINVAL, "no text");
    if (r >= 0)
        r = load_json_text(&l, text ? text : "", size);
    return load_end(&l, r, ret);
}

int
attest_collateral_load_data(const void *data, size_t size, const char *name,
                            struct attest_collateral **ret, struct attest_failure *failure)
{
    struct load l;
    int r = load_begin(&l, name, failure);

    if (r >= 0 && !data && size > 0)
        r = refuse(&l, NULL, -EINVAL, "no data");
    if (r >= 0)
        r = load_contents(&l, data ? data : "", size);
    return load_end(&l, r, ret);
}

static int
load_dir(int dirfd, struct attest_collateral **ret, struct attest_failure *failure)
{
    struct load l;
    int r = load_begin(&l, NULL, failure);

    if (r >= 0) {
        l.c->shape = "directory";
        r = dir_intel(&l, dirfd);
    }
    if (r >= 0)
        r = dir_amd(&l, dirfd);
    return load_end(&l, r, ret);
}

int
attest_collateral_load(const char *path, struct attest_collateral **ret,
                       struct attest_failure *failure)
{
    _cleanup_close_ int fd = -1;
    _cleanup_(blob_clear) struct blob b = { 0 };
    struct load l = { .failure = failure };
    const char *base;
    struct stat st;
    int r;

    if (!path)
        return refuse(&l, NULL, -EINVAL, "no path");
    base = strrchr(path, '/') && strrchr(path, '/')[1] ? strrchr(path, '/') + 1 : path;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT)
        return refuse(&l, base, -ENOENT, "no such file or directory");
    if (fd < 0 || fstat(fd, &st) < 0)
        return refuse(&l, base, -EIO, "cannot be opened");
    if (S_ISDIR(st.st_mode))
        return load_dir(fd, ret, failure);
    r = read_fd(fd, ATTEST_COLLATERAL_DOCUMENT_MAX, &b);
    if (r < 0)
        return read_failed(&l, base, r, ATTEST_COLLATERAL_DOCUMENT_MAX);
    return attest_collateral_load_data(b.data, b.size, base, ret, failure);
}

const char *
attest_collateral_shape(const struct attest_collateral *collateral)
{
    return collateral ? collateral->shape : NULL;
}

const struct attest_intel_collateral_files *
attest_collateral_intel(const struct attest_collateral *collateral)
{
    return collateral && collateral->has_intel ? &collateral->intel : NULL;
}

int
attest_collateral_intel_select(const struct attest_collateral *collateral,
                               const struct attest_collateral_key *key,
                               struct attest_intel_collateral_files *ret,
                               struct attest_failure *failure)
{
    int r;

    if (!collateral || !key || !ret)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EINVAL, "no collateral");
    r = pick_intel(collateral, key->tdx ? KIND_TDX : KIND_SGX, key->fmspc, key->pck_ca, ret,
                   failure);
    if (r >= 0)
        attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
    return r;
}

size_t
attest_collateral_tcb_info_count(const struct attest_collateral *c)
{
    return c ? c->n_tcb : 0;
}

int
attest_collateral_tcb_info_key(const struct attest_collateral *c, size_t i, bool *ret_tdx,
                               uint8_t ret_fmspc[6])
{
    if (!c || i >= c->n_tcb)
        return -ENOENT;
    if (!c->tcb[i].keyed)
        return -EBADMSG;
    *ret_tdx = c->tcb[i].tdx;
    memcpy(ret_fmspc, c->tcb[i].fmspc, FMSPC_SIZE);
    return 0;
}

const struct attest_snp_cert_files *
attest_collateral_snp(const struct attest_collateral *collateral)
{
    return collateral && collateral->has_snp ? &collateral->snp : NULL;
}

struct attest_collateral *
attest_collateral_free(struct attest_collateral *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_tcb; i++) {
        blob_clear(&c->tcb[i].body);
        blob_clear(&c->tcb[i].chain);
    }
    free(c->tcb);
    for (size_t i = 0; i < c->n_qe; i++) {
        blob_clear(&c->qe[i].body);
        blob_clear(&c->qe[i].chain);
    }
    for (size_t i = 0; i < c->n_pck; i++) {
        blob_clear(&c->pck[i].crl);
        blob_clear(&c->pck[i].chain);
    }
    blob_clear(&c->root_ca_crl);
    blob_clear(&c->vcek);
    blob_clear(&c->ask);
    blob_clear(&c->ark);
    free(c);
    return NULL;
}
