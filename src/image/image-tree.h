/* The file tree an image's layers make when applied in order, as the container runtime will
 * unpack it (docs/convert.md, "Flattening"): whiteouts (.wh.NAME) delete, opaque markers
 * (.wh..wh..opq) hide what lower layers put in a directory, a later entry replaces an earlier
 * one, hard links take their target's content. Only metadata and content digests are kept, so
 * memory grows with the number of entries, not with the image's size.
 *
 * Refused, with the path in the message: ".." components, entries below a symlink (writing
 * through it could land outside the root), below a file, hard links to nothing or to a non-file,
 * device files, FIFOs and sockets, paths above MANIFEST_PATH_MAX, more than MANIFEST_ENTRIES_MAX
 * entries. Entries under a skipped path (tree.skip of the manifest) are ignored entirely. */
#pragma once

#include <stdint.h>

#include "image-error.h"
#include "manifest.h"
#include "tree.h"

enum image_entry_kind {
    IMAGE_ENTRY_FILE,
    IMAGE_ENTRY_DIR,
    IMAGE_ENTRY_SYMLINK,
    IMAGE_ENTRY_HARDLINK,
    IMAGE_ENTRY_OTHER, /* device, FIFO, socket */
};

/* One tar entry of a layer. */
struct image_entry {
    const char *path; /* as the tar has it: "./a/b", "a/b/", "/a" all mean /a/b or /a */
    enum image_entry_kind kind;
    uint32_t mode; /* permission bits with setuid, setgid and sticky */
    uint32_t uid, gid;
    uint64_t size;      /* files: content bytes */
    const char *link;   /* symlink target (as is), hard link target (a path like path) */
    uint8_t sha256[32]; /* files: of the content */
};

struct image_tree;

/* A new, empty tree. skip: paths left out with everything below them; keep: directories whose
 * contents are left out (rw_dirs, encrypted_dirs); both borrowed for the tree's lifetime. */
int image_tree_new(const struct manifest_strings *skip, const struct manifest_strings *keep,
                   struct image_tree **ret);
struct image_tree *image_tree_free(struct image_tree *t);

/* Starts the next layer: what follows may be hidden by opaque markers of later layers only. */
void image_tree_next_layer(struct image_tree *t);

/* Applies one entry of the current layer. -EINVAL (with the reason in e) for a refused entry,
 * -E2BIG past the entry limit, -ENOMEM. */
int image_tree_add(struct image_tree *t, const struct image_entry *entry, struct image_error *e);

/* The tree as manifest entries sorted by path (paths owned by ret), what tree_scan() would give
 * for the unpacked root file system; release with tree_scan_release(). */
int image_tree_entries(const struct image_tree *t, struct tree_scan *ret);
