#include "basic-auth.h"
#include "body.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void
basic_credentials_release(struct basic_credentials *c)
{
    if (c->buf) {
        OPENSSL_cleanse(c->buf, c->size);
        free(c->buf);
    }
}

/* Strict base64: the alphabet, with at most two '=' at the very end. */
static bool
is_base64(const char *text, size_t len)
{
    size_t pad = 0;

    if (len == 0 || len % 4 != 0)
        return false;
    while (pad < 2 && text[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!isalnum((unsigned char)text[i]) && text[i] != '+' && text[i] != '/')
            return false;
    return true;
}

int
basic_auth_parse(const char *h, struct basic_credentials *c)
{
    size_t len;
    char *colon;
    int n;

    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return -EINVAL;
    h += 6;
    while (*h == ' ')
        h++;
    len = strlen(h);
    if (len > BASIC_AUTH_MAX || !is_base64(h, len))
        return -EINVAL;
    c->size = len / 4 * 3 + 1;
    c->buf = malloc(c->size);
    if (!c->buf)
        return -ENOMEM;
    n = EVP_DecodeBlock((unsigned char *)c->buf, (const unsigned char *)h, (int)len);
    if (n < 0)
        return -EINVAL;
    /* EVP_DecodeBlock counts the padding as decoded zero bytes. */
    n -= (h[len - 1] == '=') + (h[len - 2] == '=');
    c->buf[n] = '\0';
    colon = memchr(c->buf, ':', (size_t)n);
    if (!colon || colon == c->buf || memchr(c->buf, '\0', (size_t)n))
        return -EINVAL;
    *colon = '\0';
    /* Both end up in JSON (the audit log, the session); passwords are set through JSON too, so
     * one that is not UTF-8 could never match. */
    if (!utf8_is_valid(c->buf) || !utf8_is_valid(colon + 1))
        return -EINVAL;
    c->email = c->buf;
    c->password = colon + 1;
    return 0;
}
