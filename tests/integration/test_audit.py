"""Audit log: events for every write, the system chain, the hash chain and its verification
(including tampering with the store behind the manager's back), export."""

import csv
import io
import json
import socket
import struct
import time

import pytest
import requests
from urllib3.connection import HTTPConnection

import cloister_testlib as lib
from cloister_testlib import (ACTION_TYPES, TIME_RE, UUID_RE, Client, expect, new_user,
                              unique, unique_email)


def check_event_shape(e):
    assert UUID_RE.match(e["event_id"]), e
    assert isinstance(e["seq"], int) and e["seq"] >= 1, e
    assert TIME_RE.match(e["time"]), e
    assert e["actor"]["type"] in ("USER", "APP", "NODE", "SYSTEM"), e
    assert e["action_type"] in ACTION_TYPES, e
    assert e["severity"] in ("INFO", "WARNING", "ERROR"), e
    assert isinstance(e["message"], str) and e["message"], e
    assert isinstance(e["hash"], str) and e["hash"], e
    assert "prev_hash" in e


def check_chain(events):
    """Export order: seq ascending, contiguous, each prev_hash the previous hash."""
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq not contiguous: {seqs}"
    for prev, cur in zip(events, events[1:]):
        assert cur["prev_hash"] == prev["hash"], (prev, cur)
    assert len({e["hash"] for e in events}) == len(events)


def test_writes_produce_events(manager, user, make_user):
    c = user
    start = c.verify()["last_seq"]
    app = c.create_app()
    expect(c.patch(f"/v1/apps/{app['app_id']}", json={"description": "audited"}), 200)
    c.approve(app["pending_task_id"])
    build = c.create_build(app["app_id"])
    expect(c.vote(build["pending_task_id"], "DENIED", reason="no"), 200)
    reg = c.create_registry(password="pw")
    expect(c.patch(f"/v1/registry/{reg['registry_id']}", json={"description": "x"}), 200)
    member = make_user("audited")
    c.invite(member.email, "READER")
    expect(c.patch(f"/v1/users/{member.user_id}", json={"role": "WRITER"}), 200)
    expect(c.patch(f"/v1/accounts/{c.acct_id}", json={"description": "audited"}), 200)
    r = c.delete(f"/v1/registry/{reg['registry_id']}")
    assert r.status_code == 204

    events = c.events(sort_by="seq:ASC")
    for e in events:
        check_event_shape(e)
    new = [e for e in events if e["seq"] > start]
    for e in new:
        assert e["actor"]["type"] == "USER" or e["actor"]["type"] == "SYSTEM", e
    by_user = [e for e in new if e["actor"]["type"] == "USER"]
    assert all(e["actor"]["id"] == c.user_id for e in by_user), by_user

    def related(e, ids=(), texts=()):
        return (e.get("entity") or {}).get("id") in ids or any(t in e["message"] for t in texts)

    expectations = [
        ((app["app_id"], app["pending_task_id"]), (), 3, "app create + patch + domain vote"),
        ((build["build_id"], build["pending_task_id"]), (), 2, "build register + denial"),
        ((reg["registry_id"],), (), 3, "registry create + patch + delete"),
        ((member.user_id,), (member.email,), 2, "invite + role change"),
        ((c.acct_id,), (), 1, "account patch"),
    ]
    for ids, texts, at_least, what in expectations:
        found = [e for e in new if related(e, ids, texts)]
        assert len(found) >= at_least, f"{what}: expected >= {at_least} events, got {found}"
    votes = [e for e in new if e["action_type"] == "USER_APPROVAL"]
    assert len(votes) >= 2, f"task votes must be USER_APPROVAL events: {new}"
    assert all(e["actor"]["id"] == c.user_id for e in votes)

    # filters
    only = c.list("/v1/events", action_type="USER_APPROVAL")["items"]
    assert only and all(e["action_type"] == "USER_APPROVAL" for e in only)
    mine = c.list("/v1/events", actor_id=c.user_id, limit=1000)["items"]
    assert {e["event_id"] for e in by_user} <= {e["event_id"] for e in mine}
    ent = c.list("/v1/events", entity_id=reg["registry_id"])["items"]
    assert ent and all(e["entity"]["id"] == reg["registry_id"] for e in ent)
    sev = c.list("/v1/events", severity="INFO")["items"]
    assert all(e["severity"] == "INFO" for e in sev)
    assert c.list("/v1/events", **{"from": "2999-01-01T00:00:00.000Z"})["items"] == []
    assert c.list("/v1/events", to="2000-01-01T00:00:00.000Z")["items"] == []
    window = c.list("/v1/events", **{"from": new[0]["time"], "to": new[-1]["time"]},
                    limit=1000)["items"]
    assert {e["event_id"] for e in new} <= {e["event_id"] for e in window}


def test_auth_attempts_in_system_chain(manager, admin):
    def auth_events():
        return [e for e in admin.events(chain="system") if e["action_type"] == "USER_AUTH"]

    email = unique_email("sysauth")
    c = Client(manager)
    expect(c.signup(email, "sys-auth-password"), 201)
    user_id = c.user_id
    n0 = len(auth_events())

    expect(Client(manager).post("/v1/sys/auth", auth=(email, "wrong password")), 401)
    evs = auth_events()
    assert len(evs) == n0 + 1, "a failed log-in must be a USER_AUTH event in the system chain"
    expect(Client(manager).login(email, "sys-auth-password"), 200)
    evs = auth_events()
    assert len(evs) == n0 + 2, "a successful log-in must be a USER_AUTH event"
    expect(Client(manager).post("/v1/sys/auth", auth=(unique_email("ghost"), "whatever1")), 401)
    assert len(auth_events()) == n0 + 3, "an attempt for an unknown e-mail is recorded too"

    def mentions_user(e):
        return user_id in (e["actor"].get("id"), (e.get("entity") or {}).get("id")) \
            or email in e["message"]
    latest = sorted(evs, key=lambda e: e["seq"])[-2:]
    assert all(mentions_user(e) for e in latest), latest
    system = admin.events(chain="system")
    assert any(mentions_user(e) for e in system if e["action_type"] != "USER_AUTH"
               or e["seq"] < latest[0]["seq"]), "the sign-up is in the system chain"

    # the system chain verifies and exports like any other
    v = admin.verify(chain="system")
    assert v["valid"] is True and v["events_checked"] >= len(system)
    exported = admin.export_json(chain="system")
    check_chain(exported)

    # nobody but an administrator reads it
    other = new_user(manager)
    acct = other.create_account()["acct_id"]
    other.select(acct)
    expect(other.get("/v1/events", params={"chain": "system"}), 403, "FORBIDDEN")
    expect(other.get("/v1/events/verify", params={"chain": "system"}), 403, "FORBIDDEN")
    expect(other.get("/v1/events/export", params={"chain": "system", "format": "json"}),
           403, "FORBIDDEN")
    # auth events never land in an account chain
    assert not any(e["action_type"] == "USER_AUTH" and mentions_user(e)
                   for e in other.events())


def test_account_deletion_in_system_chain(manager, admin, make_user):
    u = make_user()
    acct = u.create_account(unique("gone"))["acct_id"]
    r = u.delete(f"/v1/accounts/{acct}")
    assert r.status_code == 204, lib.describe(r)
    system = admin.events(chain="system")
    assert any(acct in (e["entity"] or {}).get("id", "") or acct in e["message"]
               for e in system), "account deletion must be recorded in the system chain"


def test_verify_and_export(user):
    c = user
    for _ in range(3):
        c.create_registry()
    c.create_app()
    events = c.export_json()
    assert len(events) >= 5
    for e in events:
        check_event_shape(e)
    check_chain(events)
    listed = c.events(sort_by="seq:ASC")
    assert [e["event_id"] for e in listed] == [e["event_id"] for e in events]
    def key(e):
        return (e["event_id"], e["seq"], e["hash"], e["prev_hash"], e["message"])
    assert [key(e) for e in listed] == [key(e) for e in events], \
        "export and list must show the same events"

    v = c.verify()
    assert v["valid"] is True, v
    assert v["events_checked"] == len(events)
    assert v["last_seq"] == events[-1]["seq"]
    assert isinstance(v["checkpoints_checked"], int)
    assert isinstance(v["audit_public_key"], str) and v["audit_public_key"]
    assert v.get("error") is None

    r = c.get("/v1/events/export", params={"format": "csv"})
    expect(r, 200)
    assert "csv" in r.headers.get("Content-Type", ""), r.headers
    rows = list(csv.reader(io.StringIO(r.text)))
    header, body = rows[0], rows[1:]
    for col in ("event_id", "seq", "time", "action_type", "message", "hash", "prev_hash"):
        assert col in header, f"CSV header lacks {col}: {header}"
    assert len(body) == len(events)
    assert all(len(row) == len(header) for row in body)
    i_id, i_seq = header.index("event_id"), header.index("seq")
    assert [(row[i_id], int(row[i_seq])) for row in body] == \
        [(e["event_id"], e["seq"]) for e in events]
    i_msg = header.index("message")
    assert [row[i_msg] for row in body] == [e["message"] for e in events]

    expect(c.get("/v1/events/export", params={"format": "xml"}), 400, "BAD_REQUEST")


def test_csv_quotes_awkward_text(user):
    c = user
    c.create_app(unique('comma, "quote" app'), certificate=False)
    c.create_registry(description='semi; comma, "quoted"')
    r = c.get("/v1/events/export", params={"format": "csv"})
    expect(r, 200)
    rows = list(csv.reader(io.StringIO(r.text)))
    events = c.export_json()
    assert len(rows) - 1 == len(events)
    i_msg = rows[0].index("message")
    assert [row[i_msg] for row in rows[1:]] == [e["message"] for e in events]


# ------------------------------------------------------------------------------------------
# tampering with the store


def chain_for_tamper(manager):
    """A fresh account with >= 6 events; returns (client, events in seq order)."""
    u = new_user(manager, "tamper")
    acct = u.create_account(unique("tamper"))["acct_id"]
    u.select(acct)
    for _ in range(5):
        u.create_registry()
    events = u.export_json()
    assert len(events) >= 6
    assert u.verify()["valid"] is True
    return u, events


def tamper(manager, action):
    """Stops the manager, runs action(con) on its store (lib.StoreDb, either backend), commits
    and starts it again."""
    manager.stop()
    con = manager.db()
    try:
        action(con)
        con.commit()
    finally:
        con.close()
    manager.start()


def reverify(u):
    s = u.new_session()
    return s.verify()


def test_tamper_edit_message(manager):
    u, events = chain_for_tamper(manager)
    bystander, _ = chain_for_tamper(manager)
    target = events[len(events) // 2]

    def edit(con):
        table, col, val = lib.locate_event_row(con, target["event_id"])
        lib.drop_triggers(con, table)
        n = con.execute(f'UPDATE "{table}" SET message = message || \' (edited)\' '
                        f'WHERE {con.equals(col)}', (val,)).rowcount
        assert n == 1
    tamper(manager, edit)

    v = reverify(u)
    assert v["valid"] is False, v
    assert v["error"]["seq"] == target["seq"], v
    assert v["error"]["reason"]
    assert reverify(bystander)["valid"] is True, "another account's chain is unaffected"


def test_tamper_delete_row(manager):
    u, events = chain_for_tamper(manager)
    target = events[len(events) // 2]

    def delete(con):
        table, col, val = lib.locate_event_row(con, target["event_id"])
        lib.drop_triggers(con, table)
        assert con.execute(f'DELETE FROM "{table}" WHERE {con.equals(col)}',
                           (val,)).rowcount == 1
    tamper(manager, delete)

    v = reverify(u)
    assert v["valid"] is False, v
    assert v["error"]["seq"] in (target["seq"], target["seq"] + 1), v


def test_tamper_reorder(manager):
    u, events = chain_for_tamper(manager)
    i = len(events) // 2
    e1, e2 = events[i], events[i + 1]

    def swap(con):
        table, col1, val1 = lib.locate_event_row(con, e1["event_id"])
        _, col2, val2 = lib.locate_event_row(con, e2["event_id"])
        lib.drop_triggers(con, table)
        parking = 1 << 40
        con.execute(f'UPDATE "{table}" SET seq = ? WHERE {con.equals(col1)}', (parking, val1))
        con.execute(f'UPDATE "{table}" SET seq = ? WHERE {con.equals(col2)}', (e1["seq"], val2))
        con.execute(f'UPDATE "{table}" SET seq = ? WHERE {con.equals(col1)}', (e2["seq"], val1))
    tamper(manager, swap)

    v = reverify(u)
    assert v["valid"] is False, v
    assert v["error"]["seq"] in (e1["seq"], e2["seq"]), v


def test_untouched_chain_valid_after_restart(manager):
    u, events = chain_for_tamper(manager)
    manager.restart()
    s = u.new_session()
    v = s.verify()
    after = s.export_json()
    assert [e["hash"] for e in after[:len(events)]] == [e["hash"] for e in events]
    assert v["valid"] is True and v["events_checked"] == len(after), v


# ------------------------------------------------------------------------------------------
# export of a long chain: streamed page by page (500 events a page)

LONG_CHAIN = 1150  # events written into the chain: two full export pages and a part
CSV_HEADER = ("event_id,seq,time,actor_type,actor_id,actor_name,action_type,severity,message,"
              "entity_type,entity_id,prev_hash,hash\r\n")


def write_events(c, n, app_id=None):
    """n events, cheaply: PATCHes of one app's description over c's keep-alive connection."""
    if app_id is None:
        app_id = c.create_app(certificate=False)["app_id"]
    for i in range(n):
        expect(c.patch(f"/v1/apps/{app_id}", json={"description": f"event {i}"}), 200)
    return app_id


class SmallWindow(requests.adapters.HTTPAdapter):
    """Connections with a small receive buffer and segment size, so that the manager can send
    only as fast as the test reads (its kernel send buffer, sized from the segment size, stays
    far below an export's size) and an export stays in progress while the test holds it;
    abortive: closing the connection resets it (RST) instead of ending it (FIN)."""

    def __init__(self, abortive=False):
        self.socket_options = HTTPConnection.default_socket_options + [
            (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
            (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)]
        if abortive:
            self.socket_options.append((socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0)))
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["socket_options"] = self.socket_options
        super().init_poolmanager(*args, **kwargs)


def open_export(c, fmt, abortive=False):
    """Starts an export on a new small-window connection; the body is read by the caller."""
    s = c.clone()
    s.http.mount("https://", SmallWindow(abortive))
    r = s.http.get(s.m.url + "/v1/events/export", params={"format": fmt}, stream=True,
                   headers={"Authorization": f"Bearer {s.token}"}, timeout=lib.REQUEST_TIMEOUT)
    assert r.status_code == 200, lib.describe(r)
    assert r.headers.get("Transfer-Encoding") == "chunked", r.headers
    return r


def export_seqs(fmt, body):
    """The seqs of an export's events, in order; checks that the document is complete."""
    if fmt == "json":
        events = json.loads(body)  # one JSON array, closed
        assert isinstance(events, list)
        return [e["seq"] for e in events]
    text = body.decode()
    assert text.startswith(CSV_HEADER) and text.endswith("\r\n"), text[-200:]
    rows = list(csv.reader(io.StringIO(text)))
    i_seq = rows[0].index("seq")
    assert all(len(row) == len(rows[0]) for row in rows[1:])
    return [int(row[i_seq]) for row in rows[1:]]


@pytest.fixture(scope="module")
def long_chain(manager):
    """(client, app_id): an account whose chain holds more than 1,100 events."""
    c = new_user(manager, "longchain")
    c.select(c.create_account(unique("long"))["acct_id"])
    app_id = write_events(c, LONG_CHAIN)
    return c, app_id


def test_export_long_chain(long_chain):
    c, _ = long_chain
    head = c.verify()["last_seq"]
    assert head > LONG_CHAIN

    r = c.get("/v1/events/export", params={"format": "json"})
    expect(r, 200)
    events = json.loads(r.text)
    assert [e["seq"] for e in events] == list(range(1, head + 1)), "every seq once, in order"
    check_chain(events)
    for e in events:
        check_event_shape(e)

    r = c.get("/v1/events/export", params={"format": "csv"})
    expect(r, 200)
    assert export_seqs("csv", r.content) == list(range(1, head + 1))
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) - 1 == head
    i_id, i_hash = rows[0].index("event_id"), rows[0].index("hash")
    assert [(row[i_id], row[i_hash]) for row in rows[1:]] == \
        [(e["event_id"], e["hash"]) for e in events]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_ends_at_the_head_it_started_with(long_chain, fmt):
    """Events appended while an export is being read are not part of it, and it still ends
    properly."""
    c, app_id = long_chain
    head = c.verify()["last_seq"]
    r = open_export(c, fmt)
    chunks = r.iter_content(chunk_size=1024)
    body = next(chunks)
    time.sleep(0.3)
    write_events(c, 30, app_id)  # c's own connection: another client
    assert c.verify()["last_seq"] == head + 30
    for chunk in chunks:
        body += chunk
    assert export_seqs(fmt, body) == list(range(1, head + 1))


def test_export_of_a_chain_deleted_meanwhile_ends_short(manager):
    """Pages after the first are read as the client reads: when the chain is gone by then (its
    account was deleted), the export ends short, the JSON array unclosed, and the manager logs
    it."""
    c = new_user(manager, "vanish")
    acct = c.create_account(unique("vanish"))["acct_id"]
    c.select(acct)
    write_events(c, 600)
    r = open_export(c, "json")
    chunks = r.iter_content(chunk_size=1024)
    body = next(chunks)
    assert c.delete(f"/v1/accounts/{acct}").status_code == 204
    try:
        for chunk in chunks:
            body += chunk
    except requests.RequestException:
        pass
    with pytest.raises(ValueError):
        json.loads(body)
    assert b'"seq":500,' in body and b'"seq":501,' not in body
    lib.wait_until(lambda: f"Audit export of chain '{acct}' cut short" in manager.log_text(), 5,
                   what="the export's error in the log")


def test_export_client_going_away(manager_factory):
    """Clients that close, reset or stall an export half-way leave the manager healthy, and the
    export's state is freed (no leak report when the manager stops, also with an export still in
    progress then)."""
    m = manager_factory({"limits": {"request_timeout": 2}}, name="export-drop")
    c = new_user(m, "drop")
    c.select(c.create_account(unique("drop"))["acct_id"])
    write_events(c, LONG_CHAIN)
    head = c.verify()["last_seq"]
    workers = m.pids("cl-worker")

    for abortive in (False, True):
        for fmt in ("json", "csv"):
            r = open_export(c, fmt, abortive)
            next(r.iter_content(chunk_size=1024))
            r.close()

    # A client that stops reading: the manager's write timeout (request_timeout) drops it. (The
    # iterator is kept: dropping an unfinished one closes the connection.)
    stalled = open_export(c, "json")
    chunks = stalled.iter_content(chunk_size=1024)
    body = next(chunks)
    time.sleep(3.5)
    try:
        for chunk in chunks:
            body += chunk
    except requests.RequestException:
        pass
    with pytest.raises(ValueError):
        json.loads(body)

    assert m.pids("cl-worker") == workers, "no worker died"
    for fmt in ("json", "csv"):
        r = c.get("/v1/events/export", params={"format": fmt})
        expect(r, 200)
        assert export_seqs(fmt, r.content) == list(range(1, head + 1))

    # An export in progress when the manager stops.
    held = open_export(c, "csv")
    held_chunks = held.iter_content(chunk_size=1024)
    next(held_chunks)
    m.stop()
    held.close()
    assert "LeakSanitizer" not in m.log_text(), m.log_tail(200)
