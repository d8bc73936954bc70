/* libattest: the pseudo-files of TEE evidence producers (hw-io.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cleanup.h"
#include "hw-io.h"

int
hw_fail(struct attest_hw_error *error, int r, const char *format, ...)
{
    va_list args;

    if (error) {
        va_start(args, format);
        (void)vsnprintf(error->reason, sizeof(error->reason), format, args);
        va_end(args);
    }
    return r;
}

void
hw_error_clear(struct attest_hw_error *error)
{
    if (error)
        error->reason[0] = '\0';
}

int
hw_read_file(int dir_fd, const char *name, size_t max, uint8_t **ret_data, size_t *ret_size)
{
    _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    _cleanup_free_ uint8_t *data = NULL;
    size_t size = 0;

    if (fd < 0)
        return -errno;
    data = malloc(max + 2);
    if (!data)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, data + size, max + 1 - size);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        size += (size_t)n;
        if (size > max)
            return -EFBIG;
    }
    data[size] = '\0';
    *ret_data = TAKE_PTR(data);
    *ret_size = size;
    return 0;
}

int
hw_write_file(int dir_fd, const char *name, const void *data, size_t size)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t n;
    int r = 0;

    if (fd < 0)
        return -errno;
    do
        n = write(fd, data, size);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        r = -errno;
    else if ((size_t)n != size)
        r = -EIO;
    if (close(fd) < 0 && r == 0 && errno != EINTR)
        r = -errno;
    return r;
}
