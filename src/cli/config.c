#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jval.h"

#define SESSION_DIR_NAME "cloister"
#define SESSION_FILE_NAME "session.json"

struct session *
session_new(void)
{
    return calloc(1, sizeof(struct session));
}

struct session *
session_free(struct session *s)
{
    if (!s)
        return NULL;
    free(s->url);
    secret_free(s->token);
    free(s->email);
    free(s->acct_id);
    free(s->ca);
    free(s);
    return NULL;
}

int
session_set(char **field, const char *value)
{
    char *copy = value ? strdup(value) : NULL;

    if (value && !copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* $XDG_CONFIG_HOME when it is an absolute path, else $HOME/.config (or the passwd entry's). */
static int
config_home(char **ret)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    struct passwd *pw;
    char *s;

    if (xdg && xdg[0] == '/')
        s = strdup(xdg);
    else {
        if (!home || home[0] != '/') {
            pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || home[0] != '/') {
            cli_error("cannot find the configuration directory: set HOME or XDG_CONFIG_HOME");
            return -ENOENT;
        }
        if (asprintf(&s, "%s/.config", home) < 0)
            s = NULL;
    }
    if (!s)
        return cli_oom();
    *ret = s;
    return 0;
}

/* The directory of the session file and the file itself (new strings; either may be NULL). */
static int
session_locate(char **ret_dir, char **ret_path)
{
    _cleanup_free_ char *home = NULL, *dir = NULL, *path = NULL;
    int r = config_home(&home);

    if (r < 0)
        return r;
    if (asprintf(&dir, "%s/" SESSION_DIR_NAME, home) < 0) {
        dir = NULL;
        return cli_oom();
    }
    if (asprintf(&path, "%s/" SESSION_FILE_NAME, dir) < 0) {
        path = NULL;
        return cli_oom();
    }
    if (ret_dir)
        *ret_dir = TAKE_PTR(dir);
    if (ret_path)
        *ret_path = TAKE_PTR(path);
    return 0;
}

int
session_path(char **ret_path)
{
    return session_locate(NULL, ret_path);
}

/* Copies the members of the session file j into s. */
static int
session_fill(struct session *s, const json_t *j)
{
    static const char *const keys[] = { "url", "token", "email", "acct_id", "ca" };
    char **members[] = { &s->url, &s->token, &s->email, &s->acct_id, &s->ca };

    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        const char *v = jval_str(j, keys[i]);

        if (v && session_set(members[i], v) < 0)
            return cli_oom();
    }
    return 0;
}

static int
session_from_json(const json_t *j, struct session **ret)
{
    _cleanup_(session_freep) struct session *s = session_new();
    int r = s ? session_fill(s, j) : cli_oom();

    if (r < 0)
        return r;
    *ret = TAKE_PTR(s);
    return 0;
}

int
session_load(struct session **ret)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    _cleanup_json_ json_t *j = NULL;
    json_error_t err;
    struct stat st;
    int r = session_path(&path);

    if (r < 0)
        return r;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return -ENOENT;
    if (fd < 0 || fstat(fd, &st) < 0) {
        cli_error("cannot read the session file %s: %m", path);
        return -errno;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SESSION_FILE_MAX) {
        cli_error("ignoring the session file %s: not a regular file of at most %u KiB", path,
                  SESSION_FILE_MAX >> 10);
        return -EBADMSG;
    }
    j = json_loadfd(fd, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(j)) {
        cli_error("ignoring the session file %s: %s", path, j ? "not an object" : err.text);
        return -EBADMSG;
    }
    return session_from_json(j, ret);
}

static int
session_to_json(const struct session *s, json_t **ret)
{
    const struct jval_field members[] = {
        { "url", s->url },         { "token", s->token }, { "email", s->email },
        { "acct_id", s->acct_id }, { "ca", s->ca },       {},
    };
    _cleanup_json_ json_t *j = json_object();
    int r = j ? jval_set_fields(j, members) : -ENOMEM;

    if (r < 0)
        return r;
    *ret = TAKE_PTR(j);
    return 0;
}

/* Creates dir (and a missing parent, e.g. ~/.config) with mode 0700. */
static int
session_mkdir(const char *dir)
{
    _cleanup_free_ char *parent = strdup(dir);
    char *slash = parent ? strrchr(parent, '/') : NULL;

    if (!parent)
        return cli_oom();
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir(parent, 0700) < 0 && errno != EEXIST) {
            cli_error("cannot create %s: %m", parent);
            return -errno;
        }
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        cli_error("cannot create %s: %m", dir);
        return -errno;
    }
    return 0;
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, data, len);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        data += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Writes data to a new temporary file next to path, then renames it over path. */
static int
write_file_atomic(const char *path, const char *data, mode_t mode)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        tmp = NULL;
        return cli_oom();
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot create a file next to %s: %m", path);
        return -errno;
    }
    r = fchmod(fd, mode) < 0 ? -errno : write_all(fd, data, strlen(data));
    if (r >= 0)
        r = write_all(fd, "\n", 1);
    if (r >= 0)
        r = fsync(fd) < 0 ? -errno : 0;
    if (r >= 0)
        r = rename(tmp, path) < 0 ? -errno : 0;
    if (r < 0) {
        cli_error("cannot write %s: %s", path, strerror(-r));
        unlink(tmp);
    }
    return r;
}

int
session_save(const struct session *s)
{
    _cleanup_free_ char *dir = NULL, *path = NULL;
    _cleanup_json_ json_t *j = NULL;
    _cleanup_(secret_freep) char *text = NULL;
    int r = session_locate(&dir, &path);

    if (r >= 0)
        r = session_mkdir(dir);
    if (r < 0)
        return r;
    r = session_to_json(s, &j);
    if (r < 0)
        return cli_oom();
    text = json_dumps(j, JSON_INDENT(2));
    jval_erase_str(j, "token");
    if (!text)
        return cli_oom();
    return write_file_atomic(path, text, 0600);
}

int
session_remove(void)
{
    _cleanup_free_ char *path = NULL;
    int r = session_path(&path);

    if (r < 0)
        return r;
    if (unlink(path) < 0 && errno != ENOENT) {
        cli_error("cannot remove %s: %m", path);
        return -errno;
    }
    return 0;
}
