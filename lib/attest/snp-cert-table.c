/* libattest: the GHCB extended-report certificate table (attest_snp_cert_table_parse), as AMD's
 * "SEV-ES Guest-Hypervisor Communication Block Standardization" defines it for
 * SNP_GET_EXT_REPORT and Linux hands it out as configfs-tsm's auxblob. */
#include <errno.h>
#include <string.h>

#include <attest/snp.h>

#include "attest-util.h"

#define ENTRY_SIZE 24u
#define GUID_SIZE 16u

enum cert_kind {
    CERT_VCEK,
    CERT_VLEK,
    CERT_ASK,
    CERT_ARK,
    CERT_KINDS,
};

/* The GUIDs in RFC 4122 string order, which is the table's byte order. */
static const struct {
    const char *name;
    uint8_t guid[GUID_SIZE];
} known[CERT_KINDS] = {
    [CERT_VCEK] = { "vcek",
                    { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b,
                      0xe8, 0xac, 0xcd } },
    [CERT_VLEK] = { "vlek",
                    { 0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45,
                      0xa0, 0xb8, 0xa1 } },
    [CERT_ASK] = { "ask",
                   { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3,
                     0x27, 0xc7, 0x82 } },
    [CERT_ARK] = { "ark",
                   { 0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01,
                     0x4c, 0xd0, 0xae } },
};

static bool
entry_is_terminator(const uint8_t *entry)
{
    for (size_t i = 0; i < ENTRY_SIZE; i++)
        if (entry[i])
            return false;
    return true;
}

/* The entries up to and including the terminator: the part certificates must not overlap. */
static int
table_size(const uint8_t *blob, size_t size, size_t *ret_size, struct attest_failure *failure)
{
    for (size_t n = 0; n < ATTEST_SNP_CERT_TABLE_ENTRIES_MAX; n++) {
        if ((n + 1) * ENTRY_SIZE > size)
            return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                      "collateral malformed: certificate table has no terminator");
        if (entry_is_terminator(blob + n * ENTRY_SIZE)) {
            *ret_size = (n + 1) * ENTRY_SIZE;
            return 0;
        }
    }
    return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -E2BIG,
                              "collateral malformed: certificate table has more than %u entries",
                              ATTEST_SNP_CERT_TABLE_ENTRIES_MAX);
}

static int
entry_read(const uint8_t *blob, size_t size, size_t header, size_t index,
           struct attest_bytes found[CERT_KINDS], struct attest_failure *failure)
{
    const uint8_t *entry = blob + index * ENTRY_SIZE;
    uint32_t offset = le32_read(entry + GUID_SIZE), length = le32_read(entry + GUID_SIZE + 4);

    /* In 64 bits the sum cannot wrap. */
    if (length == 0 || offset < header || (uint64_t)offset + length > size)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                  "collateral malformed: certificate table entry %zu (offset %u, "
                                  "length %u) is outside the blob or over the table",
                                  index, offset, length);
    for (size_t k = 0; k < CERT_KINDS; k++) {
        if (memcmp(entry, known[k].guid, GUID_SIZE) != 0)
            continue;
        if (found[k].data)
            return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EBADMSG,
                                      "collateral malformed: certificate table has two %s entries",
                                      known[k].name);
        found[k].data = blob + offset;
        found[k].size = length;
    }
    return 0;
}

int
attest_snp_cert_table_parse(const uint8_t *blob, size_t size, struct attest_snp_cert_files *ret,
                            struct attest_failure *failure)
{
    struct attest_bytes found[CERT_KINDS] = { 0 };
    size_t header = 0;
    int r;

    if (!blob || !ret)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -EINVAL,
                                  "collateral missing: certificate table");
    if (size > ATTEST_SNP_CERT_TABLE_MAX)
        return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, -E2BIG,
                                  "collateral malformed: certificate table is larger than %u bytes",
                                  ATTEST_SNP_CERT_TABLE_MAX);
    r = table_size(blob, size, &header, failure);
    if (r < 0)
        return r;
    for (size_t i = 0; i + 1 < header / ENTRY_SIZE; i++) {
        r = entry_read(blob, size, header, i, found, failure);
        if (r < 0)
            return r;
    }
    *ret = (struct attest_snp_cert_files){
        .vcek = found[CERT_VLEK].data ? found[CERT_VLEK] : found[CERT_VCEK],
        .ask = found[CERT_ASK],
        .ark = found[CERT_ARK],
    };
    return attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
}
