/* Atomic installation of the certificate files (see install.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "install.h"

/* Creates every missing directory of the relative path's parents. */
static int
mkdir_parents(int root_fd, const char *rel)
{
    _cleanup_free_ char *copy = strdup(rel);

    if (!copy)
        return -ENOMEM;
    for (char *slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdirat(root_fd, copy, 0755) < 0 && errno != EEXIST)
            return -errno;
        *slash = '/';
    }
    return 0;
}

static int
write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

int
install_file(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
             bool do_chown, uid_t uid, gid_t gid)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    const char *rel, *base;
    uint32_t salt = 0;
    int r;

    if (!path || path[0] != '/' || !path[1])
        return -EINVAL;
    rel = path + 1;
    r = mkdir_parents(root_fd, rel);
    if (r < 0)
        return r;
    if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt))
        return -EIO;
    base = strrchr(rel, '/');
    if (asprintf(&tmp, "%.*s.%s.%08x.tmp", base ? (int)(base - rel + 1) : 0, rel,
                 base ? base + 1 : rel, salt) < 0)
        return -ENOMEM;
    fd = openat(root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    /* The mode given to openat is filtered by the umask; the key's must be exactly 0600. */
    if (fchmod(fd, mode) < 0 || (do_chown && fchown(fd, uid, gid) < 0))
        r = -errno;
    if (r == 0)
        r = write_all(fd, data, size);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(root_fd, tmp, root_fd, rel) < 0)
        r = -errno;
    if (r < 0)
        unlinkat(root_fd, tmp, 0);
    return r;
}
