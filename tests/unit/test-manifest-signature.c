/* Manifest signatures (src/init/manifest-signature.c): what cloister-init accepts as signed,
 * unsigned, or refuses, with EC, RSA and Ed25519 keys, and every way the two files can disagree with
 * the manifest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "json-writer.h"
#include "manifest-signature.h"
#include "test.h"

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

/* A small valid manifest whose "signer" is signer_hex and app.isvsvn isvsvn. */
static struct manifest *
manifest_with(const char *signer_hex, unsigned isvsvn)
{
    static const char entries[] =
        "[{\"gid\":0,\"mode\":493,\"path\":\"/bin\",\"size\":0,\"type\":\"dir\",\"uid\":0}]";
    struct jread_value *v = NULL;
    struct manifest *m = NULL;
    struct jwbuf b = { 0 };
    const char *error = NULL;
    uint8_t digest[32];
    char hex[65];

    CHECK_EQ_INT(jread_parse(entries, strlen(entries), 1024, &v, NULL), 0);
    CHECK_EQ_INT(manifest_tree_digest(v, digest), 0);
    jread_free(v);
    manifest_hex(digest, 32, hex);
    jwbuf_printf(&b,
                 "{\"version\":1,\"tree\":{\"digest\":\"%s\",\"check\":\"full\",\"entries\":%s},"
                 "\"image\":{\"entrypoint\":[\"/bin/app\"],\"cmd\":[],\"env\":[],"
                 "\"workdir\":\"/\",\"user\":\"0:0\"},"
                 "\"app\":{\"mem_size\":268435456,\"threads\":4,\"isvprodid\":1,\"isvsvn\":%u,"
                 "\"certificate\":{\"subject\":\"app.example.com\",\"key_type\":\"EC\","
                 "\"key_path\":\"/tls/key.pem\",\"cert_path\":\"/tls/cert.pem\"}},"
                 "\"signer\":\"%s\"}",
                 hex, entries, isvsvn, signer_hex);
    CHECK_EQ_INT(b.error, 0);
    if (manifest_parse(b.data, b.size, &m, &error) < 0)
        fprintf(stderr, "  manifest_parse: %s\n", error ? error : "?");
    CHECK(m);
    jwbuf_release(&b);
    return m;
}

/* The key's public half as PEM (malloc'd). */
static char *
public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *copy;
    long n;

    CHECK(bio && PEM_write_bio_PUBKEY(bio, key) == 1);
    n = BIO_get_mem_data(bio, &data);
    copy = strndup(data, (size_t)n);
    BIO_free(bio);
    CHECK(copy);
    return copy;
}

/* A manifest signed by key: its signer names key, and *ret_sig is the signature. */
static struct manifest *
signed_manifest(EVP_PKEY *key, unsigned char **ret_sig, size_t *ret_size)
{
    uint8_t signer[32];
    char hex[65];
    struct manifest *m;

    CHECK_EQ_INT(manifest_key_signer(key, signer), 0);
    manifest_hex(signer, 32, hex);
    m = manifest_with(hex, 1);
    CHECK_EQ_INT(manifest_sign(m, key, ret_sig, ret_size), 0);
    return m;
}

static enum manifest_signature_state
check(const struct manifest *m, const char *pem, const void *sig, size_t sig_size,
      const char **problem)
{
    *problem = NULL;
    return manifest_signature_check(m, pem, pem ? strlen(pem) : 0, sig, sig_size, problem);
}

TEST(test_unsigned)
{
    struct manifest *m = manifest_with(ZERO64, 1);
    const char *problem;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    char *pem = public_pem(key);

    CHECK_EQ_INT(check(m, NULL, NULL, 0, &problem), MANIFEST_UNSIGNED);
    CHECK(problem == NULL);
    /* Files that a zero signer does not name are refused, not ignored. */
    CHECK_EQ_INT(check(m, pem, "x", 1, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "all zeros"));
    manifest_free(m);
    free(pem);
    EVP_PKEY_free(key);
}

static void
check_signed_with(EVP_PKEY *key)
{
    EVP_PKEY *other = EVP_EC_gen("P-256");
    unsigned char *sig = NULL;
    size_t sig_size = 0;
    struct manifest *m = signed_manifest(key, &sig, &sig_size);
    char *pem = public_pem(key), *other_pem = public_pem(other);
    const char *problem;

    CHECK_EQ_INT(check(m, pem, sig, sig_size, &problem), MANIFEST_SIGNED);
    CHECK(problem == NULL);

    CHECK_EQ_INT(check(m, NULL, sig, sig_size, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "signer.pem is missing"));
    CHECK_EQ_INT(check(m, pem, NULL, 0, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "manifest.sig is missing"));
    CHECK_EQ_INT(check(m, "not a key", sig, sig_size, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "not a PEM public key"));
    /* Another key: it is not the one the signer names (even with its own valid signature). */
    CHECK_EQ_INT(check(m, other_pem, sig, sig_size, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "not the key"));
    /* One bit of the signature changed. */
    sig[sig_size / 2] ^= 0x01;
    CHECK_EQ_INT(check(m, pem, sig, sig_size, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "does not verify"));
    sig[sig_size / 2] ^= 0x01;
    CHECK_EQ_INT(check(m, pem, sig, MANIFEST_SIGNATURE_MAX + 1, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK_EQ_INT(check(m, pem, sig, 0, &problem), MANIFEST_BAD_SIGNATURE);

    OPENSSL_free(sig);
    manifest_free(m);
    free(pem);
    free(other_pem);
    EVP_PKEY_free(other);
}

TEST(test_signed_ec)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    CHECK(key);
    check_signed_with(key);
    EVP_PKEY_free(key);
}

TEST(test_signed_rsa)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);

    CHECK(key);
    check_signed_with(key);
    EVP_PKEY_free(key);
}

/* Ed25519 (the manager's account keys): deterministic, so a conversion is reproducible. */
TEST(test_signed_ed25519)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char *sig_a = NULL, *sig_b = NULL;
    size_t size_a = 0, size_b = 0;
    struct manifest *m;

    CHECK(key);
    check_signed_with(key);
    m = signed_manifest(key, &sig_a, &size_a);
    CHECK_EQ_INT(manifest_sign(m, key, &sig_b, &size_b), 0);
    CHECK(size_a == 64 && size_b == 64 && memcmp(sig_a, sig_b, 64) == 0);
    OPENSSL_free(sig_a);
    OPENSSL_free(sig_b);
    manifest_free(m);
    EVP_PKEY_free(key);
}

/* A signature is over the manifest without "signer": it verifies for that manifest however it
 * is spelled, and not for a manifest that differs in anything else (here isvsvn). */
TEST(test_signature_bound_to_manifest)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    unsigned char *sig_a = NULL, *sig_b = NULL;
    size_t size_a = 0, size_b = 0;
    struct manifest *a = signed_manifest(key, &sig_a, &size_a), *same, *b;
    char *pem = public_pem(key);
    const char *problem;
    char hex[65];

    manifest_hex(a->signer, 32, hex);
    same = manifest_with(hex, 1);
    b = manifest_with(hex, 2);
    CHECK_EQ_INT(check(same, pem, sig_a, size_a, &problem), MANIFEST_SIGNED);
    CHECK_EQ_INT(check(b, pem, sig_a, size_a, &problem), MANIFEST_BAD_SIGNATURE);
    CHECK(strstr(problem, "does not verify"));
    CHECK_EQ_INT(manifest_sign(b, key, &sig_b, &size_b), 0);
    CHECK_EQ_INT(check(b, pem, sig_b, size_b, &problem), MANIFEST_SIGNED);

    OPENSSL_free(sig_a);
    OPENSSL_free(sig_b);
    manifest_free(a);
    manifest_free(same);
    manifest_free(b);
    free(pem);
    EVP_PKEY_free(key);
}

TEST_MAIN(TEST_CASE(test_unsigned), TEST_CASE(test_signed_ec), TEST_CASE(test_signed_rsa),
          TEST_CASE(test_signed_ed25519), TEST_CASE(test_signature_bound_to_manifest))
