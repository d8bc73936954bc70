/* Facts about the whole deployment, shared by every replica through the store. */
#pragma once

#include "store.h"

/* Records key_id (the master key's public id) on first start and checks it on every later one:
 * replicas must share one master key, or sealed secrets and audit checkpoints would not open.
 * -EKEYREJECTED (logged, naming the fix) when this replica's key is another. */
int store_check_master_key(struct store *store, const char *key_id);
