"""Several cloister-manager replicas on one PostgreSQL database, behind a loopback HAProxy.

Each replica has its own data dir with copies of the first replica's master.key (replicas must
share it) and of its TLS certificate and key (so one CA file verifies every replica, directly or
through the balancer, which passes TLS through: tests/integration/replica_lb.py). Checked (issue
3): the reference flow with requests alternating between replicas, concurrent votes on the same
tasks from several replicas, a unique name raced from every replica, kill -9 of a replica in the
middle of a write burst, PostgreSQL restarted in the middle of one, a write timing out on its
account's lock, and a replica with another master key refused.

Runs in the PostgreSQL pass only (CLOISTER_TEST_STORE=postgres with CLOISTER_TEST_PG set, as
scripts/run-tests does), once per build.
"""

import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import cloister_testlib as lib
from cloister_testlib import (REFERENCE_DOMAIN, Manager, describe, expect, plain_app_body,
                              rand_hex64, unique, unique_email)
from replica_lb import LoadBalancer, lb_client

if lib.STORE != "postgres" or not lib.PG_BASE:
    pytest.skip("replica tests run in the postgres pass", allow_module_level=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_TEST_SERVER = REPO_ROOT / "scripts" / "pg-test-server"
PG_BIN = os.environ.get("PG_BIN") or "/usr/lib/postgresql/15/bin"   # as pg-test-server

WORKER_RESTART = re.compile(r"(Worker|Jobs process) \d+ (killed by signal|exited with status)")


# --------------------------------------------------------------------------------------------
# a cluster of replicas


def with_app_name(url, name):
    """The store URL with application_name=name (replaced if there), so that pg_stat_activity
    tells the replicas' sessions apart."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "application_name"]
    query.append(("application_name", name))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def sessions_of(via, name):
    """The PostgreSQL sessions (pid, state) of the replica called name (its application_name),
    looked up through via's store URL (this look-up's own session left out)."""
    return via.sql("SELECT pid, state FROM pg_stat_activity WHERE application_name = ? "
                   "AND pid <> pg_backend_pid()", (name,))


class Cluster:
    """n replicas on one store: the first creates the master key and TLS certificate, the others
    start with copies of both (Manager.replica copies the key; the TLS files are copied here)."""

    def __init__(self, base_dir, n, name, store=None):
        self.base = Path(base_dir)
        self.n = n
        self.name = name
        self.store = store
        self.replicas = []
        self.balancers = []

    def start(self):
        first = Manager(self.base / "r0", name=f"{self.name}-r0", store=self.store)
        first.store_url = with_app_name(first.store_url, first.name)
        self.replicas.append(first)
        first.start()
        first.bootstrap()
        others = []
        for i in range(1, self.n):
            r = first.replica(self.base / f"r{i}", name=f"{self.name}-r{i}")
            r.store_url = with_app_name(self.store_url, r.name)
            # the same TLS certificate and key on every replica: one CA file for all of them
            shutil.copytree(first.data_dir / "tls", r.data_dir / "tls")
            others.append(r)
            self.replicas.append(r)
        # the others start together (their start-up runs the migrations check concurrently)
        errors = []

        def start(r):
            try:
                r.start()
            except BaseException as e:   # noqa: B902  (reported below)
                errors.append(f"{r.name}: {e}")
        threads = [threading.Thread(target=start, args=(r,)) for r in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, "\n".join(errors)
        return self

    @property
    def store_url(self):
        return self.replicas[0].store_url

    def balancer(self, replicas=None, name="lb"):
        lb = LoadBalancer(self.base / name, replicas or self.replicas, name=name)
        self.balancers.append(lb)
        return lb.start()

    def worker_pids(self):
        return {r.name: r.pids("cl-worker") + r.pids("cl-jobs") for r in self.replicas
                if r.running}

    def check_no_restarts(self):
        for r in self.replicas:
            found = WORKER_RESTART.findall(r.log_text())
            assert not found, f"{r.name}'s supervisor restarted a child: {found}; log:\n" \
                              f"{r.log_tail(60)}"

    def close(self):
        """Stops everything; fails (after cleaning up) if a replica did not stop cleanly, logged
        a sanitizer report or had to restart a worker."""
        errors = []
        for lb in self.balancers:
            lb.stop()
        for r in reversed(self.replicas):
            try:
                if r.proc is not None:
                    r.stop()
            except AssertionError as e:
                errors.append(f"{r.name}: {e}")
        try:
            self.check_no_restarts()
        except AssertionError as e:
            errors.append(str(e))
        for r in reversed(self.replicas):
            r.close()
        if errors:
            pytest.fail("\n".join(errors))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three replicas on one database, balancers over the first two and over all three."""
    c = Cluster(tmp_path_factory.mktemp("replicas"), 3, "rep")
    try:
        c.start()
        c.lb2 = c.balancer(c.replicas[:2], name="lb2")
        c.lb3 = c.balancer(c.replicas, name="lb3")
    except BaseException:
        c.close()
        raise
    yield c
    c.close()


def on(target, client):
    """client's session (token, selected account) sent to target: a replica or a balancer."""
    return lb_client(target, like=client)


def new_user(target, prefix="user", first="Test", last="User"):
    c = lb_client(target)
    expect(c.signup(unique_email(prefix), None, first, last), 201)
    expect(c.login(), 200)
    return c


def call(client, method, path, statuses=(200,), attempts=100, **kw):
    """One request, retried while it is answered 503 (store unavailable: nothing done; every 503
    must carry {code, message}). Returns (response, number of 503s). A status outside statuses
    (after the retries) fails."""
    n503 = 0
    for _ in range(attempts):
        r = client.request(method, path, retry_503=False, **kw)
        if r.status_code != 503:
            break
        expect(r, 503, "INTERNAL_SERVER_ERROR")
        n503 += 1
        time.sleep(0.05)
    assert r.status_code in statuses, f"expected one of {statuses}: {describe(r)}"
    return r, n503


def same_everywhere(targets, client, path, **params):
    """GET path (200) on every target with client's session; asserts every answer is the same and
    returns it."""
    bodies = [expect(on(t, client).get(path, params=params or None), 200) for t in targets]
    for t, b in zip(targets[1:], bodies[1:]):
        assert b == bodies[0], f"{path}: {t.name} answers differently from {targets[0].name}:\n" \
                               f"{b}\n!=\n{bodies[0]}"
    return bodies[0]


def created_app_events(client):
    """{app_id: number of "Created app" events} in the selected account's chain."""
    out = {}
    for e in client.events(action_type="ADMIN", all_search="Created app"):
        if e["message"].startswith("Created app") and e["entity"]["type"] == "app":
            out[e["entity"]["id"]] = out.get(e["entity"]["id"], 0) + 1
    return out


def admin_with_account(manager):
    """The system administrator, logged in with an account of their own selected (reading the
    system chain takes a selected account like every events call)."""
    admin = manager.admin_client()
    admin.select(admin.create_account(unique("admin-acct"))["acct_id"])
    return admin


def assert_chain_valid(targets, client, chain=None):
    params = {"chain": chain} if chain else {}
    results = [on(t, client).verify(**params) for t in targets]
    for t, v in zip(targets, results):
        assert v["valid"] is True, f"audit chain invalid on {t.name}: {v}"
        assert v["events_checked"] == results[0]["events_checked"], (t.name, v, results[0])
    return results[0]


# --------------------------------------------------------------------------------------------
# 1. the reference flow across replicas


@pytest.mark.parametrize("n", [2, 3])
def test_reference_flow_across_replicas(cluster, n):
    reps = cluster.replicas[:n]
    lb = cluster.lb2 if n == 2 else cluster.lb3
    before = lb.connections()

    # sign up through the balancer; the same e-mail again on each replica directly
    owner = lb_client(lb)
    email = unique_email("flow-owner")
    password = "correct horse battery staple"
    user = expect(owner.signup(email, password, "Flo", "Owner"), 201)
    for r in reps:
        expect(lb_client(r).signup(email.upper(), password), 409, "UNIQUE_VIOLATION",
               "user_email")

    # log in on the first replica: the token works on every replica and through the balancer
    direct = lb_client(reps[0])
    expect(direct.login(email, password), 200)
    owner.token = direct.token
    owner.user_id = direct.user_id
    for t in reps + [lb]:
        me = expect(on(t, owner).get("/v1/user"), 200)
        assert me["user_id"] == user["user_id"] and me["selected_account"] is None, (t.name, me)

    # an account needing two approvals, selected on the last replica: the selection holds on all
    acct = owner.create_account(unique("flow-acct"), settings={"approvals_required": 2})
    assert acct["settings"]["approvals_required"] == 2
    on(reps[-1], owner).select(acct["acct_id"])
    owner.acct_id = acct["acct_id"]
    for t in reps:
        assert expect(on(t, owner).get("/v1/user"), 200)["selected_account"] == acct["acct_id"]

    # a WRITER signed up on the last replica, invited through the balancer, selecting on the first
    writer = new_user(reps[-1], "flow-writer", "Wanda", "Writer")
    owner.invite(writer.email, "WRITER")
    on(reps[0], writer).select(acct["acct_id"])
    writer.acct_id = acct["acct_id"]
    writer = on(lb, writer)

    # the application: its domain task needs both votes, cast on different replicas
    name = unique("flow-app")
    app = expect(owner.post("/v1/apps", json=lib.app_body(name)), 201)
    assert app["pending_task_id"] and app["whitelisted_domains"] == []
    for t in reps:
        assert on(t, owner).app(app["app_id"]) == app, t.name
    task_id = app["pending_task_id"]
    first = expect(on(reps[0], owner).vote(task_id, "APPROVED"), 200)
    assert first["status"]["status"] == "INPROGRESS"
    assert [v["user_id"] for v in first["approvals"]] == [owner.user_id]
    for t in reps:   # a second vote of the same user is refused on every replica
        expect(on(t, owner).vote(task_id, "APPROVED"), 409, "CONFLICT")
    done = expect(on(reps[-1], writer).vote(task_id, "APPROVED"), 200)
    assert done["status"]["status"] == "SUCCESS", done
    assert {v["user_id"] for v in done["approvals"]} == {owner.user_id, writer.user_id}
    for t in reps:
        got = on(t, writer).app(app["app_id"])
        assert got["whitelisted_domains"] == [REFERENCE_DOMAIN] and \
            got["pending_task_id"] is None, (t.name, got)
        expect(on(t, writer).vote(task_id, "DENIED"), 409, "INVALID_STATE")

    # a build registered through the balancer, approved on two replicas
    mre = rand_hex64()
    build = expect(writer.post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": mre,
                                                   "mrsigner": rand_hex64(),
                                                   "platform": "sim"}), 201)
    assert build["status"]["status"] == "PENDING"
    for t in reps:   # the same measurement again, on each replica
        expect(on(t, owner).post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": mre,
                                                     "mrsigner": rand_hex64()}),
               409, "UNIQUE_VIOLATION")
    btask = build["pending_task_id"]
    expect(on(reps[1], writer).vote(btask, "APPROVED"), 200)
    assert on(reps[0], owner).build(build["build_id"])["status"]["status"] == "PENDING"
    assert expect(on(reps[n - 1 if n > 2 else 0], owner).vote(btask, "APPROVED"),
                  200)["status"]["status"] == "SUCCESS"
    # a second build, denied through the balancer
    b2 = writer.create_build(app["app_id"])
    denied = expect(owner.vote(b2["pending_task_id"], "DENIED", reason="unknown build"), 200)
    assert denied["status"]["status"] == "DENIED", denied

    # lists: the same on every replica
    apps = same_everywhere(reps, owner, "/v1/apps")
    assert [a["app_id"] for a in apps["items"]] == [app["app_id"]]
    builds = same_everywhere(reps, owner, "/v1/builds", sort_by="created_at:ASC")
    assert [(b["build_id"], b["status"]["status"]) for b in builds["items"]] == \
        [(build["build_id"], "WHITELISTED"), (b2["build_id"], "REJECTED")]
    tasks = same_everywhere(reps, owner, "/v1/tasks", sort_by="created_at:ASC")
    assert [(t["task_id"], t["status"]["status"]) for t in tasks["items"]] == \
        [(task_id, "SUCCESS"), (btask, "SUCCESS"), (b2["pending_task_id"], "DENIED")]
    members = same_everywhere(reps, owner, "/v1/users")
    assert {m["user_id"] for m in members["items"]} == {owner.user_id, writer.user_id}

    # the audit chain: the same events on every replica, one per vote, and it verifies
    events = same_everywhere(reps, owner, "/v1/events", limit=1000)["items"]
    votes = [e for e in events if e["action_type"] == "USER_APPROVAL"
             and re.search(r" (approved|denied) task ", e["message"])]
    assert sorted(e["entity"]["id"] for e in votes) == sorted([task_id] * 2 + [btask] * 2 +
                                                              [b2["pending_task_id"]])
    counts = sorted(re.search(r"\((\d+) of (\d+) approvals\)", e["message"]).groups()
                    for e in votes if e["entity"]["id"] == task_id)
    assert counts == [("1", "2"), ("2", "2")], counts
    verified = assert_chain_valid(reps + [lb], owner)
    assert verified["events_checked"] == len(events)
    assert_chain_valid(reps, admin_with_account(cluster.replicas[0]), chain="system")

    # log out on one replica: the token is dead on every replica
    expect(on(reps[-1], writer).logout(), 204)
    for t in reps + [lb]:
        expect(on(t, writer).get("/v1/user"), 401, "UN_AUTHORIZED")

    # the balancer did alternate: every replica got connections from it
    after = lb.connections()
    assert all(after[i] > before[i] for i in range(n)), (before, after)


# --------------------------------------------------------------------------------------------
# 2. concurrent votes on the same tasks from several replicas


def quorum_outcome(votes, required):
    """The status the quorum rules (docs/approvals.md) give to votes in the order they were
    recorded: one denial denies; the approval that brings distinct approvers to required succeeds.
    Returns (status, the number of approvals each vote was recorded with). Fails if a vote was
    recorded after the task had ended."""
    status, approvals, counts = "INPROGRESS", 0, []
    for i, (user, decision) in enumerate(votes):
        assert status == "INPROGRESS", f"vote {i + 1} of {votes} recorded after the task ended"
        if decision == "DENIED":
            status = "DENIED"
        else:
            approvals += 1
            if approvals >= required:
                status = "SUCCESS"
        counts.append(approvals)
    return status, counts


def test_concurrent_votes_across_replicas(cluster):
    reps, lb = cluster.replicas, cluster.lb3
    targets = reps + [lb]
    required = 3
    owner = new_user(reps[0], "q-owner")
    acct = owner.create_account(unique("q-acct"), settings={"approvals_required": required})
    owner.select(acct["acct_id"])
    voters = [owner]
    for i in range(6):
        role = "MANAGER" if i == 0 else "WRITER"
        u = new_user(reps[i % len(reps)], f"q-{role.lower()}")
        owner.invite(u.email, role)
        on(reps[(i + 1) % len(reps)], u).select(acct["acct_id"])
        u.acct_id = acct["acct_id"]
        voters.append(u)
    app = owner.create_app(name=unique("q-app"), certificate=False)
    # 11 builds, each with a BUILD_WHITELIST task
    builds = [voters[1].create_build(app["app_id"]) for _ in range(11)]

    # five votes per task (55 in all) from five distinct voters; some tasks also get a second
    # vote of one voter (from another replica) that must not count
    rng = random.Random(20261123)
    plans = []          # (task index, voter index, decision)
    for k, b in enumerate(builds):
        who = rng.sample(range(len(voters)), 5)
        if k < 3:
            decisions = ["APPROVED"] * 5                    # must succeed with exactly 3
        elif k < 5:
            decisions = ["DENIED"] * 5                      # must be denied by exactly one
        else:
            decisions = [rng.choice(["APPROVED", "APPROVED", "DENIED"]) for _ in range(5)]
        plans += [(k, v, d) for v, d in zip(who, decisions)]
        if k % 2 == 0:   # the same voter again, the other way on the mixed tasks
            again = decisions[0] if k < 5 else \
                {"APPROVED": "DENIED", "DENIED": "APPROVED"}[decisions[0]]
            plans.append((k, who[0], again))

    results = [None] * len(plans)

    def vote(i):
        k, v, decision = plans[i]
        target = targets[i % len(targets)]
        body = {"status": decision}
        if decision == "DENIED":
            body["reason"] = f"no, says voter {v}"
        r, _ = call(on(target, voters[v]), "PATCH", f"/v1/tasks/{builds[k]['pending_task_id']}",
                    json=body, statuses=(200, 409))
        body = expect(r, r.status_code)
        results[i] = (r.status_code, body.get("code") if r.status_code == 409 else None)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(vote, range(len(plans))))

    total_ok = 0
    for k, b in enumerate(builds):
        task_id = b["pending_task_id"]
        mine = [(i, plans[i]) for i in range(len(plans)) if plans[i][0] == k]
        ok = {}
        for i, (_, v, d) in mine:
            status, code = results[i]
            if status == 200:
                assert voters[v].user_id not in ok, f"task {k}: voter {v} counted twice"
                ok[voters[v].user_id] = d
            else:
                assert code in ("CONFLICT", "INVALID_STATE"), (k, v, d, results[i])
        total_ok += len(ok)
        task = same_everywhere(reps, owner, f"/v1/tasks/{task_id}")
        assert {v["user_id"]: v["status"] for v in task["approvals"]} == ok, \
            f"task {k}: recorded votes differ from the votes answered 200: {task}"

        # the votes' audit events, in chain order, give the order the votes were recorded in
        events = sorted(owner.events(entity_id=task_id), key=lambda e: e["seq"])
        vote_events = [e for e in events if re.search(r" (approved|denied) task ", e["message"])]
        assert sorted(e["actor"]["id"] for e in vote_events) == sorted(ok), \
            f"task {k}: not exactly one audit event per recorded vote: {vote_events}"
        order = [(e["actor"]["id"], ok[e["actor"]["id"]]) for e in vote_events]
        status, counts = quorum_outcome(order, required)
        assert task["status"]["status"] == status, \
            f"task {k}: status {task['status']} but the votes {order} give {status}"
        for e, n in zip(vote_events, counts):
            assert f"({n} of {required} approvals)" in e["message"], (k, e["message"], counts)
        decided = [e for e in events if e["message"].startswith("Task ")]
        if status == "INPROGRESS":
            assert decided == [], f"task {k}: {decided}"
        else:
            assert len(decided) == 1 and decided[0]["seq"] > vote_events[-1]["seq"], \
                f"task {k}: not exactly one end-of-task event after the last vote: {events}"
        build = owner.build(b["build_id"])
        expect_build = {"SUCCESS": "WHITELISTED", "DENIED": "REJECTED",
                        "INPROGRESS": "PENDING"}[status]
        assert build["status"]["status"] == expect_build, (k, status, build)
        assert build["pending_task_id"] == (task_id if status == "INPROGRESS" else None)

        if k < 3:
            assert status == "SUCCESS" and len(ok) == required, (k, task)
        elif k < 5:
            assert status == "DENIED" and len(ok) == 1, (k, task)

    assert total_ok == sum(1 for r in results if r[0] == 200)
    assert_chain_valid(targets, owner)


# --------------------------------------------------------------------------------------------
# 3. one unique name raced from every replica


def race(n, fn):
    """Runs fn(i) for i in range(n) in n threads released together; returns the results."""
    barrier = threading.Barrier(n)
    out = [None] * n
    errors = []

    def run(i):
        try:
            barrier.wait(30)
            out[i] = fn(i)
        except BaseException as e:   # noqa: B902  (reported below)
            errors.append(repr(e))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return out


def test_unique_app_name_race(cluster):
    reps, lb = cluster.replicas, cluster.lb3
    targets = reps + [lb]
    owner = new_user(reps[0], "race")
    acct = owner.create_account(unique("race-acct"))
    owner.select(acct["acct_id"])
    name = unique("raced-app")
    clients = [on(targets[i % len(targets)], owner) for i in range(30)]

    def create(i):
        r, _ = call(clients[i], "POST", "/v1/apps", json=plain_app_body(name),
                    statuses=(201, 409))
        return r
    answers = race(30, create)
    created = [r for r in answers if r.status_code == 201]
    assert len(created) == 1, [describe(r) for r in created]
    for r in answers:
        if r.status_code == 409:
            expect(r, 409, "UNIQUE_VIOLATION", "name")
    app_id = created[0].json()["app_id"]
    listed = same_everywhere(reps, owner, "/v1/apps", name=name)
    assert [a["app_id"] for a in listed["items"]] == [app_id]
    assert created_app_events(owner) == {app_id: 1}
    assert_chain_valid(targets, owner)


def test_unique_email_race(cluster):
    """The same e-mail signed up from every replica at once: one user."""
    reps, lb = cluster.replicas, cluster.lb3
    targets = reps + [lb]
    email = unique_email("race-signup")

    def signup(i):
        r, _ = call(lb_client(targets[i % len(targets)]), "POST", "/v1/users",
                    json={"user_email": email, "user_password": "race-password",
                          "first_name": "Race", "last_name": str(i)},
                    statuses=(201, 409), token=None)
        return r
    answers = race(12, signup)
    assert [r.status_code for r in answers].count(201) == 1, [describe(r) for r in answers]
    for r in answers:
        if r.status_code == 409:
            expect(r, 409, "UNIQUE_VIOLATION", "user_email")
    assert reps[0].sql("SELECT COUNT(*) FROM users WHERE user_email = ?", (email,)) == [(1,)]
    admin = admin_with_account(reps[0])
    signups = [e for e in admin.events(chain="system", action_type="USER_AUTH")
               if e["message"] == "Signed up" and e["entity"]["id"] == answers[
                   [r.status_code for r in answers].index(201)].json()["user_id"]]
    assert len(signups) == 1, signups
    expect(lb_client(lb).login(email, "race-password"), 200)
    assert_chain_valid(targets, admin, chain="system")


# --------------------------------------------------------------------------------------------
# 4. kill -9 of a replica in the middle of a write burst


class Burst:
    """Threads creating apps with unique names until every name is done. A client whose request
    fails (connection refused or reset, 503) sends it again, to the next replica when it talks to
    replicas directly; a retry answered 409 UNIQUE_VIOLATION means the first attempt committed,
    and counts as done. Anything else (500, a 409 on a first attempt, ...) is an error."""

    def __init__(self, owner, routes, names):
        self.owner = owner
        self.routes = routes        # per thread: a list of targets to try in turn
        self.todo = list(names)
        self.lock = threading.Lock()
        self.done = {}              # name -> app_id (None: created by an attempt that failed)
        self.errors = []
        self.failures = 0           # failed attempts (connection errors, 503)
        self.by_status = {}
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(len(routes))]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        alive = [t for t in self.threads if t.is_alive()]
        self.stop_flag.set()
        assert not alive, f"the burst did not finish within {timeout} s " \
                          f"({len(self.done)} done, errors {self.errors[:5]})"

    def count(self):
        with self.lock:
            return len(self.done)

    def _next(self):
        with self.lock:
            return self.todo.pop(0) if self.todo else None

    def _run(self, t):
        route = self.routes[t]
        at = 0
        while not self.stop_flag.is_set():
            name = self._next()
            if name is None:
                return
            failed_before = False
            for attempt in range(200):
                if self.stop_flag.is_set():
                    return
                c = on(route[at % len(route)], self.owner)
                try:
                    r = c.post("/v1/apps", json=plain_app_body(name), retry_503=False,
                               timeout=15)
                except requests.RequestException:
                    r = None
                with self.lock:
                    key = r.status_code if r is not None else "connection error"
                    self.by_status[key] = self.by_status.get(key, 0) + 1
                if r is not None and r.status_code == 201:
                    app_id = created_app_id(r)
                    if app_id is not None:
                        with self.lock:
                            self.done[name] = app_id
                        break
                    r = None            # the kill cut the body: the answer is lost
                if r is not None and r.status_code == 409 and failed_before and \
                        r.json().get("code") == "UNIQUE_VIOLATION":
                    with self.lock:
                        self.done[name] = None
                    break
                if r is None or r.status_code == 503:
                    if r is not None:
                        try:
                            expect(r, 503, "INTERNAL_SERVER_ERROR")
                        except AssertionError as e:
                            with self.lock:
                                self.errors.append(str(e))
                    failed_before = True
                    with self.lock:
                        self.failures += 1
                    at += 1             # try the next replica (direct routes)
                    time.sleep(0.02 * min(attempt + 1, 10))
                    continue
                with self.lock:
                    self.errors.append(describe(r))
                break
            else:
                with self.lock:
                    self.errors.append(f"{name}: gave up after 200 attempts")


def created_app_id(r):
    """The app_id of a 201, or None when the body was cut short. A replica killed between
    writing its headers and its body leaves the client a 201 with a truncated body (urllib3 1.x
    does not enforce Content-Length); like a lost connection, the client cannot tell what it
    got and retries, which then answers 409 UNIQUE_VIOLATION."""
    try:
        return r.json()["app_id"]
    except (ValueError, KeyError):
        return None


def check_apps(owner, names, done, targets):
    """Every name exists exactly once, nothing else exists, and each app has exactly one
    "Created app" event (and each such event its app)."""
    apps = owner.list_all("/v1/apps")
    by_name = {}
    for a in apps:
        by_name.setdefault(a["name"], []).append(a["app_id"])
    dup = {k: v for k, v in by_name.items() if len(v) > 1}
    assert not dup, f"apps created twice: {dup}"
    assert set(by_name) == set(names), \
        f"missing: {sorted(set(names) - set(by_name))[:10]}, " \
        f"unexpected: {sorted(set(by_name) - set(names))[:10]}"
    for name, app_id in done.items():
        if app_id is not None:
            assert by_name[name] == [app_id], (name, app_id, by_name[name])
    events = created_app_events(owner)
    ids = {a["app_id"] for a in apps}
    assert set(events) == ids, \
        f"apps without their event: {sorted(ids - set(events))[:5]}; " \
        f"events without their app: {sorted(set(events) - ids)[:5]}"
    assert all(n == 1 for n in events.values()), {k: n for k, n in events.items() if n != 1}
    assert_chain_valid(targets, owner)


def test_kill9_replica_mid_burst(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("kill9"), 3, "k9")
    try:
        c.start()
        lb = c.balancer(name="lb")
        reps = c.replicas
        owner = new_user(lb, "k9")
        acct = owner.create_account(unique("k9-acct"))
        owner.select(acct["acct_id"])
        victim = reps[2]
        names = [f"k9-app-{i:03d}" for i in range(200)]
        routes = [[lb], [lb], [victim, reps[0], reps[1]], [reps[1], victim, reps[0]]]
        burst = Burst(owner, routes, names).start()
        lib.wait_until(lambda: burst.count() >= 50 or not burst.todo, 60,
                       what="50 apps of the burst")
        assert burst.todo, "the burst ended before the replica could be killed"
        served_before = lb.connections()[2]
        assert served_before > 0, "the balancer sent the victim nothing before the kill"
        # the whole replica: supervisor, workers, jobs process (its process group)
        victim.kill9()
        killed_at = burst.count()
        burst.join(90)
        assert not burst.errors, burst.errors[:10]
        assert burst.count() == len(names)
        assert killed_at < len(names) - 50, "the kill came too late to be mid-burst"
        assert burst.failures >= 1, "no client saw the kill (the thread on the victim retries " \
                                    "on the next replica)"

        survivors = reps[:2]
        lb.wait_status(2, "DOWN")
        for r in survivors:
            assert r.running and lib.proc_alive(r.pid), f"{r.name} stopped"
            expect(lb_client(r).get("/readyz"), 200)
        check_apps(owner, names, burst.done, survivors + [lb])
        # the survivors and the balancer keep serving writes and reads
        after = lb.connections()
        for _ in range(4):
            on(lb, owner).create_app(name=unique("k9-after"), certificate=False)
        later = lb.connections()
        assert later[0] > after[0] and later[1] > after[1] and later[2] == after[2], \
            (after, later)
        # the dead replica's PostgreSQL sessions are gone (their transactions rolled back, their
        # scope locks released: the survivors' writes above needed the same account's lock)
        lib.wait_until(lambda: not sessions_of(reps[0], victim.name), 15, interval=0.2,
                       what=f"{victim.name}'s PostgreSQL sessions to end")
        assert sessions_of(reps[0], reps[0].name), "sessions are not told apart by name"
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# 5. PostgreSQL restarted in the middle of a write burst


class PrivatePostgres:
    """A PostgreSQL server of this test alone (scripts/pg-test-server), to stop and start."""

    def __init__(self):
        # short and reachable by the postgres user (pg-test-server's requirements)
        self.dir = Path(tempfile.mkdtemp(prefix="cl-pgr-", dir="/tmp"))
        self.base = None

    def start(self):
        p = subprocess.run([str(PG_TEST_SERVER), "start", str(self.dir)], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, f"pg-test-server start failed:\n{p.stderr}"
        self.base = p.stdout.strip()
        self.port = (self.dir / "port").read_text().strip()
        return self

    def pg_ctl(self, *args):
        cmd = [f"{PG_BIN}/pg_ctl", "-D", str(self.dir / "data"), *args]
        if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0":
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}"

    def down(self):
        self.pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def up(self):
        self.pg_ctl("-l", str(self.dir / "server.log"), "-o", f"-p {self.port}", "-w",
                    "-t", "60", "start")

    def create_database(self):
        name = f"ct_replicas_{unique('pgr').replace('-', '_')}"
        lib.psql(lib.pg_url("postgres", self.base),
                 f"CREATE DATABASE {lib.quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8'")
        return lib.pg_url(name, self.base)

    def close(self):
        subprocess.run([str(PG_TEST_SERVER), "stop", str(self.dir)], capture_output=True,
                       timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


class Writers:
    """Threads creating apps with fresh names, each on a fixed replica (its own connection, so
    its own worker), until stopped; a 503 is retried with the same name (a retry answered 409
    UNIQUE_VIOLATION: the first attempt committed). Anything else is an error."""

    def __init__(self, owner, targets, prefix):
        self.owner, self.targets, self.prefix = owner, targets, prefix
        self.lock = threading.Lock()
        self.done = {}              # name -> app_id or None
        self.errors = []
        self.n503 = [0] * len(targets)          # per thread
        self.last503 = [0.0] * len(targets)     # per thread, time.monotonic()
        self.created = [[] for _ in targets]    # per thread: time.monotonic() of each success
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(len(targets))]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self):
        with self.lock:
            return len(self.done)

    def created_since(self, t, since):
        with self.lock:
            return sum(1 for x in self.created[t] if x >= since)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "a writer thread hangs"

    def _error(self, text):
        with self.lock:
            self.errors.append(text)

    def _run(self, t):
        target = self.targets[t]
        c = on(target, self.owner)
        k = 0
        while not self.stop_flag.is_set():
            k += 1
            name = f"{self.prefix}-{t}-{k:04d}"
            failed_before = False
            while True:
                try:
                    r = c.post("/v1/apps", json=plain_app_body(name), retry_503=False,
                               timeout=20)
                except requests.RequestException as e:
                    return self._error(f"{target.name}: {name}: {e!r}")
                if r.status_code == 201 or (r.status_code == 409 and failed_before and
                                            r.json().get("code") == "UNIQUE_VIOLATION"):
                    with self.lock:
                        self.done[name] = r.json()["app_id"] if r.status_code == 201 else None
                        self.created[t].append(time.monotonic())
                    break
                if r.status_code != 503:
                    return self._error(describe(r))
                try:
                    expect(r, 503, "INTERNAL_SERVER_ERROR")
                except AssertionError as e:
                    return self._error(str(e))
                failed_before = True
                with self.lock:
                    self.n503[t] += 1
                    self.last503[t] = time.monotonic()
                if self.stop_flag.wait(0.05):
                    return


def readyz(target):
    return lb_client(target).get("/readyz", retry_503=False, timeout=10)


def test_postgres_restart_mid_burst(tmp_path_factory):
    pg = PrivatePostgres()
    c = None
    writers = None
    try:
        pg.start()
        c = Cluster(tmp_path_factory.mktemp("pgrestart"), 2, "pgr", store=pg.create_database())
        c.start()
        reps = c.replicas
        owner = new_user(reps[0], "pgr")
        acct = owner.create_account(unique("pgr-acct"))
        owner.select(acct["acct_id"])
        workers = c.worker_pids()
        assert all(workers.values()), workers

        targets = [reps[0], reps[1], reps[0], reps[1]]
        writers = Writers(owner, targets, "pgr-app").start()
        lib.wait_until(lambda: writers.count() >= 20 or writers.errors, 60,
                       what="20 apps before the restart")
        assert not writers.errors, writers.errors

        pg.down()
        # while it is down: writes get 503 {code, message} on both replicas, /readyz fails
        lib.wait_until(lambda: all(writers.n503) or writers.errors, 20,
                       what="503s for every writer while PostgreSQL is down")
        assert not writers.errors, writers.errors
        for r in reps:
            ready = readyz(r)
            assert ready.status_code == 503, describe(ready)   # (a text body, like /healthz)
            expect(on(r, owner).get("/v1/apps", retry_503=False), 503, "INTERNAL_SERVER_ERROR")
            expect(on(r, owner).get("/healthz"), 200)     # the process itself is alive
        count_down = writers.count()
        lib.wait_until(lambda: min(writers.n503) >= 5, 20, what="5 more 503s for every writer")
        assert writers.count() == count_down, "apps created while PostgreSQL was down"

        pg.up()
        up_at = time.monotonic()
        for r in reps:
            lib.wait_until(lambda: readyz(r).status_code == 200, 10, interval=0.1,
                           what=f"{r.name} /readyz 200 after PostgreSQL came back")
        ready_at = time.monotonic()
        # full service: every writer (each on its own connection and worker) gets on again
        for t, target in enumerate(targets):
            try:
                lib.wait_until(lambda: writers.created_since(t, ready_at) >= 10 or
                               writers.errors, 20, interval=0.1, what="")
            except AssertionError:
                raise AssertionError(
                    f"writer {t} (its own connection to {target.name}) did not create 10 apps "
                    f"within 20 s of PostgreSQL being back: {writers.created_since(t, ready_at)} "
                    f"created; {writers.n503[t]} 503s so far, the last "
                    f"{time.monotonic() - writers.last503[t]:.1f} s ago")
        writers.stop()
        assert not writers.errors, writers.errors
        late = [t for t in range(len(targets)) if writers.last503[t] > ready_at + 5]
        assert not late, f"writers {late} got 503s more than 5 s after PostgreSQL was back"
        assert ready_at - up_at < 10

        check_apps(owner, list(writers.done), writers.done, reps)
        assert c.worker_pids() == workers, "a worker or jobs process was replaced"
        c.check_no_restarts()
        for r in reps:
            assert r.running, f"{r.name} exited"
    finally:
        if writers is not None:
            writers.stop_flag.set()
        try:
            if c is not None:
                c.close()
        finally:
            pg.close()


@pytest.fixture
def lone_replica(tmp_path_factory):
    """A replica of its own (a worker this test may break must not spoil the module's cluster)."""
    c = Cluster(tmp_path_factory.mktemp("lone"), 1, "lone")
    try:
        c.start()
    except BaseException:
        c.close()
        raise
    yield c.replicas[0]
    c.close()


def test_scope_lock_timeout_leaves_workers_serving(lone_replica):
    """A write that waits too long for its account's lock (held by a long transaction elsewhere:
    here a direct session holding the same advisory lock) gets 503, and the worker that answered
    it serves the next requests normally."""
    rep = lone_replica
    owner = new_user(rep, "locked")
    acct = owner.create_account(unique("locked-acct"))
    owner.select(acct["acct_id"])
    owner.create_app(certificate=False)   # this session's connection (and worker) is now warm
    holder = rep.db()
    try:
        holder.con.autocommit = False
        holder.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                       (acct["acct_id"],))
        r = owner.post("/v1/apps", json=plain_app_body(), retry_503=False, timeout=60)
        expect(r, 503, "INTERNAL_SERVER_ERROR")
        assert r.headers.get("Retry-After"), describe(r)
    finally:
        holder.con.rollback()
        holder.close()
    # the same connection, so the same worker: reads and writes work again
    expect(owner.get("/v1/apps", retry_503=False), 200)
    expect(owner.post("/v1/apps", json=plain_app_body(), retry_503=False), 201)
    assert_chain_valid([rep], owner)


# --------------------------------------------------------------------------------------------
# 6. a replica with another master key


def test_replica_with_other_master_key_refused(cluster, tmp_path):
    first = cluster.replicas[0]
    key_id = first.sql("SELECT value FROM settings WHERE name = 'master_key_id'")
    assert len(key_id) == 1 and key_id[0][0], key_id
    stranger = Manager(tmp_path / "stranger", name="rep-stranger", store=cluster.store_url)
    stranger.data_dir.mkdir(mode=0o700, parents=True)
    # same TLS files, a master key of its own (32 random bytes, like a fresh data dir's)
    shutil.copytree(first.data_dir / "tls", stranger.data_dir / "tls")
    key = stranger.data_dir / "master.key"
    key.write_bytes(bytes(random.getrandbits(8) for _ in range(len(
        (first.data_dir / "master.key").read_bytes()))))
    key.chmod(0o600)
    stranger._write_config()
    p = subprocess.run(stranger.command(), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 1, f"status {p.returncode}:\n{out}"
    assert "not the key the store was created with" in out and "master.key" in out, out
    for pat in lib.SANITIZER_PATTERNS:
        assert pat not in out, out
    # it changed nothing, and the replicas keep serving
    assert first.sql("SELECT value FROM settings WHERE name = 'master_key_id'") == key_id
    for r in cluster.replicas:
        expect(lb_client(r).get("/readyz"), 200)
    admin = lb_client(cluster.lb3)
    expect(admin.login(*first.admin), 200)
    expect(admin.get("/v1/user"), 200)
