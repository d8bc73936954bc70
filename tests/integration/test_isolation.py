"""Tenant isolation: nothing of account A is visible to, or changeable by, account B."""

import pytest

import cloister_testlib as lib
from cloister_testlib import expect, new_user, plain_app_body, rand_hex64, unique


class Pair:
    def __init__(self, manager):
        self.m = manager
        # account A, fully populated
        self.a = new_user(manager, "alice")
        self.acct_a = self.a.create_account(unique("A"))["acct_id"]
        self.a.select(self.acct_a)
        self.a_member = new_user(manager, "amember")
        self.a.invite(self.a_member.email, "WRITER")
        self.app = self.a.create_app()                          # raises a domain task
        self.domain_task = self.app["pending_task_id"]
        self.build = self.a.create_build(self.app["app_id"])
        self.build_task = self.build["pending_task_id"]
        self.registry = self.a.create_registry(username="alice", password="alice-pw")
        self.a_events = self.a.events()
        # account B with its own things
        self.b = new_user(manager, "bob")
        self.acct_b = self.b.create_account(unique("B"))["acct_id"]
        self.b.select(self.acct_b)
        self.b_app = self.b.create_app(self.app["name"])         # same name: fine elsewhere
        self.b_build = self.b.create_build(
            self.b_app["app_id"], mrenclave=self.build["enclave_info"]["mrenclave"],
            mrsigner=self.build["enclave_info"]["mrsigner"])     # same measurement: fine
        self.b_registry = self.b.create_registry(self.registry["url"])   # same url: fine

    def a_snapshot(self):
        a = self.a
        return {
            "app": a.app(self.app["app_id"]),
            "build": a.build(self.build["build_id"]),
            "tasks": [a.task(self.domain_task), a.task(self.build_task)],
            "registry": expect(a.get(f"/v1/registry/{self.registry['registry_id']}"), 200),
            "members": sorted((m["user_id"], m["role"]) for m in a.list_all("/v1/users")),
            "account": expect(a.get(f"/v1/accounts/{self.acct_a}"), 200),
        }


@pytest.fixture(scope="module")
def pair(manager):
    return Pair(manager)


def entity_calls(p):
    app, build, reg = p.app["app_id"], p.build["build_id"], p.registry["registry_id"]
    return [
        ("GET", f"/v1/apps/{app}", None),
        ("PATCH", f"/v1/apps/{app}", {"description": "owned by B now"}),
        ("PATCH", f"/v1/apps/{app}", {"allowed_domains": ["evil.example.com"]}),
        ("DELETE", f"/v1/apps/{app}", None),
        ("GET", f"/v1/builds/{build}", None),
        ("DELETE", f"/v1/builds/{build}", None),
        ("GET", f"/v1/tasks/{p.domain_task}", None),
        ("PATCH", f"/v1/tasks/{p.domain_task}", {"status": "APPROVED"}),
        ("PATCH", f"/v1/tasks/{p.build_task}", {"status": "DENIED", "reason": "x"}),
        ("GET", f"/v1/registry/{reg}", None),
        ("PATCH", f"/v1/registry/{reg}", {"description": "mine"}),
        ("DELETE", f"/v1/registry/{reg}", None),
        ("PATCH", f"/v1/users/{p.a_member.user_id}", {"role": "READER"}),
        ("DELETE", f"/v1/users/{p.a_member.user_id}/accounts", None),
        ("PATCH", f"/v1/users/{p.a.user_id}", {"role": "READER"}),
        ("GET", f"/v1/accounts/{p.acct_a}", None),
        ("PATCH", f"/v1/accounts/{p.acct_a}", {"description": "hijacked"}),
        ("DELETE", f"/v1/accounts/{p.acct_a}", None),
        ("POST", f"/v1/accounts/select_account/{p.acct_a}", None),
    ]


def test_b_cannot_touch_a_entities(pair):
    before = pair.a_snapshot()
    failures = []
    for method, path, body in entity_calls(pair):
        kw = {"json": body} if body is not None else {}
        r = pair.b.request(method, path, **kw)
        if r.status_code != 404 or r.json().get("code") != "NOT_FOUND":
            failures.append(lib.describe(r))
    assert not failures, "B reached A's entities:\n" + "\n".join(failures)
    after = pair.a_snapshot()
    assert after == before, "A's entities changed by B's attempts"
    assert expect(pair.b.get("/v1/user"), 200)["selected_account"] == pair.acct_b


def test_b_cannot_use_a_app_in_body(pair):
    expect(pair.b.post("/v1/builds", json={"app_id": pair.app["app_id"],
                                           "mrenclave": rand_hex64(),
                                           "mrsigner": rand_hex64()}),
           404, "NOT_FOUND")
    assert pair.a.count("/v1/builds") == 1


def test_b_lists_hold_nothing_of_a(pair):
    a_ids = {pair.app["app_id"], pair.build["build_id"], pair.registry["registry_id"],
             pair.domain_task, pair.build_task, pair.a.user_id, pair.a_member.user_id,
             pair.acct_a}
    a_ids |= {e["event_id"] for e in pair.a_events}

    def ids_in(obj):
        out = set()
        if isinstance(obj, dict):
            for v in obj.values():
                out |= ids_in(v)
        elif isinstance(obj, list):
            for v in obj:
                out |= ids_in(v)
        elif isinstance(obj, str):
            out.add(obj)
        return out

    b = pair.b
    lists = {
        "/v1/apps": {}, "/v1/builds": {}, "/v1/tasks": {}, "/v1/registry": {},
        "/v1/events": {}, "/v1/users": {}, "/v1/accounts": {},
    }
    for path, params in lists.items():
        items = b.list_all(path, **params)
        leaked = ids_in(items) & a_ids
        assert not leaked, f"{path} of B shows A's ids {leaked}"
    # filters and searches by A's ids or names find nothing
    for path, params in [
        ("/v1/builds", {"app_id": pair.app["app_id"]}),
        ("/v1/tasks", {"entity_id": pair.app["app_id"]}),
        ("/v1/tasks", {"entity_id": pair.build["build_id"]}),
        ("/v1/events", {"entity_id": pair.app["app_id"]}),
        ("/v1/events", {"actor_id": pair.a.user_id}),
        ("/v1/users", {"role": "WRITER"}),
    ]:
        page = b.list(path, **params)
        assert page["items"] == [] and page["metadata"]["filtered_count"] == 0, (path, page)
    # the same name / measurement / url exist in B as B's own
    apps = b.list("/v1/apps", name=pair.app["name"])["items"]
    assert [x["app_id"] for x in apps] == [pair.b_app["app_id"]]
    # B's audit export and verify cover only B's chain
    exported = b.export_json()
    assert not ({e["event_id"] for e in exported} & a_ids)
    assert b.verify()["valid"] is True
    assert b.verify()["events_checked"] == len(exported)
    assert pair.a.verify()["valid"] is True


def test_counts_are_per_account(pair):
    for path in ("/v1/apps", "/v1/builds", "/v1/registry"):
        assert pair.b.count(path) == 1, path
    assert pair.b.count("/v1/users") == 1
    assert pair.a.count("/v1/users") == 2


def test_member_of_both_sees_each_by_selection(pair, manager):
    u = new_user(manager, "both")
    pair.a.invite(u.email, "READER")
    pair.b.invite(u.email, "WRITER")
    u.select(pair.acct_a)
    assert {x["app_id"] for x in u.list_all("/v1/apps")} == {pair.app["app_id"]}
    expect(u.post("/v1/apps", json=plain_app_body()), 403, "FORBIDDEN")
    assert u.select(pair.acct_b)["role"] == "WRITER"
    assert {x["app_id"] for x in u.list_all("/v1/apps")} == {pair.b_app["app_id"]}
    created = expect(u.post("/v1/apps", json=plain_app_body()), 201)
    assert created["acct_id"] == pair.acct_b
    expect(u.get(f"/v1/apps/{pair.app['app_id']}"), 404, "NOT_FOUND")


def test_admin_is_not_a_tenant_superuser(pair, manager):
    admin = manager.admin_client()
    expect(admin.post(f"/v1/accounts/select_account/{pair.acct_a}"), 404, "NOT_FOUND")
    expect(admin.get(f"/v1/accounts/{pair.acct_a}"), 404, "NOT_FOUND")


def test_select_non_member_account(pair, manager):
    stranger = new_user(manager, "stranger")
    expect(stranger.post(f"/v1/accounts/select_account/{pair.acct_a}"), 404, "NOT_FOUND")
    expect(stranger.post("/v1/accounts/select_account/00000000-0000-4000-8000-000000000000"),
           404, "NOT_FOUND")
    expect(stranger.get("/v1/apps"), 403, "NO_ACCOUNT_SELECTED")
    me = expect(stranger.get("/v1/user"), 200)
    assert me["selected_account"] is None and me["accounts"] == []
