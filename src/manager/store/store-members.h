/* Memberships: user × account × role (table memberships). Roles are stored as their names
 * (READER, WRITER, MANAGER). */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

#define MEMBER_ROLE_MAX 16

/* -EEXIST when the user is already a member. */
int store_member_insert(struct store *store, const char *acct_id, const char *user_id,
                        const char *role, const char *now);
/* -ENOENT when user_id is not a member of acct_id. */
int store_member_update_role(struct store *store, const char *acct_id, const char *user_id,
                             const char *role);
int store_member_delete(struct store *store, const char *acct_id, const char *user_id);
/* The member's role name; -ENOENT when not a member. */
int store_member_get_role(struct store *store, const char *acct_id, const char *user_id,
                          char ret_role[MEMBER_ROLE_MAX]);
int store_member_count_role(struct store *store, const char *acct_id, const char *role,
                            int64_t *ret_count);

/* The wire member object: the user object plus "role"; -ENOENT when not a member. */
int store_member_get(struct store *store, const char *acct_id, const char *user_id,
                     json_t **ret_member);
/* The sort keys of GET /v1/users. */
extern const struct list_sort store_member_sorts[];
/* GET /v1/users: the page p asks for of the members of acct_id, only those with role unless it is
 * NULL; all_search looks in the e-mail and both names. */
int store_member_list(struct store *store, const char *acct_id, const char *role,
                      const struct list_params *p, struct list_page *ret_page);

/* [{acct_id, name, role}] of every account user_id belongs to, oldest first. */
int store_member_list_accounts(struct store *store, const char *user_id, json_t **ret_accounts);
