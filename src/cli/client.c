#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "jval.h"
#include "log.h"

#define CLIENT_ERROR_BODY_SHOWN 200 /* bytes of a non-JSON error body quoted to the user */

struct client {
    CURL *curl;
    char *url;
    char *ca_file;
    char *token;
    char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, filled by the write callback. */
struct transfer {
    CURL *curl;
    struct strbuf body;
    int sink_fd;
    unsigned long long streamed;
    bool too_large;
    int sink_error;
};

static void
transfer_release(struct transfer *t)
{
    /* The body may hold a fresh access token. */
    if (t->body.buf)
        OPENSSL_cleanse(t->body.buf, t->body.len);
    strbuf_release(&t->body);
}

static void
headers_free(struct curl_slist *list)
{
    for (struct curl_slist *p = list; p; p = p->next)
        OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(list);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist, headers_free)

struct client *
client_free(struct client *c)
{
    if (!c)
        return NULL;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->url);
    free(c->ca_file);
    secret_free(c->token);
    free(c);
    return NULL;
}

int
client_new(const char *url, const char *ca_file, const char *token, struct client **ret)
{
    _cleanup_(client_freep) struct client *c = calloc(1, sizeof(*c));
    size_t len = strlen(url);

    if (!c)
        return -ENOMEM;
    while (len > 0 && url[len - 1] == '/')
        len--;
    c->url = strndup(url, len);
    c->ca_file = ca_file ? strdup(ca_file) : NULL;
    c->curl = curl_easy_init();
    if (!c->url || (ca_file && !c->ca_file) || !c->curl)
        return -ENOMEM;
    if (client_set_token(c, token) < 0)
        return -ENOMEM;
    *ret = TAKE_PTR(c);
    return 0;
}

int
client_set_token(struct client *c, const char *token)
{
    char *copy = token ? strdup(token) : NULL;

    if (token && !copy)
        return -ENOMEM;
    secret_free(c->token);
    c->token = copy;
    return 0;
}

const char *
client_url(const struct client *c)
{
    return c->url;
}

static bool
transfer_is_success(struct transfer *t)
{
    long status = 0;

    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
}

static size_t
transfer_stream(struct transfer *t, const char *data, size_t n)
{
    if (t->streamed + n > CLIENT_STREAM_MAX) {
        t->too_large = true;
        return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t k = write(t->sink_fd, data + done, n - done);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            t->sink_error = errno;
            return 0;
        }
        done += (size_t)k;
    }
    t->streamed += n;
    return n;
}

static size_t
transfer_on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;

    if (t->sink_fd >= 0 && transfer_is_success(t))
        return transfer_stream(t, data, n);
    if (t->body.len + n > CLIENT_RESPONSE_MAX) {
        t->too_large = true;
        return 0;
    }
    if (strbuf_add(&t->body, data, n) < 0) {
        t->sink_error = ENOMEM;
        return 0;
    }
    return n;
}

static int
client_headers(const struct client *c, const struct client_request *req, bool has_body,
               struct curl_slist **ret)
{
    _cleanup_(headers_freep) struct curl_slist *list = NULL;
    _cleanup_(secret_freep) char *auth = NULL;
    const char *lines[] = { "Accept: application/json",
                            "Expect:", has_body ? "Content-Type: application/json" : NULL };

    for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
        struct curl_slist *l;

        if (!lines[i])
            continue;
        l = curl_slist_append(list, lines[i]);
        if (!l)
            return -ENOMEM;
        list = l;
    }
    if (c->token && !req->basic_user && !(req->flags & CLIENT_NO_AUTH)) {
        struct curl_slist *l;

        if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0) {
            auth = NULL;
            return -ENOMEM;
        }
        l = curl_slist_append(list, auth);
        if (!l)
            return -ENOMEM;
        list = l;
    }
    *ret = TAKE_PTR(list);
    return 0;
}

static bool
client_setup_method(CURL *h, const struct client_request *req, const char *body)
{
    bool bad = false;

    if (strcmp(req->method, "GET") == 0)
        return curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    if (strcmp(req->method, "POST") != 0)
        bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK;
    if (body || strcmp(req->method, "POST") == 0) {
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(body ? strlen(body) : 0)) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "") != CURLE_OK;
    }
    return bad;
}

static bool
client_setup_tls(const struct client *c)
{
    CURL *h = c->curl;
    bool bad = false;

    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    if (c->ca_file) {
        /* Trust exactly this file, not the system store as well. */
        bad |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK;
    }
    return bad;
}

static int
client_setup(struct client *c, const struct client_request *req, const char *url,
             struct curl_slist *headers, const char *body, struct transfer *t)
{
    CURL *h = c->curl;
    curl_off_t max = req->sink_fd >= 0 ? (curl_off_t)CLIENT_STREAM_MAX : CLIENT_RESPONSE_MAX;
    bool bad = false;

    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, "cloister/" CLOISTER_VERSION) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, transfer_on_write) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, max) != CURLE_OK;
    bad |= client_setup_tls(c);
    bad |= client_setup_method(h, req, body);
    if (req->basic_user) {
        bad |= curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_USERNAME, req->basic_user) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_PASSWORD, req->basic_password) != CURLE_OK;
    }
    return bad ? -ENOMEM : 0;
}

/* strerror(e) starting with a lower-case letter, to follow "cannot reach URL: ". */
static const char *
errno_text(int e, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static int
client_report_size(const struct client *c, const struct transfer *t)
{
    if (t->sink_fd >= 0 && t->streamed > 0)
        cli_error("the response from %s is larger than the limit of %llu GiB", c->url,
                  CLIENT_STREAM_MAX >> 30);
    else
        cli_error("the response from %s is larger than the limit of %u MiB", c->url,
                  CLIENT_RESPONSE_MAX >> 20);
    return -EFBIG;
}

static int
client_report_tls(const struct client *c, CURLcode rc, const char *detail)
{
    if (rc == CURLE_SSL_CACERT_BADFILE) {
        cli_error("TLS: cannot use the CA file '%s': %s", c->ca_file ? c->ca_file : "(system)",
                  detail);
        return -ENOKEY;
    }
    if (rc == CURLE_SSL_CONNECT_ERROR) {
        cli_error("TLS: handshake with %s failed: %s", c->url, detail);
        return -EPROTO;
    }
    if (c->ca_file)
        cli_error("TLS: certificate verify failed for %s (%s) — is '%s' the certificate or CA "
                  "of this server?",
                  c->url, detail, c->ca_file);
    else
        cli_error("TLS: certificate verify failed for %s (%s) — pass --ca FILE with the "
                  "server's certificate or CA",
                  c->url, detail);
    return -EKEYREJECTED;
}

static int
client_report_transport(const struct client *c, const struct transfer *t, CURLcode rc)
{
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    char buf[128];

    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        cli_error("cannot reach %s: %s", c->url,
                  os_errno > 0 ? errno_text((int)os_errno, buf, sizeof(buf)) : detail);
        return os_errno > 0 ? -(int)os_errno : -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        cli_error("cannot reach %s: cannot resolve the host name (%s)", c->url, detail);
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        cli_error("cannot reach %s: no answer within %ld s (%s)", c->url, CLIENT_TIMEOUT_S, detail);
        return -ETIMEDOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
        return client_report_tls(c, rc, detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
        cli_error("unsupported URL scheme in %s (use https:// or http://)", c->url);
        return -EPROTONOSUPPORT;
    case CURLE_FILESIZE_EXCEEDED:
        return client_report_size(c, t);
    case CURLE_WRITE_ERROR:
        if (t->too_large)
            return client_report_size(c, t);
        if (t->sink_error == ENOMEM)
            return cli_oom();
        cli_error("cannot write the response: %s", strerror(t->sink_error ? t->sink_error : EIO));
        return t->sink_error ? -t->sink_error : -EIO;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        cli_error("connection to %s failed: %s", c->url, detail);
        return -ECONNRESET;
    default:
        cli_error("request to %s failed: %s", c->url, detail);
        return -EIO;
    }
}

static int
status_to_errno(long status)
{
    switch (status) {
    case 401:
        return -EACCES;
    case 403:
        return -EPERM;
    case 404:
        return -ENOENT;
    case 409:
        return -EEXIST;
    case 429:
        return -EBUSY;
    case 503:
        return -EAGAIN;
    default:
        return -EREMOTEIO;
    }
}

static void
client_hint(const struct client_request *req, long status, const char *code)
{
    if (code && strcmp(code, "NO_ACCOUNT_SELECTED") == 0)
        cli_hint("select an account first: cloister account select ACCT_ID "
                 "(ids: cloister account list)");
    else if (status == 401 && !req->basic_user && !(req->flags & CLIENT_NO_AUTH))
        cli_hint("log in again: cloister login --email EMAIL");
}

static int
client_report_http(const struct client *c, const struct client_request *req, long status,
                   const struct strbuf *body)
{
    _cleanup_json_ json_t *j = NULL;
    const char *code, *message;
    size_t shown;

    if ((req->flags & CLIENT_QUIET_HTTP) ||
        (status == 404 && (req->flags & CLIENT_QUIET_NOT_FOUND)) ||
        (status == 401 && (req->flags & CLIENT_QUIET_UNAUTHORIZED)))
        return status_to_errno(status);
    j = body->len > 0 ? json_loadb(body->buf, body->len, 0, NULL) : NULL;
    code = jval_str(j, "code");
    message = jval_str(j, "message");
    shown = body->len > 0 ? strcspn(body->buf, "\r\n") : 0;
    if (shown > CLIENT_ERROR_BODY_SHOWN)
        shown = CLIENT_ERROR_BODY_SHOWN;
    if (message)
        cli_error("%s (%s, HTTP %ld)", message, code ? code : "no code", status);
    else if (shown > 0 && !j)
        cli_error("HTTP %ld from %s: %.*s", status, c->url, (int)shown, body->buf);
    else
        cli_error("HTTP %ld from %s", status, c->url);
    client_hint(req, status, code);
    return status_to_errno(status);
}

static int
client_parse_body(const struct client *c, long status, const struct strbuf *body, json_t **ret_json)
{
    json_error_t err;
    json_t *j;

    if (status == 204 || body->len == 0) {
        if (ret_json)
            *ret_json = NULL;
        return 0;
    }
    j = json_loadb(body->buf, body->len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        cli_error("invalid JSON in the response from %s: %s", c->url, err.text);
        return -EBADMSG;
    }
    if (ret_json)
        *ret_json = j;
    else
        json_decref(j);
    return 0;
}

int
client_send(struct client *c, const struct client_request *req, json_t **ret_json)
{
    _cleanup_(strbuf_release) struct strbuf url = STRBUF_INIT;
    _cleanup_(secret_freep) char *body = NULL;
    _cleanup_(headers_freep) struct curl_slist *headers = NULL;
    _cleanup_(transfer_release) struct transfer t = { .curl = c->curl, .sink_fd = req->sink_fd };
    CURLcode rc;
    long status = 0;
    int r;

    r = strbuf_addf(&url, "%s%s", c->url, req->path);
    if (r < 0)
        return cli_oom();
    if (req->body) {
        body = json_dumps(req->body, JSON_COMPACT);
        if (!body)
            return cli_oom();
    }
    r = client_headers(c, req, body != NULL, &headers);
    if (r >= 0)
        r = client_setup(c, req, url.buf, headers, body, &t);
    if (r < 0)
        return cli_oom();
    rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        log_debug("%s %s -> %s", req->method, url.buf, curl_easy_strerror(rc));
        return client_report_transport(c, &t, rc);
    }
    log_debug("%s %s -> HTTP %ld", req->method, url.buf, status);
    if (status < 200 || status >= 300)
        return client_report_http(c, req, status, &t.body);
    return client_parse_body(c, status, &t.body, ret_json);
}

int
client_call(struct client *c, const char *method, const char *path, const json_t *body,
            unsigned flags, json_t **ret_json)
{
    const struct client_request req = {
        .method = method, .path = path, .body = body, .flags = flags, .sink_fd = -1
    };

    return client_send(c, &req, ret_json);
}

int
client_path_id(struct strbuf *path, const char *id)
{
    char *escaped = curl_easy_escape(NULL, id, 0);
    int r;

    if (!escaped)
        return -ENOMEM;
    r = strbuf_addf(path, "/%s", escaped);
    curl_free(escaped);
    return r;
}

int
client_path_query(struct strbuf *path, const char *key, const char *value)
{
    char *escaped;
    int r;

    if (!value)
        return 0;
    escaped = curl_easy_escape(NULL, value, 0);
    if (!escaped)
        return -ENOMEM;
    r = strbuf_addf(path, "%c%s=%s", strchr(strbuf_str(path), '?') ? '&' : '?', key, escaped);
    curl_free(escaped);
    return r;
}

int
client_path_queries(struct strbuf *path, const struct jval_field *query)
{
    for (const struct jval_field *q = query; q->key; q++) {
        int r = client_path_query(path, q->key, q->value);

        if (r < 0)
            return r;
    }
    return 0;
}
