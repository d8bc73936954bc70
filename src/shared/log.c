#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "cloister";
static enum log_level log_max = LOG_LEVEL_INFO;
static bool log_json;

static const char *const level_names[] = { "debug", "info", "warning", "error", "off" };

void
log_setup(const char *program, enum log_level level, bool json)
{
    log_program = program;
    log_max = level;
    log_json = json;
}

/* Escapes a message for a JSON string value; control characters become spaces. */
static void
write_json_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fputc(' ', out);
        else
            fputc(c, out);
    }
}

/* Replaces each "%m" by strerror(error) so callers can name the errno they were handed. */
static void
expand_errno(char *dst, size_t size, const char *fmt, int error)
{
    size_t n = 0;

    for (const char *p = fmt; *p && n + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 'm') {
            const char *msg = strerror(error);
            size_t len = strlen(msg);
            if (n + len >= size)
                break;
            memcpy(dst + n, msg, len);
            n += len;
            p++;
        } else {
            dst[n++] = *p;
        }
    }
    dst[n] = '\0';
}

int
log_internal(enum log_level level, int error, const char *fmt, ...)
{
    char format[1024], message[4096], stamp[32];
    int saved = errno;
    int e = error < 0 ? -error : error;
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < log_max)
        return error < 0 ? error : -e;

    expand_errno(format, sizeof(format), fmt, e ? e : saved);
    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(message, sizeof(message), format, ap);
#pragma GCC diagnostic pop
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    if (log_json) {
        fprintf(stderr,
                "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"program\":\"%s\",\"pid\":%d,\"msg\":\"",
                stamp, ts.tv_nsec / 1000000, level_names[level], log_program, (int)getpid());
        write_json_escaped(stderr, message);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s.%03ldZ %s %s[%d]: %s\n", stamp, ts.tv_nsec / 1000000,
                level_names[level], log_program, (int)getpid(), message);
    }
    errno = saved;
    return -e;
}
