/* Certificate revocation lists of a zone's issuing CA (RFC 5280 section 5).
 *
 * The store keeps which certificates are revoked; the CA process turns that list into a signed
 * CRL on request (GET /v1/zones/{id}/crl), so the issuing key never leaves it. A CRL carries the
 * zone's CRL number (monotonic: the store increments it with each revocation), thisUpdate = now
 * and nextUpdate = now + validity. Errors: -EINVAL (bad serial, count or validity), -ENOMEM,
 * -EIO (OpenSSL failed). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ca-keys.h"
#include "ca-x509.h"

#define CA_CRL_ENTRIES_MAX 100000
#define CA_CRL_VALIDITY_DEFAULT (24LL * 3600)

struct ca_revoked {
    char serial_hex[CA_SERIAL_HEX_LEN + 1]; /* lower-case hex */
    int64_t revoked_at;                     /* seconds since the epoch */
};

/* Signs a CRL listing revoked[0..n) with ca's issuing key; *ret_pem is the caller's. */
int ca_make_crl(const struct zone_ca *ca, int64_t crl_number, const struct ca_revoked *revoked,
                size_t n, int64_t now, int64_t validity, char **ret_pem);
