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
    uint8_t chain_sha256[32]; /* of the PEM bytes in the quote */
    EVP_PKEY *leaf_key;
    struct pck_extensions extensions;
    int64_t valid_from, valid_until; /* the intersection of the chain's validity windows */
};

struct attest_intel_collateral {
    uint8_t pin[32];
    struct intel_tcb_info *tcb_info;
    struct intel_qe_identity *qe_identity;
    int64_t tcb_chain_from, tcb_chain_until;
    int64_t qe_chain_from, qe_chain_until;
    X509_CRL *root_crl; /* NULL when not given */
    int64_t root_crl_from, root_crl_until;
    X509_CRL *pck_crl; /* NULL when not given */
    X509 *pck_crl_issuer; /* the PCK CA that signed pck_crl */
    int64_t pck_crl_from, pck_crl_until; /* the CRL's and its issuer chain's windows */
    pthread_mutex_t lock; /* guards the cache below */
    unsigned cache_next;  /* round-robin replacement */
    unsigned cache_count;
    struct intel_pck cache[INTEL_PCK_CACHE_SIZE];
};

/* Looks up the quote's PCK chain; on a miss parses and checks it (chain to the pin, leaf
 * extensions, CRLs where given) and caches it. *ret is a copy whose leaf_key holds its own reference (the
 * caller frees it with EVP_PKEY_free). */
int intel_collateral_pck(const struct attest_intel_collateral *collateral, const void *pem,
                         size_t size, struct intel_pck *ret,
                         struct attest_failure *failure);
