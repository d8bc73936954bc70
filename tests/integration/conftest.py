"""Fixtures for Cloister's integration tests.

Run with:  /usr/bin/python3 -m pytest tests/integration
Environment:
  CLOISTER_BUILD_DIR    build tree (default: <repo>/build); the manager is
                        $CLOISTER_BUILD_DIR/src/manager/cloister-manager and the CLI
                        $CLOISTER_BUILD_DIR/src/cli/cloister
  CLOISTER_MANAGER_BIN, CLOISTER_CLI_BIN   override either binary
  CLOISTER_START_TIMEOUT   seconds to wait for /healthz after start (default 30)
  CLOISTER_TEST_STORE   sqlite (default) or postgres: the store every manager runs on
  CLOISTER_TEST_PG      with postgres: base URL of the server (postgres://USER@HOST:PORT, as
                        printed by scripts/pg-test-server start DIR); each manager gets a fresh
                        database there, dropped when it is closed
  CLOISTER_TEST_KEEP_DB=1   keep those databases (to look at them after a failure)

Each test module gets its own manager (module scope) in its own temporary directory; its log
(stdout + stderr) is attached to the report of any failing test, and a sanitizer report in it
fails the test during which the manager stopped.
"""

import pytest

import cloister_testlib as lib
from cloister_testlib import Client, Manager, Team, expect, new_user


def pytest_sessionstart(session):
    missing = [str(p) for p in (lib.MANAGER_BIN,) if not p.exists()]
    if missing:
        pytest.exit(f"cloister-manager not found at {missing[0]}: build it first "
                    "(meson/ninja into <repo>/build) or set CLOISTER_BUILD_DIR", returncode=2)
    if lib.STORE == "postgres":
        problem = lib.pg_check_server()
        if problem is None:
            try:
                import psycopg2  # noqa: F401  (Manager.db() needs it)
            except ImportError:
                problem = "python3-psycopg2 is not installed (scripts/install-deps installs it)"
        if problem is not None:
            pytest.exit(f"CLOISTER_TEST_STORE=postgres but {problem}", returncode=2)


def pytest_report_header(config):
    if lib.STORE == "postgres":
        return f"cloister store: postgres, a fresh database per manager on {lib.PG_BASE}"
    return "cloister store: sqlite (each manager's data dir)"


def _managers_to_report():
    import time
    now = time.monotonic()
    out = []
    for m in lib.LIVE_MANAGERS:
        if m.proc is not None or (m.stopped_at is not None and now - m.stopped_at < 120):
            out.append(m)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # remember where each manager's log stood when the test began
    item._cloister_log_offsets = {id(m): m.log_size() for m in lib.LIVE_MANAGERS}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = getattr(item, "_cloister_log_offsets", {})
    for m in _managers_to_report():
        start = offsets.get(id(m), 0)
        tail = m.log_tail(300, start=start)
        if tail.strip():
            rep.sections.append((f"cloister-manager log ({m.name}, {m.log_path})", tail))


def _start_manager(tmp_path_factory, name, config=None, bootstrap=True):
    m = Manager(tmp_path_factory.mktemp(name), name=name, config=config)
    try:
        m.start()
        if bootstrap:
            m.bootstrap()
    except BaseException:
        m.close()
        raise
    return m


@pytest.fixture(scope="module")
def manager(request, tmp_path_factory):
    """A manager for this module, with the first (admin) user already signed up."""
    name = request.module.__name__.replace("test_", "mgr-")
    m = _start_manager(tmp_path_factory, name)
    yield m
    try:
        m.stop()
    finally:
        m.close()


@pytest.fixture(scope="module")
def manager_factory(tmp_path_factory):
    """Start extra managers with config overrides: manager_factory({"auth": {"token_ttl": 2}})."""
    started = []

    def make(config=None, name="extra", bootstrap=True):
        m = _start_manager(tmp_path_factory, name, config=config, bootstrap=bootstrap)
        started.append(m)
        return m

    yield make
    errors = []
    for m in started:
        try:
            m.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            m.close()
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def anon(manager):
    """A client without a token."""
    return Client(manager)


@pytest.fixture
def make_user(manager):
    """Factory: a freshly signed-up, logged-in user (unique e-mail) on the module's manager."""
    def make(prefix="user", first="Test", last="User"):
        return new_user(manager, prefix, first, last)
    return make


@pytest.fixture
def user(make_user):
    """A fresh user with a fresh account of their own, selected (they are its MANAGER)."""
    u = make_user()
    acct = u.create_account()
    u.select(acct["acct_id"])
    return u


@pytest.fixture(scope="module")
def team(manager):
    """Account A with MANAGER owner, WRITER, READER; outsider managing account B."""
    return Team(manager)


@pytest.fixture
def fresh_team(manager):
    """A new Team per test (for tests that change settings or roles)."""
    return Team(manager)


@pytest.fixture(scope="module")
def admin(manager):
    c = manager.admin_client()
    acct = c.create_account(lib.unique("admin-acct"))
    c.select(acct["acct_id"])
    return c


# ---- the web console in a browser (console_browser.py; tests marked `browser`)


@pytest.fixture(scope="module")
def browser_for(tmp_path_factory):
    """browser_for(manager) → a Chromium for that manager (one per manager and module)."""
    import console_browser
    problem = console_browser.missing()
    if problem is not None:
        pytest.fail(f"the browser tests need {problem}")
    browsers = {}

    def get(manager):
        if id(manager) not in browsers:
            log = tmp_path_factory.mktemp("browser") / "bridge.log"
            browsers[id(manager)] = console_browser.Browser(manager.url, manager.ca, log)
        return browsers[id(manager)]

    yield get
    for b in browsers.values():
        b.close()


@pytest.fixture
def open_page(browser_for):
    """open_page(manager) → a console_browser.Page with cookies of its own. When the test
    ends, every page it opened must have had no console error, uncaught exception, failed or
    external request, or HTTP error answer the test did not declare."""
    pages = []

    def make(manager):
        page = browser_for(manager).new_page()
        pages.append(page)
        return page

    yield make
    problems = []
    for page in pages:
        problems += page.unexpected()
        page.close()
    assert not problems, "the console misbehaved:\n" + "\n".join(map(str, problems))


__all__ = ["expect"]
