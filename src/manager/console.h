/* The web console: its static files served at / by every API worker (docs/console.md). */
#pragma once

#include <stdbool.h>

#include <event2/http.h>

/* Answers a GET or HEAD of a console file (/ is /index.html) and returns the status sent (200,
 * 304); 0, sending nothing, when path names no console file or the method is another.
 * directory: "" for the files embedded at build time; else a web/console directory to serve
 * from disk instead (console development: edit and reload, no rebuild). */
int console_serve(struct evhttp_request *http, const char *path, const char *directory);

/* The headers every console answer carries, a strict Content-Security-Policy first. */
void console_add_security_headers(struct evkeyvalq *headers);
