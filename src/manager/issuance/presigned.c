#include "presigned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static json_t *
claims_json(const struct ca_claims *c)
{
    if (!c)
        return json_null();
    return json_pack("[s, s, I, I, s, s, s]", c->measurement, c->signer, (json_int_t)c->isvprodid,
                     (json_int_t)c->isvsvn, c->platform, c->tcb_status, c->node_id ?: "");
}

int
presigned_profile_key(const char *zone_id, const struct ca_profile *profile, const char *spki_hex,
                      char **ret_key)
{
    json_auto_t *names = json_array(), *key = NULL;
    char *text;

    if (!names)
        return -ENOMEM;
    for (size_t i = 0; i < profile->n_dns_names; i++)
        if (json_array_append_new(names, json_string(profile->dns_names[i])) < 0)
            return -ENOMEM;
    key = json_pack("[s, i, s?, s?, s?, O, o, I, s]", zone_id, (int)profile->kind,
                    profile->trust_domain, profile->app_name, profile->node_id, names,
                    claims_json(profile->claims), (json_int_t)profile->validity_seconds, spki_hex);
    if (!key)
        return -ENOMEM;
    text = json_dumps(key, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    *ret_key = text;
    return 0;
}

int
presigned_to_json(const struct ca_issued *issued, const char *key, json_t **ret_json)
{
    json_t *json =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "key", key, "cert_pem", issued->cert_pem,
                  "chain_pem", issued->chain_pem, "serial_hex", issued->serial_hex, "not_before",
                  (json_int_t)issued->not_before, "not_after", (json_int_t)issued->not_after);

    if (!json)
        return -ENOMEM;
    *ret_json = json;
    return 0;
}

int
presigned_from_json(const json_t *json, const char *key, struct ca_issued **ret_issued)
{
    _cleanup_(ca_issued_freep) struct ca_issued *issued = NULL;
    const char *signed_for = NULL, *cert = NULL, *chain = NULL, *serial = NULL;
    json_int_t not_before = 0, not_after = 0;

    if (json_unpack((json_t *)json, "{s:s, s:s, s:s, s:s, s:I, s:I}", "key", &signed_for,
                    "cert_pem", &cert, "chain_pem", &chain, "serial_hex", &serial, "not_before",
                    &not_before, "not_after", &not_after) < 0 ||
        strlen(serial) >= sizeof(issued->serial_hex))
        return -EINVAL;
    if (strcmp(signed_for, key) != 0)
        return -ESTALE;
    issued = calloc(1, sizeof(*issued));
    if (!issued)
        return -ENOMEM;
    issued->cert_pem = strdup(cert);
    issued->chain_pem = strdup(chain);
    if (!issued->cert_pem || !issued->chain_pem)
        return -ENOMEM;
    memcpy(issued->serial_hex, serial, strlen(serial) + 1);
    issued->not_before = not_before;
    issued->not_after = not_after;
    *ret_issued = TAKE_PTR(issued);
    return 0;
}
