/* Readers of request header values the console's serving and sessions depend on; each takes
 * one header's value as the client sent it (outside input: fuzz/fuzz-http_headers.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether an Accept-Encoding value accepts gzip: one of its comma-separated elements is "gzip"
 * (any case) whose q parameter, if any, is not zero ("gzip;q=0" refuses it). */
bool header_accepts_gzip(const char *accept_encoding);

/* Whether an If-None-Match value lists etag (quotes included) or is "*". */
bool header_etag_matches(const char *if_none_match, const char *etag);

/* Copies the value of cookie name from a Cookie header ("a=1; b=2") into out (size bytes with
 * the NUL): 0; -ENOENT when the header has no such cookie or it is empty; -E2BIG when it does
 * not fit. */
int header_cookie_value(const char *cookie_header, const char *name, char *out, size_t size);
