/* Browser session cookies: see session-cookie.h for the design. */
#include "session-cookie.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "http-headers.h"

#define SESSION_COOKIE "cloister_session"
/* Not a secret: tells the console's script that a session cookie exists (it cannot read the
 * HttpOnly one), so that it does not ask the API, and get a 401, when nobody is logged in. */
#define MARKER_COOKIE "cloister_logged_in"

bool
session_cookie_requested(struct evhttp_request *http)
{
    const char *value = evhttp_find_header(evhttp_request_get_input_headers(http), SESSION_HEADER);

    return value && strcasecmp(value, "cookie") == 0;
}

int
session_cookie_token(struct evhttp_request *http, char *out, size_t size)
{
    struct evkeyvalq *headers = evhttp_request_get_input_headers(http);
    struct evkeyval *header;

    /* Browsers send one Cookie header; a client may send several. */
    TAILQ_FOREACH(header, headers, next) {
        int err;

        if (strcasecmp(header->key, "Cookie") != 0)
            continue;
        err = header_cookie_value(header->value, SESSION_COOKIE, out, size);
        if (err != -ENOENT)
            return err;
    }
    return -ENOENT;
}

void
session_cookie_set(struct evhttp_request *http, const char *token, int64_t max_age)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(http);
    char cookie[512];

    snprintf(cookie, sizeof(cookie),
             SESSION_COOKIE "=%s; Path=/v1; Max-Age=%lld; HttpOnly; Secure; SameSite=Strict", token,
             (long long)max_age);
    evhttp_add_header(headers, "Set-Cookie", cookie);
    OPENSSL_cleanse(cookie, sizeof(cookie));
    snprintf(cookie, sizeof(cookie),
             MARKER_COOKIE "=1; Path=/; Max-Age=%lld; Secure; SameSite=Strict", (long long)max_age);
    evhttp_add_header(headers, "Set-Cookie", cookie);
}

void
session_cookie_clear(struct evhttp_request *http)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(http);

    evhttp_add_header(headers, "Set-Cookie",
                      SESSION_COOKIE "=; Path=/v1; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    evhttp_add_header(headers, "Set-Cookie",
                      MARKER_COOKIE "=; Path=/; Max-Age=0; Secure; SameSite=Strict");
}
