#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
 * starts at a frame boundary. */
static int
frame_send(int fd, const json_t *msg)
{
    _cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
    _cleanup_free_ uint8_t *buf = NULL;
    size_t len;

    if (!text)
        return -ENOMEM;
    len = strlen(text);
    if (len == 0 || len > CA_FRAME_MAX)
        return -EMSGSIZE;
    buf = malloc(4 + len);
    if (!buf)
        return -ENOMEM;
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    memcpy(buf + 4, text, len);
    for (;;) {
        ssize_t n = send(fd, buf, 4 + len, MSG_NOSIGNAL);
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

/* Receives one frame. -EPIPE when the peer has closed; -EMSGSIZE or -EBADMSG for a frame that is
 * too large or malformed (it has been consumed: the socket stays in step). */
static int
frame_recv(int fd, json_t **ret_msg)
{
    _cleanup_free_ uint8_t *buf = malloc(4 + CA_FRAME_MAX);
    json_t *msg;
    ssize_t n;
    size_t len;
    int r;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        r = fd_wait(fd, POLLIN);
        if (r < 0)
            return r;
        n = recv(fd, buf, 4 + CA_FRAME_MAX, MSG_TRUNC);
        if (n >= 0)
            break;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
    }
    if (n == 0)
        return -EPIPE;
    if (n < 4 || (size_t)n > 4 + CA_FRAME_MAX)
        return -EMSGSIZE;
    len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    if (len == 0 || len != (size_t)n - 4)
        return -EBADMSG;
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

static int
handle_issue(struct ca_server *server, const json_t *req, struct ca_error *error,
             json_t **ret_reply)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    _cleanup_free_ uint8_t *csr = NULL;
    json_auto_t *reply = json_object();
    const char *names[CA_DNS_NAMES_MAX];
    const char *zone_id = get_str(req, "zone_id"), *csr_hex = get_str(req, "csr_hex");
    const char *spki_hex = get_str(req, "spki_hex");
    const json_t *jprofile = json_object_get(req, "profile");
    struct ca_profile profile;
    struct ca_claims claims = { 0 };
    struct zone_ca *ca = NULL;
    size_t hex_len;
    int r;

    if (!reply)
        return -ENOMEM;
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

int
ca_server_handle(struct ca_server *server, int fd)
{
    json_auto_t *req = NULL;
    json_auto_t *reply = NULL;
    struct ca_error error = { "" };
    const char *op;
    int r;

    r = frame_recv(fd, &req);
    if (r == -EBADMSG || r == -EMSGSIZE)
        return 0; /* consumed whole; without an id it cannot be answered */
    if (r < 0)
        return r;
    op = get_str(req, "op");
    if (op && strcmp(op, "create_zone") == 0)
        r = handle_create_zone(server, req, &error, &reply);
    else if (op && strcmp(op, "issue") == 0)
        r = handle_issue(server, req, &error, &reply);
    else if (op && strcmp(op, "crl") == 0)
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

static int
client_call(int fd, json_t *req, struct ca_error *error, json_t **ret_reply)
{
    json_auto_t *reply = NULL;
    const json_t *ok;
    uint64_t id;
    int r;

    /* A random id: a reply to an earlier request that timed out (or that a previous worker on
     * this socket sent and died before reading) is told apart and dropped. */
    if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
        return -EIO;
    id >>= 12; /* a JSON integer, exact in a double */
    if (json_object_set_new(req, "id", json_integer((json_int_t)id)) < 0)
        return -ENOMEM;
    r = frame_send(fd, req);
    if (r < 0)
        return r;
    for (;;) {
        r = frame_recv(fd, &reply);
        if (r < 0)
            return r == -EPIPE ? -ECONNRESET : r;
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
    r = client_call(fd, req, error, &reply);
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

static int
client_issue(int fd, const char *zone_id, const struct ca_profile *profile, const char *field,
             const void *csr, size_t csr_len, struct ca_error *error, struct ca_issued **ret_issued)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = calloc(1, sizeof(*issued));
    _cleanup_free_ char *csr_hex = NULL;
    json_auto_t *req = json_object();
    json_auto_t *reply = NULL;
    json_t *jprofile = NULL;
    const char *serial;
    int64_t nb, na;
    int r;

    if (!issued || !req)
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
    r = client_call(fd, req, error, &reply);
    if (r < 0)
        return r;
    serial = get_str(reply, "serial");
    if (!serial || strlen(serial) != CA_SERIAL_HEX_LEN ||
        get_int(reply, "not_before", -1, &nb) < 0 || get_int(reply, "not_after", -1, &na) < 0 ||
        nb < 0 || na <= nb)
        return -EBADMSG;
    if ((r = dup_member(reply, "cert", &issued->cert_pem)) < 0 ||
        (r = dup_member(reply, "chain", &issued->chain_pem)) < 0)
        return r;
    memcpy(issued->serial_hex, serial, CA_SERIAL_HEX_LEN + 1);
    issued->not_before = nb;
    issued->not_after = na;
    *ret_issued = TAKE_PTR(issued);
    return 0;
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
ca_client_crl(int fd, const char *zone_id, struct ca_error *error, char **ret_pem)
{
    json_auto_t *req = json_object();
    json_auto_t *reply = NULL;
    int r;

    if (!req)
        return -ENOMEM;
    if ((r = set_str(req, "op", "crl")) < 0 || (r = set_str(req, "zone_id", zone_id)) < 0)
        return r;
    r = client_call(fd, req, error, &reply);
    if (r < 0)
        return r;
    return dup_member(reply, "crl", ret_pem);
}
