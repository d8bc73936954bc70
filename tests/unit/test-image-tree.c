/* Flattening layers into one tree (src/image/image-tree.c): entries become manifest entries, paths
 * are normalised, later layers replace, whiteouts and opaque markers delete, hard links take
 * their target's content, dangerous entries are refused with the path in the message, and the
 * result has the tree digest that scanning the same tree on disk (src/init/tree.c) gives. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image-tree.h"
#include "json-writer.h"
#include "manifest.h"
#include "test-files.h"
#include "test.h"
#include "tree.h"

static const char *skip_items[] = { "/.cloister", "/dev", "/proc", "/sys" };
static const struct manifest_strings skip = { .items = skip_items, .n = 4 };
static const char *keep_items[] = { "/data" };
static const struct manifest_strings keep = { .items = keep_items, .n = 1 };

/* The tree under test and its last listing: kept in statics so that a failed check (which
 * leaves its test early) leaks nothing; the next test releases them. */
static struct image_tree *tree;
static struct tree_scan scan;
static struct image_error err;
static char listing[8192];
static char saved[8192];

static void
begin(const struct manifest_strings *skip_list, const struct manifest_strings *keep_list)
{
    tree = image_tree_free(tree);
    tree_scan_release(&scan);
    CHECK_EQ_INT(image_tree_new(skip_list, keep_list, &tree), 0);
}

static void
end(void)
{
    tree = image_tree_free(tree);
    tree_scan_release(&scan);
}

/* ---- entries ---- */

static struct image_entry
file(const char *path, uint32_t mode, const char *content)
{
    struct image_entry e = {
        .path = path, .kind = IMAGE_ENTRY_FILE, .mode = mode, .size = strlen(content)
    };

    CHECK_EQ_INT(manifest_sha256(content, strlen(content), e.sha256), 0);
    return e;
}

static struct image_entry
dir(const char *path, uint32_t mode)
{
    return (struct image_entry){ .path = path, .kind = IMAGE_ENTRY_DIR, .mode = mode };
}

static struct image_entry
symlink_to(const char *path, const char *target)
{
    /* Tar headers of symlinks usually carry 0777; the tree must not depend on it. */
    return (struct image_entry){
        .path = path, .kind = IMAGE_ENTRY_SYMLINK, .mode = 0755, .link = target
    };
}

static struct image_entry
hardlink(const char *path, const char *target)
{
    return (struct image_entry){ .path = path,
                                 .kind = IMAGE_ENTRY_HARDLINK,
                                 .mode = 0600,
                                 .uid = 99,
                                 .gid = 99,
                                 .link = target };
}

static struct image_entry
owned(struct image_entry e, uint32_t uid, uint32_t gid)
{
    e.uid = uid;
    e.gid = gid;
    return e;
}

static void
add(struct image_entry e)
{
    int r;

    memset(&err, 0, sizeof(err));
    r = image_tree_add(tree, &e, &err);
    if (r < 0)
        fprintf(stderr, "  image_tree_add(\"%s\"): %d %s\n", e.path, r, err.text);
    CHECK_EQ_INT(r, 0);
}

/* The entry is refused with -EINVAL and a message that contains expect (the path). */
static void
refuse(struct image_entry e, const char *expect)
{
    int r;

    memset(&err, 0, sizeof(err));
    r = image_tree_add(tree, &e, &err);
    if (r != -EINVAL || !strstr(err.text, expect))
        fprintf(stderr,
                "  image_tree_add(\"%.80s\"): %d \"%s\", expected -EINVAL naming \"%.80s\"\n",
                e.path, r, err.text, expect);
    CHECK_EQ_INT(r, -EINVAL);
    CHECK(strstr(err.text, expect));
}

/* ---- results ---- */

/* Lists the tree into scan. Checks on the way that the entries are what a manifest accepts:
 * normalised paths, strictly sorted, parents listed as directories, digests for non-directories. */
static void
entries(void)
{
    tree_scan_release(&scan);
    CHECK_EQ_INT(image_tree_entries(tree, &scan), 0);
    for (size_t i = 0; i < scan.n; i++) {
        const struct manifest_entry *x = &scan.entries[i];
        const char *slash = strrchr(x->path, '/');
        size_t plen = (size_t)(slash - x->path);
        bool parent_found = plen == 0;

        CHECK(manifest_path_ok(x->path));
        if (i > 0)
            CHECK(strcmp(scan.entries[i - 1].path, x->path) < 0);
        CHECK_EQ_INT(x->has_sha256, x->type != MANIFEST_ENTRY_DIR);
        for (size_t k = i; !parent_found && k-- > 0;)
            parent_found = scan.entries[k].type == MANIFEST_ENTRY_DIR &&
                           strlen(scan.entries[k].path) == plen &&
                           memcmp(scan.entries[k].path, x->path, plen) == 0;
        CHECK(parent_found);
    }
}

/* The paths of the tree's entries separated by spaces (entries() on the way). */
static const char *
paths(void)
{
    size_t o = 0;

    entries();
    listing[0] = '\0';
    for (size_t i = 0; i < scan.n; i++) {
        int n =
            snprintf(listing + o, sizeof(listing) - o, "%s%s", o ? " " : "", scan.entries[i].path);

        CHECK(n >= 0 && (size_t)n < sizeof(listing) - o);
        o += (size_t)n;
    }
    return listing;
}

/* The entry for path in the last listing. */
static const struct manifest_entry *
entry(const char *path)
{
    for (size_t i = 0; i < scan.n; i++)
        if (strcmp(scan.entries[i].path, path) == 0)
            return &scan.entries[i];
    fprintf(stderr, "  %s: not in the tree (%s)\n", path, listing);
    CHECK(false);
    return NULL;
}

static void
check_meta(const char *path, enum manifest_entry_type type, uint32_t mode, uint32_t uid,
           uint32_t gid, uint64_t size)
{
    const struct manifest_entry *x = entry(path);

    CHECK_EQ_INT(x->type, type);
    CHECK_EQ_INT(x->mode, mode);
    CHECK_EQ_INT(x->uid, uid);
    CHECK_EQ_INT(x->gid, gid);
    CHECK_EQ_INT(x->size, size);
}

/* path is a file (or symlink) whose content (or target) is content. */
static void
check_content(const char *path, const char *content)
{
    const struct manifest_entry *x = entry(path);
    uint8_t digest[32];

    CHECK_EQ_INT(manifest_sha256(content, strlen(content), digest), 0);
    CHECK(x->has_sha256);
    CHECK_EQ_INT(x->size, strlen(content));
    CHECK(memcmp(x->sha256, digest, 32) == 0);
}

/* ---- cases ---- */

TEST(test_plain_entries)
{
    begin(&skip, NULL);
    /* Out of order on purpose, with type bits and setuid in the modes. */
    add(owned(file("/usr/bin/sudo", 0104755, "sudo binary"), 0, 27));
    add(dir("/usr", 040755));
    add(dir("/usr/bin", 0755));
    add(dir("/tmp", 041777));
    add(owned(file("/home/app/notes.txt", 0100640, "hello\n"), 1000, 1001));
    add(owned(dir("/home/app", 02750), 1000, 1001));
    add(symlink_to("/usr/bin/sh", "busybox"));
    add(file("/usr/bin-x", 0644, ""));
    add(file("/usr/bin.d", 0644, "dot"));
    /* '-' (0x2d) and '.' (0x2e) sort before '/' (0x2f): byte order, not component order. */
    CHECK_EQ_STR(paths(), "/home /home/app /home/app/notes.txt /tmp /usr /usr/bin /usr/bin-x "
                          "/usr/bin.d /usr/bin/sh /usr/bin/sudo");
    check_meta("/usr/bin/sudo", MANIFEST_ENTRY_FILE, 04755, 0, 27, 11);
    check_content("/usr/bin/sudo", "sudo binary");
    check_meta("/usr", MANIFEST_ENTRY_DIR, 0755, 0, 0, 0);
    check_meta("/tmp", MANIFEST_ENTRY_DIR, 01777, 0, 0, 0);
    check_meta("/home/app", MANIFEST_ENTRY_DIR, 02750, 1000, 1001, 0);
    check_meta("/home/app/notes.txt", MANIFEST_ENTRY_FILE, 0640, 1000, 1001, 6);
    check_content("/home/app/notes.txt", "hello\n");
    check_meta("/usr/bin-x", MANIFEST_ENTRY_FILE, 0644, 0, 0, 0);
    check_content("/usr/bin-x", "");
    /* Symlinks: mode 0777 whatever the header says, size and digest of the target's bytes. */
    check_meta("/usr/bin/sh", MANIFEST_ENTRY_SYMLINK, 0777, 0, 0, 7);
    check_content("/usr/bin/sh", "busybox");
    end();
}

TEST(test_path_normalisation)
{
    begin(&skip, NULL);
    add(file("./a/b", 0644, "one"));
    CHECK_EQ_STR(paths(), "/a /a/b");
    add(file("a//b/", 0600, "two"));
    CHECK_EQ_STR(paths(), "/a /a/b");
    check_content("/a/b", "two");
    add(file("/a/b", 0640, "three"));
    add(file("a/./b", 0640, "four"));
    add(file("//a///./b", 0444, "five"));
    CHECK_EQ_STR(paths(), "/a /a/b");
    check_meta("/a/b", MANIFEST_ENTRY_FILE, 0444, 0, 0, 4);
    check_content("/a/b", "five");
    add(dir("./a/", 0700));
    add(dir("a", 0711));
    CHECK_EQ_STR(paths(), "/a /a/b");
    check_meta("/a", MANIFEST_ENTRY_DIR, 0711, 0, 0, 0);
    /* The root itself is not an entry: its metadata is the runtime's. */
    add(dir("./", 0700));
    add(dir(".", 0700));
    add(dir("/", 0700));
    add(dir("", 0700));
    CHECK_EQ_STR(paths(), "/a /a/b");
    /* Names that merely contain dots are names. */
    add(file("/a/...", 0644, "x"));
    add(file("/a/.hidden", 0644, "x"));
    add(file("/a/..x", 0644, "x"));
    CHECK_EQ_STR(paths(), "/a /a/... /a/..x /a/.hidden /a/b");
    end();
}

TEST(test_implicit_parents)
{
    begin(&skip, NULL);
    add(owned(file("/usr/local/bin/tool", 0700, "t"), 5, 6));
    CHECK_EQ_STR(paths(), "/usr /usr/local /usr/local/bin /usr/local/bin/tool");
    check_meta("/usr", MANIFEST_ENTRY_DIR, 0755, 0, 0, 0);
    check_meta("/usr/local", MANIFEST_ENTRY_DIR, 0755, 0, 0, 0);
    check_meta("/usr/local/bin", MANIFEST_ENTRY_DIR, 0755, 0, 0, 0);
    check_meta("/usr/local/bin/tool", MANIFEST_ENTRY_FILE, 0700, 5, 6, 1);
    /* A later explicit entry for an implicit directory sets its metadata and keeps its children. */
    add(owned(dir("/usr/local", 0750), 3, 4));
    CHECK_EQ_STR(paths(), "/usr /usr/local /usr/local/bin /usr/local/bin/tool");
    check_meta("/usr/local", MANIFEST_ENTRY_DIR, 0750, 3, 4, 0);
    end();
}

TEST(test_later_replaces)
{
    begin(&skip, NULL);
    add(owned(file("/etc/motd", 0644, "old"), 1, 1));
    add(file("/etc/issue", 0644, "issue"));
    add(symlink_to("/bin", "usr/bin"));
    image_tree_next_layer(tree);
    add(owned(file("/etc/motd", 0600, "newer"), 7, 8));
    add(symlink_to("/etc/issue", "motd"));
    add(dir("/bin", 0755));
    CHECK_EQ_STR(paths(), "/bin /etc /etc/issue /etc/motd");
    check_meta("/etc/motd", MANIFEST_ENTRY_FILE, 0600, 7, 8, 5);
    check_content("/etc/motd", "newer");
    check_meta("/etc/issue", MANIFEST_ENTRY_SYMLINK, 0777, 0, 0, 4);
    check_content("/etc/issue", "motd");
    check_meta("/bin", MANIFEST_ENTRY_DIR, 0755, 0, 0, 0);
    /* Within one layer too, the last entry wins. */
    add(file("/etc/motd", 0644, "last"));
    paths();
    check_content("/etc/motd", "last");
    end();
}

TEST(test_dir_over_dir)
{
    begin(&skip, NULL);
    add(owned(dir("/srv", 0700), 1, 1));
    add(file("/srv/a", 0644, "a"));
    add(dir("/srv/sub", 0755));
    add(file("/srv/sub/b", 0644, "b"));
    image_tree_next_layer(tree);
    add(owned(dir("/srv", 0755), 2, 2));
    add(file("/srv/c", 0644, "c"));
    CHECK_EQ_STR(paths(), "/srv /srv/a /srv/c /srv/sub /srv/sub/b");
    check_meta("/srv", MANIFEST_ENTRY_DIR, 0755, 2, 2, 0);
    end();
}

TEST(test_nondir_over_dir)
{
    begin(&skip, NULL);
    add(file("/d/x", 0644, "x"));
    add(file("/d/sub/y", 0644, "y"));
    add(file("/e/z", 0644, "z"));
    add(file("/f", 0644, "f"));
    image_tree_next_layer(tree);
    add(file("/d", 0644, "now a file"));
    add(symlink_to("/e", "/d"));
    add(dir("/f", 0755));
    CHECK_EQ_STR(paths(), "/d /e /f");
    check_meta("/d", MANIFEST_ENTRY_FILE, 0644, 0, 0, 10);
    check_meta("/e", MANIFEST_ENTRY_SYMLINK, 0777, 0, 0, 2);
    check_meta("/f", MANIFEST_ENTRY_DIR, 0755, 0, 0, 0);
    /* What was below the old directory can come back as new entries of a new directory. */
    image_tree_next_layer(tree);
    add(dir("/d", 0700));
    add(file("/d/x", 0644, "x2"));
    CHECK_EQ_STR(paths(), "/d /d/x /e /f");
    end();
}

TEST(test_whiteout)
{
    begin(&skip, NULL);
    add(file("/a/b/c", 0644, "c"));
    add(file("/a/b/d/e", 0644, "e"));
    add(file("/a/x", 0644, "x"));
    add(file("/a/bb", 0644, "bb"));
    add(file("/f", 0644, "f"));
    image_tree_next_layer(tree);
    add(file("./a/.wh.b", 0, ""));
    CHECK_EQ_STR(paths(), "/a /a/bb /a/x /f");
    add(file("/.wh.f", 0, ""));
    /* A whiteout for a name that is not there removes nothing and adds nothing. */
    add(file("/a/.wh.nothing", 0, ""));
    CHECK_EQ_STR(paths(), "/a /a/bb /a/x");
    /* Deleted, then made again by a later layer. */
    image_tree_next_layer(tree);
    add(file("/a/b", 0644, "new b"));
    CHECK_EQ_STR(paths(), "/a /a/b /a/bb /a/x");
    check_meta("/a/b", MANIFEST_ENTRY_FILE, 0644, 0, 0, 5);
    /* A whiteout of a directory as a directory entry (some tools write them as such). */
    image_tree_next_layer(tree);
    add(dir("/.wh.a", 0755));
    CHECK_EQ_STR(paths(), "");
    end();
}

TEST(test_opaque)
{
    begin(&skip, NULL);
    add(dir("/d", 0750));
    add(file("/d/old", 0644, "old"));
    add(file("/d/again", 0644, "lower"));
    add(file("/d/olddir/f", 0644, "f"));
    add(file("/e/other", 0644, "o"));
    image_tree_next_layer(tree);
    add(file("/d/before", 0644, "b"));
    add(file("/d/again", 0600, "upper"));
    add(file("/d/.wh..wh..opq", 0, ""));
    add(file("/d/after", 0644, "a"));
    CHECK_EQ_STR(paths(), "/d /d/after /d/again /d/before /e /e/other");
    /* The directory itself stays, with its metadata. */
    check_meta("/d", MANIFEST_ENTRY_DIR, 0750, 0, 0, 0);
    check_content("/d/again", "upper");
    /* In a layer of its own, the marker empties the directory. */
    image_tree_next_layer(tree);
    add(file("e/.wh..wh..opq", 0, ""));
    CHECK_EQ_STR(paths(), "/d /d/after /d/again /d/before /e");
    end();
}

/* A directory the marker's layer lists again is that layer's directory, as overlayfs shows it
 * and as containerd and Docker unpack it (they remove every path the layer did not write): what
 * lower layers put in it is hidden too. */
TEST(test_opaque_nested)
{
    begin(&skip, NULL);
    add(file("/d/sub/lower", 0644, "l"));
    add(file("/d/sub/deeper/lower", 0644, "l"));
    image_tree_next_layer(tree);
    add(dir("/d/sub", 0755));
    add(file("/d/sub/upper", 0644, "u"));
    add(file("/d/.wh..wh..opq", 0, ""));
    CHECK_EQ_STR(paths(), "/d /d/sub /d/sub/upper");
    end();
}

TEST(test_whiteout_missing_dir)
{
    begin(&skip, NULL);
    add(file("/a/x", 0644, "x"));
    image_tree_next_layer(tree);
    add(file("/nodir/.wh.x", 0, ""));
    add(file("/nodir/sub/.wh..wh..opq", 0, ""));
    add(file("/a/gone/.wh.x", 0, ""));
    /* Nothing deleted, and no directory made for the whiteouts. */
    CHECK_EQ_STR(paths(), "/a /a/x");
    end();
}

TEST(test_hardlink)
{
    begin(&skip, NULL);
    add(owned(file("/bin/busybox", 04755, "BB"), 0, 10));
    add(hardlink("/bin/ls", "/bin/busybox"));
    add(hardlink("bin/cat", "bin/busybox"));
    add(hardlink("./bin/cp", "./bin//busybox"));
    CHECK_EQ_STR(paths(), "/bin /bin/busybox /bin/cat /bin/cp /bin/ls");
    /* A file with its target's metadata (one inode), not the link header's. */
    check_meta("/bin/ls", MANIFEST_ENTRY_FILE, 04755, 0, 10, 2);
    check_content("/bin/ls", "BB");
    check_meta("/bin/cat", MANIFEST_ENTRY_FILE, 04755, 0, 10, 2);
    check_meta("/bin/cp", MANIFEST_ENTRY_FILE, 04755, 0, 10, 2);
    check_content("/bin/cp", "BB");

    /* To a file of an earlier layer; the link keeps the old content when the target changes. */
    image_tree_next_layer(tree);
    add(hardlink("/sbin/init", "/bin/busybox"));
    add(owned(file("/bin/busybox", 0755, "BB v2"), 0, 0));
    paths();
    check_meta("/sbin/init", MANIFEST_ENTRY_FILE, 04755, 0, 10, 2);
    check_content("/sbin/init", "BB");
    check_meta("/bin/busybox", MANIFEST_ENTRY_FILE, 0755, 0, 0, 5);

    /* A link that replaces its own target (tar writes these when a file is re-added). */
    add(hardlink("/bin/busybox", "/bin/busybox"));
    paths();
    check_meta("/bin/busybox", MANIFEST_ENTRY_FILE, 0755, 0, 0, 5);
    check_content("/bin/busybox", "BB v2");
    /* ... or an older link to it. */
    add(hardlink("/bin/ls", "bin/busybox"));
    paths();
    check_meta("/bin/ls", MANIFEST_ENTRY_FILE, 0755, 0, 0, 5);
    check_content("/bin/ls", "BB v2");
    end();
}

TEST(test_refusals)
{
    begin(&skip, NULL);
    add(dir("/etc", 0755));
    add(file("/etc/passwd", 0644, "root:x:0:0::/root:/bin/sh\n"));
    add(symlink_to("/lnk", "/etc"));
    add(symlink_to("/rel", "../../etc"));
    add(file("/plain", 0644, "p"));
    snprintf(saved, sizeof(saved), "%s", paths());

    refuse(file("../x", 0644, "x"), "../x");
    refuse(file("a/../../x", 0644, "x"), "a/../../x");
    refuse(file("/etc/..", 0644, "x"), "/etc/..");
    refuse(dir("/etc/../..", 0755), "/etc/../..");
    refuse(hardlink("/h", "../etc/passwd"), "../etc/passwd");
    /* Below a symlink: writing through it could land outside the root. */
    refuse(file("/lnk/passwd", 0644, "x"), "/lnk/passwd");
    refuse(dir("/rel/dir", 0755), "/rel/dir");
    refuse(file("/lnk/a/b", 0644, "x"), "/lnk");
    /* Below a regular file. */
    refuse(file("/plain/x", 0644, "x"), "/plain/x");
    refuse(file("/etc/passwd/x/y", 0644, "x"), "/etc/passwd");
    /* Hard links to nothing, to a directory, to a symlink. */
    refuse(hardlink("/h", "/nope"), "/h");
    refuse(hardlink("/h", "/etc"), "/h");
    refuse(hardlink("/h", "/lnk"), "/h");
    refuse(hardlink("/h", "/lnk/passwd"), "/h");
    /* Device files, FIFOs, sockets. */
    refuse((struct image_entry){ .path = "/null", .kind = IMAGE_ENTRY_OTHER, .mode = 0666 },
           "/null");
    refuse((struct image_entry){ .path = "etc/fifo", .kind = IMAGE_ENTRY_OTHER, .mode = 0600 },
           "etc/fifo");
    /* None of them changed the tree. */
    CHECK_EQ_STR(paths(), saved);
    end();
}

TEST(test_skip_and_keep)
{
    begin(&skip, &keep);
    add(file("/.cloister/manifest.json", 0644, "{}"));
    add(dir("/.cloister", 0755));
    add(dir("/dev", 0755));
    /* A device under a skipped path is not refused: the runtime mounts over it. */
    add((struct image_entry){ .path = "./dev/null", .kind = IMAGE_ENTRY_OTHER, .mode = 0666 });
    add((struct image_entry){ .path = "/dev/pts/0", .kind = IMAGE_ENTRY_OTHER, .mode = 0620 });
    add(file("/proc/cpuinfo", 0444, ""));
    add(symlink_to("/sys", "/nowhere"));
    add(file("/sys/x", 0644, "x"));
    /* Contents of a kept directory are not recorded, the directory itself is. */
    add(file("/data/db", 0600, "rows"));
    add(owned(dir("/data", 0700), 100, 100));
    add(file("/data/sub/x", 0600, "x"));
    add(file("/data/.wh.db", 0, ""));
    /* Only whole components match. */
    add(file("/devices", 0644, "d"));
    add(file("/database/x", 0644, "d"));
    add(file("/data.txt", 0644, "d"));
    add(file("/.cloister2", 0644, "d"));
    add(file("/proc2/x", 0644, "d"));
    CHECK_EQ_STR(paths(), "/.cloister2 /data /data.txt /database /database/x /devices /proc2 "
                          "/proc2/x");
    check_meta("/data", MANIFEST_ENTRY_DIR, 0700, 100, 100, 0);
    /* A kept directory can still be deleted as a whole. */
    image_tree_next_layer(tree);
    add(file("/.wh.data", 0, ""));
    CHECK_EQ_STR(paths(), "/.cloister2 /data.txt /database /database/x /devices /proc2 /proc2/x");
    end();
}

TEST(test_path_max)
{
    char *path = malloc(MANIFEST_PATH_MAX + 16);
    char *prefixed = malloc(MANIFEST_PATH_MAX + 16);
    size_t n;

    CHECK(path && prefixed);
    begin(&skip, NULL);
    /* "/aaa.../aaa...": exactly MANIFEST_PATH_MAX bytes, with components of 100 bytes. */
    for (n = 0; n < MANIFEST_PATH_MAX; n++)
        path[n] = n % 101 == 0 ? '/' : 'a';
    path[n] = '\0';
    CHECK_EQ_INT(strlen(path), MANIFEST_PATH_MAX);
    if (path[n - 1] == '/')
        path[n - 1] = 'a';
    add(file(path, 0644, "longest"));
    entries();
    check_content(path, "longest");
    /* The same path spelled longer ("./" and "//") is still that path. */
    snprintf(prefixed, MANIFEST_PATH_MAX + 16, ".//%s/", path);
    add(file(prefixed, 0644, "again"));
    entries();
    check_content(path, "again");
    /* One byte more is refused, with the start of the path in the message. */
    path[MANIFEST_PATH_MAX] = 'b';
    path[MANIFEST_PATH_MAX + 1] = '\0';
    path[64] = '\0';
    snprintf(prefixed, MANIFEST_PATH_MAX + 16, "%s", path);
    path[64] = 'a';
    refuse(file(path, 0644, "x"), prefixed);
    refuse(hardlink("/h", path), prefixed);
    free(path);
    free(prefixed);
    end();
}

/* ---- against a real tree ---- */

static char root[64];

static void
on_disk(const char *rel, const char *content, mode_t mode, uid_t uid, gid_t gid)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (content) {
        test_write_file(path, content, strlen(content));
    } else {
        CHECK_EQ_INT(mkdir(path, 0700), 0);
    }
    /* chown before chmod: chown clears setuid and setgid. */
    CHECK_EQ_INT(lchown(path, uid, gid), 0);
    CHECK_EQ_INT(chmod(path, mode), 0);
}

static void
symlink_on_disk(const char *rel, const char *target, uid_t uid, gid_t gid)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    CHECK_EQ_INT(symlink(target, path), 0);
    CHECK_EQ_INT(lchown(path, uid, gid), 0);
}

static void
digest_of(const struct tree_scan *s, struct jwbuf *b, uint8_t digest[32])
{
    CHECK_EQ_INT(tree_scan_to_json(s, b, digest), 0);
    CHECK_EQ_INT(b->error, 0);
}

TEST(test_same_digest_as_tree_scan)
{
    struct tree_scan disk = { 0 };
    struct jwbuf from_layers = { 0 }, from_disk = { 0 };
    uint8_t d_layers[32], d_disk[32];
    char *rm[] = { "rm", "-rf", root, NULL };
    int fd;

    /* Other owners (lchown) need root; the tests run as root. */
    CHECK_EQ_INT(geteuid(), 0);
    snprintf(root, sizeof(root), "/tmp/test-image-tree-XXXXXX");
    CHECK(mkdtemp(root));

    /* Three layers... */
    begin(&skip, &keep);
    add(dir("/bin", 0755));
    add(owned(file("/bin/busybox", 0104755, "#!/bin/sh\necho busybox\n"), 0, 0));
    add(hardlink("/bin/cat", "/bin/busybox"));
    add(symlink_to("/bin/sh", "busybox"));
    add(file("/etc/passwd", 0644, "root:x:0:0::/root:/bin/sh\n"));
    add(file("/etc/shadow", 0640, "root:*::0:::::\n"));
    add(owned(dir("/home/app", 0700), 1000, 1000));
    add(owned(file("/home/app/.profile", 0600, "export A=1\n"), 1000, 1000));
    add(dir("/tmp", 01777));
    add(file("/var/cache/junk/a", 0644, "junk"));
    add(dir("/dev", 0755));
    add((struct image_entry){ .path = "/dev/null", .kind = IMAGE_ENTRY_OTHER, .mode = 0666 });
    add(owned(dir("/data", 0750), 100, 101));
    add(file("/data/seed", 0600, "seed"));
    image_tree_next_layer(tree);
    add(owned(file("/etc/shadow", 0640, "root:!::0:::::\n"), 0, 42));
    add(file("/var/cache/.wh..wh..opq", 0, ""));
    add(file("/var/cache/new", 0644, "new"));
    add(owned(symlink_to("/home/app/link", "../../etc/passwd"), 1000, 1000));
    add(owned(dir("/srv", 02775), 0, 50));
    image_tree_next_layer(tree);
    add(file("/bin/.wh.cat", 0, ""));
    add(hardlink("/usr/bin/cat", "/bin/busybox"));
    add(file("/.cloister/manifest.json", 0644, "{}"));

    /* ... and the file system they unpack to. */
    on_disk("bin", NULL, 0755, 0, 0);
    on_disk("bin/busybox", "#!/bin/sh\necho busybox\n", 04755, 0, 0);
    symlink_on_disk("bin/sh", "busybox", 0, 0);
    on_disk("etc", NULL, 0755, 0, 0);
    on_disk("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644, 0, 0);
    on_disk("etc/shadow", "root:!::0:::::\n", 0640, 0, 42);
    on_disk("home", NULL, 0755, 0, 0);
    on_disk("home/app", NULL, 0700, 1000, 1000);
    on_disk("home/app/.profile", "export A=1\n", 0600, 1000, 1000);
    symlink_on_disk("home/app/link", "../../etc/passwd", 1000, 1000);
    on_disk("tmp", NULL, 01777, 0, 0);
    on_disk("var", NULL, 0755, 0, 0);
    on_disk("var/cache", NULL, 0755, 0, 0);
    on_disk("var/cache/new", "new", 0644, 0, 0);
    on_disk("srv", NULL, 02775, 0, 50);
    on_disk("usr", NULL, 0755, 0, 0);
    on_disk("usr/bin", NULL, 0755, 0, 0);
    on_disk("usr/bin/cat", "#!/bin/sh\necho busybox\n", 04755, 0, 0);
    on_disk("data", NULL, 0750, 100, 101);
    on_disk("data/state", "mutable", 0600, 0, 0);
    on_disk("dev", NULL, 0755, 0, 0);
    on_disk(".cloister", NULL, 0755, 0, 0);
    on_disk(".cloister/manifest.json", "{\"version\":1}", 0644, 0, 0);

    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ_INT(tree_scan(fd, &skip, &keep, 100, &disk, NULL), 0);
    close(fd);
    test_run(rm, NULL, false);

    paths();
    CHECK_EQ_INT(scan.n, disk.n);
    digest_of(&scan, &from_layers, d_layers);
    digest_of(&disk, &from_disk, d_disk);
    tree_scan_release(&disk);
    if (strcmp(from_layers.data, from_disk.data) != 0)
        fprintf(stderr, "  from layers:\n%s\n  from disk:\n%s\n", from_layers.data, from_disk.data);
    CHECK(strcmp(from_layers.data, from_disk.data) == 0);
    CHECK(memcmp(d_layers, d_disk, 32) == 0);
    jwbuf_release(&from_layers);
    jwbuf_release(&from_disk);
    end();
}

TEST_MAIN(TEST_CASE(test_plain_entries), TEST_CASE(test_path_normalisation),
          TEST_CASE(test_implicit_parents), TEST_CASE(test_later_replaces),
          TEST_CASE(test_dir_over_dir), TEST_CASE(test_nondir_over_dir), TEST_CASE(test_whiteout),
          TEST_CASE(test_opaque), TEST_CASE(test_opaque_nested),
          TEST_CASE(test_whiteout_missing_dir), TEST_CASE(test_hardlink), TEST_CASE(test_refusals),
          TEST_CASE(test_skip_and_keep), TEST_CASE(test_path_max),
          TEST_CASE(test_same_digest_as_tree_scan))
