/* A certificate signed ahead of the issuance transaction (docs/issuance.md, "Signing ahead").
 *
 * The CA round trip is the slowest step of an issuance, and SQLite has one write lock for the
 * whole database: signing inside the write transaction made every other issuance of every worker
 * wait for the CA process to be scheduled. So the prepare step, when the facts it reads say the
 * request will be allowed, signs first; the transaction then decides again on what it reads under
 * its lock and hands out that certificate only if the profile it would sign now is the same
 * (else it signs again). A certificate signed ahead that the transaction does not use is
 * dropped: it never leaves the worker and is never recorded. */
#pragma once

#include <jansson.h>

#include "ca-issue.h"

/* The text that identifies what a certificate was signed for: the zone, the CSR key and every
 * field of the profile. Caller frees *ret_key. */
int presigned_profile_key(const char *zone_id, const struct ca_profile *profile,
                          const char *spki_hex, char **ret_key);

/* issued with its profile key, as the prepare step hands it to the transaction. */
int presigned_to_json(const struct ca_issued *issued, const char *key, json_t **ret_json);

/* The certificate in json when it was signed for key: 0 and *ret_issued; -ESTALE when it was
 * signed for another profile (the app or the account changed since), -EINVAL when json is not
 * one presigned_to_json made. */
int presigned_from_json(const json_t *json, const char *key, struct ca_issued **ret_issued);
