/* The cached session: $XDG_CONFIG_HOME/cloister/session.json, else
 * ~/.config/cloister/session.json; the directory is mode 0700, the file 0600 and replaced
 * atomically (written to a temporary file, then renamed).
 *
 * Contents: {"url", "token", "email", "acct_id" (selected account, optional), "ca" (absolute
 * path of the CA file given at login, optional)}. The functions print their errors. */
#pragma once

#include "cleanup.h"

#define SESSION_FILE_MAX (64u << 10)

struct session {
    char *url;
    char *token;
    char *email;
    char *acct_id;
    char *ca;
};

struct session *session_new(void);
struct session *session_free(struct session *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct session, session_free)

/* Replaces *field by a copy of value (NULL clears it). */
int session_set(char **field, const char *value);

/* Loads the session; -ENOENT (silently) when there is none. */
int session_load(struct session **ret);
int session_save(const struct session *s);

/* Removes the session file; 0 when there was none. */
int session_remove(void);

/* Path of the session file (new string), for messages. */
int session_path(char **ret_path);
