"""Bad input on every POST/PATCH body and list query: a clear 400 naming the field, never a
crash, never a half-written record."""

import copy
import json
import re
import socket
import ssl
import time

import pytest

import cloister_testlib as lib
from cloister_testlib import (MIB, Client, expect, new_user, plain_app_body, rand_hex64, unique,
                              unique_email)

BAD_REQ = "BAD_REQUEST"
INVALID = "INVALID_BODY_PARAMETER"


def set_path(body, path, value):
    keys = path.split(".")
    cur = body
    for k in keys[:-1]:
        if not isinstance(cur.get(k), dict):
            cur[k] = {}
        cur = cur[k]
    cur[keys[-1]] = value


def del_path(body, path):
    keys = path.split(".")
    cur = body
    for k in keys[:-1]:
        cur = cur[k]
    del cur[keys[-1]]


# ------------------------------------------------------------------------------------------
# the world the bodies refer to


class Ctx:
    def __init__(self, manager):
        self.m = manager
        self.owner = new_user(manager, "bad-owner")
        self.acct = self.owner.create_account(unique("bad"))["acct_id"]
        self.owner.select(self.acct)
        self.member = new_user(manager, "bad-member")
        self.owner.invite(self.member.email, "READER")
        self.app = self.owner.create_app()
        self.registry = self.owner.create_registry(username="u", password="p")
        self.build = self.owner.create_build(self.app["app_id"])

    def fresh_task(self):
        return self.owner.create_build(self.app["app_id"])["pending_task_id"]


@pytest.fixture(scope="module")
def ctx(manager):
    return Ctx(manager)


# ------------------------------------------------------------------------------------------
# endpoint specifications


def full_app_body():
    b = plain_app_body(unique("valid"))
    b["allowed_domains"] = ["api.example.com"]
    b["labels"] = {"team": "blue"}
    b["advanced_settings"] = {
        "entrypoint": ["/usr/bin/python3", "app.py"],
        "certificate": {"issuer": "MANAGER_CA", "subject": "api.example.com",
                        "alt_names": ["api.example.com"], "key_type": "RSA",
                        "key_param": {"size": 2048}, "key_path": "/appkey.pem",
                        "cert_path": "/appcert.pem", "chain_path": "/chain.pem"},
        "ca_certificate": {"ca_path": "/ca.pem", "system": False},
        "encrypted_dirs": ["/data"], "rw_dirs": ["/tmp"],
        "allow_cmdline_args": False, "manifest_env": ["MODE=prod", "HOME"],
    }
    return b


LONG = "x" * 10000

APP_TYPES = {
    "name": 5, "description": 5, "input_image_name": 5, "output_image_name": ["img"],
    "isvprodid": "1", "isvsvn": 1.5, "mem_size": "1G", "threads": "128",
    "allowed_domains": "api.example.com", "labels": ["team"],
    "advanced_settings": "none",
    "advanced_settings.entrypoint": "/bin/sh",
    "advanced_settings.certificate": "RSA",
    "advanced_settings.certificate.key_type": 5,
    "advanced_settings.certificate.key_param": 2048,
    "advanced_settings.certificate.key_path": 5,
    "advanced_settings.certificate.alt_names": "api.example.com",
    "advanced_settings.ca_certificate.system": "yes",
    "advanced_settings.encrypted_dirs": "/data",
    "advanced_settings.allow_cmdline_args": "no",
    "advanced_settings.manifest_env": {"MODE": "prod"},
    "attestation_policy": "strict",
    "attestation_policy.allow_debug": 1,
    "attestation_policy.snp_max_vmpl": "0",
}

APP_OVERSIZE = {
    "name": LONG, "description": "d" * 1025, "input_image_name": "i" * 513,
    "output_image_name": "o" * 600,
    "advanced_settings.certificate.key_path": "/" + "k" * 5000,
}
APP_NAME_256 = {"name": "n" * 256}

APP_RANGE = {
    "tcb_status=Foo": ("attestation_policy", {"accepted_tcb_statuses": ["UpToDate", "Foo"]}),
    "min_isvsvn=-1": ("attestation_policy", {"min_isvsvn": -1}),
    "policy=unknown": ("attestation_policy", {"allow_debugg": True}),
    "isvprodid=70000": ("isvprodid", 70000),
    "isvprodid=-1": ("isvprodid", -1),
    "isvsvn=65536": ("isvsvn", 65536),
    "mem_size=3": ("mem_size", 3),
    "mem_size=0": ("mem_size", 0),
    "mem_size=32MiB": ("mem_size", 32 * MIB),
    "mem_size=2TiB": ("mem_size", 2 << 40),
    "mem_size=1GiB+1": ("mem_size", (1 << 30) + 1),
    "threads=0": ("threads", 0),
    "threads=4097": ("threads", 4097),
    "threads=-5": ("threads", -5),
    "name=empty": ("name", ""),
    "input_image_name=space": ("input_image_name", "has space:latest"),
    "allowed_domains=65": ("allowed_domains", [f"d{i}.example.com" for i in range(65)]),
    "allowed_domains=not-dns": ("allowed_domains", ["not a domain"]),
    "allowed_domains=item-type": ("allowed_domains", [5]),
    "labels=65": ("labels", {f"k{i}": "v" for i in range(65)}),
    "labels=value-type": ("labels", {"k": 5}),
    "labels=long-value": ("labels", {"k": "v" * 256}),
    "labels=long-key": ("labels", {"k" * 65: "v"}),
    "key_type=DSA": ("advanced_settings.certificate.key_type", "DSA"),
    "issuer=SELF": ("advanced_settings.certificate.issuer", "SELF"),
    "key_param.size=1024": ("advanced_settings.certificate.key_param", {"size": 1024}),
    "key_param.curve=P-521": ("advanced_settings.certificate.key_param", {"curve": "P-521"},
                              {"advanced_settings.certificate.key_type": "EC"}),
    "key_path=relative": ("advanced_settings.certificate.key_path", "appkey.pem"),
    "cert_path=dotdot": ("advanced_settings.certificate.cert_path", "/app/../etc/passwd"),
    "alt_names=not-dns": ("advanced_settings.certificate.alt_names", ["bad_name!"]),
    "encrypted_dirs=relative": ("advanced_settings.encrypted_dirs", ["data"]),
    "rw_dirs=dotdot": ("advanced_settings.rw_dirs", ["/tmp/../etc"]),
    "manifest_env=bad": ("advanced_settings.manifest_env", ["=value"]),
}

BUILD_RANGE = {
    "mrenclave=63hex": ("mrenclave", "a" * 63),
    "mrenclave=65hex": ("mrenclave", "a" * 65),
    "mrenclave=nonhex": ("mrenclave", "g" * 64),
    "mrsigner=empty": ("mrsigner", ""),
    "platform=xyz": ("platform", "xyz"),
    "isvprodid=mismatch": ("isvprodid", 2),
    "isvprodid=70000": ("isvprodid", 70000),
    "isvsvn=70000": ("isvsvn", 70000),
    "docker_image_size=-1": ("docker_image_size", -1),
    "tdx=for-sim": ("tdx", {"mrtd": "0" * 96}),
    "snp.host_data=short": ("snp", {"host_data": "0" * 62}, {"platform": "snp"}),
    "tdx.mrtd=nonhex": ("tdx", {"mrtd": "g" * 96}, {"platform": "tdx"}),
}

ACCOUNT_TYPES = {"name": 5, "description": ["d"], "settings": "strict",
                 "settings.approvals_required": "2", "settings.allow_simulation": "yes",
                 "settings.certificate_validity": 1.5, "settings.renewal_threshold": "50",
                 "settings.node_refresh_interval": True,
                 "settings.attestation_policy": ["UpToDate"],
                 "settings.attestation_policy.allow_debug": "no",
                 "settings.attestation_policy.accepted_tcb_statuses": "UpToDate",
                 "settings.attestation_policy.min_isvsvn": "1"}
ACCOUNT_RANGE = {
    "tcb_status=Foo": ("settings.attestation_policy", {"accepted_tcb_statuses": ["Foo"]}),
    "tcb_statuses=empty": ("settings.attestation_policy", {"accepted_tcb_statuses": []}),
    "advisory=lower": ("settings.attestation_policy", {"accepted_advisory_ids": ["sa-1"]}),
    "min_isvsvn=65536": ("settings.attestation_policy", {"min_isvsvn": 65536}),
    "snp_max_vmpl=4": ("settings.attestation_policy", {"snp_max_vmpl": 4}),
    "policy=unknown": ("settings.attestation_policy", {"debug": True}),
    "approvals_required=0": ("settings.approvals_required", 0),
    "approvals_required=11": ("settings.approvals_required", 11),
    "certificate_validity=299": ("settings.certificate_validity", 299),
    "certificate_validity=31536001": ("settings.certificate_validity", 31536001),
    "renewal_threshold=0": ("settings.renewal_threshold", 0),
    "renewal_threshold=100": ("settings.renewal_threshold", 100),
    "node_refresh_interval=4": ("settings.node_refresh_interval", 4),
    "node_refresh_interval=3601": ("settings.node_refresh_interval", 3601),
    "name=empty": ("name", ""),
}

REGISTRY_TYPES = {"url": 5, "description": 5, "username": ["u"], "password": 1234}
REGISTRY_OVERSIZE = {"url": "registry.example.com/" + "p" * 600, "description": "d" * 1025,
                     "username": LONG, "password": "p" * 200000}
REGISTRY_RANGE = {"url=space": ("url", "registry example com"), "url=empty": ("url", ""),
                  "url=ftp": ("url", "ftp://registry.example.com")}


class Spec:
    def __init__(self, name, method, path, valid, *, required=(), types=None, oversize=None,
                 ranges=None, auth=True, snapshot=None, read_only=()):
        self.name, self.method, self.path, self.valid = name, method, path, valid
        self.required = required
        self.types = types or {}
        self.oversize = oversize or {}
        self.ranges = ranges or {}
        self.auth = auth
        self.snapshot = snapshot          # ctx -> comparable state (None: see signup)
        self.read_only = read_only


def snap_count(path):
    return lambda ctx: ctx.owner.count(path)


def snap_entity(path_fn):
    return lambda ctx: expect(ctx.owner.get(path_fn(ctx)), 200)


def member_role(ctx):
    return {m["user_id"]: m["role"] for m in ctx.owner.list_all("/v1/users")}


SPECS = [
    Spec("signup", "POST", lambda c: "/v1/users",
         lambda c: {"user_email": unique_email("bad-signup"), "user_password": "long-enough-pw",
                    "first_name": "F", "last_name": "L"},
         required=("user_email", "user_password", "first_name", "last_name"),
         types={"user_email": 5, "user_password": 12345678, "first_name": 1, "last_name": []},
         oversize={"user_email": "e" * 250 + "@example.com", "user_password": "p" * 1025,
                   "first_name": LONG, "last_name": LONG},
         ranges={"user_email=no-at": ("user_email", "not-an-email"),
                 "user_email=no-domain": ("user_email", "user@"),
                 "user_password=7": ("user_password", "short7!")},
         auth=False),
    Spec("account_create", "POST", lambda c: "/v1/accounts",
         lambda c: {"name": unique("acct"), "description": "d",
                    "settings": {"approvals_required": 2}},
         required=("name",), types=ACCOUNT_TYPES,
         oversize={"name": LONG, "description": "d" * 1025}, ranges=ACCOUNT_RANGE,
         snapshot=snap_count("/v1/accounts")),
    Spec("account_patch", "PATCH", lambda c: f"/v1/accounts/{c.acct}",
         lambda c: {"description": unique("desc"), "settings": {"renewal_threshold": 40}},
         types=ACCOUNT_TYPES, oversize={"name": LONG, "description": "d" * 1025},
         ranges=ACCOUNT_RANGE, snapshot=snap_entity(lambda c: f"/v1/accounts/{c.acct}"),
         read_only=("acct_id", "created_at", "status", "role")),
    Spec("invite", "POST", lambda c: "/v1/users/invite",
         lambda c: {"user_email": new_user(c.m, "invitee").email, "role": "READER"},
         required=("user_email", ("role", "roles")),
         types={"user_email": 5, "role": 5},
         oversize={"user_email": "e" * 300 + "@example.com"},
         ranges={"role=ADMIN": ("role", "ADMIN"),
                 "user_email=no-at": ("user_email", "nobody")},
         snapshot=snap_count("/v1/users")),
    Spec("invite_roles", "POST", lambda c: "/v1/users/invite",
         lambda c: {"user_email": new_user(c.m, "invitee").email, "roles": ["WRITER"]},
         types={"roles": "WRITER"},
         ranges={"roles=two": ("roles", ["READER", "WRITER"]), "roles=empty": ("roles", []),
                 "roles=bad": ("roles", ["OWNER"])},
         snapshot=snap_count("/v1/users")),
    Spec("member_patch", "PATCH", lambda c: f"/v1/users/{c.member.user_id}",
         lambda c: {"role": "READER"}, required=(("role", "roles"),), types={"role": 5},
         ranges={"role=SUPERUSER": ("role", "SUPERUSER")},
         snapshot=member_role),
    Spec("member_patch_roles", "PATCH", lambda c: f"/v1/users/{c.member.user_id}",
         lambda c: {"roles": ["READER"]}, types={"roles": "WRITER"},
         ranges={"roles=empty": ("roles", []), "roles=two": ("roles", ["READER", "WRITER"])},
         snapshot=member_role),
    Spec("app_create", "POST", lambda c: "/v1/apps", lambda c: full_app_body(),
         required=("name", "input_image_name", "output_image_name", "isvprodid", "isvsvn",
                   "mem_size", "threads", "advanced_settings.certificate.key_type",
                   "advanced_settings.certificate.key_path",
                   "advanced_settings.certificate.cert_path",
                   "advanced_settings.certificate.issuer"),
         types=APP_TYPES, oversize=APP_OVERSIZE,
         ranges={**APP_RANGE, "name=256": ("name", "n" * 256)},
         snapshot=snap_count("/v1/apps")),
    Spec("app_patch", "PATCH", lambda c: f"/v1/apps/{c.app['app_id']}",
         lambda c: {"description": unique("patched"), "threads": 64,
                    "advanced_settings": full_app_body()["advanced_settings"]},
         types=APP_TYPES, oversize=APP_OVERSIZE, ranges=APP_RANGE,
         snapshot=snap_entity(lambda c: f"/v1/apps/{c.app['app_id']}"),
         read_only=("app_id", "acct_id", "whitelisted_domains", "pending_task_id",
                    "created_at", "updated_at")),
    Spec("build_create", "POST", lambda c: "/v1/builds",
         lambda c: {"app_id": c.app["app_id"], "mrenclave": rand_hex64(),
                    "mrsigner": rand_hex64(), "isvprodid": 1, "isvsvn": 3, "platform": "sim",
                    "debug": False, "docker_image_name": "127.0.0.1:5000/x",
                    "docker_version": "v1", "docker_image_sha": "sha256:" + rand_hex64(),
                    "docker_image_size": 1234},
         required=("app_id", "mrenclave", "mrsigner"),
         types={"app_id": 5, "mrenclave": 5, "mrsigner": ["a"], "isvprodid": "1",
                "isvsvn": "3", "platform": 5, "debug": "no", "docker_image_name": 5,
                "docker_version": 1, "docker_image_sha": True, "docker_image_size": "big"},
         oversize={"docker_image_name": "i" * 600, "docker_version": LONG,
                   "docker_image_sha": LONG},
         ranges=BUILD_RANGE, snapshot=snap_count("/v1/builds")),
    Spec("task_vote", "PATCH", None, lambda c: {"status": "APPROVED", "reason": "ok"},
         required=("status",), types={"status": 5, "reason": 5},
         oversize={"reason": LONG},
         ranges={"status=MAYBE": ("status", "MAYBE"), "status=SUCCESS": ("status", "SUCCESS")}),
    Spec("registry_create", "POST", lambda c: "/v1/registry",
         lambda c: {"url": f"registry.example.com/{unique('ok')}", "description": "d",
                    "username": "u", "password": "p"},
         required=("url",), types=REGISTRY_TYPES, oversize=REGISTRY_OVERSIZE,
         ranges=REGISTRY_RANGE, snapshot=snap_count("/v1/registry")),
    Spec("registry_patch", "PATCH", lambda c: f"/v1/registry/{c.registry['registry_id']}",
         lambda c: {"description": unique("d"), "password": "new"},
         types=REGISTRY_TYPES, oversize=REGISTRY_OVERSIZE, ranges=REGISTRY_RANGE,
         snapshot=snap_entity(lambda c: f"/v1/registry/{c.registry['registry_id']}"),
         read_only=("registry_id", "has_password", "created_at")),
]
SPEC_BY_NAME = {s.name: s for s in SPECS}


def build_cases():
    cases = []
    for s in SPECS:
        cases.append((s.name, "not-json", None))
        cases.append((s.name, "empty-body", None))
        cases.append((s.name, "array", None))
        cases.append((s.name, "string", None))
        for f in s.required:
            key = f if isinstance(f, str) else "/".join(f)
            cases.append((s.name, f"missing:{key}", f))
        for f in s.types:
            cases.append((s.name, f"type:{f}", f))
        for f in s.oversize:
            cases.append((s.name, f"oversize:{f}", f))
        for label in s.ranges:
            cases.append((s.name, f"range:{label}", label))
        cases.append((s.name, "unknown:bogus_field", "bogus_field"))
        if s.name in ("app_create", "app_patch"):
            cases.append((s.name, "unknown:nested", "advanced_settings.certificate.bogus_nested"))
        if s.name in ("account_create", "account_patch"):
            cases.append((s.name, "unknown:nested", "settings.bogus_setting"))
        for f in s.read_only:
            cases.append((s.name, f"read-only:{f}", f))
    return cases


CASES = build_cases()


def prepare(ctx, spec):
    """(path, valid body, snapshot fn) for one case; votes get a fresh task."""
    if spec.name == "task_vote":
        task_id = ctx.fresh_task()
        path = f"/v1/tasks/{task_id}"
        return path, spec.valid(ctx), lambda c: c.owner.task(task_id)
    return spec.path(ctx), spec.valid(ctx), spec.snapshot


def send(ctx, spec, path, *, json_body=lib._DEFAULT, raw=None):
    client = ctx.owner if spec.auth else Client(ctx.m)
    if raw is not None:
        return client.request(spec.method, path, data=raw)
    return client.request(spec.method, path, json=json_body)


@pytest.mark.parametrize("spec_name", [s.name for s in SPECS])
def test_valid_body_accepted(ctx, spec_name):
    """Control: the valid body of each spec is accepted, so the failures below are real."""
    spec = SPEC_BY_NAME[spec_name]
    path, body, _ = prepare(ctx, spec)
    r = send(ctx, spec, path, json_body=body)
    assert r.status_code in (200, 201), lib.describe(r)


@pytest.mark.parametrize("spec_name,case,arg", CASES, ids=[f"{a}|{b}" for a, b, _ in CASES])
def test_bad_body(ctx, spec_name, case, arg):
    spec = SPEC_BY_NAME[spec_name]
    path, body, snapshot = prepare(ctx, spec)
    kind = case.split(":", 1)[0]
    before = snapshot(ctx) if snapshot else None

    if kind == "not-json":
        r = send(ctx, spec, path, raw=b'{"name": "x",')
        expect(r, 400, BAD_REQ)
    elif kind == "empty-body":
        r = send(ctx, spec, path, raw=b"")
        expect(r, 400, BAD_REQ)
    elif kind == "array":
        r = send(ctx, spec, path, raw=json.dumps([body]).encode())
        expect(r, 400, BAD_REQ)
    elif kind == "string":
        r = send(ctx, spec, path, raw=b'"just a string"')
        expect(r, 400, BAD_REQ)
    else:
        bad = copy.deepcopy(body)
        if kind == "missing":
            alts = (arg,) if isinstance(arg, str) else tuple(arg)
            for f in alts:
                try:
                    del_path(bad, f)
                except KeyError:
                    pass
            field = alts
        elif kind == "type":
            set_path(bad, arg, spec.types[arg])
            field = arg
        elif kind == "oversize":
            set_path(bad, arg, spec.oversize[arg])
            field = arg
        elif kind == "range":
            f, v, *extra = spec.ranges[arg]
            for ef, ev in (extra[0] if extra else {}).items():
                set_path(bad, ef, ev)
            set_path(bad, f, v)
            field = f
        elif kind == "unknown":
            set_path(bad, arg, "surprise")
            field = arg
        elif kind == "read-only":
            set_path(bad, arg, {"whitelisted_domains": ["evil.example.com"],
                                "pending_task_id": None,
                                "has_password": True}.get(arg, "forged"))
            field = arg
        r = send(ctx, spec, path, json_body=bad)
        expect(r, 400, INVALID, field)

    # nothing half-written
    if snapshot:
        assert snapshot(ctx) == before, f"state changed by a rejected {spec.method} {path}"
    if spec.name == "signup":
        # the rejected sign-up left nothing behind: the valid body still signs up
        expect(Client(ctx.m).post("/v1/users", json=body), 201)


# ------------------------------------------------------------------------------------------
# malformed JSON of other kinds


@pytest.mark.parametrize("label,raw", [
    ("invalid-utf8", b'{"name": "\xff\xfe", "input_image_name": "a"}'),
    ("nul-in-key", b'{"na\\u0000me": "x"}'),
    ("deep-nesting", b'{"a":' * 20000 + b"1" + b"}" * 20000),
    ("deep-array", b"[" * 50000 + b"]" * 50000),
    ("trailing-garbage", b'{"name": "x"} {"name": "y"}'),
    ("huge-number", b'{"name": "n", "isvprodid": 1e999}'),
    ("duplicate-key-type", b'{"name": "a", "name": 5}'),
])
def test_malformed_json(ctx, label, raw):
    before = ctx.owner.count("/v1/apps")
    r = ctx.owner.post("/v1/apps", data=raw)
    assert r.status_code == 400, lib.describe(r)
    expect(r, 400)
    assert r.json()["code"] in (BAD_REQ, INVALID)
    assert ctx.owner.count("/v1/apps") == before
    expect(ctx.owner.get("/healthz"), 200)


# ------------------------------------------------------------------------------------------
# bodies over 1 MiB


def _response_complete(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return m is not None and len(body) >= int(m.group(1))


def raw_request(manager, method, path, headers, body_chunks):
    """Send a request by hand, stop sending as soon as the server answers (or hangs up), then
    read its answer. Returns (status, body bytes)."""
    ctx = ssl.create_default_context(cafile=str(manager.ca))
    plain = socket.create_connection(("127.0.0.1", manager.port), timeout=30)
    sock = ctx.wrap_socket(plain, server_hostname="127.0.0.1")
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{manager.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    received = b""
    try:
        sock.sendall(head.encode())
        for chunk in body_chunks:
            # has the server answered already? (TLS records that carry no application data,
            # e.g. session tickets, raise SSLWantReadError)
            sock.setblocking(False)
            try:
                data = sock.recv(65536)
                received += data
                if received or not data:
                    break
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            finally:
                sock.settimeout(30)
            sock.sendall(chunk)
            time.sleep(0.002)
    except (OSError, ssl.SSLError):
        pass                                    # the server hung up on the rest of the body
    try:
        while not _response_complete(received):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    except (OSError, ssl.SSLError) as e:
        if not received:
            raise AssertionError(f"connection failed without an answer: {e!r}")
    finally:
        sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    m = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
    assert m, f"no HTTP status line in {received[:200]!r}"
    return int(m.group(1)), body


def _oversize_description():
    body = json.dumps(plain_app_body(unique("huge"), description="d" * (MIB + 4096)))
    return body.encode()


def test_body_over_1mib_content_length(ctx):
    before = ctx.owner.count("/v1/apps")
    data = _oversize_description()
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    status, raw = raw_request(ctx.m, "POST", "/v1/apps",
                              {"Authorization": f"Bearer {ctx.owner.token}",
                               "Content-Type": "application/json",
                               "Content-Length": str(len(data))}, chunks)
    assert status == 413, raw[:500]
    assert json.loads(raw)["code"] == BAD_REQ
    assert ctx.owner.count("/v1/apps") == before
    expect(ctx.owner.get("/healthz"), 200)


def test_body_over_1mib_chunked(ctx):
    before = ctx.owner.count("/v1/apps")
    data = _oversize_description()
    chunks = []
    for i in range(0, len(data), 65536):
        piece = data[i:i + 65536]
        chunks.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
    chunks.append(b"0\r\n\r\n")
    status, raw = raw_request(ctx.m, "POST", "/v1/apps",
                              {"Authorization": f"Bearer {ctx.owner.token}",
                               "Content-Type": "application/json",
                               "Transfer-Encoding": "chunked"}, chunks)
    # a server may refuse chunked request bodies outright (411); it must never accept one
    assert status in (411, 413), raw[:500]
    assert ctx.owner.count("/v1/apps") == before


def test_large_valid_body_accepted(ctx):
    """A large body within every field limit is fine (the size limit is 1 MiB, not less)."""
    body = plain_app_body(unique("big"), labels={f"k{i}": "v" * 255 for i in range(64)})
    r = ctx.owner.post("/v1/apps", json=body)
    expect(r, 201)


# ------------------------------------------------------------------------------------------
# query parameters

LISTS = ["/v1/apps", "/v1/builds", "/v1/tasks", "/v1/registry", "/v1/events", "/v1/users",
         "/v1/accounts"]
BAD_QUERIES = {
    "limit=0": {"limit": "0"},
    "limit=1001": {"limit": "1001"},
    "limit=abc": {"limit": "abc"},
    "limit=-1": {"limit": "-1"},
    "limit=1.5": {"limit": "1.5"},
    "limit=empty": {"limit": ""},
    "offset=-1": {"offset": "-1"},
    "offset=abc": {"offset": "abc"},
    "sort_by=nope:ASC": {"sort_by": "nope:ASC"},
    "sort_by=created_at:UP": {"sort_by": "created_at:UP"},
    "sort_by=created_at:ASC:x": {"sort_by": "created_at:ASC:x"},
    "sort_by=empty": {"sort_by": ""},
}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("label", list(BAD_QUERIES))
def test_bad_list_query(ctx, path, label):
    params = dict(BAD_QUERIES[label])
    if path == "/v1/events" and params.get("sort_by", "").startswith("created_at"):
        params["sort_by"] = params["sort_by"].replace("created_at", "seq")
    r = ctx.owner.get(path, params=params)
    expect(r, 400, BAD_REQ)


@pytest.mark.parametrize("path,params", [
    ("/v1/events", {"sort_by": "name:ASC"}),
    ("/v1/events", {"from": "yesterday"}),
    ("/v1/events", {"to": "2026-13-45T99:00:00Z"}),
    ("/v1/events", {"severity": "LOUD"}),
    ("/v1/events", {"chain": "nonsense"}),
    ("/v1/events/export", {"format": "xml"}),
    ("/v1/builds", {"status": "MAYBE"}),
    ("/v1/tasks", {"status": "DONE"}),
    ("/v1/tasks", {"task_type": "COFFEE"}),
    ("/v1/users", {"role": "ADMIN"}),
    ("/v1/builds", {"sort_by": "name:ASC"}),
    ("/v1/registry", {"sort_by": "password:ASC"}),
])
def test_bad_resource_query(ctx, path, params):
    expect(ctx.owner.get(path, params=params), 400, BAD_REQ)


@pytest.mark.parametrize("path,params", [
    ("/v1/apps", {"limit": "1000", "offset": "0", "sort_by": "updated_at:ASC"}),
    ("/v1/apps", {"limit": "1", "sort_by": "name:DESC", "all_search": "%_'\";--"}),
    ("/v1/registry", {"sort_by": "url:DESC"}),
    ("/v1/events", {"sort_by": "seq:ASC", "severity": "INFO"}),
    ("/v1/tasks", {"sort_by": "created_at:ASC", "status": "INPROGRESS"}),
])
def test_good_queries_accepted(ctx, path, params):
    expect(ctx.owner.get(path, params=params), 200)


def test_search_is_not_injectable(ctx):
    page = ctx.owner.list("/v1/apps", all_search="' OR '1'='1")
    assert page["items"] == [] and page["metadata"]["filtered_count"] == 0
    page = ctx.owner.list("/v1/apps", all_search="%")
    assert page["metadata"]["filtered_count"] == 0
    page = ctx.owner.list("/v1/apps", name="%")
    assert page["items"] == []


# ------------------------------------------------------------------------------------------
# routes and methods


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/v1/nope", 404),
    ("GET", "/v2/apps", 404),
    ("GET", "/v1/apps/00000000-0000-4000-8000-000000000000/nope", 404),
    ("GET", "/v1/apps/00000000-0000-4000-8000-000000000000", 404),
    ("DELETE", "/v1/builds/00000000-0000-4000-8000-000000000000", 404),
    ("PUT", "/v1/apps", 405),
    ("DELETE", "/v1/apps", 405),
    ("PUT", "/v1/sys/version", 405),
    ("POST", "/v1/events/verify", 405),
])
def test_routes_and_methods(ctx, method, path, status):
    r = ctx.owner.request(method, path)
    body = expect(r, status)
    code = "NOT_FOUND" if status == 404 else BAD_REQ
    assert body["code"] == code, lib.describe(r)
    if status == 405:
        assert "method" in body["message"].lower(), lib.describe(r)


@pytest.mark.parametrize("path", ["/v1/apps/not-a-uuid", "/v1/apps/..%2F..%2Fetc%2Fpasswd",
                                  "/v1/tasks/" + "a" * 2000, "/v1/registry/%00",
                                  "/v1/builds/%ff%fe"])
def test_malformed_ids(ctx, path):
    r = ctx.owner.get(path)
    assert r.status_code in (400, 404, 414), lib.describe(r)
    expect(r, r.status_code)
    expect(ctx.owner.get("/healthz"), 200)
