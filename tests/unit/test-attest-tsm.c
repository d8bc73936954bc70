/* libattest's evidence producers (tsm.h, gramine.h) against fakes that behave like the kernel's
 * configfs-tsm and Gramine's /dev/attestation, serving the real evidence of
 * ../shared/testvectors/ with the caller's report data patched in (which breaks the signature:
 * producers do not verify).
 *
 * The fakes are FUSE filesystems served by a thread of this process, speaking the kernel's FUSE
 * protocol (<linux/fuse.h>) on /dev/fuse directly, so that the library's open/read/write/close,
 * mkdir and rmdir go through the real VFS. Needs root and /dev/fuse. The test process first moves
 * to a mount namespace of its own, so that a mount left by a failed check vanishes with it.
 *
 * configfs-tsm as the fake plays it (drivers/virt/coco/guest/report.c): mkdir makes an entry
 * whose attributes depend on the provider (tdx_guest: inblob outblob provider generation;
 * sev_guest adds auxblob privlevel privlevel_floor); inblob (at most 64 bytes) is buffered per
 * open file and taken at close, bumping generation; privlevel is taken at write, checked against
 * [privlevel_floor, 3], bumping generation; outblob and auxblob come from one report generated
 * on read when the generation moved; a read of outblob before any inblob fails EINVAL; rmdir
 * removes the entry with its attributes. A "racing writer" writes inblob (0xee bytes) in the
 * entry just before a report is generated, a given number of times. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/fuse.h>

#include <attest/evidence.h>
#include <attest/gramine.h>
#include <attest/tsm.h>

#include "test-files.h"
#include "test.h"

#define FAKE_ENTRIES_MAX 8u
#define FAKE_HANDLES_MAX 32u
#define FAKE_INBLOB_MAX 64u           /* the kernel's TSM_REPORT_INBLOB_MAX */
#define FAKE_TEXT_MAX 256u            /* text written to an attribute */
#define FAKE_MAX_WRITE (64u << 10)    /* negotiated in FUSE_INIT */
#define FAKE_BUFFER_SIZE (256u << 10) /* one request */
#define FAKE_RACE_BYTE 0xee
#define VECTOR_MAX (64u << 10)

/* ---- the fake's attributes ---------------------------------------------------------------- */

enum fake_kind {
    FAKE_TSM,
    FAKE_GRAMINE,
};

enum fake_attr {
    A_INBLOB,
    A_OUTBLOB,
    A_AUXBLOB,
    A_PROVIDER,
    A_GENERATION,
    A_PRIVLEVEL,
    A_PRIVLEVEL_FLOOR,
    G_TYPE,
    G_USER_REPORT_DATA,
    G_QUOTE,
    A_COUNT,
};

static const struct {
    const char *name;
    mode_t mode;
    enum fake_kind kind;
} fake_attrs[A_COUNT] = {
    [A_INBLOB] = { "inblob", 0200, FAKE_TSM },
    [A_OUTBLOB] = { "outblob", 0444, FAKE_TSM },
    [A_AUXBLOB] = { "auxblob", 0444, FAKE_TSM },
    [A_PROVIDER] = { "provider", 0444, FAKE_TSM },
    [A_GENERATION] = { "generation", 0444, FAKE_TSM },
    [A_PRIVLEVEL] = { "privlevel", 0200, FAKE_TSM },
    [A_PRIVLEVEL_FLOOR] = { "privlevel_floor", 0444, FAKE_TSM },
    [G_TYPE] = { "attestation_type", 0444, FAKE_GRAMINE },
    [G_USER_REPORT_DATA] = { "user_report_data", 0600, FAKE_GRAMINE },
    [G_QUOTE] = { "quote", 0444, FAKE_GRAMINE },
};

/* What a fake serves; set before fake_start (races may change later, under the lock). */
struct fake_config {
    enum fake_kind kind;
    const char *provider; /* tsm: "tdx_guest", "sev_guest", ...; NULL: none (mkdir ENXIO) */
    unsigned privlevel_floor;
    const char *gramine_type; /* gramine: attestation_type content; NULL: no such file */
    int quote_error;          /* gramine: errno of reading quote (EACCES); 0: none */
    /* tsm outblob / gramine quote: a template whose report data at offset is replaced */
    const uint8_t *blob;
    size_t blob_size, report_data_offset;
    size_t blob_pad; /* zero bytes appended to each generated blob */
    const uint8_t *auxblob;
    size_t auxblob_size, auxblob_pad;
    unsigned races; /* report generations preceded by another writer's write */
};

/* What the fake saw. */
struct fake_stats {
    unsigned mkdirs, rmdirs, live, generated, privlevel_writes, inblob_writes;
    unsigned last_privlevel;
    uint8_t last_inblob[FAKE_INBLOB_MAX]; /* tsm inblob or gramine user_report_data */
    size_t last_inblob_size;
};

struct fake_entry {
    bool used;
    uint64_t id;
    char name[256];
    uint8_t inblob[FAKE_INBLOB_MAX];
    size_t inblob_size;
    unsigned privlevel;
    uint64_t write_generation, read_generation;
    bool have_report;
    uint8_t *outblob, *auxblob;
    size_t outblob_size, auxblob_size;
};

struct fake_handle {
    bool used;
    uint64_t ino;
    uint8_t wbuf[FAKE_TEXT_MAX];
    size_t wsize;
    bool dirty;
    bool filled;
    uint8_t *rbuf;
    size_t rsize;
};

struct fake {
    struct fake_config config;
    struct fake_stats stats;
    pthread_mutex_t lock;
    pthread_t thread;
    int dev_fd;
    bool mounted, serving;
    char dir[64];
    uint64_t next_id;
    struct fake_entry entries[FAKE_ENTRIES_MAX];
    struct fake_handle handles[FAKE_HANDLES_MAX];
    uint8_t gramine_data[ATTEST_REPORT_DATA_SIZE]; /* user_report_data */
    uint8_t *buffer;
};

/* A node: the root, a report entry, or an attribute (of an entry, or of the Gramine root). */
struct fake_node {
    enum { N_NONE, N_ROOT, N_ENTRY, N_ATTR } kind;
    struct fake_entry *entry;
    enum fake_attr attr;
};

static bool
fake_is_sev(const struct fake *f)
{
    return f->config.provider && strcmp(f->config.provider, "sev_guest") == 0;
}

static bool
fake_gramine_type_is(const struct fake *f, const char *type)
{
    const char *t = f->config.gramine_type;

    return t && strncmp(t, type, strlen(type)) == 0 &&
           (t[strlen(type)] == '\0' || t[strlen(type)] == '\n');
}

static bool
fake_attr_visible(const struct fake *f, enum fake_attr attr)
{
    if (fake_attrs[attr].kind != f->config.kind)
        return false;
    switch (attr) {
    case A_AUXBLOB:
    case A_PRIVLEVEL:
    case A_PRIVLEVEL_FLOOR:
        return fake_is_sev(f);
    case G_TYPE:
    case G_USER_REPORT_DATA:
        return f->config.gramine_type != NULL;
    case G_QUOTE:
        return f->config.gramine_type != NULL && !fake_gramine_type_is(f, "none");
    default:
        return true;
    }
}

static uint64_t
fake_attr_ino(const struct fake_entry *entry, enum fake_attr attr)
{
    return entry ? (entry->id << 8) | (uint64_t)(attr + 1) : 2 + (uint64_t)attr;
}

static struct fake_entry *
fake_entry_by_id(struct fake *f, uint64_t id)
{
    for (unsigned i = 0; i < FAKE_ENTRIES_MAX; i++)
        if (f->entries[i].used && f->entries[i].id == id)
            return &f->entries[i];
    return NULL;
}

static struct fake_entry *
fake_entry_by_name(struct fake *f, const char *name)
{
    for (unsigned i = 0; i < FAKE_ENTRIES_MAX; i++)
        if (f->entries[i].used && strcmp(f->entries[i].name, name) == 0)
            return &f->entries[i];
    return NULL;
}

static struct fake_node
fake_node(struct fake *f, uint64_t ino)
{
    struct fake_node node = { N_NONE, NULL, A_COUNT };

    if (ino == FUSE_ROOT_ID) {
        node.kind = N_ROOT;
    } else if (f->config.kind == FAKE_GRAMINE) {
        if (ino >= 2 && ino < 2 + A_COUNT && fake_attr_visible(f, (enum fake_attr)(ino - 2)))
            node = (struct fake_node){ N_ATTR, NULL, (enum fake_attr)(ino - 2) };
    } else {
        struct fake_entry *entry = fake_entry_by_id(f, ino >> 8);
        uint64_t sub = ino & 0xff;

        if (entry && sub == 0)
            node = (struct fake_node){ N_ENTRY, entry, A_COUNT };
        else if (entry && sub <= A_COUNT && fake_attr_visible(f, (enum fake_attr)(sub - 1)))
            node = (struct fake_node){ N_ATTR, entry, (enum fake_attr)(sub - 1) };
    }
    return node;
}

/* ---- configfs-tsm and Gramine behaviour ---------------------------------------------------- */

static void
fake_entry_drop_report(struct fake_entry *entry)
{
    free(entry->outblob);
    free(entry->auxblob);
    entry->outblob = entry->auxblob = NULL;
    entry->have_report = false;
}

/* The template with report data (zero-padded to 64 bytes) patched in, and the padding. */
static uint8_t *
fake_make_blob(const struct fake *f, const uint8_t *report_data, size_t *ret_size)
{
    size_t size = f->config.blob_size + f->config.blob_pad;
    uint8_t *blob = calloc(1, size ? size : 1);

    if (!blob)
        return NULL;
    memcpy(blob, f->config.blob, f->config.blob_size);
    memcpy(blob + f->config.report_data_offset, report_data, ATTEST_REPORT_DATA_SIZE);
    *ret_size = size;
    return blob;
}

/* The report of the entry's current generation, generated when it moved (the kernel's
 * tsm_report_read). */
static int
fake_entry_report(struct fake *f, struct fake_entry *entry)
{
    uint8_t data[ATTEST_REPORT_DATA_SIZE] = { 0 };

    if (entry->inblob_size == 0)
        return EINVAL;
    if (entry->have_report && entry->read_generation == entry->write_generation)
        return 0;
    if (f->config.races > 0) {
        f->config.races--;
        memset(entry->inblob, FAKE_RACE_BYTE, sizeof(entry->inblob));
        entry->inblob_size = sizeof(entry->inblob);
        entry->write_generation++;
    }
    fake_entry_drop_report(entry);
    memcpy(data, entry->inblob, entry->inblob_size);
    entry->outblob = fake_make_blob(f, data, &entry->outblob_size);
    entry->auxblob_size = f->config.auxblob_size + f->config.auxblob_pad;
    entry->auxblob = calloc(1, entry->auxblob_size + 1);
    if (!entry->outblob || !entry->auxblob)
        return ENOMEM;
    if (f->config.auxblob)
        memcpy(entry->auxblob, f->config.auxblob, f->config.auxblob_size);
    entry->have_report = true;
    entry->read_generation = entry->write_generation;
    f->stats.generated++;
    return 0;
}

static int
fake_text(struct fake_handle *h, const char *text)
{
    h->rbuf = (uint8_t *)strdup(text);
    if (!h->rbuf)
        return ENOMEM;
    h->rsize = strlen(text);
    return 0;
}

static int
fake_copy(struct fake_handle *h, const uint8_t *data, size_t size)
{
    h->rbuf = malloc(size + 1);
    if (!h->rbuf)
        return ENOMEM;
    memcpy(h->rbuf, data, size);
    h->rsize = size;
    return 0;
}

static int
fake_gramine_quote(struct fake *f, struct fake_handle *h)
{
    if (f->config.quote_error)
        return f->config.quote_error;
    if (f->config.races > 0) {
        f->config.races--;
        memset(f->gramine_data, FAKE_RACE_BYTE, sizeof(f->gramine_data));
    }
    h->rbuf = fake_make_blob(f, f->gramine_data, &h->rsize);
    if (!h->rbuf)
        return ENOMEM;
    f->stats.generated++;
    return 0;
}

/* What a read of the attribute returns, taken on the first read of an open file (configfs'
 * fill_read_buffer). */
static int
fake_fill(struct fake *f, const struct fake_node *node, struct fake_handle *h)
{
    char text[64];
    int r;

    switch (node->attr) {
    case A_GENERATION:
        (void)snprintf(text, sizeof(text), "%llu\n",
                       (unsigned long long)node->entry->write_generation);
        return fake_text(h, text);
    case A_PROVIDER:
        (void)snprintf(text, sizeof(text), "%s\n", f->config.provider);
        return fake_text(h, text);
    case A_PRIVLEVEL_FLOOR:
        (void)snprintf(text, sizeof(text), "%u\n", f->config.privlevel_floor);
        return fake_text(h, text);
    case A_OUTBLOB:
    case A_AUXBLOB:
        r = fake_entry_report(f, node->entry);
        if (r)
            return r;
        return node->attr == A_OUTBLOB
                   ? fake_copy(h, node->entry->outblob, node->entry->outblob_size)
                   : fake_copy(h, node->entry->auxblob, node->entry->auxblob_size);
    case G_TYPE:
        return fake_text(h, f->config.gramine_type);
    case G_USER_REPORT_DATA:
        return fake_copy(h, f->gramine_data, sizeof(f->gramine_data));
    case G_QUOTE:
        return fake_gramine_quote(f, h);
    default:
        return EACCES;
    }
}

/* configfs text attribute privlevel: kstrtouint, then [floor, 3]. */
static int
fake_write_privlevel(struct fake *f, struct fake_entry *entry, const uint8_t *data, size_t size)
{
    char text[16];
    char *end;
    unsigned long value;

    if (size == 0 || size >= sizeof(text))
        return EINVAL;
    memcpy(text, data, size);
    text[size] = '\0';
    if (text[size - 1] == '\n')
        text[size - 1] = '\0';
    errno = 0;
    value = strtoul(text, &end, 0);
    if (errno || *end || end == text || value < f->config.privlevel_floor || value > 3)
        return EINVAL;
    entry->privlevel = (unsigned)value;
    entry->write_generation++;
    f->stats.privlevel_writes++;
    f->stats.last_privlevel = (unsigned)value;
    return 0;
}

/* A binary attribute's buffered write is taken at close (configfs_release_bin_file; Gramine's
 * pseudo-file save): here at FLUSH, which close() waits for. */
static void
fake_commit(struct fake *f, const struct fake_node *node, struct fake_handle *h)
{
    if (!h->dirty)
        return;
    h->dirty = false;
    if (node->attr == A_INBLOB && node->entry) {
        memcpy(node->entry->inblob, h->wbuf, h->wsize);
        node->entry->inblob_size = h->wsize;
        node->entry->write_generation++;
    } else if (node->attr == G_USER_REPORT_DATA) {
        memset(f->gramine_data, 0, sizeof(f->gramine_data));
        memcpy(f->gramine_data, h->wbuf,
               h->wsize < sizeof(f->gramine_data) ? h->wsize : sizeof(f->gramine_data));
    } else {
        return;
    }
    f->stats.inblob_writes++;
    memcpy(f->stats.last_inblob, h->wbuf, h->wsize < FAKE_INBLOB_MAX ? h->wsize : FAKE_INBLOB_MAX);
    f->stats.last_inblob_size = h->wsize;
}

/* ---- the FUSE protocol --------------------------------------------------------------------- */

static int
fake_reply(struct fake *f, uint64_t unique, int error, const void *data, size_t size)
{
    struct fuse_out_header out = {
        .len = (uint32_t)(sizeof(out) + (error ? 0 : size)),
        .error = -error,
        .unique = unique,
    };
    struct iovec iov[2] = { { &out, sizeof(out) }, { (void *)data, error ? 0 : size } };

    /* A reply to an interrupted request fails ENOENT; nothing to do about it. */
    if (writev(f->dev_fd, iov, 2) < 0 && errno != ENOENT)
        fprintf(stderr, "  fake: reply to request %llu: %s\n", (unsigned long long)unique,
                strerror(errno));
    return 0;
}

static void
fake_attr_of(struct fake *f, const struct fake_node *node, uint64_t ino, struct fuse_attr *a)
{
    memset(a, 0, sizeof(*a));
    a->ino = ino;
    a->blksize = 4096;
    if (node->kind == N_ATTR) {
        a->mode = S_IFREG | fake_attrs[node->attr].mode;
        a->nlink = 1;
        a->size = 4096; /* as configfs says of its attributes: not the content's size */
    } else {
        a->mode = S_IFDIR | 0755;
        a->nlink = 2;
    }
}

static int
fake_reply_entry(struct fake *f, uint64_t unique, uint64_t ino)
{
    struct fake_node node = fake_node(f, ino);
    struct fuse_entry_out out = { .nodeid = ino, .generation = 1 };

    fake_attr_of(f, &node, ino, &out.attr);
    return fake_reply(f, unique, 0, &out, sizeof(out));
}

static int
fake_lookup(struct fake *f, const struct fuse_in_header *in, const char *name)
{
    struct fake_node parent = fake_node(f, in->nodeid);
    struct fake_entry *entry = NULL;

    if (parent.kind == N_ROOT && f->config.kind == FAKE_TSM) {
        entry = fake_entry_by_name(f, name);
        if (entry)
            return fake_reply_entry(f, in->unique, entry->id << 8);
        return fake_reply(f, in->unique, ENOENT, NULL, 0);
    }
    if (parent.kind != N_ROOT && parent.kind != N_ENTRY)
        return fake_reply(f, in->unique, ENOTDIR, NULL, 0);
    for (int a = 0; a < A_COUNT; a++)
        if (fake_attr_visible(f, (enum fake_attr)a) && strcmp(fake_attrs[a].name, name) == 0)
            return fake_reply_entry(f, in->unique, fake_attr_ino(parent.entry, (enum fake_attr)a));
    return fake_reply(f, in->unique, ENOENT, NULL, 0);
}

static int
fake_getattr(struct fake *f, const struct fuse_in_header *in)
{
    struct fake_node node = fake_node(f, in->nodeid);
    struct fuse_attr_out out = { 0 };

    if (node.kind == N_NONE)
        return fake_reply(f, in->unique, ENOENT, NULL, 0);
    fake_attr_of(f, &node, in->nodeid, &out.attr);
    return fake_reply(f, in->unique, 0, &out, sizeof(out));
}

static int
fake_mkdir(struct fake *f, const struct fuse_in_header *in, const char *name)
{
    struct fake_entry *slot = NULL;

    if (f->config.kind != FAKE_TSM || in->nodeid != FUSE_ROOT_ID)
        return fake_reply(f, in->unique, EPERM, NULL, 0);
    if (!f->config.provider)
        return fake_reply(f, in->unique, ENXIO, NULL, 0);
    if (fake_entry_by_name(f, name))
        return fake_reply(f, in->unique, EEXIST, NULL, 0);
    for (unsigned i = 0; i < FAKE_ENTRIES_MAX && !slot; i++)
        if (!f->entries[i].used)
            slot = &f->entries[i];
    if (!slot || strlen(name) >= sizeof(slot->name))
        return fake_reply(f, in->unique, ENOSPC, NULL, 0);
    memset(slot, 0, sizeof(*slot));
    slot->used = true;
    slot->id = f->next_id++;
    (void)snprintf(slot->name, sizeof(slot->name), "%s", name);
    f->stats.mkdirs++;
    f->stats.live++;
    return fake_reply_entry(f, in->unique, slot->id << 8);
}

static int
fake_rmdir(struct fake *f, const struct fuse_in_header *in, const char *name)
{
    struct fake_entry *entry;

    if (f->config.kind != FAKE_TSM || in->nodeid != FUSE_ROOT_ID)
        return fake_reply(f, in->unique, EPERM, NULL, 0);
    entry = fake_entry_by_name(f, name);
    if (!entry)
        return fake_reply(f, in->unique, ENOENT, NULL, 0);
    fake_entry_drop_report(entry);
    entry->used = false;
    f->stats.rmdirs++;
    f->stats.live--;
    return fake_reply(f, in->unique, 0, NULL, 0);
}

/* configfs_open_file: write access to an attribute without store, or read access to one
 * without show, is EACCES, whoever asks. */
static int
fake_open(struct fake *f, const struct fuse_in_header *in, const struct fuse_open_in *open_in)
{
    struct fake_node node = fake_node(f, in->nodeid);
    int access = open_in->flags & O_ACCMODE;
    struct fuse_open_out out = { .open_flags = FOPEN_DIRECT_IO };
    mode_t mode;

    if (node.kind != N_ATTR)
        return fake_reply(f, in->unique, node.kind == N_NONE ? ENOENT : EISDIR, NULL, 0);
    mode = fake_attrs[node.attr].mode;
    if ((access != O_WRONLY && !(mode & 0444)) || (access != O_RDONLY && !(mode & 0222)))
        return fake_reply(f, in->unique, EACCES, NULL, 0);
    for (unsigned i = 0; i < FAKE_HANDLES_MAX; i++) {
        if (!f->handles[i].used) {
            memset(&f->handles[i], 0, sizeof(f->handles[i]));
            f->handles[i].used = true;
            f->handles[i].ino = in->nodeid;
            out.fh = i;
            return fake_reply(f, in->unique, 0, &out, sizeof(out));
        }
    }
    return fake_reply(f, in->unique, EMFILE, NULL, 0);
}

static struct fake_handle *
fake_handle(struct fake *f, uint64_t fh)
{
    return fh < FAKE_HANDLES_MAX && f->handles[fh].used ? &f->handles[fh] : NULL;
}

static int
fake_read(struct fake *f, const struct fuse_in_header *in, const struct fuse_read_in *read_in)
{
    struct fake_handle *h = fake_handle(f, read_in->fh);
    struct fake_node node = fake_node(f, in->nodeid);
    size_t size;
    int r;

    if (!h || node.kind != N_ATTR)
        return fake_reply(f, in->unique, node.kind == N_NONE ? ENOENT : EBADF, NULL, 0);
    if (!h->filled) {
        r = fake_fill(f, &node, h);
        if (r)
            return fake_reply(f, in->unique, r, NULL, 0);
        h->filled = true;
    }
    if (read_in->offset >= h->rsize)
        return fake_reply(f, in->unique, 0, NULL, 0);
    size = h->rsize - read_in->offset;
    if (size > read_in->size)
        size = read_in->size;
    return fake_reply(f, in->unique, 0, h->rbuf + read_in->offset, size);
}

static int
fake_write(struct fake *f, const struct fuse_in_header *in, const struct fuse_write_in *write_in,
           const uint8_t *data)
{
    struct fake_handle *h = fake_handle(f, write_in->fh);
    struct fake_node node = fake_node(f, in->nodeid);
    struct fuse_write_out out = { .size = write_in->size };
    size_t max = node.attr == A_INBLOB ? FAKE_INBLOB_MAX : FAKE_TEXT_MAX;
    int r;

    if (!h || node.kind != N_ATTR)
        return fake_reply(f, in->unique, node.kind == N_NONE ? ENOENT : EBADF, NULL, 0);
    if (node.attr == A_PRIVLEVEL) {
        r = fake_write_privlevel(f, node.entry, data, write_in->size);
        return fake_reply(f, in->unique, r, &out, sizeof(out));
    }
    if (write_in->offset + write_in->size > max)
        return fake_reply(f, in->unique, EFBIG, NULL, 0);
    memcpy(h->wbuf + write_in->offset, data, write_in->size);
    if (write_in->offset + write_in->size > h->wsize)
        h->wsize = write_in->offset + write_in->size;
    h->dirty = true;
    return fake_reply(f, in->unique, 0, &out, sizeof(out));
}

static int
fake_flush(struct fake *f, const struct fuse_in_header *in, uint64_t fh)
{
    struct fake_handle *h = fake_handle(f, fh);
    struct fake_node node = fake_node(f, in->nodeid);

    if (h && node.kind == N_ATTR)
        fake_commit(f, &node, h);
    return fake_reply(f, in->unique, 0, NULL, 0);
}

static int
fake_release(struct fake *f, const struct fuse_in_header *in, uint64_t fh)
{
    struct fake_handle *h = fake_handle(f, fh);

    if (h) {
        free(h->rbuf);
        memset(h, 0, sizeof(*h));
    }
    return fake_reply(f, in->unique, 0, NULL, 0);
}

/* Appends one directory record if it fits; false when full. */
static bool
fake_dirent(uint8_t *buf, size_t max, size_t *used, uint64_t ino, uint64_t off, const char *name,
            unsigned type)
{
    struct fuse_dirent *d = (struct fuse_dirent *)(buf + *used);
    size_t namelen = strlen(name);
    size_t size = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);

    if (*used + size > max)
        return false;
    memset(d, 0, size);
    d->ino = ino;
    d->off = off;
    d->namelen = (uint32_t)namelen;
    d->type = type;
    memcpy(d->name, name, namelen);
    *used += size;
    return true;
}

static int
fake_readdir(struct fake *f, const struct fuse_in_header *in, const struct fuse_read_in *read_in)
{
    struct fake_node node = fake_node(f, in->nodeid);
    uint8_t buf[4096];
    size_t used = 0, max = read_in->size < sizeof(buf) ? read_in->size : sizeof(buf);
    uint64_t index = 0;

    if (node.kind != N_ROOT && node.kind != N_ENTRY)
        return fake_reply(f, in->unique, ENOTDIR, NULL, 0);
    for (unsigned i = 0; node.kind == N_ROOT && f->config.kind == FAKE_TSM && i < FAKE_ENTRIES_MAX;
         i++) {
        if (!f->entries[i].used || index++ < read_in->offset)
            continue;
        if (!fake_dirent(buf, max, &used, f->entries[i].id << 8, index, f->entries[i].name, DT_DIR))
            break;
    }
    for (int a = 0; (node.kind == N_ENTRY || f->config.kind == FAKE_GRAMINE) && a < A_COUNT; a++) {
        if (!fake_attr_visible(f, (enum fake_attr)a) || index++ < read_in->offset)
            continue;
        if (!fake_dirent(buf, max, &used, fake_attr_ino(node.entry, (enum fake_attr)a), index,
                         fake_attrs[a].name, DT_REG))
            break;
    }
    return fake_reply(f, in->unique, 0, buf, used);
}

static int
fake_init(struct fake *f, const struct fuse_in_header *in, const struct fuse_init_in *init)
{
    struct fuse_init_out out = {
        .major = FUSE_KERNEL_VERSION,
        .minor = init->minor < FUSE_KERNEL_MINOR_VERSION ? init->minor : FUSE_KERNEL_MINOR_VERSION,
        .max_readahead = init->max_readahead,
        .max_background = 4,
        .congestion_threshold = 3,
        .max_write = FAKE_MAX_WRITE,
        .time_gran = 1,
    };

    return fake_reply(f, in->unique, 0, &out, sizeof(out));
}

static int
fake_dispatch(struct fake *f, const struct fuse_in_header *in, const uint8_t *arg)
{
    switch (in->opcode) {
    case FUSE_INIT:
        return fake_init(f, in, (const struct fuse_init_in *)arg);
    case FUSE_LOOKUP:
        return fake_lookup(f, in, (const char *)arg);
    case FUSE_GETATTR:
    case FUSE_SETATTR:
        return fake_getattr(f, in);
    case FUSE_MKDIR:
        return fake_mkdir(f, in, (const char *)arg + sizeof(struct fuse_mkdir_in));
    case FUSE_RMDIR:
        return fake_rmdir(f, in, (const char *)arg);
    case FUSE_UNLINK:
        return fake_reply(f, in->unique, EPERM, NULL, 0);
    case FUSE_CREATE:
    case FUSE_MKNOD:
        return fake_reply(f, in->unique, EACCES, NULL, 0);
    case FUSE_OPEN:
        return fake_open(f, in, (const struct fuse_open_in *)arg);
    case FUSE_READ:
        return fake_read(f, in, (const struct fuse_read_in *)arg);
    case FUSE_WRITE:
        return fake_write(f, in, (const struct fuse_write_in *)arg,
                          arg + sizeof(struct fuse_write_in));
    case FUSE_FLUSH:
        return fake_flush(f, in, ((const struct fuse_flush_in *)arg)->fh);
    case FUSE_RELEASE:
        return fake_release(f, in, ((const struct fuse_release_in *)arg)->fh);
    case FUSE_OPENDIR: {
        struct fuse_open_out out = { 0 };
        return fake_reply(f, in->unique, 0, &out, sizeof(out));
    }
    case FUSE_READDIR:
        return fake_readdir(f, in, (const struct fuse_read_in *)arg);
    case FUSE_RELEASEDIR:
        return fake_reply(f, in->unique, 0, NULL, 0);
    case FUSE_FORGET:
    case FUSE_BATCH_FORGET:
    case FUSE_INTERRUPT:
        return 0; /* no reply */
    default:
        return fake_reply(f, in->unique, ENOSYS, NULL, 0);
    }
}

static void *
fake_serve(void *arg)
{
    struct fake *f = arg;

    for (;;) {
        ssize_t n = read(f->dev_fd, f->buffer, FAKE_BUFFER_SIZE);
        const struct fuse_in_header *in = (const struct fuse_in_header *)f->buffer;

        if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
            continue;
        if (n < (ssize_t)sizeof(*in))
            break; /* ENODEV: unmounted */
        /* Names and the write payload end where the request ends; a NUL after it keeps string
         * handling inside the buffer. */
        f->buffer[n < (ssize_t)FAKE_BUFFER_SIZE ? n : n - 1] = 0;
        pthread_mutex_lock(&f->lock);
        (void)fake_dispatch(f, in, f->buffer + sizeof(*in));
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

/* ---- starting and stopping a fake ---------------------------------------------------------- */

static struct fake *fake_live; /* reaped by the next fake_start or at exit if a check failed */

static void
fake_stop(struct fake *f)
{
    if (!f)
        return;
    if (f->mounted)
        (void)umount2(f->dir, MNT_DETACH);
    if (f->serving)
        pthread_join(f->thread, NULL);
    if (f->dev_fd >= 0)
        close(f->dev_fd);
    if (f->dir[0])
        (void)rmdir(f->dir);
    for (unsigned i = 0; i < FAKE_ENTRIES_MAX; i++)
        fake_entry_drop_report(&f->entries[i]);
    for (unsigned i = 0; i < FAKE_HANDLES_MAX; i++)
        free(f->handles[i].rbuf);
    pthread_mutex_destroy(&f->lock);
    free(f->buffer);
    if (fake_live == f)
        fake_live = NULL;
    free(f);
}

static void
fake_stop_live(void)
{
    fake_stop(fake_live);
}

static struct fake *
fake_start(const struct fake_config *config)
{
    struct fake *f;
    char options[128];

    fake_stop(fake_live);
    f = calloc(1, sizeof(*f));
    CHECK(f);
    fake_live = f;
    f->config = *config;
    f->next_id = 1;
    f->dev_fd = -1;
    f->buffer = malloc(FAKE_BUFFER_SIZE);
    CHECK(f->buffer);
    CHECK(pthread_mutex_init(&f->lock, NULL) == 0);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/test-attest-tsm-XXXXXX");
    if (!mkdtemp(f->dir))
        f->dir[0] = '\0';
    CHECK(f->dir[0]);
    f->dev_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (f->dev_fd < 0)
        fprintf(stderr, "  cannot open /dev/fuse (%s): these tests need root and FUSE\n",
                strerror(errno));
    CHECK(f->dev_fd >= 0);
    (void)snprintf(options, sizeof(options), "fd=%d,rootmode=40755,user_id=0,group_id=0",
                   f->dev_fd);
    f->mounted = mount("fake-tsm", f->dir, "fuse.fake-tsm", MS_NOSUID | MS_NODEV, options) == 0;
    if (!f->mounted)
        fprintf(stderr, "  cannot mount FUSE (%s): these tests need root and FUSE\n",
                strerror(errno));
    CHECK(f->mounted);
    f->serving = pthread_create(&f->thread, NULL, fake_serve, f) == 0;
    CHECK(f->serving);
    return f;
}

static struct fake_stats
fake_stats(struct fake *f)
{
    struct fake_stats stats;

    pthread_mutex_lock(&f->lock);
    stats = f->stats;
    pthread_mutex_unlock(&f->lock);
    return stats;
}

static void
fake_set_races(struct fake *f, unsigned races)
{
    pthread_mutex_lock(&f->lock);
    f->config.races = races;
    pthread_mutex_unlock(&f->lock);
}

/* A private mount namespace before any thread exists: mounts left by a failed check go with the
 * process. Without the rights to make one, the fakes still work (and are unmounted by
 * fake_stop). */
__attribute__((constructor)) static void
fake_private_mounts(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        (void)mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    atexit(fake_stop_live);
}

/* ---- the real evidence --------------------------------------------------------------------- */

struct vector {
    uint8_t data[VECTOR_MAX];
    size_t size;
};

static void
vector_load(struct vector *v, const char *relpath)
{
    char path[512];

    (void)snprintf(path, sizeof(path), "%s/%s", TESTVECTORS_DIR, relpath);
    v->size = test_read_file(path, v->data, sizeof(v->data));
}

/* A string member of a case's case.json, by a path of object keys. */
static void
case_string(const char *case_name, const char *k1, const char *k2, const char *k3, char *out,
            size_t size)
{
    char path[512];
    json_t *root, *v;

    (void)snprintf(path, sizeof(path), "%s/%s/case.json", TESTVECTORS_DIR, case_name);
    root = json_load_file(path, 0, NULL);
    CHECK(root);
    v = json_object_get(json_object_get(root, k1), k2);
    if (k3)
        v = json_object_get(v, k3);
    if (json_is_integer(v))
        (void)snprintf(out, size, "%lld", (long long)json_integer_value(v));
    else
        (void)snprintf(out, size, "%s", json_is_string(v) ? json_string_value(v) : "");
    json_decref(root);
    CHECK(out[0] != '\0');
}

static void
hex_decode(const char *hex, uint8_t *out, size_t size)
{
    CHECK(strlen(hex) == 2 * size);
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        CHECK(sscanf(hex + 2 * i, "%2x", &byte) == 1);
        out[i] = (uint8_t)byte;
    }
}

/* Loads a case's file, checks its size against case.json, and checks that the report data at
 * offset is the case's identity.report_data (so the offset is right). */
static void
vector_case(struct vector *v, const char *case_name, const char *file, size_t offset)
{
    char relpath[256], text[256];
    uint8_t expected[ATTEST_REPORT_DATA_SIZE];

    (void)snprintf(relpath, sizeof(relpath), "%s/%s", case_name, file);
    vector_load(v, relpath);
    case_string(case_name, "files", file, "size", text, sizeof(text));
    CHECK_EQ_INT(v->size, strtoul(text, NULL, 10));
    if (offset == SIZE_MAX)
        return;
    case_string(case_name, "identity", "report_data", NULL, text, sizeof(text));
    hex_decode(text, expected, sizeof(expected));
    CHECK(memcmp(v->data + offset, expected, sizeof(expected)) == 0);
}

#define TDX_CASE "tdx-v4-phala-p2"
#define TDX_REPORT_DATA 568u /* header 48 + TD report offset 520 */
#define SNP_CASE "snp-genoa-veraison-tsm"
#define SNP_REPORT_DATA 0x50u
#define SGX_CASE "sgx-v3-phala-p1"
#define SGX_REPORT_DATA 368u /* header 48 + enclave report offset 320 */

/* Static: one vector is up to 64 KiB; tests run one at a time. */
static struct vector tdx_quote, snp_report, snp_auxblob, sgx_quote;

static void
vectors_load(void)
{
    vector_case(&tdx_quote, TDX_CASE, "quote.bin", TDX_REPORT_DATA);
    vector_case(&snp_report, SNP_CASE, "report.bin", SNP_REPORT_DATA);
    vector_case(&snp_auxblob, SNP_CASE, "auxblob.bin", SIZE_MAX);
    vector_case(&sgx_quote, SGX_CASE, "quote.bin", SGX_REPORT_DATA);
}

static void
report_data_make(uint8_t out[ATTEST_REPORT_DATA_SIZE], uint8_t seed)
{
    for (unsigned i = 0; i < ATTEST_REPORT_DATA_SIZE; i++)
        out[i] = (uint8_t)(seed + 7 * i);
}

static struct fake_config
tdx_config(void)
{
    return (struct fake_config){
        .kind = FAKE_TSM,
        .provider = "tdx_guest",
        .blob = tdx_quote.data,
        .blob_size = tdx_quote.size,
        .report_data_offset = TDX_REPORT_DATA,
    };
}

static struct fake_config
snp_config(void)
{
    return (struct fake_config){
        .kind = FAKE_TSM,
        .provider = "sev_guest",
        .blob = snp_report.data,
        .blob_size = snp_report.size,
        .report_data_offset = SNP_REPORT_DATA,
        .auxblob = snp_auxblob.data,
        .auxblob_size = snp_auxblob.size,
    };
}

static struct fake_config
gramine_config(const char *type)
{
    return (struct fake_config){
        .kind = FAKE_GRAMINE,
        .gramine_type = type,
        .blob = sgx_quote.data,
        .blob_size = sgx_quote.size,
        .report_data_offset = SGX_REPORT_DATA,
    };
}

/* blob is template with report_data at offset and nothing else changed. */
static void
check_patched(const uint8_t *blob, size_t size, const struct vector *template, size_t offset,
              const uint8_t *report_data)
{
    CHECK_EQ_INT(size, template->size);
    CHECK(memcmp(blob, template->data, offset) == 0);
    CHECK(memcmp(blob + offset, report_data, ATTEST_REPORT_DATA_SIZE) == 0);
    CHECK(memcmp(blob + offset + ATTEST_REPORT_DATA_SIZE,
                 template->data + offset + ATTEST_REPORT_DATA_SIZE,
                 size - offset - ATTEST_REPORT_DATA_SIZE) == 0);
}

/* Entries made and all removed. */
static void
check_entries(struct fake *f, unsigned made)
{
    struct fake_stats s = fake_stats(f);

    CHECK_EQ_INT(s.mkdirs, made);
    CHECK_EQ_INT(s.rmdirs, made);
    CHECK_EQ_INT(s.live, 0);
}

/* ---- configfs-tsm -------------------------------------------------------------------------- */

TEST(tsm_tdx_quote)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_evidence *evidence = NULL;
    struct attest_hw_error error = { "stale" };
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];
    char *text = NULL;

    vectors_load();
    config = tdx_config();
    f = fake_start(&config);
    report_data_make(rd, 1);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error), 0);
    CHECK_EQ_STR(error.reason, "");
    CHECK_EQ_INT(report->platform, ATTEST_PLATFORM_TDX);
    CHECK_EQ_STR(report->provider, "tdx_guest");
    CHECK_EQ_INT(report->generation, 1); /* a fresh entry is 0; one write */
    /* The quote as made, 70 trailing bytes included, with our report data. */
    CHECK_EQ_INT(report->outblob_size, 5006);
    check_patched(report->outblob, report->outblob_size, &tdx_quote, TDX_REPORT_DATA, rd);
    CHECK(report->auxblob == NULL);
    CHECK_EQ_INT(report->auxblob_size, 0);
    CHECK_EQ_INT(fake_stats(f).last_inblob_size, ATTEST_REPORT_DATA_SIZE);
    CHECK(memcmp(fake_stats(f).last_inblob, rd, sizeof(rd)) == 0);
    CHECK_EQ_INT(fake_stats(f).generated, 1);
    CHECK_EQ_INT(fake_stats(f).privlevel_writes, 0);
    check_entries(f, 1);

    CHECK_EQ_INT(attest_tsm_report_to_evidence(report, &evidence), 0);
    CHECK_EQ_INT(evidence->type, ATTEST_PLATFORM_TDX);
    CHECK_EQ_INT(evidence->size, report->outblob_size);
    CHECK(memcmp(evidence->data, report->outblob, evidence->size) == 0);
    CHECK_EQ_INT(attest_evidence_format(evidence, &text), 0);
    CHECK(strstr(text, "\"type\":\"tdx\""));
    free(text);
    attest_evidence_free(evidence);
    CHECK(attest_tsm_report_free(report) == NULL);
    CHECK(attest_tsm_report_free(NULL) == NULL);
    fake_stop(f);
}

TEST(tsm_snp_report_and_cert_table)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_evidence *evidence = NULL;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    config = snp_config();
    f = fake_start(&config);
    report_data_make(rd, 2);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 0, &report, NULL), 0);
    CHECK_EQ_INT(report->platform, ATTEST_PLATFORM_SNP);
    CHECK_EQ_STR(report->provider, "sev_guest");
    CHECK_EQ_INT(report->generation, 2); /* inblob and privlevel */
    CHECK_EQ_INT(report->outblob_size, 1184);
    check_patched(report->outblob, report->outblob_size, &snp_report, SNP_REPORT_DATA, rd);
    /* The certificate table as the host gave it: 6577 bytes, first entry the ARK
     * (c0b406a4-a803-4952-9743-3fb6014cd0ae) at offset 96, 2277 bytes (case.json notes). */
    CHECK_EQ_INT(report->auxblob_size, 6577);
    CHECK(memcmp(report->auxblob, snp_auxblob.data, snp_auxblob.size) == 0);
    CHECK(memcmp(report->auxblob, "\xc0\xb4\x06\xa4\xa8\x03\x49\x52", 8) == 0);
    CHECK_EQ_INT(report->auxblob[16] | report->auxblob[17] << 8, 96);
    CHECK_EQ_INT(report->auxblob[20] | report->auxblob[21] << 8, 2277);
    CHECK_EQ_INT(fake_stats(f).privlevel_writes, 1);
    CHECK_EQ_INT(fake_stats(f).last_privlevel, 0);
    CHECK_EQ_INT(fake_stats(f).generated, 1); /* outblob and auxblob: one report */
    check_entries(f, 1);

    CHECK_EQ_INT(attest_tsm_report_to_evidence(report, &evidence), 0);
    CHECK_EQ_INT(evidence->type, ATTEST_PLATFORM_SNP);
    CHECK_EQ_INT(evidence->size, 1184);
    CHECK(memcmp(evidence->data + SNP_REPORT_DATA, rd, sizeof(rd)) == 0);
    attest_evidence_free(evidence);
    attest_tsm_report_free(report);

    /* The kernel's default privlevel: nothing written, generation 1. */
    report_data_make(rd, 3);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, NULL), 0);
    CHECK_EQ_INT(report->generation, 1);
    CHECK_EQ_INT(fake_stats(f).privlevel_writes, 1);
    check_patched(report->outblob, report->outblob_size, &snp_report, SNP_REPORT_DATA, rd);
    attest_tsm_report_free(report);
    check_entries(f, 2);
    fake_stop(f);
}

TEST(tsm_snp_without_certificates)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    config = snp_config();
    config.auxblob = NULL;
    config.auxblob_size = 0; /* "may be empty if no auxiliary data is available" */
    f = fake_start(&config);
    report_data_make(rd, 4);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 1, &report, NULL), 0);
    CHECK(report->auxblob == NULL);
    CHECK_EQ_INT(report->auxblob_size, 0);
    CHECK_EQ_INT(fake_stats(f).last_privlevel, 1);
    attest_tsm_report_free(report);
    check_entries(f, 1);
    fake_stop(f);
}

TEST(tsm_missing_root)
{
    struct attest_tsm_report *report = NULL;
    struct attest_hw_error error = { "" };
    enum attest_platform platform;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    CHECK_EQ_INT(attest_tsm_report("/nonexistent/cloister/tsm/report", rd,
                                   ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
                 -ENOENT);
    CHECK(strstr(error.reason, "/nonexistent/cloister/tsm/report does not exist"));
    CHECK(strstr(error.reason, "configfs-tsm"));
    CHECK(report == NULL);
    CHECK_EQ_INT(attest_tsm_platform("/nonexistent/cloister", &platform, &error), -ENOENT);
    CHECK_EQ_INT(
        attest_tsm_report("/proc/self/status", rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
        -ENOTDIR);
    CHECK(report == NULL);
}

TEST(tsm_bad_arguments)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    vectors_load();
    config = snp_config();
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, NULL, 0, &report, NULL), -EINVAL);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 0, NULL, NULL), -EINVAL);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 4, &report, &error), -EINVAL);
    CHECK(strstr(error.reason, "privlevel 4"));
    CHECK_EQ_INT(attest_tsm_report_to_evidence(NULL, NULL), -EINVAL);
    CHECK(report == NULL);
    check_entries(f, 0); /* refused before touching configfs */
    fake_stop(f);
}

TEST(tsm_no_provider)
{
    struct fake_config config = { .kind = FAKE_TSM, .provider = NULL };
    struct fake *f = fake_start(&config);
    struct attest_tsm_report *report = NULL;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
                 -ENXIO);
    CHECK(strstr(error.reason, "no configfs-tsm provider"));
    check_entries(f, 0);
    fake_stop(f);
}

TEST(tsm_unknown_provider)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_hw_error error;
    enum attest_platform platform = 0;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    vectors_load();
    config = tdx_config();
    config.provider = "arm_cca_guest";
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
                 -EPROTONOSUPPORT);
    CHECK(strstr(error.reason, "\"arm_cca_guest\" is not supported"));
    CHECK(report == NULL);
    CHECK_EQ_INT(fake_stats(f).inblob_writes, 0); /* refused before anything is generated */
    CHECK_EQ_INT(fake_stats(f).generated, 0);
    CHECK_EQ_INT(attest_tsm_platform(f->dir, &platform, &error), -EPROTONOSUPPORT);
    check_entries(f, 2);
    fake_stop(f);
}

TEST(tsm_blob_limits)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_evidence *evidence = NULL;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    report_data_make(rd, 5);
    /* Exactly ATTEST_TSM_BLOB_MAX: taken, and fits an evidence envelope. */
    config = snp_config();
    config.blob_pad = ATTEST_TSM_BLOB_MAX - snp_report.size;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, NULL), 0);
    CHECK_EQ_INT(report->outblob_size, ATTEST_TSM_BLOB_MAX);
    CHECK_EQ_INT(attest_tsm_report_to_evidence(report, &evidence), 0);
    attest_evidence_free(evidence);
    attest_tsm_report_free(report);
    check_entries(f, 1);
    fake_stop(f);

    /* One byte more: refused. */
    config.blob_pad++;
    f = fake_start(&config);
    report = NULL;
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
                 -EFBIG);
    CHECK(strstr(error.reason, "outblob is larger than 65536 bytes"));
    CHECK(report == NULL);
    check_entries(f, 1);
    fake_stop(f);

    /* An oversize certificate table too. */
    config = snp_config();
    config.auxblob_pad = ATTEST_TSM_BLOB_MAX + 1 - snp_auxblob.size;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
                 -EFBIG);
    CHECK(strstr(error.reason, "auxblob is larger than"));
    check_entries(f, 1);
    fake_stop(f);
}

TEST(tsm_race_retried)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    config = tdx_config();
    config.races = 2;
    f = fake_start(&config);
    report_data_make(rd, 6);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, NULL), 0);
    /* The two raced entries gave reports with the other writer's data; the third is ours. */
    check_patched(report->outblob, report->outblob_size, &tdx_quote, TDX_REPORT_DATA, rd);
    CHECK_EQ_INT(report->generation, 1);
    CHECK_EQ_INT(fake_stats(f).generated, 3);
    check_entries(f, 3);
    attest_tsm_report_free(report);

    /* SNP with privlevel: the expected generation counts both writes. */
    fake_stop(f);
    config = snp_config();
    config.races = 1;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 0, &report, NULL), 0);
    CHECK_EQ_INT(report->generation, 2);
    check_patched(report->outblob, report->outblob_size, &snp_report, SNP_REPORT_DATA, rd);
    check_entries(f, 2);
    attest_tsm_report_free(report);
    fake_stop(f);
}

TEST(tsm_race_exhausts_attempts)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    config = tdx_config();
    config.races = 1000;
    f = fake_start(&config);
    report_data_make(rd, 7);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error),
                 -EBUSY);
    CHECK(report == NULL);
    CHECK(strstr(error.reason, "generation check failed in 4 report entries"));
    CHECK(strstr(error.reason, "generation is 2 after our 1 writes from 0"));
    check_entries(f, ATTEST_TSM_ATTEMPTS);

    /* The writer goes away: the next call succeeds. */
    fake_set_races(f, 0);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, &error), 0);
    CHECK_EQ_STR(error.reason, "");
    attest_tsm_report_free(report);
    check_entries(f, ATTEST_TSM_ATTEMPTS + 1);
    fake_stop(f);
}

TEST(tsm_privlevel)
{
    struct fake_config config;
    struct fake *f;
    struct attest_tsm_report *report = NULL;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    vectors_load();
    /* tdx_guest has no privlevel attribute. */
    config = tdx_config();
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 0, &report, &error), -EOPNOTSUPP);
    CHECK(strstr(error.reason, "privlevel 0 requested"));
    CHECK_EQ_INT(fake_stats(f).generated, 0);
    check_entries(f, 1);
    fake_stop(f);

    /* sev_guest under an SVSM: below the floor is refused by the kernel, the floor is taken. */
    config = snp_config();
    config.privlevel_floor = 2;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 1, &report, &error), -EINVAL);
    CHECK(strstr(error.reason, "privlevel 1 refused (privlevel_floor is 2)"));
    CHECK(report == NULL);
    CHECK_EQ_INT(attest_tsm_report(f->dir, rd, 3, &report, &error), 0);
    CHECK_EQ_INT(fake_stats(f).last_privlevel, 3);
    attest_tsm_report_free(report);
    check_entries(f, 2);
    fake_stop(f);
}

#define CALLERS 4u
#define CALLS 3u

struct caller {
    const char *root;
    uint8_t seed;
    int r[CALLS];
    bool ours[CALLS]; /* the outblob carries this call's report data */
};

/* No CHECK here: a failed check cannot leave a thread. The main thread checks the results. */
static void *
caller_run(void *arg)
{
    struct caller *c = arg;

    for (unsigned i = 0; i < CALLS; i++) {
        struct attest_tsm_report *report = NULL;
        uint8_t rd[ATTEST_REPORT_DATA_SIZE];

        report_data_make(rd, (uint8_t)(c->seed + 16 * i));
        c->r[i] = attest_tsm_report(c->root, rd, ATTEST_TSM_PRIVLEVEL_DEFAULT, &report, NULL);
        c->ours[i] = c->r[i] == 0 && memcmp(report->outblob + TDX_REPORT_DATA, rd, sizeof(rd)) == 0;
        attest_tsm_report_free(report);
    }
    return NULL;
}

TEST(tsm_concurrent_callers)
{
    struct fake_config config;
    struct fake *f;
    struct caller callers[CALLERS];
    pthread_t threads[CALLERS];

    /* Callers at once, each in its own entries: every report carries its caller's data, and no
     * generation check fails (nobody writes in another's entry). */
    vectors_load();
    config = tdx_config();
    f = fake_start(&config);
    for (unsigned t = 0; t < CALLERS; t++) {
        callers[t] = (struct caller){ .root = f->dir, .seed = (uint8_t)(1 + t) };
        CHECK(pthread_create(&threads[t], NULL, caller_run, &callers[t]) == 0);
    }
    for (unsigned t = 0; t < CALLERS; t++)
        CHECK(pthread_join(threads[t], NULL) == 0);
    for (unsigned t = 0; t < CALLERS; t++) {
        for (unsigned i = 0; i < CALLS; i++) {
            CHECK_EQ_INT(callers[t].r[i], 0);
            CHECK(callers[t].ours[i]);
        }
    }
    CHECK_EQ_INT(fake_stats(f).generated, CALLERS * CALLS);
    check_entries(f, CALLERS * CALLS);
    fake_stop(f);
}

/* ---- Gramine ------------------------------------------------------------------------------- */

TEST(gramine_quote)
{
    struct fake_config config;
    struct fake *f;
    uint8_t *quote = NULL;
    size_t quote_size = 0;
    struct attest_hw_error error = { "stale" };
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    config = gramine_config("dcap");
    f = fake_start(&config);
    report_data_make(rd, 10);
    CHECK_EQ_INT(attest_gramine_check(f->dir, &error), 0);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), 0);
    CHECK_EQ_STR(error.reason, "");
    CHECK_EQ_INT(quote_size, 4600);
    check_patched(quote, quote_size, &sgx_quote, SGX_REPORT_DATA, rd);
    CHECK_EQ_INT(fake_stats(f).last_inblob_size, ATTEST_REPORT_DATA_SIZE);
    CHECK(memcmp(fake_stats(f).last_inblob, rd, sizeof(rd)) == 0);
    CHECK_EQ_INT(fake_stats(f).generated, 1);
    free(quote);
    quote = NULL;

    CHECK_EQ_INT(attest_gramine_quote(f->dir, NULL, &quote, &quote_size, NULL), -EINVAL);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, NULL, &quote_size, NULL), -EINVAL);
    fake_stop(f);

    /* A trailing newline is tolerated. */
    config = gramine_config("dcap\n");
    f = fake_start(&config);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, NULL), 0);
    free(quote);
    quote = NULL;
    fake_stop(f);
}

static void
check_gramine_refused(const char *type, int expected, const char *reason_part)
{
    struct fake_config config = gramine_config(type);
    struct fake *f = fake_start(&config);
    uint8_t *quote = NULL;
    size_t quote_size = 0;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), expected);
    CHECK(strstr(error.reason, reason_part));
    CHECK(quote == NULL);
    CHECK_EQ_INT(attest_gramine_check(f->dir, &error), expected);
    CHECK_EQ_INT(fake_stats(f).inblob_writes, 0);
    CHECK_EQ_INT(fake_stats(f).generated, 0);
    fake_stop(f);
}

TEST(gramine_attestation_types)
{
    uint8_t *quote = NULL;
    size_t quote_size = 0;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE] = { 0 };

    vectors_load();
    check_gramine_refused("none", -EPROTONOSUPPORT, "sgx.remote_attestation = \"none\"");
    check_gramine_refused("epid", -EPROTONOSUPPORT, "EPID attestation is not supported");
    check_gramine_refused("dcapx", -EPROTONOSUPPORT, "is not dcap");
    check_gramine_refused("", -EPROTONOSUPPORT, "is not dcap");
    check_gramine_refused("a-very-long-attestation-type", -EPROTONOSUPPORT, "is not dcap");
    check_gramine_refused(NULL, -ENOENT, "attestation_type does not exist");

    CHECK_EQ_INT(
        attest_gramine_quote("/nonexistent/dev/attestation", rd, &quote, &quote_size, &error),
        -ENOENT);
    CHECK(strstr(error.reason, "not running inside Gramine"));
    CHECK_EQ_INT(attest_gramine_check("/nonexistent/dev/attestation", NULL), -ENOENT);
}

TEST(gramine_quote_failures)
{
    struct fake_config config;
    struct fake *f;
    uint8_t *quote = NULL;
    size_t quote_size = 0;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    report_data_make(rd, 11);
    /* Gramine's EACCES when the quoting enclave cannot be reached. */
    config = gramine_config("dcap");
    config.quote_error = EACCES;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), -EACCES);
    CHECK(strstr(error.reason, "AESM"));
    fake_stop(f);

    /* Oversize. */
    config = gramine_config("dcap");
    config.blob_pad = ATTEST_GRAMINE_QUOTE_MAX + 1 - sgx_quote.size;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), -EFBIG);
    CHECK(strstr(error.reason, "larger than 65536"));
    fake_stop(f);

    /* Not an SGX quote: a TDX quote (v4, TEE type 0x81), and a truncated SGX quote. */
    config = gramine_config("dcap");
    config.blob = tdx_quote.data;
    config.blob_size = tdx_quote.size;
    config.report_data_offset = TDX_REPORT_DATA;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), -EBADMSG);
    CHECK(strstr(error.reason, "not an SGX DCAP quote"));
    fake_stop(f);
    config = gramine_config("dcap");
    config.blob_size = SGX_REPORT_DATA + ATTEST_REPORT_DATA_SIZE - 1;
    config.report_data_offset = 100; /* anywhere but the header */
    f = fake_start(&config);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), -EBADMSG);
    fake_stop(f);
    CHECK(quote == NULL);
}

TEST(gramine_race)
{
    struct fake_config config;
    struct fake *f;
    uint8_t *quote = NULL;
    size_t quote_size = 0;
    struct attest_hw_error error;
    uint8_t rd[ATTEST_REPORT_DATA_SIZE];

    vectors_load();
    report_data_make(rd, 12);
    config = gramine_config("dcap");
    config.races = 1;
    f = fake_start(&config);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), 0);
    check_patched(quote, quote_size, &sgx_quote, SGX_REPORT_DATA, rd);
    CHECK_EQ_INT(fake_stats(f).generated, 2);
    CHECK_EQ_INT(fake_stats(f).inblob_writes, 2);
    free(quote);
    quote = NULL;

    fake_set_races(f, 1000);
    CHECK_EQ_INT(attest_gramine_quote(f->dir, rd, &quote, &quote_size, &error), -EBUSY);
    CHECK(strstr(error.reason, "another report data 4 times"));
    CHECK(quote == NULL);
    CHECK_EQ_INT(fake_stats(f).generated, 2 + ATTEST_GRAMINE_ATTEMPTS);
    fake_stop(f);
}

/* ---- detection ----------------------------------------------------------------------------- */

TEST(hw_detect)
{
    struct fake_config config;
    struct fake *f;
    struct attest_hw_info info;
    struct attest_hw_error error;
    struct attest_hw_roots roots = { "/nonexistent/tsm", "/nonexistent/attestation" };

    vectors_load();
    /* Nothing at all. */
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), 0);
    CHECK_EQ_INT(info.producer, ATTEST_HW_NONE);
    CHECK_EQ_INT(info.platform, 0);
    CHECK_EQ_INT(attest_hw_detect(&roots, NULL, &error), -EINVAL);

    /* configfs-tsm, each provider; no entry left, no report generated. */
    config = tdx_config();
    f = fake_start(&config);
    roots.tsm = f->dir;
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), 0);
    CHECK_EQ_INT(info.producer, ATTEST_HW_TSM);
    CHECK_EQ_INT(info.platform, ATTEST_PLATFORM_TDX);
    CHECK_EQ_INT(fake_stats(f).generated, 0);
    check_entries(f, 1);
    {
        /* Evidence from what was detected: the TD quote with our report data. */
        uint8_t rd[ATTEST_REPORT_DATA_SIZE], *data = NULL;
        size_t size = 0;

        report_data_make(rd, 40);
        CHECK_EQ_INT(attest_hw_evidence(&roots, &info, rd, &data, &size, &error), 0);
        check_patched(data, size, &tdx_quote, TDX_REPORT_DATA, rd);
        free(data);
        info.producer = ATTEST_HW_NONE;
        CHECK_EQ_INT(attest_hw_evidence(&roots, &info, rd, &data, &size, &error), -EINVAL);
    }
    fake_stop(f);
    config = snp_config();
    f = fake_start(&config);
    roots.tsm = f->dir;
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), 0);
    CHECK_EQ_INT(info.producer, ATTEST_HW_TSM);
    CHECK_EQ_INT(info.platform, ATTEST_PLATFORM_SNP);
    check_entries(f, 1);
    fake_stop(f);

    /* configfs-tsm without a provider: not a TEE guest. */
    config = (struct fake_config){ .kind = FAKE_TSM };
    f = fake_start(&config);
    roots.tsm = f->dir;
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), 0);
    CHECK_EQ_INT(info.producer, ATTEST_HW_NONE);
    fake_stop(f);

    /* An unknown provider is an error, not "no TEE". */
    config = tdx_config();
    config.provider = "arm_cca_guest";
    f = fake_start(&config);
    roots.tsm = f->dir;
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), -EPROTONOSUPPORT);
    CHECK(strstr(error.reason, "arm_cca_guest"));
    check_entries(f, 1);
    fake_stop(f);

    /* Gramine with DCAP, and without: an enclave that cannot attest is an error. */
    roots.tsm = "/nonexistent/tsm";
    config = gramine_config("dcap");
    f = fake_start(&config);
    roots.gramine = f->dir;
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), 0);
    CHECK_EQ_INT(info.producer, ATTEST_HW_GRAMINE);
    CHECK_EQ_INT(info.platform, ATTEST_PLATFORM_SGX_DCAP);
    CHECK_EQ_INT(fake_stats(f).generated, 0);
    {
        uint8_t rd[ATTEST_REPORT_DATA_SIZE], *data = NULL;
        size_t size = 0;

        report_data_make(rd, 41);
        CHECK_EQ_INT(attest_hw_evidence(&roots, &info, rd, &data, &size, &error), 0);
        check_patched(data, size, &sgx_quote, SGX_REPORT_DATA, rd);
        free(data);
        CHECK_EQ_INT(fake_stats(f).generated, 1);
    }
    fake_stop(f);
    config = gramine_config("none");
    f = fake_start(&config);
    roots.gramine = f->dir;
    CHECK_EQ_INT(attest_hw_detect(&roots, &info, &error), -EPROTONOSUPPORT);
    CHECK(strstr(error.reason, "\"none\""));
    fake_stop(f);
}

TEST_MAIN(TEST_CASE(tsm_tdx_quote), TEST_CASE(tsm_snp_report_and_cert_table),
          TEST_CASE(tsm_snp_without_certificates), TEST_CASE(tsm_missing_root),
          TEST_CASE(tsm_bad_arguments), TEST_CASE(tsm_no_provider), TEST_CASE(tsm_unknown_provider),
          TEST_CASE(tsm_blob_limits), TEST_CASE(tsm_race_retried),
          TEST_CASE(tsm_race_exhausts_attempts), TEST_CASE(tsm_privlevel),
          TEST_CASE(tsm_concurrent_callers), TEST_CASE(gramine_quote),
          TEST_CASE(gramine_attestation_types), TEST_CASE(gramine_quote_failures),
          TEST_CASE(gramine_race), TEST_CASE(hw_detect))
