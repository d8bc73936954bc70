#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ca-process.h"

struct ca_server {
    uint8_t seal_key[SEAL_KEY_LEN];
    ca_zone_loader load;
    ca_revoked_lister list_revoked;
    void *userdata;
    struct zone_ca *zones[CA_SERVER_ZONES_MAX];
    size_t n_zones;
    size_t next_evict; /* round robin once full */
};

int
ca_server_new(const uint8_t seal_key[SEAL_KEY_LEN], ca_zone_loader load, void *userdata,
              struct ca_server **ret_server)
{
    struct ca_server *server = calloc(1, sizeof(*server));

    if (!server)
        return -ENOMEM;
    memcpy(server->seal_key, seal_key, SEAL_KEY_LEN);
    server->load = load;
    server->userdata = userdata;
    *ret_server = server;
    return 0;
}

void
ca_server_set_revoked_lister(struct ca_server *server, ca_revoked_lister list_revoked)
{
    server->list_revoked = list_revoked;
}

struct ca_server *
ca_server_free(struct ca_server *server)
{
    if (!server)
        return NULL;
    for (size_t i = 0; i < server->n_zones; i++)
        ca_zone_free(server->zones[i]);
    OPENSSL_cleanse(server->seal_key, sizeof(server->seal_key));
    free(server);
    return NULL;
}

/* ---- frames ---- */

static int
fd_wait(int fd, short events)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int n;

    do
        n = poll(&pfd, 1, CA_IO_TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ETIMEDOUT;
    return 0;
}

/* One frame is one datagram of a SOCK_SEQPACKET socketpair, so a peer that dies mid-request never
 * leaves half a frame behind: the next reader of the socket (a restarted worker or CA process)
 * starts at a frame boundary. text is len bytes of JSON. */
static int
frame_send_text(int fd, const char *text, size_t len)
{
    uint8_t header[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                          (uint8_t)len };
    struct iovec iov[2] = {
        { .iov_base = header, .iov_len = sizeof(header) },
        { .iov_base = (void *)text, .iov_len = len },
    };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

    if (len == 0 || len > CA_FRAME_MAX)
        return -EMSGSIZE;
    for (;;) {
        /* Header and text gathered into one message: no copy into a buffer of their own. */
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        int r;

        if (n == (ssize_t)(4 + len))
            return 0;
        if (n >= 0)
            return -EMSGSIZE; /* not a SOCK_SEQPACKET socket */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        r = fd_wait(fd, POLLOUT);
        if (r < 0)
            return r;
    }
}

static int
frame_send(int fd, const json_t *msg)
{
    _cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);

    if (!text)
        return -ENOMEM;
    return frame_send_text(fd, text, strlen(text));
}

/* An issue reply as issue_reply_text writes it, read without jansson by the client: parsing the
 * certificate and the chain one character at a time cost a worker more than the CA process spends
 * signing. Owns its strings. */
struct issue_fast {
    char *cert_pem;
    char *chain_pem;
    char *serial;
    int64_t not_before;
    int64_t not_after;
    int64_t id;
};

static void
issue_fast_release(struct issue_fast *f)
{
    free(f->cert_pem);
    free(f->chain_pem);
    free(f->serial);
    *f = (struct issue_fast){ 0 };
}

/* The text at *p (before end) starts with lit: true and *p moved past it. */
static bool
scan_lit(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* A JSON string of printable ASCII with no escapes but \n, \" and \\ (what PEM and hex
 * become), unescaped into a new string. */
static bool
scan_str(const char **p, const char *end, char **ret)
{
    const char *q;
    size_t len = 0;
    char *out;

    if (!scan_lit(p, end, "\""))
        return false;
    for (q = *p; q < end && *q != '"'; q++, len++)
        if (*q == '\\') {
            if (end - q < 2 || (q[1] != 'n' && q[1] != '"' && q[1] != '\\'))
                return false;
            q++;
        } else if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
            return false;
        }
    if (q == end)
        return false;
    out = malloc(len + 1);
    if (!out)
        return false;
    for (size_t i = 0; i < len; i++, (*p)++)
        if (**p == '\\') {
            (*p)++;
            out[i] = **p == 'n' ? '\n' : **p;
        } else {
            out[i] = **p;
        }
    out[len] = '\0';
    *p = q + 1;
    *ret = out;
    return true;
}

/* A JSON integer of at most 18 digits (larger ones are left to jansson). */
static bool
scan_int(const char **p, const char *end, int64_t *ret)
{
    bool negative = *p < end && **p == '-';
    const char *q = *p + negative, *start = q;
    int64_t v = 0;

    while (q < end && *q >= '0' && *q <= '9' && q - start < 19)
        v = v * 10 + (*q++ - '0');
    if (q == start || q - start > 18 || (q < end && *q >= '0' && *q <= '9') ||
        (*start == '0' && q - start > 1))
        return false;
    *p = q;
    *ret = negative ? -v : v;
    return true;
}

/* 0 when text is exactly {"ok":true,"cert":…,"chain":…,"serial":…,"not_before":…,
 * "not_after":…,"id":…} with strings scan_str reads; -EINVAL for anything else (the caller
 * parses it with jansson). */
static int
issue_fast_parse(const char *text, size_t len, struct issue_fast *ret)
{
    struct issue_fast f = { 0 };
    const char *p = text, *end = text + len;

    if (scan_lit(&p, end, "{\"ok\":true,\"cert\":") && scan_str(&p, end, &f.cert_pem) &&
        scan_lit(&p, end, ",\"chain\":") && scan_str(&p, end, &f.chain_pem) &&
        scan_lit(&p, end, ",\"serial\":") && scan_str(&p, end, &f.serial) &&
        scan_lit(&p, end, ",\"not_before\":") && scan_int(&p, end, &f.not_before) &&
        scan_lit(&p, end, ",\"not_after\":") && scan_int(&p, end, &f.not_after) &&
        scan_lit(&p, end, ",\"id\":") && scan_int(&p, end, &f.id) && scan_lit(&p, end, "}") &&
        p == end) {
        *ret = f;
        return 0;
    }
    issue_fast_release(&f);
    return -EINVAL;
}

/* Receives one frame: 0 and *ret_msg, or 1 and *ret_fast (when not NULL) for an issue reply in
 * issue_reply_text's form. -EPIPE when the peer has closed; -EMSGSIZE or -EBADMSG for a frame that
 * is too large or malformed (it has been consumed: the socket stays in step). With ready (the server,
 * whose loop has just polled the socket) it reads before it polls: a system call fewer per
 * request; a client waits for its reply first, since the reply is never there yet. */
static int
frame_recv(int fd, bool ready, json_t **ret_msg, struct issue_fast *ret_fast)
{
    _cleanup_free_ uint8_t *buf = malloc(4 + CA_FRAME_MAX);
    json_t *msg;
    ssize_t n;
    size_t len;
    int r;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (!ready) {
            r = fd_wait(fd, POLLIN);
            if (r < 0)
                return r;
        }
        n = recv(fd, buf, 4 + CA_FRAME_MAX, MSG_TRUNC | MSG_DONTWAIT);
        if (n >= 0)
            break;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        ready = false;
    }
    if (n == 0)
        return -EPIPE;
    if (n < 4 || (size_t)n > 4 + CA_FRAME_MAX)
        return -EMSGSIZE;
    len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    if (len == 0 || len != (size_t)n - 4)
        return -EBADMSG;
    if (ret_fast && issue_fast_parse((const char *)buf + 4, len, ret_fast) == 0)
        return 1;
    msg = json_loadb((const char *)buf + 4, len, JSON_REJECT_DUPLICATES, NULL);
    if (!msg)
        return -EBADMSG;
    if (!json_is_object(msg)) {
        json_decref(msg);
        return -EBADMSG;
    }
    *ret_msg = msg;
    return 0;
}

/* ---- messages ---- */

static const char *
get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Sets key to a string when value is not NULL. -EINVAL when value is not UTF-8. */
static int
set_str(json_t *obj, const char *key, const char *value)
{
    if (!value)
        return 0;
    return json_object_set_new(obj, key, json_string(value)) < 0 ? -EINVAL : 0;
}

static int
set_int(json_t *obj, const char *key, int64_t value)
{
    return json_object_set_new(obj, key, json_integer(value)) < 0 ? -ENOMEM : 0;
}

static const char *
key_type_name(enum ca_key_type type)
{
    return type == CA_KEY_P256 ? "P-256" : "P-384";
}

static int
key_type_parse(const char *name, enum ca_key_type *ret_type)
{
    if (name && strcmp(name, "P-384") == 0)
        *ret_type = CA_KEY_P384;
    else if (name && strcmp(name, "P-256") == 0)
        *ret_type = CA_KEY_P256;
    else
        return -EINVAL;
    return 0;
}

static int
claims_to_json(const struct ca_claims *c, json_t **ret_obj)
{
    json_auto_t *obj = json_object();
    int r;

    if (!obj)
        return -ENOMEM;
    if ((r = set_str(obj, "measurement", c->measurement)) < 0 ||
        (r = set_str(obj, "signer", c->signer)) < 0 ||
        (r = set_str(obj, "platform", c->platform)) < 0 ||
        (r = set_str(obj, "tcb_status", c->tcb_status)) < 0 ||
        (r = set_str(obj, "node_id", c->node_id)) < 0 ||
        (r = set_int(obj, "isvprodid", c->isvprodid)) < 0 ||
        (r = set_int(obj, "isvsvn", c->isvsvn)) < 0)
        return r;
    *ret_obj = TAKE_PTR(obj);
    return 0;
}

static int
profile_to_json(const struct ca_profile *p, json_t **ret_obj)
{
    json_auto_t *obj = json_object();
    json_t *names = json_array();
    int r;

    if (!obj || !names || json_object_set_new(obj, "dns_names", names) < 0)
        return -ENOMEM;
    if (p->n_dns_names > CA_DNS_NAMES_MAX)
        return -E2BIG;
    for (size_t i = 0; i < p->n_dns_names; i++)
        if (!p->dns_names[i] || json_array_append_new(names, json_string(p->dns_names[i])) < 0)
            return -EINVAL;
    if ((r = set_str(obj, "kind", p->kind == CA_PROFILE_NODE ? "node" : "app")) < 0 ||
        (r = set_str(obj, "trust_domain", p->trust_domain)) < 0 ||
        (r = set_str(obj, "app_name", p->app_name)) < 0 ||
        (r = set_str(obj, "node_id", p->node_id)) < 0 ||
        (r = set_int(obj, "validity_seconds", p->validity_seconds)) < 0)
        return r;
    if (p->claims) {
        json_t *claims = NULL;

        r = claims_to_json(p->claims, &claims);
        if (r < 0)
            return r;
        if (json_object_set_new(obj, "claims", claims) < 0)
            return -ENOMEM;
    }
    *ret_obj = TAKE_PTR(obj);
    return 0;
}

/* An integer member, or fallback when absent; -EINVAL when present and not an integer. */
static int
get_int(const json_t *obj, const char *key, int64_t fallback, int64_t *ret_value)
{
    const json_t *v = json_object_get(obj, key);

    if (!v) {
        *ret_value = fallback;
        return 0;
    }
    if (!json_is_integer(v))
        return -EINVAL;
    *ret_value = json_integer_value(v);
    return 0;
}

/* Fills profile (and claims, names) with pointers into obj, which must outlive them. */
static int
profile_from_json(const json_t *obj, struct ca_profile *profile, struct ca_claims *claims,
                  const char **names, struct ca_error *error)
{
    const json_t *jnames = json_object_get(obj, "dns_names");
    const json_t *jclaims = json_object_get(obj, "claims");
    const char *kind = get_str(obj, "kind");
    size_t i;
    json_t *v;
    int r;

    *profile = (struct ca_profile){ 0 };
    if (!kind || (strcmp(kind, "app") != 0 && strcmp(kind, "node") != 0)) {
        snprintf(error->message, sizeof(error->message), "profile kind is not app or node");
        return -EINVAL;
    }
    profile->kind = strcmp(kind, "node") == 0 ? CA_PROFILE_NODE : CA_PROFILE_APP;
    profile->trust_domain = get_str(obj, "trust_domain");
    profile->app_name = get_str(obj, "app_name");
    profile->node_id = get_str(obj, "node_id");
    r = get_int(obj, "validity_seconds", 0, &profile->validity_seconds);
    if (r < 0)
        return r;
    if (jnames) {
        if (!json_is_array(jnames))
            return -EINVAL;
        if (json_array_size(jnames) > CA_DNS_NAMES_MAX) {
            snprintf(error->message, sizeof(error->message), "more than %d DNS names",
                     CA_DNS_NAMES_MAX);
            return -E2BIG;
        }
        json_array_foreach(jnames, i, v) {
            names[i] = json_string_value(v);
            if (!names[i])
                return -EINVAL;
        }
        profile->dns_names = names;
        profile->n_dns_names = json_array_size(jnames);
    }
    if (jclaims) {
        if (!json_is_object(jclaims))
            return -EINVAL;
        claims->measurement = get_str(jclaims, "measurement");
        claims->signer = get_str(jclaims, "signer");
        claims->platform = get_str(jclaims, "platform");
        claims->tcb_status = get_str(jclaims, "tcb_status");
        claims->node_id = get_str(jclaims, "node_id");
        if ((r = get_int(jclaims, "isvprodid", -1, &claims->isvprodid)) < 0 ||
            (r = get_int(jclaims, "isvsvn", -1, &claims->isvsvn)) < 0)
            return r;
        profile->claims = claims;
    }
    return 0;
}

/* ---- server ---- */

static void
zone_cache_put(struct ca_server *server, struct zone_ca *ca)
{
    size_t slot;

    for (slot = 0; slot < server->n_zones; slot++)
        if (strcmp(server->zones[slot]->zone_id, ca->zone_id) == 0)
            break;
    if (slot == server->n_zones) {
        if (server->n_zones < CA_SERVER_ZONES_MAX)
            server->n_zones++;
        else
            slot = server->next_evict++ % CA_SERVER_ZONES_MAX;
    }
    if (slot < server->n_zones && server->zones[slot] != ca)
        ca_zone_free(server->zones[slot]);
    server->zones[slot] = ca;
}

static int
zone_get(struct ca_server *server, const char *zone_id, struct zone_ca **ret_ca)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *sealed = NULL;
    struct zone_ca *ca = NULL;
    int r;

    for (size_t i = 0; i < server->n_zones; i++)
        if (strcmp(server->zones[i]->zone_id, zone_id) == 0) {
            *ret_ca = server->zones[i];
            return 0;
        }
    if (!server->load)
        return -ENOENT;
    r = server->load(server->userdata, zone_id, &sealed);
    if (r < 0)
        return r;
    r = ca_zone_load(server->seal_key, zone_id, sealed->root_cert_pem, sealed->issuing_cert_pem,
                     sealed->issuing_key_sealed, &ca);
    if (r < 0)
        return r;
    zone_cache_put(server, ca);
    *ret_ca = ca;
    return 0;
}

static int
handle_create_zone(struct ca_server *server, const json_t *req, struct ca_error *error,
                   json_t **ret_reply)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *sealed = NULL;
    json_auto_t *reply = json_object();
    const char *zone_id = get_str(req, "zone_id");
    struct zone_ca *ca = NULL;
    enum ca_key_type type;
    int r;

    if (!reply)
        return -ENOMEM;
    r = key_type_parse(get_str(req, "key_type"), &type);
    if (r < 0) {
        snprintf(error->message, sizeof(error->message), "key_type is not P-384 or P-256");
        return r;
    }
    r = ca_zone_create(server->seal_key, zone_id, get_str(req, "name"), type, &sealed);
    if (r < 0)
        return r;
    r = ca_zone_load(server->seal_key, zone_id, sealed->root_cert_pem, sealed->issuing_cert_pem,
                     sealed->issuing_key_sealed, &ca);
    if (r < 0)
        return r;
    zone_cache_put(server, ca);
    if (json_object_set_new(reply, "ok", json_true()) < 0 ||
        (r = set_str(reply, "root_cert", sealed->root_cert_pem)) < 0 ||
        (r = set_str(reply, "issuing_cert", sealed->issuing_cert_pem)) < 0 ||
        (r = set_str(reply, "root_key_sealed", sealed->root_key_sealed)) < 0 ||
        (r = set_str(reply, "issuing_key_sealed", sealed->issuing_key_sealed)) < 0)
        return r < 0 ? r : -ENOMEM;
    *ret_reply = TAKE_PTR(reply);
    return 0;
}

/* The issue op; the reply is made from *ret_issued (issue_reply_text or issue_reply_json). */
static int
handle_issue(struct ca_server *server, const json_t *req, struct ca_error *error,
             struct ca_issued **ret_issued)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_free_ uint8_t *csr = NULL;
    const char *names[CA_DNS_NAMES_MAX];
    const char *zone_id = get_str(req, "zone_id"), *csr_hex = get_str(req, "csr_hex");
    const char *spki_hex = get_str(req, "spki_hex");
    const json_t *jprofile = json_object_get(req, "profile");
    struct ca_profile profile;
    struct ca_claims claims = { 0 };
    struct zone_ca *ca = NULL;
    size_t hex_len;
    int r;

    /* One of csr_hex (a CSR, checked here) and spki_hex (the key of a CSR the worker checked). */
    if (!ca_zone_id_is_valid(zone_id) || !json_is_object(jprofile) || !csr_hex == !spki_hex) {
        snprintf(error->message, sizeof(error->message),
                 "issue needs a zone_id, a profile and one of csr_hex and spki_hex");
        return -EINVAL;
    }
    hex_len = strlen(csr_hex ?: spki_hex);
    if (hex_len == 0 || hex_len % 2 != 0 || hex_len / 2 > CA_CSR_MAX) {
        snprintf(error->message, sizeof(error->message), "%s is empty, odd or too long",
                 csr_hex ? "csr_hex" : "spki_hex");
        return -EINVAL;
    }
    csr = malloc(hex_len / 2);
    if (!csr)
        return -ENOMEM;
    r = hex_decode(csr_hex ?: spki_hex, csr, hex_len / 2);
    if (r < 0) {
        snprintf(error->message, sizeof(error->message), "%s is not hex",
                 csr_hex ? "csr_hex" : "spki_hex");
        return r;
    }
    r = profile_from_json(jprofile, &profile, &claims, names, error);
    if (r < 0)
        return r;
    r = zone_get(server, zone_id, &ca);
    if (r < 0) {
        snprintf(error->message, sizeof(error->message), "zone %s: CA not available", zone_id);
        return r;
    }
    if (csr_hex)
        r = ca_issue_leaf(ca, &profile, csr, hex_len / 2, error, &issued);
    else
        r = ca_issue_leaf_spki(ca, &profile, csr, hex_len / 2, error, &issued);
    if (r < 0)
        return r;
    *ret_issued = TAKE_PTR(issued);
    return 0;
}

static int
issue_reply_json(const struct ca_issued *issued, json_t **ret_reply)
{
    json_auto_t *reply = json_object();
    int r = 0;

    if (!reply)
        return -ENOMEM;
    if (json_object_set_new(reply, "ok", json_true()) < 0 ||
        (r = set_str(reply, "cert", issued->cert_pem)) < 0 ||
        (r = set_str(reply, "chain", issued->chain_pem)) < 0 ||
        (r = set_str(reply, "serial", issued->serial_hex)) < 0 ||
        (r = set_int(reply, "not_before", issued->not_before)) < 0 ||
        (r = set_int(reply, "not_after", issued->not_after)) < 0)
        return r < 0 ? r : -ENOMEM;
    *ret_reply = TAKE_PTR(reply);
    return 0;
}

static int
handle_crl(struct ca_server *server, const json_t *req, struct ca_error *error, json_t **ret_reply)
{
    _cleanup_free_ struct ca_revoked *revoked = NULL;
    _cleanup_free_ char *pem = NULL;
    json_auto_t *reply = json_object();
    const char *zone_id = get_str(req, "zone_id");
    struct zone_ca *ca = NULL;
    int64_t number = 0;
    size_t n = 0;
    int r;

    if (!reply)
        return -ENOMEM;
    if (!ca_zone_id_is_valid(zone_id) || !server->list_revoked) {
        snprintf(error->message, sizeof(error->message), "crl needs a zone_id");
        return -EINVAL;
    }
    r = zone_get(server, zone_id, &ca);
    if (r < 0) {
        snprintf(error->message, sizeof(error->message), "zone %s: CA not available", zone_id);
        return r;
    }
    r = server->list_revoked(server->userdata, zone_id, &number, &revoked, &n);
    if (r < 0)
        return r;
    r = ca_make_crl(ca, number, revoked, n, (int64_t)time(NULL), CA_CRL_VALIDITY_DEFAULT, &pem);
    if (r < 0)
        return r;
    if (json_object_set_new(reply, "ok", json_true()) < 0 || (r = set_str(reply, "crl", pem)) < 0)
        return r < 0 ? r : -ENOMEM;
    *ret_reply = TAKE_PTR(reply);
    return 0;
}

/* Appends s as a JSON string to out when it is printable ASCII and newlines, as PEM and hex are,
 * escaped as json_dumps escapes them ('"' and '\\' too, for safety); false otherwise. out has
 * room for 2 * strlen(s) + 2 bytes. */
static bool
json_ascii_append(char **out, const char *s)
{
    char *q = *out;

    *q++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\n') {
            *q++ = '\\';
            *q++ = 'n';
        } else if (c == '"' || c == '\\') {
            *q++ = '\\';
            *q++ = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            *q++ = (char)c;
        } else {
            return false;
        }
    }
    *q++ = '"';
    *out = q;
    return true;
}

/* The issue reply as the text json_dumps(JSON_COMPACT) makes of issue_reply_json's object plus
 * the id, written directly: the certificate and the chain are most of every reply, and jansson
 * copies, checks and escapes them one character at a time. -EINVAL when the reply holds something
 * this writer does not (an id that is not an integer, a byte outside printable ASCII): the caller
 * takes the jansson path. */
static int
issue_reply_text(const struct ca_issued *issued, const json_t *id, char **ret_text, size_t *ret_len)
{
    size_t size = 2 * (strlen(issued->cert_pem) + strlen(issued->chain_pem)) + 256;
    _cleanup_free_ char *text = NULL;
    char *q;
    int n;

    if (id && !json_is_integer(id))
        return -EINVAL;
    text = malloc(size);
    if (!text)
        return -ENOMEM;
    q = text;
    q = stpcpy(q, "{\"ok\":true,\"cert\":");
    if (!json_ascii_append(&q, issued->cert_pem))
        return -EINVAL;
    q = stpcpy(q, ",\"chain\":");
    if (!json_ascii_append(&q, issued->chain_pem))
        return -EINVAL;
    q = stpcpy(q, ",\"serial\":");
    if (!json_ascii_append(&q, issued->serial_hex))
        return -EINVAL;
    n = snprintf(q, size - (size_t)(q - text), ",\"not_before\":%" PRId64 ",\"not_after\":%" PRId64,
                 issued->not_before, issued->not_after);
    if (n < 0 || (size_t)n >= size - (size_t)(q - text))
        return -EINVAL;
    q += n;
    if (id) {
        n = snprintf(q, size - (size_t)(q - text), ",\"id\":%" JSON_INTEGER_FORMAT,
                     json_integer_value(id));
        if (n < 0 || (size_t)n >= size - (size_t)(q - text))
            return -EINVAL;
        q += n;
    }
    *q++ = '}';
    *ret_len = (size_t)(q - text);
    *ret_text = TAKE_PTR(text);
    return 0;
}

/* A successful issue answered with issue_reply_text when it applies: true when sent (or the send
 * failed: its result in *ret_r), false when the caller answers with issue_reply_json. */
static bool
issue_reply_send(int fd, const struct ca_issued *issued, const json_t *id, int *ret_r)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;

    if (issue_reply_text(issued, id, &text, &len) < 0)
        return false;
    *ret_r = frame_send_text(fd, text, len);
    return true;
}

int
ca_server_handle(struct ca_server *server, int fd)
{
    json_auto_t *req = NULL;
    json_auto_t *reply = NULL;
    struct ca_error error = { "" };
    const char *op;
    int r;

    r = frame_recv(fd, true, &req, NULL);
    if (r == -EBADMSG || r == -EMSGSIZE)
        return 0; /* consumed whole; without an id it cannot be answered */
    if (r < 0)
        return r;
    op = get_str(req, "op");
    if (op && strcmp(op, "create_zone") == 0)
        r = handle_create_zone(server, req, &error, &reply);
    else if (op && strcmp(op, "issue") == 0) {
        _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;

        r = handle_issue(server, req, &error, &issued);
        if (r >= 0 && issue_reply_send(fd, issued, json_object_get(req, "id"), &r))
            return r;
        if (r >= 0)
            r = issue_reply_json(issued, &reply);
    } else if (op && strcmp(op, "crl") == 0)
        r = handle_crl(server, req, &error, &reply);
    else {
        snprintf(error.message, sizeof(error.message), "unknown op");
        r = -EINVAL;
    }
    if (r < 0) {
        json_decref(reply);
        reply = json_object();
        if (!reply)
            return -ENOMEM;
        if (!error.message[0])
            snprintf(error.message, sizeof(error.message), "%s", strerror(-r));
        if (json_object_set_new(reply, "ok", json_false()) < 0 || set_int(reply, "errno", -r) < 0 ||
            set_str(reply, "message", error.message) < 0)
            return -ENOMEM;
    }
    /* The client matches replies to requests by id (see client_call). */
    if (json_object_get(req, "id") && json_object_set(reply, "id", json_object_get(req, "id")) < 0)
        return -ENOMEM;
    return frame_send(fd, reply);
}

int
ca_server_serve(struct ca_server *server, const int *fds, size_t n_fds)
{
    _cleanup_free_ struct pollfd *pfds = calloc(n_fds ? n_fds : 1, sizeof(*pfds));
    size_t active = n_fds;

    if (!pfds)
        return -ENOMEM;
    for (size_t i = 0; i < n_fds; i++)
        pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    while (active > 0) {
        int n = poll(pfds, n_fds, -1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (size_t i = 0; i < n_fds; i++) {
            if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (ca_server_handle(server, pfds[i].fd) < 0) {
                /* Peer gone, or the socket failed: stop polling it (poll ignores negative
                 * descriptors; the descriptor stays the caller's). */
                pfds[i].fd = -1;
                active--;
            }
        }
    }
    return 0;
}

/* ---- client ---- */

/* Sends req with a new id, into *ret_id. */
static int
client_send(int fd, json_t *req, uint64_t *ret_id)
{
    uint64_t id;

    /* A random id: a reply to an earlier request that timed out (or that a previous worker on
     * this socket sent and died before reading) is told apart and dropped. */
    if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
        return -EIO;
    id >>= 12; /* a JSON integer, exact in a double */
    if (json_object_set_new(req, "id", json_integer((json_int_t)id)) < 0)
        return -ENOMEM;
    *ret_id = id;
    return frame_send(fd, req);
}

/* Waits for the reply with id: 0 and *ret_reply, or (with ret_fast) 1 and *ret_fast for a
 * successful issue reply read without jansson. With ready, reads before it polls: the reply to
 * a request sent behind others may be there already. */
static int
client_recv(int fd, uint64_t id, bool ready, struct ca_error *error, json_t **ret_reply,
            struct issue_fast *ret_fast)
{
    json_auto_t *reply = NULL;
    const json_t *ok;
    int r;

    for (;; ready = false) {
        r = frame_recv(fd, ready, &reply, ret_fast);
        if (r < 0)
            return r == -EPIPE ? -ECONNRESET : r;
        if (r > 0) {
            if ((uint64_t)ret_fast->id == id)
                return 1;
            issue_fast_release(ret_fast);
            continue;
        }
        if ((uint64_t)json_integer_value(json_object_get(reply, "id")) == id)
            break;
        json_decref(TAKE_PTR(reply));
    }
    ok = json_object_get(reply, "ok");
    if (json_is_true(ok)) {
        *ret_reply = TAKE_PTR(reply);
        return 0;
    }
    if (!json_is_false(ok))
        return -EBADMSG;
    if (error)
        snprintf(error->message, sizeof(error->message), "%s",
                 get_str(reply, "message") ? get_str(reply, "message") : "");
    {
        json_int_t e = json_integer_value(json_object_get(reply, "errno"));
        return e > 0 && e < 4096 ? -(int)e : -EPROTO;
    }
}

/* Sends req and waits for its reply (client_recv). */
static int
client_call(int fd, json_t *req, struct ca_error *error, json_t **ret_reply,
            struct issue_fast *ret_fast)
{
    uint64_t id;
    int r = client_send(fd, req, &id);

    return r < 0 ? r : client_recv(fd, id, false, error, ret_reply, ret_fast);
}

static int
dup_member(const json_t *obj, const char *key, char **ret)
{
    const char *s = get_str(obj, key);

    if (!s)
        return -EBADMSG;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int
ca_client_create_zone(int fd, const char *zone_id, const char *name, enum ca_key_type type,
                      struct ca_error *error, struct ca_zone_sealed **ret_sealed)
{
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *sealed = calloc(1, sizeof(*sealed));
    json_auto_t *req = json_object();
    json_auto_t *reply = NULL;
    int r;

    if (!sealed || !req)
        return -ENOMEM;
    if ((r = set_str(req, "op", "create_zone")) < 0 || (r = set_str(req, "zone_id", zone_id)) < 0 ||
        (r = set_str(req, "name", name)) < 0 ||
        (r = set_str(req, "key_type", key_type_name(type))) < 0)
        return r;
    r = client_call(fd, req, error, &reply, NULL);
    if (r < 0)
        return r;
    if ((r = dup_member(reply, "root_cert", &sealed->root_cert_pem)) < 0 ||
        (r = dup_member(reply, "issuing_cert", &sealed->issuing_cert_pem)) < 0 ||
        (r = dup_member(reply, "root_key_sealed", &sealed->root_key_sealed)) < 0 ||
        (r = dup_member(reply, "issuing_key_sealed", &sealed->issuing_key_sealed)) < 0)
        return r;
    *ret_sealed = TAKE_PTR(sealed);
    return 0;
}

/* The issue request for csr (DER, in field "csr_hex" or "spki_hex") into *ret_req. */
static int
issue_request(const char *zone_id, const struct ca_profile *profile, const char *field,
              const void *csr, size_t csr_len, json_t **ret_req)
{
    _cleanup_free_ char *csr_hex = NULL;
    json_auto_t *req = json_object();
    json_t *jprofile = NULL;
    int r;

    if (!req)
        return -ENOMEM;
    if (!csr || csr_len == 0 || csr_len > CA_CSR_MAX)
        return csr_len > CA_CSR_MAX ? -E2BIG : -EINVAL;
    csr_hex = malloc(2 * csr_len + 1);
    if (!csr_hex)
        return -ENOMEM;
    hex_encode(csr, csr_len, csr_hex);
    r = profile_to_json(profile, &jprofile);
    if (r < 0)
        return r;
    if (json_object_set_new(req, "profile", jprofile) < 0)
        return -ENOMEM;
    if ((r = set_str(req, "op", "issue")) < 0 || (r = set_str(req, "zone_id", zone_id)) < 0 ||
        (r = set_str(req, field, csr_hex)) < 0)
        return r;
    *ret_req = TAKE_PTR(req);
    return 0;
}

/* Waits for the reply to the issue request id and reads it into *ret_issued. */
static int
issue_recv(int fd, uint64_t id, bool ready, struct ca_error *error, struct ca_issued **ret_issued)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = calloc(1, sizeof(*issued));
    _cleanup_(issue_fast_release) struct issue_fast fast = { 0 };
    json_auto_t *reply = NULL;
    const char *serial;
    int64_t nb, na;
    int r;

    if (!issued)
        return -ENOMEM;
    r = client_recv(fd, id, ready, error, &reply, &fast);
    if (r < 0)
        return r;
    if (r > 0) {
        serial = fast.serial;
        nb = fast.not_before;
        na = fast.not_after;
    } else {
        serial = get_str(reply, "serial");
        if (get_int(reply, "not_before", -1, &nb) < 0 || get_int(reply, "not_after", -1, &na) < 0)
            return -EBADMSG;
    }
    if (!serial || strlen(serial) != CA_SERIAL_HEX_LEN || nb < 0 || na <= nb)
        return -EBADMSG;
    if (r > 0) {
        issued->cert_pem = TAKE_PTR(fast.cert_pem);
        issued->chain_pem = TAKE_PTR(fast.chain_pem);
    } else if ((r = dup_member(reply, "cert", &issued->cert_pem)) < 0 ||
               (r = dup_member(reply, "chain", &issued->chain_pem)) < 0)
        return r;
    memcpy(issued->serial_hex, serial, CA_SERIAL_HEX_LEN + 1);
    issued->not_before = nb;
    issued->not_after = na;
    *ret_issued = TAKE_PTR(issued);
    return 0;
}

static int
client_issue(int fd, const char *zone_id, const struct ca_profile *profile, const char *field,
             const void *csr, size_t csr_len, struct ca_error *error, struct ca_issued **ret_issued)
{
    json_auto_t *req = NULL;
    uint64_t id;
    int r;

    r = issue_request(zone_id, profile, field, csr, csr_len, &req);
    if (r >= 0)
        r = client_send(fd, req, &id);
    return r < 0 ? r : issue_recv(fd, id, false, error, ret_issued);
}

int
ca_client_issue(int fd, const char *zone_id, const struct ca_profile *profile, const void *csr,
                size_t csr_len, struct ca_error *error, struct ca_issued **ret_issued)
{
    return client_issue(fd, zone_id, profile, "csr_hex", csr, csr_len, error, ret_issued);
}

int
ca_client_issue_spki(int fd, const char *zone_id, const struct ca_profile *profile,
                     const void *spki, size_t spki_len, struct ca_error *error,
                     struct ca_issued **ret_issued)
{
    return client_issue(fd, zone_id, profile, "spki_hex", spki, spki_len, error, ret_issued);
}

int
ca_client_issue_spki_send(int fd, const char *zone_id, const struct ca_profile *profile,
                          const void *spki, size_t spki_len, uint64_t *ret_id)
{
    json_auto_t *req = NULL;
    int r = issue_request(zone_id, profile, "spki_hex", spki, spki_len, &req);

    return r < 0 ? r : client_send(fd, req, ret_id);
}

int
ca_client_issue_recv(int fd, uint64_t id, struct ca_error *error, struct ca_issued **ret_issued)
{
    return issue_recv(fd, id, true, error, ret_issued);
}

int
ca_client_crl(int fd, const char *zone_id, struct ca_error *error, char **ret_pem)
{
    json_auto_t *req = json_object();
    json_auto_t *reply = NULL;
    int r;

    if (!req)
        return -ENOMEM;
    if ((r = set_str(req, "op", "crl")) < 0 || (r = set_str(req, "zone_id", zone_id)) < 0)
        return r;
    r = client_call(fd, req, error, &reply, NULL);
    if (r < 0)
        return r;
    return dup_member(reply, "crl", ret_pem);
}
