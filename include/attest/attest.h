/* libattest: attestation evidence, verification and binding for Cloister (SPEC 6).
 *
 * Link with `pkg-config --cflags --libs attest`. Everything here is thread-safe: no global or
 * static mutable state; see claims.h for the error convention. */
#pragma once

#include <attest/claims.h>
#include <attest/evidence.h>
#include <attest/sim.h>
#include <attest/binding.h>
#include <attest/ratls.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_VERSION_MAJOR 0
#define ATTEST_VERSION_MINOR 1

/* The library's version string ("0.1.0"), for diagnostics. */
ATTEST_EXPORT const char *attest_version(void);

#ifdef __cplusplus
}
#endif
