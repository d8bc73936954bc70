/* The cloister manifest (src/init/manifest.c, tree.c): parsing and its refusals, the tree check
 * with tampered trees, and the measurement's stability. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "json-writer.h"
#include "manifest.h"
#include "test-files.h"
#include "test.h"
#include "tree.h"
#include "user.h"

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

static const char app_json[] =
    "{\"mem_size\":268435456,\"threads\":4,\"isvprodid\":7,\"isvsvn\":3,"
    "\"certificate\":{\"subject\":\"app.example.com\",\"alt_names\":[\"www.example.com\"],"
    "\"key_type\":\"RSA\",\"key_path\":\"/tls/key.pem\",\"cert_path\":\"/tls/cert.pem\","
    "\"chain_path\":\"/tls/chain.pem\"},\"rw_dirs\":[\"/data\"]}";
static const char image_json[] =
    "{\"entrypoint\":[\"/bin/app\"],\"cmd\":[\"--serve\"],\"env\":[\"PATH=/bin\"],"
    "\"workdir\":\"/\",\"user\":\"1000:1000\"}";

/* ---- a small root file system ---- */

static char root[64];

static void
put(const char *rel, const char *content, mode_t mode)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    test_write_file(path, content, strlen(content));
    CHECK_EQ_INT(chmod(path, mode), 0);
}

static void
make_root(void)
{
    char path[256];

    snprintf(root, sizeof(root), "/tmp/test-manifest-XXXXXX");
    CHECK(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/bin", root);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/data", root);
    CHECK_EQ_INT(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/.cloister", root);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    put("bin/app", "#!/bin/sh\necho hello\n", 0755);
    put("bin/data.txt", "some data", 0644);
    put("data/state", "mutable", 0600);
    snprintf(path, sizeof(path), "%s/bin/link", root);
    CHECK_EQ_INT(symlink("app", path), 0);
}

static void
remove_root(void)
{
    char *argv[] = { "rm", "-rf", root, NULL };
    test_run(argv, NULL, false);
}

/* A manifest for the tree under root as it is now (check: "full" or "sampled"). */
static char *
manifest_for_root(const char *check)
{
    struct manifest_strings skip = { .items = (const char *[]){ "/.cloister" }, .n = 1 };
    struct manifest_strings keep = { .items = (const char *[]){ "/data" }, .n = 1 };
    struct tree_scan scan = { 0 };
    struct jwbuf entries = { 0 }, b = { 0 };
    uint8_t digest[32];
    char hex[65];
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    CHECK(fd >= 0);
    CHECK_EQ_INT(tree_scan(fd, &skip, &keep, 100, &scan, NULL), 0);
    close(fd);
    CHECK_EQ_INT(tree_scan_to_json(&scan, &entries, digest), 0);
    tree_scan_release(&scan);
    manifest_hex(digest, 32, hex);
    jwbuf_printf(&b,
                 "{\"version\":1,\"tree\":{\"digest\":\"%s\",\"check\":\"%s\",%s"
                 "\"skip\":[\"/.cloister\"],\"entries\":%s},\"image\":%s,\"app\":%s,"
                 "\"signer\":\"" ZERO64 "\"}",
                 hex, check, strcmp(check, "sampled") == 0 ? "\"sample_percent\":100," : "",
                 entries.data, image_json, app_json);
    jwbuf_release(&entries);
    CHECK_EQ_INT(b.error, 0);
    return b.data;
}

static struct manifest *
parse_ok(const char *text)
{
    struct manifest *m = NULL;
    const char *error = NULL;
    int r = manifest_parse(text, strlen(text), &m, &error);

    if (r < 0)
        fprintf(stderr, "  manifest_parse: %d %s\n", r, error ? error : "");
    CHECK_EQ_INT(r, 0);
    return m;
}

/* Verifies the tree under root against m: the problem, and the path in *ret_path. */
static enum tree_problem
verify(const struct manifest *m, char *path_out, size_t size)
{
    enum tree_problem problem = TREE_OK;
    const char *what = NULL;
    char *path = NULL;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    CHECK(fd >= 0);
    CHECK_EQ_INT(tree_verify(fd, m, &problem, &path, &what), 0);
    close(fd);
    snprintf(path_out, size, "%s%s%s", path ? path : "", what ? ": " : "", what ? what : "");
    free(path);
    return problem;
}

TEST(test_tree_tamper)
{
    char where[512], path[256];
    struct manifest *m;
    char *text;

    make_root();
    text = manifest_for_root("full");
    m = parse_ok(text);
    CHECK_EQ_INT(m->n_entries, 5); /* /bin /bin/app /bin/data.txt /bin/link /data */
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_OK);

    /* Contents of rw_dirs and the certificate files (and their new directory) are not checked. */
    put("data/new", "x", 0600);
    snprintf(path, sizeof(path), "%s/tls", root);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    put("tls/key.pem", "key", 0600);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_OK);

    /* Same size, other content. */
    put("bin/data.txt", "SOME DATA", 0644);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_CHANGED);
    CHECK_EQ_STR(where, "/bin/data.txt: content differs");
    put("bin/data.txt", "some data", 0644);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_OK);

    put("bin/data.txt", "some data", 0666);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_CHANGED);
    CHECK_EQ_STR(where, "/bin/data.txt: mode differs");
    put("bin/data.txt", "some data", 0644);

    put("bin/data.txt", "some data!", 0644);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_CHANGED);
    CHECK_EQ_STR(where, "/bin/data.txt: size differs");
    put("bin/data.txt", "some data", 0644);

    snprintf(path, sizeof(path), "%s/bin/link", root);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(symlink("ap2", path), 0);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_CHANGED);
    CHECK_EQ_STR(where, "/bin/link: link target differs");
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(symlink("app", path), 0);

    put("bin/extra", "", 0644);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_EXTRA);
    CHECK_EQ_STR(where, "/bin/extra: not in the manifest");
    snprintf(path, sizeof(path), "%s/bin/extra", root);
    CHECK_EQ_INT(unlink(path), 0);

    snprintf(path, sizeof(path), "%s/bin/app", root);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_MISSING);
    CHECK_EQ_STR(where, "/bin/app: missing");
    put("bin/app", "#!/bin/sh\necho hello\n", 0755);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_OK);

    /* A file replaced by a directory of the same name. */
    snprintf(path, sizeof(path), "%s/bin/data.txt", root);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(mkdir(path, 0644), 0);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_CHANGED);
    CHECK_EQ_STR(where, "/bin/data.txt: type differs");
    CHECK_EQ_INT(rmdir(path), 0);
    put("bin/data.txt", "some data", 0644);

    /* Special files are never accepted. */
    snprintf(path, sizeof(path), "%s/bin/fifo", root);
    CHECK_EQ_INT(mkfifo(path, 0644), 0);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_EXTRA);
    CHECK_EQ_STR(where, "/bin/fifo: not a regular file, directory or symlink");
    CHECK_EQ_INT(unlink(path), 0);

    manifest_free(m);
    free(text);

    /* Sampled at 100 % finds a content change too; the metadata of every entry is checked. */
    text = manifest_for_root("sampled");
    m = parse_ok(text);
    CHECK_EQ_INT(m->check, MANIFEST_CHECK_SAMPLED);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_OK);
    put("bin/data.txt", "SOME DATA", 0644);
    CHECK_EQ_INT(verify(m, where, sizeof(where)), TREE_CHANGED);
    manifest_free(m);
    free(text);
    remove_root();
}

/* Replaces the first occurrence of from in text with to (malloc'd). */
static char *
replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out;

    CHECK(at);
    out = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
    CHECK(out);
    memcpy(out, text, (size_t)(at - text));
    memcpy(out + (at - text), to, strlen(to));
    memcpy(out + (at - text) + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    return out;
}

static void
check_refused(const char *text, const char *expected_error)
{
    struct manifest *m = NULL;
    const char *error = NULL;

    CHECK_EQ_INT(manifest_parse(text, strlen(text), &m, &error), -EBADMSG);
    CHECK(m == NULL);
    CHECK_EQ_STR(error, expected_error);
}

TEST(test_parse_refusals)
{
    char *text, *bad;

    make_root();
    text = manifest_for_root("full");
    manifest_free(parse_ok(text));

    /* An entry changed without the digest: the digest protects the list. */
    bad = replace(text, "\"mode\":420", "\"mode\":438");
    check_refused(bad, "tree.digest does not match tree.entries");
    free(bad);
    bad = replace(text, "\"version\":1", "\"version\":2");
    check_refused(bad, "manifest version must be 1");
    free(bad);
    bad = replace(text, "\"threads\":4", "\"threads\":4,\"extra\":1");
    check_refused(bad, "app: unknown member");
    free(bad);
    bad = replace(text, "\"threads\":4", "\"threads\":4.0");
    check_refused(bad, "app.threads must be 1..4096");
    free(bad);
    bad = replace(text, "\"signer\":\"0", "\"signer\":\"A");
    check_refused(bad, "signer must be 64 lowercase hex");
    free(bad);
    bad = replace(text, "\"key_type\":\"RSA\"", "\"key_type\":\"DSA\"");
    check_refused(bad, "app.certificate.key_type must be RSA or EC");
    free(bad);
    bad = replace(text, "\"key_type\":\"RSA\"",
                  "\"key_type\":\"EC\",\"key_param\":{\"curve\":\"P-521\"}");
    check_refused(bad, "app.certificate.key_param.curve must be P-256 or P-384");
    free(bad);
    bad = replace(text, "\"key_path\":\"/tls/key.pem\"", "\"key_path\":\"tls/key.pem\"");
    check_refused(bad,
                  "app.certificate: key_path, cert_path and chain_path must be absolute paths");
    free(bad);
    bad = replace(text, "\"subject\":\"app.example.com\"", "\"subject\":\"app example\"");
    check_refused(bad, "app.certificate.subject must be a DNS name");
    free(bad);
    bad = replace(text, "\"check\":\"full\"", "\"check\":\"some\"");
    check_refused(bad, "tree.check must be \"full\" or \"sampled\"");
    free(bad);
    bad = replace(text, "\"env\":[\"PATH=/bin\"]", "\"env\":[\"PATH\"]");
    check_refused(bad, "image.env must be a list of NAME=value");
    free(bad);
    bad = replace(text, "\"entrypoint\":[\"/bin/app\"],\"cmd\":[\"--serve\"]",
                  "\"entrypoint\":[],\"cmd\":[]");
    check_refused(bad, "image: entrypoint or cmd must name a program");
    free(bad);
    check_refused("[]", "manifest must be a JSON object");
    check_refused("{\"version\":1", "not valid strict JSON");
    free(text);
    remove_root();
}

TEST(test_parse_entries)
{
    /* Sorting and path rules, with digests made to match so that only the rule fails. */
    static const struct {
        const char *entries;
        const char *error;
    } cases[] = {
        { "[{\"path\":\"/b\",\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"size\":0},"
          "{\"path\":\"/a\",\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"size\":0}]",
          "tree.entries must be sorted by path, without duplicates" },
        { "[{\"path\":\"/a/../b\",\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"size\":0}]",
          "tree.entries: path must be absolute and normalised" },
        { "[{\"path\":\"/a/\",\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"size\":0}]",
          "tree.entries: path must be absolute and normalised" },
        { "[{\"path\":\"/a\",\"type\":\"file\",\"mode\":493,\"uid\":0,\"gid\":0,\"size\":0}]",
          "tree.entries: files and symlinks need sha256 (64 lowercase hex)" },
        { "[{\"path\":\"/a\",\"type\":\"dir\",\"mode\":4096,\"uid\":0,\"gid\":0,\"size\":0}]",
          "tree.entries: mode must be 0..4095" },
        { "[{\"path\":\"/a\",\"type\":\"fifo\",\"mode\":420,\"uid\":0,\"gid\":0,\"size\":0}]",
          "tree.entries: type must be file, dir or symlink" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jread_value *v = NULL;
        struct jwbuf b = { 0 };
        uint8_t digest[32] = { 0 };
        char hex[65];

        CHECK_EQ_INT(jread_parse(cases[i].entries, strlen(cases[i].entries), 1u << 20, &v, NULL),
                     0);
        CHECK_EQ_INT(manifest_tree_digest(v, digest), 0);
        jread_free(v);
        manifest_hex(digest, 32, hex);
        jwbuf_printf(&b,
                     "{\"version\":1,\"tree\":{\"digest\":\"%s\",\"check\":\"full\","
                     "\"entries\":%s},\"image\":%s,\"app\":%s,\"signer\":\"" ZERO64 "\"}",
                     hex, cases[i].entries, image_json, app_json);
        check_refused(b.data, cases[i].error);
        jwbuf_release(&b);
    }
}

/* The measurement of a fixed manifest: its canonical encoding is spelled out here, and hashed
 * with OpenSSL directly, so that a change in the encoding cannot go unnoticed. */
TEST(test_measurement_stable)
{
    static const char entries[] =
        "[{\"gid\":0,\"mode\":493,\"path\":\"/bin\",\"size\":0,\"type\":\"dir\",\"uid\":0}]";
    struct jread_value *v = NULL;
    struct manifest *m1, *m2, *m3;
    struct jwbuf b = { 0 }, expected = { 0 };
    uint8_t digest[32], init_digest[32], mr1[32], mr2[32], mr3[32], want[32];
    char hex[65];
    unsigned len = 0;

    memset(init_digest, 0x11, sizeof(init_digest));
    CHECK_EQ_INT(jread_parse(entries, strlen(entries), 1024, &v, NULL), 0);
    CHECK_EQ_INT(manifest_tree_digest(v, digest), 0);
    jread_free(v);
    CHECK(EVP_Digest(entries, strlen(entries), want, &len, EVP_sha256(), NULL) == 1);
    CHECK(memcmp(digest, want, 32) == 0); /* canonical already: the digest is of this text */
    manifest_hex(digest, 32, hex);

    jwbuf_printf(&b,
                 "{\"version\":1,\"tree\":{\"digest\":\"%s\",\"check\":\"full\","
                 "\"entries\":%s},\"image\":%s,\"app\":%s,\"signer\":\"" ZERO64 "\"}",
                 hex, entries, image_json, app_json);
    m1 = parse_ok(b.data);
    jwbuf_release(&b);

    /* Another spelling of the same manifest: whitespace, member order, escapes, signer. */
    jwbuf_printf(&b,
                 "{ \"signer\" : \"%s\",\n \"app\": %s, \"image\": %s, \"tree\": {"
                 "\"entries\": [ {\"uid\":0,\"type\":\"dir\",\"size\":0,\"path\":\"\\/bin\","
                 "\"mode\":493,\"gid\":0} ], \"check\": \"full\", \"digest\": \"%s\"},"
                 "\"version\": 1 }",
                 "1111111111111111111111111111111111111111111111111111111111111111", app_json,
                 image_json, hex);
    m2 = parse_ok(b.data);
    jwbuf_release(&b);
    CHECK_EQ_INT(manifest_measurement(m1, init_digest, mr1), 0);
    CHECK_EQ_INT(manifest_measurement(m2, init_digest, mr2), 0);
    CHECK(memcmp(mr1, mr2, 32) == 0);
    CHECK(memcmp(m1->digest, m2->digest, 32) == 0);
    CHECK(memcmp(m1->signer, m2->signer, 32) != 0);

    /* Independently: SHA-256(canonical text || init digest). */
    jwbuf_printf(&expected,
                 "{\"app\":{\"certificate\":{\"alt_names\":[\"www.example.com\"],"
                 "\"cert_path\":\"/tls/cert.pem\",\"chain_path\":\"/tls/chain.pem\","
                 "\"key_path\":\"/tls/key.pem\",\"key_type\":\"RSA\","
                 "\"subject\":\"app.example.com\"},\"isvprodid\":7,\"isvsvn\":3,"
                 "\"mem_size\":268435456,\"rw_dirs\":[\"/data\"],\"threads\":4},"
                 "\"image\":{\"cmd\":[\"--serve\"],\"entrypoint\":[\"/bin/app\"],"
                 "\"env\":[\"PATH=/bin\"],\"user\":\"1000:1000\",\"workdir\":\"/\"},"
                 "\"tree\":{\"check\":\"full\",\"digest\":\"%s\",\"entries\":%s},\"version\":1}",
                 hex, entries);
    char *canonical = NULL;
    size_t canonical_size = 0;
    CHECK_EQ_INT(manifest_canonical(m1, &canonical, &canonical_size), 0);
    CHECK_EQ_STR(canonical, expected.data);
    free(canonical);
    jwbuf_append(&expected, (const char *)init_digest, 32);
    CHECK(EVP_Digest(expected.data, expected.size, want, &len, EVP_sha256(), NULL) == 1);
    CHECK(memcmp(mr1, want, 32) == 0);
    jwbuf_release(&expected);

    /* Any measured setting or the init binary changes it. */
    jwbuf_printf(&b,
                 "{\"version\":1,\"tree\":{\"digest\":\"%s\",\"check\":\"full\","
                 "\"entries\":%s},\"image\":%s,\"app\":%s,\"signer\":\"" ZERO64 "\"}",
                 hex, entries, image_json, app_json);
    char *bigger = replace(b.data, "\"threads\":4", "\"threads\":5");
    jwbuf_release(&b);
    m3 = parse_ok(bigger);
    free(bigger);
    CHECK_EQ_INT(manifest_measurement(m3, init_digest, mr3), 0);
    CHECK(memcmp(mr1, mr3, 32) != 0);
    init_digest[0] ^= 1;
    CHECK_EQ_INT(manifest_measurement(m1, init_digest, mr3), 0);
    CHECK(memcmp(mr1, mr3, 32) != 0);
    manifest_free(m1);
    manifest_free(m2);
    manifest_free(m3);
}

TEST(test_path_rules)
{
    CHECK(manifest_path_ok("/a"));
    CHECK(manifest_path_ok("/a/b.c/..d"));
    CHECK(!manifest_path_ok("/"));
    CHECK(!manifest_path_ok("a"));
    CHECK(!manifest_path_ok("//a"));
    CHECK(!manifest_path_ok("/a//b"));
    CHECK(!manifest_path_ok("/a/./b"));
    CHECK(!manifest_path_ok("/a/.."));
    CHECK(!manifest_path_ok("/a/"));
}

/* The image's user, from the image's own /etc/passwd and /etc/group (src/init/user.c). */
TEST(test_user_resolve)
{
    char path[256];
    uid_t uid = 99;
    gid_t gid = 99;
    int fd;

    make_root();
    snprintf(path, sizeof(path), "%s/etc", root);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    put("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\nbad:x:zz:1\n", 0644);
    put("etc/group", "root:x:0:\nweb:x:2000:app\n", 0644);
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ_INT(user_resolve(fd, NULL, &uid, &gid), 0);
    CHECK(uid == 0 && gid == 0);
    CHECK_EQ_INT(user_resolve(fd, "", &uid, &gid), 0);
    CHECK(uid == 0 && gid == 0);
    CHECK_EQ_INT(user_resolve(fd, "app", &uid, &gid), 0);
    CHECK(uid == 1000 && gid == 1001);
    CHECK_EQ_INT(user_resolve(fd, "1000", &uid, &gid), 0); /* passwd's group, as Docker */
    CHECK(uid == 1000 && gid == 1001);
    CHECK_EQ_INT(user_resolve(fd, "4242", &uid, &gid), 0); /* not in passwd: group 0 */
    CHECK(uid == 4242 && gid == 0);
    CHECK_EQ_INT(user_resolve(fd, "app:web", &uid, &gid), 0);
    CHECK(uid == 1000 && gid == 2000);
    CHECK_EQ_INT(user_resolve(fd, "5:6", &uid, &gid), 0);
    CHECK(uid == 5 && gid == 6);
    CHECK_EQ_INT(user_resolve(fd, "nobody", &uid, &gid), -ENOENT);
    CHECK_EQ_INT(user_resolve(fd, "app:nogroup", &uid, &gid), -ENOENT);
    CHECK_EQ_INT(user_resolve(fd, "bad", &uid, &gid), -EINVAL);
    CHECK_EQ_INT(user_resolve(fd, "app:", &uid, &gid), -EINVAL);
    CHECK_EQ_INT(user_resolve(fd, ":1", &uid, &gid), -EINVAL);
    close(fd);
    remove_root();
}

TEST_MAIN(TEST_CASE(test_tree_tamper), TEST_CASE(test_parse_refusals),
          TEST_CASE(test_parse_entries), TEST_CASE(test_measurement_stable),
          TEST_CASE(test_path_rules), TEST_CASE(test_user_resolve))
