/* cloister-init's key, CSR and report_data (src/init/csr.c), its HTTP client
 * (lib/attest/agent-http.c) against a real socket, and libattest's agent client. report_data is
 * checked against libattest's attest_report_data_compute, which init cannot link statically. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <attest/agent.h>
#include <attest/evidence.h>
#include <attest/binding.h>

#include "agent-http.h"
#include "csr.h"
#include "init-agent.h"
#include "test.h"

static const struct manifest_certificate rsa_config = {
    .subject = "app.example.com",
    .alt_names = { .items = (const char *[]){ "www.example.com", "app.example.com" }, .n = 2 },
    .key_type = MANIFEST_KEY_RSA,
    .rsa_bits = 2048,
    .key_path = "/k",
    .cert_path = "/c",
};

TEST(test_report_data_matches_libattest)
{
    static const char *const nonces[] = {
        "n", "AbC-_dEf0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
    };
    const struct manifest_certificate ec = { .subject = "a.example",
                                             .key_type = MANIFEST_KEY_EC,
                                             .curve = "P-384" };
    const struct manifest_certificate *configs[] = { &rsa_config, &ec };

    for (size_t c = 0; c < 2; c++) {
        EVP_PKEY *key = NULL;

        CHECK_EQ_INT(csr_key_generate(configs[c], &key), 0);
        for (size_t i = 0; i < 2; i++) {
            uint8_t mine[64], theirs[64];
            const uint8_t *n = (const uint8_t *)nonces[i];

            CHECK_EQ_INT(csr_report_data(n, strlen(nonces[i]), key, mine), 0);
            CHECK_EQ_INT(attest_report_data_compute(n, strlen(nonces[i]), key, NULL, theirs), 0);
            CHECK(memcmp(mine, theirs, 64) == 0);
        }
        uint8_t out[64];
        CHECK_EQ_INT(csr_report_data((const uint8_t *)"", 0, key, out), -EINVAL);
        EVP_PKEY_free(key);
    }
}

TEST(test_csr_contents)
{
    const struct manifest_certificate ec = { .subject = "a.example",
                                             .key_type = MANIFEST_KEY_EC,
                                             .curve = "P-256" };
    const struct manifest_certificate *configs[] = { &rsa_config, &ec };

    for (size_t c = 0; c < 2; c++) {
        EVP_PKEY *key = NULL;
        char *pem = NULL, *key_pem = NULL, cn[256];
        size_t key_size = 0;

        CHECK_EQ_INT(csr_key_generate(configs[c], &key), 0);
        CHECK_EQ_INT(EVP_PKEY_get_bits(key), c == 0 ? 2048 : 256);
        CHECK_EQ_INT(csr_make_pem(key, configs[c], &pem), 0);
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
        BIO_free(bio);
        CHECK(req);
        CHECK_EQ_INT(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
        CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key) == 1);
        CHECK(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
                                        sizeof(cn)) > 0);
        CHECK_EQ_STR(cn, configs[c]->subject);

        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        GENERAL_NAMES *names = NULL;
        for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
            X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
            if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name)
                names = X509V3_EXT_d2i(ext);
        }
        CHECK(names);
        /* The subject first, then the other names, without duplicates. */
        CHECK_EQ_INT(sk_GENERAL_NAME_num(names), c == 0 ? 2 : 1);
        const ASN1_IA5STRING *dns = sk_GENERAL_NAME_value(names, 0)->d.dNSName;
        CHECK_EQ_STR((const char *)ASN1_STRING_get0_data(dns), configs[c]->subject);
        if (c == 0) {
            dns = sk_GENERAL_NAME_value(names, 1)->d.dNSName;
            CHECK_EQ_STR((const char *)ASN1_STRING_get0_data(dns), "www.example.com");
        }
        GENERAL_NAMES_free(names);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        X509_REQ_free(req);

        CHECK_EQ_INT(csr_key_pem(key, &key_pem, &key_size), 0);
        CHECK(strstr(key_pem, "-----BEGIN PRIVATE KEY-----") == key_pem);
        CHECK_EQ_INT(strlen(key_pem), key_size);
        free(key_pem);
        free(pem);
        EVP_PKEY_free(key);
    }
}

TEST(test_address_forms)
{
    static const char *const good[] = { "http://127.0.0.1:9092",    "http://127.0.0.1:9092/",
                                        "http://127.0.0.1:9092/v1", "http://127.0.0.1:9092/v1/",
                                        "http://[::1]:80/v1/",      "unix:/run/agent.sock" };
    static const char *const bad[] = { "http://localhost:9092",   "https://127.0.0.1:9092",
                                       "http://127.0.0.1",        "http://127.0.0.1:0",
                                       "http://127.0.0.1:65536",  "http://127.0.0.1:9092/v2/",
                                       "http://127.0.0.1:9092//", "http://127.0.0.1:9092/v1/x",
                                       "http://127.0.0.1/v1/",    "unix:relative",
                                       "http://[::1:80",          "" };
    struct agent_http_address *a = NULL;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_EQ_INT(agent_http_address_parse(good[i], &a), 0);
        CHECK_EQ_STR(agent_http_address_url(a), good[i]);
        a = agent_http_address_free(a);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(agent_http_address_parse(bad[i], &a), -EINVAL);
}

/* ---- a one-shot HTTP server on a real socket: it answers each connection with the next canned
 * reply and records the request it got ---- */

struct server {
    int fd;
    int port;
    const char *const *replies;
    size_t n;
    char last_request[8192];
};

static void *
serve(void *arg)
{
    struct server *s = arg;

    for (size_t i = 0; i < s->n; i++) {
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        size_t used = 0;

        if (c < 0)
            return NULL;
        /* Read the head and the Content-Length body. */
        for (;;) {
            ssize_t n = recv(c, s->last_request + used, sizeof(s->last_request) - 1 - used, 0);
            if (n <= 0)
                break;
            used += (size_t)n;
            s->last_request[used] = '\0';
            char *end = strstr(s->last_request, "\r\n\r\n");
            const char *cl = strstr(s->last_request, "Content-Length: ");
            if (end && cl &&
                used >= (size_t)(end + 4 - s->last_request) + strtoul(cl + 16, NULL, 10))
                break;
        }
        /* "@STATUS|BODY": the server writes the head with the body's length. */
        char formatted[8192];
        const char *reply = s->replies[i];
        if (reply[0] == '@') {
            const char *bar = strchr(reply, '|');
            snprintf(formatted, sizeof(formatted), "HTTP/1.1 %.*s\r\nContent-Length: %zu\r\n\r\n%s",
                     (int)(bar - reply - 1), reply + 1, strlen(bar + 1), bar + 1);
            reply = formatted;
        }
        if (send(c, reply, strlen(reply), MSG_NOSIGNAL) < 0)
            break;
        close(c);
    }
    return NULL;
}

static void
server_start(struct server *s, pthread_t *thread)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s->fd >= 0);
    CHECK_EQ_INT(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CHECK_EQ_INT(listen(s->fd, 8), 0);
    CHECK_EQ_INT(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
    s->port = ntohs(sin.sin_port);
    CHECK_EQ_INT(pthread_create(thread, NULL, serve, s), 0);
}

static struct agent_http_address *
server_address(const struct server *s)
{
    struct agent_http_address *a = NULL;
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    CHECK_EQ_INT(agent_http_address_parse(url, &a), 0);
    return a;
}

TEST(test_http_replies)
{
    static const char *const replies[] = {
        ("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n"
         "{\"a\":true}\nEXTRA"),
        "HTTP/1.0 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",            /* closed early */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", /* unsupported */
        "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",                /* beyond max_body */
        "garbage\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    };
    static const int expected[] = { 0, 0, -EPROTO, -EPROTO, -E2BIG, -EPROTO, -EPROTO };
    struct server s = { .replies = replies, .n = 7 };
    struct agent_http_address *a;
    pthread_t thread;

    server_start(&s, &thread);
    a = server_address(&s);
    for (size_t i = 0; i < s.n; i++) {
        struct agent_http_response resp = { 0 };
        int r = agent_http_request(a, "POST", "/v1/x", "{}", 2, 5000, 1024, &resp);

        if (r != expected[i])
            fprintf(stderr, "  reply %zu: %d\n", i, r);
        CHECK_EQ_INT(r, expected[i]);
        if (i == 0) {
            CHECK_EQ_INT(resp.status, 200);
            CHECK_EQ_STR(resp.body, "{\"a\":true}\n");
            CHECK(strstr(s.last_request, "POST /v1/x HTTP/1.1\r\n") == s.last_request);
            CHECK(strstr(s.last_request, "Content-Length: 2\r\n"));
            CHECK(strstr(s.last_request, "\r\n\r\n{}"));
        }
        if (i == 1) {
            CHECK_EQ_INT(resp.status, 204);
            CHECK_EQ_INT(resp.body_size, 0);
        }
        agent_http_response_release(&resp);
    }
    pthread_join(thread, NULL);
    close(s.fd);

    /* Nobody listening: a clean connection error, not a hang. */
    struct agent_http_response resp = { 0 };
    CHECK_EQ_INT(agent_http_request(a, "GET", "/", NULL, 0, 2000, 1024, &resp), -ECONNREFUSED);
    agent_http_address_free(a);
}

TEST(test_init_agent_calls)
{
    static const char *const replies[] = {
        ("HTTP/1.1 200 OK\r\nContent-Length: 57\r\n\r\n"
         "{\"nonce\":\"abc_DEF-1\",\"expires_at\":\"2026-12-04T15:00:00Z\"}"),
        ("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 61\r\n\r\n"
         "{\"code\":\"MANAGER_UNREACHABLE\",\"message\":\"connection refused\"}"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
         "{\"task_id\":\"t-1\",\"task_status\":\"PENDING_WHITELIST\",\"message\":\"domain "
         "app.example.com "
         "not approved\"}"),
        "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{\"task_status\":\"WHATEVER\"}    ",
    };
    struct server s = { .replies = replies, .n = 4 };
    struct init_agent_error e = { 0 };
    struct init_issue_reply reply = { 0 };
    struct agent_http_address *a;
    char *nonce = NULL;
    pthread_t thread;

    server_start(&s, &thread);
    a = server_address(&s);
    CHECK_EQ_INT(init_agent_challenge(a, &nonce, &e), 0);
    CHECK_EQ_STR(nonce, "abc_DEF-1");
    free(nonce);
    CHECK_EQ_INT(init_agent_challenge(a, &nonce, &e), -EREMOTEIO);
    CHECK_EQ_INT(e.http_status, 502);
    CHECK_EQ_STR(e.message, "HTTP 502 MANAGER_UNREACHABLE: connection refused");
    init_agent_error_release(&e);
    CHECK_EQ_INT(
        init_agent_issue(a, "CSR\n", "{\"type\":\"sim\",\"data\":\"AA==\"}", "n", &reply, &e), 0);
    CHECK(strstr(s.last_request, "{\"csr\":\"CSR\\n\",\"evidence\":{\"type\":\"sim\","
                                 "\"data\":\"AA==\"},\"nonce\":\"n\"}"));
    CHECK_EQ_INT(reply.status, INIT_TASK_PENDING_WHITELIST);
    CHECK_EQ_STR(reply.task_id, "t-1");
    CHECK_EQ_STR(reply.message, "domain app.example.com not approved");
    init_issue_reply_release(&reply);
    CHECK_EQ_INT(init_agent_issue(a, "CSR", "{}", "n", &reply, &e), -EBADMSG);
    init_agent_error_release(&e);
    pthread_join(thread, NULL);
    close(s.fd);
    agent_http_address_free(a);
}

TEST(test_libattest_agent_client)
{
    static const char *const replies[] = {
        ("HTTP/1.1 200 OK\r\nContent-Length: 57\r\n\r\n"
         "{\"nonce\":\"abc_DEF-1\",\"expires_at\":\"2026-12-04T15:00:00Z\"}"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 108\r\n\r\n"
         "{\"task_id\":\"42\",\"task_status\":\"DENIED\",\"message\":\"build not approved\","
         "\"valid_until\":null,\"certificate\":null}"),
        ("HTTP/1.1 403 Forbidden\r\nContent-Length: 49\r\n\r\n"
         "{\"code\":\"NODE_NOT_ENROLLED\",\"message\":\"node off\"}"),
    };
    struct server s = { .replies = replies, .n = 3 };
    struct attest_agent_error e = { 0 };
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    char url[64], *nonce = NULL, *expires = NULL;
    pthread_t thread;

    server_start(&s, &thread);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    CHECK_EQ_INT(attest_agent_new(url, &agent), 0);
    CHECK_EQ_INT(attest_agent_challenge(agent, &nonce, &expires, &e), 0);
    CHECK_EQ_STR(nonce, "abc_DEF-1");
    CHECK_EQ_STR(expires, "2026-12-04T15:00:00Z");
    CHECK(strstr(s.last_request, "GET /v1/challenge HTTP/1.1\r\n") == s.last_request);
    free(nonce);
    free(expires);
    CHECK_EQ_INT(attest_agent_result(agent, "42", &task, &e), 0);
    CHECK(strstr(s.last_request, "POST /v1/certificate/result/42 HTTP/1.1\r\n") == s.last_request);
    CHECK_EQ_INT(task->status, ATTEST_TASK_DENIED);
    CHECK_EQ_STR(task->message, "build not approved");
    CHECK(task->certificate == NULL);
    CHECK_EQ_STR(attest_task_status_name(task->status), "DENIED");
    attest_agent_task_free(task);
    CHECK_EQ_INT(attest_agent_result(agent, "42", &task, &e), -EREMOTEIO);
    CHECK_EQ_INT(e.http_status, 403);
    CHECK_EQ_STR(e.code, "NODE_NOT_ENROLLED");
    CHECK_EQ_STR(e.message, "node off");
    CHECK_EQ_INT(attest_agent_result(agent, "../x", &task, &e), -EINVAL);
    pthread_join(thread, NULL);
    close(s.fd);
    attest_agent_free(agent);
    CHECK_EQ_INT(attest_agent_new("http://agent.local:9092", &agent), -EINVAL);
}

TEST(test_libattest_quote_and_issue)
{
    static const char *const replies[] = {
        "@200 OK|{\"evidence\":{\"type\":\"sim\",\"data\":\"AAECAw==\"}}",
        "@200 OK|{\"evidence\":{\"type\":\"sim\",\"data\":\"not base64\"}}",
        "@200 OK|{\"task_id\":\"t-9\",\"task_status\":\"SUCCESS\",\"certificate\":\"C\","
        "\"chain\":\"CH\",\"certificate_id\":\"c-1\",\"instance_id\":\"i-1\","
        "\"valid_until\":\"2026-12-05T00:00:00Z\",\"renew_after\":\"2026-12-04T12:00:00Z\"}",
        "@502 Bad Gateway|{\"code\":\"MANAGER_UNREACHABLE\",\"message\":\"down\"}",
    };
    struct server s = { .replies = replies, .n = 4 };
    struct attest_sim_quote_request req = { .isvprodid = 7, .isvsvn = 9 };
    struct attest_agent_error e = { 0 };
    struct attest_agent *agent = NULL;
    struct attest_agent_task *task = NULL;
    struct attest_evidence *evidence = NULL;
    uint8_t digest[32];
    char url[64];
    pthread_t thread;

    memset(req.report_data, 0xab, sizeof(req.report_data));
    memset(req.mrenclave, 0x01, sizeof(req.mrenclave));
    memset(digest, 0x5a, sizeof(digest));
    server_start(&s, &thread);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    CHECK_EQ_INT(attest_agent_new(url, &agent), 0);
    CHECK_EQ_INT(attest_agent_set_timeout(agent, 5000), 0);

    CHECK_EQ_INT(attest_agent_sim_quote(agent, &req, &evidence, &e), 0);
    CHECK(strstr(s.last_request, "POST /v1/sim/quote HTTP/1.1\r\n") == s.last_request);
    CHECK(strstr(s.last_request, "\"isvprodid\":7"));
    CHECK(strstr(s.last_request, "\"isvsvn\":9"));
    CHECK(strstr(s.last_request, "\"debug\":false"));
    CHECK(strstr(s.last_request, "\"mrenclave\":\"0101010101"));
    CHECK(strstr(s.last_request, "\"report_data\":\"abababab"));
    CHECK_EQ_INT(evidence->type, ATTEST_PLATFORM_SIM);
    CHECK_EQ_INT(evidence->size, 4);
    CHECK_EQ_INT(evidence->data[3], 3);

    struct attest_evidence *bad = NULL;
    CHECK_EQ_INT(attest_agent_sim_quote(agent, &req, &bad, &e), -EBADMSG);
    CHECK(bad == NULL);

    CHECK_EQ_INT(attest_agent_issue(agent, "CSR PEM\n", evidence, "nonce-1", digest, &task, &e), 0);
    CHECK(strstr(s.last_request, "\"csr\":\"CSR PEM\\n\""));
    CHECK(strstr(s.last_request, "\"nonce\":\"nonce-1\""));
    CHECK(strstr(s.last_request, "\"data\":\"AAECAw==\""));
    CHECK(strstr(s.last_request, "\"manifest_digest\":\"5a5a5a"));
    CHECK_EQ_INT(task->status, ATTEST_TASK_SUCCESS);
    CHECK_EQ_STR(task->task_id, "t-9");
    CHECK_EQ_STR(task->certificate, "C");
    CHECK_EQ_STR(task->chain, "CH");
    CHECK_EQ_STR(task->certificate_id, "c-1");
    CHECK_EQ_STR(task->instance_id, "i-1");
    CHECK_EQ_STR(task->renew_after, "2026-12-04T12:00:00Z");
    attest_agent_task_free(task);
    task = NULL;

    CHECK_EQ_INT(attest_agent_issue(agent, "CSR", evidence, "nonce-1", NULL, &task, &e),
                 -EREMOTEIO);
    CHECK_EQ_INT(e.http_status, 502);
    CHECK_EQ_STR(e.code, "MANAGER_UNREACHABLE");
    CHECK(task == NULL);
    /* A nonce with spaces or control characters never leaves the library. */
    CHECK_EQ_INT(attest_agent_issue(agent, "CSR", evidence, "bad nonce", NULL, &task, &e), -EINVAL);
    pthread_join(thread, NULL);
    close(s.fd);
    attest_evidence_free(evidence);
    attest_agent_free(agent);
}

TEST_MAIN(TEST_CASE(test_report_data_matches_libattest), TEST_CASE(test_csr_contents),
          TEST_CASE(test_address_forms), TEST_CASE(test_http_replies),
          TEST_CASE(test_init_agent_calls), TEST_CASE(test_libattest_agent_client),
          TEST_CASE(test_libattest_quote_and_issue))
