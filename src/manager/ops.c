/* cloister-manager backup | restore | migrate-store: see ops.h and docs/operations.md.
 *
 * Backup files are SQLite database files whatever the store, so one tool (sqlite3) inspects any
 * of them and restore reads one format. A backup is written to FILE.tmp, synced and renamed, so
 * FILE either does not exist or is complete. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "datadir.h"
#include "log.h"
#include "manager.h"
#include "store-copy.h"
#include "store-settings.h"
#include "store.h"

/* A path we make from a configured one by adding a suffix, and an "sqlite:" URL of it. */
#define OPS_PATH_MAX (MANAGER_PATH_MAX + 16)
#define OPS_URL_MAX (OPS_PATH_MAX + 16)

enum {
    OPT_CONFIG = 1 << 0,
    OPT_DATA_DIR = 1 << 1,
    OPT_STORE = 1 << 2,
    OPT_FROM = 1 << 3,
    OPT_TO = 1 << 4,
};

struct ops_flags {
    const char *config_file, *data_dir, *store, *from, *to;
};

struct ops_command {
    const char *name;
    const char *synopsis; /* the command's required flags, for the server's --help */
    const char *summary;
    const char *help;
    unsigned allowed;  /* OPT_* */
    unsigned required; /* OPT_* */
    int (*run)(const struct ops_flags *flags);
};

static int cmd_backup(const struct ops_flags *flags);
static int cmd_restore(const struct ops_flags *flags);
static int cmd_migrate_store(const struct ops_flags *flags);

static const struct ops_command commands[] = {
    {
        .name = "backup",
        .synopsis = "backup --to FILE",
        .summary = "copy the store into a new SQLite file",
        .help = "Usage: cloister-manager backup --to FILE [--config FILE] [--data-dir DIR] "
                "[--store URL]\n"
                "\n"
                "Copies the store, while the manager runs, into FILE: a new SQLite database file\n"
                "(mode 0600) whatever the store. An SQLite store is copied with SQLite's online\n"
                "backup API, a PostgreSQL store from one consistent snapshot. FILE must not\n"
                "exist. The master key is not in the backup: keep DATA_DIR/master.key safe too.\n"
                "\n"
                "  --to FILE         the backup file to create\n"
                "  --config FILE     the manager's configuration ([manager] data_dir and store)\n"
                "  --data-dir DIR    data directory (default store: sqlite:DIR/cloister.db)\n"
                "  --store URL       the store: sqlite:PATH or postgres://...\n"
                "  --help            this text\n",
        .allowed = OPT_TO | OPT_CONFIG | OPT_DATA_DIR | OPT_STORE,
        .required = OPT_TO,
        .run = cmd_backup,
    },
    {
        .name = "restore",
        .synopsis = "restore --from FILE",
        .summary = "copy a backup into an empty store",
        .help = "Usage: cloister-manager restore --from FILE [--config FILE] [--data-dir DIR] "
                "[--store URL]\n"
                "\n"
                "Copies the backup FILE into the configured store, which must be empty: a fresh\n"
                "data directory or a freshly created database. FILE is not modified. The data\n"
                "directory must already hold the master.key of the deployment the backup was\n"
                "taken from. A backup written by an older cloister-manager is migrated on the\n"
                "way; one from a newer version is refused.\n"
                "\n"
                "  --from FILE       the backup file (made by 'cloister-manager backup')\n"
                "  --config FILE     the manager's configuration ([manager] data_dir and store)\n"
                "  --data-dir DIR    data directory (default store: sqlite:DIR/cloister.db)\n"
                "  --store URL       the store to fill: sqlite:PATH or postgres://...\n"
                "  --help            this text\n",
        .allowed = OPT_FROM | OPT_CONFIG | OPT_DATA_DIR | OPT_STORE,
        .required = OPT_FROM,
        .run = cmd_restore,
    },
    {
        .name = "migrate-store",
        .synopsis = "migrate-store --from URL --to URL",
        .summary = "copy one store into an empty one",
        .help = "Usage: cloister-manager migrate-store --from URL --to URL\n"
                "\n"
                "Copies every row of the store at --from into the empty store at --to (which is\n"
                "migrated to this cloister-manager's schema first), checking the row count of\n"
                "every table; nothing is written to --to unless all of it is. --from may be in\n"
                "use by running managers: it is read as one consistent snapshot, and must be at\n"
                "this cloister-manager's schema version.\n"
                "\n"
                "  --from URL        the store to copy: sqlite:PATH or postgres://...\n"
                "  --to URL          the empty store to fill: sqlite:PATH or postgres://...\n"
                "  --help            this text\n",
        .allowed = OPT_FROM | OPT_TO,
        .required = OPT_FROM | OPT_TO,
        .run = cmd_migrate_store,
    },
};

static const struct ops_command *
command_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

bool
ops_is_command(const char *name)
{
    return command_find(name) != NULL;
}

void
ops_usage_summary(FILE *out)
{
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        fprintf(out, "  %-34s %s\n", commands[i].synopsis, commands[i].summary);
}

static const struct option options[] = {
    { "config", required_argument, NULL, 'c' },
    { "data-dir", required_argument, NULL, 'd' },
    { "store", required_argument, NULL, 's' },
    { "from", required_argument, NULL, 'f' },
    { "to", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
usage_error(const struct ops_command *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "cloister-manager %s: ", cmd->name);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    fprintf(stderr, fmt, arg);
#pragma GCC diagnostic pop
    fprintf(stderr, "\nTry 'cloister-manager %s --help'.\n", cmd->name);
    return -EINVAL;
}

static const char *
option_name(unsigned bit)
{
    switch (bit) {
    case OPT_CONFIG:
        return "--config";
    case OPT_DATA_DIR:
        return "--data-dir";
    case OPT_STORE:
        return "--store";
    case OPT_FROM:
        return "--from";
    default:
        return "--to";
    }
}

static int
set_flag(const struct ops_command *cmd, struct ops_flags *f, unsigned *seen, int opt,
         const char *arg)
{
    static const struct {
        int opt;
        unsigned bit;
    } map[] = {
        { 'c', OPT_CONFIG }, { 'd', OPT_DATA_DIR }, { 's', OPT_STORE },
        { 'f', OPT_FROM },   { 't', OPT_TO },
    };
    const char **slots[] = { &f->config_file, &f->data_dir, &f->store, &f->from, &f->to };

    for (size_t i = 0; i < ELEMENTSOF(map); i++) {
        if (map[i].opt != opt)
            continue;
        if (!(cmd->allowed & map[i].bit))
            return usage_error(cmd, "unknown option '%s'", option_name(map[i].bit));
        if (*seen & map[i].bit)
            return usage_error(cmd, "%s given twice", option_name(map[i].bit));
        if (!*arg)
            return usage_error(cmd, "%s: must not be empty", option_name(map[i].bit));
        *seen |= map[i].bit;
        *slots[i] = arg;
        return 0;
    }
    return -EINVAL;
}

/* Parses argv (argv[0] is the subcommand). Returns 1 when --help was given. */
static int
parse_flags(const struct ops_command *cmd, int argc, char **argv, struct ops_flags *f)
{
    unsigned seen = 0;
    int opt, r;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(cmd->help, stdout);
            return 1;
        case ':':
            return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        case '?':
            return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        default:
            r = set_flag(cmd, f, &seen, opt, optarg);
            if (r < 0)
                return r;
        }
    }
    if (optind < argc)
        return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    for (unsigned bit = 1; bit <= OPT_TO; bit <<= 1)
        if ((cmd->required & bit) && !(seen & bit))
            return usage_error(cmd, "%s is required", option_name(bit));
    return 0;
}

int
ops_main(int argc, char **argv)
{
    const struct ops_command *cmd = command_find(argv[0]);
    struct ops_flags flags = { 0 };
    int r;

    if (!cmd)
        return OPS_EXIT_USAGE;
    r = parse_flags(cmd, argc, argv, &flags);
    if (r != 0)
        return r > 0 ? OPS_EXIT_OK : OPS_EXIT_USAGE;
    umask(0077);
    return cmd->run(&flags) < 0 ? OPS_EXIT_FAILED : OPS_EXIT_OK;
}

/* The store URL with the password of a postgres://user:password@host URL replaced by "***",
 * for messages. */
static const char *
url_redacted(const char *url, char *buf, size_t size)
{
    const char *start = strstr(url, "://"), *at, *colon, *end;

    if (!start)
        return url;
    start += 3;
    end = start + strcspn(start, "/?#");
    at = memchr(start, '@', (size_t)(end - start));
    colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (!colon)
        return url;
    snprintf(buf, size, "%.*s***%s", (int)(colon + 1 - url), url, at);
    return buf;
}

/* The file of an SQLite store URL ("sqlite:PATH" or a bare path, as store_open reads it), or
 * NULL for another backend. */
static const char *
sqlite_url_path(const char *url)
{
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');

    if (!colon || (slash && slash < colon))
        return url;
    if (strncmp(url, "sqlite:", 7) == 0)
        return url + 7;
    return NULL;
}

/* Opens the store at url and checks that it answers (a PostgreSQL store connects lazily). */
static int
open_and_ping(const char *url, struct store **ret_store)
{
    _cleanup_(store_closep) struct store *store = NULL;
    char redacted[MANAGER_PATH_MAX];
    int r;

    r = store_open(url, &store);
    if (r == -EPROTONOSUPPORT)
        return log_error_errno(r,
                               "Cannot open store '%s': unknown scheme (use sqlite:PATH or "
                               "postgres://...)",
                               url_redacted(url, redacted, sizeof(redacted)));
    if (r >= 0)
        r = store_ping(store);
    if (r < 0)
        return log_error_errno(r, "Cannot open store '%s': %s",
                               url_redacted(url, redacted, sizeof(redacted)),
                               store_copy_strerror(r));
    *ret_store = TAKE_PTR(store);
    return 0;
}

/* Opens a store to read from, which must exist. */
static int
open_store(const char *url, struct store **ret_store)
{
    const char *path = sqlite_url_path(url);

    /* store_open creates a missing SQLite file: a mistyped source must not become an empty
     * store. */
    if (path && access(path, F_OK) < 0)
        return log_error_errno(errno, "Cannot open store '%s': %m", url);
    return open_and_ping(url, ret_store);
}

/* Opens (creating an SQLite file if needed) and migrates a destination store. */
static int
open_destination(const char *url, struct store **ret_store)
{
    _cleanup_(store_closep) struct store *store = NULL;
    char redacted[MANAGER_PATH_MAX];
    int r;

    r = open_and_ping(url, &store);
    if (r < 0)
        return r;
    r = store_migrate(store);
    if (r < 0)
        return log_error_errno(r, "Cannot migrate store '%s': %s",
                               url_redacted(url, redacted, sizeof(redacted)),
                               store_copy_strerror(r));
    *ret_store = TAKE_PTR(store);
    return 0;
}

static int
load_config(const struct ops_flags *f, struct manager_config *config)
{
    config_defaults(config);
    if (f->config_file && config_load_file(config, f->config_file) < 0)
        return -EINVAL;
    if (f->data_dir && snprintf(config->data_dir, sizeof(config->data_dir), "%s", f->data_dir) >=
                           (int)sizeof(config->data_dir))
        return log_error_errno(ENAMETOOLONG, "--data-dir: path too long");
    if (f->store && snprintf(config->store_url, sizeof(config->store_url), "%s", f->store) >=
                        (int)sizeof(config->store_url))
        return log_error_errno(ENAMETOOLONG, "--store: URL too long");
    if (config_finish(config) < 0)
        return log_error_errno(ENAMETOOLONG, "The data directory path is too long");
    return 0;
}

static void
print_summary(const char *what, const struct store_copy_report *report)
{
    int64_t total = 0;

    printf("%s (schema version %lld):\n", what, (long long)report->schema_version);
    for (size_t i = 0; i < report->n_tables; i++) {
        printf("  %-20s %12lld\n", report->tables[i].name, (long long)report->tables[i].rows);
        total += report->tables[i].rows;
    }
    printf("  %-20s %12lld\n", "total", (long long)total);
    fflush(stdout);
}

/* Removes an SQLite file and the files SQLite and the store keep beside it (the store's writer
 * queue, store-sqlite.c). */
static void
remove_sqlite_files(const char *path)
{
    static const char *const suffixes[] = { "", "-journal", "-wal", "-shm", "-writers" };
    char p[OPS_URL_MAX];

    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

static int
fsync_path(const char *path, int flags)
{
    _cleanup_close_ int fd = open(path, flags | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

/* Makes the finished tmp visible as path: synced first, never replacing a file that appeared
 * at path meanwhile, and the directory entry synced too. */
static int
publish_file(const char *tmp, const char *path)
{
    char dir[OPS_PATH_MAX];
    const char *slash;
    int r;

    r = fsync_path(tmp, O_RDONLY);
    if (r < 0)
        return log_error_errno(r, "Cannot sync '%s': %m", tmp);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
        /* Some file systems cannot rename without replacing; a hard link cannot replace. */
        if (errno != EINVAL && errno != ENOSYS)
            return log_error_errno(errno, "Cannot rename '%s' to '%s': %m", tmp, path);
        if (link(tmp, path) < 0)
            return log_error_errno(errno, "Cannot link '%s' to '%s': %m", tmp, path);
        unlink(tmp);
    }
    slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    r = fsync_path(dir, O_RDONLY | O_DIRECTORY);
    if (r < 0)
        return log_error_errno(r, "Cannot sync directory '%s': %m", dir);
    return 0;
}

/* Turns a finished SQLite copy into a self-contained file (no WAL beside it) after checking it
 * reads as a store; fills report with its counts. */
static int
finish_backup_file(const char *tmp, struct store_copy_report *report, char *key_id, size_t size)
{
    _cleanup_(store_closep) struct store *store = NULL;
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    char url[OPS_URL_MAX];
    int r;

    snprintf(url, sizeof(url), "sqlite:%s", tmp);
    r = store_open(url, &store);
    if (r < 0)
        return log_error_errno(r, "Cannot open the backup copy '%s': %m", tmp);
    r = store_query_row(store, "PRAGMA quick_check", STORE_NO_ARGS, &rows);
    if (r < 0 || strcmp(store_rows_text(rows, 0), "ok") != 0)
        return log_error_errno(r < 0 ? r : EIO, "The backup copy '%s' fails SQLite's check: %s",
                               tmp, r < 0 ? strerror(-r) : store_rows_text(rows, 0));
    store_rows_free(TAKE_PTR(rows));
    r = store_copy_count(store, report);
    if (r < 0)
        return log_error_errno(r, "The store is not a Cloister store: %s", report->error);
    r = store_master_key_id(store, key_id, size);
    if (r < 0)
        return log_error_errno(r, "Cannot read the backup copy '%s': %m", tmp);
    r = store_exec(store, "PRAGMA journal_mode=DELETE", STORE_NO_ARGS, NULL);
    if (r < 0)
        return log_error_errno(r, "Cannot finish the backup copy '%s': %m", tmp);
    return 0;
}

static int
backup_sqlite(const char *path, const char *tmp, struct store_copy_report *report, char *key_id,
              size_t size)
{
    int r;

    r = store_copy_sqlite_file(path, tmp, report);
    if (r < 0)
        return log_error_errno(r, "Backup failed: %s", report->error);
    return finish_backup_file(tmp, report, key_id, size);
}

static int
copy_into_backup_file(const char *url, const char *tmp, struct store_copy_report *report)
{
    _cleanup_(store_closep) struct store *from = NULL;
    _cleanup_(store_closep) struct store *to = NULL;
    char tmp_url[OPS_URL_MAX];
    int r;

    r = open_store(url, &from);
    if (r < 0)
        return r;
    snprintf(tmp_url, sizeof(tmp_url), "sqlite:%s", tmp);
    r = open_destination(tmp_url, &to);
    if (r < 0)
        return r;
    r = store_copy(from, to, report);
    if (r == -EPROTO)
        return log_error_errno(r,
                               "Backup failed: %s (the store's schema differs from this "
                               "cloister-manager's: back it up with the version that runs on it)",
                               report->error);
    if (r < 0)
        return log_error_errno(r, "Backup failed: %s", report->error);
    return 0;
}

/* Any other store: copied from one snapshot into a new SQLite store, which is then checked
 * like a page copy. */
static int
backup_copy(const char *url, const char *tmp, struct store_copy_report *report, char *key_id,
            size_t size)
{
    int r;

    r = copy_into_backup_file(url, tmp, report);
    if (r < 0)
        return r;
    return finish_backup_file(tmp, report, key_id, size);
}

/* Creates path (mode 0600) where nothing exists yet. */
static int
create_new_file(const char *path)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    return fd < 0 ? -errno : 0;
}

static int
cmd_backup(const struct ops_flags *f)
{
    static struct manager_config config;
    struct store_copy_report report;
    char tmp[OPS_PATH_MAX], what[2 * OPS_PATH_MAX], redacted[MANAGER_PATH_MAX], key_id[64];
    const char *path;
    struct stat st;
    int r;

    r = load_config(f, &config);
    if (r < 0)
        return r;
    if (lstat(f->to, &st) == 0 || errno != ENOENT)
        return log_error_errno(EEXIST,
                               "--to: '%s' already exists: a backup never replaces a file; "
                               "choose a new name",
                               f->to);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", f->to) >= (int)sizeof(tmp))
        return log_error_errno(ENAMETOOLONG, "--to: path too long");
    r = create_new_file(tmp);
    if (r == -EEXIST)
        return log_error_errno(r,
                               "'%s' exists: another backup is writing it, or one was "
                               "interrupted (then remove it)",
                               tmp);
    if (r < 0)
        return log_error_errno(r, "--to: cannot create '%s': %m", tmp);

    path = sqlite_url_path(config.store_url);
    if (path && access(path, F_OK) < 0)
        r = log_error_errno(errno, "Cannot open store '%s': %m", config.store_url);
    else
        r = path ? backup_sqlite(path, tmp, &report, key_id, sizeof(key_id))
                 : backup_copy(config.store_url, tmp, &report, key_id, sizeof(key_id));
    if (r >= 0)
        r = publish_file(tmp, f->to);
    if (r < 0) {
        remove_sqlite_files(tmp);
        return r;
    }
    snprintf(what, sizeof(what), "Backed up %s to %s",
             url_redacted(config.store_url, redacted, sizeof(redacted)), f->to);
    print_summary(what, &report);
    /* The key is not in the backup; its id tells which copy of master.key goes with it. */
    if (*key_id)
        printf("Restoring it needs the master.key with id %s (not in the backup).\n", key_id);
    else
        printf("Restoring it needs this deployment's master.key (not in the backup).\n");
    return 0;
}

/* A private copy of the backup file in the data directory, so the operator's file is never
 * modified (opening a store sets it up for writing, migrating writes) and an older backup can
 * be migrated. */
static int
copy_backup_file(const char *file, const char *data_dir, char *ret_tmp, size_t size)
{
    struct store_copy_report report;
    int fd, r;

    if (snprintf(ret_tmp, size, "%s/restore-XXXXXX", data_dir) >= (int)size)
        return log_error_errno(ENAMETOOLONG, "The data directory path is too long");
    fd = mkostemp(ret_tmp, O_CLOEXEC);
    if (fd < 0)
        return log_error_errno(errno, "Cannot create a file in '%s': %m", data_dir);
    close(fd);
    r = store_copy_sqlite_file(file, ret_tmp, &report);
    if (r < 0) {
        remove_sqlite_files(ret_tmp);
        return log_error_errno(r, "--from: %s", report.error);
    }
    return 0;
}

static int
check_data_dir(const char *data_dir)
{
    char path[OPS_PATH_MAX];
    struct stat st;

    if (stat(data_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return log_error_errno(ENOENT,
                               "Data directory '%s' does not exist: create it (mode 0700) and "
                               "copy the master.key of the deployment the backup was taken from "
                               "into it",
                               data_dir);
    snprintf(path, sizeof(path), "%s/master.key", data_dir);
    if (access(path, F_OK) < 0)
        return log_error_errno(ENOENT,
                               "'%s' is missing: copy the master.key of the deployment the "
                               "backup was taken from into the data directory first (sealed "
                               "registry passwords and audit checkpoint signatures need it)",
                               path);
    return 0;
}

/* The backup copy's schema version; a backup newer than this binary is refused before the
 * destination is touched. */
static int
backup_version(struct store *backup, int64_t *ret_version)
{
    int64_t version;
    int r;

    r = store_schema_version(backup, &version);
    if (r < 0)
        return log_error_errno(r, "--from: not a Cloister backup (it has no schema version)");
    if (version > store_schema_latest())
        return log_error_errno(EPROTO,
                               "--from: the backup is at schema version %lld, newer than this "
                               "cloister-manager's %lld: restore it with the version that wrote "
                               "it (or a newer one)",
                               (long long)version, (long long)store_schema_latest());
    *ret_version = version;
    return 0;
}

/* Refuses a backup recorded with another master key than the data directory's: the restored
 * manager would refuse to start, and sealed secrets would not open. */
static int
check_backup_key(struct store *backup, const char *key_id)
{
    char recorded[64];
    int r;

    r = store_master_key_id(backup, recorded, sizeof(recorded));
    if (r < 0)
        return log_error_errno(r, "--from: cannot read the backup's master key id: %m");
    if (*recorded && strcmp(recorded, key_id) != 0)
        return log_error_errno(EKEYREJECTED,
                               "--from: the backup was made with the master key with id %s, but "
                               "the data directory's master.key has id %s: copy the master.key of "
                               "the deployment the backup was taken from into the data directory",
                               recorded, key_id);
    return 0;
}

static int
restore_copy(const char *tmp, const char *url, const char *key_id, struct store_copy_report *report)
{
    _cleanup_(store_closep) struct store *from = NULL;
    _cleanup_(store_closep) struct store *to = NULL;
    char tmp_url[OPS_URL_MAX];
    int64_t version = 0;
    int r;

    snprintf(tmp_url, sizeof(tmp_url), "sqlite:%s", tmp);
    r = store_open(tmp_url, &from);
    if (r < 0)
        return log_error_errno(r, "Cannot open the copy of the backup '%s': %m", tmp);
    r = backup_version(from, &version);
    if (r < 0)
        return r;
    /* An older backup is brought to this version the way a manager's start would. */
    if (version < store_schema_latest()) {
        log_info("Migrating the copy of the backup from schema version %lld to %lld",
                 (long long)version, (long long)store_schema_latest());
        r = store_migrate(from);
        if (r < 0)
            return log_error_errno(r, "Cannot migrate the copy of the backup: %m");
    }
    r = check_backup_key(from, key_id);
    if (r < 0)
        return r;
    /* Only now, with the backup found good, is the destination created or touched. */
    r = open_destination(url, &to);
    if (r < 0)
        return r;
    r = store_copy(from, to, report);
    if (r == -ENOTEMPTY)
        return log_error_errno(r,
                               "Restore refused: %s. Restore into a fresh data directory "
                               "(SQLite) or a freshly created database (PostgreSQL: CREATE "
                               "DATABASE name TEMPLATE template0 ENCODING 'UTF8').",
                               report->error);
    if (r < 0)
        return log_error_errno(r, "Restore failed: %s", report->error);
    return 0;
}

static int
cmd_restore(const struct ops_flags *f)
{
    static struct manager_config config;
    struct manager_keys keys;
    struct store_copy_report report;
    char tmp[OPS_PATH_MAX], what[2 * OPS_PATH_MAX], redacted[MANAGER_PATH_MAX];
    struct stat st;
    int r;

    r = load_config(f, &config);
    if (r < 0)
        return r;
    if (stat(f->from, &st) < 0)
        return log_error_errno(errno, "--from: cannot read '%s': %m", f->from);
    if (!S_ISREG(st.st_mode))
        return log_error_errno(EINVAL, "--from: '%s' is not a file", f->from);
    r = check_data_dir(config.data_dir);
    if (r < 0)
        return r;
    r = datadir_load_keys(&config, &keys);
    OPENSSL_cleanse(keys.seal_key, sizeof(keys.seal_key));
    OPENSSL_cleanse(keys.audit_seed, sizeof(keys.audit_seed));
    if (r < 0)
        return r;
    r = copy_backup_file(f->from, config.data_dir, tmp, sizeof(tmp));
    if (r < 0)
        return r;
    r = restore_copy(tmp, config.store_url, keys.key_id, &report);
    remove_sqlite_files(tmp);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "Restored %s into %s", f->from,
             url_redacted(config.store_url, redacted, sizeof(redacted)));
    print_summary(what, &report);
    return 0;
}

static int
migrate_copy(const struct ops_flags *f, struct store_copy_report *report)
{
    _cleanup_(store_closep) struct store *from = NULL;
    _cleanup_(store_closep) struct store *to = NULL;
    int r;

    r = open_store(f->from, &from);
    if (r < 0)
        return r;
    r = open_destination(f->to, &to);
    if (r < 0)
        return r;
    r = store_copy(from, to, report);
    if (r == -EPROTO)
        return log_error_errno(r,
                               "migrate-store failed: %s (start this cloister-manager on --from "
                               "once to migrate it, or use the version that runs on it)",
                               report->error);
    if (r == -ENOTEMPTY)
        return log_error_errno(r, "migrate-store refused: %s (--to must be a new, empty store)",
                               report->error);
    if (r < 0)
        return log_error_errno(r, "migrate-store failed: %s", report->error);
    return 0;
}

static int
cmd_migrate_store(const struct ops_flags *f)
{
    struct store_copy_report report;
    char what[2 * OPS_PATH_MAX], from_redacted[MANAGER_PATH_MAX], to_redacted[MANAGER_PATH_MAX];
    const char *to_path = sqlite_url_path(f->to);
    bool to_created = to_path && access(to_path, F_OK) < 0;
    int r;

    if (strcmp(f->from, f->to) == 0)
        return log_error_errno(EINVAL, "--from and --to name the same store");
    r = migrate_copy(f, &report);
    if (r < 0) {
        /* An SQLite file this command created holds nothing but the schema: remove it. */
        if (to_created)
            remove_sqlite_files(to_path);
        return r;
    }
    snprintf(what, sizeof(what), "Copied %s to %s",
             url_redacted(f->from, from_redacted, sizeof(from_redacted)),
             url_redacted(f->to, to_redacted, sizeof(to_redacted)));
    print_summary(what, &report);
    return 0;
}
