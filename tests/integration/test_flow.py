"""The reference flow (SPEC 1) end to end over REST, plus sessions, lists and the system calls."""

import re
import secrets
import time

import pytest

import cloister_testlib as lib
from cloister_testlib import (REFERENCE_DOMAIN, TIME_RE, UUID_RE, Client, app_body,
                              expect, new_user, plain_app_body, rand_hex64, unique,
                              unique_email)

SECRET_KEYS = re.compile(r"password|hash|secret", re.I)


def assert_no_secret_keys(obj, path=""):
    """No key anywhere in obj looks like a password or hash (except has_password)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "has_password":
                assert not SECRET_KEYS.search(k), f"secret-looking field {path}{k} returned"
            assert_no_secret_keys(v, f"{path}{k}.")
    elif isinstance(obj, list):
        for v in obj:
            assert_no_secret_keys(v, path)


def assert_uuid(value, what):
    assert isinstance(value, str) and UUID_RE.match(value), f"{what} is not a v4 UUID: {value!r}"


def assert_time(value, what):
    assert isinstance(value, str) and TIME_RE.match(value), \
        f"{what} is not RFC 3339 UTC with ms: {value!r}"


# ------------------------------------------------------------------------------------------
# the reference flow


def test_reference_flow(manager):
    c = Client(manager)
    email = f"Flow.{unique('User')}@Example.COM"
    password = "correct horse battery staple"

    # 1. sign up
    r = c.signup(email, password, "Flo", "Wuser")
    user = expect(r, 201)
    assert_uuid(user["user_id"], "user_id")
    assert user["user_email"] == email.lower(), "e-mail must be stored lower-cased"
    assert user["first_name"] == "Flo" and user["last_name"] == "Wuser"
    assert user["status"] == "ACTIVE"
    assert user["is_admin"] is False, "only the first user to sign up is an administrator"
    assert_time(user["created_at"], "created_at")
    assert "last_logged_in_at" in user
    assert_no_secret_keys(user)

    expect(Client(manager).signup(email.upper(), password), 409, "UNIQUE_VIOLATION",
           "user_email")

    # 2. log in (with the e-mail in another case)
    r = c.login(email.upper(), password)
    auth = expect(r, 200)
    assert auth["token_type"] == "Bearer"
    assert auth["expires_in"] == 3600
    assert lib.b64url_decoded_len(auth["access_token"]) == 32, "token must be 32 random bytes"
    si = auth["session_info"]
    assert si["user_id"] == user["user_id"]
    assert si["user_email"] == email.lower()
    assert si.get("acct_id") is None

    # 3. an account, selected
    expect(c.get("/v1/apps"), 403, "NO_ACCOUNT_SELECTED")
    acct = c.create_account("Flow account", description="reference flow")
    assert_uuid(acct["acct_id"], "acct_id")
    assert acct["name"] == "Flow account"
    assert acct["description"] == "reference flow"
    assert acct["status"] == "ACTIVE"
    assert acct["role"] == "MANAGER"
    defaults = {"approvals_required": 1, "allow_simulation": False,
                "certificate_validity": 86400, "renewal_threshold": 50,
                "node_refresh_interval": 30}
    assert {k: acct["settings"].get(k) for k in defaults} == defaults, acct["settings"]
    sel = c.select(acct["acct_id"])
    assert sel["acct_id"] == acct["acct_id"] and sel["role"] == "MANAGER", sel

    me = expect(c.get("/v1/user"), 200)
    assert me["user_id"] == user["user_id"]
    assert me["selected_account"] == acct["acct_id"]
    assert [(a["acct_id"], a["name"], a["role"]) for a in me["accounts"]] == \
        [(acct["acct_id"], "Flow account", "MANAGER")]
    assert me["last_logged_in_at"] is not None
    assert_no_secret_keys(me)

    # 4. the application with its certificate configuration
    name = unique("myapp")
    app = expect(c.post("/v1/apps", json=app_body(name)), 201)
    assert_uuid(app["app_id"], "app_id")
    assert app["acct_id"] == acct["acct_id"]
    assert app["name"] == name
    assert app["mem_size"] == 1073741824
    assert app["threads"] == 128
    assert app["isvprodid"] == 1 and app["isvsvn"] == 1
    assert app["input_image_name"] == "127.0.0.1:5000/flask:latest"
    assert app["output_image_name"] == "127.0.0.1:5000/flask-conf:latest"
    cert = app["advanced_settings"]["certificate"]
    assert cert["issuer"] == "MANAGER_CA"
    assert cert["key_type"] == "RSA"
    assert cert["key_param"] == {"size": 2048}
    assert cert["key_path"] == "/appkey.pem" and cert["cert_path"] == "/appcert.pem"
    assert cert["alt_names"] == [REFERENCE_DOMAIN]
    assert REFERENCE_DOMAIN in app["allowed_domains"]
    assert app["whitelisted_domains"] == []
    assert_uuid(app["pending_task_id"], "pending_task_id")
    assert_time(app["created_at"], "created_at")
    assert_time(app["updated_at"], "updated_at")
    assert c.app(app["app_id"]) == app

    # 5. the domain task
    task = c.task(app["pending_task_id"])
    assert task["task_id"] == app["pending_task_id"]
    assert task["task_type"] == "DOMAIN_WHITELIST"
    assert task["entity_id"] == app["app_id"]
    assert task["entity_name"] == name
    assert task["status"]["status"] == "INPROGRESS"
    assert task["domains_added"] == [REFERENCE_DOMAIN]
    assert task["domains_removed"] == []
    assert task["approvals_required"] == 1
    assert task["approvals"] == []
    assert task["requester_info"]["user_id"] == user["user_id"]

    done = c.approve(task["task_id"])
    assert done["status"]["status"] == "SUCCESS"
    assert len(done["approvals"]) == 1
    vote = done["approvals"][0]
    assert vote["user_id"] == user["user_id"] and vote["status"] == "APPROVED"
    assert_time(vote["time"], "approval time")

    app = c.app(app["app_id"])
    assert REFERENCE_DOMAIN in app["whitelisted_domains"]
    assert app["pending_task_id"] is None

    # 6. a build measured elsewhere (upper-case hex is stored lower-case)
    mre, mrs = rand_hex64(), rand_hex64()
    build = expect(c.post("/v1/builds", json={
        "app_id": app["app_id"], "mrenclave": mre.upper(), "mrsigner": mrs.upper(),
        "platform": "sim", "docker_image_name": "127.0.0.1:5000/flask-conf",
        "docker_version": "latest"}), 201)
    assert_uuid(build["build_id"], "build_id")
    assert build["app_id"] == app["app_id"]
    assert build["app_name"] == name
    assert build["platform"] == "sim"
    assert build["status"]["status"] == "PENDING"
    ei = build["enclave_info"]
    assert ei["mrenclave"] == mre and ei["mrsigner"] == mrs
    assert ei["isvprodid"] == 1 and ei["isvsvn"] == 1, "isvprodid/isvsvn default to the app's"
    assert build["docker_info"]["docker_image_name"] == "127.0.0.1:5000/flask-conf"
    assert build["docker_info"]["docker_version"] == "latest"
    assert build["deployment_status"] == {"count": 0}
    assert_uuid(build["pending_task_id"], "build pending_task_id")

    btask = c.task(build["pending_task_id"])
    assert btask["task_type"] == "BUILD_WHITELIST"
    assert btask["entity_id"] == build["build_id"]
    assert btask["status"]["status"] == "INPROGRESS"

    done = c.approve(btask["task_id"])
    assert done["status"]["status"] == "SUCCESS"
    build = c.build(build["build_id"])
    assert build["status"]["status"] == "WHITELISTED"
    assert build["pending_task_id"] is None
    assert_time(build["status"]["status_updated_at"], "status_updated_at")

    # the same measurement again in this account
    expect(c.post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": mre,
                                      "mrsigner": rand_hex64()}),
           409, "UNIQUE_VIOLATION")
    # isvprodid must equal the app's
    expect(c.post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": rand_hex64(),
                                      "mrsigner": mrs, "isvprodid": 2}),
           400, "INVALID_BODY_PARAMETER", "isvprodid")
    # an explicit isvsvn is kept
    b2 = c.create_build(app["app_id"], isvsvn=7)
    assert b2["enclave_info"]["isvsvn"] == 7

    # 7. filters find them
    builds = c.list("/v1/builds", app_id=app["app_id"], status="WHITELISTED")
    assert [b["build_id"] for b in builds["items"]] == [build["build_id"]]
    tasks = c.list("/v1/tasks", status="SUCCESS")
    assert {t["task_id"] for t in tasks["items"]} == {task["task_id"], btask["task_id"]}
    tasks = c.list("/v1/tasks", task_type="BUILD_WHITELIST", entity_id=b2["build_id"])
    assert [t["task_id"] for t in tasks["items"]] == [b2["pending_task_id"]]


def test_first_user_is_admin(manager):
    admin = manager.admin_client()
    me = expect(admin.get("/v1/user"), 200)
    assert me["is_admin"] is True
    assert me["selected_account"] is None
    other = new_user(manager)
    assert expect(other.get("/v1/user"), 200)["is_admin"] is False


def test_login_failures(manager):
    u = new_user(manager)
    c = Client(manager)
    bad = expect(c.post("/v1/sys/auth", auth=(u.email, "wrong-password")), 401, "UN_AUTHORIZED")
    missing = expect(c.post("/v1/sys/auth", auth=(unique_email("ghost"), "wrong-password")),
                     401, "UN_AUTHORIZED")
    assert bad["message"] == missing["message"], "must not reveal whether the user exists"
    expect(c.post("/v1/sys/auth"), 401, "UN_AUTHORIZED")
    expect(c.post("/v1/sys/auth", headers={"Authorization": "Basic !!notbase64!!"}),
           401, "UN_AUTHORIZED")
    expect(c.get("/v1/user", token="not-a-real-token"), 401, "UN_AUTHORIZED")
    expect(c.get("/v1/user", headers={"Authorization": "Bearer"}), 401, "UN_AUTHORIZED")
    expect(c.get("/v1/user", auth=(u.email, u.password)), 401, "UN_AUTHORIZED")


def test_login_rate_limit(manager):
    u = new_user(manager)
    c = Client(manager)
    for _ in range(10):
        expect(c.post("/v1/sys/auth", auth=(u.email, "wrong-password")), 401, "UN_AUTHORIZED")
    expect(c.post("/v1/sys/auth", auth=(u.email, "wrong-password")), 429, "QUOTA_EXCEEDED")
    # locked for the window even with the right password
    expect(c.post("/v1/sys/auth", auth=(u.email, u.password)), 429, "QUOTA_EXCEEDED")
    # another user is not affected
    v = new_user(manager)
    expect(Client(manager).login(v.email, v.password), 200)


def test_logout_invalidates_token(manager):
    u = new_user(manager)
    other = u.new_session(select=None)
    expect(u.get("/v1/user"), 200)
    r = u.logout()
    assert r.status_code == 204, lib.describe(r)
    expect(u.get("/v1/user"), 401, "UN_AUTHORIZED")
    expect(u.post("/v1/accounts", json={"name": "after logout"}), 401, "UN_AUTHORIZED")
    expect(u.logout(), 401, "UN_AUTHORIZED")
    # only that session ended
    expect(other.get("/v1/user"), 200)


def test_sessions_are_independent(manager, user):
    """The selection is part of the session: two log-ins of one user select different accounts."""
    a1 = user.acct_id
    s2 = user.new_session(select=None)
    a2 = s2.create_account(unique("second"))["acct_id"]
    s2.select(a2)
    app1 = user.create_app(certificate=False)
    app2 = s2.create_app(certificate=False)
    names1 = {a["name"] for a in user.list_all("/v1/apps")}
    names2 = {a["name"] for a in s2.list_all("/v1/apps")}
    assert app1["name"] in names1 and app2["name"] not in names1
    assert app2["name"] in names2 and app1["name"] not in names2
    assert expect(user.get("/v1/user"), 200)["selected_account"] == a1
    assert expect(s2.get("/v1/user"), 200)["selected_account"] == a2
    # the selection holds on every worker: many requests, same answer
    for _ in range(10):
        assert expect(s2.get("/v1/user"), 200)["selected_account"] == a2


def test_session_survives_restart(manager, user):
    app = user.create_app(certificate=False)
    manager.restart()
    # tokens are kept in the store (as their SHA-256) with the selection
    assert user.app(app["app_id"])["name"] == app["name"]


@pytest.fixture(scope="module")
def short_ttl_manager(manager_factory):
    return manager_factory({"auth": {"token_ttl": 2}}, name="mgr-ttl")


def test_token_expiry(short_ttl_manager):
    u = new_user(short_ttl_manager)
    r = u.login()
    assert expect(r, 200)["expires_in"] == 2
    expect(u.get("/v1/user"), 200)
    time.sleep(3)
    expect(u.get("/v1/user"), 401, "UN_AUTHORIZED")
    # a new log-in works again
    expect(u.login(), 200)
    expect(u.get("/v1/user"), 200)


# ------------------------------------------------------------------------------------------
# domains: supersede and removal


def test_domain_changes(user):
    c = user
    app = c.create_app(certificate=False, allowed_domains=["A.Example.com"])
    assert app["allowed_domains"] == ["a.example.com"], "domains are lower-cased"
    t1 = c.task(app["pending_task_id"])
    assert t1["domains_added"] == ["a.example.com"]
    c.approve(t1["task_id"])
    assert c.app(app["app_id"])["whitelisted_domains"] == ["a.example.com"]

    # add b -> task 2
    app = expect(c.patch(f"/v1/apps/{app['app_id']}",
                         json={"allowed_domains": ["a.example.com", "b.example.com"]}), 200)
    t2_id = app["pending_task_id"]
    assert_uuid(t2_id, "pending_task_id")
    t2 = c.task(t2_id)
    assert t2["domains_added"] == ["b.example.com"]
    assert app["whitelisted_domains"] == ["a.example.com"]

    # change again while pending: task 2 is superseded by task 3
    app = expect(c.patch(f"/v1/apps/{app['app_id']}",
                         json={"allowed_domains": ["a.example.com", "c.example.com"]}), 200)
    t3_id = app["pending_task_id"]
    assert t3_id not in (None, t2_id)
    t2 = c.task(t2_id)
    assert t2["status"]["status"] == "FAILED"
    assert "superseded" in (t2["status"].get("reason") or "")
    expect(c.vote(t2_id), 409, "INVALID_STATE")
    t3 = c.task(t3_id)
    assert t3["domains_added"] == ["c.example.com"]
    c.approve(t3_id)
    app = c.app(app["app_id"])
    assert sorted(app["whitelisted_domains"]) == ["a.example.com", "c.example.com"]
    assert app["pending_task_id"] is None

    # removing a domain takes effect at once and needs no approval
    app = expect(c.patch(f"/v1/apps/{app['app_id']}",
                         json={"allowed_domains": ["c.example.com"]}), 200)
    assert app["whitelisted_domains"] == ["c.example.com"]
    assert app["pending_task_id"] is None
    assert c.app(app["app_id"])["whitelisted_domains"] == ["c.example.com"]

    # removal + addition in one change: one task listing both
    app = expect(c.patch(f"/v1/apps/{app['app_id']}",
                         json={"allowed_domains": ["d.example.com"]}), 200)
    assert app["whitelisted_domains"] == []
    t4 = c.task(app["pending_task_id"])
    assert t4["domains_added"] == ["d.example.com"]
    assert t4["domains_removed"] == ["c.example.com"]


def test_domain_union_and_denial(user):
    c = user
    app = c.create_app(allowed_domains=["api.example.com"])   # + myapp.domain.dom via cert
    assert set(app["allowed_domains"]) == {"api.example.com", REFERENCE_DOMAIN}
    t = c.task(app["pending_task_id"])
    assert sorted(t["domains_added"]) == sorted(["api.example.com", REFERENCE_DOMAIN])
    denied = expect(c.vote(t["task_id"], "DENIED", reason="not ours"), 200)
    assert denied["status"]["status"] == "DENIED"
    assert denied["approvals"][0]["status"] == "DENIED"
    assert denied["approvals"][0]["reason"] == "not ours"
    app = c.app(app["app_id"])
    assert app["whitelisted_domains"] == []
    assert app["pending_task_id"] is None


def test_delete_app_deletes_builds_and_fails_tasks(user):
    c = user
    app = c.create_app()
    build = c.create_build(app["app_id"])
    app_task, build_task = app["pending_task_id"], build["pending_task_id"]
    r = c.delete(f"/v1/apps/{app['app_id']}")
    assert r.status_code == 204, lib.describe(r)
    expect(c.get(f"/v1/apps/{app['app_id']}"), 404, "NOT_FOUND")
    expect(c.get(f"/v1/builds/{build['build_id']}"), 404, "NOT_FOUND")
    assert c.task(build_task)["status"]["status"] == "FAILED"
    r = c.get(f"/v1/tasks/{app_task}")
    if r.status_code == 200:   # the app's own domain task may be kept, but not left pending
        assert r.json()["status"]["status"] != "INPROGRESS", lib.describe(r)
    else:
        expect(r, 404, "NOT_FOUND")
    expect(c.delete(f"/v1/apps/{app['app_id']}"), 404, "NOT_FOUND")


def test_delete_build_fails_task(user):
    c = user
    app = c.create_app(certificate=False)
    build = c.create_build(app["app_id"])
    r = c.delete(f"/v1/builds/{build['build_id']}")
    assert r.status_code == 204, lib.describe(r)
    assert c.task(build["pending_task_id"])["status"]["status"] == "FAILED"
    expect(c.vote(build["pending_task_id"]), 409, "INVALID_STATE")
    # the measurement is free again
    c.create_build(app["app_id"], mrenclave=build["enclave_info"]["mrenclave"],
                   mrsigner=build["enclave_info"]["mrsigner"])



def test_build_image_flat_or_nested(user):
    c = user
    app = c.create_app(certificate=False)
    image = {"docker_image_name": "registry.example.com/flask-conf", "docker_version": "v1",
             "docker_image_sha": "sha256:" + rand_hex64(), "docker_image_size": 123456}
    flat = c.create_build(app["app_id"], **image)
    nested = c.create_build(app["app_id"], docker_info=image)
    assert flat["docker_info"] == image
    assert nested["docker_info"] == image
    r = c.post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": rand_hex64(),
                                   "mrsigner": rand_hex64(), "docker_info": image,
                                   "docker_version": "v2"})
    expect(r, 400, "INVALID_BODY_PARAMETER", "docker_info")
    r = c.post("/v1/builds", json={"app_id": app["app_id"], "mrenclave": rand_hex64(),
                                   "mrsigner": rand_hex64(), "docker_info": {"bogus": 1}})
    expect(r, 400, "INVALID_BODY_PARAMETER", "docker_info.bogus")

def test_app_patch_and_uniqueness(user):
    c = user
    a = c.create_app(certificate=False, labels={"team": "blue"})
    b = c.create_app(certificate=False)
    expect(c.post("/v1/apps", json=plain_app_body(a["name"])), 409, "UNIQUE_VIOLATION", "name")
    expect(c.patch(f"/v1/apps/{b['app_id']}", json={"name": a["name"]}),
           409, "UNIQUE_VIOLATION", "name")
    time.sleep(0.01)
    p = expect(c.patch(f"/v1/apps/{a['app_id']}",
                       json={"description": "changed", "threads": 64,
                             "labels": {"env": "prod"}}), 200)
    assert p["description"] == "changed" and p["threads"] == 64
    assert p["labels"] == {"env": "prod"}, "objects are replaced whole"
    assert p["name"] == a["name"] and p["mem_size"] == a["mem_size"]
    assert p["created_at"] == a["created_at"]
    assert p["updated_at"] > a["updated_at"]
    assert c.app(a["app_id"]) == p


# ------------------------------------------------------------------------------------------
# registries


def test_registries(manager, user):
    c = user
    secret = "s3cret-" + secrets.token_hex(8)
    url = f"registry.example.com:5000/{unique('team')}"
    r = c.post("/v1/registry", json={"url": url, "description": "team registry",
                                     "username": "bob", "password": secret})
    reg = expect(r, 201)
    assert secret not in r.text
    assert_uuid(reg["registry_id"], "registry_id")
    assert reg["url"] == url and reg["username"] == "bob"
    assert reg["description"] == "team registry"
    assert reg["has_password"] is True
    assert "password" not in reg
    assert_time(reg["created_at"], "created_at")

    bare = c.create_registry("https://" + unique("bare") + ".example.com")
    assert bare["has_password"] is False
    assert "password" not in bare

    responses = [c.get(f"/v1/registry/{reg['registry_id']}"), c.get("/v1/registry"),
                 c.get("/v1/registry", params={"sort_by": "url:ASC"})]
    p = c.patch(f"/v1/registry/{reg['registry_id']}",
                json={"description": "renamed", "password": secret + "-2"})
    responses.append(p)
    for resp in responses:
        expect(resp, 200)
        assert secret not in resp.text, "registry password returned"
        assert_no_secret_keys(resp.json())
    assert p.json()["description"] == "renamed" and p.json()["has_password"] is True
    got = expect(c.get(f"/v1/registry/{reg['registry_id']}"), 200)
    assert got["description"] == "renamed" and got["has_password"] is True
    assert "password" not in got

    regs = c.list("/v1/registry", sort_by="url:ASC")
    urls = [x["url"] for x in regs["items"]]
    assert urls == sorted(urls) and url in urls

    expect(c.post("/v1/registry", json={"url": url}), 409, "UNIQUE_VIOLATION", "url")

    # nowhere in the store in clear (nor in any event message)
    for where, data in manager.store_contents():
        assert secret.encode() not in data, f"password in clear in {where}"
    export = c.get("/v1/events/export", params={"format": "json"})
    assert secret not in export.text

    r = c.delete(f"/v1/registry/{reg['registry_id']}")
    assert r.status_code == 204, lib.describe(r)
    expect(c.get(f"/v1/registry/{reg['registry_id']}"), 404, "NOT_FOUND")


# ------------------------------------------------------------------------------------------
# lists


def test_list_pagination_sort_filter_search(user):
    c = user
    names = ["alpha-one", "bravo-two", "charlie-three", "delta-four", "echo-five"]
    apps = []
    for i, n in enumerate(names):
        desc = "NEEDLE in description" if i == 3 else "plain"
        apps.append(c.create_app(n, certificate=False, description=desc))
        time.sleep(0.005)

    page = c.list("/v1/apps", limit=2)
    assert page["metadata"] == {"limit": 2, "offset": 0, "total_count": 5, "filtered_count": 5}
    assert len(page["items"]) == 2
    # default order: created_at DESC
    full = c.list("/v1/apps")
    assert full["metadata"]["limit"] == 100 and full["metadata"]["offset"] == 0
    created = [a["created_at"] for a in full["items"]]
    assert created == sorted(created, reverse=True)
    assert [a["name"] for a in full["items"]] == names[::-1]

    asc = c.list("/v1/apps", sort_by="name:ASC")
    assert [a["name"] for a in asc["items"]] == sorted(names)
    desc = c.list("/v1/apps", sort_by="name:DESC")
    assert [a["name"] for a in desc["items"]] == sorted(names, reverse=True)
    upd = c.list("/v1/apps", sort_by="updated_at:ASC")
    assert [a["name"] for a in upd["items"]] == names

    seen = []
    for offset in range(0, 6, 2):
        p = c.list("/v1/apps", sort_by="name:ASC", limit=2, offset=offset)
        assert p["metadata"]["offset"] == offset
        seen += [a["name"] for a in p["items"]]
    assert seen == sorted(names)
    beyond = c.list("/v1/apps", offset=10)
    assert beyond["items"] == [] and beyond["metadata"]["total_count"] == 5

    found = c.list("/v1/apps", all_search="ALPHA")
    assert [a["name"] for a in found["items"]] == ["alpha-one"]
    assert found["metadata"]["total_count"] == 5 and found["metadata"]["filtered_count"] == 1
    found = c.list("/v1/apps", all_search="needle")
    assert [a["name"] for a in found["items"]] == ["delta-four"]
    found = c.list("/v1/apps", all_search="-t")
    assert sorted(a["name"] for a in found["items"]) == ["bravo-two", "charlie-three"]
    exact = c.list("/v1/apps", name="echo-five")
    assert [a["app_id"] for a in exact["items"]] == [apps[4]["app_id"]]
    assert exact["metadata"]["filtered_count"] == 1
    none = c.list("/v1/apps", name="echo")
    assert none["items"] == [] and none["metadata"]["filtered_count"] == 0

    # builds, tasks, events, members
    b1 = c.create_build(apps[0]["app_id"])
    b2 = c.create_build(apps[1]["app_id"])
    c.approve(b2["pending_task_id"])
    bl = c.list("/v1/builds", app_id=apps[0]["app_id"])
    assert [b["build_id"] for b in bl["items"]] == [b1["build_id"]]
    assert bl["metadata"]["total_count"] == 2
    bl = c.list("/v1/builds", status="PENDING")
    assert [b["build_id"] for b in bl["items"]] == [b1["build_id"]]
    tl = c.list("/v1/tasks", status="INPROGRESS")
    assert [t["entity_id"] for t in tl["items"]] == [b1["build_id"]]
    tl = c.list("/v1/tasks", sort_by="created_at:ASC")
    assert [t["entity_id"] for t in tl["items"]] == [b1["build_id"], b2["build_id"]]

    ev = c.list("/v1/events")
    seqs = [e["seq"] for e in ev["items"]]
    assert seqs == sorted(seqs, reverse=True), "events default to seq:DESC"
    ev = c.list("/v1/events", sort_by="seq:ASC", limit=3)
    assert [e["seq"] for e in ev["items"]] == sorted(seqs)[:3]
    assert ev["metadata"]["total_count"] == len(seqs)


def test_member_list_filter(team):
    members = team.reader.list("/v1/users")
    assert members["metadata"]["total_count"] == 3
    by_id = {m["user_id"]: m for m in members["items"]}
    assert by_id[team.owner.user_id]["role"] == "MANAGER"
    assert by_id[team.writer.user_id]["role"] == "WRITER"
    assert by_id[team.reader.user_id]["role"] == "READER"
    for m in members["items"]:
        assert_no_secret_keys(m)
        assert m["status"] == "ACTIVE"
    readers = team.owner.list("/v1/users", role="READER")
    assert [m["user_id"] for m in readers["items"]] == [team.reader.user_id]
    assert readers["metadata"]["filtered_count"] == 1
    accts = team.writer.list("/v1/accounts")
    assert team.acct_id in {a["acct_id"] for a in accts["items"]}
    assert {a["role"] for a in accts["items"] if a["acct_id"] == team.acct_id} == {"WRITER"}


def test_account_patch_and_delete(manager, user):
    c = user
    acct = c.create_account(unique("temp"))
    p = expect(c.patch(f"/v1/accounts/{acct['acct_id']}",
                       json={"name": "renamed", "settings": {"approvals_required": 3,
                                                             "renewal_threshold": 60}}), 200)
    assert p["name"] == "renamed"
    assert p["settings"]["approvals_required"] == 3
    assert p["settings"]["renewal_threshold"] == 60
    assert p["settings"]["certificate_validity"] == 86400, "PATCH only changes given fields"
    assert expect(c.get(f"/v1/accounts/{acct['acct_id']}"), 200) == p

    # fill it, then delete it: every record goes
    s = c.new_session(select=acct["acct_id"])
    app = s.create_app()
    build = s.create_build(app["app_id"])
    reg = s.create_registry(password="pw-to-vanish")
    ids = [app["app_id"], build["build_id"], reg["registry_id"], app["pending_task_id"],
           build["pending_task_id"]]
    r = c.delete(f"/v1/accounts/{acct['acct_id']}")
    assert r.status_code == 204, lib.describe(r)
    expect(c.get(f"/v1/accounts/{acct['acct_id']}"), 404, "NOT_FOUND")
    expect(c.post(f"/v1/accounts/select_account/{acct['acct_id']}"), 404, "NOT_FOUND")
    assert acct["acct_id"] not in {a["acct_id"] for a in c.list_all("/v1/accounts")}
    # the old selection no longer reaches anything
    assert s.get(f"/v1/apps/{app['app_id']}").status_code in (403, 404)

    with manager.db(readonly=True) as con:
        tables = con.tables()
        assert "events" in tables and "apps" in tables, tables
        for t in tables:
            for col in con.columns(t):
                for value in ids:
                    n = con.execute(f'SELECT COUNT(*) FROM "{t}" WHERE {con.equals(col)}',
                                    (value,)).fetchone()[0]
                    assert n == 0, f"{t}.{col} still holds {value} after account deletion"


# ------------------------------------------------------------------------------------------
# system calls


def test_user_endpoint(team):
    me = expect(team.writer.get("/v1/user"), 200)
    assert me["user_id"] == team.writer.user_id
    assert me["user_email"] == team.writer.email
    assert me["selected_account"] == team.acct_id
    assert any(a["acct_id"] == team.acct_id and a["role"] == "WRITER" and a["name"]
               for a in me["accounts"]), me
    assert_no_secret_keys(me)


def test_sys_version(anon):
    v = expect(anon.get("/v1/sys/version"), 200)
    assert isinstance(v["version"], str) and v["version"]
    assert v["api_version"] == "v1"
    assert v["platforms"] == ["sim"]
    assert isinstance(v["insecure_simulation"], bool)


def test_health_endpoints(anon):
    r = anon.get("/healthz")
    assert r.status_code == 200 and r.text.strip() == "ok", lib.describe(r)
    r = anon.get("/readyz")
    assert r.status_code == 200 and r.text.strip() == "ready", lib.describe(r)


def _request_counter_total(anon):
    r = anon.get("/metrics")
    assert r.status_code == 200, lib.describe(r)
    assert r.headers.get("Content-Type", "").startswith("text/plain")
    text = r.text
    counters = re.findall(r"^# TYPE (\S*request\S*) counter\s*$", text, re.M)
    assert counters, f"no request counter in /metrics:\n{text[:2000]}"
    total = 0.0
    for name in counters:
        sample = re.compile(r"^" + re.escape(name) + r"(?:_total)?(?:\{[^}]*\})?\s+(\S+)",
                            re.M)
        for value in sample.findall(text):
            total += float(value)
    return ", ".join(counters), total


def test_metrics(anon):
    name, before = _request_counter_total(anon)
    for _ in range(20):
        expect(anon.get("/v1/sys/version"), 200)

    def grew():
        _, after = _request_counter_total(anon)
        return after >= before + 20
    lib.wait_until(grew, 5, 0.2, what=f"{name} to count 20 more requests (summed over workers)")



def _auth_attempts(anon):
    r = anon.get("/metrics")
    lib.expect(r, 200)
    text = r.text
    found = dict(re.findall(r'^cloister_auth_attempts_total\{result="(\w+)"\}\s+(\d+)', text,
                            re.M))
    return int(found.get("success", -1)), int(found.get("failure", -1))


def test_metrics_count_log_in_attempts(anon):
    email = lib.unique_email("metrics")
    lib.expect(anon.without_token().signup(email, "metrics-password"), 201)
    ok_before, bad_before = _auth_attempts(anon)
    assert ok_before >= 0 and bad_before >= 0
    lib.expect(anon.without_token().login(email, "wrong-password"), 401)
    lib.expect(anon.without_token().login(email, "metrics-password"), 200)

    def counted():
        return _auth_attempts(anon) == (ok_before + 1, bad_before + 1)
    lib.wait_until(counted, 5, 0.1, what="one more success and one more failure counted")
