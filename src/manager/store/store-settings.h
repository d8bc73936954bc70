/* Facts about the whole deployment, shared by every replica through the store. */
#pragma once

#include "store.h"

/* Records key_id (the master key's public id) on first start and checks it on every later one:
 * replicas must share one master key, or sealed secrets and audit checkpoints would not open.
 * -EKEYREJECTED (logged, naming the fix) when this replica's key is another. */
int store_check_master_key(struct store *store, const char *key_id);

/* The id of the master key the store was created with, in ret_id; "" when none is recorded yet
 * (no manager has started on it). */
int store_master_key_id(struct store *store, char *ret_id, size_t size);
