/* Fuzz target for the manager's INI configuration parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manager_config config;
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    log_setup("fuzz-config", LOG_LEVEL_OFF, false);
    config_defaults(&config);
    if (config_load_string(&config, text, "fuzz.ini") == 0 && config_finish(&config) == 0) {
        /* Whatever was accepted must be within the documented ranges. */
        if (config.workers < 0 || config.workers > 256 || config.token_ttl < 1 ||
            config.max_body_bytes < 1024 || !memchr(config.listen, '\0', sizeof(config.listen)))
            __builtin_trap();
    }
    free(text);
    return 0;
}
