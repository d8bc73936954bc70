/* libattest: attested TLS (RA-TLS, SPEC 6.4): self-signed X.509 certificates that carry evidence
 * bound to the certificate's key, their verification, and an OpenSSL hook that accepts a peer
 * only when its certificate's evidence verifies (docs/ratls.md).
 *
 * The evidence travels in the TCG DICE tagged-evidence extension (OID 2.23.133.5.4.9,
 * non-critical) as the interoperable RA-TLS convention does: the extension's OCTET STRING holds
 * CBOR, one tag (naming the evidence format) wrapping one byte string (the evidence bytes).
 *
 * Binding (report_data of the evidence, 64 bytes):
 *   without a nonce: report_data[0..32) = SHA-256(DER SubjectPublicKeyInfo of the TLS key)
 *   with a nonce:    report_data[0..32) = SHA-256(nonce || SHA-256(DER SPKI of the TLS key))
 *                    (attest_report_data_compute of binding.h, with no manifest digest)
 *   report_data[32..64) = 32 zero bytes in both cases.
 *
 * Link with libssl as well as libcrypto (pkg-config attest pulls both). Thread-safe like the rest
 * of the library; see claims.h for the error convention. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <attest/claims.h>
#include <attest/evidence.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_RATLS_OID "2.23.133.5.4.9" /* tcg-dice-tagged-evidence */

/* CBOR tag of "sim" evidence: a private, unregistered tag ("CLS1" in ASCII) from the
 * first-come-first-served range; no other evidence type has a tag in this version. */
#define ATTEST_RATLS_CBOR_TAG_SIM UINT64_C(0x434c5331)

/* Bounds of a common name (bytes, without the NUL) and of the extension's value. */
#define ATTEST_RATLS_CN_MAX 64u
#define ATTEST_RATLS_EXTENSION_MAX (ATTEST_EVIDENCE_DATA_MAX + 16u)

/* What a new certificate says besides its key and evidence. */
struct attest_ratls_cert_options {
    const char *common_name; /* subject and issuer CN, 1..ATTEST_RATLS_CN_MAX bytes */
    time_t not_before;       /* validity, not_before < not_after */
    time_t not_after;
    const uint8_t *nonce; /* optional (NULL): the verifier's nonce, 1..ATTEST_NONCE_MAX bytes */
    size_t nonce_size;
};

/* Makes evidence whose report_data is report_data (64 bytes, see the top of this file), e.g. by
 * asking the agent for a quote. Returns 0 and a new *ret_evidence (the library frees it), or a
 * negative errno, which attest_ratls_make_cert returns. */
typedef int (*attest_ratls_evidence_fn)(const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
                                        void *userdata, struct attest_evidence **ret_evidence);

/* Called with the claims of verified and bound evidence: the caller's policy (measurement,
 * signer, SVN, debug, simulation allowed...). Returns 0 to accept; a negative errno to refuse. */
typedef int (*attest_ratls_check_fn)(const struct attest_claims *claims, void *userdata);

/* The report_data that evidence in a certificate for key must carry (nonce optional: NULL, 0).
 * -EINVAL (no key, key not encodable, nonce too long), -ENOMEM. */
ATTEST_EXPORT int attest_ratls_report_data(EVP_PKEY *key, const uint8_t *nonce, size_t nonce_size,
                                           uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE]);

/* Makes a self-signed X.509 v3 certificate for key (a private key: EC P-256, or any key OpenSSL
 * signs X.509 with; SHA-256 is used except for Ed25519/Ed448) carrying the evidence that
 * produce returns for attest_ratls_report_data(key, options->nonce): random positive 127-bit
 * serial, subject = issuer = CN, basicConstraints CA:FALSE and keyUsage digitalSignature
 * (critical), the evidence extension (not critical). *ret is the caller's (X509_free).
 * -EINVAL (bad arguments), -EOPNOTSUPP (evidence of a type without a CBOR tag), -E2BIG (evidence
 * too large), -ENOMEM, -EIO (OpenSSL failure), or what produce returned. */
ATTEST_EXPORT int attest_ratls_make_cert(EVP_PKEY *key,
                                         const struct attest_ratls_cert_options *options,
                                         attest_ratls_evidence_fn produce, void *userdata,
                                         X509 **ret);

/* As attest_ratls_make_cert with evidence made beforehand; it must carry
 * attest_ratls_report_data(key, options->nonce), which is not checked here. */
ATTEST_EXPORT int attest_ratls_make_cert_evidence(EVP_PKEY *key,
                                                  const struct attest_ratls_cert_options *options,
                                                  const struct attest_evidence *evidence,
                                                  X509 **ret);

/* The evidence of an RA-TLS certificate, decoded but not verified. ATTEST_STEP_ENVELOPE with
 * -ENODATA (no evidence extension), -EBADMSG (more than one, or CBOR that is not exactly one
 * known tag around one definite byte string of 1..ATTEST_EVIDENCE_DATA_MAX bytes, shortest
 * encodings, nothing after) or -E2BIG; ATTEST_STEP_TYPE with -EPROTONOSUPPORT (unknown tag);
 * -ENOMEM. *ret is the caller's (attest_evidence_free). */
ATTEST_EXPORT int attest_ratls_get_evidence(X509 *cert, struct attest_evidence **ret,
                                            enum attest_step *failed_step);

/* Verifies an RA-TLS certificate, in this order: its signature under its own key (ENVELOPE,
 * -EBADMSG; validity dates are not checked here: the TLS hook does), its evidence extension
 * (as attest_ratls_get_evidence), the evidence (attest_evidence_verify with trust: TYPE, PARSE,
 * VERSION, TRUST, KEY_ID, SIGNATURE), the binding of report_data to the certificate's key and
 * nonce (REPORT_DATA, -EBADMSG; nonce NULL/0 for the variant without a nonce), then check (if
 * not NULL) with the claims. A refusal by check returns its negative errno (-EACCES if it
 * returned a positive value) with *failed_step = ATTEST_STEP_POLICY: every attestation step
 * passed and the policy said no. ret_claims (optional) is written only on success. */
ATTEST_EXPORT int attest_ratls_verify_cert(X509 *cert, const struct attest_trust *trust,
                                           const uint8_t *nonce, size_t nonce_size,
                                           attest_ratls_check_fn check, void *userdata,
                                           struct attest_claims *ret_claims,
                                           enum attest_step *failed_step);

/* Makes ctx require and verify a peer certificate as RA-TLS, without a nonce: a client then
 * accepts a server, and a server a client, only if the leaf certificate sent by the peer is
 * within its validity dates and passes attest_ratls_verify_cert(trust, check, userdata); no CA
 * is consulted and any other certificates the peer sends are ignored. Replaces ctx's certificate
 * verification callback (SSL_CTX_set_cert_verify_callback) and sets SSL_VERIFY_PEER |
 * SSL_VERIFY_FAIL_IF_NO_PEER_CERT. The policy (a reference to trust->sim_key, check, userdata)
 * is kept in ctx's ex_data and released with ctx; userdata must outlive ctx. check may be called
 * from any thread handshaking on ctx. Calling this again replaces the policy (not while
 * handshakes on ctx are running).
 * -EINVAL, -ENOMEM, -EIO. */
ATTEST_EXPORT int attest_ratls_ssl_ctx_set_verify(SSL_CTX *ctx, const struct attest_trust *trust,
                                                  attest_ratls_check_fn check, void *userdata);

/* After a handshake on an SSL_CTX set up by attest_ratls_ssl_ctx_set_verify: the claims of the
 * peer's evidence, verified again from the peer's certificate (and check called again).
 * -ENOTCONN if there is no peer certificate, -EINVAL if ssl's context has no RA-TLS policy,
 * otherwise as attest_ratls_verify_cert. */
ATTEST_EXPORT int attest_ratls_get_peer_claims(SSL *ssl, struct attest_claims *ret_claims,
                                               enum attest_step *failed_step);

#ifdef __cplusplus
}
#endif
