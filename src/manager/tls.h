/* The manager's HTTPS server identity: a generated self-signed certificate or a configured one. */
#pragma once

#include <openssl/ssl.h>

/* Writes a new EC P-256 key (0600) and a self-signed certificate for localhost, 127.0.0.1 and
 * ::1, valid for a year, to the given paths. */
int tls_generate_self_signed(const char *cert_path, const char *key_path);

/* A server context: TLS 1.2 or newer, ECDHE with AEAD ciphers only, no compression or
 * renegotiation, with the certificate chain and key loaded and checked. */
int tls_server_ctx_new(const char *cert_path, const char *key_path, SSL_CTX **ret_ctx);
