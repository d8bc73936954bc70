"""The `cloister` command-line client through the reference flow, checked over REST.

The CLI reads CLOISTER_URL and CLOISTER_CA, keeps its session under $HOME, reads passwords with
--password-stdin, prints server errors with their code and exits 1 on them.
"""

import json
import os
import re
import stat
import subprocess

import pytest

import cloister_testlib as lib
from cloister_testlib import CLI_BIN, REFERENCE_DOMAIN, Client, expect, rand_hex64, unique

NIL_UUID = "00000000-0000-4000-8000-000000000000"


class Cli:
    def __init__(self, manager, home):
        self.m = manager
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CLOISTER_", "XDG_"))}
        env.update(HOME=str(home), CLOISTER_URL=manager.url, CLOISTER_CA=str(manager.ca),
                   LC_ALL="C.UTF-8")
        self.env = env

    def run(self, *args, stdin=None, expect_rc=0, timeout=60):
        assert CLI_BIN.exists(), f"CLI binary not found: {CLI_BIN} (set CLOISTER_BUILD_DIR)"
        p = subprocess.run([str(CLI_BIN), *args], input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=timeout, cwd=str(self.home))
        if expect_rc is not None:
            assert p.returncode == expect_rc, (
                f"cloister {' '.join(args)}: exit {p.returncode} (expected {expect_rc})\n"
                f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def signup(self, email, password, expect_rc=0):
        return self.run("signup", "--email", email, "--first-name", "Cli", "--last-name", "User",
                        "--password-stdin", stdin=password + "\n", expect_rc=expect_rc)

    def login(self, email, password, expect_rc=0):
        return self.run("login", "--email", email, "--password-stdin", stdin=password + "\n",
                        expect_rc=expect_rc)

    def files(self):
        out = []
        for root, dirs, names in os.walk(self.home):
            for n in names:
                out.append(os.path.join(root, n))
        return out


def task_items(text):
    doc = json.loads(text)
    if isinstance(doc, dict):
        doc = doc.get("items", doc.get("tasks"))
    assert isinstance(doc, list), f"task list --json: not a list: {text[:300]}"
    return doc


@pytest.fixture
def cli(manager, tmp_path):
    return Cli(manager, tmp_path / "home")


def test_cli_reference_flow(manager, cli):
    email = lib.unique_email("cli")
    password = "cli-password-123"
    cli.signup(email, password)
    cli.login(email, password)

    # the session file: private, and no password in it
    files = cli.files()
    assert files, "login stored no session under $HOME"
    for f in files:
        mode = stat.S_IMODE(os.stat(f).st_mode)
        assert mode == 0o600, f"{f} has mode {oct(mode)}, expected 0600"
        with open(f, "rb") as fh:
            assert password.encode() not in fh.read(), f"password stored in {f}"

    # REST view of the same user, for checking
    rest = Client(manager)
    expect(rest.login(email, password), 200)

    name = unique("cli-acct")
    p = cli.run("account", "create", "--name", name)
    accts = [a for a in rest.list_all("/v1/accounts") if a["name"] == name]
    assert len(accts) == 1
    acct_id = accts[0]["acct_id"]
    assert acct_id in p.stdout, f"account create should print the new id: {p.stdout}"
    cli.run("account", "select", acct_id)
    rest.select(acct_id)

    app_name = unique("cli-app")
    cli.run("app", "create", "--name", app_name,
            "--input-image", "127.0.0.1:5000/flask:latest",
            "--output-image", "127.0.0.1:5000/flask-conf:latest",
            "--isvprodid", "1", "--isvsvn", "1", "--mem-size", "1G", "--threads", "128",
            "--domain", REFERENCE_DOMAIN, "--key-type", "RSA", "--key-size", "2048",
            "--key-path", "/appkey.pem", "--cert-path", "/appcert.pem")
    apps = rest.list("/v1/apps", name=app_name)["items"]
    assert len(apps) == 1
    app = apps[0]
    assert app["input_image_name"] == "127.0.0.1:5000/flask:latest"
    assert app["output_image_name"] == "127.0.0.1:5000/flask-conf:latest"
    assert app["mem_size"] == 1073741824 and app["threads"] == 128
    assert app["isvprodid"] == 1 and app["isvsvn"] == 1
    assert REFERENCE_DOMAIN in app["allowed_domains"]
    cert = app["advanced_settings"]["certificate"]
    assert cert["key_type"] == "RSA" and cert["key_param"] == {"size": 2048}
    assert cert["key_path"] == "/appkey.pem" and cert["cert_path"] == "/appcert.pem"
    assert cert["issuer"] == "MANAGER_CA"

    tasks = task_items(cli.run("task", "list", "--json").stdout)
    dom = [t for t in tasks if t["entity_id"] == app["app_id"]]
    assert len(dom) == 1 and dom[0]["task_type"] == "DOMAIN_WHITELIST"
    assert dom[0]["status"]["status"] == "INPROGRESS"
    cli.run("task", "approve", dom[0]["task_id"])
    assert rest.task(dom[0]["task_id"])["status"]["status"] == "SUCCESS"
    assert REFERENCE_DOMAIN in rest.app(app["app_id"])["whitelisted_domains"]

    mre, mrs = rand_hex64(), rand_hex64()
    cli.run("build", "register", "--app", app["app_id"], "--mrenclave", mre, "--mrsigner", mrs)
    builds = rest.list("/v1/builds", app_id=app["app_id"])["items"]
    assert len(builds) == 1
    build = builds[0]
    assert build["enclave_info"]["mrenclave"] == mre
    assert build["enclave_info"]["mrsigner"] == mrs
    assert build["status"]["status"] == "PENDING"

    tasks = task_items(cli.run("task", "list", "--json").stdout)
    bt = [t for t in tasks if t["entity_id"] == build["build_id"]]
    assert len(bt) == 1 and bt[0]["task_type"] == "BUILD_WHITELIST"
    cli.run("task", "approve", bt[0]["task_id"])
    assert rest.build(build["build_id"])["status"]["status"] == "WHITELISTED"

    out = cli.run("audit", "verify")
    text = (out.stdout + out.stderr).lower()
    assert re.search(r"\bvalid\b", text) and "invalid" not in text, out.stdout


def test_cli_server_error_printed_with_code(manager, cli):
    email = lib.unique_email("clierr")
    cli.signup(email, "cli-password-123")
    p = cli.signup(email, "cli-password-123", expect_rc=1)
    assert "UNIQUE_VIOLATION" in p.stdout + p.stderr, p
    cli.login(email, "cli-password-123")
    p = cli.run("account", "select", NIL_UUID, expect_rc=1)
    assert "NOT_FOUND" in p.stdout + p.stderr, p
    p = cli.run("task", "list", "--json", expect_rc=1)
    assert "NO_ACCOUNT_SELECTED" in p.stdout + p.stderr, p


def test_cli_bad_login(manager, cli):
    email = lib.unique_email("clibad")
    cli.signup(email, "cli-password-123")
    p = cli.login(email, "wrong-password", expect_rc=1)
    assert "UN_AUTHORIZED" in p.stdout + p.stderr, p
    assert "wrong-password" not in p.stdout + p.stderr


def test_cli_without_session_fails(manager, cli):
    p = cli.run("task", "list", "--json", expect_rc=None)
    assert p.returncode != 0, p
