#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "jval.h"

/* Room for the longest password, a '\r' and the NUL. */
#define PASSWORD_BUF (PASSWORD_MAX + 2u)

/* Reads one line from fd byte by byte (nothing past the newline is consumed), dropping the
 * line ending. Returns the length, or -EMSGSIZE when the line does not fit. */
static int
read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    for (;;) {
        char c;
        ssize_t k = read(fd, &c, 1);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0 || c == '\n')
            break;
        if (n + 1 >= size)
            return -EMSGSIZE;
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (int)n;
}

static int
password_check(const char *what, const char *pw, int len)
{
    if (len == -EMSGSIZE || (len >= 0 && (unsigned)len > PASSWORD_MAX))
        return cli_usage_error(NULL, "%s: the password is longer than %u bytes", what,
                               PASSWORD_MAX);
    if (len < 0) {
        cli_error("%s: cannot read the password: %s", what, strerror(-len));
        return len;
    }
    if (len == 0)
        return cli_usage_error(NULL, "%s: empty password", what);
    if (!jval_utf8_valid(pw))
        return cli_usage_error(NULL, "%s: the password is not valid UTF-8", what);
    return 0;
}

/* Checks the password pw of len bytes (or the error of reading it) and copies it to *ret. */
static int
password_copy(const char *what, const char *pw, int len, char **ret)
{
    int r = password_check(what, pw, len);
    char *copy = r >= 0 ? strdup(pw) : NULL;

    if (r < 0)
        return r;
    if (!copy)
        return cli_oom();
    *ret = copy;
    return 0;
}

static int
password_from_fd(int fd, const char *what, char **ret)
{
    char buf[PASSWORD_BUF] = "";
    int len = read_line(fd, buf, sizeof(buf));
    int r = password_copy(what, buf, len, ret);

    OPENSSL_cleanse(buf, sizeof(buf));
    return r;
}

/* Prompts on the terminal with echo off. */
static int
password_prompt_once(int tty, const char *prompt, char **ret)
{
    struct termios old, quiet;
    int r;

    if (tcgetattr(tty, &old) < 0) {
        cli_error("cannot read the terminal settings: %m");
        return -errno;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &quiet) < 0) {
        cli_error("cannot prompt for the password: %m");
        return -errno;
    }
    r = password_from_fd(tty, "terminal", ret);
    tcsetattr(tty, TCSAFLUSH, &old);
    /* The newline the user typed was not echoed. */
    (void)!write(tty, "\n", 1);
    return r;
}

static int
password_prompt(const struct password_source *src, char **ret)
{
    _cleanup_close_ int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    _cleanup_(secret_freep) char *first = NULL, *again = NULL;
    int r;

    if (tty < 0)
        return cli_usage_error(NULL, "no password: pass --password-stdin or set %s",
                               src->env_name ? src->env_name : "it");
    r = password_prompt_once(tty, src->prompt, &first);
    if (r >= 0 && src->confirm)
        r = password_prompt_once(tty, "Repeat the password: ", &again);
    if (r < 0)
        return r;
    if (again && strcmp(first, again) != 0)
        return cli_usage_error(NULL, "the passwords do not match");
    *ret = TAKE_PTR(first);
    return 0;
}

int
password_read(const struct password_source *src, char **ret)
{
    const char *env = src->env_name ? getenv(src->env_name) : NULL;

    if (src->from_stdin)
        return password_from_fd(STDIN_FILENO, "--password-stdin", ret);
    if (env && *env)
        return password_copy(src->env_name, env, (int)strnlen(env, PASSWORD_MAX + 1), ret);
    if (src->optional) {
        *ret = NULL;
        return 0;
    }
    if (!src->prompt)
        return cli_usage_error(NULL, "no password: pass --password-stdin%s%s",
                               src->env_name ? " or set " : "", src->env_name ? src->env_name : "");
    return password_prompt(src, ret);
}
