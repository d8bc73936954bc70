/* libattest: hardware evidence producers on the attested machine itself.
 *
 * - configfs-tsm (Linux >= 6.7, Documentation/ABI/testing/configfs-tsm-report): TDX quotes
 *   (provider "tdx_guest") and SEV-SNP reports with their certificate table (provider
 *   "sev_guest") from /sys/kernel/config/tsm/report. This header.
 * - Gramine's /dev/attestation: SGX DCAP quotes from inside an enclave. gramine.h.
 * - attest_hw_detect(): which of the two this machine has, so that a program (the node agent,
 *   cloister-init) can pick one. This header.
 *
 * These functions only produce evidence; verifying it is intel.h's and snp.h's job. They keep no
 * state between calls and may be called from several threads at once (each configfs-tsm call
 * works in its own report entry). Roots are parameters so that tests and containers can point
 * them elsewhere; NULL means the default path.
 *
 * Errors follow claims.h (negative errno). Every function also takes an optional
 * `struct attest_hw_error *error` that receives, on failure, a sentence naming the file and the
 * cause, fit for a log line ("/sys/kernel/config/tsm/report does not exist: ..."). The library
 * itself never logs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <attest/claims.h>
#include <attest/evidence.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_TSM_ROOT "/sys/kernel/config/tsm/report"
#define ATTEST_TSM_BLOB_MAX (64u << 10)    /* bytes of outblob, and of auxblob */
#define ATTEST_TSM_PRIVLEVEL_MAX 3u        /* the kernel's TSM_REPORT_PRIVLEVEL_MAX */
#define ATTEST_TSM_PRIVLEVEL_DEFAULT (~0u) /* do not write privlevel: the kernel's default */
#define ATTEST_TSM_ATTEMPTS 4u             /* report entries tried before -EBUSY */
#define ATTEST_TSM_PROVIDER_SIZE 32u       /* bytes of a provider name with its NUL */

/* Why producing evidence failed (see above). Empty ("") when the function succeeded or failed
 * before it could say more (bad arguments, -ENOMEM). */
struct attest_hw_error {
    char reason[ATTEST_FAILURE_REASON_SIZE];
};

/* A report read from configfs-tsm. */
struct attest_tsm_report {
    enum attest_platform platform;           /* ATTEST_PLATFORM_TDX or ATTEST_PLATFORM_SNP */
    char provider[ATTEST_TSM_PROVIDER_SIZE]; /* "tdx_guest" or "sev_guest", no newline */
    /* tdx: the DCAP quote (v4 or v5, as the quoting service made it, trailing bytes included);
     * snp: the 1184-byte attestation report. Its report_data is the caller's 64 bytes. */
    uint8_t *outblob;
    size_t outblob_size; /* 1..ATTEST_TSM_BLOB_MAX */
    /* snp: the GHCB certificate table (24-byte entries {GUID, u32 offset, u32 length}, all-zero
     * terminator; VCEK/VLEK, ASK, ARK) when the host provides one; otherwise NULL and 0.
     * tdx: always NULL and 0. */
    uint8_t *auxblob;
    size_t auxblob_size;
    uint64_t generation; /* the entry's generation after our writes (checked) */
};

/* Produces a report whose report data is the 64 bytes given, from the configfs-tsm directory
 * root (NULL: ATTEST_TSM_ROOT). Needs the rights to mkdir there (root).
 *
 * One attempt: mkdir a new entry named "cloister-<pid>-<random>" (mode 0700); read provider
 * ("tdx_guest" -> tdx, "sev_guest" -> snp, before anything is generated); read generation (G);
 * write the 64 bytes to inblob; write privlevel unless it is ATTEST_TSM_PRIVLEVEL_DEFAULT; read
 * outblob, and auxblob where the entry has one; read generation again. configfs-tsm bumps
 * generation once per write, so it must now be G + 1, or G + 2 with privlevel: any other value
 * means another writer used the entry in between, and the report may carry its data. Then a new
 * entry is tried, at most ATTEST_TSM_ATTEMPTS entries in all. Every entry made is removed
 * (rmdir) before returning, on success and on every failure.
 *
 * privlevel: ATTEST_TSM_PRIVLEVEL_DEFAULT leaves the kernel's default (0; right for a VMPL-0
 * SEV-SNP guest and for TDX). 0..ATTEST_TSM_PRIVLEVEL_MAX requests that privilege level (SEV-SNP
 * VMPL; a guest under an SVSM must ask for at least its privlevel_floor).
 *
 * Errors: -EINVAL (NULL report_data or ret, privlevel out of range, or refused by the kernel:
 * below privlevel_floor); -ENOENT (root does not exist: no configfs-tsm in this kernel, or
 * configfs not mounted); -ENOTDIR; -EACCES/-EPERM (not allowed to mkdir: not root); -ENXIO (no
 * provider registered: neither tdx_guest nor sev_guest is loaded); -EPROTONOSUPPORT (another
 * provider, e.g. "arm_cca_guest"); -EOPNOTSUPP (privlevel requested but the provider has none:
 * tdx_guest); -EFBIG (outblob or auxblob larger than ATTEST_TSM_BLOB_MAX); -EIO (empty
 * outblob, or a malformed generation or provider); -EBUSY (the generation check failed in
 * every attempt); -ENOMEM; other negative errno from the kernel's read of outblob (e.g. the TDX
 * quoting service is unreachable). *ret is the caller's (attest_tsm_report_free). */
ATTEST_EXPORT int attest_tsm_report(const char *root,
                                    const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
                                    unsigned privlevel, struct attest_tsm_report **ret,
                                    struct attest_hw_error *error);

/* Frees report (NULL is fine); returns NULL. */
ATTEST_EXPORT struct attest_tsm_report *attest_tsm_report_free(struct attest_tsm_report *report);

/* The report as evidence: type report->platform, data a copy of the outblob (the quote or the
 * SNP report). The auxblob is not part of the envelope: a caller that needs the SNP certificates
 * sends report->auxblob alongside (it is the certificate table the SNP verifier reads).
 * -EINVAL (NULL, empty, unknown platform), -ENOMEM. *ret is the caller's
 * (attest_evidence_free). */
ATTEST_EXPORT int attest_tsm_report_to_evidence(const struct attest_tsm_report *report,
                                                struct attest_evidence **ret);

/* The platform behind the configfs-tsm directory root (NULL: ATTEST_TSM_ROOT), without
 * generating a report: makes an entry, reads its provider and removes the entry. Errors as
 * attest_tsm_report (-ENOENT, -ENXIO, -EPROTONOSUPPORT, -EACCES, ...). */
ATTEST_EXPORT int attest_tsm_platform(const char *root, enum attest_platform *ret_platform,
                                      struct attest_hw_error *error);

/* Which evidence producer a machine has. */
enum attest_hw_producer {
    ATTEST_HW_NONE = 0,    /* neither: no TEE here (a program may fall back to "sim") */
    ATTEST_HW_TSM = 1,     /* configfs-tsm with tdx_guest or sev_guest: attest_tsm_report */
    ATTEST_HW_GRAMINE = 2, /* Gramine SGX with DCAP: attest_gramine_quote (gramine.h) */
};

/* Where to look; NULL members (or a NULL struct) mean the defaults ATTEST_TSM_ROOT and
 * ATTEST_GRAMINE_ROOT. */
struct attest_hw_roots {
    const char *tsm;
    const char *gramine;
};

struct attest_hw_info {
    enum attest_hw_producer producer;
    enum attest_platform platform; /* tdx, snp or sgx-dcap; 0 with ATTEST_HW_NONE */
};

/* Finds the producer. Gramine is looked at first: a process inside a Gramine enclave is
 * identified by its enclave, whatever VM it runs in. Gramine is there when its root exists;
 * then it must be usable (attestation_type "dcap") or this fails (-EPROTONOSUPPORT for "none"
 * or "epid"), since falling back to another producer would hide a misconfigured enclave.
 * Otherwise configfs-tsm is there when its root exists and a provider is registered; then the
 * provider must be tdx_guest or sev_guest (attest_tsm_platform makes and removes one entry).
 * ATTEST_HW_NONE (return 0) only when neither root exists, or configfs-tsm has no provider
 * (-ENXIO from the kernel): the machine is then not a TEE guest. Any other failure (permission,
 * I/O) is returned, so that it is never mistaken for "no TEE". -EINVAL for a NULL ret. */
ATTEST_EXPORT int attest_hw_detect(const struct attest_hw_roots *roots, struct attest_hw_info *ret,
                                   struct attest_hw_error *error);

/* Raw evidence for report_data from the producer attest_hw_detect found (info; roots as given
 * to it): Gramine's quote, or configfs-tsm's outblob (an SNP report's certificate table is
 * left out: use attest_tsm_report for it). *ret is malloc'd, *ret_size bytes; of type
 * info->platform. Errors as attest_gramine_quote / attest_tsm_report; -EINVAL for
 * ATTEST_HW_NONE. */
ATTEST_EXPORT int attest_hw_evidence(const struct attest_hw_roots *roots,
                                     const struct attest_hw_info *info,
                                     const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
                                     uint8_t **ret, size_t *ret_size,
                                     struct attest_hw_error *error);

#ifdef __cplusplus
}
#endif
