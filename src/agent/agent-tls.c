#include <errno.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "agent.h"
#include "log.h"

int
agent_ssl_ctx_new(const char *ca_file, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                  SSL_CTX **ret)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx)
        return -ENOMEM;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        log_error("Cannot load the manager's CA from '%s': %s", ca_file ? ca_file : "(system)",
                  ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return -EINVAL;
    }
    if (key) {
        if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            SSL_CTX_free(ctx);
            return -EINVAL;
        }
        /* The issuing certificate goes with ours; the root is the manager's to have. */
        for (int i = 0; chain && i < sk_X509_num(chain); i++) {
            X509 *x = sk_X509_value(chain, i);
            if (X509_check_issued(x, x) == X509_V_OK)
                continue;
            if (SSL_CTX_add1_chain_cert(ctx, x) != 1) {
                SSL_CTX_free(ctx);
                return -ENOMEM;
            }
        }
    }
    ERR_clear_error();
    *ret = ctx;
    return 0;
}
