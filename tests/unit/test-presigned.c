/* A certificate signed ahead (src/manager/issuance/presigned.c): handed out only for the profile
 * it was signed for; any field that differs makes it stale. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "presigned.h"
#include "test.h"

static const char *const names[] = { "api.example.com", "www.example.com" };

static const struct ca_claims claims = {
    .measurement = "aa",
    .signer = "bb",
    .isvprodid = 1,
    .isvsvn = 2,
    .platform = "sim",
    .tcb_status = "SimulatedInsecure",
    .node_id = "n-1",
};

static struct ca_profile
profile(void)
{
    return (struct ca_profile){
        .kind = CA_PROFILE_APP,
        .trust_domain = "acct.example",
        .app_name = "web",
        .dns_names = names,
        .n_dns_names = 2,
        .claims = &claims,
        .validity_seconds = 86400,
    };
}

static char *
key_of(const char *zone_id, const struct ca_profile *p, const char *spki_hex)
{
    char *key = NULL;

    CHECK_EQ_INT(presigned_profile_key(zone_id, p, spki_hex, &key), 0);
    return key;
}

static json_t *
signed_for(const char *key)
{
    struct ca_issued issued = {
        .cert_pem = "CERT",
        .chain_pem = "CHAIN",
        .serial_hex = "0102",
        .not_before = 100,
        .not_after = 200,
    };
    json_t *json = NULL;

    CHECK_EQ_INT(presigned_to_json(&issued, key, &json), 0);
    return json;
}

TEST(test_same_profile_gives_the_certificate)
{
    struct ca_profile p = profile();
    char *key = key_of("z-1", &p, "3059");
    json_t *json = signed_for(key);
    struct ca_issued *issued = NULL;

    CHECK_EQ_INT(presigned_from_json(json, key, &issued), 0);
    CHECK_EQ_STR(issued->cert_pem, "CERT");
    CHECK_EQ_STR(issued->chain_pem, "CHAIN");
    CHECK_EQ_STR(issued->serial_hex, "0102");
    CHECK_EQ_INT(issued->not_before, 100);
    CHECK_EQ_INT(issued->not_after, 200);
    ca_issued_free(issued);
    json_decref(json);
    free(key);
}

/* Each input the transaction reads again, changed on its own. */
TEST(test_any_change_is_stale)
{
    static const char *const other_names[] = { "api.example.com" };
    struct ca_profile base = profile(), p;
    struct ca_claims other_claims = claims;
    char *key = key_of("z-1", &base, "3059");
    json_t *json = signed_for(key);
    struct ca_issued *issued = NULL;
    char *other[8];
    size_t n = 0;

    other[n++] = key_of("z-2", &base, "3059");
    other[n++] = key_of("z-1", &base, "3058");
    p = base, p.trust_domain = "other.example", other[n++] = key_of("z-1", &p, "3059");
    p = base, p.app_name = "web2", other[n++] = key_of("z-1", &p, "3059");
    p = base, p.dns_names = other_names, p.n_dns_names = 1, other[n++] = key_of("z-1", &p, "3059");
    p = base, p.validity_seconds = 3600, other[n++] = key_of("z-1", &p, "3059");
    other_claims.isvsvn = 3;
    p = base, p.claims = &other_claims, other[n++] = key_of("z-1", &p, "3059");
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(other[i], key) != 0);
        CHECK_EQ_INT(presigned_from_json(json, other[i], &issued), -ESTALE);
        CHECK(!issued);
        free(other[i]);
    }
    json_decref(json);
    free(key);
}

TEST(test_malformed_is_refused)
{
    struct ca_issued *issued = NULL;
    json_t *json = json_pack("{s:s}", "key", "k");

    CHECK_EQ_INT(presigned_from_json(json, "k", &issued), -EINVAL);
    CHECK_EQ_INT(presigned_from_json(NULL, "k", &issued), -EINVAL);
    CHECK(!issued);
    json_decref(json);
}

TEST_MAIN(TEST_CASE(test_same_profile_gives_the_certificate), TEST_CASE(test_any_change_is_stale),
          TEST_CASE(test_malformed_is_refused))
