/* Resolving the image's user (see user.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "user.h"

static bool
parse_id(const char *s, uint32_t *ret)
{
    uint64_t v = 0;

    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX - 1)
            return false;
    }
    *ret = (uint32_t)v;
    return true;
}

/* Finds the line whose field `key_field` (0: name, 2: id) is key in a passwd/group style file
 * (name:x:id:gid...) under the root: field 2 is the id, field 3 (passwd only) the primary group. */
static int
lookup(int root_fd, const char *file, size_t key_field, const char *key, uint32_t *ret_id,
       uint32_t *ret_gid)
{
    _cleanup_close_ int fd = openat(root_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    _cleanup_fclose_ FILE *f = NULL;
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;

    if (fd < 0)
        return -ENOENT;
    f = fdopen(fd, "re");
    if (!f)
        return -errno;
    TAKE_FD(fd);
    while (getline(&line, &cap, f) > 0) {
        char *fields[4] = { 0 }, *p = line;
        size_t n = 0;

        line[strcspn(line, "\n")] = '\0';
        while (n < ELEMENTSOF(fields)) {
            fields[n++] = p;
            p = strchr(p, ':');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (n < 3 || strcmp(fields[key_field], key) != 0)
            continue;
        if (!parse_id(fields[2], ret_id))
            return -EINVAL;
        if (ret_gid && (n < 4 || !parse_id(fields[3], ret_gid)))
            return -EINVAL;
        return 0;
    }
    return -ENOENT;
}

int
user_resolve(int root_fd, const char *spec, uid_t *ret_uid, gid_t *ret_gid)
{
    _cleanup_free_ char *copy = NULL;
    uint32_t uid = 0, gid = 0;
    char *group;
    int r;

    if (!spec || !*spec) {
        *ret_uid = 0;
        *ret_gid = 0;
        return 0;
    }
    copy = strdup(spec);
    if (!copy)
        return -ENOMEM;
    group = strchr(copy, ':');
    if (group)
        *group++ = '\0';
    if (!*copy || (group && !*group))
        return -EINVAL;
    if (parse_id(copy, &uid)) {
        /* As Docker: the primary group of the uid's /etc/passwd entry, else group 0. */
        uint32_t same = 0;
        if (lookup(root_fd, "etc/passwd", 2, copy, &same, &gid) < 0)
            gid = 0;
    } else {
        r = lookup(root_fd, "etc/passwd", 0, copy, &uid, &gid);
        if (r < 0)
            return r;
    }
    if (group && !parse_id(group, &gid)) {
        r = lookup(root_fd, "etc/group", 0, group, &gid, NULL);
        if (r < 0)
            return r;
    }
    *ret_uid = uid;
    *ret_gid = gid;
    return 0;
}
