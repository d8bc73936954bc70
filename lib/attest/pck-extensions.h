/* libattest internals: the Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1),
 * as Intel's "SGX PCK Certificate and CRL Profile" defines them. Not installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include <attest/claims.h>

/* Bytes of the extension's DER we read: Intel's are about 600; anything near this is not one. */
#define PCK_EXTENSIONS_DER_MAX 4096u

struct pck_extensions {
    uint8_t ppid[16];
    uint8_t tcb_components[16]; /* SGX TCB comp01..comp16 SVNs (OIDs …13.1.2.1 – .2.16) */
    uint16_t pcesvn;            /* …13.1.2.17 */
    uint8_t cpusvn[16];         /* …13.1.2.18 */
    uint8_t pce_id[2];          /* …13.1.3 */
    uint8_t fmspc[6];           /* …13.1.4 */
    unsigned sgx_type;          /* …13.1.5: 0 Standard, 1 Scalable, 2 Scalable with integrity */
    bool has_platform_instance_id; /* …13.1.6, Platform CA certificates only */
    uint8_t platform_instance_id[16];
    bool has_configuration; /* …13.1.7, Platform CA certificates only */
    bool dynamic_platform, cached_keys, smt_enabled;
};

/* Parses the DER of the extension's value (the SEQUENCE inside the OCTET STRING). Every
 * mandatory member must be present exactly once with the right type and size; unknown members
 * are refused. PlatformInstanceID and Configuration come together or not at all (Intel QVL: 5 or
 * 7 members), and Configuration holds all three of its booleans. DER is read strictly: minimal
 * lengths and integers, BOOLEAN 00/FF, nothing after the outer SEQUENCE, at most
 * PCK_EXTENSIONS_DER_MAX bytes. -EBADMSG with failure (ATTEST_STEP_CERT_CHAIN, naming the member)
 * otherwise. */
int pck_extensions_parse(const uint8_t *der, size_t size, struct pck_extensions *ret,
                         struct attest_failure *failure);

/* Finds the extension in cert and parses it. -ENOENT when the certificate has none, -EBADMSG
 * when it has two (failure set either way, ATTEST_STEP_CERT_CHAIN). */
int pck_extensions_from_cert(X509 *cert, struct pck_extensions *ret,
                             struct attest_failure *failure);
