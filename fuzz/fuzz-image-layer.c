/* Fuzz target for reading one layer blob (src/image/image-layer.c): the gzip or zstd stream (or
 * none), the tar reader and the flattening into an image tree (image-tree.c). Layers come from
 * any registry, so every byte is outside input. Invariants: an applied layer reports the size and
 * digest of exactly the bytes given, and the tree always lists entries a manifest accepts:
 * normalised paths, strictly sorted, each one's parent listed as a directory. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image-layer.h"
#include "image-tree.h"
#include "manifest.h"
#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *skip_items[] = { "/.cloister", "/dev", "/proc", "/sys" };
static const struct manifest_strings skip = { .items = skip_items, .n = 4 };

static int
write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

static int
by_path(const void *a, const void *b)
{
    return strcmp(((const struct manifest_entry *)a)->path,
                  ((const struct manifest_entry *)b)->path);
}

/* Whether the parent of e is listed as a directory (or is the root). */
static bool
parent_listed(const struct tree_scan *scan, const struct manifest_entry *e)
{
    const char *slash = strrchr(e->path, '/');
    struct manifest_entry key = { 0 };
    const struct manifest_entry *p;
    char *parent;
    bool ok;

    if (slash == e->path)
        return true;
    parent = strndup(e->path, (size_t)(slash - e->path));
    if (!parent)
        return true;
    key.path = parent;
    p = bsearch(&key, scan->entries, scan->n, sizeof(*scan->entries), by_path);
    ok = p && p->type == MANIFEST_ENTRY_DIR;
    free(parent);
    return ok;
}

static void
check_entries(const struct image_tree *t)
{
    struct tree_scan scan = { 0 };

    if (image_tree_entries(t, &scan) < 0)
        return;
    for (size_t i = 0; i < scan.n; i++) {
        if (!manifest_path_ok(scan.entries[i].path))
            __builtin_trap();
        if (i > 0 && strcmp(scan.entries[i - 1].path, scan.entries[i].path) >= 0)
            __builtin_trap();
        if (!parent_listed(&scan, &scan.entries[i]))
            __builtin_trap();
    }
    tree_scan_release(&scan);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct image_layer_info info = { 0 };
    struct image_error e = { 0 };
    struct image_tree *t = NULL;
    uint8_t digest[32];
    int fd, r;

    fd = memfd_create("fuzz-image-layer", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) != 0 ||
        image_tree_new(&skip, NULL, &t) < 0) {
        close(fd);
        return 0;
    }
    r = image_layer_apply(fd, t, NULL, NULL, &info, &e);
    if (r == 0) {
        if (info.size != size || manifest_sha256(data, size, digest) < 0 ||
            memcmp(digest, info.digest, 32) != 0)
            __builtin_trap();
    }
    check_entries(t);
    image_tree_free(t);
    close(fd);
    return 0;
}
