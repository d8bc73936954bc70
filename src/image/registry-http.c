/* Requests to a registry with its authentication (registry-http.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <jansson.h>

#include "registry-http.h"

#define TOKEN_MAX (64u << 10)

/* Whether host (a registry reference's host, with an optional port) is this machine: localhost,
 * an IPv4 address in 127/8 or [::1]. Exact names only: "localhost.example.com" is not. */
static bool
loopback(const char *host)
{
    char name[64];
    struct in_addr v4;
    size_t n;

    if (strncmp(host, "[::1]", 5) == 0)
        return host[5] == '\0' || host[5] == ':';
    n = strcspn(host, ":");
    if (n >= sizeof(name) ||
        (host[n] == ':' && strspn(host + n + 1, "0123456789") != strlen(host + n + 1)))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcmp(name, "localhost") == 0)
        return true;
    return inet_pton(AF_INET, name, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

int
registry_conn_open(const struct registry_ref *ref, const struct registry_options *o,
                   const char *scope, struct registry_conn *ret, struct image_error *e)
{
    *ret = (struct registry_conn){ .ref = ref, .o = o, .scope = scope, .e = e };
    if (o->plain_http && !loopback(ref->host))
        return image_errorf(e, -EINVAL, "%s: plain HTTP is allowed for loopback registries only",
                            ref->host);
    snprintf(ret->base, sizeof(ret->base), "%s://%s", o->plain_http ? "http" : "https", ref->host);
    ret->curl = curl_easy_init();
    return ret->curl ? 0 : -ENOMEM;
}

void
registry_conn_release(struct registry_conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->authorization);
    *c = (struct registry_conn){ 0 };
}

/* Copies the value of header name (case-insensitive) from line into out. */
static void
header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t n = strlen(name), v;

    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return;
    for (v = n + 1; v < len && (line[v] == ' ' || line[v] == '\t'); v++)
        ;
    while (len > v && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    snprintf(out, size, "%.*s", (int)(len - v), line + v);
}

static size_t
on_header(char *line, size_t size, size_t n, void *userdata)
{
    struct http_exchange *x = userdata;
    size_t len = size * n;

    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after a redirect or a 100 Continue): forget the last one's. */
        const char *sp = memchr(line, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->location[0] = x->content_type_got[0] = x->digest_got[0] = '\0';
        x->www_authenticate[0] = '\0';
        return len;
    }
    header_value(line, len, "Location", x->location, sizeof(x->location));
    header_value(line, len, "Content-Type", x->content_type_got, sizeof(x->content_type_got));
    header_value(line, len, "Docker-Content-Digest", x->digest_got, sizeof(x->digest_got));
    header_value(line, len, "WWW-Authenticate", x->www_authenticate, sizeof(x->www_authenticate));
    return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *userdata)
{
    struct http_exchange *x = userdata;
    size_t len = size * n;

    if (x->status < 200 || x->status > 299) {
        size_t room = sizeof(x->error_body) - 1 - x->error_size;
        size_t take = len < room ? len : room;
        memcpy(x->error_body + x->error_size, data, take);
        x->error_size += take;
        x->error_body[x->error_size] = '\0';
        return len;
    }
    if (x->out_sha && EVP_DigestUpdate(x->out_sha, data, len) != 1) {
        x->failed = -ENOMEM;
        return 0;
    }
    if (x->out_fd >= 0) {
        for (size_t done = 0; done < len;) {
            ssize_t w = write(x->out_fd, data + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                x->failed = -errno;
                return 0;
            }
            done += (size_t)w;
        }
    } else {
        if (len > x->out_max - x->out_size) {
            x->failed = -E2BIG;
            return 0;
        }
        memcpy(x->out + x->out_size, data, len);
        x->out_size += len;
    }
    x->out_written += len;
    return len;
}

struct body_source {
    const struct http_exchange *x;
    uint64_t sent;
};

static size_t
on_read(char *buf, size_t size, size_t n, void *userdata)
{
    struct body_source *s = userdata;
    const struct http_exchange *x = s->x;
    size_t want = size * n;
    ssize_t got;

    if (x->body_fd < 0) {
        size_t left = x->body_size - s->sent;
        want = want < left ? want : left;
        memcpy(buf, (const char *)x->body + s->sent, want);
        s->sent += want;
        return want;
    }
    if (want > x->body_length - s->sent)
        want = x->body_length - s->sent;
    do
        got = pread(x->body_fd, buf, want, (off_t)(x->body_offset + s->sent));
    while (got < 0 && errno == EINTR);
    if (got < 0 || (got == 0 && want > 0))
        return CURL_READFUNC_ABORT;
    s->sent += (uint64_t)got;
    return (size_t)got;
}

/* curl rewinds a body it must send again (a kept-alive connection the server closed). */
static int
on_seek(void *userdata, curl_off_t offset, int origin)
{
    struct body_source *s = userdata;
    uint64_t len = s->x->body_fd >= 0 ? s->x->body_length : s->x->body_size;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > len)
        return CURL_SEEKFUNC_CANTSEEK;
    s->sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static int
reset_out(struct http_exchange *x)
{
    x->out_size = x->error_size = 0;
    x->out_written = 0;
    x->error_body[0] = '\0';
    x->failed = 0;
    if (x->out_fd >= 0 && (ftruncate(x->out_fd, 0) < 0 || lseek(x->out_fd, 0, SEEK_SET) < 0))
        return -errno;
    if (x->out_sha && EVP_DigestInit_ex(x->out_sha, EVP_sha256(), NULL) != 1)
        return -ENOMEM;
    return 0;
}

static int
perform(struct registry_conn *c, struct http_exchange *x, const char *userpwd,
        const char *authorization)
{
    CURL *h = c->curl;
    struct curl_slist *headers = NULL;
    struct body_source src = { .x = x };
    char url[REGISTRY_URL_MAX + 600], line[REGISTRY_URL_MAX];
    uint64_t body_len = x->body_fd >= 0 ? x->body_length : x->body_size;
    bool has_body = x->body || x->body_fd >= 0;
    CURLcode cc;
    int r;

    r = reset_out(x);
    if (r < 0)
        return r;
    if (strncmp(x->url, "http://", 7) == 0 || strncmp(x->url, "https://", 8) == 0)
        snprintf(url, sizeof(url), "%s", x->url);
    else
        snprintf(url, sizeof(url), "%s%s", c->base, x->url);
    curl_easy_reset(h);
    if (authorization)
        headers = curl_slist_append(headers, authorization);
    if (x->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", x->content_type);
        headers = curl_slist_append(headers, line);
    }
    if (x->accept) {
        snprintf(line, sizeof(line), "Accept: %s", x->accept);
        headers = curl_slist_append(headers, line);
    }
    if (x->content_range) {
        snprintf(line, sizeof(line), "Content-Range: %s", x->content_range);
        headers = curl_slist_append(headers, line);
    }
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, strcmp(x->method, "GET") == 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->o->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->o->ca_file);
    if (userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (strcmp(x->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(x->method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    if (has_body || strcmp(x->method, "PUT") == 0 || strcmp(x->method, "PATCH") == 0 ||
        strcmp(x->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &src);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &src);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(has_body ? body_len : 0));
    }
    cc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (x->failed)
        return image_errorf(c->e, x->failed, "%s %.*s: %s", x->method, (int)strcspn(url, "?"), url,
                            x->failed == -E2BIG ? "the answer is too large" : strerror(-x->failed));
    if (cc != CURLE_OK)
        return image_errorf(c->e, -EIO, "%s %.*s: the connection to %s failed: %s", x->method,
                            (int)strcspn(url, "?"), url, c->ref->host, curl_easy_strerror(cc));
    return 0;
}

/* The value of param in a WWW-Authenticate challenge (realm="...",service="..."). */
static void
challenge_param(const char *challenge, const char *param, char *out, size_t size)
{
    size_t n = strlen(param);

    out[0] = '\0';
    for (const char *p = challenge; (p = strcasestr(p, param)); p += n) {
        const char *v, *end;
        if ((p != challenge && p[-1] != ' ' && p[-1] != ',') || p[n] != '=' || p[n + 1] != '"')
            continue;
        v = p + n + 2;
        end = strchr(v, '"');
        if (end)
            snprintf(out, size, "%.*s", (int)(end - v), v);
        return;
    }
}

static char *
userpwd(const struct registry_options *o)
{
    char *s = NULL;

    if (!o->username)
        return NULL;
    return asprintf(&s, "%s:%s", o->username, o->password ? o->password : "") < 0 ? NULL : s;
}

/* Appends "&scope=S" to url for each space-separated scope of scopes. */
static int
add_scopes(struct registry_conn *c, char *url, size_t size, size_t *len, const char *scopes)
{
    for (const char *p = scopes; *p;) {
        size_t n = strcspn(p, " ");
        char one[512], *esc;
        int w;
        if (n > 0 && n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            esc = curl_easy_escape(c->curl, one, 0);
            if (!esc)
                return -ENOMEM;
            w = snprintf(url + *len, size - *len, "&scope=%s", esc);
            curl_free(esc);
            if (w < 0 || (size_t)w >= size - *len)
                return image_errorf(c->e, -E2BIG, "the token request is too long");
            *len += (size_t)w;
        }
        p += n;
        p += *p == ' ';
    }
    return 0;
}

/* A bearer token from the challenge's realm, asked with the credentials as Basic. */
static int
fetch_token(struct registry_conn *c, const char *challenge)
{
    char realm[512], service[256], scope[512], url[REGISTRY_URL_MAX];
    _cleanup_free_ char *out = malloc(TOKEN_MAX), *creds = userpwd(c->o);
    struct http_exchange x = { .method = "GET", .url = url, .body_fd = -1, .out_fd = -1 };
    char *esc_service;
    size_t n;
    json_t *doc;
    const char *token;
    int r;

    challenge_param(challenge, "realm", realm, sizeof(realm));
    challenge_param(challenge, "service", service, sizeof(service));
    challenge_param(challenge, "scope", scope, sizeof(scope));
    if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
        return image_errorf(c->e, -EPROTO, "%s asks for a token from an unusable realm \"%s\"",
                            c->ref->host, realm);
    if (!out)
        return -ENOMEM;
    esc_service = curl_easy_escape(c->curl, service, 0);
    n = snprintf(url, sizeof(url), "%s%sservice=%s", realm, strchr(realm, '?') ? "&" : "?",
                 esc_service ? esc_service : "");
    curl_free(esc_service);
    /* The challenge's scopes (what this request needs) and ours (what the next ones will), one
     * scope parameter each, as the token protocol wants. */
    r = add_scopes(c, url, sizeof(url), &n, scope);
    if (r == 0)
        r = add_scopes(c, url, sizeof(url), &n, c->scope);
    if (r < 0)
        return r;
    x.out = out;
    x.out_max = TOKEN_MAX;
    r = perform(c, &x, creds, NULL);
    if (r < 0)
        return r;
    if (x.status == 401 || x.status == 403)
        return image_errorf(c->e, -EACCES,
                            "%s refused the credentials%s (the token service "
                            "answered %ld)",
                            c->ref->host, c->o->username ? "" : " (none were given)", x.status);
    if (x.status != 200)
        return registry_answer_error(c, &x, -EPROTO, "the token request");
    doc = json_loadb(out, x.out_size, 0, NULL);
    token = json_string_value(json_object_get(doc, "token"));
    if (!token)
        token = json_string_value(json_object_get(doc, "access_token"));
    free(c->authorization);
    c->authorization = NULL;
    if (token && asprintf(&c->authorization, "Authorization: Bearer %s", token) < 0)
        c->authorization = NULL;
    json_decref(doc);
    if (!c->authorization)
        return image_errorf(c->e, -EPROTO, "the token service of %s answered no token",
                            c->ref->host);
    return 0;
}

static int
authenticate(struct registry_conn *c, const char *challenge)
{
    if (strncasecmp(challenge, "Bearer", 6) == 0)
        return fetch_token(c, challenge);
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (!c->o->username)
            return image_errorf(c->e, -EACCES, "%s needs credentials (none were given)",
                                c->ref->host);
        free(c->authorization);
        c->authorization = NULL; /* Basic goes through curl's userpwd from now on */
        c->authorization = strdup("");
        return c->authorization ? 0 : -ENOMEM;
    }
    return image_errorf(c->e, -EPROTO, "%s asks for an unsupported authentication: %.40s",
                        c->ref->host, challenge);
}

int
registry_call(struct registry_conn *c, struct http_exchange *x)
{
    _cleanup_free_ char *creds = NULL;
    bool basic = c->authorization && c->authorization[0] == '\0';
    int r;

    if (basic)
        creds = userpwd(c->o);
    r = perform(c, x, creds, basic ? NULL : c->authorization);
    if (r < 0 || x->status != 401)
        return r;
    /* No authorization yet, or a token that has expired or lacks this request's scope. */
    if (basic)
        return registry_answer_error(c, x, -EACCES, "the credentials");
    r = authenticate(c, x->www_authenticate);
    if (r < 0)
        return r;
    basic = c->authorization[0] == '\0';
    free(creds);
    creds = basic ? userpwd(c->o) : NULL;
    r = perform(c, x, creds, basic ? NULL : c->authorization);
    if (r == 0 && x->status == 401)
        return image_errorf(c->e, -EACCES, "%s refused the credentials%s", c->ref->host,
                            c->o->username ? "" : " (none were given)");
    return r;
}

int
registry_answer_error(struct registry_conn *c, const struct http_exchange *x, int r,
                      const char *what)
{
    json_t *doc = json_loads(x->error_body, 0, NULL);
    json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    const char *message = json_string_value(json_object_get(first, "message"));

    if (x->status >= 500)
        c->server_error = x->status;

    image_errorf(c->e, r, "%s: %s answered %ld%s%s%s%s", what, c->ref->host, x->status,
                 code ? ": " : "", code ? code : "", message ? ": " : "", message ? message : "");
    json_decref(doc);
    return r;
}
