#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cleanup.h"
#include "crypto-util.h"
#include "log.h"
#include "tls.h"

static int
ensure_dir(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return log_error_errno(errno, "Failed to create directory '%s': %m", path);
    return 0;
}

static int
write_new_file(const char *path, const void *data, size_t len)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0)
        return -errno;
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
        int err = -errno;
        unlink(path);
        return err ? err : -EIO;
    }
    return 0;
}

static int
create_master_key(const char *path)
{
    uint8_t key[MASTER_KEY_LEN];
    int r;

    r = crypto_random(key, sizeof(key));
    if (r >= 0)
        r = write_new_file(path, key, sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));
    /* Another process won the race to create it: theirs is the key. */
    if (r == -EEXIST)
        return 0;
    if (r < 0)
        return log_error_errno(r, "Failed to create master key '%s': %m", path);
    log_info("Created master key %s", path);
    return 0;
}

static bool
file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int
datadir_prepare(struct manager_config *config)
{
    char path[MANAGER_PATH_MAX + 64];
    int r;

    r = ensure_dir(config->data_dir);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/master.key", config->data_dir);
    if (!file_exists(path)) {
        r = create_master_key(path);
        if (r < 0)
            return r;
    }
    if (*config->tls_cert)
        return 0;
    snprintf(path, sizeof(path), "%s/tls", config->data_dir);
    r = ensure_dir(path);
    if (r < 0)
        return r;
    if (snprintf(config->tls_cert, sizeof(config->tls_cert), "%s/tls/server.crt",
                 config->data_dir) >= (int)sizeof(config->tls_cert) ||
        snprintf(config->tls_key, sizeof(config->tls_key), "%s/tls/server.key", config->data_dir) >=
            (int)sizeof(config->tls_key))
        return log_error_errno(ENAMETOOLONG, "Data directory path too long");
    if (file_exists(config->tls_cert) && file_exists(config->tls_key))
        return 0;
    r = tls_generate_self_signed(config->tls_cert, config->tls_key);
    if (r < 0)
        return log_error_errno(r, "Failed to generate the TLS certificate: %m");
    log_info("Generated self-signed TLS certificate %s", config->tls_cert);
    return 0;
}

static int
read_master_key(const char *path, uint8_t key[MASTER_KEY_LEN])
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    ssize_t n;

    if (fd < 0)
        return log_error_errno(errno, "Failed to open master key '%s': %m", path);
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_mode & 0077)
        return log_error_errno(EPERM,
                               "Master key '%s' is readable by others (mode %o); "
                               "chmod 600 it",
                               path, st.st_mode & 0777);
    n = read(fd, key, MASTER_KEY_LEN + 1);
    if (n != MASTER_KEY_LEN)
        return log_error_errno(EBADMSG, "Master key '%s' must be exactly %d bytes", path,
                               MASTER_KEY_LEN);
    return 0;
}

/* A public name of the master key: a one-way derivation, so it reveals nothing of the key. */
static int
derive_key_id(const uint8_t master[MASTER_KEY_LEN], char out[33])
{
    uint8_t id[16];
    int r;

    r = hkdf_sha256(master, MASTER_KEY_LEN, "cloister master key id v1", id, sizeof(id));
    if (r >= 0)
        hex_encode(id, sizeof(id), out);
    return r;
}

int
datadir_load_keys(const struct manager_config *config, struct manager_keys *ret_keys)
{
    char path[MANAGER_PATH_MAX + 64];
    uint8_t master[MASTER_KEY_LEN + 1];
    int r;

    snprintf(path, sizeof(path), "%s/master.key", config->data_dir);
    r = read_master_key(path, master);
    if (r >= 0)
        r = hkdf_sha256(master, MASTER_KEY_LEN, "cloister seal key v1", ret_keys->seal_key,
                        sizeof(ret_keys->seal_key));
    if (r >= 0)
        r = hkdf_sha256(master, MASTER_KEY_LEN, "cloister audit key v1", ret_keys->audit_seed,
                        sizeof(ret_keys->audit_seed));
    if (r >= 0)
        r = hkdf_sha256(master, MASTER_KEY_LEN, "cloister nonce key v1", ret_keys->nonce_key,
                        sizeof(ret_keys->nonce_key));
    if (r >= 0)
        r = derive_key_id(master, ret_keys->key_id);
    OPENSSL_cleanse(master, sizeof(master));
    return r;
}
