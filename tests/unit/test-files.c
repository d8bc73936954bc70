#include "test-files.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

void
test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "we");

    CHECK(f);
    CHECK(fwrite(data, 1, size, f) == size);
    CHECK(fclose(f) == 0);
}

size_t
test_read_file(const char *path, uint8_t *buf, size_t max)
{
    FILE *f = fopen(path, "re");
    size_t n;

    CHECK(f);
    n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

int
test_run(char *const argv[], const char *stdout_path, bool quiet)
{
    int status = 0, fd;
    pid_t pid = fork();

    CHECK(pid >= 0);
    if (pid == 0) {
        fd = open(stdout_path ? stdout_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
        if (fd >= 0)
            dup2(fd, STDOUT_FILENO);
        if (fd >= 0 && quiet)
            dup2(fd, STDERR_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) != 127); /* the program is there */
    return WEXITSTATUS(status);
}
