/* The data directory: created on first start with the master key (0600), the TLS identity and
 * the database; keys derived from the master key. */
#pragma once

#include "manager.h"

#define MASTER_KEY_LEN 32

/* Creates what is missing (directory 0700, master.key, tls/server.{crt,key} unless the
 * configuration names a certificate) and fills in the TLS paths in config. */
int datadir_prepare(struct manager_config *config);

/* Reads the master key and derives the keys every process and replica shares. */
int datadir_load_keys(const struct manager_config *config, struct manager_keys *ret_keys);
