/* cloister-agent: the state directory (src/agent/agent-state.c). Keys are made once and kept,
 * files are 0600 and written atomically (no temporary left behind), an enrolled state loads back
 * identical, and a node.pem whose key does not match its certificate is refused. */
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent-state.h"
#include "test.h"

static char dir[] = "/tmp/test-agent-state-XXXXXX";

static void
mode_is_0600(const char *name)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CHECK(stat(path, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 07777, 0600);
}

static void
no_tmp_files(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    CHECK(d);
    while ((e = readdir(d)))
        CHECK(!strstr(e->d_name, ".tmp"));
    closedir(d);
}

static X509 *
self_signed(EVP_PKEY *key, long seconds_before, long seconds_after)
{
    X509 *x = X509_new();

    CHECK(x);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -seconds_before);
    X509_gmtime_adj(X509_getm_notAfter(x), seconds_after);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"node", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    CHECK(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static void
rm_dir(void)
{
    static const char *const names[] = { "node.json", "node.pem", "sim-key.pem", "manager-ca.pem" };
    char path[512];

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        (void)unlink(path);
    }
    (void)rmdir(dir);
}

TEST(keys_made_once_and_kept)
{
    EVP_PKEY *node = NULL, *sim = NULL, *node2 = NULL, *sim2 = NULL;
    struct agent_state *s = NULL;

    CHECK(mkdtemp(dir));
    CHECK_EQ_INT(agent_state_load(dir, &s), -ENOENT);
    CHECK_EQ_INT(agent_state_load_or_make_keys(dir, &node, &sim), 0);
    mode_is_0600("node.pem");
    mode_is_0600("sim-key.pem");
    no_tmp_files();
    CHECK_EQ_INT(agent_state_load_or_make_keys(dir, &node2, &sim2), 0);
    CHECK_EQ_INT(EVP_PKEY_eq(node, node2), 1);
    CHECK_EQ_INT(EVP_PKEY_eq(sim, sim2), 1);
    CHECK_EQ_INT(EVP_PKEY_eq(node, sim), 0);
    EVP_PKEY_free(node);
    EVP_PKEY_free(sim);
    EVP_PKEY_free(node2);
    EVP_PKEY_free(sim2);
    rm_dir();
}

TEST(enrolled_state_round_trip)
{
    EVP_PKEY *node = NULL, *sim = NULL, *other = NULL;
    struct agent_state *s = agent_state_new(), *back = NULL;
    X509 *cert;

    memcpy(dir, "/tmp/test-agent-state-XXXXXX", sizeof(dir));
    CHECK(mkdtemp(dir));
    CHECK(s);
    CHECK_EQ_INT(agent_state_load_or_make_keys(dir, &node, &sim), 0);
    cert = self_signed(node, 60, 3600);
    CHECK_EQ_INT(agent_state_save_identity(dir, node, cert, NULL), 0);
    snprintf(s->node_id, sizeof(s->node_id), "node-1");
    snprintf(s->zone_id, sizeof(s->zone_id), "zone-1");
    snprintf(s->acct_id, sizeof(s->acct_id), "acct-1");
    snprintf(s->trust_domain, sizeof(s->trust_domain), "td.example");
    snprintf(s->name, sizeof(s->name), "n");
    snprintf(s->manager_url, sizeof(s->manager_url), "https://127.0.0.1:1");
    s->refresh_interval = 17;
    s->renewal_threshold = 66;
    CHECK_EQ_INT(agent_state_save_meta(dir, s), 0);
    mode_is_0600("node.json");
    mode_is_0600("node.pem");
    no_tmp_files();
    CHECK_EQ_INT(agent_state_load(dir, &back), 0);
    CHECK_EQ_STR(back->node_id, "node-1");
    CHECK_EQ_STR(back->zone_id, "zone-1");
    CHECK_EQ_STR(back->manager_url, "https://127.0.0.1:1");
    CHECK_EQ_INT(back->refresh_interval, 17);
    CHECK_EQ_INT(back->renewal_threshold, 66);
    CHECK_EQ_INT(EVP_PKEY_eq(back->node_key, node), 1);
    CHECK_EQ_INT(EVP_PKEY_eq(back->sim_key, sim), 1);
    CHECK_EQ_INT(X509_cmp(back->node_cert, cert), 0);
    back = agent_state_free(back);

    /* The manager's trust from enrollment: copied (from a path outside the state directory) and
     * found again. */
    {
        char src[] = "/tmp/test-agent-ca-XXXXXX", path[4096], text[64] = "";
        int fd = mkstemp(src);
        FILE *f;

        CHECK(fd >= 0);
        CHECK(write(fd, "-----BEGIN CERTIFICATE-----\n", 28) == 28);
        close(fd);
        CHECK_EQ_INT(agent_state_manager_ca_path(dir, path, sizeof(path)), -ENOENT);
        CHECK_EQ_INT(agent_state_save_manager_ca(dir, src), 0);
        CHECK_EQ_INT(agent_state_manager_ca_path(dir, path, sizeof(path)), 0);
        mode_is_0600("manager-ca.pem");
        f = fopen(path, "re");
        CHECK(f);
        CHECK(fgets(text, sizeof(text), f));
        fclose(f);
        CHECK_EQ_STR(text, "-----BEGIN CERTIFICATE-----\n");
        unlink(src);
        CHECK_EQ_INT(agent_state_save_manager_ca(dir, "/nonexistent/ca.pem"), -ENOENT);
    }

    /* A certificate for another key: refused, never served with. */
    other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    CHECK(other);
    X509_free(cert);
    cert = self_signed(other, 60, 3600);
    CHECK_EQ_INT(agent_state_save_identity(dir, node, cert, NULL), 0);
    CHECK_EQ_INT(agent_state_load(dir, &back), -EBADMSG);

    X509_free(cert);
    EVP_PKEY_free(other);
    EVP_PKEY_free(node);
    EVP_PKEY_free(sim);
    agent_state_free(s);
    rm_dir();
}

TEST(elapsed_percent)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x;
    int64_t now = (int64_t)time(NULL);

    CHECK(key);
    x = self_signed(key, 1000, 1000);
    CHECK(agent_cert_elapsed_percent(x, now) >= 49 && agent_cert_elapsed_percent(x, now) <= 51);
    CHECK_EQ_INT(agent_cert_elapsed_percent(x, now + 5000), 100);
    CHECK_EQ_INT(agent_cert_elapsed_percent(x, now - 5000), 0);
    X509_free(x);
    EVP_PKEY_free(key);
}

TEST_MAIN(TEST_CASE(keys_made_once_and_kept), TEST_CASE(enrolled_state_round_trip),
          TEST_CASE(elapsed_percent))
