/* A small test runner. A test file defines test functions with TEST(name) and ends with
 * TEST_MAIN(test_a, test_b, ...); each prints "ok"/"FAIL" lines and the binary ends with
 * "N passed, N failed" and exits non-zero on any failure. A failing check aborts only its test. */
#pragma once

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern jmp_buf test_abort_jmp;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
            longjmp(test_abort_jmp, 1);                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,  \
                    _a, #b, _b);                                                                   \
            longjmp(test_abort_jmp, 1);                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    _a ? _a : "(null)", _b ? _b : "(null)");                                       \
            longjmp(test_abort_jmp, 1);                                                            \
        }                                                                                          \
    } while (0)

struct test_case {
    const char *name;
    void (*fn)(void);
    const char *backend; /* store tests: the backend the case runs on (test_backend) */
};

/* The store backend the running case uses ("sqlite", "postgres"; NULL outside store tests). */
extern const char *test_backend;

int test_run_all(const struct test_case *cases, size_t n);

#define TEST_CASE(fn)                                                                              \
    {                                                                                              \
#fn, fn                                                                                    \
    }
/* A store test case once per backend: "name[sqlite]" and "name[postgres]". */
#define TEST_CASE_ON_BACKENDS(fn)                                                                  \
    { #fn "[sqlite]", fn, "sqlite" },                                                              \
    {                                                                                              \
#fn "[postgres]", fn, "postgres"                                                           \
    }
#define TEST_MAIN(...)                                                                             \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct test_case cases[] = { __VA_ARGS__ };                                   \
        return test_run_all(cases, sizeof(cases) / sizeof(cases[0]));                              \
    }
