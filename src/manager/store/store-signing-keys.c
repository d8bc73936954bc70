#include "store-signing-keys.h"

int
store_signing_key_insert(struct store *store, const char *acct_id, const char *signer,
                         const char *public_key_pem, const char *key_sealed, const char *now)
{
    return store_exec(store,
                      "INSERT INTO signing_keys (acct_id, signer, public_key_pem, key_sealed,"
                      " created_at) VALUES (?, ?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(signer), SV_TEXT(public_key_pem),
                                 SV_TEXT(key_sealed), SV_TEXT(now)),
                      NULL);
}

int
store_signing_key_get(struct store *store, const char *acct_id, bool with_secret, json_t **ret_key)
{
    return store_query_json_object(store,
                                   with_secret ? "SELECT signer, public_key_pem, created_at,"
                                                 " key_sealed FROM signing_keys WHERE acct_id = ?"
                                               : "SELECT signer, public_key_pem, created_at"
                                                 " FROM signing_keys WHERE acct_id = ?",
                                   STORE_ARGS(SV_TEXT(acct_id)), ret_key);
}
