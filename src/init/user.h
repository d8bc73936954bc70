/* The image's user ("" / NULL = root, "uid", "uid:gid", "name", "name:group", as in an OCI image
 * config), resolved against the image's own /etc/passwd and /etc/group (a static binary has no
 * NSS, and the host's databases are not the image's). */
#pragma once

#include <sys/types.h>

/* -ENOENT (with the unknown name in the message the caller prints) when a name is not found,
 * -EINVAL for a malformed spec. */
int user_resolve(int root_fd, const char *spec, uid_t *ret_uid, gid_t *ret_gid);
