/* libattest: Intel collateral parsed and signature-checked once (intel.h), and the PCK chains
 * of quotes checked against it (intel-collateral.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "attest-util.h"
#include "cleanup.h"
#include "intel-collateral.h"
#include "x509-util.h"

/* SHA-256 of the DER SubjectPublicKeyInfo of the Intel SGX Root CA ("CN=Intel SGX Root CA",
 * serial 0x...; the one Intel publishes at certificates.trustedservices.intel.com). */
const uint8_t attest_intel_root_key_sha256[32] = {
    0xa0, 0xaf, 0x03, 0x12, 0x89, 0xf5, 0xd5, 0xd4, 0x13, 0x2f, 0x91, 0x86, 0x06, 0x8a, 0x7f, 0xc1,
    0x36, 0x28, 0x63, 0x3b, 0xa2, 0x35, 0x77, 0x74, 0x72, 0xe2, 0x9b, 0x6b, 0x6c, 0x67, 0xa4, 0x9e,
};

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL, X509_CRL_free);

static int
missing(struct attest_failure *failure, const char *item)
{
    return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -ENOENT, "collateral missing: %s",
                              item);
}

/* The intersection of the validity windows of a chain's certificates. */
static int
chain_window(const struct x509_chain *chain, int64_t *ret_from, int64_t *ret_until)
{
    int64_t from = INT64_MIN, until = INT64_MAX;

    for (size_t i = 0; i < chain->count; i++) {
        int64_t a, b;

        if (x509_validity(chain->certs[i], &a, &b) < 0)
            return -EBADMSG;
        from = a > from ? a : from;
        until = b < until ? b : until;
    }
    *ret_from = from;
    *ret_until = until;
    return 0;
}

/* Reads and checks an issuer chain (signer first, root last); returns the signer's key. */
static int
issuer_chain(const struct attest_bytes *pem, const uint8_t pin[32], const char *item,
             struct x509_chain *ret, int64_t *ret_from, int64_t *ret_until,
             struct attest_failure *failure)
{
    int r;

    if (!pem->data || pem->size == 0)
        return missing(failure, item);
    if (pem->size > ATTEST_INTEL_COLLATERAL_MAX)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -E2BIG, "%s: too large", item);
    r = x509_chain_read_pem(pem->data, pem->size, ret);
    if (r < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, r,
                                  "%s: not a PEM certificate chain", item);
    r = x509_chain_check(ret, pin, item, failure);
    if (r >= 0 && chain_window(ret, ret_from, ret_until) < 0)
        r = attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                               "%s: unreadable validity dates", item);
    if (r < 0)
        x509_chain_clear(ret);
    return r;
}

static int
load_tcb_info(struct attest_intel_collateral *c, const struct attest_intel_collateral_files *f,
              struct attest_failure *failure)
{
    struct x509_chain chain = { 0 };
    int r;

    if (!f->tcb_info.data || f->tcb_info.size == 0)
        return missing(failure, "tcb_info");
    r = issuer_chain(&f->tcb_info_issuer_chain, c->pin, "tcb_info_issuer_chain", &chain,
                     &c->tcb_chain_from, &c->tcb_chain_until, failure);
    if (r < 0)
        return r;
    r = intel_tcb_info_parse(f->tcb_info.data, f->tcb_info.size, X509_get0_pubkey(chain.certs[0]),
                             &c->tcb_info, failure);
    x509_chain_clear(&chain);
    return r;
}

static int
load_qe_identity(struct attest_intel_collateral *c, const struct attest_intel_collateral_files *f,
                 struct attest_failure *failure)
{
    struct x509_chain chain = { 0 };
    int r;

    if (!f->qe_identity.data || f->qe_identity.size == 0)
        return missing(failure, "qe_identity");
    r = issuer_chain(&f->qe_identity_issuer_chain, c->pin, "qe_identity_issuer_chain", &chain,
                     &c->qe_chain_from, &c->qe_chain_until, failure);
    if (r < 0)
        return r;
    r = intel_qe_identity_parse(f->qe_identity.data, f->qe_identity.size,
                                X509_get0_pubkey(chain.certs[0]), &c->qe_identity, failure);
    x509_chain_clear(&chain);
    return r;
}

/* Reads a CRL and checks its signature by issuer; returns its window. */
static int
load_crl(const struct attest_bytes *bytes, X509 *issuer, const char *item, X509_CRL **ret,
         int64_t *ret_from, int64_t *ret_until, struct attest_failure *failure)
{
    _cleanup_(X509_CRL_freep) X509_CRL *crl = NULL;
    bool ok;

    if (bytes->size > ATTEST_INTEL_COLLATERAL_MAX)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -E2BIG, "%s: too large", item);
    if (x509_crl_read_any(bytes->data, bytes->size, &crl) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "%s: not a CRL (DER or PEM)", item);
    if (x509_crl_validity(crl, ret_from, ret_until) < 0)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "%s: no thisUpdate/nextUpdate", item);
    ok = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) == 0 &&
         X509_CRL_verify(crl, X509_get0_pubkey(issuer)) == 1;
    ERR_clear_error();
    if (!ok)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EKEYREJECTED,
                                  "%s: not signed by its issuer", item);
    *ret = TAKE_PTR(crl);
    return 0;
}

/* The root CRL is checked with the pinned root of the PCK CRL's issuer chain; both CRLs come
 * together (Intel publishes them together, and a chain is only checked with both). */
static int
load_crls(struct attest_intel_collateral *c, const struct attest_intel_collateral_files *f,
          struct attest_failure *failure)
{
    struct x509_chain chain = { 0 };
    int64_t chain_from, chain_until;
    bool has_root = f->root_ca_crl.data && f->root_ca_crl.size > 0;
    bool has_pck = f->pck_crl.data && f->pck_crl.size > 0;
    int r;

    if (!has_root && !has_pck)
        return 0;
    if (!has_root)
        return missing(failure, "root_ca_crl");
    if (!has_pck)
        return missing(failure, "pck_crl");
    r = issuer_chain(&f->pck_crl_issuer_chain, c->pin, "pck_crl_issuer_chain", &chain, &chain_from,
                     &chain_until, failure);
    if (r < 0)
        return r;
    if (chain.count < 2) {
        x509_chain_clear(&chain);
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "pck_crl_issuer_chain: expected the PCK CA, then the root");
    }
    r = load_crl(&f->root_ca_crl, chain.certs[chain.count - 1], "root_ca_crl", &c->root_crl,
                 &c->root_crl_from, &c->root_crl_until, failure);
    if (r >= 0)
        r = load_crl(&f->pck_crl, chain.certs[0], "pck_crl", &c->pck_crl, &c->pck_crl_from,
                     &c->pck_crl_until, failure);
    if (r >= 0 && X509_up_ref(chain.certs[0]) == 1) {
        c->pck_crl_issuer = chain.certs[0];
        c->pck_crl_from = chain_from > c->pck_crl_from ? chain_from : c->pck_crl_from;
        c->pck_crl_until = chain_until < c->pck_crl_until ? chain_until : c->pck_crl_until;
    }
    x509_chain_clear(&chain);
    return r;
}

int
attest_intel_collateral_new(const struct attest_intel_collateral_files *files,
                            struct attest_intel_collateral **ret, struct attest_failure *failure)
{
    struct attest_intel_collateral *c;
    int r;

    if (!files || !ret)
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return -ENOMEM;
    }
    memcpy(c->pin, files->root_key_sha256 ? files->root_key_sha256 : attest_intel_root_key_sha256,
           sizeof(c->pin));
    r = load_tcb_info(c, files, failure);
    if (r >= 0)
        r = load_qe_identity(c, files, failure);
    if (r >= 0)
        r = load_crls(c, files, failure);
    if (r < 0) {
        attest_intel_collateral_free(c);
        return r;
    }
    attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
    *ret = c;
    return 0;
}

struct attest_intel_collateral *
attest_intel_collateral_free(struct attest_intel_collateral *c)
{
    if (!c)
        return NULL;
    for (unsigned i = 0; i < c->cache_count; i++) {
        free(c->cache[i].chain);
        intel_pck_release(&c->cache[i]);
    }
    intel_tcb_info_free(c->tcb_info);
    intel_qe_identity_free(c->qe_identity);
    X509_CRL_free(c->root_crl);
    X509_CRL_free(c->pck_crl);
    X509_free(c->pck_crl_issuer);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

void
attest_intel_collateral_get_info(const struct attest_intel_collateral *c,
                                 struct attest_intel_collateral_info *ret)
{
    int64_t until = c->tcb_info->next_update;

    *ret = (struct attest_intel_collateral_info){
        .tdx = c->tcb_info->tdx,
        .tcb_evaluation_data_number = c->tcb_info->tcb_evaluation_data_number,
        .tcb_info_issued = c->tcb_info->issue_date,
        .tcb_info_next_update = c->tcb_info->next_update,
        .qe_identity_issued = c->qe_identity->issue_date,
        .qe_identity_next_update = c->qe_identity->next_update,
        .has_crls = c->pck_crl != NULL,
    };
    memcpy(ret->fmspc, c->tcb_info->fmspc, sizeof(ret->fmspc));
    memcpy(ret->pce_id, c->tcb_info->pce_id, sizeof(ret->pce_id));
    until = c->qe_identity->next_update < until ? c->qe_identity->next_update : until;
    until = c->tcb_chain_until < until ? c->tcb_chain_until : until;
    until = c->qe_chain_until < until ? c->qe_chain_until : until;
    if (c->pck_crl) {
        until = c->root_crl_until < until ? c->root_crl_until : until;
        until = c->pck_crl_until < until ? c->pck_crl_until : until;
    }
    ret->not_after = until;
}

/* Revocation of the quote's chain: the PCK CA by the root CRL, the leaf by the PCK CRL, which
 * must be the CRL of the CA that issued this leaf (Processor or Platform CA). */
static int
check_revocation(const struct attest_intel_collateral *c, const struct x509_chain *chain,
                 struct attest_failure *failure)
{
    X509 *leaf = chain->certs[0], *ca = chain->certs[1];

    if (!c->pck_crl)
        return 0;
    if (X509_NAME_cmp(X509_get_subject_name(ca), X509_get_subject_name(c->pck_crl_issuer)) != 0 ||
        EVP_PKEY_eq(X509_get0_pubkey(ca), X509_get0_pubkey(c->pck_crl_issuer)) != 1)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EPERM,
                                  "pck_crl is not the CRL of the CA that issued the quote's PCK "
                                  "certificate (Processor vs Platform CA)");
    if (x509_crl_lists(c->root_crl, ca))
        return attest_failure_set(failure, ATTEST_STEP_REVOCATION, -EKEYREVOKED,
                                  "the PCK CA certificate is revoked by root_ca_crl");
    if (x509_crl_lists(c->pck_crl, leaf))
        return attest_failure_set(failure, ATTEST_STEP_REVOCATION, -EKEYREVOKED,
                                  "the PCK certificate is revoked by pck_crl");
    return 0;
}

/* Parses and checks a PCK chain from a quote: leaf, PCK CA, root pinned. */
static int
check_pck_chain(const struct attest_intel_collateral *c, const void *pem, size_t size,
                struct intel_pck *ret, struct attest_failure *failure)
{
    struct x509_chain chain = { 0 };
    int r = x509_chain_read_pem(pem, size, &chain);

    if (r < 0)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "the quote's PCK certificate chain is not PEM certificates");
    if (chain.count != 3)
        r = attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EBADMSG,
                               "the quote's PCK chain has %zu certificates, expected 3 (PCK, "
                               "PCK CA, root)",
                               chain.count);
    if (r >= 0)
        r = x509_chain_check(&chain, c->pin, "PCK chain", failure);
    if (r >= 0 && chain_window(&chain, &ret->valid_from, &ret->valid_until) < 0)
        r = attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EBADMSG,
                               "PCK chain: unreadable validity dates");
    if (r >= 0) {
        r = pck_extensions_from_cert(chain.certs[0], &ret->extensions, failure);
        if (r == -ENOENT)
            r = attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EBADMSG,
                                   "the PCK certificate has no SGX extensions");
    }
    if (r >= 0)
        r = check_revocation(c, &chain, failure);
    if (r >= 0) {
        ret->leaf_key = X509_get_pubkey(chain.certs[0]);
        if (!ret->leaf_key)
            r = -ENOMEM;
    }
    x509_chain_clear(&chain);
    return r;
}

void
intel_pck_release(struct intel_pck *pck)
{
    EVP_PKEY_free(pck->leaf_key);
    EVP_PKEY_free(pck->ak_key);
    pck->leaf_key = pck->ak_key = NULL;
}

/* The key of ak, or NULL when it is not a P-256 point. */
static EVP_PKEY *
attestation_key(const uint8_t ak[64])
{
    EVP_PKEY *key = NULL;

    return x509_p256_key_from_raw(ak, &key) < 0 ? NULL : key;
}

/* A copy of entry for a caller: its own key references, no chain. Called under the lock. */
static bool
entry_copy(const struct intel_pck *entry, struct intel_pck *ret)
{
    if (EVP_PKEY_up_ref(entry->leaf_key) != 1)
        return false;
    if (entry->ak_key && EVP_PKEY_up_ref(entry->ak_key) != 1) {
        EVP_PKEY_free(entry->leaf_key);
        return false;
    }
    *ret = *entry;
    ret->chain = NULL;
    return true;
}

/* Compares the PEM bytes themselves: cheaper than hashing them, and no collisions to reason
 * about. A hit with another attestation key (the QE restarted) gets that key made and kept. */
static bool
cache_find(struct attest_intel_collateral *c, const void *pem, size_t size, const uint8_t ak[64],
           struct intel_pck *ret)
{
    bool found = false;

    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->cache_count && !found; i++) {
        struct intel_pck *entry = &c->cache[i];

        if (entry->chain_size != size || memcmp(entry->chain, pem, size) != 0)
            continue;
        if (memcmp(entry->ak, ak, sizeof(entry->ak)) != 0) {
            EVP_PKEY_free(entry->ak_key);
            entry->ak_key = attestation_key(ak);
            memcpy(entry->ak, ak, sizeof(entry->ak));
        }
        found = entry_copy(entry, ret);
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Keeps pck (its chain copied, its keys referenced once more) in the cache. */
static void
cache_add(struct attest_intel_collateral *c, const struct intel_pck *pck, const void *pem,
          size_t size)
{
    struct intel_pck entry;

    if (!entry_copy(pck, &entry))
        return;
    entry.chain = malloc(size);
    if (!entry.chain) {
        intel_pck_release(&entry);
        return;
    }
    memcpy(entry.chain, pem, size);
    entry.chain_size = size;
    pthread_mutex_lock(&c->lock);
    if (c->cache_count < INTEL_PCK_CACHE_SIZE) {
        c->cache[c->cache_count++] = entry;
    } else {
        struct intel_pck *slot = &c->cache[c->cache_next];

        c->cache_next = (c->cache_next + 1) % INTEL_PCK_CACHE_SIZE;
        free(slot->chain);
        intel_pck_release(slot);
        *slot = entry;
    }
    pthread_mutex_unlock(&c->lock);
}

int
intel_collateral_pck(const struct attest_intel_collateral *collateral, const void *pem, size_t size,
                     const uint8_t ak[64], struct intel_pck *ret, struct attest_failure *failure)
{
    /* The cache is the one mutable part of collateral (see intel.h); the lock guards it. */
    struct attest_intel_collateral *c = (struct attest_intel_collateral *)collateral;
    struct intel_pck pck = { 0 };
    int r;

    if (cache_find(c, pem, size, ak, ret))
        return 0;
    r = check_pck_chain(c, pem, size, &pck, failure);
    if (r < 0)
        return r;
    memcpy(pck.ak, ak, sizeof(pck.ak));
    pck.ak_key = attestation_key(ak);
    cache_add(c, &pck, pem, size);
    *ret = pck;
    return 0;
}
