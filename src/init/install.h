/* Writing the key, certificate and chain under the root (cloister-init): each file atomically
 * (a temporary file in the same directory, fsync, rename), missing parent directories created
 * 0755, and owned by the application's user so that it can read them after the switch. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes size bytes to path (absolute, relative to root_fd) with mode, owned by uid:gid when
 * chown is set (cloister-init runs as root). */
int install_file(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                 bool chown, uid_t uid, gid_t gid);
