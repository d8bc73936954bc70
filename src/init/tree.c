/* Scanning and checking a file tree (see tree.h). */
#include <dirent.h>
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
#include "tree.h"

struct scanner {
    const struct manifest_strings *skip, *keep;
    unsigned hash_percent;
    uint64_t rng;
    struct manifest_entry *entries;
    size_t n, cap;
    char *bad_path;
};

void
tree_scan_release(struct tree_scan *scan)
{
    for (size_t i = 0; i < scan->n; i++)
        free((char *)scan->entries[i].path);
    free(scan->entries);
    *scan = (struct tree_scan){ 0 };
}

static bool
listed(const struct manifest_strings *list, const char *path)
{
    for (size_t i = 0; list && i < list->n; i++)
        if (strcmp(list->items[i], path) == 0)
            return true;
    return false;
}

/* xorshift64*: the sampled check needs unpredictability per run, not cryptographic strength
 * (the seed comes from getrandom). */
static bool
sample(struct scanner *s)
{
    if (s->hash_percent >= 100)
        return true;
    if (s->hash_percent == 0)
        return false;
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (s->rng * UINT64_C(2685821657736338717)) % 100 < s->hash_percent;
}

static int
push(struct scanner *s, struct manifest_entry *e)
{
    if (s->n >= MANIFEST_ENTRIES_MAX)
        return -E2BIG;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct manifest_entry *n = reallocarray(s->entries, cap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->entries = n;
        s->cap = cap;
    }
    s->entries[s->n++] = *e;
    return 0;
}

static int scan_dir(struct scanner *s, int dir_fd, const char *dir_path, unsigned depth);

static int
scan_one(struct scanner *s, int dir_fd, const char *name, const char *path, unsigned depth)
{
    struct manifest_entry e = { 0 };
    _cleanup_free_ char *owned = strdup(path);
    struct stat st;
    int r;

    if (!owned)
        return -ENOMEM;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    if (S_ISDIR(st.st_mode)) {
        e.type = MANIFEST_ENTRY_DIR;
    } else if (S_ISLNK(st.st_mode)) {
        char target[MANIFEST_PATH_MAX + 2];
        ssize_t n = readlinkat(dir_fd, name, target, sizeof(target));

        if (n < 0)
            return -errno;
        if ((size_t)n >= sizeof(target))
            return -ENAMETOOLONG;
        e.type = MANIFEST_ENTRY_SYMLINK;
        e.size = (uint64_t)n;
        e.has_sha256 = true;
        r = manifest_sha256(target, (size_t)n, e.sha256);
        if (r < 0)
            return r;
    } else if (S_ISREG(st.st_mode)) {
        e.type = MANIFEST_ENTRY_FILE;
        e.size = (uint64_t)st.st_size;
        if (sample(s)) {
            _cleanup_close_ int fd =
                openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
            uint64_t size = 0;

            if (fd < 0)
                return -errno;
            r = manifest_sha256_file(fd, e.sha256, &size);
            if (r < 0)
                return r;
            e.has_sha256 = true;
            e.size = size; /* what was hashed */
        }
    } else {
        s->bad_path = TAKE_PTR(owned);
        return -ENOTSUP;
    }
    e.path = owned;
    r = push(s, &e);
    if (r < 0)
        return r;
    TAKE_PTR(owned);
    if (e.type == MANIFEST_ENTRY_DIR && !listed(s->keep, path)) {
        _cleanup_close_ int fd =
            openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return -errno;
        return scan_dir(s, fd, path, depth + 1);
    }
    return 0;
}

static void
closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static int
scan_dir(struct scanner *s, int dir_fd, const char *dir_path, unsigned depth)
{
    _cleanup_(closedirp) DIR *d = NULL;
    int fd, r;

    if (depth > TREE_DEPTH_MAX)
        return -ELOOP;
    fd = dup(dir_fd);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    for (;;) {
        _cleanup_free_ char *path = NULL;
        struct dirent *de;

        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno != 0)
                return -errno;
            return 0;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (asprintf(&path, "%s/%s", strcmp(dir_path, "/") == 0 ? "" : dir_path, de->d_name) < 0)
            return -ENOMEM;
        if (strlen(path) > MANIFEST_PATH_MAX)
            return -ENAMETOOLONG;
        if (listed(s->skip, path))
            continue;
        r = scan_one(s, dirfd(d), de->d_name, path, depth);
        if (r < 0)
            return r;
    }
}

static int
compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct manifest_entry *)a)->path,
                  ((const struct manifest_entry *)b)->path);
}

int
tree_scan(int root_fd, const struct manifest_strings *skip, const struct manifest_strings *keep,
          unsigned hash_percent, struct tree_scan *ret, char **ret_path)
{
    struct scanner s = { .skip = skip, .keep = keep, .hash_percent = hash_percent };
    int r;

    if (getrandom(&s.rng, sizeof(s.rng), 0) != sizeof(s.rng))
        return -EIO;
    s.rng |= 1;
    r = scan_dir(&s, root_fd, "/", 0);
    if (r < 0) {
        struct tree_scan partial = { .entries = s.entries, .n = s.n };
        tree_scan_release(&partial);
        if (ret_path)
            *ret_path = s.bad_path;
        else
            free(s.bad_path);
        return r;
    }
    qsort(s.entries, s.n, sizeof(*s.entries), compare_entries);
    *ret = (struct tree_scan){ .entries = s.entries, .n = s.n };
    return 0;
}

int
tree_scan_to_json(const struct tree_scan *scan, struct jwbuf *b, uint8_t ret_digest[32])
{
    static const char *const types[] = { "file", "dir", "symlink" };
    struct jread_value *v = NULL;
    size_t start = b->size;
    char hex[65];
    int r;

    jwbuf_puts(b, "[");
    for (size_t i = 0; i < scan->n; i++) {
        const struct manifest_entry *e = &scan->entries[i];

        jwbuf_printf(b, "%s{\"gid\":%u,\"mode\":%u,\"path\":", i ? ",\n" : "\n", e->gid, e->mode);
        jwbuf_string(b, e->path);
        if (e->has_sha256) {
            manifest_hex(e->sha256, 32, hex);
            jwbuf_printf(b, ",\"sha256\":\"%s\"", hex);
        }
        jwbuf_printf(b, ",\"size\":%llu,\"type\":\"%s\",\"uid\":%u}", (unsigned long long)e->size,
                     types[e->type], e->uid);
    }
    jwbuf_puts(b, "]");
    if (b->error)
        return b->error;
    /* The digest as cloister-init computes it: over the canonical encoding, not this text. */
    r = jread_parse(b->data + start, b->size - start, MANIFEST_SIZE_MAX, &v, NULL);
    if (r == 0)
        r = manifest_tree_digest(v, ret_digest);
    jread_free(v);
    return r;
}

/* Whether path is one of the certificate files or a directory on the way to one: cloister-init
 * creates them, so they may exist without being in the manifest. */
static bool
certificate_path(const struct manifest *m, const char *path)
{
    const char *files[] = { m->certificate.key_path, m->certificate.cert_path,
                            m->certificate.chain_path };
    size_t n = strlen(path);

    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        if (!files[i])
            continue;
        if (strcmp(files[i], path) == 0)
            return true;
        if (strncmp(files[i], path, n) == 0 && files[i][n] == '/')
            return true;
    }
    return false;
}

static const char *
entry_difference(const struct manifest_entry *want, const struct manifest_entry *have)
{
    if (want->type != have->type)
        return "type differs";
    if (want->mode != have->mode)
        return "mode differs";
    if (want->uid != have->uid || want->gid != have->gid)
        return "owner differs";
    if (want->size != have->size)
        return "size differs";
    if (have->has_sha256 && memcmp(want->sha256, have->sha256, 32) != 0)
        return want->type == MANIFEST_ENTRY_SYMLINK ? "link target differs" : "content differs";
    return NULL;
}

static int
report(enum tree_problem problem, const char *path, const char *what,
       enum tree_problem *ret_problem, char **ret_path, const char **ret_what)
{
    char *copy = strdup(path);

    if (!copy)
        return -ENOMEM;
    *ret_problem = problem;
    *ret_path = copy;
    *ret_what = what;
    return 0;
}

/* Walks the manifest's entries and the scan in path order; the first difference is the answer. */
static int
compare_scan(const struct manifest *m, const struct tree_scan *have, enum tree_problem *ret_problem,
             char **ret_path, const char **ret_what)
{
    size_t i = 0, j = 0;

    while (i < m->n_entries || j < have->n) {
        int c = i >= m->n_entries ? 1
                : j >= have->n    ? -1
                                  : strcmp(m->entries[i].path, have->entries[j].path);
        const char *what;

        if (c < 0)
            return report(TREE_MISSING, m->entries[i].path, "missing", ret_problem, ret_path,
                          ret_what);
        if (c > 0 && certificate_path(m, have->entries[j].path)) {
            j++;
            continue;
        }
        if (c > 0)
            return report(TREE_EXTRA, have->entries[j].path, "not in the manifest", ret_problem,
                          ret_path, ret_what);
        what = entry_difference(&m->entries[i], &have->entries[j]);
        /* A certificate file the image already had is replaced by cloister-init. */
        if (what &&
            !(m->entries[i].type == MANIFEST_ENTRY_FILE && certificate_path(m, m->entries[i].path)))
            return report(TREE_CHANGED, have->entries[j].path, what, ret_problem, ret_path,
                          ret_what);
        i++;
        j++;
    }
    *ret_problem = TREE_OK;
    return 0;
}

int
tree_verify(int root_fd, const struct manifest *m, enum tree_problem *ret_problem, char **ret_path,
            const char **ret_what)
{
    struct manifest_strings keep = { 0 };
    struct tree_scan have = { 0 };
    _cleanup_free_ const char **both = NULL;
    int r;

    /* rw_dirs and encrypted_dirs: recorded, not descended. */
    both = calloc(m->rw_dirs.n + m->encrypted_dirs.n + 1, sizeof(char *));
    if (!both)
        return -ENOMEM;
    for (size_t k = 0; k < m->rw_dirs.n; k++)
        both[keep.n++] = m->rw_dirs.items[k];
    for (size_t k = 0; k < m->encrypted_dirs.n; k++)
        both[keep.n++] = m->encrypted_dirs.items[k];
    keep.items = both;

    r = tree_scan(root_fd, &m->skip, &keep,
                  m->check == MANIFEST_CHECK_FULL ? 100 : m->sample_percent, &have, ret_path);
    if (r == -ENOTSUP) {
        *ret_problem = TREE_EXTRA;
        *ret_what = "not a regular file, directory or symlink";
        return 0;
    }
    if (r < 0)
        return r;
    r = compare_scan(m, &have, ret_problem, ret_path, ret_what);
    tree_scan_release(&have);
    return r;
}
