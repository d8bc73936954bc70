"""Permission matrix: every endpoint of docs/api.md x every kind of caller.

Columns (callers, each a fresh log-in per cell):
  none      no Authorization header
  reader    READER of account A, A selected
  writer    WRITER of account A, A selected
  manager   MANAGER of account A, A selected
  outsider  MANAGER of another account B, B selected (ids in paths are A's)
  noselect  MANAGER of account A, logged in but no account selected

Entity ids in paths belong to account A. Rows that consume or delete their entity make a fresh
one per cell, so every allowed cell is a request that would succeed.
"""

import pytest

import cloister_testlib as lib
from cloister_testlib import expect, plain_app_body, rand_hex64, unique, unique_email

COLUMNS = ("none", "reader", "writer", "manager", "outsider", "noselect")

UNAUTH = (401, "UN_AUTHORIZED")
FORBID = (403, "FORBIDDEN")
NAS = (403, "NO_ACCOUNT_SELECTED")
NOTF = (404, "NOT_FOUND")


def ok(status):
    return (status, None)


# expectation rows -------------------------------------------------------------------------

def open_to_all(status=200):
    return dict.fromkeys(COLUMNS, ok(status))


def logged_in(status):
    return {**dict.fromkeys(COLUMNS, ok(status)), "none": UNAUTH}


def scoped_read():                       # lists in the selected account
    return {"none": UNAUTH, "reader": ok(200), "writer": ok(200), "manager": ok(200),
            "outsider": ok(200), "noselect": NAS}


def scoped_entity_read():                # an entity of A
    return {"none": UNAUTH, "reader": ok(200), "writer": ok(200), "manager": ok(200),
            "outsider": NOTF, "noselect": NAS}


def writer_create(outsider=ok(201)):     # create in the selected account
    return {"none": UNAUTH, "reader": FORBID, "writer": ok(201), "manager": ok(201),
            "outsider": outsider, "noselect": NAS}


def writer_entity(status):               # change an entity of A
    return {"none": UNAUTH, "reader": FORBID, "writer": ok(status), "manager": ok(status),
            "outsider": NOTF, "noselect": NAS}


def manager_create(status=201):
    return {"none": UNAUTH, "reader": FORBID, "writer": FORBID, "manager": ok(status),
            "outsider": ok(status), "noselect": NAS}


def manager_entity(status):
    return {"none": UNAUTH, "reader": FORBID, "writer": FORBID, "manager": ok(status),
            "outsider": NOTF, "noselect": NAS}


def account_read():                      # /v1/accounts/{A}: membership, no selection needed
    return {"none": UNAUTH, "reader": ok(200), "writer": ok(200), "manager": ok(200),
            "outsider": NOTF, "noselect": ok(200)}


def account_manage(status):
    return {"none": UNAUTH, "reader": FORBID, "writer": FORBID, "manager": ok(status),
            "outsider": NOTF, "noselect": ok(status)}


def admin_only():                        # ?chain=system; nobody in the team is an admin
    return {"none": UNAUTH, "reader": FORBID, "writer": FORBID, "manager": FORBID,
            "outsider": FORBID, "noselect": (403, None)}


# fixtures of account A ---------------------------------------------------------------------

class World:
    """Account A's standing entities (read-only rows use them) and factories for fresh ones."""

    def __init__(self, team):
        self.t = team
        o = team.owner
        self.app = o.create_app(certificate=False)
        self.build = o.create_build(self.app["app_id"])
        self.task_id = self.build["pending_task_id"]
        self.registry = o.create_registry(password="pw")
        self._callers = {}

    def caller(self, column, fresh=False):
        """The session of one column; a fresh log-in when the call may end or re-select it."""
        if fresh:
            return self.t.session(column)
        if column not in self._callers:
            self._callers[column] = self.t.session(column)
        return self._callers[column]

    # fresh entities, all in A, made by A's owner
    def fresh_app(self):
        return self.t.owner.create_app(certificate=False)["app_id"]

    def fresh_build(self):
        return self.t.owner.create_build(self.app["app_id"])

    def fresh_registry(self):
        return self.t.owner.create_registry()["registry_id"]

    def fresh_member(self):
        return self.t.add_member("READER")

    def fresh_account(self):
        """A new account with the same roles as A (owner MANAGER, writer, reader)."""
        o = self.t.owner
        acct = o.create_account(unique("doomed"))["acct_id"]
        s = o.new_session(select=acct)
        s.invite(self.t.writer.email, "WRITER")
        s.invite(self.t.reader.email, "READER")
        return acct


@pytest.fixture(scope="module")
def world(team):
    return World(team)


# rows: name -> (run(world, caller) -> (response, after-check or None), expectations) --------

def req(method, path, body=None):
    def run(w, caller):
        p = path(w) if callable(path) else path
        b = body(w) if callable(body) else body
        kw = {"json": b} if b is not None else {}
        return caller.request(method, p, **kw), None
    return run


def run_auth(w, caller):
    creds = (caller.email, caller.password) if caller.token else None
    return caller.post("/v1/sys/auth", auth=creds, token=None), None


def run_delete(kind):
    """DELETE a fresh entity; afterwards it must be gone iff the call succeeded."""
    def run(w, caller):
        if kind == "apps":
            eid = w.fresh_app()
        elif kind == "builds":
            eid = w.fresh_build()["build_id"]
        elif kind == "registry":
            eid = w.fresh_registry()
        elif kind == "accounts":
            eid = w.fresh_account()
        path = f"/v1/{kind}/{eid}"
        resp = caller.delete(path)

        def after(succeeded):
            probe = w.t.owner.get(path)
            assert probe.status_code == (404 if succeeded else 200), \
                f"after {resp.status_code}: {lib.describe(probe)}"
        return resp, after
    return run


def run_patch(kind):
    """PATCH the description of a standing entity of A; unchanged unless the call succeeded."""
    def run(w, caller):
        eid = {"apps": w.app["app_id"], "registry": w.registry["registry_id"],
               "accounts": w.t.acct_id}[kind]
        path = f"/v1/{kind}/{eid}"
        desc = unique("desc")
        resp = caller.patch(path, json={"description": desc})

        def after(succeeded):
            got = expect(w.t.owner.get(path), 200)
            assert (got["description"] == desc) == succeeded, got
        return resp, after
    return run


def run_vote(w, caller):
    task_id = w.fresh_build()["pending_task_id"]
    resp = caller.vote(task_id, "APPROVED")

    def after(succeeded):
        task = w.t.owner.task(task_id)
        assert task["status"]["status"] == ("SUCCESS" if succeeded else "INPROGRESS"), task
        assert len(task["approvals"]) == (1 if succeeded else 0), task
    return resp, after


def run_build_create(w, caller):
    mre = rand_hex64()
    resp = caller.post("/v1/builds", json={"app_id": w.app["app_id"], "mrenclave": mre,
                                           "mrsigner": rand_hex64()})

    def after(succeeded):
        builds = w.t.owner.list_all("/v1/builds", app_id=w.app["app_id"])
        assert any(b["enclave_info"]["mrenclave"] == mre for b in builds) == succeeded
    return resp, after


def run_convert_app(w, caller):
    """A conversion job is only recorded here (its registry does not exist: it fails later)."""
    tag = lib.unique("perm")
    resp = caller.post("/v1/builds/convert-app",
                       json={"app_id": w.app["app_id"], "docker_version": tag})

    def after(succeeded):
        builds = w.t.owner.list_all("/v1/builds", app_id=w.app["app_id"])
        assert any(b["docker_info"]["docker_version"] == tag for b in builds) == succeeded
    return resp, after


def run_signing_key(w, caller):
    """A's key exists (its first conversion request made it); the outsider's B has none."""
    expect(w.t.owner.post("/v1/builds/convert-app",
                          json={"app_id": w.app["app_id"], "docker_version": "perm-key"}), 201)
    return caller.get("/v1/signing-key"), None


def run_tool_convert(w, caller):
    """A stand-alone conversion is only recorded here (its registry does not exist)."""
    resp = caller.post("/v1/tools/converter/convert-app", json={
        "input_image_name": "registry.invalid/in:1", "output_image_name": "registry.invalid/out:1",
        "isvprodid": 1, "isvsvn": 1, "mem_size": 1 << 30, "threads": 4})

    def after(succeeded):   # recorded in the caller's selected account
        if succeeded:
            cid = resp.json()["conversion_id"]
            expect(caller.get(f"/v1/tools/converter/conversions/{cid}"), 200)
    return resp, after


def run_tool_conversion_get(w, caller):
    """A conversion of A (made by A's owner)."""
    if not hasattr(w, "tool_conversion"):
        w.tool_conversion = run_tool_convert(w, w.t.owner)[0].json()["conversion_id"]
    return caller.get(f"/v1/tools/converter/conversions/{w.tool_conversion}"), None


def run_invite(w, caller):
    u = lib.new_user(w.t.m, "invitee")
    return caller.post("/v1/users/invite", json={"user_email": u.email, "role": "READER"}), None


def run_member_patch(w, caller):
    member = w.fresh_member()
    resp = caller.patch(f"/v1/users/{member.user_id}", json={"role": "WRITER"})

    def after(succeeded):
        members = {m["user_id"]: m for m in w.t.owner.list_all("/v1/users")}
        assert members[member.user_id]["role"] == ("WRITER" if succeeded else "READER")
    return resp, after


def run_member_remove(w, caller):
    member = w.fresh_member()
    resp = caller.delete(f"/v1/users/{member.user_id}/accounts")

    def after(succeeded):
        members = {m["user_id"] for m in w.t.owner.list_all("/v1/users")}
        assert (member.user_id not in members) == succeeded
    return resp, after


def run_select(w, caller):
    return caller.post(f"/v1/accounts/select_account/{w.t.acct_id}"), None


# certificates (docs/issuance.md): a node of A enrolled and an app of A issued certificates once,
# lazily, as test_issuance.py does it (sim evidence made here, signed by the node's key)

def issuance_world(w):
    if not hasattr(w, "issuing"):
        from test_issuance import Node, approved_app, join_token, measurement
        import tempfile
        from pathlib import Path
        o = w.t.owner
        expect(o.patch(f"/v1/accounts/{w.t.acct_id}",
                       json={"settings": {"allow_simulation": True}}), 200)
        zone_id = o.list("/v1/zones")["items"][0]["zone_id"]
        node = Node(w.t.m, join_token(o, zone_id), Path(tempfile.mkdtemp()))
        app, build, _ = approved_app(w.t)
        w.issuing = {"node": node, "app": app, "build": build,
                     "measurement": measurement(build)}
        w.issuing["first"] = issue_app_certificate(w)
    return w.issuing


def issue_app_certificate(w):
    i = w.issuing
    answer = i["node"].issue(i["node"].request(*i["measurement"]))
    assert answer["task_status"] == "SUCCESS", answer
    return answer


def run_revoke(w, caller):
    issuance_world(w)
    cert_id = issue_app_certificate(w)["certificate_id"]
    resp = caller.post(f"/v1/certificates/{cert_id}/revoke", json={})

    def after(succeeded):
        got = expect(w.t.owner.get(f"/v1/certificates/{cert_id}"), 200)
        assert got["status"] == ("REVOKED" if succeeded else "ISSUED"), got
    return resp, after


def instance_certificate_path(w):
    i = issuance_world(w)
    return f"/v1/apps/{i['app']['app_id']}/node/{i['node'].node_id}/certificate"


def node_only():                         # mTLS with a node certificate; no user gets in
    return dict.fromkeys(COLUMNS, UNAUTH)


# zones and nodes (docs/nodes.md)

def zone_path(suffix=""):
    return lambda w: f"/v1/zones/{w.t.owner.list('/v1/zones')['items'][0]['zone_id']}{suffix}"


def node_path(suffix=""):
    return lambda w: f"/v1/nodes/{issuance_world(w)['node'].node_id}{suffix}"


def fresh_node(w):
    from test_issuance import Node, join_token
    import tempfile
    from pathlib import Path
    issuance_world(w)
    zone_id = w.t.owner.list("/v1/zones")["items"][0]["zone_id"]
    return Node(w.t.m, join_token(w.t.owner, zone_id), Path(tempfile.mkdtemp()))


def run_node_patch(w, caller):
    path = node_path()(w)
    desc = unique("desc")
    resp = caller.patch(path, json={"description": desc})

    def after(succeeded):
        got = expect(w.t.owner.get(path), 200)
        assert (got["description"] == desc) == succeeded, got
    return resp, after


def run_deactivate(w, caller):
    node = fresh_node(w)
    path = f"/v1/nodes/{node.node_id}"
    resp = caller.post(path + "/deactivate", json={})

    def after(succeeded):
        got = expect(w.t.owner.get(path), 200)
        assert (got["status"]["status"] == "DEACTIVATED") == succeeded, got
    return resp, after


# hardware verification collateral (docs/hardware-evidence.md): the deployment's, imported by
# the system administrator (nobody in the team), read by every logged-in user

def collateral_world(w):
    if not hasattr(w, "collateral"):
        from test_collateral import files_of
        expect(w.t.m.admin_client().post("/v1/collateral", json=files_of("snp-milan-trustee")),
               200)
        expect(w.t.m.admin_client().post("/v1/collateral", json=files_of("sgx-v3-phala-p1")),
               200)
        w.collateral = True
    return w


def run_collateral_import(w, caller):
    from test_collateral import files_of, status_map
    before = status_map(w.t.m.admin_client())
    resp = caller.post("/v1/collateral", json=files_of("tdx-v4-oasis"))

    def after(succeeded):
        assert succeeded or status_map(w.t.m.admin_client()) == before
    return resp, after


def collateral_get(path):
    def run(w, caller):
        collateral_world(w)
        return caller.get(path), None
    return run


ROWS = {
    # system
    "GET /v1/sys/version": (req("GET", "/v1/sys/version"), open_to_all()),
    "GET /healthz": (req("GET", "/healthz"), open_to_all()),
    "GET /readyz": (req("GET", "/readyz"), open_to_all()),
    "GET /metrics": (req("GET", "/metrics"), open_to_all()),
    "GET /": (req("GET", "/"), open_to_all()),
    "GET /{id}": (req("GET", "/js/app.js"), open_to_all()),
    # users and sessions
    "POST /v1/users": (req("POST", "/v1/users", lambda w: {
        "user_email": unique_email("signup"), "user_password": "long-enough-pw",
        "first_name": "Sig", "last_name": "Nup"}), open_to_all(201)),
    "POST /v1/sys/auth": (run_auth, logged_in(200)),
    "POST /v1/sys/logout": (req("POST", "/v1/sys/logout"), logged_in(204)),
    "GET /v1/user": (req("GET", "/v1/user"), logged_in(200)),
    # accounts
    "POST /v1/accounts": (req("POST", "/v1/accounts", lambda w: {"name": unique("acct")}),
                          logged_in(201)),
    "GET /v1/accounts": (req("GET", "/v1/accounts"), logged_in(200)),
    "GET /v1/accounts/{id}": (req("GET", lambda w: f"/v1/accounts/{w.t.acct_id}"),
                              account_read()),
    "PATCH /v1/accounts/{id}": (run_patch("accounts"), account_manage(200)),
    "DELETE /v1/accounts/{id}": (run_delete("accounts"), account_manage(204)),
    "POST /v1/accounts/select_account/{id}": (run_select, account_read()),
    # members
    "GET /v1/users": (req("GET", "/v1/users"), scoped_read()),
    "POST /v1/users/invite": (run_invite, manager_create(201)),
    "PATCH /v1/users/{id}": (run_member_patch, manager_entity(200)),
    "DELETE /v1/users/{id}/accounts": (run_member_remove, manager_entity(204)),
    # apps
    "POST /v1/apps": (req("POST", "/v1/apps", lambda w: plain_app_body()), writer_create()),
    "GET /v1/apps": (req("GET", "/v1/apps"), scoped_read()),
    "GET /v1/apps/{id}": (req("GET", lambda w: f"/v1/apps/{w.app['app_id']}"),
                          scoped_entity_read()),
    "PATCH /v1/apps/{id}": (run_patch("apps"), writer_entity(200)),
    "DELETE /v1/apps/{id}": (run_delete("apps"), writer_entity(204)),
    # builds (the outsider names an app of A in the body: not found in B)
    "POST /v1/builds": (run_build_create, writer_create(outsider=NOTF)),
    "POST /v1/builds/convert-app": (run_convert_app, writer_create(outsider=NOTF)),
    "GET /v1/builds": (req("GET", "/v1/builds"), scoped_read()),
    "GET /v1/signing-key": (run_signing_key, scoped_entity_read()),
    "POST /v1/tools/converter/convert-app": (run_tool_convert, writer_create()),
    "GET /v1/tools/converter/conversions/{id}": (run_tool_conversion_get, scoped_entity_read()),
    "GET /v1/builds/{id}": (req("GET", lambda w: f"/v1/builds/{w.build['build_id']}"),
                            scoped_entity_read()),
    "DELETE /v1/builds/{id}": (run_delete("builds"), writer_entity(204)),
    # tasks
    "GET /v1/tasks": (req("GET", "/v1/tasks"), scoped_read()),
    "GET /v1/tasks/{id}": (req("GET", lambda w: f"/v1/tasks/{w.task_id}"),
                           scoped_entity_read()),
    "PATCH /v1/tasks/{id}": (run_vote, writer_entity(200)),
    # registries
    "POST /v1/registry": (req("POST", "/v1/registry", lambda w: {
        "url": f"registry.example.com/{unique('perm')}", "username": "u", "password": "p"}),
        writer_create()),
    "GET /v1/registry": (req("GET", "/v1/registry"), scoped_read()),
    "GET /v1/registry/{id}": (req("GET", lambda w: f"/v1/registry/{w.registry['registry_id']}"),
                              scoped_entity_read()),
    "PATCH /v1/registry/{id}": (run_patch("registry"), writer_entity(200)),
    "DELETE /v1/registry/{id}": (run_delete("registry"), writer_entity(204)),
    # audit
    "GET /v1/events": (req("GET", "/v1/events"), scoped_read()),
    "GET /v1/events/export": (req("GET", "/v1/events/export?format=json"), scoped_read()),
    "GET /v1/events/verify": (req("GET", "/v1/events/verify"), scoped_read()),
    "GET /v1/events?chain=system": (req("GET", "/v1/events?chain=system"), admin_only()),
    # certificates
    "GET /v1/certificates": (req("GET", "/v1/certificates"), scoped_read()),
    "GET /v1/certificates/{id}": (req("GET", lambda w: "/v1/certificates/"
                                      + issuance_world(w)["first"]["certificate_id"]),
                                  scoped_entity_read()),
    "POST /v1/certificates/{id}/revoke": (run_revoke, writer_entity(200)),
    "GET /v1/apps/{id}/node/{id}/certificate": (req("GET", instance_certificate_path),
                                                scoped_entity_read()),
    "GET /v1/builds/deployments/{id}": (req("GET", lambda w: "/v1/builds/deployments/"
                                            + issuance_world(w)["build"]["build_id"]),
                                        scoped_entity_read()),
    "GET /v1/instances": (req("GET", "/v1/instances"), scoped_read()),
    "POST /v1/node/certificate/issue": (req("POST", "/v1/node/certificate/issue", {}),
                                        node_only()),
    "POST /v1/node/certificate/issue-batch": (req("POST", "/v1/node/certificate/issue-batch", {}),
                                              node_only()),
    "GET /v1/node/certificate/result/{id}": (req("GET", lambda w: "/v1/node/certificate/result/"
                                                 + w.task_id), node_only()),
    # zones and nodes
    "GET /v1/zones": (req("GET", "/v1/zones"), scoped_read()),
    "GET /v1/zones/{id}": (req("GET", zone_path()), scoped_entity_read()),
    "GET /v1/zones/{id}/ca": (req("GET", zone_path("/ca")), scoped_entity_read()),
    "GET /v1/zones/{id}/crl": (req("GET", zone_path("/crl")), scoped_entity_read()),
    "GET /v1/zones/{id}/token": (req("GET", zone_path("/token")), writer_entity(200)),
    "POST /v1/nodes": (req("POST", "/v1/nodes", {}), dict.fromkeys(COLUMNS, UNAUTH)),
    "GET /v1/nodes": (req("GET", "/v1/nodes"), scoped_read()),
    "GET /v1/nodes/{id}": (req("GET", node_path()), scoped_entity_read()),
    "GET /v1/nodes/{id}/certificate": (req("GET", node_path("/certificate")),
                                       scoped_entity_read()),
    "PATCH /v1/nodes/{id}": (run_node_patch, writer_entity(200)),
    "POST /v1/nodes/{id}/deactivate": (run_deactivate, writer_entity(200)),
    "POST /v1/node/status": (req("POST", "/v1/node/status", {}), node_only()),
    "POST /v1/node/nonce": (req("POST", "/v1/node/nonce", {}), node_only()),
    "POST /v1/node/certificate/renew": (req("POST", "/v1/node/certificate/renew", {}),
                                        node_only()),
    # collateral
    "POST /v1/collateral": (run_collateral_import, admin_only()),
    "GET /v1/collateral/status": (collateral_get("/v1/collateral/status"), logged_in(200)),
    "GET /v1/collateral/intel": (collateral_get("/v1/collateral/intel?fmspc=00A067110000"),
                                 logged_in(200)),
    "GET /v1/collateral/amd": (collateral_get("/v1/collateral/amd?product=Milan"),
                               logged_in(200)),
    "GET /v1/node/collateral/intel": (collateral_get("/v1/node/collateral/intel?fmspc=00A067110000"),
                                      node_only()),
    "GET /v1/node/collateral/amd": (collateral_get("/v1/node/collateral/amd?product=Milan"),
                                    node_only()),
}

# rows whose call ends or changes the caller's session get a fresh log-in per cell
FRESH_SESSION_ROWS = {"POST /v1/sys/logout", "POST /v1/accounts/select_account/{id}"}

CELLS = [(row, col) for row in ROWS for col in COLUMNS]


@pytest.mark.parametrize("row,column", CELLS, ids=[f"{r}|{c}" for r, c in CELLS])
def test_matrix(world, row, column):
    run, expectations = ROWS[row]
    status, code = expectations[column]
    caller = world.caller(column, fresh=row in FRESH_SESSION_ROWS)
    resp, after = run(world, caller)
    expect(resp, status, code)
    if after is not None:
        after(200 <= status < 300)


def test_matrix_covers_every_documented_endpoint():
    """Every `METHOD /path` written in docs/api.md has a row (keeps the table honest)."""
    import re
    doc = (lib.REPO_ROOT / "docs" / "api.md").read_text()
    found = set()
    for m in re.finditer(r"`(GET|POST|PATCH|DELETE|PUT) (/[^`?\s]*)", doc):
        path = re.sub(r"\{[^}]+\}", "{id}", m.group(2))
        found.add(f"{m.group(1)} {path}")
    missing = found - set(ROWS)
    assert not missing, f"endpoints in docs/api.md without a permission row: {sorted(missing)}"


# role changes and membership rules -----------------------------------------------------------

def test_role_change_applies_at_once(fresh_team):
    t = fresh_team
    w = t.writer
    w.create_app(certificate=False)
    expect(t.owner.patch(f"/v1/users/{w.user_id}", json={"role": "READER"}), 200)
    expect(w.post("/v1/apps", json=plain_app_body()), 403, "FORBIDDEN")
    expect(w.get("/v1/apps"), 200)
    got = expect(t.owner.patch(f"/v1/users/{w.user_id}", json={"roles": ["MANAGER"]}), 200)
    assert got["role"] == "MANAGER"
    expect(w.post("/v1/apps", json=plain_app_body()), 201)
    expect(w.patch(f"/v1/accounts/{t.acct_id}", json={"description": "by promoted"}), 200)


def test_removed_member_loses_access(fresh_team):
    t = fresh_team
    r = t.reader
    resp = r.delete(f"/v1/users/{r.user_id}/accounts")      # removing oneself
    assert resp.status_code == 204, lib.describe(resp)
    expect(r.get(f"/v1/accounts/{t.acct_id}"), 404, "NOT_FOUND")
    expect(r.post(f"/v1/accounts/select_account/{t.acct_id}"), 404, "NOT_FOUND")
    assert r.get("/v1/apps").status_code in (403, 404)
    members = {m["user_id"] for m in t.owner.list_all("/v1/users")}
    assert r.user_id not in members


def test_last_manager_is_kept(fresh_team):
    t = fresh_team
    o = t.owner
    expect(o.delete(f"/v1/users/{o.user_id}/accounts"), 409, "INVALID_STATE")
    expect(o.patch(f"/v1/users/{o.user_id}", json={"role": "WRITER"}), 409, "INVALID_STATE")
    assert expect(o.get(f"/v1/accounts/{t.acct_id}"), 200)["role"] == "MANAGER"
    # with a second manager the first may step down
    expect(o.patch(f"/v1/users/{t.writer.user_id}", json={"role": "MANAGER"}), 200)
    expect(o.patch(f"/v1/users/{o.user_id}", json={"role": "WRITER"}), 200)
    expect(t.writer.patch(f"/v1/users/{t.writer.user_id}", json={"role": "READER"}),
           409, "INVALID_STATE")


def test_invite_rules(fresh_team):
    t = fresh_team
    o = t.owner
    expect(o.post("/v1/users/invite", json={"user_email": unique_email("nobody"),
                                            "role": "READER"}),
           404, "NOT_FOUND", "user_email")
    expect(o.post("/v1/users/invite", json={"user_email": t.writer.email, "role": "READER"}),
           409, "UNIQUE_VIOLATION")
    u = lib.new_user(t.m, "roles-form")
    m = expect(o.post("/v1/users/invite", json={"user_email": u.email.upper(),
                                                "roles": ["WRITER"]}), 201)
    assert m["user_id"] == u.user_id and m["role"] == "WRITER"
    assert "password" not in m
    sel = u.select(t.acct_id)
    assert sel["role"] == "WRITER"
