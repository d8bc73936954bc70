"""Helpers shared by Cloister's integration tests.

A `Manager` runs one real `cloister-manager` (supervisor + workers + jobs) on a free loopback
port with its own data directory; a `Client` talks to its REST API the way docs/api.md says.
Nothing here knows the manager's internals except what the contract states (data-dir layout,
process names, the SQLite file) and what the audit tests need to tamper with.
"""

import atexit
import base64
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("CLOISTER_BUILD_DIR") or (REPO_ROOT / "build"))
MANAGER_BIN = Path(os.environ.get("CLOISTER_MANAGER_BIN")
                   or (BUILD_DIR / "src" / "manager" / "cloister-manager"))
CLI_BIN = Path(os.environ.get("CLOISTER_CLI_BIN") or (BUILD_DIR / "src" / "cli" / "cloister"))

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

REQUEST_TIMEOUT = 30
START_TIMEOUT = float(os.environ.get("CLOISTER_START_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

MIB = 1 << 20
GIB = 1 << 30

REFERENCE_DOMAIN = "myapp.domain.dom"

ROLES = ("READER", "WRITER", "MANAGER")
ACTION_TYPES = {"USER_AUTH", "ADMIN", "USER_APPROVAL", "NODE_ATTESTATION", "NODE_STATUS",
                "APP_STATUS", "CERTIFICATE", "IMAGE_CONVERSION"}

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def unique(prefix="t"):
    """A short name unique within this test run (and, thanks to the random part, across runs)."""
    with _counter_lock:
        n = next(_counter)
    return f"{prefix}-{n}-{secrets.token_hex(3)}"


def unique_email(prefix="user"):
    return f"{unique(prefix)}@example.com"


def rand_hex64():
    return secrets.token_hex(32)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# processes


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None if it is gone."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    rest = raw.decode("ascii", "replace").rsplit(")", 1)[1].split()
    return rest[0], int(rest[1]), int(rest[2])


def proc_comm(pid):
    raw = _read(f"/proc/{pid}/comm")
    return raw.decode("utf-8", "replace").strip() if raw is not None else None


def proc_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def all_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def children_of(ppid):
    """[(pid, comm)] of the live children of ppid."""
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is None or st[1] != ppid or st[0] in ("Z", "X"):
            continue
        out.append((pid, proc_comm(pid)))
    return out


def group_members(pgid):
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is not None and st[2] == pgid and st[0] not in ("Z", "X"):
            out.append(pid)
    return out


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# the manager


LIVE_MANAGERS = []          # every Manager object created in this run (for failure reports)


def _kill_leftovers():
    for m in LIVE_MANAGERS:
        if m.proc is not None:
            try:
                os.killpg(m.proc.pid, signal.SIGKILL)
            except OSError:
                pass


atexit.register(_kill_leftovers)


def default_config():
    return {
        "manager": {"workers": 2, "dev_mode": "false"},
        "auth": {"token_ttl": 3600, "argon2_memory_kib": 1024, "argon2_iterations": 1},
    }


class Manager:
    """One cloister-manager process tree with its own data dir, config, port and log file."""

    def __init__(self, base_dir, name="manager", config=None):
        self.name = name
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "manager.ini"
        self.log_path = self.dir / "manager.log"
        self.port = free_port()
        self.config = default_config()
        for section, values in (config or {}).items():
            self.config.setdefault(section, {}).update(values)
        self.proc = None
        self.pid = None
        self._log_fh = None
        self.starts = 0
        self.stopped_at = None
        self.admin = None           # (email, password) of the first user, set by bootstrap()
        LIVE_MANAGERS.append(self)

    # paths and urls
    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self):
        return self.data_dir / "tls" / "server.crt"

    @property
    def db_path(self):
        return self.data_dir / "cloister.db"

    def _write_config(self):
        lines = []
        for section, values in self.config.items():
            lines.append(f"[{section}]")
            for k, v in values.items():
                if isinstance(v, bool):
                    v = "true" if v else "false"
                lines.append(f"{k} = {v}")
            lines.append("")
        self.config_path.write_text("\n".join(lines))

    def command(self):
        return [str(MANAGER_BIN), "--data-dir", str(self.data_dir),
                "--listen", f"127.0.0.1:{self.port}", "--config", str(self.config_path)]

    # lifecycle
    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None, "manager already running"
        if not MANAGER_BIN.exists():
            raise AssertionError(f"manager binary not found: {MANAGER_BIN} "
                                 "(build it, or set CLOISTER_BUILD_DIR)")
        self._write_config()
        self._log_fh = open(self.log_path, "ab")
        self._log_fh.write(f"===== test harness: start #{self.starts + 1} "
                           f"{time.strftime('%H:%M:%S')} =====\n".encode())
        self._log_fh.flush()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        self.starts += 1
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.kill9()
            raise
        return self

    def wait_healthy(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(f"manager exited with status {rc} during start-up; log:\n"
                                     f"{self.log_tail(80)}")
            if self.ca.exists():
                try:
                    with requests.Session() as s:
                        s.trust_env = False
                        r = s.get(self.url + "/healthz", verify=str(self.ca), timeout=2)
                    if r.status_code == 200:
                        return
                    last = f"healthz {r.status_code}"
                except (requests.RequestException, OSError) as e:
                    last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"manager not healthy after {timeout} s (last: {last}); log:\n"
                             f"{self.log_tail(80)}")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, expect_rc=0):
        """Signal the supervisor and wait; returns its exit status. Fails if it does not exit in
        time, exits with a status other than expect_rc (None: any), or logged a sanitizer error."""
        if self.proc is None:
            return None
        proc = self.proc
        rc = None
        try:
            proc.send_signal(sig)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                rc = None
        finally:
            self._cleanup_group(grace=5.0 if rc is not None else 0.0)
        if rc is None:
            raise AssertionError(f"manager did not exit within {timeout} s of signal {sig}")
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError(f"manager exited with status {rc} after signal {sig} "
                                 f"(expected {expect_rc}); log:\n{self.log_tail(60)}")
        self.check_sanitizers()
        return rc

    def kill9(self):
        """SIGKILL the whole process tree (a crash)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self._cleanup_group(grace=0.0)
        self.check_sanitizers()

    def _cleanup_group(self, grace):
        pgid = self.proc.pid
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        deadline = time.monotonic() + grace
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        leftovers = group_members(pgid)
        if leftovers:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
            wait_until(lambda: not group_members(pgid), 5, what="process group to die")
        self.proc = None
        self.stopped_at = time.monotonic()
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        self.leftover_children = leftovers

    def restart(self, **kw):
        self.stop(**kw)
        self.start()
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # processes
    def children(self):
        assert self.proc is not None
        return children_of(self.proc.pid)

    def pids(self, comm):
        return sorted(pid for pid, c in self.children() if c == comm)

    # logs
    def log_text(self, start=0):
        raw = _read(self.log_path) or b""
        return raw[start:].decode("utf-8", "replace")

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, lines=200, start=0):
        text = self.log_text(start).splitlines()
        if len(text) > lines:
            text = [f"... ({len(text) - lines} earlier lines in {self.log_path})"] + text[-lines:]
        return "\n".join(text)

    def check_sanitizers(self):
        text = self.log_text()
        for pat in SANITIZER_PATTERNS:
            if pat in text:
                idx = text.index(pat)
                raise AssertionError(f"sanitizer report in manager log {self.log_path}:\n"
                                     f"{text[max(0, idx - 2000): idx + 6000]}")

    # users
    def client(self, token=None):
        return Client(self, token)

    def bootstrap(self):
        """Sign up the first user (the system administrator) so that no test user is one."""
        email = unique_email("admin")
        password = "admin-password-" + secrets.token_hex(4)
        c = self.client()
        expect(c.signup(email, password, "Ada", "Admin"), 201)
        self.admin = (email, password)
        return self.admin

    def admin_client(self):
        c = self.client()
        expect(c.login(*self.admin), 200)
        return c

    # store
    def db(self, readonly=False):
        if readonly:
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        else:
            con = sqlite3.connect(str(self.db_path), timeout=10)
        return con


# --------------------------------------------------------------------------------------------
# HTTP


def describe(resp):
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body[:300].decode("utf-8", "replace")
    elif isinstance(body, str):
        body = body[:300]
    return (f"{req.method} {req.path_url} body={body!r} -> {resp.status_code} "
            f"{resp.text[:1000]!r}")


def field_named(message, field):
    """True if message names the JSON path `field` as a whole token (not as part of a longer
    name: `name` is not named by `input_image_name: ...`)."""
    return re.search(r"(?<![\w.])" + re.escape(field) + r"(?!\w)", message) is not None


def expect(resp, status, code=None, field=None):
    """Assert the status (and for errors the {code, message} shape, the code and that message
    names `field`, a JSON path or a tuple of alternatives). Returns the parsed body or None."""
    assert resp.status_code == status, f"expected {status}: {describe(resp)}"
    body = None
    if resp.content:
        ctype = resp.headers.get("Content-Type", "")
        if "json" in ctype or status >= 400:
            try:
                body = resp.json()
            except ValueError:
                raise AssertionError(f"body is not JSON: {describe(resp)}")
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("code"), str) \
            and isinstance(body.get("message"), str), \
            f"error body is not {{code, message}}: {describe(resp)}"
        if code is not None:
            assert body["code"] == code, f"expected code {code}: {describe(resp)}"
        if field is not None:
            alts = field if isinstance(field, tuple) else (field,)
            assert any(field_named(body["message"], f) for f in alts), \
                f"message does not name {' or '.join(alts)}: {describe(resp)}"
    return body


_DEFAULT = object()


class Client:
    """A REST client for one session (one bearer token, one requests.Session)."""

    def __init__(self, manager, token=None):
        self.m = manager
        self.token = token
        self.email = None
        self.password = None
        self.user_id = None
        self.acct_id = None
        self.http = requests.Session()
        # explicit verify on every request: requests lets REQUESTS_CA_BUNDLE override a
        # session-level verify; and no proxies from the environment for loopback
        self.http.trust_env = False
        self.http.verify = str(manager.ca)

    def clone(self):
        """Same token and identity, separate connection pool (for use in another thread)."""
        c = Client(self.m, self.token)
        c.email, c.password, c.user_id, c.acct_id = \
            self.email, self.password, self.user_id, self.acct_id
        return c

    def without_token(self):
        return Client(self.m, None)

    def request(self, method, path, *, json=_DEFAULT, data=None, params=None, headers=None,
                auth=None, token=_DEFAULT, retry_503=True, timeout=REQUEST_TIMEOUT):
        hdrs = dict(headers or {})
        tok = self.token if token is _DEFAULT else token
        if tok is not None and auth is None and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {tok}"
        kw = {}
        if json is not _DEFAULT:
            kw["json"] = json
        if data is not None:
            kw["data"] = data
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(20):
            r = self.http.request(method, self.m.url + path, params=params, headers=hdrs,
                                  auth=auth, timeout=timeout, verify=str(self.m.ca), **kw)
            # 503 means "store unavailable, nothing done, retry" (docs/api.md).
            if not (retry_503 and r.status_code == 503):
                return r
            time.sleep(0.05 * (attempt + 1))
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # users and sessions
    def signup(self, email=None, password=None, first="Test", last="User"):
        email = email or unique_email()
        password = password or ("pw-" + secrets.token_hex(8))
        r = self.post("/v1/users", json={"user_email": email, "user_password": password,
                                         "first_name": first, "last_name": last}, token=None)
        if r.status_code == 201:
            self.email, self.password = email.lower(), password
            self.user_id = r.json().get("user_id")
        return r

    def login(self, email=None, password=None):
        email = email or self.email
        password = password or self.password
        r = self.post("/v1/sys/auth", auth=(email, password), token=None)
        if r.status_code == 200:
            body = r.json()
            self.token = body["access_token"]
            self.email, self.password = email.lower(), password
            self.user_id = body.get("session_info", {}).get("user_id", self.user_id)
            self.acct_id = None
        return r

    def logout(self):
        return self.post("/v1/sys/logout")

    def new_session(self, select=_DEFAULT):
        """A second log-in of the same user (a new token); selects acct_id unless select=None."""
        c = Client(self.m)
        expect(c.login(self.email, self.password), 200)
        acct = self.acct_id if select is _DEFAULT else select
        if acct:
            c.select(acct)
        return c

    # accounts
    def create_account(self, name=None, **fields):
        body = {"name": name or unique("acct"), **fields}
        return expect(self.post("/v1/accounts", json=body), 201)

    def select(self, acct_id):
        body = expect(self.post(f"/v1/accounts/select_account/{acct_id}"), 200)
        self.acct_id = acct_id
        return body

    def invite(self, email, role):
        return expect(self.post("/v1/users/invite", json={"user_email": email, "role": role}),
                      201)

    # entities
    def create_app(self, name=None, **overrides):
        return expect(self.post("/v1/apps", json=app_body(name, **overrides)), 201)

    def create_build(self, app_id, **fields):
        body = {"app_id": app_id, "mrenclave": rand_hex64(), "mrsigner": rand_hex64(), **fields}
        return expect(self.post("/v1/builds", json=body), 201)

    def create_registry(self, url=None, **fields):
        body = {"url": url or f"registry.example.com/{unique('r')}", **fields}
        return expect(self.post("/v1/registry", json=body), 201)

    def vote(self, task_id, status="APPROVED", reason=None):
        body = {"status": status}
        if reason is not None:
            body["reason"] = reason
        return self.patch(f"/v1/tasks/{task_id}", json=body)

    def approve(self, task_id):
        return expect(self.vote(task_id, "APPROVED"), 200)

    def task(self, task_id):
        return expect(self.get(f"/v1/tasks/{task_id}"), 200)

    def app(self, app_id):
        return expect(self.get(f"/v1/apps/{app_id}"), 200)

    def build(self, build_id):
        return expect(self.get(f"/v1/builds/{build_id}"), 200)

    def list(self, path, **params):
        return expect(self.get(path, params=params or None), 200)

    def list_all(self, path, **params):
        """Every item of a list, page by page (limit 1000)."""
        items, offset = [], 0
        while True:
            page = self.list(path, limit=1000, offset=offset, **params)
            items += page["items"]
            offset += len(page["items"])
            if not page["items"] or offset >= page["metadata"]["filtered_count"]:
                return items

    def count(self, path, **params):
        return self.list(path, limit=1, **params)["metadata"]["total_count"]

    def events(self, **params):
        return self.list_all("/v1/events", **params)

    def export_json(self, **params):
        r = self.get("/v1/events/export", params={"format": "json", **params})
        expect(r, 200)
        return parse_json_export(r.text)

    def verify(self, **params):
        return expect(self.get("/v1/events/verify", params=params or None), 200)


def parse_json_export(text):
    """The JSON export: a JSON array of events, an object holding one (items/events), or
    newline-delimited JSON objects (api.md only says "streamed")."""
    text = text.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ("items", "events"):
            if isinstance(doc.get(key), list):
                return doc[key]
        if "event_id" in doc:
            return [doc]
    raise AssertionError(f"unrecognised JSON export: {text[:300]!r}")


def app_body(name=None, *, domain=REFERENCE_DOMAIN, certificate=True, **overrides):
    """The reference application (SPEC 1 step 2-3), optionally without a certificate/domain."""
    body = {
        "name": name or unique("app"),
        "description": "reference application",
        "input_image_name": "127.0.0.1:5000/flask:latest",
        "output_image_name": "127.0.0.1:5000/flask-conf:latest",
        "isvprodid": 1,
        "isvsvn": 1,
        "mem_size": 1073741824,
        "threads": 128,
    }
    if certificate:
        body["advanced_settings"] = {
            "certificate": {
                "issuer": "MANAGER_CA",
                "subject": domain,
                "alt_names": [domain],
                "key_type": "RSA",
                "key_param": {"size": 2048},
                "key_path": "/appkey.pem",
                "cert_path": "/appcert.pem",
            }
        }
    body.update(overrides)
    return body


def plain_app_body(name=None, **overrides):
    """An application that asks for no domain (so creating it raises no task)."""
    return app_body(name, certificate=False, **overrides)


# --------------------------------------------------------------------------------------------
# users and teams


def new_user(manager, prefix="user", first="Test", last="User"):
    """Sign up a fresh user and log them in; returns their Client (no account selected)."""
    c = Client(manager)
    expect(c.signup(unique_email(prefix), None, first, last), 201)
    expect(c.login(), 200)
    return c


class Team:
    """Account A with a MANAGER owner, a WRITER and a READER, plus an outsider who is MANAGER
    of another account B (selected). Each client has A (or B) selected."""

    def __init__(self, manager, settings=None):
        self.m = manager
        self.owner = new_user(manager, "owner", "Olive", "Owner")
        fields = {"description": "team account"}
        if settings:
            fields["settings"] = settings
        acct = self.owner.create_account(unique("acct-a"), **fields)
        self.acct_id = acct["acct_id"]
        self.owner.select(self.acct_id)
        self.writer = new_user(manager, "writer", "Wanda", "Writer")
        self.reader = new_user(manager, "reader", "Rex", "Reader")
        self.owner.invite(self.writer.email, "WRITER")
        self.owner.invite(self.reader.email, "READER")
        self.writer.select(self.acct_id)
        self.reader.select(self.acct_id)
        self.outsider = new_user(manager, "outsider", "Otto", "Outsider")
        other = self.outsider.create_account(unique("acct-b"))
        self.other_acct_id = other["acct_id"]
        self.outsider.select(self.other_acct_id)

    def by_role(self, role):
        return {"MANAGER": self.owner, "WRITER": self.writer, "READER": self.reader,
                "OUTSIDER": self.outsider}[role.upper()]

    def session(self, who):
        """A fresh log-in for one permission-matrix column."""
        if who == "none":
            return Client(self.m)
        if who == "noselect":
            return self.owner.new_session(select=None)
        if who == "outsider":
            return self.outsider.new_session(select=self.other_acct_id)
        return self.by_role(who).new_session(select=self.acct_id)

    def add_member(self, role="READER"):
        u = new_user(self.m, "member")
        self.owner.invite(u.email, role)
        return u


def b64url_decoded_len(token):
    return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


# --------------------------------------------------------------------------------------------
# the audit table, for tampering with the store directly


def events_table(con):
    """(table, columns) of the audit events table: the one with seq, message and hash columns."""
    found = []
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
        if {"seq", "message"} <= set(cols) and any("hash" in c for c in cols):
            found.append((name, cols))
    assert found, "no table with seq, message and *hash* columns in cloister.db"
    return found


def locate_event_row(con, event_id):
    """(table, column, value) addressing exactly the row of one event id."""
    candidates = [event_id, bytes.fromhex(event_id.replace("-", ""))]
    for table, cols in events_table(con):
        for col in cols:
            for val in candidates:
                try:
                    n = con.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" = ?',
                                    (val,)).fetchone()[0]
                except sqlite3.Error:
                    continue
                if n == 1:
                    return table, col, val
    raise AssertionError(f"event {event_id} not found in the store")


def drop_triggers(con, table):
    """An attacker with file access can drop append-only triggers; so do we."""
    names = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))]
    for name in names:
        con.execute(f'DROP TRIGGER "{name}"')
    return names
