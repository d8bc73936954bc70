/* /v1/zones: the selected account's zones, their CA chain and CRL, and join tokens
 * (docs/nodes.md, docs/api.md "Zones"). The CA's private keys never reach a worker: zones are
 * created and CRLs signed by the CA process over r->ctx->ca_fd (ca-process.h). */
#include "api-zones.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca-process.h"
#include "ca-x509.h"
#include "crypto-util.h"
#include "routes.h"
#include "store-zones.h"

#define JOIN_TOKEN_BYTES 32
#define JOIN_TOKEN_TTL_DEFAULT 600
#define JOIN_TOKEN_TTL_MIN 60
#define JOIN_TOKEN_TTL_MAX (30LL * 86400)
#define JOIN_TOKEN_USES_DEFAULT 1
#define JOIN_TOKEN_USES_MAX 1000

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL, X509_CRL_free);

int
api_zone_create_default(struct api_request *r, const char *acct_id,
                        const struct account_settings *settings)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *sealed = NULL;
    struct ca_error error = { "" };
    char zone_id[37], trust_domain[sizeof(zone_id) + sizeof(ZONE_TRUST_DOMAIN_SUFFIX)];
    int err;

    err = uuid_random(zone_id);
    if (err < 0)
        return err;
    /* P-256: node and app certificates are issued on the hot path, and a P-256 signature costs
     * a fraction of a P-384 one (docs/nodes.md). */
    err = ca_client_create_zone(r->ctx->ca_fd, zone_id, ZONE_DEFAULT_NAME, CA_KEY_P256, &error,
                                &sealed);
    if (err < 0)
        return err;
    snprintf(trust_domain, sizeof(trust_domain), "%s" ZONE_TRUST_DOMAIN_SUFFIX, zone_id);
    return store_zone_insert(r->store, &(struct zone_new){
                                           .zone_id = zone_id,
                                           .acct_id = acct_id,
                                           .name = ZONE_DEFAULT_NAME,
                                           .trust_domain = trust_domain,
                                           .key_type = "P-256",
                                           .sealed = sealed,
                                           .node_refresh_interval = settings->node_refresh_interval,
                                           .node_renewal_threshold = settings->renewal_threshold,
                                           .now = api_now(r),
                                       });
}

static int
zones_list(struct api_request *r)
{
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_zone_sorts, "created_at", false, &p);
    if (err >= 0)
        err = store_zone_list(r->store, r->acct_id, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

static int
zones_get(struct api_request *r)
{
    json_t *zone = NULL;
    int err = api_path_uuid(r, 0, "zone");

    if (err >= 0)
        err = api_store_error(r, store_zone_get(r->store, r->acct_id, r->params[0], &zone), "zone");
    if (err < 0)
        return err;
    return api_reply(r, 200, zone);
}

/* The path's zone of the selected account; 404 for a bad id or another account's zone. */
static int
zone_load(struct api_request *r, struct zone_info *ret_info)
{
    int err = api_path_uuid(r, 0, "zone");

    if (err >= 0)
        err = store_zone_info(r->store, r->acct_id, r->params[0], ret_info);
    return api_store_error(r, err, "zone");
}

/* The chain relying parties install: issuing CA then root, PEM. */
static int
zones_ca(struct api_request *r)
{
    _cleanup_(zone_info_release) struct zone_info zone = { .trust_domain = NULL };
    _cleanup_free_ char *chain = NULL;
    int err;

    err = zone_load(r, &zone);
    if (err < 0)
        return err;
    if (asprintf(&chain, "%s%s", zone.issuing_cert_pem, zone.root_cert_pem) < 0)
        return -ENOMEM;
    return api_reply_text(r, 200, "application/x-pem-file", chain);
}

/* Sends a binary body now, with the headers the router's replies carry (api_reply_text stops at
 * a NUL); the router sees a streamed reply. */
static int
reply_binary(struct api_request *r, const char *content_type, const void *data, size_t len)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(r->http);
    struct evbuffer *out = evbuffer_new();

    if (!out)
        return -ENOMEM;
    if (evbuffer_add(out, data, len) < 0) {
        evbuffer_free(out);
        return -ENOMEM;
    }
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(headers, "Strict-Transport-Security", "max-age=31536000");
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_send_reply(r->http, 200, "OK", out);
    evbuffer_free(out);
    r->status = 200;
    r->streamed = true;
    return 0;
}

static int
crl_pem_to_der(const char *pem, unsigned char **ret_der, int *ret_len)
{
    _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(pem, -1);
    _cleanup_(X509_CRL_freep) X509_CRL *crl = NULL;
    unsigned char *der = NULL;
    int len;

    if (!bio)
        return -ENOMEM;
    crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (!crl)
        return -EBADMSG;
    len = i2d_X509_CRL(crl, &der);
    if (len <= 0)
        return -EIO;
    *ret_der = der;
    *ret_len = len;
    return 0;
}

/* The zone's current CRL, signed now by the CA process from the store's revocations. */
static int
zones_crl(struct api_request *r)
{
    static const char *const formats[] = { "der", "pem", NULL };
    _cleanup_(zone_info_release) struct zone_info zone = { .trust_domain = NULL };
    _cleanup_free_ char *pem = NULL;
    struct ca_error error = { "" };
    const char *format;
    unsigned char *der = NULL;
    int err, len = 0;

    err = api_query_enum(r, "format", formats, &format);
    if (err >= 0)
        err = zone_load(r, &zone);
    if (err >= 0)
        err = ca_client_crl(r->ctx->ca_fd, zone.zone_id, &error, &pem);
    if (err < 0)
        return err;
    if (format && strcmp(format, "pem") == 0)
        return api_reply_text(r, 200, "application/x-pem-file", pem);
    err = crl_pem_to_der(pem, &der, &len);
    if (err < 0)
        return err;
    err = reply_binary(r, "application/pkix-crl", der, (size_t)len);
    OPENSSL_free(der);
    return err;
}

/* An integer query parameter within [min, max], default when absent; 400 naming it else. */
static int
query_int(struct api_request *r, const char *key, int64_t min, int64_t max, int64_t fallback,
          const char *unit, int64_t *ret_value)
{
    const char *text = api_query(r, key);
    char *end;
    long long v;

    if (!text) {
        *ret_value = fallback;
        return 0;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return api_error(r, 400, "BAD_REQUEST", "%s: must be an integer from %lld to %lld%s", key,
                         (long long)min, (long long)max, unit);
    *ret_value = v;
    return 0;
}

/* Mints a join token. Only its SHA-256 is stored; the token itself is in this reply only. */
static int
zones_token(struct api_request *r)
{
    _cleanup_(zone_info_release) struct zone_info zone = { .trust_domain = NULL };
    uint8_t raw[JOIN_TOKEN_BYTES];
    char hash[SHA256_HEX_LEN + 1], expires_at[32];
    char *token = NULL;
    int64_t ttl = 0, uses = 0, now_ms = 0;
    json_t *answer;
    int err;

    err = query_int(r, "ttl", JOIN_TOKEN_TTL_MIN, JOIN_TOKEN_TTL_MAX, JOIN_TOKEN_TTL_DEFAULT,
                    " (seconds)", &ttl);
    if (err >= 0)
        err = query_int(r, "uses", 1, JOIN_TOKEN_USES_MAX, JOIN_TOKEN_USES_DEFAULT, "", &uses);
    if (err >= 0)
        err = zone_load(r, &zone);
    if (err >= 0)
        err = time_parse_rfc3339(api_now(r), &now_ms);
    if (err >= 0)
        err = crypto_random(raw, sizeof(raw));
    if (err >= 0)
        err = base64url_encode(raw, sizeof(raw), &token);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (err < 0)
        return err;
    sha256_hex(token, strlen(token), hash);
    time_format_rfc3339(now_ms + ttl * 1000, expires_at);
    err = store_join_token_insert(r->store, &(struct join_token_new){
                                                .token_hash = hash,
                                                .zone_id = zone.zone_id,
                                                .acct_id = r->acct_id,
                                                .uses = uses,
                                                .expires_ms = now_ms + ttl * 1000,
                                                .created_by = r->user_id,
                                                .now = api_now(r),
                                            });
    if (err >= 0)
        err = api_audit(r, "ADMIN", "INFO", "zone", zone.zone_id,
                        "Join token created for zone %s: %lld use(s), expires %s", zone.zone_id,
                        (long long)uses, expires_at);
    if (err < 0) {
        OPENSSL_clear_free(token, strlen(token));
        return err;
    }
    answer = json_pack("{s:s, s:s, s:s, s:I}", "token", token, "zone_id", zone.zone_id,
                       "expires_at", expires_at, "uses", (json_int_t)uses);
    OPENSSL_clear_free(token, strlen(token));
    if (!answer)
        return -ENOMEM;
    return api_reply(r, 200, answer);
}

const struct route api_zones_routes[] = {
    { EVHTTP_REQ_GET, "/v1/zones", AUTH_ACCOUNT, ROLE_READER, false, zones_list, "zones_list" },
    { EVHTTP_REQ_GET, "/v1/zones/{}", AUTH_ACCOUNT, ROLE_READER, false, zones_get, "zones_get" },
    { EVHTTP_REQ_GET, "/v1/zones/{}/ca", AUTH_ACCOUNT, ROLE_READER, false, zones_ca, "zones_ca" },
    { EVHTTP_REQ_GET, "/v1/zones/{}/crl", AUTH_ACCOUNT, ROLE_READER, false, zones_crl,
      "zones_crl" },
    /* A GET that writes (the token row): a write route, audited. */
    { EVHTTP_REQ_GET, "/v1/zones/{}/token", AUTH_ACCOUNT, ROLE_WRITER, true, zones_token,
      "zones_token" },
    { .pattern = NULL },
};
