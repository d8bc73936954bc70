"""Helpers shared by Cloister's integration tests.

A `Manager` runs one real `cloister-manager` (supervisor + workers + jobs) on a free loopback
port with its own data directory; a `Client` talks to its REST API the way docs/api.md says.
Nothing here knows the manager's internals except what the contract states (data-dir layout,
process names, the store) and what the audit tests need to tamper with.

The store backend comes from the environment:
  CLOISTER_TEST_STORE=sqlite     (default) each manager uses its data dir's cloister.db
  CLOISTER_TEST_STORE=postgres   each manager gets a fresh database on the PostgreSQL server
                                 whose base URL is CLOISTER_TEST_PG (postgres://USER@HOST:PORT,
                                 e.g. from scripts/pg-test-server), passed as --store; dropped
                                 when the manager is closed (or at exit)
  CLOISTER_TEST_KEEP_DB=1        do not drop those databases (to inspect them after a failure)
Tests reach the store directly through Manager.db() / Manager.sql(), which speak to either.
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
import urllib.parse
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("CLOISTER_BUILD_DIR") or (REPO_ROOT / "build"))
MANAGER_BIN = Path(os.environ.get("CLOISTER_MANAGER_BIN")
                   or (BUILD_DIR / "src" / "manager" / "cloister-manager"))
CLI_BIN = Path(os.environ.get("CLOISTER_CLI_BIN") or (BUILD_DIR / "src" / "cli" / "cloister"))
AGENT_BIN = Path(os.environ.get("CLOISTER_AGENT_BIN")
                 or (BUILD_DIR / "src" / "agent" / "cloister-agent"))

STORE = (os.environ.get("CLOISTER_TEST_STORE") or "sqlite").strip().lower()
if STORE not in ("sqlite", "postgres"):
    raise RuntimeError(f"CLOISTER_TEST_STORE={STORE!r}: expected sqlite or postgres")
PG_BASE = (os.environ.get("CLOISTER_TEST_PG") or "").strip()
KEEP_DB = os.environ.get("CLOISTER_TEST_KEEP_DB", "") not in ("", "0")
PG_AMCHECK = (os.environ.get("PG_BIN") or "/usr/lib/postgresql/15/bin") + "/pg_amcheck"

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


def _at_exit():
    for m in LIVE_MANAGERS:
        if m.proc is not None:
            try:
                os.killpg(m.proc.pid, signal.SIGKILL)
            except OSError:
                pass
    for name in list(_PG_DATABASES):
        try:
            drop_pg_database(name)
        except AssertionError:
            pass


atexit.register(_at_exit)


# --------------------------------------------------------------------------------------------
# PostgreSQL databases (CLOISTER_TEST_STORE=postgres)


_PG_DATABASES = set()       # databases created by this run and not dropped yet


def pg_url(dbname, base=None):
    """The URL of database dbname on the server of the base URL (CLOISTER_TEST_PG)."""
    base = base or PG_BASE
    if not base:
        raise AssertionError("CLOISTER_TEST_PG is not set: the base URL of a PostgreSQL server, "
                             "e.g. postgres://postgres@127.0.0.1:55432 from scripts/pg-test-server")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("postgres", "postgresql") or not parts.netloc:
        raise AssertionError(f"CLOISTER_TEST_PG={base!r}: expected postgres://USER@HOST:PORT")
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(dbname)))


def psql(url, sql):
    """Runs SQL (read from stdin, so several statements may follow each other) with psql against
    url; stops at the first error. Returns psql's unaligned, tuples-only output."""
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
    try:
        p = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise AssertionError("psql not found: install postgresql-client (scripts/install-deps)")
    if p.returncode != 0:
        raise AssertionError(f"psql against {url} failed (status {p.returncode}) on:\n{sql}\n"
                             f"{p.stderr.strip()}")
    return p.stdout


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def create_pg_database(prefix="cloister"):
    """A new, empty UTF8 database (unique name) on the test server; returns its name."""
    tag = re.sub(r"[^a-z0-9]+", "_", prefix.lower()).strip("_")[:24] or "db"
    with _counter_lock:
        n = next(_counter)
    name = f"ct_{tag}_{os.getpid()}_{n}_{secrets.token_hex(3)}"
    psql(pg_url("postgres"),
         f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8'")
    _PG_DATABASES.add(name)
    return name


def drop_pg_database(name):
    """Drops a database made by create_pg_database, closing any connection still open to it
    (CLOISTER_TEST_KEEP_DB=1 keeps it)."""
    _PG_DATABASES.discard(name)
    if KEEP_DB:
        return
    psql(pg_url("postgres"), f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")


def pg_check_server():
    """None if the PostgreSQL server of CLOISTER_TEST_PG answers, else why not."""
    try:
        psql(pg_url("postgres"), "SELECT 1")
    except AssertionError as e:
        return str(e)
    return None


def default_config():
    return {
        "manager": {"workers": 2, "dev_mode": "false"},
        "auth": {"token_ttl": 3600, "argon2_memory_kib": 1024, "argon2_iterations": 1},
    }


class Manager:
    """One cloister-manager process tree with its own data dir, config, port and log file."""

    def __init__(self, base_dir, name="manager", config=None, store=None):
        """store: a store URL to use (shared with another manager: a replica; not dropped by
        close()); by default a fresh database of its own when CLOISTER_TEST_STORE=postgres, and
        the data dir's cloister.db otherwise."""
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
        self.pg_database = None     # the PostgreSQL database this manager owns (drops on close)
        if store is not None:
            self.store_url = store
        elif STORE == "postgres":
            self.pg_database = create_pg_database(name)
            self.store_url = pg_url(self.pg_database)
        else:
            self.store_url = None   # the default: sqlite:DATA_DIR/cloister.db
        LIVE_MANAGERS.append(self)

    # paths and urls
    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self):
        return self.data_dir / "tls" / "server.crt"

    @property
    def backend(self):
        """"postgres" or "sqlite": the kind of store this manager runs on."""
        url = self.store_url or ""
        return "postgres" if url.startswith(("postgres://", "postgresql://")) else "sqlite"

    @property
    def db_path(self):
        """The SQLite store file (SQLite backend only)."""
        assert self.backend == "sqlite", "db_path: this manager's store is PostgreSQL"
        url = self.store_url
        if url is None:
            return self.data_dir / "cloister.db"
        return Path(url[len("sqlite:"):] if url.startswith("sqlite:") else url)

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
        cmd = [str(MANAGER_BIN), "--data-dir", str(self.data_dir),
               "--listen", f"127.0.0.1:{self.port}", "--config", str(self.config_path)]
        if self.store_url is not None:
            cmd += ["--store", self.store_url]
        return cmd

    # lifecycle
    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None, "manager already running"
        if not MANAGER_BIN.exists():
            raise AssertionError(f"manager binary not found: {MANAGER_BIN} "
                                 "(build it, or set CLOISTER_BUILD_DIR)")
        self._write_config()
        self._log_fh = open(self.log_path, "ab")
        store = self.store_url or f"sqlite:{self.data_dir / 'cloister.db'} (default)"
        self._log_fh.write(f"===== test harness: start #{self.starts + 1} "
                           f"{time.strftime('%H:%M:%S')}, store {store} =====\n".encode())
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

    def replica(self, base_dir, name=None):
        """A new (not started) manager on this one's store, with its own data dir holding a copy
        of this manager's master key (start this one first: it creates the key), the same
        configuration and the same admin user."""
        key = self.data_dir / "master.key"
        assert key.exists(), f"{key} does not exist yet: start {self.name} first"
        r = Manager(base_dir, name=name or f"{self.name}-replica",
                    config={k: dict(v) for k, v in self.config.items()},
                    store=self.store_url or f"sqlite:{self.db_path}")
        r.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(r.data_dir / "master.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.read_bytes())
        r.admin = self.admin
        return r

    def close(self):
        """Final clean-up after stop(): kills what still runs and drops the database this
        manager owns (PostgreSQL). The manager cannot be started again."""
        if self.proc is not None:
            self.kill9()
        if self.pg_database is not None:
            name, self.pg_database = self.pg_database, None
            drop_pg_database(name)

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
        """A direct connection to this manager's store, either backend (see StoreDb)."""
        if self.backend == "postgres":
            return StoreDb.postgres(self.store_url, readonly)
        return StoreDb.sqlite(self.db_path, readonly)

    def sql(self, statement, params=()):
        """Runs one statement (? placeholders) on the store and commits; returns its rows as a
        list of tuples ([] for a statement without result rows)."""
        con = self.db()
        try:
            cur = con.execute(statement, params)
            rows = cur.fetchall() if cur.description is not None else []
            con.commit()
            return rows
        finally:
            con.close()

    def store_contents(self):
        """[(label, bytes)]: everything the store holds, for "no secret in clear" checks: the
        SQLite file and its WAL as they are on disk, or a data-only pg_dump of the database."""
        if self.backend == "sqlite":
            out = []
            for path in (self.db_path, self.db_path.with_name(self.db_path.name + "-wal")):
                if path.exists():
                    out.append((str(path), path.read_bytes()))
            assert out, f"no store file at {self.db_path}"
            return out
        try:
            p = subprocess.run(["pg_dump", "--data-only", "--no-owner", "-d", self.store_url],
                               capture_output=True, timeout=60)
        except FileNotFoundError:
            raise AssertionError("pg_dump not found: install postgresql-client")
        assert p.returncode == 0, f"pg_dump failed: {p.stderr.decode(errors='replace')}"
        assert p.stdout, "pg_dump printed nothing"
        return [(f"pg_dump of {self.store_url}", p.stdout)]

    def check_store_integrity(self):
        """The store is internally consistent (after a crash): SQLite's integrity and foreign-key
        checks; on PostgreSQL, amcheck over every table and B-tree index (pg_amcheck) and no
        connection of a dead manager left holding a transaction open."""
        if self.backend == "sqlite":
            con = sqlite3.connect(str(self.db_path), timeout=10)
            try:
                assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert con.execute("PRAGMA foreign_key_check").fetchall() == []
            finally:
                con.close()
            return
        if not self.running:
            sessions = []

            def no_sessions():
                sessions[:] = self.sql(
                    "SELECT pid, state, query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                return not sessions
            try:
                wait_until(no_sessions, 15, interval=0.2, what="the stopped manager's sessions")
            except AssertionError:
                raise AssertionError(f"sessions of the stopped manager still open: {sessions}")
        p = subprocess.run([PG_AMCHECK, "--install-missing", "--heapallindexed",
                            self.store_url],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"pg_amcheck found problems (status {p.returncode}):\n" \
                                  f"{p.stdout}{p.stderr}"


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
# the store, directly (either backend)


class StoreDb:
    """A direct connection to a manager's store with one API for SQLite and PostgreSQL:
    execute(sql, params) takes ? placeholders and returns a DB-API cursor (fetchone, fetchall,
    rowcount, iteration); commit(); close(); catalog helpers tables(), columns(), triggers().
    PostgreSQL connections are in autocommit mode (each statement commits by itself, and a failed
    statement does not spoil the next); do not write '?' in SQL other than as a placeholder."""

    def __init__(self, backend, con):
        self.backend = backend
        self.con = con

    @classmethod
    def sqlite(cls, path, readonly=False):
        if readonly:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        else:
            con = sqlite3.connect(str(path), timeout=10)
        return cls("sqlite", con)

    @classmethod
    def postgres(cls, url, readonly=False):
        try:
            import psycopg2
        except ImportError:
            raise AssertionError("python3-psycopg2 is needed to reach a PostgreSQL store "
                                 "directly (scripts/install-deps installs it)")
        con = psycopg2.connect(url, connect_timeout=10)
        con.set_session(readonly=readonly, autocommit=True)
        return cls("postgres", con)

    @property
    def errors(self):
        """The exception class(es) a failing statement raises."""
        if self.backend == "sqlite":
            return sqlite3.Error
        import psycopg2
        return psycopg2.Error

    def execute(self, sql, params=()):
        if self.backend == "sqlite":
            return self.con.execute(sql, params)
        cur = self.con.cursor()
        cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return cur

    def commit(self):
        self.con.commit()

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def tables(self):
        if self.backend == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = ("SELECT table_name FROM information_schema.tables WHERE table_type = "
                   "'BASE TABLE' AND table_schema = current_schema() ORDER BY table_name")
        return [r[0] for r in self.execute(sql)]

    def columns(self, table):
        if self.backend == "sqlite":
            return [r[1] for r in self.execute(f"PRAGMA table_info({quote_ident(table)})")]
        return [r[0] for r in self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]

    def equals(self, column):
        """SQL comparing a column of any type to a text (or, on SQLite, blob) parameter."""
        if self.backend == "sqlite":
            return f"{quote_ident(column)} = ?"
        return f"CAST({quote_ident(column)} AS TEXT) = ?"

    def drop_triggers(self, table):
        """Drops the triggers (and, on PostgreSQL, rules) on a table; returns their names."""
        if self.backend == "sqlite":
            names = [r[0] for r in self.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                (table,))]
            for name in names:
                self.execute(f"DROP TRIGGER {quote_ident(name)}")
            return names
        names = [r[0] for r in self.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = CAST(quote_ident(?) AS regclass)", (table,))]
        for name in names:
            self.execute(f"DROP TRIGGER {quote_ident(name)} ON {quote_ident(table)}")
        rules = [r[0] for r in self.execute(
            "SELECT rulename FROM pg_rules WHERE schemaname = current_schema() "
            "AND tablename = ?", (table,))]
        for name in rules:
            self.execute(f"DROP RULE {quote_ident(name)} ON {quote_ident(table)}")
        return names + rules


# the audit table, for tampering with the store directly


def events_table(con):
    """(table, columns) of the audit events table: the one with seq, message and hash columns."""
    found = []
    for name in con.tables():
        cols = con.columns(name)
        if {"seq", "message"} <= set(cols) and any("hash" in c for c in cols):
            found.append((name, cols))
    assert found, "no table with seq, message and *hash* columns in the store"
    return found


def locate_event_row(con, event_id):
    """(table, column, value) addressing exactly the row of one event id."""
    raw = bytes.fromhex(event_id.replace("-", ""))
    if con.backend == "sqlite":
        candidates = [event_id, raw]
    else:
        candidates = [event_id, "\\x" + raw.hex()]   # text, or bytea's text form
    for table, cols in events_table(con):
        for col in cols:
            for val in candidates:
                try:
                    n = con.execute(f"SELECT COUNT(*) FROM {quote_ident(table)} "
                                    f"WHERE {con.equals(col)}", (val,)).fetchone()[0]
                except con.errors:
                    continue
                if n == 1:
                    return table, col, val
    raise AssertionError(f"event {event_id} not found in the store")


def drop_triggers(con, table):
    """An attacker with access to the store can drop append-only triggers; so do we."""
    return con.drop_triggers(table)


# --------------------------------------------------------------------------------------------
# the node agent


def agent_binary():
    """The cloister-agent of the build under test (CLOISTER_AGENT_BIN overrides); fails clearly
    when it has not been built."""
    if not AGENT_BIN.exists():
        raise AssertionError(f"agent binary not found: {AGENT_BIN} "
                             "(build it, or set CLOISTER_BUILD_DIR / CLOISTER_AGENT_BIN)")
    return AGENT_BIN
