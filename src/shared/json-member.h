/* Reading one member of a JSON object (jansson) without checking its type first. */
#pragma once

#include <jansson.h>

/* A string member of object, or NULL (missing, not a string, object NULL). */
static inline const char *
member_text(const json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}
