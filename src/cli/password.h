/* Reading a password: one line from stdin (--password-stdin), else an environment variable,
 * else a prompt on the terminal with echo off. The result is a new string to be released with
 * secret_free(). */
#pragma once

#include <stdbool.h>

#define PASSWORD_MAX 1024u

struct password_source {
    bool from_stdin;      /* --password-stdin was given */
    const char *env_name; /* variable to read, or NULL */
    const char *prompt;   /* "Password: ", or NULL to never prompt */
    bool confirm;         /* prompt twice and compare */
    bool optional;        /* no source available means no password: *ret = NULL */
};

/* Returns -EINVAL (usage error) when no source is available, naming the options, unless the
 * password is optional. */
int password_read(const struct password_source *src, char **ret);
