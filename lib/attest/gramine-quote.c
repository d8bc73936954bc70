/* libattest: SGX DCAP quotes from Gramine's /dev/attestation.
 *
 * Gramine semantics this relies on (libos/src/fs/dev/attestation.c): attestation_type holds the
 * manifest's sgx.remote_attestation ("none", "epid", "dcap") without a newline; the quote file
 * exists only when it is not "none"; user_report_data keeps what is written (padded with zeros
 * to 64 bytes) once the file is closed; opening quote asks the quoting enclave for a quote over
 * the current user_report_data and fails with EACCES when that fails. Nothing serialises two
 * threads, hence the report data check. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <attest/gramine.h>

#include "attest-util.h"
#include "cleanup.h"
#include "hw-io.h"

#define GRAMINE_TYPE_MAX 16u /* bytes of attestation_type read */
#define GRAMINE_RACED 1      /* gramine_attempt: another thread's report data */

/* Where an SGX quote's report data is: after the 48-byte header, at the end of the 384-byte
 * enclave report body (v3, and v4 with TEE type 0); v5 puts a 2-byte body type (1: SGX) and a
 * 4-byte body size before the body. */
#define GRAMINE_QUOTE_HEADER 48u
#define GRAMINE_REPORT_DATA_IN_BODY 320u
#define GRAMINE_SGX_BODY 384u
#define GRAMINE_V5_BODY_PREFIX 6u

static int
gramine_open_root(const char *root, int *ret_fd, struct attest_hw_error *error)
{
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        *ret_fd = fd;
        return 0;
    }
    if (errno == ENOENT)
        return hw_fail(error, -ENOENT, "%s does not exist: not running inside Gramine", root);
    return hw_fail(error, -errno, "cannot open %s: %s", root, strerror(errno));
}

static int
gramine_check_type(int root_fd, const char *root, struct attest_hw_error *error)
{
    _cleanup_free_ uint8_t *text = NULL;
    size_t size;
    int r;

    r = hw_read_file(root_fd, "attestation_type", GRAMINE_TYPE_MAX, &text, &size);
    if (r == -ENOENT)
        return hw_fail(error, r,
                       "%s/attestation_type does not exist: Gramine without SGX "
                       "(gramine-direct) cannot attest",
                       root);
    if (r == -EFBIG)
        return hw_fail(error, -EPROTONOSUPPORT, "%s/attestation_type is not dcap", root);
    if (r < 0)
        return hw_fail(error, r, "cannot read %s/attestation_type: %s", root, strerror(-r));
    if (size > 0 && text[size - 1] == '\n')
        text[--size] = '\0';
    if (size == 4 && memcmp(text, "dcap", 4) == 0)
        return 0;
    if (size == 4 && memcmp(text, "none", 4) == 0)
        return hw_fail(error, -EPROTONOSUPPORT,
                       "%s: remote attestation is off in this enclave (manifest "
                       "sgx.remote_attestation = \"none\"); set it to \"dcap\"",
                       root);
    if (size == 4 && memcmp(text, "epid", 4) == 0)
        return hw_fail(error, -EPROTONOSUPPORT,
                       "%s: EPID attestation is not supported (manifest "
                       "sgx.remote_attestation = \"epid\"); set it to \"dcap\"",
                       root);
    return hw_fail(error, -EPROTONOSUPPORT, "%s: attestation type is not dcap", root);
}

/* The report data of an SGX quote, or NULL when the bytes are not one. */
static const uint8_t *
gramine_quote_report_data(const uint8_t *quote, size_t size)
{
    size_t body = GRAMINE_QUOTE_HEADER;
    uint16_t version;

    if (size < GRAMINE_QUOTE_HEADER)
        return NULL;
    version = le16_read(quote);
    if (version == 4 && le32_read(quote + 4) != 0)
        return NULL; /* TEE type TDX */
    if (version == 5) {
        if (size < body + GRAMINE_V5_BODY_PREFIX || le16_read(quote + body) != 1)
            return NULL;
        body += GRAMINE_V5_BODY_PREFIX;
    } else if (version != 3 && version != 4) {
        return NULL;
    }
    if (size < body + GRAMINE_SGX_BODY)
        return NULL;
    return quote + body + GRAMINE_REPORT_DATA_IN_BODY;
}

/* One round: write the report data, read a quote, check it. 0, GRAMINE_RACED when the quote
 * carries another report data (positive, so that no errno is mistaken for it), or a negative
 * errno. */
static int
gramine_attempt(int root_fd, const char *root, const uint8_t *report_data, uint8_t **ret_quote,
                size_t *ret_size, struct attest_hw_error *error)
{
    _cleanup_free_ uint8_t *quote = NULL;
    const uint8_t *quoted;
    size_t size;
    int r;

    r = hw_write_file(root_fd, "user_report_data", report_data, ATTEST_REPORT_DATA_SIZE);
    if (r < 0)
        return hw_fail(error, r, "cannot write %s/user_report_data: %s", root, strerror(-r));
    r = hw_read_file(root_fd, "quote", ATTEST_GRAMINE_QUOTE_MAX, &quote, &size);
    if (r == -EFBIG)
        return hw_fail(error, r, "%s/quote is larger than %u bytes", root,
                       ATTEST_GRAMINE_QUOTE_MAX);
    if (r == -EACCES)
        return hw_fail(error, r,
                       "%s/quote: Gramine could not get a quote (is the AESM service "
                       "running and the DCAP quote provider library installed?)",
                       root);
    if (r < 0)
        return hw_fail(error, r, "cannot read %s/quote: %s", root, strerror(-r));
    quoted = gramine_quote_report_data(quote, size);
    if (!quoted)
        return hw_fail(error, -EBADMSG, "%s/quote (%zu bytes) is not an SGX DCAP quote", root,
                       size);
    if (CRYPTO_memcmp(quoted, report_data, ATTEST_REPORT_DATA_SIZE) != 0)
        return hw_fail(error, GRAMINE_RACED,
                       "%s/quote carries another report data: another thread wrote "
                       "user_report_data",
                       root);
    *ret_quote = TAKE_PTR(quote);
    *ret_size = size;
    return 0;
}

int
attest_gramine_check(const char *root, struct attest_hw_error *error)
{
    _cleanup_close_ int root_fd = -1;
    int r;

    if (error)
        error->reason[0] = '\0';
    if (!root)
        root = ATTEST_GRAMINE_ROOT;
    r = gramine_open_root(root, &root_fd, error);
    if (r < 0)
        return r;
    return gramine_check_type(root_fd, root, error);
}

int
attest_gramine_quote(const char *root, const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
                     uint8_t **ret_quote, size_t *ret_size, struct attest_hw_error *error)
{
    _cleanup_close_ int root_fd = -1;
    int r;

    if (error)
        error->reason[0] = '\0';
    if (!report_data || !ret_quote || !ret_size)
        return -EINVAL;
    if (!root)
        root = ATTEST_GRAMINE_ROOT;
    r = gramine_open_root(root, &root_fd, error);
    if (r < 0)
        return r;
    r = gramine_check_type(root_fd, root, error);
    if (r < 0)
        return r;
    for (unsigned attempt = 0; attempt < ATTEST_GRAMINE_ATTEMPTS; attempt++) {
        _cleanup_free_ uint8_t *quote = NULL;
        size_t size = 0;

        r = gramine_attempt(root_fd, root, report_data, &quote, &size, error);
        if (r == GRAMINE_RACED)
            continue;
        if (r < 0)
            return r;
        if (error)
            error->reason[0] = '\0';
        *ret_quote = TAKE_PTR(quote);
        *ret_size = size;
        return 0;
    }
    return hw_fail(error, -EBUSY,
                   "%s/quote carried another report data %u times: other threads of the "
                   "enclave keep writing user_report_data",
                   root, ATTEST_GRAMINE_ATTEMPTS);
}
