/* Files and programs for tests that check our output with tools that are not ours (openssl,
 * python3): a failed step fails the running test case (CHECK). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes size bytes to path (created or truncated). */
void test_write_file(const char *path, const void *data, size_t size);
/* Reads at most max bytes of path into buf; returns how many. */
size_t test_read_file(const char *path, uint8_t *buf, size_t max);
/* Runs argv (found on PATH) with its stdout to stdout_path (NULL: /dev/null) and, when quiet,
 * its stderr there too (for runs expected to fail); returns its exit status. A program that
 * cannot be run fails the test. */
int test_run(char *const argv[], const char *stdout_path, bool quiet);
