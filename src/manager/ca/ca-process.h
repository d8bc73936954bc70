/* The CA process (SPEC 2.1): the one process that holds zone CA private keys. Others reach it over
 * a socketpair, one per client process, with a request/response protocol:
 *
 *   frame    = length (4 bytes, big-endian, 1..CA_FRAME_MAX) ‖ JSON object of that length
 *   requests = {"op":"create_zone","zone_id":…,"name":…,"key_type":"P-384"|"P-256","id":…}
 *              {"op":"issue","zone_id":…,"profile":{…},"csr_hex"|"spki_hex":…,"id":…}
 *              {"op":"crl","zone_id":…,"id":…}
 *   replies  = {"ok":true,…,"id":…} or {"ok":false,"errno":<positive errno>,"message":…,"id":…}
 *
 * The sockets are SOCK_SEQPACKET: one frame is one message, so a process that dies mid-request
 * never leaves the socket out of step for the one restarted in its place. Each request carries a
 * random id echoed in its reply; the client drops replies to other ids (an earlier request that
 * timed out, or one a dead predecessor sent).
 *
 * docs/ca.md lists every field. One request at a time per socket: the client waits for the reply
 * before it sends the next.
 *
 * create_zone generates the keys inside the CA process and returns the sealed material
 * (ca-keys.h) for the caller to store; the zone stays loaded in the CA process. issue loads a zone
 * on first use through the server's load callback (which reads the sealed material from the
 * store) and keeps up to CA_SERVER_ZONES_MAX zones loaded. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ca-crl.h"
#include "ca-issue.h"
#include "ca-keys.h"

#define CA_FRAME_MAX (64u << 10)
#define CA_SERVER_ZONES_MAX 256
#define CA_IO_TIMEOUT_MS 10000 /* longest wait for the rest of a frame, or for a reply */

/* Fetches the sealed material of zone_id (the caller of ca_server_serve supplies it, from the
 * store): 0 and *ret_sealed (owned by the server afterwards), -ENOENT when there is no such zone,
 * or another negative errno. */
typedef int (*ca_zone_loader)(void *userdata, const char *zone_id,
                              struct ca_zone_sealed **ret_sealed);

/* Lists the revoked certificates of zone_id and its current CRL number, for the crl op: 0 and
 * *ret (malloc'd, owned by the server afterwards; NULL when n is 0), or a negative errno. */
typedef int (*ca_revoked_lister)(void *userdata, const char *zone_id, int64_t *ret_crl_number,
                                 struct ca_revoked **ret, size_t *ret_n);

struct ca_server;

/* A server with its own copy of seal_key (cleansed by ca_server_free). */
int ca_server_new(const uint8_t seal_key[SEAL_KEY_LEN], ca_zone_loader load, void *userdata,
                  struct ca_server **ret_server);
/* Enables the crl op (same userdata as the loader). */
void ca_server_set_revoked_lister(struct ca_server *server, ca_revoked_lister list_revoked);
struct ca_server *ca_server_free(struct ca_server *server);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ca_server, ca_server_free);

/* Answers one request read from fd. 0 when answered (also with an error reply) or when a
 * malformed frame was consumed and ignored; -EPIPE when the peer closed the socket, another
 * negative errno when the socket failed. */
int ca_server_handle(struct ca_server *server, int fd);

/* Serves requests on fds until every peer has closed its end or failed: then returns 0. A failing
 * peer is no longer polled (fds stay the caller's); the others go on. */
int ca_server_serve(struct ca_server *server, const int *fds, size_t n_fds);

/* Client side, blocking (at most CA_IO_TIMEOUT_MS per step). On an error reply, the server's
 * errno comes back negated and its message is in error->message (error may be NULL). */
int ca_client_create_zone(int fd, const char *zone_id, const char *name, enum ca_key_type type,
                          struct ca_error *error, struct ca_zone_sealed **ret_sealed);
/* The zone's current CRL, PEM (the caller frees *ret_pem). */
int ca_client_crl(int fd, const char *zone_id, struct ca_error *error, char **ret_pem);
int ca_client_issue(int fd, const char *zone_id, const struct ca_profile *profile, const void *csr,
                    size_t csr_len, struct ca_error *error, struct ca_issued **ret_issued);
/* The same for the DER SubjectPublicKeyInfo of a CSR the caller checked (ca_csr_parse_req): the
 * CA process does not parse or verify the CSR again (docs/ca.md). */
int ca_client_issue_spki(int fd, const char *zone_id, const struct ca_profile *profile,
                         const void *spki, size_t spki_len, struct ca_error *error,
                         struct ca_issued **ret_issued);
/* ca_client_issue_spki in two halves, so that a caller can have several requests with the CA
 * process at once (a batch of issuances): the request goes out, its id into *ret_id; later, its
 * reply is read. Replies come back in the order of the requests: read them in that order (a
 * reply to a request whose reply is not read is dropped by the next read). */
int ca_client_issue_spki_send(int fd, const char *zone_id, const struct ca_profile *profile,
                              const void *spki, size_t spki_len, uint64_t *ret_id);
int ca_client_issue_recv(int fd, uint64_t id, struct ca_error *error,
                         struct ca_issued **ret_issued);
