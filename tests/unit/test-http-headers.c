/* The console's request header readers: Accept-Encoding, If-None-Match, Cookie. */
#include <errno.h>
#include <string.h>

#include "http-headers.h"
#include "test.h"

TEST(gzip_is_accepted_unless_refused)
{
    CHECK(header_accepts_gzip("gzip"));
    CHECK(header_accepts_gzip("gzip, deflate, br"));
    CHECK(header_accepts_gzip("br, GZIP"));
    CHECK(header_accepts_gzip("gzip;q=0.5, identity"));
    CHECK(header_accepts_gzip("gzip ; q=1"));
    CHECK(header_accepts_gzip("gzip;level=1, br;q=0"));
    CHECK(!header_accepts_gzip("gzip;q=0"));
    CHECK(!header_accepts_gzip("gzip;q=0.000, identity"));
    CHECK(!header_accepts_gzip("identity"));
    CHECK(!header_accepts_gzip("x-gzip2, deflate"));
    CHECK(!header_accepts_gzip(""));
}

TEST(etags_match_when_listed)
{
    const char *etag = "\"abc\"";

    CHECK(header_etag_matches("\"abc\"", etag));
    CHECK(header_etag_matches("\"x\", \"abc\"", etag));
    CHECK(header_etag_matches("\"abc\" , \"x\"", etag));
    CHECK(header_etag_matches("*", etag));
    CHECK(!header_etag_matches("\"abcd\"", etag));
    CHECK(!header_etag_matches("\"ab\"", etag));
    CHECK(!header_etag_matches(NULL, etag));
    CHECK(!header_etag_matches("", etag));
}

TEST(cookie_values_are_found_by_exact_name)
{
    char v[16];

    CHECK_EQ_INT(
        header_cookie_value("a=1; cloister_session=tok; b=2", "cloister_session", v, sizeof(v)), 0);
    CHECK_EQ_STR(v, "tok");
    CHECK_EQ_INT(header_cookie_value("cloister_session=tok", "cloister_session", v, sizeof(v)), 0);
    CHECK_EQ_INT(header_cookie_value("xcloister_session=1; cloister_sessionx=2", "cloister_session",
                                     v, sizeof(v)),
                 -ENOENT);
    CHECK_EQ_INT(header_cookie_value("cloister_session=", "cloister_session", v, sizeof(v)),
                 -ENOENT);
    CHECK_EQ_INT(
        header_cookie_value("cloister_session=0123456789abcdef", "cloister_session", v, sizeof(v)),
        -E2BIG);
    CHECK_EQ_INT(header_cookie_value("", "cloister_session", v, sizeof(v)), -ENOENT);
}

TEST_MAIN(TEST_CASE(gzip_is_accepted_unless_refused), TEST_CASE(etags_match_when_listed),
          TEST_CASE(cookie_values_are_found_by_exact_name))
