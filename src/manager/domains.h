/* The domains an application asks for, as sets of DNS names.
 *
 * An app asks for allowed_domains ∪ advanced_settings.certificate.alt_names ∪ the certificate's
 * subject when it is a DNS name. The manager compares that set with the app's
 * whitelisted_domains: what is asked for but not whitelisted needs approval (domains_added);
 * what is whitelisted but no longer asked for leaves at once (domains_removed).
 *
 * Every function here is pure: it reads JSON arrays of strings (non-string items are ignored; a
 * NULL or non-array argument is the empty set) and returns a new array (the caller owns it)
 * whose items are lower-cased, de-duplicated and sorted bytewise. Errors: -ENOMEM, -E2BIG when
 * a set has more than DOMAINS_MAX items. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

/* Far above what a validated body can ask for (3 × 64 + 1); guards the pure functions. */
#define DOMAINS_MAX 4096
#define DOMAIN_NAME_MAX 253

/* True when name is a host name (labels of letters, digits and inner hyphens, ≤ 63 bytes each,
 * ≤ 253 in all), optionally preceded by "*." — in any letter case. */
bool domain_is_dns_name(const char *name);

/* The set of the strings in domains. */
int domains_normalize(const json_t *domains, json_t **ret_domains);

/* a ∪ b and a − b. */
int domains_union(const json_t *a, const json_t *b, json_t **ret_domains);
int domains_difference(const json_t *a, const json_t *b, json_t **ret_domains);

/* True when a and b hold the same set (after normalisation); false also when out of memory. */
bool domains_equal(const json_t *a, const json_t *b);

/* The domains of an app's advanced_settings (an object or NULL): certificate.alt_names and the
 * certificate subject when it is a DNS name. */
int domains_of_settings(const json_t *advanced_settings, json_t **ret_domains);

/* What an app asks for: allowed_domains ∪ domains_of_settings(advanced_settings). */
int domains_requested(const json_t *allowed_domains, const json_t *advanced_settings,
                      json_t **ret_domains);
