/* Scope-bound cleanup, after systemd's cleanup attributes.
 *
 * A variable declared with _cleanup_(fn) has fn(&var) called when it leaves scope. Ownership is
 * handed on with TAKE_PTR()/TAKE_FD(), which return the value and reset the variable. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _taken = (p);                                                                \
        (p) = NULL;                                                                                \
        _taken;                                                                                    \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _taken_fd = (fd);                                                                      \
        (fd) = -1;                                                                                 \
        _taken_fd;                                                                                 \
    })

static inline void
freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void
closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void
fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Defines name##p(type **) calling fn on a non-NULL pointer, for use with _cleanup_(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, fn)                                                      \
    static inline void fn##p(type **p)                                                             \
    {                                                                                              \
        if (*p)                                                                                    \
            fn(*p);                                                                                \
    }
