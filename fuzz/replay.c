/* Runs a fuzz target once on each file named on the command line: how corpora replay in builds
 * without libFuzzer. Prints one line per input and fails on the first unreadable file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define REPLAY_INPUT_MAX (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ uint8_t *data = NULL;
    struct stat st;
    ssize_t n;

    if (fd < 0 || fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size > REPLAY_INPUT_MAX)
        return -EFBIG;
    data = malloc((size_t)st.st_size + 1);
    if (!data)
        return -ENOMEM;
    n = read(fd, data, (size_t)st.st_size);
    if (n != st.st_size)
        return -EIO;
    LLVMFuzzerTestOneInput(data, (size_t)n);
    return 0;
}

int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int r = replay_file(argv[i]);
        if (r < 0) {
            fprintf(stderr, "%s: cannot read: %d\n", argv[i], r);
            return EXIT_FAILURE;
        }
        printf("replayed %s\n", argv[i]);
    }
    return EXIT_SUCCESS;
}
