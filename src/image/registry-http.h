/* One connection to a registry for registry.c: requests with the registry's authentication
 * (anonymous, Basic, or a bearer token fetched when a 401 asks for one), bodies from memory or
 * a file region, answers into memory (bounded) or a file, hashed on the way. */
#pragma once

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "image-error.h"
#include "registry.h"

#define REGISTRY_URL_MAX 4096

struct registry_conn {
    CURL *curl;
    char base[512]; /* http(s)://host */
    const struct registry_ref *ref;
    const struct registry_options *o;
    const char *scope;   /* asked for with a token: "repository:R:pull" (and more) */
    char *authorization; /* "Authorization: ..." once known */
    struct image_error *e;
    long server_error; /* the status of the last 5xx answer registry_answer_error() saw */
};

struct http_exchange {
    const char *method, *url; /* url absolute, or a path below base */
    const char *content_type; /* of the body */
    const char *accept;
    const char *content_range;
    /* The body: memory, or a region of a file (body_fd >= 0). */
    const void *body;
    size_t body_size;
    int body_fd;
    uint64_t body_offset, body_length;
    /* The answer's body: a file (out_fd >= 0) or memory (out_max > 0); hashed when out_sha. */
    int out_fd;
    size_t out_max;
    char *out;
    size_t out_size;
    EVP_MD_CTX *out_sha;
    uint64_t out_written;
    /* The answer. */
    long status;
    char location[REGISTRY_URL_MAX];
    char content_type_got[128];
    char digest_got[80];
    char www_authenticate[1024];
    char error_body[512]; /* the start of a non-2xx body: the registry's error JSON */
    size_t error_size;
    int failed; /* a write to out failed (negative errno) */
};

int registry_conn_open(const struct registry_ref *ref, const struct registry_options *o,
                       const char *scope, struct registry_conn *ret, struct image_error *e);
void registry_conn_release(struct registry_conn *c);

/* Performs x (authenticating and retrying once on a 401). Returns 0 with x->status set for any
 * HTTP answer, a negative errno (with e) when there is none. */
int registry_call(struct registry_conn *c, struct http_exchange *x);

/* "the registry answered 404 to GET ...: MANIFEST_UNKNOWN: manifest unknown" into e. */
int registry_answer_error(struct registry_conn *c, const struct http_exchange *x, int r,
                          const char *what);
