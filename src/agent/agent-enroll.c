/* First start: POST /v1/nodes with the join token (docs/agent.md). The keys are saved before the
 * request, so a retry after a crash registers the same keys; node.json is written last. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <attest/attest.h>
#include <attest/tsm.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "agent.h"
#include "crypto-util.h"
#include "log.h"

static void enroll_send(struct agent *a);

/* The address the node announces: the listen address unless it is a wildcard, then the first
 * non-loopback IPv4 address, else loopback. */
static void
node_address(struct agent *a, char out[INET6_ADDRSTRLEN])
{
    const char *colon = strrchr(a->opt.listen, ':');
    size_t len = colon ? (size_t)(colon - a->opt.listen) : 0;
    struct ifaddrs *ifs = NULL;

    memcpy(out, "127.0.0.1", 10);
    if (len > 0 && len < INET6_ADDRSTRLEN && strncmp(a->opt.listen, "0.0.0.0", len) != 0 &&
        strncmp(a->opt.listen, "[::]", len) != 0) {
        memcpy(out, a->opt.listen, len);
        out[len] = '\0';
        return;
    }
    if (getifaddrs(&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;
        if (!sin || sin->sin_family != AF_INET || ntohl(sin->sin_addr.s_addr) >> 24 == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, out, INET6_ADDRSTRLEN);
        break;
    }
    freeifaddrs(ifs);
}

static void
host_id(char out[64])
{
    _cleanup_close_ int fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    out[0] = '\0';
    if (fd < 0)
        return;
    n = read(fd, out, 63);
    if (n <= 0)
        n = 0;
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
}

/* report_data of enrollment evidence (docs/nodes.md): SHA-256(SHA-256(join token) ‖
 * SHA-256(DER SPKI of the node key)), then 32 zero bytes. */
static int
enroll_report_data(struct agent *a, uint8_t ret[ATTEST_REPORT_DATA_SIZE])
{
    uint8_t both[2 * SHA256_LEN];
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(a->enroll_node_key, &der);

    if (n <= 0)
        return -ENOMEM;
    sha256(a->opt.join_token, strlen(a->opt.join_token), both);
    sha256(der, (size_t)n, both + SHA256_LEN);
    OPENSSL_free(der);
    memset(ret, 0, ATTEST_REPORT_DATA_SIZE);
    sha256(both, sizeof(both), ret);
    return 0;
}

/* This machine's hardware evidence for enrollment as an envelope {type, data} into *ret, or
 * NULL when it has no TEE (then the sim key is sent, as before). The roots are overridable by
 * CLOISTER_TSM_ROOT and CLOISTER_GRAMINE_ROOT, as for cloister-init. */
static int
enroll_evidence(struct agent *a, json_t **ret)
{
    struct attest_hw_roots roots = { .tsm = getenv("CLOISTER_TSM_ROOT"),
                                     .gramine = getenv("CLOISTER_GRAMINE_ROOT") };
    struct attest_hw_error error = { "" };
    struct attest_evidence *evidence = NULL;
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    _cleanup_free_ uint8_t *data = NULL;
    struct attest_hw_info info;
    size_t size = 0;
    int r;

    *ret = NULL;
    r = attest_hw_detect(&roots, &info, &error);
    if (r < 0)
        return log_error_errno(r, "This machine has a TEE interface that cannot be used: %s",
                               error.reason[0] ? error.reason : "error");
    if (info.producer == ATTEST_HW_NONE)
        return 0;
    r = enroll_report_data(a, report_data);
    if (r >= 0)
        r = attest_hw_evidence(&roots, &info, report_data, &data, &size, &error);
    if (r < 0)
        return log_error_errno(r, "Cannot get hardware evidence: %s",
                               error.reason[0] ? error.reason : "error");
    if (r >= 0)
        r = attest_evidence_new(info.platform, data, size, &evidence);
    if (r >= 0)
        r = attest_evidence_to_json(evidence, ret);
    attest_evidence_free(evidence);
    if (r >= 0)
        log_info("Enrolling with %s hardware evidence", attest_platform_name(info.platform));
    return r;
}

static int
enroll_body(struct agent *a, char **ret)
{
    _cleanup_free_ char *csr = NULL, *spki = NULL;
    _cleanup_(json_decrefp) json_t *body = NULL;
    json_t *evidence = NULL;
    char addr[INET6_ADDRSTRLEN], hid[64];
    int r;

    r = agent_csr_make(a->enroll_node_key, a->opt.name, &csr);
    if (r >= 0)
        r = enroll_evidence(a, &evidence);
    if (r >= 0 && !evidence)
        r = agent_spki_base64(a->enroll_sim_key, &spki);
    if (r < 0)
        return r;
    node_address(a, addr);
    host_id(hid);
    /* With a TEE, its evidence (the manager verifies it and records the node's platform and TCB
     * status); without, the sim key (accepted where the account allows simulation). */
    body = json_pack("{s:s,s:s,s:s,s:{s:s,s:o*,s:s*}}", "name", a->opt.name, "ipaddress", addr,
                     "agent_version", CLOISTER_VERSION, "attestation_request", "csr", csr,
                     "evidence", evidence, "sim_key", spki);
    if (!body)
        return -ENOMEM;
    if (hid[0] && json_object_set_new(body, "host_id", json_string(hid)) < 0)
        return -ENOMEM;
    *ret = json_dumps(body, JSON_COMPACT);
    return *ret ? 0 : -ENOMEM;
}

static int
copy_field(json_t *o, const char *field, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, field));

    if (!s || strlen(s) >= cap)
        return log_error_errno(-EBADMSG, "Enrollment answer: '%s' missing or too long", field);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int
enroll_finish(struct agent *a, const char *text, size_t size)
{
    _cleanup_(json_decrefp) json_t *o = json_loadb(text, size, 0, NULL);
    _cleanup_(agent_state_freep) struct agent_state *s = agent_state_new();
    const char *cert, *chain, *ca;
    json_t *v;
    int r;

    if (!s)
        return -ENOMEM;
    if (!json_is_object(o))
        return log_error_errno(-EBADMSG, "Enrollment answer is not a JSON object");
    if ((r = copy_field(o, "node_id", s->node_id, sizeof(s->node_id))) < 0 ||
        (r = copy_field(o, "zone_id", s->zone_id, sizeof(s->zone_id))) < 0)
        return r;
    (void)copy_field(o, "acct_id", s->acct_id, sizeof(s->acct_id));
    (void)copy_field(o, "trust_domain", s->trust_domain, sizeof(s->trust_domain));
    memcpy(s->name, a->opt.name, strlen(a->opt.name) + 1);
    memcpy(s->manager_url, a->manager_url, strlen(a->manager_url) + 1);
    v = json_object_get(o, "node_refresh_interval");
    if (json_is_integer(v) && json_integer_value(v) >= AGENT_REFRESH_MIN_S &&
        json_integer_value(v) <= AGENT_REFRESH_MAX_S)
        s->refresh_interval = json_integer_value(v);
    v = json_object_get(o, "node_renewal_threshold");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 100)
        s->renewal_threshold = (int)json_integer_value(v);
    cert = json_string_value(json_object_get(o, "certificate"));
    chain = json_string_value(json_object_get(o, "chain"));
    ca = json_string_value(json_object_get(o, "ca_certificate"));
    if (!cert || !chain)
        return log_error_errno(-EBADMSG, "Enrollment answer without certificate or chain");
    if (agent_cert_parse(cert, &s->node_cert) < 0 || agent_chain_parse(chain, &s->chain) < 0)
        return log_error_errno(-EBADMSG, "Enrollment answer: certificate or chain not PEM");
    if (X509_check_private_key(s->node_cert, a->enroll_node_key) != 1)
        return log_error_errno(-EBADMSG, "Enrollment answer: the certificate is not for our key");
    if (ca && !(s->ca_pem = strdup(ca)))
        return -ENOMEM;
    s->node_key = TAKE_PTR(a->enroll_node_key);
    s->sim_key = TAKE_PTR(a->enroll_sim_key);
    r = agent_state_save_identity(a->opt.state_dir, s->node_key, s->node_cert, s->chain);
    if (r < 0)
        return log_error_errno(r, "Cannot save the node certificate in '%s': %m", a->opt.state_dir);
    if (a->opt.ca_file) {
        r = agent_state_save_manager_ca(a->opt.state_dir, a->opt.ca_file);
        if (r < 0)
            return log_error_errno(r, "Cannot keep a copy of '%s' in '%s': %m", a->opt.ca_file,
                                   a->opt.state_dir);
    }
    r = agent_state_save_meta(a->opt.state_dir, s);
    if (r < 0)
        return log_error_errno(r, "Cannot save node.json in '%s': %m", a->opt.state_dir);
    log_info("Enrolled as node %s in zone %s", s->node_id, s->zone_id);
    a->state = TAKE_PTR(s);
    return 0;
}

static void
stop_with(struct agent *a, int code)
{
    a->exit_code = code;
    event_base_loopexit(a->base, NULL);
}

static void
retry_later(struct agent *a, const char *why)
{
    int delay = 1 << (a->enroll_failures < 5 ? a->enroll_failures : 5);
    struct timeval tv = { .tv_sec = delay < AGENT_BACKOFF_MAX_S ? delay : AGENT_BACKOFF_MAX_S };

    if (a->enroll_failures == 0)
        log_warning("Cannot enroll yet (%s): retrying with backoff", why);
    a->enroll_failures++;
    evtimer_add(a->enroll_timer, &tv);
}

static void
on_enrolled(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    struct agent *a = userdata;
    _cleanup_(json_decrefp) json_t *err = NULL;
    const char *code = "", *message = "";

    if (status == -ECANCELED)
        return;
    if (status < 0) {
        retry_later(a, upstream_strerror(status));
        return;
    }
    if (status == 201 || status == 200) {
        if (enroll_finish(a, body, size) < 0 || agent_enrolled(a) < 0)
            stop_with(a, 1);
        return;
    }
    err = json_loadb(body, size, 0, NULL);
    if (json_is_object(err)) {
        code = json_string_value(json_object_get(err, "code")) ?: "";
        message = json_string_value(json_object_get(err, "message")) ?: "";
    }
    if (status >= 500) {
        retry_later(a, "the manager answered an error");
        return;
    }
    log_error("Enrollment refused by the manager: %d %s%s%s%s", status, code[0] ? code : reason,
              message[0] ? " (" : "", message, message[0] ? ")" : "");
    if (status == 401)
        log_error("The join token is used, expired or unknown: get a new one with "
                  "`cloister node token` (GET /v1/zones/{id}/token)");
    stop_with(a, 1);
}

static void
enroll_send(struct agent *a)
{
    int r = upstream_request(a->enroll_up, EVHTTP_REQ_POST, "/v1/nodes", a->opt.join_token,
                             a->enroll_body, strlen(a->enroll_body), on_enrolled, a);

    if (r < 0) {
        log_error_errno(r, "Cannot send the enrollment request: %m");
        stop_with(a, 1);
    }
}

static void
on_enroll_timer(evutil_socket_t fd, short what, void *arg)
{
    enroll_send(arg);
}

int
agent_enroll_start(struct agent *a)
{
    int r;

    r = agent_state_load_or_make_keys(a->opt.state_dir, &a->enroll_node_key, &a->enroll_sim_key);
    if (r < 0)
        return log_error_errno(r, "Cannot make or load the node keys in '%s': %m",
                               a->opt.state_dir);
    r = enroll_body(a, &a->enroll_body);
    if (r < 0)
        return log_error_errno(r, "Cannot build the enrollment request: %m");
    r = agent_ssl_ctx_new(a->opt.ca_file, NULL, NULL, NULL, &a->enroll_ctx);
    if (r < 0)
        return r;
    r = upstream_new(a->base, a->dns, a->manager_url, a->enroll_ctx, 1, &a->enroll_up);
    if (r < 0)
        return log_error_errno(r, "--manager '%s': expected https://HOST[:PORT]", a->manager_url);
    a->enroll_timer = evtimer_new(a->base, on_enroll_timer, a);
    if (!a->enroll_timer)
        return -ENOMEM;
    log_info("Enrolling with %s as '%s'", a->manager_url, a->opt.name);
    enroll_send(a);
    return 0;
}
