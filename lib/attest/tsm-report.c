/* libattest: TDX quotes and SEV-SNP reports from Linux configfs-tsm, and the choice between
 * configfs-tsm and Gramine (attest_hw_detect).
 *
 * configfs semantics this relies on (Documentation/ABI/testing/configfs-tsm-report and
 * drivers/virt/coco/guest/report.c): mkdir makes an entry whose attributes the provider decides
 * (tdx_guest: inblob, outblob, provider, generation; sev_guest adds auxblob, privlevel,
 * privlevel_floor); a binary attribute such as inblob is buffered and handed to the kernel when
 * the file is closed, and the kernel ignores the result of that hand-over, so the generation
 * counter is the only witness that our write landed; outblob is generated on read from the
 * inblob and options of the current generation, and auxblob comes from the same generated
 * report as long as nobody writes in between. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <attest/gramine.h>
#include <attest/tsm.h>

#include "attest-util.h"
#include "cleanup.h"
#include "hw-io.h"

#define TSM_TEXT_MAX 64u      /* bytes of a text attribute (generation, provider, floor) */
#define TSM_NAME_SIZE 64u     /* bytes of an entry name with its NUL */
#define TSM_MKDIR_ATTEMPTS 4u /* names tried when one exists already */
#define TSM_RACED 1           /* tsm_attempt: another writer used the entry */

/* Reads a text attribute into buf (size bytes) without its one trailing newline. -EIO for text
 * with a NUL in it, -EFBIG when it does not fit. */
static int
tsm_read_text(int dir_fd, const char *name, char *buf, size_t size)
{
    _cleanup_free_ uint8_t *data = NULL;
    size_t length;
    int r;

    r = hw_read_file(dir_fd, name, TSM_TEXT_MAX, &data, &length);
    if (r < 0)
        return r;
    if (length > 0 && data[length - 1] == '\n')
        length--;
    if (memchr(data, '\0', length))
        return -EIO;
    if (length >= size)
        return -EFBIG;
    memcpy(buf, data, length);
    buf[length] = '\0';
    return 0;
}

/* A generation: decimal digits only (the kernel prints "%lu\n"). */
static int
tsm_read_generation(int entry_fd, uint64_t *ret)
{
    char text[TSM_TEXT_MAX];
    uint64_t value = 0;
    int r;

    r = tsm_read_text(entry_fd, "generation", text, sizeof(text));
    if (r < 0)
        return r;
    if (text[0] == '\0')
        return -EIO;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || value > (UINT64_MAX - 9) / 10)
            return -EIO;
        value = value * 10 + (uint64_t)(*p - '0');
    }
    *ret = value;
    return 0;
}

static int
tsm_platform_from_provider(const char *provider, enum attest_platform *ret)
{
    if (strcmp(provider, "tdx_guest") == 0)
        *ret = ATTEST_PLATFORM_TDX;
    else if (strcmp(provider, "sev_guest") == 0)
        *ret = ATTEST_PLATFORM_SNP;
    else
        return -EPROTONOSUPPORT;
    return 0;
}

/* An entry of the report directory that we made; removed when it leaves scope. */
struct tsm_entry {
    int root_fd;
    const char *root; /* for messages */
    char name[TSM_NAME_SIZE];
    int fd; /* O_PATH of the entry */
};

static void
tsm_entry_remove(struct tsm_entry *entry)
{
    int saved = errno;

    if (entry->fd >= 0) {
        close(entry->fd);
        entry->fd = -1;
    }
    /* configfs removes the attributes with the entry; there is nothing useful to do when it
     * refuses, and the caller's result (or error) stands. */
    if (entry->name[0])
        (void)unlinkat(entry->root_fd, entry->name, AT_REMOVEDIR);
    entry->name[0] = '\0';
    errno = saved;
}

static int
tsm_open_root(const char *root, int *ret_fd, struct attest_hw_error *error)
{
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        *ret_fd = fd;
        return 0;
    }
    if (errno == ENOENT)
        return hw_fail(error, -ENOENT,
                       "%s does not exist: this kernel has no configfs-tsm (CONFIG_TSM_REPORTS, "
                       "Linux >= 6.7) or configfs is not mounted",
                       root);
    return hw_fail(error, -errno, "cannot open %s: %s", root, strerror(errno));
}

static int
tsm_mkdir_error(const char *root, int r, struct attest_hw_error *error)
{
    if (r == -ENXIO)
        return hw_fail(error, r,
                       "%s: no configfs-tsm provider is registered (neither the tdx_guest nor "
                       "the sev_guest driver is loaded): not a TDX or SEV-SNP guest",
                       root);
    if (r == -EACCES || r == -EPERM)
        return hw_fail(error, r, "%s: not allowed to create a report entry (needs root): %s", root,
                       strerror(-r));
    return hw_fail(error, r, "cannot create a report entry in %s: %s", root, strerror(-r));
}

/* Makes a new entry with a name nobody else uses: our pid and 64 random bits. */
static int
tsm_entry_make(struct tsm_entry *entry, struct attest_hw_error *error)
{
    for (unsigned i = 0; i < TSM_MKDIR_ATTEMPTS; i++) {
        uint8_t random[8];
        char hex[2 * sizeof(random) + 1];
        int r;

        if (RAND_bytes(random, sizeof(random)) != 1)
            return hw_fail(error, -EIO, "no random bytes for a report entry name");
        attest_hex_encode(random, sizeof(random), hex);
        (void)snprintf(entry->name, sizeof(entry->name), "cloister-%ld-%s", (long)getpid(), hex);
        if (mkdirat(entry->root_fd, entry->name, 0700) == 0) {
            entry->fd = openat(entry->root_fd, entry->name, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (entry->fd < 0)
                return hw_fail(error, -errno, "cannot open %s/%s: %s", entry->root, entry->name,
                               strerror(errno));
            return 0;
        }
        r = -errno;
        entry->name[0] = '\0';
        if (r != -EEXIST)
            return tsm_mkdir_error(entry->root, r, error);
    }
    return hw_fail(error, -EEXIST, "%s: every report entry name tried exists", entry->root);
}

/* Reads the entry's provider into report (name and platform). */
static int
tsm_entry_provider(const struct tsm_entry *entry, struct attest_tsm_report *report,
                   struct attest_hw_error *error)
{
    int r;

    r = tsm_read_text(entry->fd, "provider", report->provider, sizeof(report->provider));
    if (r < 0)
        return hw_fail(error, r == -EFBIG ? -EIO : r, "cannot read %s/%s/provider: %s", entry->root,
                       entry->name, strerror(-r));
    r = tsm_platform_from_provider(report->provider, &report->platform);
    if (r < 0)
        return hw_fail(error, r,
                       "%s: configfs-tsm provider \"%s\" is not supported (only tdx_guest and "
                       "sev_guest)",
                       entry->root, report->provider);
    return 0;
}

static int
tsm_write_privlevel(const struct tsm_entry *entry, unsigned privlevel,
                    struct attest_hw_error *error)
{
    char text[16], floor[TSM_TEXT_MAX];
    int r;

    (void)snprintf(text, sizeof(text), "%u\n", privlevel);
    r = hw_write_file(entry->fd, "privlevel", text, strlen(text));
    if (r == -ENOENT)
        return hw_fail(error, -EOPNOTSUPP,
                       "%s: privlevel %u requested, but this provider has no privilege levels",
                       entry->root, privlevel);
    if (r == -EINVAL && tsm_read_text(entry->fd, "privlevel_floor", floor, sizeof(floor)) == 0)
        return hw_fail(error, r, "%s: privlevel %u refused (privlevel_floor is %s)", entry->root,
                       privlevel, floor);
    if (r < 0)
        return hw_fail(error, r, "cannot write %s/%s/privlevel: %s", entry->root, entry->name,
                       strerror(-r));
    return 0;
}

static int
tsm_read_blob(const struct tsm_entry *entry, const char *name, uint8_t **ret_data, size_t *ret_size,
              struct attest_hw_error *error)
{
    int r = hw_read_file(entry->fd, name, ATTEST_TSM_BLOB_MAX, ret_data, ret_size);

    if (r == -EFBIG)
        return hw_fail(error, r, "%s/%s/%s is larger than %u bytes", entry->root, entry->name, name,
                       ATTEST_TSM_BLOB_MAX);
    if (r < 0 && !(r == -ENOENT && strcmp(name, "auxblob") == 0))
        return hw_fail(error, r, "cannot read %s/%s/%s: %s", entry->root, entry->name, name,
                       strerror(-r));
    return r;
}

/* Reads outblob and, where the entry has one, auxblob into report. */
static int
tsm_entry_read_blobs(const struct tsm_entry *entry, struct attest_tsm_report *report,
                     struct attest_hw_error *error)
{
    int r;

    r = tsm_read_blob(entry, "outblob", &report->outblob, &report->outblob_size, error);
    if (r < 0)
        return r;
    if (report->outblob_size == 0)
        return hw_fail(error, -EIO, "%s/%s/outblob is empty", entry->root, entry->name);
    r = tsm_read_blob(entry, "auxblob", &report->auxblob, &report->auxblob_size, error);
    if (r == -ENOENT)
        return 0; /* tdx_guest has no auxblob */
    if (r < 0)
        return r;
    if (report->auxblob_size == 0) {
        free(report->auxblob); /* the host gave no certificates */
        report->auxblob = NULL;
    }
    return 0;
}

/* One attempt in a fresh entry: 0, TSM_RACED when the generation check fails (a positive value,
 * so that no errno from the kernel is mistaken for it), or a negative errno. */
static int
tsm_attempt(int root_fd, const char *root, const uint8_t *report_data, unsigned privlevel,
            struct attest_tsm_report *report, struct attest_hw_error *error)
{
    _cleanup_(tsm_entry_remove) struct tsm_entry entry = {
        .root_fd = root_fd,
        .root = root,
        .fd = -1,
    };
    uint64_t before, after, writes = 1;
    int r;

    r = tsm_entry_make(&entry, error);
    if (r < 0)
        return r;
    r = tsm_entry_provider(&entry, report, error);
    if (r < 0)
        return r;
    r = tsm_read_generation(entry.fd, &before);
    if (r < 0)
        return hw_fail(error, r, "cannot read %s/%s/generation: %s", root, entry.name,
                       strerror(-r));
    r = hw_write_file(entry.fd, "inblob", report_data, ATTEST_REPORT_DATA_SIZE);
    if (r < 0)
        return hw_fail(error, r, "cannot write %s/%s/inblob: %s", root, entry.name, strerror(-r));
    if (privlevel != ATTEST_TSM_PRIVLEVEL_DEFAULT) {
        r = tsm_write_privlevel(&entry, privlevel, error);
        if (r < 0)
            return r;
        writes++;
    }
    r = tsm_entry_read_blobs(&entry, report, error);
    if (r < 0)
        return r;
    r = tsm_read_generation(entry.fd, &after);
    if (r < 0)
        return hw_fail(error, r, "cannot read %s/%s/generation: %s", root, entry.name,
                       strerror(-r));
    if (after != before + writes) {
        (void)hw_fail(error, 0,
                      "%s/%s: generation is %llu after our %llu writes from %llu: another "
                      "writer used the entry",
                      root, entry.name, (unsigned long long)after, (unsigned long long)writes,
                      (unsigned long long)before);
        return TSM_RACED;
    }
    report->generation = after;
    return 0;
}

struct attest_tsm_report *
attest_tsm_report_free(struct attest_tsm_report *report)
{
    if (report) {
        free(report->outblob);
        free(report->auxblob);
        free(report);
    }
    return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_tsm_report, attest_tsm_report_free);

/* -EBUSY, keeping the last attempt's reason (which names the generations seen). */
static int
tsm_fail_busy(const char *root, struct attest_hw_error *error)
{
    char last[ATTEST_FAILURE_REASON_SIZE] = "";

    if (error)
        memcpy(last, error->reason, sizeof(last));
    return hw_fail(error, -EBUSY, "%s: generation check failed in %u report entries; last: %s",
                   root, ATTEST_TSM_ATTEMPTS, last);
}

int
attest_tsm_report(const char *root, const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
                  unsigned privlevel, struct attest_tsm_report **ret, struct attest_hw_error *error)
{
    _cleanup_close_ int root_fd = -1;
    int r;

    hw_error_clear(error);
    if (!report_data || !ret)
        return -EINVAL;
    if (privlevel != ATTEST_TSM_PRIVLEVEL_DEFAULT && privlevel > ATTEST_TSM_PRIVLEVEL_MAX)
        return hw_fail(error, -EINVAL, "privlevel %u is above %u", privlevel,
                       ATTEST_TSM_PRIVLEVEL_MAX);
    if (!root)
        root = ATTEST_TSM_ROOT;
    r = tsm_open_root(root, &root_fd, error);
    if (r < 0)
        return r;
    for (unsigned attempt = 0; attempt < ATTEST_TSM_ATTEMPTS; attempt++) {
        _cleanup_(attest_tsm_report_freep) struct attest_tsm_report *report =
            calloc(1, sizeof(*report));

        if (!report)
            return -ENOMEM;
        r = tsm_attempt(root_fd, root, report_data, privlevel, report, error);
        if (r == 0) {
            hw_error_clear(error);
            *ret = TAKE_PTR(report);
            return 0;
        }
        if (r != TSM_RACED)
            return r;
    }
    return tsm_fail_busy(root, error);
}

int
attest_tsm_platform(const char *root, enum attest_platform *ret_platform,
                    struct attest_hw_error *error)
{
    _cleanup_close_ int root_fd = -1;
    struct attest_tsm_report report = { 0 };
    int r;

    hw_error_clear(error);
    if (!ret_platform)
        return -EINVAL;
    if (!root)
        root = ATTEST_TSM_ROOT;
    r = tsm_open_root(root, &root_fd, error);
    if (r < 0)
        return r;
    {
        _cleanup_(tsm_entry_remove) struct tsm_entry entry = {
            .root_fd = root_fd,
            .root = root,
            .fd = -1,
        };

        r = tsm_entry_make(&entry, error);
        if (r < 0)
            return r;
        r = tsm_entry_provider(&entry, &report, error);
        if (r < 0)
            return r;
    }
    *ret_platform = report.platform;
    return 0;
}

/* Whether path exists (as anything). */
static bool
tsm_path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

int
attest_hw_detect(const struct attest_hw_roots *roots, struct attest_hw_info *ret,
                 struct attest_hw_error *error)
{
    const char *tsm = roots && roots->tsm ? roots->tsm : ATTEST_TSM_ROOT;
    const char *gramine = roots && roots->gramine ? roots->gramine : ATTEST_GRAMINE_ROOT;
    enum attest_platform platform;
    int r;

    hw_error_clear(error);
    if (!ret)
        return -EINVAL;
    if (tsm_path_exists(gramine)) {
        r = attest_gramine_check(gramine, error);
        if (r < 0)
            return r;
        *ret = (struct attest_hw_info){ ATTEST_HW_GRAMINE, ATTEST_PLATFORM_SGX_DCAP };
        return 0;
    }
    r = attest_tsm_platform(tsm, &platform, error);
    if (r == -ENOENT && !tsm_path_exists(tsm))
        r = -ENXIO;
    if (r == -ENXIO) {
        hw_error_clear(error);
        *ret = (struct attest_hw_info){ ATTEST_HW_NONE, 0 };
        return 0;
    }
    if (r < 0)
        return r;
    *ret = (struct attest_hw_info){ ATTEST_HW_TSM, platform };
    return 0;
}

int
attest_hw_evidence(const struct attest_hw_roots *roots, const struct attest_hw_info *info,
                   const uint8_t report_data[ATTEST_REPORT_DATA_SIZE], uint8_t **ret,
                   size_t *ret_size, struct attest_hw_error *error)
{
    struct attest_tsm_report *report = NULL;
    int r;

    hw_error_clear(error);
    if (!info || !report_data || !ret || !ret_size)
        return -EINVAL;
    if (info->producer == ATTEST_HW_GRAMINE)
        return attest_gramine_quote(roots ? roots->gramine : NULL, report_data, ret, ret_size,
                                    error);
    if (info->producer != ATTEST_HW_TSM)
        return -EINVAL;
    r = attest_tsm_report(roots ? roots->tsm : NULL, report_data, ATTEST_TSM_PRIVLEVEL_DEFAULT,
                          &report, error);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(report->outblob);
    *ret_size = report->outblob_size;
    attest_tsm_report_free(report);
    return 0;
}
