/* The message of a failed image operation: what failed, where (layer, path, blob) and why, in
 * words a user can act on. Functions of src/image return a negative errno and, where they take
 * one, fill a struct image_error with the message. */
#pragma once

#include "cleanup.h"

struct image_error {
    char text[512];
};

/* Formats the message into e (if not NULL, and only the first one) and returns r. */
int image_errorf(struct image_error *e, int r, const char *fmt, ...) _printf_(3, 4);
