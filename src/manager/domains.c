#include "domains.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define DNS_LABEL_MAX 63

/* A set under construction: owned lower-case copies, sorted and unique after set_finish(). */
struct domain_set {
    char **items;
    size_t n, allocated;
};

static void
set_release(struct domain_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
    *s = (struct domain_set){ 0 };
}

static char
ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
set_add(struct domain_set *s, const char *name)
{
    size_t len = strlen(name);
    char *copy;

    if (s->n >= DOMAINS_MAX)
        return -E2BIG;
    if (s->n == s->allocated) {
        size_t allocated = s->allocated ? 2 * s->allocated : 16;
        char **items = reallocarray(s->items, allocated, sizeof(*items));
        if (!items)
            return -ENOMEM;
        s->items = items;
        s->allocated = allocated;
    }
    copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        copy[i] = ascii_lower(name[i]);
    copy[len] = '\0';
    s->items[s->n++] = copy;
    return 0;
}

/* Adds the string items of array (anything else adds nothing). */
static int
set_add_array(struct domain_set *s, const json_t *array)
{
    size_t i;
    json_t *item;
    int r;

    if (!json_is_array(array))
        return 0;
    json_array_foreach(array, i, item) {
        if (!json_is_string(item))
            continue;
        r = set_add(s, json_string_value(item));
        if (r < 0)
            return r;
    }
    return 0;
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
set_finish(struct domain_set *s)
{
    size_t kept = 0;

    if (s->n == 0)
        return;
    qsort(s->items, s->n, sizeof(*s->items), compare_names);
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->items[kept], s->items[i]) == 0)
            free(s->items[i]);
        else
            s->items[++kept] = s->items[i];
    }
    s->n = kept + 1;
}

static bool
set_contains(const struct domain_set *s, const char *name)
{
    return s->n > 0 && bsearch(&name, s->items, s->n, sizeof(*s->items), compare_names) != NULL;
}

/* Builds the JSON array of the items of s that are not in exclude (may be NULL). */
static int
set_to_json(const struct domain_set *s, const struct domain_set *exclude, json_t **ret_domains)
{
    json_t *array = json_array();

    if (!array)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        if (exclude && set_contains(exclude, s->items[i]))
            continue;
        if (json_array_append_new(array, json_string(s->items[i])) < 0) {
            json_decref(array);
            return -ENOMEM;
        }
    }
    *ret_domains = array;
    return 0;
}

static bool
label_char(char c)
{
    c = ascii_lower(c);
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool
domain_is_dns_name(const char *name)
{
    size_t label = 0, total;

    if (!name)
        return false;
    if (strncmp(name, "*.", 2) == 0)
        name += 2;
    total = strlen(name);
    if (total == 0 || total > DOMAIN_NAME_MAX)
        return false;
    for (const char *p = name;; p++) {
        if (*p == '.' || *p == '\0') {
            /* A label is 1–63 characters and neither starts nor ends with a hyphen. */
            if (label == 0 || label > DNS_LABEL_MAX || p[-1] == '-' || p[-(long)label] == '-')
                return false;
            if (*p == '\0')
                return true;
            label = 0;
            continue;
        }
        if (!label_char(*p))
            return false;
        label++;
    }
}

int
domains_normalize(const json_t *domains, json_t **ret_domains)
{
    return domains_union(domains, NULL, ret_domains);
}

int
domains_union(const json_t *a, const json_t *b, json_t **ret_domains)
{
    _cleanup_(set_release) struct domain_set s = { 0 };
    int r;

    r = set_add_array(&s, a);
    if (r < 0)
        return r;
    r = set_add_array(&s, b);
    if (r < 0)
        return r;
    set_finish(&s);
    return set_to_json(&s, NULL, ret_domains);
}

int
domains_difference(const json_t *a, const json_t *b, json_t **ret_domains)
{
    _cleanup_(set_release) struct domain_set sa = { 0 };
    _cleanup_(set_release) struct domain_set sb = { 0 };
    int r;

    r = set_add_array(&sa, a);
    if (r < 0)
        return r;
    r = set_add_array(&sb, b);
    if (r < 0)
        return r;
    set_finish(&sa);
    set_finish(&sb);
    return set_to_json(&sa, &sb, ret_domains);
}

bool
domains_equal(const json_t *a, const json_t *b)
{
    json_t *na = NULL, *nb = NULL;
    bool equal;

    if (domains_normalize(a, &na) < 0 || domains_normalize(b, &nb) < 0) {
        json_decref(na);
        return false;
    }
    equal = json_equal(na, nb);
    json_decref(na);
    json_decref(nb);
    return equal;
}

int
domains_of_settings(const json_t *advanced_settings, json_t **ret_domains)
{
    const json_t *certificate = json_object_get(advanced_settings, "certificate");
    const json_t *subject = json_object_get(certificate, "subject");
    _cleanup_(set_release) struct domain_set s = { 0 };
    int r;

    r = set_add_array(&s, json_object_get(certificate, "alt_names"));
    if (r < 0)
        return r;
    /* A subject that is not a host name ("My service") names no domain to whitelist. */
    if (json_is_string(subject) && domain_is_dns_name(json_string_value(subject))) {
        r = set_add(&s, json_string_value(subject));
        if (r < 0)
            return r;
    }
    set_finish(&s);
    return set_to_json(&s, NULL, ret_domains);
}

int
domains_requested(const json_t *allowed_domains, const json_t *advanced_settings,
                  json_t **ret_domains)
{
    json_t *of_settings = NULL;
    int r;

    r = domains_of_settings(advanced_settings, &of_settings);
    if (r < 0)
        return r;
    r = domains_union(allowed_domains, of_settings, ret_domains);
    json_decref(of_settings);
    return r;
}
