"""Conversion jobs with two cloister-manager replicas on one store, on both backends (SQLite: two
managers on one database file; PostgreSQL: one database), with a real registry
(docs/convert.md, "In the manager").

- Every job is taken by exactly one runner of one replica: a burst of jobs sent to both
  replicas ends with each build PENDING after its first attempt, one BUILD_WHITELIST task and
  one "Converted" audit event each, and each conversion logged by one replica only.
- A runner that stalls (SIGSTOP) loses its job once its lease runs out: the other replica takes
  it over and records it; when the stalled runner wakes up and finishes, it records nothing (its
  attempt number no longer matches the job's: the fencing token), so the build keeps the
  second attempt's result.
"""

import os
import signal
import sqlite3
import subprocess
import time

import pytest

import cloister_testlib as lib
import oci_fixtures as fx
from cloister_testlib import expect, new_user
from registry_server import Registry
from replica_lb import lb_client
from test_init import INIT_BIN, binaries

USER, PASSWORD = "bob", "replica-pw"
LEASE_SECONDS = 3
TIMEOUT = 120
JOBS = 8


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry holding in-app:1.0: the tiny image plus 16 MiB of random data, so that a
    conversion lasts long enough to catch its runner."""
    reg = Registry(tmp_path_factory.mktemp("rep-registry"), auth="htpasswd",
                   users={USER: PASSWORD})
    reg.start()
    big = fx.Layer([fx.file("/data/blob", os.urandom(16 << 20))])
    src = fx.tiny_image(tmp_path_factory.mktemp("rep-input") / "in", extra_layers=[big])
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                    "--dest-creds", f"{USER}:{PASSWORD}", f"oci:{src.path}:latest",
                    f"docker://{reg.host}/in-app:1.0"], check=True, capture_output=True,
                   timeout=120)
    yield reg
    reg.close()


def conversion_config(workers):
    return {"conversion": {"plain_http_loopback": "true", "init": str(INIT_BIN),
                           "workers": str(workers), "lease_seconds": str(LEASE_SECONDS)}}


def start_replica(first, tmp_path_factory, name):
    r = first.replica(tmp_path_factory.mktemp(name), name=name)
    try:
        r.start()
    except BaseException:
        r.close()
        raise
    return r


def account(m, registry):
    owner = new_user(m, "rep-conv")
    owner.select(owner.create_account(lib.unique("rep-conv"))["acct_id"])
    expect(owner.post("/v1/registry", json={"url": registry.host, "username": USER,
                                             "password": PASSWORD}), 201)
    return owner


def new_app(owner, registry, isvsvn):
    """An app of its own per job: another isvsvn, so another measurement."""
    return owner.create_app(input_image_name=f"{registry.host}/in-app",
                            output_image_name=f"{registry.host}/rep-out", isvsvn=isvsvn)


def convert(client, app, tag):
    return expect(client.post("/v1/builds/convert-app",
                              json={"app_id": app["app_id"], "docker_version": "1.0",
                                    "output_docker_version": tag}), 201)["build_id"]


def wait_status(client, build_id, statuses, timeout=TIMEOUT):
    seen = {}

    def done():
        seen["b"] = client.build(build_id)
        return seen["b"]["status"]["status"] in statuses
    lib.wait_until(done, timeout, interval=0.1, what=f"build {build_id} in {statuses}")
    return seen["b"]


def build_tasks(client, build_id):
    return [t for t in client.list_all("/v1/tasks", entity_id=build_id)
            if t["task_type"] == "BUILD_WHITELIST"]


def converted_events(client, build_id):
    return [e for e in client.list_all("/v1/events", action_type="IMAGE_CONVERSION")
            if e["message"].startswith("Converted app") and build_id in e["message"]]


def test_each_job_runs_once_across_replicas(manager_factory, tmp_path_factory, registry):
    binaries()
    first = manager_factory(conversion_config(2), name="conv-rep-a")
    second = start_replica(first, tmp_path_factory, "conv-rep-b")
    try:
        owner = account(first, registry)
        via_second = lb_client(second, like=owner)
        apps = [new_app(owner, registry, isvsvn=10 + i) for i in range(JOBS)]
        ids = [convert(owner if i % 2 else via_second, app, f"once-{i}")
               for i, app in enumerate(apps)]
        for build_id in ids:
            b = wait_status(owner, build_id, ("PENDING", "FAILED"))
            log = b["conversion"]["log"]
            assert b["status"]["status"] == "PENDING", log
            assert "(attempt 1)" in log and "(attempt 2)" not in log, log
            assert len(build_tasks(owner, build_id)) == 1
            assert len(converted_events(owner, build_id)) == 1
        logs = {m.name: m.log_text() for m in (first, second)}
        ran = {name: [i for i in ids if f"Conversion {i} done" in text]
               for name, text in logs.items()}
        for build_id in ids:
            runs = sum(text.count(f"Conversion {build_id} done") for text in logs.values())
            assert runs == 1, f"{build_id} converted {runs} times"
        print(f"jobs run per replica: { {k: len(v) for k, v in ran.items()} }")
        # The measurements are all different (one per isvsvn) and all signed by the account.
        builds = [owner.build(i) for i in ids]
        assert len({b["enclave_info"]["mrenclave"] for b in builds}) == JOBS
        assert len({b["enclave_info"]["mrsigner"] for b in builds}) == 1
        second.check_sanitizers()
    finally:
        second.stop()
        second.close()


def runner_pids(m):
    return [p for p in lib.group_members(m.proc.pid) if lib.proc_comm(p) == "cl-convert"]


def store_is_free(m):
    """True when no transaction holds the store's write lock (SQLite) or the job rows' locks
    (PostgreSQL): a runner stopped in the middle of one would block every other writer."""
    if m.backend == "sqlite":
        con = sqlite3.connect(str(m.db_path), timeout=0.3)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.rollback()
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            con.close()
    import psycopg2
    con = psycopg2.connect(m.store_url)
    try:
        cur = con.cursor()
        cur.execute("SET lock_timeout = '300ms'")
        cur.execute("SELECT build_id FROM conversion_jobs FOR UPDATE")
        return True
    except psycopg2.errors.LockNotAvailable:
        return False
    finally:
        con.rollback()
        con.close()


def stop_runner(m):
    """Catches m's conversion runner and stops it (SIGSTOP) outside any transaction."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        pids = runner_pids(m)
        if not pids:
            time.sleep(0.002)
            continue
        os.kill(pids[0], signal.SIGSTOP)
        if store_is_free(m):
            return pids[0]
        os.kill(pids[0], signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"no conversion runner of {m.name} could be stopped")


def test_stalled_runner_loses_its_job(manager_factory, tmp_path_factory, registry):
    binaries()
    # One runner on the first replica, so that only the second one can take its job over.
    first = manager_factory(conversion_config(1), name="conv-stall-a")
    owner = account(first, registry)
    app = new_app(owner, registry, isvsvn=99)
    build_id = convert(owner, app, "stalled")
    pid = stop_runner(first)
    second = None
    try:
        assert owner.build(build_id)["status"]["status"] == "CONVERTING", \
            "the conversion ended before its runner was stopped"
        second = start_replica(first, tmp_path_factory, "conv-stall-b")
        done = wait_status(owner, build_id, ("PENDING", "FAILED"), LEASE_SECONDS + TIMEOUT)
        assert done["status"]["status"] == "PENDING", done["conversion"]["log"]
        assert "(attempt 2)" in done["conversion"]["log"], done["conversion"]["log"]
        assert f"Conversion {build_id} done" in second.log_text()
    finally:
        os.kill(pid, signal.SIGCONT)
    # The first runner wakes up, finishes its conversion and records nothing.
    lib.wait_until(lambda: pid not in runner_pids(first), TIMEOUT, what="the stalled runner to end")
    assert f"Conversion {build_id}: attempt 1 lost its job" in first.log_text(), \
        first.log_tail(40)
    assert owner.build(build_id) == done
    assert len(build_tasks(owner, build_id)) == 1
    assert len(converted_events(owner, build_id)) == 1
    first.check_sanitizers()
    second.check_sanitizers()
    second.stop()
    second.close()
