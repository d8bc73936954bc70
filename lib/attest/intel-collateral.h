/* libattest internals: parsed Intel collateral (struct attest_intel_collateral of intel.h) and
 * its cache of verified PCK chains. Not installed. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/x509.h>

#include <attest/intel.h>

#include "intel-tcb.h"
#include "pck-extensions.h"

/* PCK chains recently verified against this collateral (chain and CRL checks are the same every
 * time for one platform; only the validity windows depend on the verification time). */
#define INTEL_PCK_CACHE_SIZE 32u

struct intel_pck {
    uint8_t *chain; /* the PEM bytes of the quote (owned by the cache entry; NULL in copies) */
    size_t chain_size;
    EVP_PKEY *leaf_key;
    struct pck_extensions extensions;
    int64_t valid_from, valid_until; /* the intersection of the chain's validity windows */
    /* The attestation key last seen with this chain (a QE keeps one until the platform
     * restarts), made once: making a key from a point costs a tenth of a verification. */
    uint8_t ak[64];
    EVP_PKEY *ak_key; /* NULL: not a P-256 point */
};

struct attest_intel_collateral {
    uint8_t pin[32];
    struct intel_tcb_info *tcb_info;
    struct intel_qe_identity *qe_identity;
    int64_t tcb_chain_from, tcb_chain_until;
    int64_t qe_chain_from, qe_chain_until;
    X509_CRL *root_crl; /* NULL when not given */
    int64_t root_crl_from, root_crl_until;
    X509_CRL *pck_crl;                   /* NULL when not given */
    X509 *pck_crl_issuer;                /* the PCK CA that signed pck_crl */
    int64_t pck_crl_from, pck_crl_until; /* the CRL's and its issuer chain's windows */
    pthread_mutex_t lock;                /* guards the cache below */
    unsigned cache_next;                 /* round-robin replacement */
    unsigned cache_count;
    struct intel_pck cache[INTEL_PCK_CACHE_SIZE];
};

/* Looks up the quote's PCK chain; on a miss parses and checks it (chain to the pin, leaf
 * extensions, CRLs where given) and caches it, with the key of the attestation key ak (64 bytes,
 * x ‖ y). *ret is a copy whose leaf_key and ak_key hold their own references: the caller frees
 * them with intel_pck_release. ak_key is NULL when ak is not a P-256 point (the caller fails the
 * quote signature). */
int intel_collateral_pck(const struct attest_intel_collateral *collateral, const void *pem,
                         size_t size, const uint8_t ak[64], struct intel_pck *ret,
                         struct attest_failure *failure);

/* Frees the keys of a copy returned by intel_collateral_pck. */
void intel_pck_release(struct intel_pck *pck);
