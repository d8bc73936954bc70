/* Flattening layers into one tree of metadata (image-tree.h). Nodes live in a chained hash table
 * keyed by their absolute path (seeded, so crafted paths cannot force collisions) and in their
 * parent's list of children, so a whiteout removes a subtree without scanning the whole tree. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "image-tree.h"

struct node {
    char *path; /* absolute, normalised; "" for the root */
    size_t len;
    enum manifest_entry_type type;
    uint32_t mode, uid, gid;
    uint64_t size;
    uint8_t sha256[32];
    unsigned layer;
    struct node *parent, *first_child, *prev, *next; /* siblings */
    struct node *hnext;                              /* hash chain */
};

struct image_tree {
    const struct manifest_strings *skip, *keep;
    struct node **buckets;
    size_t n_buckets, n_nodes;
    uint64_t seed;
    unsigned layer;
    struct node root;
};

static uint64_t
path_hash(const struct image_tree *t, const char *path, size_t len)
{
    uint64_t h = t->seed ^ 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)path[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static struct node *
lookup(const struct image_tree *t, const char *path, size_t len)
{
    struct node *n;

    if (len == 0)
        return (struct node *)&t->root;
    n = t->buckets[path_hash(t, path, len) & (t->n_buckets - 1)];
    for (; n; n = n->hnext)
        if (n->len == len && memcmp(n->path, path, len) == 0)
            return n;
    return NULL;
}

static int
grow(struct image_tree *t)
{
    size_t n = t->n_buckets * 2;
    struct node **b = calloc(n, sizeof(*b));

    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct node *x = t->buckets[i], *next;
        for (; x; x = next) {
            size_t at = path_hash(t, x->path, x->len) & (n - 1);
            next = x->hnext;
            x->hnext = b[at];
            b[at] = x;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
    return 0;
}

int
image_tree_new(const struct manifest_strings *skip, const struct manifest_strings *keep,
               struct image_tree **ret)
{
    struct image_tree *t = calloc(1, sizeof(*t));

    if (!t)
        return -ENOMEM;
    t->skip = skip;
    t->keep = keep;
    t->n_buckets = 1024;
    t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
    if (!t->buckets || RAND_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != 1) {
        free(t->buckets);
        free(t);
        return -ENOMEM;
    }
    t->root.path = (char *)"";
    t->root.type = MANIFEST_ENTRY_DIR;
    *ret = t;
    return 0;
}

static void
unhash(struct image_tree *t, struct node *n)
{
    struct node **p = &t->buckets[path_hash(t, n->path, n->len) & (t->n_buckets - 1)];

    while (*p != n)
        p = &(*p)->hnext;
    *p = n->hnext;
    t->n_nodes--;
}

static void
unlink_child(struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        n->parent->first_child = n->next;
    if (n->next)
        n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

/* Frees n and everything below it (n is already out of its parent's list). */
static void
free_subtree(struct image_tree *t, struct node *n)
{
    struct node *c = n->first_child, *next;

    for (; c; c = next) {
        next = c->next;
        free_subtree(t, c);
    }
    unhash(t, n);
    free(n->path);
    free(n);
}

static void
remove_node(struct image_tree *t, struct node *n)
{
    unlink_child(n);
    free_subtree(t, n);
}

/* An opaque marker: the directory keeps only what the current layer put in it, at any depth (a
 * directory the layer lists again keeps its own entry, not what lower layers put in it). */
static void
drop_lower_children(struct image_tree *t, struct node *dir)
{
    struct node *c = dir->first_child, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->layer < t->layer)
            remove_node(t, c);
        else if (c->type == MANIFEST_ENTRY_DIR)
            drop_lower_children(t, c);
    }
}

struct image_tree *
image_tree_free(struct image_tree *t)
{
    struct node *c, *next;

    if (!t)
        return NULL;
    for (c = t->root.first_child; c; c = next) {
        next = c->next;
        free_subtree(t, c);
    }
    free(t->buckets);
    free(t);
    return NULL;
}

void
image_tree_next_layer(struct image_tree *t)
{
    t->layer++;
}

/* Normalises a tar path to "/a/b" in out (size > MANIFEST_PATH_MAX + 1): leading "./" and "/"
 * and "." components dropped, "//" collapsed, a trailing "/" removed. "" is the root. */
static int
normalise(const char *in, char *out, size_t size, struct image_error *e)
{
    size_t o = 0;
    unsigned depth = 0;

    for (const char *p = in; *p;) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);

        if (n == 2 && p[0] == '.' && p[1] == '.')
            return image_errorf(e, -EINVAL, "%s: a \"..\" component would leave the root", in);
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (o + 1 + n >= size || o + 1 + n > MANIFEST_PATH_MAX)
                return image_errorf(e, -EINVAL, "%.64s...: path longer than %u bytes", in,
                                    MANIFEST_PATH_MAX);
            if (++depth > TREE_DEPTH_MAX)
                return image_errorf(e, -EINVAL, "%.64s...: deeper than %u directories", in,
                                    TREE_DEPTH_MAX);
            out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p = *end ? end + 1 : end;
    }
    out[o] = '\0';
    return (int)o;
}

static bool
below_listed(const struct manifest_strings *list, const char *path, size_t len, bool self)
{
    for (size_t i = 0; list && i < list->n; i++) {
        size_t n = strlen(list->items[i]);
        if (n > len || memcmp(list->items[i], path, n) != 0)
            continue;
        if (n == len ? self : path[n] == '/')
            return true;
    }
    return false;
}

/* The directory that will hold path (len bytes): every ancestor must be a directory or absent
 * (then made as the runtime makes it: 0755 root:root). */
static int parent_dir(struct image_tree *t, const char *path, size_t len, struct node **ret,
                      struct image_error *e);

static int
new_node(struct image_tree *t, struct node *parent, const char *path, size_t len, struct node **ret)
{
    struct node *n;
    size_t at;
    int r;

    if (t->n_nodes >= MANIFEST_ENTRIES_MAX)
        return -E2BIG;
    if (t->n_nodes >= t->n_buckets) {
        r = grow(t);
        if (r < 0)
            return r;
    }
    n = calloc(1, sizeof(*n));
    if (!n || !(n->path = strndup(path, len))) {
        free(n);
        return -ENOMEM;
    }
    n->len = len;
    n->layer = t->layer;
    n->parent = parent;
    n->next = parent->first_child;
    if (n->next)
        n->next->prev = n;
    parent->first_child = n;
    at = path_hash(t, path, len) & (t->n_buckets - 1);
    n->hnext = t->buckets[at];
    t->buckets[at] = n;
    t->n_nodes++;
    *ret = n;
    return 0;
}

static int
parent_dir(struct image_tree *t, const char *path, size_t len, struct node **ret,
           struct image_error *e)
{
    size_t plen = len;
    struct node *p;
    int r;

    while (plen > 0 && path[plen - 1] != '/')
        plen--;
    plen = plen > 0 ? plen - 1 : 0; /* without the '/' */
    p = lookup(t, path, plen);
    if (!p) {
        struct node *grand;
        r = parent_dir(t, path, plen, &grand, e);
        if (r < 0)
            return r;
        r = new_node(t, grand, path, plen, &p);
        if (r < 0)
            return r;
        p->type = MANIFEST_ENTRY_DIR;
        p->mode = 0755;
    } else if (p->type == MANIFEST_ENTRY_SYMLINK) {
        return image_errorf(e, -EINVAL,
                            "%.*s: below the symlink %.*s (writing through a link "
                            "could leave the root)",
                            (int)len, path, (int)plen, path);
    } else if (p->type != MANIFEST_ENTRY_DIR) {
        return image_errorf(e, -EINVAL, "%.*s: below %.*s, which is not a directory", (int)len,
                            path, (int)plen, path);
    }
    *ret = p;
    return 0;
}

/* A whiteout entry (basename starts with ".wh."): deletes its target or, for the opaque marker,
 * the lower layers' contents of its directory. Markers of other aufs metadata are ignored, and so
 * is a whiteout in a directory that does not exist. */
static int
whiteout(struct image_tree *t, const char *path, size_t len, size_t base, struct image_error *e)
{
    char target[MANIFEST_PATH_MAX + 2];
    const char *name = path + base + 4;
    struct node *dir = lookup(t, path, base - 1), *n;

    if (!dir)
        return 0;
    if (dir->type != MANIFEST_ENTRY_DIR)
        return image_errorf(e, -EINVAL, "%s: a whiteout below %.*s, which is not a directory", path,
                            (int)(base - 1), path);
    if (strcmp(name, ".wh..opq") == 0) {
        drop_lower_children(t, dir);
        return 0;
    }
    if (strncmp(name, ".wh.", 4) == 0 || *name == '\0')
        return 0;
    memcpy(target, path, base);
    memcpy(target + base, name, len - base - 4);
    n = lookup(t, target, len - 4);
    if (n)
        remove_node(t, n);
    return 0;
}

/* What a hard link entry becomes: a file with its target's metadata and content. */
static int
resolve_hardlink(struct image_tree *t, const struct image_entry *in, struct node *ret,
                 struct image_error *e)
{
    char target[MANIFEST_PATH_MAX + 2];
    const struct node *to;
    int len;

    len = normalise(in->link ? in->link : "", target, sizeof(target), e);
    if (len < 0)
        return len;
    to = lookup(t, target, (size_t)len);
    if (!to || to->type != MANIFEST_ENTRY_FILE)
        return image_errorf(e, -EINVAL, "%s: hard link to %s, which is %s", in->path,
                            in->link ? in->link : "(nothing)",
                            to ? "not a regular file" : "not in the image");
    *ret = *to;
    return 0;
}

/* Sets n from the entry; for a hard link, from its resolved target. */
static int
set_node(struct image_tree *t, const struct image_entry *in, const struct node *link_target,
         struct node *n, struct image_error *e)
{
    n->layer = t->layer;
    n->mode = in->mode & 07777;
    n->uid = in->uid;
    n->gid = in->gid;
    n->size = 0;
    switch (in->kind) {
    case IMAGE_ENTRY_DIR:
        n->type = MANIFEST_ENTRY_DIR;
        return 0;
    case IMAGE_ENTRY_FILE:
        n->type = MANIFEST_ENTRY_FILE;
        n->size = in->size;
        memcpy(n->sha256, in->sha256, 32);
        return 0;
    case IMAGE_ENTRY_SYMLINK:
        n->type = MANIFEST_ENTRY_SYMLINK;
        n->mode = 0777;
        n->size = in->link ? strlen(in->link) : 0;
        if (n->size == 0)
            return image_errorf(e, -EINVAL, "%s: symlink with an empty target", in->path);
        return manifest_sha256(in->link, n->size, n->sha256);
    case IMAGE_ENTRY_HARDLINK:
        n->type = MANIFEST_ENTRY_FILE;
        n->mode = link_target->mode;
        n->uid = link_target->uid;
        n->gid = link_target->gid;
        n->size = link_target->size;
        memcpy(n->sha256, link_target->sha256, 32);
        return 0;
    case IMAGE_ENTRY_OTHER:
        break;
    }
    return image_errorf(e, -EINVAL,
                        "%s: device files, FIFOs and sockets cannot be in a "
                        "converted image",
                        in->path);
}

int
image_tree_add(struct image_tree *t, const struct image_entry *in, struct image_error *e)
{
    char path[MANIFEST_PATH_MAX + 2];
    struct node *parent, *n, link_target = { 0 };
    size_t len, base;
    int r;

    r = normalise(in->path, path, sizeof(path), e);
    if (r <= 0)
        return r; /* an error, or the root itself (its metadata is the runtime's) */
    len = (size_t)r;
    if (below_listed(t->skip, path, len, true) || below_listed(t->keep, path, len, false))
        return 0;
    base = len;
    while (path[base - 1] != '/')
        base--;
    if (strncmp(path + base, ".wh.", 4) == 0)
        return whiteout(t, path, len, base, e);
    /* Before anything is replaced: the link may name the entry it replaces. */
    if (in->kind == IMAGE_ENTRY_HARDLINK) {
        r = resolve_hardlink(t, in, &link_target, e);
        if (r < 0)
            return r;
    }
    r = parent_dir(t, path, len, &parent, e);
    if (r < 0)
        return r == -E2BIG ? image_errorf(e, r, "more than %u entries", MANIFEST_ENTRIES_MAX) : r;

    n = lookup(t, path, len);
    if (n && n->type == MANIFEST_ENTRY_DIR && in->kind == IMAGE_ENTRY_DIR)
        return set_node(t, in, NULL, n, e); /* keeps its children */
    if (n)
        remove_node(t, n);
    r = new_node(t, parent, path, len, &n);
    if (r < 0)
        return r == -E2BIG ? image_errorf(e, r, "more than %u entries", MANIFEST_ENTRIES_MAX) : r;
    r = set_node(t, in, &link_target, n, e);
    if (r < 0)
        remove_node(t, n);
    return r;
}

static int
by_path(const void *a, const void *b)
{
    return strcmp(((const struct manifest_entry *)a)->path,
                  ((const struct manifest_entry *)b)->path);
}

static int
collect(const struct node *n, struct tree_scan *out)
{
    for (const struct node *c = n->first_child; c; c = c->next) {
        struct manifest_entry *x = &out->entries[out->n];
        *x = (struct manifest_entry){
            .type = c->type,
            .mode = c->mode,
            .uid = c->uid,
            .gid = c->gid,
            .size = c->size,
            .has_sha256 = c->type != MANIFEST_ENTRY_DIR,
        };
        memcpy(x->sha256, c->sha256, 32);
        x->path = strdup(c->path);
        if (!x->path)
            return -ENOMEM;
        out->n++;
        if (collect(c, out) < 0)
            return -ENOMEM;
    }
    return 0;
}

int
image_tree_entries(const struct image_tree *t, struct tree_scan *ret)
{
    struct tree_scan out = { 0 };

    out.entries = calloc(t->n_nodes + 1, sizeof(*out.entries));
    if (!out.entries)
        return -ENOMEM;
    if (collect(&t->root, &out) < 0) {
        tree_scan_release(&out);
        return -ENOMEM;
    }
    qsort(out.entries, out.n, sizeof(*out.entries), by_path);
    *ret = out;
    return 0;
}
