/* The configuration file: defaults, every key, and refusals that name what is wrong. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "test.h"

static int
load(struct manager_config *c, const char *text)
{
    config_defaults(c);
    return config_load_string(c, text, "test.ini");
}

TEST(defaults_are_safe)
{
    struct manager_config c;

    config_defaults(&c);
    CHECK_EQ_STR(c.listen, "127.0.0.1:8443");
    CHECK(!c.dev_mode);
    CHECK(!c.metrics_allow_remote);
    CHECK_EQ_INT(c.max_body_bytes, 1 << 20);
    CHECK_EQ_INT(config_finish(&c), 0);
    CHECK_EQ_STR(c.store_url, "sqlite:/var/lib/cloister/cloister.db");
}

TEST(every_key_is_read)
{
    struct manager_config c;

    CHECK_EQ_INT(load(&c, "[manager]\ndata_dir = /d\nlisten = [::1]:9\nstore = sqlite:/s.db\n"
                          "workers = 3\ndev_mode = true\nlog_json = yes\n"
                          "[tls]\ncert = /c.pem\nkey = /k.pem\n"
                          "[auth]\ntoken_ttl = 60\nargon2_memory_kib = 1024\n"
                          "argon2_iterations = 1\nallow_signup = false\n"
                          "[limits]\nmax_body_bytes = 4096\nrequest_timeout = 5\n"
                          "[audit]\ncheckpoint_interval = 2\n[metrics]\nallow_remote = 1\n"),
                 0);
    CHECK_EQ_STR(c.data_dir, "/d");
    CHECK_EQ_STR(c.listen, "[::1]:9");
    CHECK_EQ_STR(c.store_url, "sqlite:/s.db");
    CHECK_EQ_INT(c.workers, 3);
    CHECK(c.dev_mode && c.log_json && !c.allow_signup && c.metrics_allow_remote);
    CHECK_EQ_STR(c.tls_cert, "/c.pem");
    CHECK_EQ_INT(c.token_ttl, 60);
    CHECK_EQ_INT(c.argon2_memory_kib, 1024);
    CHECK_EQ_INT(c.max_body_bytes, 4096);
    CHECK_EQ_INT(c.request_timeout, 5);
    CHECK_EQ_INT(c.audit_checkpoint_interval, 2);
}

TEST(bad_files_are_refused)
{
    struct manager_config c;

    CHECK_EQ_INT(load(&c, "[manager]\nworkers = 9999\n"), -EINVAL);
    CHECK_EQ_INT(load(&c, "[manager]\nworkers = two\n"), -EINVAL);
    CHECK_EQ_INT(load(&c, "[manager]\ndev_mode = maybe\n"), -EINVAL);
    CHECK_EQ_INT(load(&c, "[nosuch]\nkey = 1\n"), -EINVAL);
    CHECK_EQ_INT(load(&c, "[manager]\nnosuch = 1\n"), -EINVAL);
    CHECK_EQ_INT(load(&c, "[tls]\ncert = /only-cert\n"), -EINVAL);
    CHECK_EQ_INT(load(&c, "[manager\nworkers = 1\n"), -EINVAL);
    CHECK_EQ_INT(config_load_file(&c, "/nonexistent/cloister.ini"), -ENOENT);
}

TEST_MAIN(TEST_CASE(defaults_are_safe), TEST_CASE(every_key_is_read),
          TEST_CASE(bad_files_are_refused))
