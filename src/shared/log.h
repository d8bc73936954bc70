/* Structured logging for programs (libraries never log above debug).
 *
 * Each line is "time level program[pid]: message" on stderr, or JSON lines when
 * log_set_json(true). log_*_errno() return the negative errno they were given, so a caller can
 * log and fail in one statement: return log_error_errno(r, "Failed to open '%s': %m", path);
 * where %m prints strerror of that errno. */
#pragma once

#include <stdbool.h>

#include "cleanup.h"

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_OFF, /* as a maximum: log nothing (fuzz targets) */
};

void log_setup(const char *program, enum log_level max_level, bool json);
int log_internal(enum log_level level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_LEVEL_ERROR, (e), __VA_ARGS__)
