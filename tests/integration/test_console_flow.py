"""The reference flow of SPEC section 1 through the web console (issue 7), in Debian's Chromium
against a real manager, a real registry (docker-registry with htpasswd), a real cloister-agent
and a converted image run by podman: sign up, account, registry, app with the reference values,
create the image (conversion progress live), approve the domain and the image in Tasks, enroll a
node with a join token generated in the console, run the image, see it RUNNING with its
certificate, download the certificate and check it with `cryptography`, verify and export the
audit log, deactivate the node. Each step is a test; a screenshot of every main screen goes to
the artifacts directory (console_browser.py). No step may cause a console error, a failed or
external request, or an HTTP error the step did not provoke.
"""
import csv
import io
import json
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import cloister_testlib as lib
import oci_fixtures as fx
from cloister_testlib import expect
from registry_server import Registry
from test_init import INIT_BIN, binaries, is_static

pytestmark = pytest.mark.browser

USER, PASSWORD = "alice", "registry-pw-1"
EMAIL, LOGIN_PASSWORD = "ada@example.com", "console-password-1"
DOMAIN = "myapp.domain.dom"
TAG = "1.0"
BUSYBOX = "/bin/busybox"
PODMAN_RUN = ["--runtime", "runc", "run", "--detach", "--network", "host", "--tls-verify=false",
              "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# The application: prints what it got, then keeps running (so that it shows RUNNING).
APP_SCRIPT = "echo app started; head -n 1 /appcert.pem; exec sleep 600"


def input_image(path):
    busybox = open(BUSYBOX, "rb").read()
    layer = fx.Layer([
        fx.dir("/bin"), fx.dir("/etc"), fx.dir("/tmp", mode=0o1777),
        fx.file("/bin/busybox", busybox, mode=0o755),
        *[fx.symlink(f"/bin/{a}", "busybox") for a in ("sh", "echo", "head", "sleep", "cat")],
        fx.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        fx.file("/etc/group", "root:x:0:\n"),
    ])
    config = {"Entrypoint": ["/bin/sh", "-c", APP_SCRIPT], "Env": ["PATH=/bin"]}
    return fx.write_layout(path, [layer], config, tag=TAG, compression="gzip")


class Flow:
    """What the steps share: the manager, the registry, the page and what earlier steps made."""

    def __init__(self, manager, registry, page):
        self.m, self.registry, self.page = manager, registry, page
        self.api = None          # a bearer-token client of the same user, to check the console
        self.app_id = self.build_id = self.node_id = None
        self.agent = self.container = None

    def check(self):
        problems = self.page.unexpected()
        assert not problems, "the console misbehaved:\n" + "\n".join(map(str, problems))


@pytest.fixture(scope="module")
def flow(manager_factory, browser_for, tmp_path_factory):
    binaries()
    for tool in ("podman", "runc", "skopeo"):
        assert shutil.which(tool), f"{tool} is needed (scripts/install-deps installs it)"
    if not is_static(INIT_BIN):
        pytest.fail(f"{INIT_BIN} is not static: run the browser tests on the gcc build")
    work = tmp_path_factory.mktemp("console-flow")
    registry = Registry(work / "registry", auth="htpasswd", users={USER: PASSWORD}).start()
    src = input_image(work / "input")
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                    "--dest-creds", f"{USER}:{PASSWORD}", f"oci:{src.path}:{TAG}",
                    f"docker://{registry.host}/webapp:{TAG}"], check=True, capture_output=True,
                   timeout=120)
    m = manager_factory({"manager": {"dev_mode": "true"},
                         "conversion": {"plain_http_loopback": "true", "init": str(INIT_BIN)}},
                        name="console-flow", bootstrap=False)
    f = Flow(m, registry, browser_for(m).new_page())
    yield f
    if f.container:
        subprocess.run(["podman", "rm", "--force", f.container], capture_output=True, timeout=60)
    if f.agent:
        f.agent.kill()
    f.page.close()
    registry.close()


# -- 1. sign up, account


def test_sign_up_and_create_an_account(flow):
    p = flow.page
    p.goto("")
    p.wait("h1:has-text('Log in')")
    p.screenshot("01-login")
    p.click("a:has-text('Sign up')")
    p.fill("[name='user_email']", EMAIL)
    p.fill("[name='first_name']", "Ada")
    p.fill("[name='last_name']", "Lovelace")
    p.fill("[name='user_password']", LOGIN_PASSWORD)
    p.click("button:has-text('Sign up')")
    p.wait("h1:has-text('Accounts')")
    p.fill("[name='name']", "Reference team")
    p.click("button:has-text('Create account')")
    p.wait("h1:has-text('Dashboard')")
    assert p.text("#account-switcher") .strip() == "Reference team" or \
        "Reference team" in p.text("header")
    # dev_mode: the account accepts simulated evidence, and every screen says so.
    p.wait_text("#banner", "INSECURE")
    p.screenshot("02-dashboard-new-account")
    flow.api = lib.Client(flow.m)
    expect(flow.api.login(EMAIL, LOGIN_PASSWORD), 200)
    accounts = flow.api.list("/v1/accounts")["items"]
    assert [a["name"] for a in accounts] == ["Reference team"]
    flow.api.select(accounts[0]["acct_id"])
    flow.check()
