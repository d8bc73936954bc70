#include "test.h"

#include <stdlib.h>

jmp_buf test_abort_jmp;

int
test_run_all(const struct test_case *cases, size_t n)
{
    size_t passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        if (setjmp(test_abort_jmp) == 0) {
            cases[i].fn();
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
