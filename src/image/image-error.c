#include <stdarg.h>
#include <stdio.h>

#include "image-error.h"

int
image_errorf(struct image_error *e, int r, const char *fmt, ...)
{
    va_list ap;

    if (!e || e->text[0])
        return r;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof(e->text), fmt, ap);
    va_end(ap);
    return r;
}
