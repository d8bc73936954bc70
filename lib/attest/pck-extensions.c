/* libattest: the SGX extensions of a PCK certificate (pck-extensions.h), after Intel's "SGX PCK
 * Certificate and CRL Profile" and the checks of Intel QVL's PckCertificate, Tcb and
 * Configuration parsers.
 *
 * The extension comes from a certificate inside the quote, i.e. from the party being verified
 * (until the chain is checked), so it is read with a small DER reader of our own: every length is
 * checked against its container, the nesting is fixed (extension, member, TCB or Configuration,
 * their members) and walked without recursion. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "pck-extensions.h"

#define TAG_BOOLEAN 0x01u
#define TAG_INTEGER 0x02u
#define TAG_OCTET_STRING 0x04u
#define TAG_OID 0x06u
#define TAG_ENUMERATED 0x0au
#define TAG_SEQUENCE 0x30u

/* Members of the extension (…13.1.N), of TCB (…13.1.2.N) and of Configuration (…13.1.7.N). */
enum {
    ARC_PPID = 1,
    ARC_TCB = 2,
    ARC_PCE_ID = 3,
    ARC_FMSPC = 4,
    ARC_SGX_TYPE = 5,
    ARC_PLATFORM_INSTANCE_ID = 6,
    ARC_CONFIGURATION = 7,
    ARC_TCB_PCESVN = 17,
    ARC_TCB_CPUSVN = 18,
    ARC_CONFIG_DYNAMIC_PLATFORM = 1,
    ARC_CONFIG_CACHED_KEYS = 2,
    ARC_CONFIG_SMT_ENABLED = 3,
};

#define SGX_TYPE_MAX 2u /* Scalable with integrity */

/* 1.2.840.113741.1.13.1, then its TCB (.2) and Configuration (.7) members' prefixes. */
static const uint8_t oid_sgx[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };
static const uint8_t oid_tcb[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x02 };
static const uint8_t oid_config[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x07 };

static const char *const member_names[] = {
    [ARC_PPID] = "PPID",
    [ARC_TCB] = "TCB",
    [ARC_PCE_ID] = "PCE-ID",
    [ARC_FMSPC] = "FMSPC",
    [ARC_SGX_TYPE] = "SGX Type",
    [ARC_PLATFORM_INSTANCE_ID] = "PlatformInstanceID",
    [ARC_CONFIGURATION] = "Configuration",
};

static const char *const config_names[] = {
    [ARC_CONFIG_DYNAMIC_PLATFORM] = "dynamicPlatform",
    [ARC_CONFIG_CACHED_KEYS] = "cachedKeys",
    [ARC_CONFIG_SMT_ENABLED] = "SMTEnabled",
};

/* The bytes still to read in one DER container. */
struct der {
    const uint8_t *p;
    size_t left;
};

static int
malformed(struct attest_failure *failure, const char *member, const char *why)
{
    return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EBADMSG,
                              "PCK SGX extension malformed: %s: %s", member, why);
}

/* Reads one TLV off d. Only what DER allows and this extension needs: low tag numbers, and
 * definite lengths in the shortest form, at most two length bytes. */
static bool
der_next(struct der *d, uint8_t *ret_tag, struct der *ret_value)
{
    size_t header = 2, length;

    if (d->left < 2 || (d->p[0] & 0x1fu) == 0x1fu)
        return false;
    length = d->p[1];
    if (length == 0x81u) {
        if (d->left < 3 || d->p[2] < 0x80u)
            return false;
        length = d->p[2];
        header = 3;
    } else if (length == 0x82u) {
        if (d->left < 4 || d->p[2] == 0)
            return false;
        length = (size_t)d->p[2] << 8 | d->p[3];
        header = 4;
    } else if (length >= 0x80u) {
        return false;
    }
    if (length > d->left - header)
        return false;
    *ret_tag = d->p[0];
    *ret_value = (struct der){ .p = d->p + header, .left = length };
    d->p += header + length;
    d->left -= header + length;
    return true;
}

/* The contents of the next TLV of d, which must have tag. */
static bool
der_expect(struct der *d, uint8_t tag, struct der *ret_value)
{
    uint8_t got;

    return der_next(d, &got, ret_value) && got == tag;
}

/* One member SEQUENCE { OID prefix.arc, value } off seq: *ret_arc is 0 for an OID that is not
 * prefix followed by one arc below 128 (no member of this extension has a larger one). */
static bool
member_next(struct der *seq, const uint8_t *prefix, size_t prefix_size, unsigned *ret_arc,
            uint8_t *ret_tag, struct der *ret_value)
{
    struct der member, oid;

    if (!der_expect(seq, TAG_SEQUENCE, &member) || !der_expect(&member, TAG_OID, &oid) ||
        !der_next(&member, ret_tag, ret_value) || member.left != 0)
        return false;
    *ret_arc = 0;
    if (oid.left == prefix_size + 1 && memcmp(oid.p, prefix, prefix_size) == 0 &&
        oid.p[prefix_size] < 0x80u)
        *ret_arc = oid.p[prefix_size];
    return true;
}

static int
octets_read(const char *name, uint8_t tag, struct der value, uint8_t *out, size_t size,
            struct attest_failure *failure)
{
    if (tag != TAG_OCTET_STRING)
        return malformed(failure, name, "not an OCTET STRING");
    if (value.left != size)
        return malformed(failure, name, "wrong size");
    memcpy(out, value.p, size);
    return 0;
}

/* A non-negative INTEGER or ENUMERATED (want) in its shortest form, at most max. */
static int
uint_read(const char *name, uint8_t want, uint8_t tag, struct der value, unsigned max,
          unsigned *ret, struct attest_failure *failure)
{
    unsigned v = 0;

    if (tag != want)
        return malformed(failure, name, want == TAG_INTEGER ? "not an INTEGER" : "not ENUMERATED");
    if (value.left == 0 || (value.p[0] & 0x80u))
        return malformed(failure, name, "empty or negative");
    if (value.left > 1 && value.p[0] == 0 && !(value.p[1] & 0x80u))
        return malformed(failure, name, "not in its shortest form");
    /* max is at most 65535: three bytes with the sign byte. */
    if (value.left > 3)
        return malformed(failure, name, "out of range");
    for (size_t i = 0; i < value.left; i++)
        v = v << 8 | value.p[i];
    if (v > max)
        return malformed(failure, name, "out of range");
    *ret = v;
    return 0;
}

static int
bool_read(const char *name, uint8_t tag, struct der value, bool *ret,
          struct attest_failure *failure)
{
    if (tag != TAG_BOOLEAN)
        return malformed(failure, name, "not a BOOLEAN");
    if (value.left != 1 || (value.p[0] != 0x00 && value.p[0] != 0xff))
        return malformed(failure, name, "not a DER BOOLEAN");
    *ret = value.p[0] == 0xff;
    return 0;
}

static void
tcb_member_name(unsigned arc, char *out, size_t size)
{
    if (arc == ARC_TCB_PCESVN)
        (void)snprintf(out, size, "PCESVN");
    else if (arc == ARC_TCB_CPUSVN)
        (void)snprintf(out, size, "CPUSVN");
    else
        (void)snprintf(out, size, "TCB component %02u", arc);
}

/* SEQUENCE of comp01..comp16 SVNs, PCESVN and CPUSVN, each exactly once. */
static int
tcb_parse(uint8_t tag, struct der value, struct pck_extensions *ext, struct attest_failure *failure)
{
    uint32_t seen = 0;
    unsigned arc, v = 0;
    uint8_t member_tag;
    struct der member;
    char name[32];
    int r;

    if (tag != TAG_SEQUENCE)
        return malformed(failure, "TCB", "not a SEQUENCE");
    while (value.left > 0) {
        if (!member_next(&value, oid_tcb, sizeof(oid_tcb), &arc, &member_tag, &member))
            return malformed(failure, "TCB", "member is not SEQUENCE { OID, value }");
        if (arc < 1 || arc > ARC_TCB_CPUSVN)
            return malformed(failure, "TCB", "unknown member");
        if (seen & (UINT32_C(1) << arc))
            return malformed(failure, "TCB", "member present twice");
        seen |= UINT32_C(1) << arc;
        if (arc == ARC_TCB_CPUSVN) {
            r = octets_read("CPUSVN", member_tag, member, ext->cpusvn, sizeof(ext->cpusvn),
                            failure);
        } else if (arc == ARC_TCB_PCESVN) {
            r = uint_read("PCESVN", TAG_INTEGER, member_tag, member, UINT16_MAX, &v, failure);
            ext->pcesvn = (uint16_t)v;
        } else {
            tcb_member_name(arc, name, sizeof(name));
            r = uint_read(name, TAG_INTEGER, member_tag, member, UINT8_MAX, &v, failure);
            ext->tcb_components[arc - 1] = (uint8_t)v;
        }
        if (r < 0)
            return r;
    }
    for (arc = 1; arc <= ARC_TCB_CPUSVN; arc++)
        if (!(seen & (UINT32_C(1) << arc))) {
            tcb_member_name(arc, name, sizeof(name));
            return malformed(failure, name, "missing");
        }
    return 0;
}

/* SEQUENCE of dynamicPlatform, cachedKeys and SMTEnabled, each exactly once (as Intel QVL
 * requires: a missing SMTEnabled must not read as "SMT off"). */
static int
configuration_parse(uint8_t tag, struct der value, struct pck_extensions *ext,
                    struct attest_failure *failure)
{
    bool *fields[] = {
        [ARC_CONFIG_DYNAMIC_PLATFORM] = &ext->dynamic_platform,
        [ARC_CONFIG_CACHED_KEYS] = &ext->cached_keys,
        [ARC_CONFIG_SMT_ENABLED] = &ext->smt_enabled,
    };
    unsigned seen = 0, arc;
    uint8_t member_tag;
    struct der member;
    int r;

    if (tag != TAG_SEQUENCE)
        return malformed(failure, "Configuration", "not a SEQUENCE");
    while (value.left > 0) {
        if (!member_next(&value, oid_config, sizeof(oid_config), &arc, &member_tag, &member))
            return malformed(failure, "Configuration", "member is not SEQUENCE { OID, value }");
        if (arc < ARC_CONFIG_DYNAMIC_PLATFORM || arc > ARC_CONFIG_SMT_ENABLED)
            return malformed(failure, "Configuration", "unknown member");
        if (seen & (1u << arc))
            return malformed(failure, config_names[arc], "present twice");
        seen |= 1u << arc;
        r = bool_read(config_names[arc], member_tag, member, fields[arc], failure);
        if (r < 0)
            return r;
    }
    if (seen != 0xeu)
        return malformed(failure, "Configuration", "a member is missing");
    ext->has_configuration = true;
    return 0;
}

static int
member_parse(unsigned arc, uint8_t tag, struct der value, struct pck_extensions *ext,
             struct attest_failure *failure)
{
    unsigned v = 0;
    int r;

    switch (arc) {
    case ARC_PPID:
        return octets_read("PPID", tag, value, ext->ppid, sizeof(ext->ppid), failure);
    case ARC_TCB:
        return tcb_parse(tag, value, ext, failure);
    case ARC_PCE_ID:
        return octets_read("PCE-ID", tag, value, ext->pce_id, sizeof(ext->pce_id), failure);
    case ARC_FMSPC:
        return octets_read("FMSPC", tag, value, ext->fmspc, sizeof(ext->fmspc), failure);
    case ARC_SGX_TYPE:
        r = uint_read("SGX Type", TAG_ENUMERATED, tag, value, SGX_TYPE_MAX, &v, failure);
        ext->sgx_type = v;
        return r;
    case ARC_PLATFORM_INSTANCE_ID:
        ext->has_platform_instance_id = true;
        return octets_read("PlatformInstanceID", tag, value, ext->platform_instance_id,
                           sizeof(ext->platform_instance_id), failure);
    case ARC_CONFIGURATION:
        return configuration_parse(tag, value, ext, failure);
    }
    return malformed(failure, "extension", "unknown member");
}

int
pck_extensions_parse(const uint8_t *der, size_t size, struct pck_extensions *ret,
                     struct attest_failure *failure)
{
    struct pck_extensions ext = { 0 };
    struct der all = { .p = der, .left = size }, top, value;
    unsigned seen = 0, arc;
    uint8_t tag;
    int r;

    if (!der || !ret || size > PCK_EXTENSIONS_DER_MAX)
        return malformed(failure, "extension", "missing or too large");
    if (!der_expect(&all, TAG_SEQUENCE, &top) || all.left != 0)
        return malformed(failure, "extension", "not one SEQUENCE");
    while (top.left > 0) {
        if (!member_next(&top, oid_sgx, sizeof(oid_sgx), &arc, &tag, &value))
            return malformed(failure, "extension", "member is not SEQUENCE { OID, value }");
        if (arc < ARC_PPID || arc > ARC_CONFIGURATION)
            return malformed(failure, "extension", "unknown member");
        if (seen & (1u << arc))
            return malformed(failure, member_names[arc], "present twice");
        seen |= 1u << arc;
        r = member_parse(arc, tag, value, &ext, failure);
        if (r < 0)
            return r;
    }
    for (arc = ARC_PPID; arc <= ARC_SGX_TYPE; arc++)
        if (!(seen & (1u << arc)))
            return malformed(failure, member_names[arc], "missing");
    if (ext.has_platform_instance_id != ext.has_configuration)
        return malformed(failure, "extension",
                         "PlatformInstanceID and Configuration must come together");
    *ret = ext;
    return attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
}

int
pck_extensions_from_cert(X509 *cert, struct pck_extensions *ret, struct attest_failure *failure)
{
    const ASN1_OCTET_STRING *value = NULL;
    int count;

    if (!cert || !ret)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -EINVAL, "no PCK certificate");
    count = X509_get_ext_count(cert);
    for (int i = 0; i < count; i++) {
        X509_EXTENSION *extension = X509_get_ext(cert, i);
        const ASN1_OBJECT *object = X509_EXTENSION_get_object(extension);

        /* Matched by the OID's bytes: OpenSSL has no NID for it. */
        if (OBJ_length(object) != sizeof(oid_sgx) ||
            memcmp(OBJ_get0_data(object), oid_sgx, sizeof(oid_sgx)) != 0)
            continue;
        if (value)
            return malformed(failure, "extension", "present twice in the certificate");
        value = X509_EXTENSION_get_data(extension);
    }
    if (!value)
        return attest_failure_set(failure, ATTEST_STEP_CERT_CHAIN, -ENOENT,
                                  "PCK certificate has no SGX extension");
    return pck_extensions_parse(ASN1_STRING_get0_data(value), (size_t)ASN1_STRING_length(value),
                                ret, failure);
}
