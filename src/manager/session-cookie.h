/* Browser sessions (the web console): the session token in an HttpOnly cookie instead of a
 * bearer header, safe against cross-site request forgery (docs/console.md, "Session").
 *
 * A client asks for a cookie session by sending `X-Cloister-Session: cookie` with its log-in;
 * the manager then sets the token as `cloister_session` (HttpOnly, Secure, SameSite=Strict,
 * Path=/v1) and leaves it out of the answer, so no script ever holds it. A request authenticated
 * by that cookie must carry the same header: a page of another origin cannot add a custom header
 * without a CORS preflight, which the manager never grants, so a forged request arrives without
 * it and is refused, even from a same-site origin that SameSite lets the cookie through from. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>

#define SESSION_HEADER "X-Cloister-Session"

/* Whether the request carries `X-Cloister-Session: cookie`. */
bool session_cookie_requested(struct evhttp_request *http);

/* Copies the session cookie's value into out (size bytes with the NUL): 0, -ENOENT without one,
 * -E2BIG when it is longer. */
int session_cookie_token(struct evhttp_request *http, char *out, size_t size);

/* Adds the session cookie (valid max_age seconds) and its script-readable marker. */
void session_cookie_set(struct evhttp_request *http, const char *token, int64_t max_age);

/* Adds headers that delete both cookies (log-out, an expired or unknown session). */
void session_cookie_clear(struct evhttp_request *http);
