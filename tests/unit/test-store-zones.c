/* store-zones and store-nodes on both backends: join tokens are consumed exactly as often as
 * they allow, also by racing connections (as several replicas would); unknown, expired and used
 * tokens are told apart; zones and nodes are scoped to their account; node status is computed
 * from the last check-in; a check-in updates the node's app instances in one statement. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto-util.h"
#include "store-accounts.h"
#include "store-nodes.h"
#include "store-zones.h"
#include "store.h"
#include "test-store-util.h"
#include "test.h"

#define ACCT_A "0a000000-0000-4000-8000-000000000001"
#define ACCT_B "0b000000-0000-4000-8000-000000000002"
#define ZONE_A "1a000000-0000-4000-8000-000000000001"
#define NODE_A "2a000000-0000-4000-8000-000000000001"
#define APP_A "3a000000-0000-4000-8000-000000000001"
#define RACERS 8
#define RACE_USES 3

static const char *const ts = "2026-01-01T00:00:00.000Z";

static void
exec_ok(struct store *store, const char *sql, const struct store_value *args, size_t n_args)
{
    int r = store_exec(store, sql, args, n_args, NULL);

    if (r < 0)
        fprintf(stderr, "  %s: %s\n", sql, strerror(-r));
    CHECK_EQ_INT(r, 0);
}

static void
add_account(struct store *s, const char *acct_id)
{
    CHECK_EQ_INT(store_account_insert(s,
                                      &(struct account_record){
                                          .acct_id = acct_id,
                                          .name = acct_id,
                                          .description = "",
                                          .settings = { 1, false, 86400, 50, 30 },
                                          .now = ts,
                                      }),
                 0);
}

/* Account A with zone A (placeholder CA material: nothing here signs) and account B. */
static void
fill(struct store *s)
{
    struct ca_zone_sealed sealed = { "root-pem", "issuing-pem", "root-sealed", "issuing-sealed" };

    add_account(s, ACCT_A);
    add_account(s, ACCT_B);
    CHECK_EQ_INT(store_zone_insert(s,
                                   &(struct zone_new){
                                       .zone_id = ZONE_A,
                                       .acct_id = ACCT_A,
                                       .name = ZONE_DEFAULT_NAME,
                                       .trust_domain = ZONE_A ZONE_TRUST_DOMAIN_SUFFIX,
                                       .key_type = "P-256",
                                       .sealed = &sealed,
                                       .node_refresh_interval = 30,
                                       .node_renewal_threshold = 50,
                                       .now = ts,
                                   }),
                 0);
}

static void
add_token(struct store *s, const char *hash, int64_t uses, int64_t expires_ms)
{
    CHECK_EQ_INT(store_join_token_insert(s,
                                         &(struct join_token_new){
                                             .token_hash = hash,
                                             .zone_id = ZONE_A,
                                             .acct_id = ACCT_A,
                                             .uses = uses,
                                             .expires_ms = expires_ms,
                                             .created_by = "tester",
                                             .now = ts,
                                         }),
                 0);
}

static int
consume(struct store *s, const char *hash, int64_t now_ms, struct join_token_use *use)
{
    int r = store_begin(s, STORE_TXN_WRITE);

    if (r < 0)
        return r;
    r = store_join_token_consume(s, hash, now_ms, use);
    if (r == 0)
        return store_commit(s);
    store_rollback(s);
    return r;
}

TEST(token_uses_and_refusals)
{
    struct test_store db;
    struct join_token_use use = { "" };
    int64_t now = 1700000000000;

    test_store_open(&db);
    fill(db.store);
    add_token(db.store, "h-two", 2, now + 60000);
    add_token(db.store, "h-old", 5, now - 1);

    CHECK_EQ_INT(consume(db.store, "h-two", now, &use), 0);
    CHECK_EQ_STR(use.zone_id, ZONE_A);
    CHECK_EQ_STR(use.acct_id, ACCT_A);
    CHECK_EQ_INT(use.uses_total, 2);
    CHECK_EQ_INT(consume(db.store, "h-two", now, &use), 0);
    CHECK_EQ_INT(consume(db.store, "h-two", now, &use), -EUSERS);
    CHECK_EQ_INT(use.uses_total, 2);
    /* Used up and later expired: expired is what it says. */
    CHECK_EQ_INT(consume(db.store, "h-two", now + 60000, &use), -ETIME);
    CHECK_EQ_INT(consume(db.store, "h-old", now, &use), -ETIME);
    CHECK_EQ_INT(consume(db.store, "h-none", now, &use), -ENOENT);
    test_store_close(&db);
}

struct racer {
    struct store *store;
    int result;
};

static void *
race(void *arg)
{
    struct racer *racer = arg;
    struct join_token_use use;

    /* A busy SQLite file is a retry, not a refusal: the token decides. */
    do
        racer->result = consume(racer->store, "h-race", 1700000000000, &use);
    while (racer->result == -EBUSY);
    return NULL;
}

TEST(racing_connections_take_no_more_uses_than_there_are)
{
    struct test_store db;
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    int won = 0, lost = 0;

    test_store_open(&db);
    fill(db.store);
    add_token(db.store, "h-race", RACE_USES, 1700000060000);
    for (size_t i = 0; i < RACERS; i++)
        racers[i] = (struct racer){ .store = test_store_connect(&db) };
    for (size_t i = 0; i < RACERS; i++)
        CHECK_EQ_INT(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    for (size_t i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        if (racers[i].result == 0)
            won++;
        else if (racers[i].result == -EUSERS)
            lost++;
        else
            fprintf(stderr, "  racer %zu: %s\n", i, strerror(-racers[i].result));
        store_close(racers[i].store);
    }
    CHECK_EQ_INT(won, RACE_USES);
    CHECK_EQ_INT(lost, RACERS - RACE_USES);
    test_store_close(&db);
}

TEST(zones_are_scoped_to_their_account)
{
    struct test_store db;
    struct zone_info info;
    json_t *zone = NULL;

    test_store_open(&db);
    fill(db.store);
    CHECK_EQ_INT(store_zone_get(db.store, ACCT_A, ZONE_A, &zone), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(zone, "trust_domain")),
                 ZONE_A ZONE_TRUST_DOMAIN_SUFFIX);
    CHECK_EQ_STR(json_string_value(json_object_get(zone, "certificate")), "root-pem");
    CHECK(!json_object_get(zone, "root_key_sealed") &&
          !json_object_get(zone, "issuing_key_sealed"));
    json_decref(zone);
    CHECK_EQ_INT(store_zone_get(db.store, ACCT_B, ZONE_A, &zone), -ENOENT);
    CHECK_EQ_INT(store_zone_info(db.store, ACCT_B, ZONE_A, &info), -ENOENT);
    CHECK_EQ_INT(store_zone_info(db.store, ACCT_A, ZONE_A, &info), 0);
    CHECK_EQ_STR(info.issuing_cert_pem, "issuing-pem");
    CHECK_EQ_INT(info.node_refresh_interval, 30);
    zone_info_release(&info);
    test_store_close(&db);
}

TEST(status_from_last_check_in)
{
    int64_t now = 1700000000000;

    CHECK_EQ_STR(node_status_at(NODE_STATUS_ACTIVE, now, 30, now), NODE_STATUS_RUNNING);
    CHECK_EQ_STR(node_status_at(NODE_STATUS_ACTIVE, now - 90000, 30, now), NODE_STATUS_RUNNING);
    CHECK_EQ_STR(node_status_at(NODE_STATUS_ACTIVE, now - 90001, 30, now), NODE_STATUS_STOPPED);
    CHECK_EQ_STR(node_status_at(NODE_STATUS_DEACTIVATED, now, 30, now), NODE_STATUS_DEACTIVATED);
}

static void
add_node_and_instances(struct store *s, char ids[3][37])
{
    CHECK_EQ_INT(store_node_insert(s,
                                   &(struct node_new){
                                       .node_id = NODE_A,
                                       .acct_id = ACCT_A,
                                       .zone_id = ZONE_A,
                                       .name = "n1",
                                       .ipaddress = "10.0.0.1",
                                       .attestation_type = "NONE",
                                       .cert_serial = "00",
                                       .now = ts,
                                       .now_ms = 1,
                                   }),
                 0);
    exec_ok(s,
            "INSERT INTO apps (app_id, acct_id, name, input_image_name, output_image_name,"
            " isvprodid, isvsvn, mem_size, threads, allowed_domains, whitelisted_domains, labels,"
            " advanced_settings, created_at, updated_at)"
            " VALUES (?, ?, 'a', 'i', 'o', 1, 1, 1, 1, '[]', '[]', '{}', '{}', ?, ?)",
            STORE_ARGS(SV_TEXT(APP_A), SV_TEXT(ACCT_A), SV_TEXT(ts), SV_TEXT(ts)));
    for (int i = 0; i < 3; i++) {
        char build[8];

        CHECK_EQ_INT(uuid_random(ids[i]), 0);
        snprintf(build, sizeof(build), "b%d", i);
        exec_ok(s,
                "INSERT INTO app_instances (instance_id, acct_id, app_id, build_id, node_id,"
                " attested_at, last_seen_ms, status_updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                STORE_ARGS(SV_TEXT(ids[i]), SV_TEXT(ACCT_A), SV_TEXT(APP_A), SV_TEXT(build),
                           SV_TEXT(NODE_A), SV_TEXT(ts), SV_TEXT(ts)));
    }
}

/* The instance's (stopped, last_seen_ms). */
static void
instance_state(struct store *s, const char *id, int64_t *stopped, int64_t *seen)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;

    CHECK_EQ_INT(store_query_row(s,
                                 "SELECT stopped, last_seen_ms FROM app_instances"
                                 " WHERE instance_id = ?",
                                 STORE_ARGS(SV_TEXT(id)), &rows),
                 0);
    *stopped = store_rows_int(rows, 0);
    *seen = store_rows_int(rows, 1);
}

TEST(check_in_updates_listed_instances_and_stops_the_others)
{
    struct test_store db;
    char ids[3][37];
    const char *listed[2];
    int64_t stopped, seen;
    struct node_checkin c;

    test_store_open(&db);
    fill(db.store);
    add_node_and_instances(db.store, ids);
    CHECK_EQ_INT(store_node_checkin(db.store, NODE_A, "1.2", 5000, ts, &c), 0);
    CHECK_EQ_INT(c.prev_seen_ms, 1);
    CHECK_EQ_INT(c.node_refresh_interval, 30);
    CHECK_EQ_INT(c.node_renewal_threshold, 50);

    listed[0] = ids[0];
    listed[1] = ids[2];
    CHECK_EQ_INT(store_node_instances_seen(db.store, NODE_A, listed, 2, 5000, ts), 0);
    instance_state(db.store, ids[0], &stopped, &seen);
    CHECK(stopped == 0 && seen == 5000);
    instance_state(db.store, ids[1], &stopped, &seen);
    CHECK(stopped == 1 && seen == 0);
    instance_state(db.store, ids[2], &stopped, &seen);
    CHECK(stopped == 0 && seen == 5000);

    listed[0] = ids[1];
    CHECK_EQ_INT(store_node_instances_seen(db.store, NODE_A, listed, 1, 6000, ts), 0);
    instance_state(db.store, ids[0], &stopped, &seen);
    CHECK(stopped == 1 && seen == 5000);
    instance_state(db.store, ids[1], &stopped, &seen);
    CHECK(stopped == 0 && seen == 6000);

    CHECK_EQ_INT(store_node_instances_seen(db.store, NODE_A, NULL, 0, 7000, ts), 0);
    instance_state(db.store, ids[1], &stopped, &seen);
    CHECK(stopped == 1 && seen == 6000);

    listed[0] = "not-a-uuid";
    CHECK_EQ_INT(store_node_instances_seen(db.store, NODE_A, listed, 1, 7000, ts), -EINVAL);
    test_store_close(&db);
}

TEST(deactivation_is_scoped_and_final)
{
    struct test_store db;
    char ids[3][37];
    json_t *node = NULL;

    test_store_open(&db);
    fill(db.store);
    add_node_and_instances(db.store, ids);
    CHECK_EQ_INT(store_node_get(db.store, ACCT_B, NODE_A, false, &node), -ENOENT);
    CHECK_EQ_INT(store_node_deactivate(db.store, ACCT_B, NODE_A, ts), -ENOENT);
    CHECK_EQ_INT(store_node_deactivate(db.store, ACCT_A, NODE_A, ts), 0);
    CHECK_EQ_INT(store_node_deactivate(db.store, ACCT_A, NODE_A, ts), -EALREADY);
    CHECK_EQ_INT(store_node_get(db.store, ACCT_A, NODE_A, false, &node), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(node, "status"), "status")),
                 NODE_STATUS_DEACTIVATED);
    CHECK(!json_object_get(node, "stored_status"));
    json_decref(node);
    test_store_close(&db);
}

TEST_MAIN(TEST_CASE_ON_BACKENDS(token_uses_and_refusals),
          TEST_CASE_ON_BACKENDS(racing_connections_take_no_more_uses_than_there_are),
          TEST_CASE_ON_BACKENDS(zones_are_scoped_to_their_account),
          TEST_CASE(status_from_last_check_in),
          TEST_CASE_ON_BACKENDS(check_in_updates_listed_instances_and_stops_the_others),
          TEST_CASE_ON_BACKENDS(deactivation_is_scoped_and_final))
