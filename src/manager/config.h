/* The manager's configuration: defaults, then the INI file (--config), then flags. */
#pragma once

#include "manager.h"

void config_defaults(struct manager_config *config);
/* Reads an INI file; an unknown section/key or a bad value fails naming it and its line. */
int config_load_file(struct manager_config *config, const char *path);
/* The same for INI text in memory; name stands for the file in messages. */
int config_load_string(struct manager_config *config, const char *text, const char *name);
/* Fills what depends on other settings (store URL in the data dir). */
int config_finish(struct manager_config *config);
