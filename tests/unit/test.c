#include "test.h"

#include <stdlib.h>

jmp_buf test_abort_jmp;
const char *test_backend;

/* Runs one case; false when a check failed (longjmp back here). Kept apart from the loop so no
 * loop variable lives across setjmp. */
static bool
run_case(const struct test_case *c)
{
    if (setjmp(test_abort_jmp) != 0)
        return false;
    test_backend = c->backend;
    c->fn();
    return true;
}

int
test_run_all(const struct test_case *cases, size_t n)
{
    size_t passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        if (run_case(&cases[i])) {
            printf("ok %s\n", cases[i].name);
            passed++;
        } else {
            printf("FAIL %s\n", cases[i].name);
            failed++;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
