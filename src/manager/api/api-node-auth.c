/* mTLS for the node API. The TLS layer (tls.c) asks every client for a certificate but accepts
 * any: which CA to trust depends on which node the certificate claims to be, and that needs the
 * store. Here, per request:
 *
 *   1. the certificate names its node in its SPIFFE URI (spiffe://<trust domain>/node/<id>);
 *   2. the node's zone issuing CA must have signed it, and it must be within its validity
 *      (checked once per TLS connection, then remembered on the connection's SSL object);
 *   3. its serial must be an ISSUED, unexpired NODE certificate of that node in the store (so a
 *      revocation takes effect at the next request, even on a kept-alive connection),
 *      and the node must not be deactivated.
 *
 * A certificate from another zone fails step 2: the node it names is in a zone whose CA did not
 * sign it. */
#include "api-node-auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ca-x509.h"
#include "crypto-util.h"
#include "store-certificates.h"
#include "store-nodes.h"

/* What step 2 established for a connection. */
struct node_identity {
    char node_id[37];
    char serial[CA_SERIAL_HEX_LEN + 1];
};

static int identity_index = -1;
static pthread_once_t identity_once = PTHREAD_ONCE_INIT;

static void
identity_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    free(ptr);
}

static void
identity_index_init(void)
{
    identity_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, identity_free);
}

static SSL *
request_ssl(struct api_request *r)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(r->http);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

    return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

/* The node id of a spiffe://<td>/node/<id> URI SAN; -ENOENT when there is none. */
static int
spiffe_node_id(X509 *cert, char out[37])
{
    _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int n = names ? sk_GENERAL_NAME_num(names) : 0;

    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        const char *uri, *id;
        int len;

        if (name->type != GEN_URI)
            continue;
        uri = (const char *)ASN1_STRING_get0_data(name->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(name->d.uniformResourceIdentifier);
        if (len <= 9 || strncmp(uri, "spiffe://", 9) != 0 || memchr(uri, '\0', (size_t)len))
            continue;
        id = strstr(uri + 9, "/node/");
        if (!id || strlen(id + 6) != 36 || !is_uuid(id + 6))
            continue;
        memcpy(out, id + 6, 37);
        return 0;
    }
    return -ENOENT;
}

static int
serial_hex(X509 *cert, char out[CA_SERIAL_HEX_LEN + 1])
{
    _cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex;
    size_t len;

    if (!bn)
        return -ENOMEM;
    hex = BN_bn2hex(bn);
    if (!hex)
        return -ENOMEM;
    len = strlen(hex);
    if (len > CA_SERIAL_HEX_LEN) {
        OPENSSL_free(hex);
        return -EBADMSG;
    }
    /* Zero-padded lower-case hex, as ca_x509_set_random_serial wrote it. */
    memset(out, '0', CA_SERIAL_HEX_LEN - len);
    for (size_t i = 0; i < len; i++)
        out[CA_SERIAL_HEX_LEN - len + i] =
            (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
    out[CA_SERIAL_HEX_LEN] = '\0';
    OPENSSL_free(hex);
    return 0;
}

/* Step 2: the node's zone issuing CA signed cert, and both are within their validity. */
static bool
signed_by_zone(X509 *cert, const char *issuing_pem)
{
    _cleanup_(X509_freep) X509 *issuing = NULL;
    EVP_PKEY *issuing_key;

    if (ca_x509_from_pem(issuing_pem, &issuing) < 0)
        return false;
    issuing_key = X509_get0_pubkey(issuing);
    return issuing_key &&
           X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuing)) == 0 &&
           X509_verify(cert, issuing_key) == 1 &&
           X509_cmp_current_time(X509_get0_notBefore(cert)) < 0 &&
           X509_cmp_current_time(X509_get0_notAfter(cert)) > 0 &&
           X509_cmp_current_time(X509_get0_notAfter(issuing)) > 0;
}

static int
unauthorized(struct api_request *r, const char *why)
{
    return api_error(r, 401, "UN_AUTHORIZED", "node client certificate: %s", why);
}

/* Steps 1 and 2 for a connection not yet checked; remembers the result on ssl. */
static int
identify(struct api_request *r, SSL *ssl, X509 *cert, const char *issuing_pem,
         const struct node_identity *claimed)
{
    struct node_identity *id;

    if (!signed_by_zone(cert, issuing_pem))
        return unauthorized(r, "not issued by the node's zone CA, or expired");
    id = malloc(sizeof(*id));
    if (!id)
        return -ENOMEM;
    *id = *claimed;
    if (SSL_set_ex_data(ssl, identity_index, id) != 1) {
        free(id);
        return -ENOMEM;
    }
    return 0;
}

/* A deactivated node still calling is worth an audit event; the refusal is committed on its own
 * (no request transaction is open yet). */
static int
refuse_deactivated(struct api_request *r, const char *node_id)
{
    int err;

    memcpy(r->node_id, node_id, sizeof(r->node_id));
    err = store_begin(r->store, STORE_TXN_WRITE);
    if (err >= 0)
        err = store_lock_scope(r->store, r->acct_id);
    if (err >= 0)
        err = api_audit(r, "NODE_ATTESTATION", "WARNING", "node", node_id,
                        "Refused a call to %s from deactivated node %s",
                        evhttp_request_get_uri(r->http), node_id);
    if (err >= 0)
        err = store_commit(r->store);
    else
        store_rollback(r->store);
    if (err < 0)
        return err;
    return api_error(r, 403, "NODE_NOT_ENROLLED", "node %s is deactivated", node_id);
}

int
api_node_authenticate(struct api_request *r)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    struct node_identity claimed = { "" }, *known;
    SSL *ssl = request_ssl(r);
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    int err;

    pthread_once(&identity_once, identity_index_init);
    if (!cert)
        return unauthorized(r, "none presented (this call needs mTLS with the node certificate)");
    known = SSL_get_ex_data(ssl, identity_index);
    if (known)
        claimed = *known;
    else if (spiffe_node_id(cert, claimed.node_id) < 0 || serial_hex(cert, claimed.serial) < 0)
        return unauthorized(r, "it names no node (spiffe://…/node/<id> URI)");
    err = store_node_auth_get(r->store, claimed.node_id, claimed.serial, time_now_unix_ms(), !known,
                              &rows);
    if (err == -ENOENT)
        return unauthorized(r, "unknown node");
    if (err < 0)
        return err;
    if (!known) {
        err = identify(r, ssl, cert, store_rows_text(rows, 4), &claimed);
        if (err < 0)
            return err;
    }
    snprintf(r->acct_id, sizeof(r->acct_id), "%s", store_rows_text(rows, 0));
    snprintf(r->zone_id, sizeof(r->zone_id), "%s", store_rows_text(rows, 1));
    snprintf(r->node_name, sizeof(r->node_name), "%s", store_rows_text(rows, 3));
    if (strcmp(store_rows_text(rows, 2), NODE_STATUS_DEACTIVATED) == 0)
        return refuse_deactivated(r, claimed.node_id);
    if (store_rows_int(rows, 5) != 1)
        return unauthorized(r, "revoked or expired");
    memcpy(r->node_id, claimed.node_id, sizeof(r->node_id));
    return 0;
}
