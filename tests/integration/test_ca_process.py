"""The CA process (SPEC 2.1): one per manager, the only one that signs; killed at any moment it
is restarted and every worker reaches the new one over the same socket; a worker restarted in
its place reaches it too. Zone creation with each account goes through it."""

import os
import signal
import threading

import requests

import cloister_testlib as lib
from cloister_testlib import expect, new_user, unique

CA = "cl-ca"
WORKER = "cl-worker"


def zone_of(c, acct_id):
    c.select(acct_id)
    zones = expect(c.get("/v1/zones"), 200)["items"]
    assert len(zones) == 1, zones
    return zones[0]


def test_one_ca_process_signs_zone_creation(manager):
    [ca_pid] = manager.pids(CA)
    workers = manager.pids(WORKER)
    assert ca_pid not in workers
    c = new_user(manager)
    acct = c.create_account()
    zone = zone_of(c, acct["acct_id"])
    resp = c.get(f"/v1/zones/{zone['zone_id']}/ca")
    expect(resp, 200)
    assert resp.text.count("BEGIN CERTIFICATE") == 2


def test_ca_process_killed_is_restarted_and_serves_every_worker(manager):
    c = new_user(manager)
    [old] = manager.pids(CA)
    os.kill(old, signal.SIGKILL)
    lib.wait_until(lambda: manager.pids(CA) and manager.pids(CA) != [old], 10,
                   what="a new CA process")
    # Enough accounts that every worker creates zones through the new CA process.
    for _ in range(3 * len(manager.pids(WORKER))):
        acct = c.clone().create_account()
        zone_of(c, acct["acct_id"])


def test_ca_process_killed_during_a_burst_of_account_creations(manager):
    owner = new_user(manager)
    results = []
    lock = threading.Lock()
    stop = threading.Event()

    def run():
        c = owner.clone()
        while not stop.is_set():
            name = unique("burst")
            try:
                r = c.post("/v1/accounts", json={"name": name}, timeout=30)
            except requests.RequestException:
                continue
            with lock:
                results.append((name, r.status_code, r.json() if r.content else None))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    lib.wait_until(lambda: len(results) >= 5, 30, what="first accounts")
    [old] = manager.pids(CA)
    os.kill(old, signal.SIGKILL)
    lib.wait_until(lambda: manager.pids(CA) and manager.pids(CA) != [old], 10,
                   what="a new CA process")
    n = len(results)
    lib.wait_until(lambda: len(results) >= n + 5, 60, what="accounts after the restart")
    stop.set()
    for t in threads:
        t.join(60)

    # Every account that was acknowledged has its zone; failures during the gap are clean
    # errors (no 500 with a half-made account).
    statuses = {s for _, s, _ in results}
    assert statuses <= {201, 503}, statuses
    made = [body for _, s, body in results if s == 201]
    assert made
    for body in made:
        zone_of(owner, body["acct_id"])
    names = {a["name"] for a in owner.list_all("/v1/accounts")}
    for name, s, _ in results:
        if s == 503:
            assert name not in names, f"refused account {name} was stored"
    manager.check_sanitizers()


def test_restarted_worker_reaches_the_ca_process(manager):
    c = new_user(manager)
    for pid in manager.pids(WORKER):
        os.kill(pid, signal.SIGKILL)
    lib.wait_until(lambda: len(manager.pids(WORKER)) >= 1, 10, what="workers back")
    manager.wait_healthy()
    for _ in range(4):
        acct = c.clone().create_account()
        zone_of(c, acct["acct_id"])
