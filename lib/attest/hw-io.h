/* libattest internals: reading and writing the pseudo-files of TEE evidence producers
 * (configfs-tsm, Gramine's /dev/attestation), and their error sentences. Not installed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <attest/tsm.h>

/* Sets error's reason (when error is not NULL) and returns r. */
int hw_fail(struct attest_hw_error *error, int r, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Empties error's reason (when error is not NULL). */
void hw_error_clear(struct attest_hw_error *error);

/* Reads all of dir_fd/name, at most max bytes (-EFBIG beyond), into a malloc'd buffer with a NUL
 * after the data (so text can be read as a string). Reads until end of file: configfs and
 * Gramine report sizes in stat that are not the content's. */
int hw_read_file(int dir_fd, const char *name, size_t max, uint8_t **ret_data, size_t *ret_size);

/* Writes size bytes to dir_fd/name in one write() and closes it, returning the close() error
 * too: configfs and Gramine take binary attributes when the file is closed. */
int hw_write_file(int dir_fd, const char *name, const void *data, size_t size);
