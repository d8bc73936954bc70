"""cloister-manager backup, restore and migrate-store (docs/operations.md).

A live manager with data (on the suite's backend, CLOISTER_TEST_STORE) is backed up while a
writer keeps writing; the backup is an SQLite file that Python's sqlite3 reads, internally
consistent; restored into a fresh data dir (or a fresh PostgreSQL database) it serves the same
users, apps and events and its audit chain verifies with the same key. The refusals (existing
file, non-empty destination, missing master key, bad flags) are checked by exit status and
message. migrate-store copies SQLite to SQLite, and SQLite to PostgreSQL when CLOISTER_TEST_PG
names a server.
"""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

import cloister_testlib as lib
from cloister_testlib import Manager, Team, expect, unique

TABLES = ("settings", "users", "accounts", "sessions", "auth_failures", "memberships", "apps", "builds",
          "conversion_jobs", "tool_conversions",
          "tasks", "task_approvals", "registries", "signing_keys", "audit_heads", "events", "audit_checkpoints",
          "zones", "join_tokens", "nodes", "certificates", "app_instances", "used_nonces",
          "collateral")


def run_manager(*args, timeout=300):
    """Runs cloister-manager with args; fails on a sanitizer report in its output."""
    p = subprocess.run([str(lib.MANAGER_BIN), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    for pat in lib.SANITIZER_PATTERNS:
        assert pat not in p.stderr, f"sanitizer report from {args}:\n{p.stderr}"
    return p


def store_args(m):
    """The flags that point a subcommand at manager m's configuration and store."""
    args = ["--config", m.config_path, "--data-dir", m.data_dir]
    if m.store_url is not None:
        args += ["--store", m.store_url]
    return args


def summary_counts(stdout):
    """{table: rows} from a subcommand's summary."""
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def file_counts(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def check_chains_consistent(con):
    """Every chain's events are seq 1..head, linked by prev_hash, and its head is the last event:
    what a copy taken from one snapshot shows even while writes went on."""
    heads = dict(con.execute("SELECT chain, seq FROM audit_heads").fetchall())
    assert heads, "no audit chain in the copy"
    for chain, head in heads.items():
        rows = con.execute("SELECT seq, prev_hash, hash FROM events WHERE chain = ? ORDER BY seq",
                           (chain,)).fetchall()
        assert [r[0] for r in rows] == list(range(1, head + 1)), \
            f"chain {chain}: events {[r[0] for r in rows][-5:]}... but head {head}"
        for prev, cur in zip(rows, rows[1:]):
            assert cur[1] == prev[2], f"chain {chain}: seq {cur[0]} not linked to {prev[0]}"
    chains = {r[0] for r in con.execute("SELECT DISTINCT chain FROM events")}
    assert chains == set(heads), f"events of chains without a head: {chains - set(heads)}"


def fresh_store_url():
    """(url, cleanup) of a new empty store of the suite's backend for a restore: None (the data
    dir's SQLite file) or a new PostgreSQL database."""
    if lib.STORE != "postgres":
        return None, lambda: None
    name = lib.create_pg_database("restore")
    return lib.pg_url(name), lambda: lib.drop_pg_database(name)


def new_data_dir(base, master_key):
    """base/data, mode 0700, holding a copy of master_key (0600)."""
    data = Path(base) / "data"
    data.mkdir(mode=0o700, parents=True)
    fd = os.open(data / "master.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Path(master_key).read_bytes())
    return data


class Writer:
    """Creates apps in a thread until stopped: writes going on during a backup."""

    def __init__(self, client):
        self.c = client.clone()
        self.created = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            r = self.c.post("/v1/apps", json=lib.plain_app_body())
            if r.status_code == 201:
                self.created += 1
            else:
                self.errors.append(lib.describe(r))

    def __enter__(self):
        self._thread.start()
        lib.wait_until(lambda: self.created >= 3, 30, what="the writer's first apps")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(60)
        assert not self.errors, self.errors[:3]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A manager with a team, apps, an approved domain, a build, a registry with a password,
    signed checkpoints, and the team owner's client (account selected) as source.team.owner."""
    m = Manager(tmp_path_factory.mktemp("ops-source"), name="ops-source",
                config={"audit": {"checkpoint_interval": 1}})
    try:
        m.start()
        m.bootstrap()
        team = Team(m)
        owner = team.owner
        app = owner.create_app()
        owner.approve(app["pending_task_id"])
        build = owner.create_build(app["app_id"])
        team.writer.approve(build["pending_task_id"])
        owner.create_registry(username="bob", password="s3cret-registry-password")
        # the deployment's hardware collateral (system administrator)
        from test_collateral import files_of
        for case in ("sgx-v3-phala-p1", "snp-milan-trustee"):
            lib.expect(m.admin_client().post("/v1/collateral", json=files_of(case)), 200)
        for _ in range(5):
            owner.create_app(certificate=False)
        lib.wait_until(lambda: owner.verify()["checkpoints_checked"] >= 1, 30,
                       what="a signed audit checkpoint")
        m.team = team
        yield m
        m.stop()
    finally:
        m.close()


@pytest.fixture(scope="module")
def backup(source, tmp_path_factory):
    """A backup of source taken while a writer creates apps: (path, stdout)."""
    path = tmp_path_factory.mktemp("ops-backup") / "cloister-backup.db"
    with Writer(source.team.owner):
        p = run_manager("backup", "--to", path, *store_args(source))
    assert p.returncode == 0, f"backup failed ({p.returncode}):\n{p.stderr}"
    return path, p.stdout


def test_backup_is_a_consistent_sqlite_file(source, backup):
    path, stdout = backup
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not Path(str(path) + ".tmp").exists()
    assert not Path(str(path) + "-wal").exists(), "the backup is not one self-contained file"
    counts = file_counts(path)
    assert summary_counts(stdout) == {**counts, "total": sum(counts.values())}, stdout
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        key_id = con.execute("SELECT value FROM settings WHERE name = 'master_key_id'").fetchone()
        assert key_id and f"needs the master.key with id {key_id[0]}" in stdout, stdout
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert con.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] >= 1
        emails = {r[0] for r in con.execute("SELECT user_email FROM users")}
        team = source.team
        assert {source.admin[0], team.owner.email, team.writer.email, team.reader.email,
                team.outsider.email} <= emails
        names = {r[0] for r in con.execute("SELECT name FROM apps WHERE acct_id = ?",
                                           (team.acct_id,))}
        assert len(names) >= 6 + 3, names        # the fixture's apps and the writer's first ones
        assert con.execute("SELECT COUNT(*) FROM registries WHERE password_sealed IS NOT NULL"
                           " AND password_sealed <> ''").fetchone()[0] == 1
        raw = path.read_bytes()
        assert b"s3cret-registry-password" not in raw, "registry password in clear in backup"
        assert con.execute("SELECT COUNT(*) FROM audit_checkpoints").fetchone()[0] >= 1
        check_chains_consistent(con)
    finally:
        con.close()


def test_backup_refuses_an_existing_file(source, tmp_path):
    target = tmp_path / "exists.db"
    target.write_bytes(b"precious")
    p = run_manager("backup", "--to", target, *store_args(source))
    assert p.returncode == 1, p
    assert str(target) in p.stderr and "exists" in p.stderr, p.stderr
    assert target.read_bytes() == b"precious"

    # a leftover FILE.tmp (a backup running, or one interrupted) is not overwritten either
    target = tmp_path / "new.db"
    Path(str(target) + ".tmp").write_bytes(b"other backup")
    p = run_manager("backup", "--to", target, *store_args(source))
    assert p.returncode == 1, p
    assert f"{target}.tmp" in p.stderr, p.stderr
    assert not target.exists()
    assert Path(str(target) + ".tmp").read_bytes() == b"other backup"


def test_backup_of_a_missing_store_fails_cleanly(tmp_path):
    data = tmp_path / "nothing-here"
    target = tmp_path / "b.db"
    p = run_manager("backup", "--to", target, "--data-dir", data)
    assert p.returncode == 1, p
    assert "cloister.db" in p.stderr, p.stderr
    assert not data.exists(), "backup created the store it was asked to read"
    assert not target.exists() and not Path(str(target) + ".tmp").exists()


def restore(backup_path, data_dir, store_url):
    args = ["restore", "--from", backup_path, "--data-dir", data_dir]
    if store_url is not None:
        args += ["--store", store_url]
    return run_manager(*args)


def test_restore_serves_the_same_data(source, backup, tmp_path):
    path, _ = backup
    before = path.read_bytes()
    url, cleanup = fresh_store_url()
    restored = None
    try:
        data = new_data_dir(tmp_path / "restored", source.data_dir / "master.key")
        p = restore(path, data, url)
        assert p.returncode == 0, f"restore failed ({p.returncode}):\n{p.stderr}"
        assert path.read_bytes() == before, "restore modified the backup file"
        assert not list(data.glob("restore-*")), "restore left its working copy behind"
        counts = file_counts(path)
        assert summary_counts(p.stdout) == {**counts, "total": sum(counts.values())}, p.stdout

        restored = Manager(tmp_path / "restored", name="ops-restored", store=url,
                           config={"audit": {"checkpoint_interval": 1}})
        restored.admin = source.admin
        restored.start()

        # every user logs in with their password; the owner sees the same account and apps
        for who in (source.team.owner, source.team.writer, source.team.reader):
            c = restored.client()
            expect(c.login(who.email, who.password), 200)
        owner = lib.Client(restored)
        expect(owner.login(source.team.owner.email, source.team.owner.password), 200)
        owner.select(source.team.acct_id)
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            app_ids = {r[0] for r in con.execute("SELECT app_id FROM apps WHERE acct_id = ?",
                                                 (source.team.acct_id,))}
            event_ids = {r[0] for r in con.execute("SELECT event_id FROM events WHERE chain = ?",
                                                   (source.team.acct_id,))}
        finally:
            con.close()
        assert {a["app_id"] for a in owner.list_all("/v1/apps")} == app_ids
        events = owner.events()
        assert {e["event_id"] for e in events} == event_ids
        registries = owner.list_all("/v1/registry")
        assert len(registries) == 1 and registries[0]["username"] == "bob"
        # the deployment's collateral, byte for byte
        collateral = {(i["kind"], i["key"], i["sha256"])
                      for i in owner.list_all("/v1/collateral/status")}
        assert len(collateral) == counts["collateral"] == 7, collateral
        assert collateral == {(i["kind"], i["key"], i["sha256"])
                              for i in source.team.owner.list_all("/v1/collateral/status")}
        got = expect(owner.get("/v1/collateral/intel", params={"fmspc": "00A067110000"}), 200)
        assert got["tcb_info"].encode() == (lib.REPO_ROOT / ".." / "shared" / "testvectors"
                                            / "sgx-v3-phala-p1" / "tcb_info.json").read_bytes()

        # the chain verifies, checkpoints included, with the same audit key
        v = owner.verify()
        assert v["valid"] is True, v
        assert v["events_checked"] == len(event_ids), v
        assert v["checkpoints_checked"] >= 1, v
        assert v["audit_public_key"] == source.team.owner.verify()["audit_public_key"]
        # and the restored manager keeps appending to it
        owner.create_app(certificate=False)
        assert owner.verify()["valid"] is True

        # a second restore into the now used store is refused, naming the fix
        p = restore(path, data, url)
        assert p.returncode == 1, p
        assert "not empty" in p.stderr and "fresh" in p.stderr, p.stderr
        assert len(owner.list_all("/v1/apps")) == len(app_ids) + 1
        restored.stop()
    finally:
        if restored is not None:
            restored.close()
        cleanup()


def test_restore_needs_the_master_key(backup, tmp_path):
    path, _ = backup
    data = tmp_path / "data"
    p = restore(path, data, None)
    assert p.returncode == 1, p
    assert str(data) in p.stderr and "master.key" in p.stderr, p.stderr
    assert not data.exists()

    data.mkdir(mode=0o700)
    p = restore(path, data, None)
    assert p.returncode == 1, p
    assert "master.key" in p.stderr, p.stderr
    assert not (data / "cloister.db").exists()

    # another deployment's key: refused before the destination is created, naming both ids
    fd = os.open(data / "master.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        key_id = con.execute("SELECT value FROM settings WHERE name = 'master_key_id'").fetchone()
    finally:
        con.close()
    assert key_id, "the backup records no master key id"
    p = restore(path, data, None)
    assert p.returncode == 1, p
    assert key_id[0] in p.stderr and "master.key" in p.stderr, p.stderr
    assert not (data / "cloister.db").exists(), "the destination was touched"
    assert not list(data.glob("restore-*"))


def test_restore_refuses_what_is_not_a_backup(tmp_path, source):
    data = new_data_dir(tmp_path / "r", source.data_dir / "master.key")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, " * 100)
    p = restore(junk, data, None)
    assert p.returncode == 1, p
    assert str(junk) in p.stderr and "not a database" in p.stderr, p.stderr

    p = restore(tmp_path / "missing.db", data, None)
    assert p.returncode == 1, p
    assert "missing.db" in p.stderr, p.stderr

    # an SQLite file that is not a Cloister store
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    p = restore(other, data, None)
    assert p.returncode == 1, p
    assert "not a Cloister backup" in p.stderr, p.stderr
    assert not list(data.glob("restore-*"))
    assert not (data / "cloister.db").exists(), "the destination was touched"


def test_restore_refuses_a_newer_backup(backup, tmp_path, source):
    path, _ = backup
    newer = tmp_path / "newer.db"
    shutil.copyfile(path, newer)
    con = sqlite3.connect(newer)
    con.execute("INSERT INTO schema_migrations (version) VALUES (9999)")
    con.commit()
    con.close()
    data = new_data_dir(tmp_path / "r", source.data_dir / "master.key")
    p = restore(newer, data, None)
    assert p.returncode == 1, p
    assert "9999" in p.stderr and "newer" in p.stderr, p.stderr
    assert not (data / "cloister.db").exists(), "the destination was touched"
    assert not list(data.glob("restore-*"))


BAD_USAGE = [
    (["backup"], "--to is required"),
    (["backup", "--to"], "'--to' needs a value"),
    (["backup", "--to", ""], "--to: must not be empty"),
    (["backup", "--to", "a.db", "--to", "b.db"], "--to given twice"),
    (["backup", "--to", "a.db", "--bogus"], "unknown option '--bogus'"),
    (["backup", "--to", "a.db", "extra"], "unexpected argument 'extra'"),
    (["backup", "--to", "a.db", "--from", "x"], "unknown option '--from'"),
    (["restore"], "--from is required"),
    (["restore", "--from", "a.db", "--to", "b"], "unknown option '--to'"),
    (["restore", "--from", "a.db", "--listen", "127.0.0.1:1"], "unknown option '--listen'"),
    (["migrate-store", "--from", "sqlite:/tmp/x.db"], "--to is required"),
    (["migrate-store", "--to", "sqlite:/tmp/x.db"], "--from is required"),
    (["migrate-store", "--from", "a", "--to", "b", "--data-dir", "d"],
     "unknown option '--data-dir'"),
]


@pytest.mark.parametrize("args,message", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage_exits_2(args, message, tmp_path):
    p = subprocess.run([str(lib.MANAGER_BIN), *args], capture_output=True, text=True,
                       cwd=tmp_path, timeout=30)
    assert p.returncode == 2, (args, p)
    assert message in p.stderr, (args, p.stderr)
    assert f"cloister-manager {args[0]} --help" in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == [], "a refused command created files"


@pytest.mark.parametrize("command", ["backup", "restore", "migrate-store"])
def test_help(command):
    p = run_manager(command, "--help")
    assert p.returncode == 0, p
    assert p.stdout.startswith(f"Usage: cloister-manager {command}"), p.stdout
    assert "--from" in p.stdout or "--to" in p.stdout


def test_main_help_lists_the_commands():
    p = run_manager("--help")
    assert p.returncode == 0
    for command in ("backup --to FILE", "restore --from FILE", "migrate-store --from URL"):
        assert command in p.stdout, p.stdout


def test_migrate_store_sqlite_to_sqlite(backup, tmp_path):
    path, _ = backup
    target = tmp_path / "copy.db"
    p = run_manager("migrate-store", "--from", f"sqlite:{path}", "--to", f"sqlite:{target}")
    assert p.returncode == 0, p.stderr
    counts = file_counts(path)
    assert file_counts(target) == counts
    assert summary_counts(p.stdout) == {**counts, "total": sum(counts.values())}, p.stdout
    a = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    b = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        for table in TABLES:
            q = f"SELECT * FROM {table} ORDER BY 1, 2"
            assert a.execute(q).fetchall() == b.execute(q).fetchall(), table
        check_chains_consistent(b)
    finally:
        a.close()
        b.close()

    # the destination is now not empty: a second copy is refused and changes nothing
    p = run_manager("migrate-store", "--from", f"sqlite:{path}", "--to", f"sqlite:{target}")
    assert p.returncode == 1, p
    first = next(t for t in TABLES if counts[t])
    assert "not empty" in p.stderr and f"table {first} has rows" in p.stderr, p.stderr
    assert file_counts(target) == counts


def test_migrate_store_refusals(tmp_path):
    missing = tmp_path / "missing.db"
    p = run_manager("migrate-store", "--from", f"sqlite:{missing}", "--to",
                    f"sqlite:{tmp_path / 'to.db'}")
    assert p.returncode == 1, p
    assert str(missing) in p.stderr, p.stderr
    assert not missing.exists(), "migrate-store created the store it was asked to read"
    assert not (tmp_path / "to.db").exists(), "migrate-store left an empty destination behind"

    p = run_manager("migrate-store", "--from", "sqlite:/tmp/x.db", "--to", "sqlite:/tmp/x.db")
    assert p.returncode == 1 and "same store" in p.stderr, p

    p = run_manager("migrate-store", "--from", "mysql://x", "--to", f"sqlite:{tmp_path / 'y'}")
    assert p.returncode == 1 and "unknown scheme" in p.stderr, p


def test_unreachable_postgres(tmp_path):
    """Nothing listens on port 1: a clear message, no password in it, no file left."""
    url = "postgres://postgres:hunter2-secret@127.0.0.1:1/cloister"
    target = tmp_path / "b.db"
    p = run_manager("backup", "--to", target, "--data-dir", tmp_path, "--store", url)
    assert p.returncode == 1, p
    assert "postgres:***@127.0.0.1:1" in p.stderr and "unreachable" in p.stderr, p.stderr
    assert "hunter2-secret" not in p.stderr + p.stdout
    assert sorted(tmp_path.iterdir()) == [], "backup left files behind"
    p = run_manager("migrate-store", "--from", url, "--to", f"sqlite:{target}")
    assert p.returncode == 1 and "unreachable" in p.stderr, p
    assert not target.exists()


def test_migrate_store_refuses_another_schema_version(backup, tmp_path):
    path, _ = backup
    newer = tmp_path / "newer.db"
    shutil.copyfile(path, newer)
    con = sqlite3.connect(newer)
    con.execute("INSERT INTO schema_migrations (version) VALUES (9999)")
    con.commit()
    con.close()
    target = tmp_path / "to.db"
    p = run_manager("migrate-store", "--from", f"sqlite:{newer}", "--to", f"sqlite:{target}")
    assert p.returncode == 1, p
    assert "schema version 9999" in p.stderr, p.stderr
    assert not target.exists(), "migrate-store left the destination it created behind"


def test_migrate_live_store_while_writing(source, tmp_path):
    """migrate-store from the running source (SQLite or PostgreSQL) while it is written to:
    one snapshot, so every chain in the copy is whole."""
    if source.backend == "sqlite":
        from_url = f"sqlite:{source.db_path}"
    else:
        from_url = source.store_url
    target = tmp_path / "live-copy.db"
    with Writer(source.team.owner):
        p = run_manager("migrate-store", "--from", from_url, "--to", f"sqlite:{target}")
    assert p.returncode == 0, p.stderr
    assert summary_counts(p.stdout)["apps"] == file_counts(target)["apps"]
    con = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        check_chains_consistent(con)
    finally:
        con.close()


needs_pg = pytest.mark.skipif(not lib.PG_BASE,
                              reason="CLOISTER_TEST_PG not set (no PostgreSQL server)")


@needs_pg
def test_migrate_store_sqlite_to_postgres(source, backup, tmp_path):
    path, _ = backup
    name = lib.create_pg_database("migrate")
    url = lib.pg_url(name)
    m = None
    try:
        p = run_manager("migrate-store", "--from", f"sqlite:{path}", "--to", url)
        assert p.returncode == 0, p.stderr
        counts = file_counts(path)
        assert summary_counts(p.stdout) == {**counts, "total": sum(counts.values())}, p.stdout
        pg = lib.StoreDb.postgres(url, readonly=True)
        try:
            for table in TABLES:
                n = pg.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                assert n == counts[table], table
        finally:
            pg.close()

        # a password in a store URL never appears in messages (here: a database that does not
        # exist, so the message names the URL)
        secret_url = lib.pg_url(name + "_missing").replace("://", "://postgres:hunter2-secret@")
        secret_url = secret_url.replace("@postgres@", "@", 1)
        assert "hunter2-secret@" in secret_url, secret_url
        p = run_manager("migrate-store", "--from", f"sqlite:{path}", "--to", secret_url)
        assert p.returncode == 1, p
        assert "postgres:***@" in p.stderr, p.stderr
        assert "hunter2-secret" not in p.stderr + p.stdout, p.stderr

        # a backup of that PostgreSQL store is the same data again
        again = tmp_path / "from-pg.db"
        p = run_manager("backup", "--to", again, "--data-dir", tmp_path, "--store", url)
        assert p.returncode == 0, p.stderr
        a = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        b = sqlite3.connect(f"file:{again}?mode=ro", uri=True)
        try:
            for table in TABLES:
                q = f"SELECT * FROM {table} ORDER BY 1, 2"
                assert a.execute(q).fetchall() == b.execute(q).fetchall(), table
        finally:
            a.close()
            b.close()

        # then a manager on the new database serves the data, and its audit chain verifies
        data = new_data_dir(tmp_path / "pg", source.data_dir / "master.key")
        assert data == tmp_path / "pg" / "data"
        m = Manager(tmp_path / "pg", name="ops-pg", store=url)
        m.admin = source.admin
        m.start()
        owner = lib.Client(m)
        expect(owner.login(source.team.owner.email, source.team.owner.password), 200)
        owner.select(source.team.acct_id)
        v = owner.verify()
        assert v["valid"] is True and v["checkpoints_checked"] >= 1, v
        m.stop()
    finally:
        if m is not None:
            m.close()
        lib.drop_pg_database(name)


# --------------------------------------------------------------------------------------------
# the two-replica example of docs/operations.md, run as written (ports moved to free ones)


def documented_haproxy_config():
    doc = (lib.REPO_ROOT / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```\n(global\n.*?)```", doc, re.S)
    assert len(blocks) == 1, "docs/operations.md: expected one HAProxy configuration block"
    return blocks[0]


def lb_get(url, ca, path="/readyz"):
    """One request on a new connection (so roundrobin moves on); None when it failed."""
    with requests.Session() as s:
        s.trust_env = False
        try:
            return s.get(url + path, verify=str(ca), timeout=10,
                         headers={"Connection": "close"})
        except requests.RequestException:
            return None


def test_documented_haproxy_example(tmp_path):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        pytest.fail("haproxy not found: install the Debian package haproxy "
                    "(scripts/install-deps does)")
    m1 = Manager(tmp_path / "r1", name="lb-replica1")
    m2 = proxy = None
    try:
        m1.start()
        m1.bootstrap()
        m2 = m1.replica(tmp_path / "r2", name="lb-replica2")
        # one certificate for the service: clients see either replica's
        shutil.copytree(m1.data_dir / "tls", m2.data_dir / "tls")
        m2.start()

        port = lib.free_port()
        cfg = documented_haproxy_config()
        for old, new in (("127.0.0.1:8441", m1.port), ("127.0.0.1:8442", m2.port),
                         ("127.0.0.1:8443", port)):
            assert old in cfg, f"{old} not in the documented configuration"
            cfg = cfg.replace(old, f"127.0.0.1:{new}")
        (tmp_path / "haproxy.cfg").write_text(cfg)
        check = subprocess.run([haproxy, "-c", "-f", tmp_path / "haproxy.cfg"],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        log_path = tmp_path / "haproxy.log"
        with open(log_path, "wb") as log:
            proxy = subprocess.Popen([haproxy, "-f", tmp_path / "haproxy.cfg"],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        url, ca = f"https://127.0.0.1:{port}", m1.ca

        def used(name):
            return f"managers/{name} " in log_path.read_text()

        # both replicas serve, in turn, through the balancer (TLS passes through)
        lib.wait_until(lambda: (lb_get(url, ca) or requests.Response()).status_code == 200
                       and used("replica1") and used("replica2"), 30,
                       interval=0.2, what="both replicas serving through haproxy")

        # a session made through one replica works on the other
        with requests.Session() as s:
            s.trust_env = False
            s.verify = str(ca)
            s.headers["Connection"] = "close"
            email = lib.unique_email("lb")
            r = s.post(url + "/v1/users", json={"user_email": email, "user_password": "pw-12345678",
                                                "first_name": "L", "last_name": "B"})
            assert r.status_code == 201, lib.describe(r)
            r = s.post(url + "/v1/sys/auth", auth=(email, "pw-12345678"))
            assert r.status_code == 200, lib.describe(r)
            s.headers["Authorization"] = "Bearer " + r.json()["access_token"]
            r = s.post(url + "/v1/accounts", json={"name": unique("lb")})
            assert r.status_code == 201, lib.describe(r)
            for _ in range(4):
                r = s.get(url + "/v1/accounts")
                assert r.status_code == 200, lib.describe(r)

        # replica 1 stops: the health check takes it out, every request goes to replica 2
        m1.stop()
        lib.wait_until(lambda: "managers/replica1 is DOWN" in log_path.read_text(), 30,
                       interval=0.2, what="haproxy to mark replica1 down")
        for _ in range(6):
            r = lb_get(url, ca)
            assert r is not None and r.status_code == 200
        m2.stop()
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        if m2 is not None:
            m2.close()
        m1.close()
