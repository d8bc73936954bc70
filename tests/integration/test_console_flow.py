"""The reference flow of SPEC section 1 through the web console (issue 7), in Debian's Chromium
against a real manager, a real registry (docker-registry with htpasswd), a real cloister-agent
and a converted image run by podman: sign up, account, registry, app with the reference values,
create the image (conversion progress live), approve the domain and the image in Tasks, enroll a
node with a join token generated in the console, run the image, see it RUNNING with its
certificate, download the certificate and check it with `cryptography`, revoke it (the CRL lists
it), verify and export the audit log, deactivate the node (its own certificate is revoked). Each step is a test; a screenshot of every main screen goes to
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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
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

    def __init__(self, manager, registry, page, work):
        self.m, self.registry, self.page, self.work = manager, registry, page, work
        self.api = None          # a bearer-token client of the same user, to check the console
        self.app_id = self.build_id = self.node_id = None
        self.agent = self.container = self.image = None

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
    f = Flow(m, registry, browser_for(m).new_page(), work)
    yield f
    if f.container:
        subprocess.run(["podman", "rm", "--force", f.container], capture_output=True, timeout=60)
    if f.image:
        subprocess.run(["podman", "rmi", "--force", f.image], capture_output=True, timeout=60)
    if f.agent:
        f.agent.kill()
    f.page.close()
    registry.close()


# -- 1. sign up, account


def test_sign_up_and_create_an_account(flow):
    p = flow.page
    p.goto("")
    p.wait("h1:has-text('Log in')")
    p.look("01-login")
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
    p.look("02-dashboard-new-account")
    flow.api = lib.Client(flow.m)
    expect(flow.api.login(EMAIL, LOGIN_PASSWORD), 200)
    accounts = flow.api.list("/v1/accounts")["items"]
    assert [a["name"] for a in accounts] == ["Reference team"]
    flow.api.select(accounts[0]["acct_id"])
    flow.check()


# -- 2. registry, application


def test_add_the_registry_credentials(flow):
    p = flow.page
    p.click("#nav a:has-text('Registries')")
    p.wait("h1:has-text('Registries')")
    p.look("03-registries-empty")
    p.click("main a:has-text('Add registry')")
    p.fill("[name='url']", flow.registry.host)
    p.fill("[name='description']", "the team's registry")
    p.fill("[name='username']", USER)
    p.fill("[name='password']", PASSWORD)
    p.click("form button[type=submit]")
    p.goto("#/registries")
    p.wait_text("main table", flow.registry.host, USER)
    p.look("04-registries")
    [reg] = flow.api.list("/v1/registry")["items"]
    assert reg["username"] == USER and reg["has_password"] is True
    flow.check()


def test_add_the_application_with_the_reference_values(flow):
    p = flow.page
    p.click("#nav a:has-text('Applications')")
    p.wait("h1:has-text('Applications')")
    p.look("05-applications-empty")
    p.click("main a:has-text('Add application')")
    host = flow.registry.host
    for name, value in (("name", "webapp"), ("description", "the reference flow's app"),
                        ("input_image_name", f"{host}/webapp:{TAG}"),
                        ("output_image_name", f"{host}/webapp-confidential"),
                        ("isvprodid", "1"), ("isvsvn", "1"), ("mem_size", "1G"),
                        ("threads", "128"),
                        ("advanced_settings.certificate.subject", DOMAIN),
                        ("advanced_settings.certificate.key_path", "/appkey.pem"),
                        ("advanced_settings.certificate.cert_path", "/appcert.pem")):
        p.fill(f"[name='{name}']", value)
    p.select("[name='advanced_settings.certificate.key_type']", "RSA")
    p.select("[name='advanced_settings.certificate.key_param.size']", "2048")
    p.look("06-application-form")
    p.click("form button[type=submit]")
    p.wait("h1:has-text('webapp')")
    p.wait_text("main", DOMAIN)
    p.look("07-application")
    [app] = flow.api.list("/v1/apps")["items"]
    flow.app_id = app["app_id"]
    assert (app["isvprodid"], app["isvsvn"], app["mem_size"], app["threads"]) == \
        (1, 1, 1 << 30, 128)
    cert = app["advanced_settings"]["certificate"]
    assert (cert["subject"], cert["key_type"], cert["key_param"], cert["key_path"],
            cert["cert_path"]) == (DOMAIN, "RSA", {"size": 2048}, "/appkey.pem", "/appcert.pem")
    assert app["allowed_domains"] == [DOMAIN] and app["pending_task_id"], app
    flow.check()


# -- 3. the image: conversion in the manager, progress and measurement shown live


def test_create_the_image_and_watch_it_convert(flow):
    p = flow.page
    p.click("main a:has-text('Create image')")
    p.wait("h1:has-text('Create image')")
    assert p.value("[name='app_id']") == flow.app_id
    p.fill("[name='docker_version']", TAG)
    p.click("form button[type=submit]")
    p.wait("h1:has-text('Image')")
    p.wait_text("main", "PENDING", timeout=120)
    [build] = flow.api.list("/v1/builds")["items"]
    flow.build_id = build["build_id"]
    measurement = build["enclave_info"]["mrenclave"]
    signer = build["enclave_info"]["mrsigner"]
    assert p.text("code[aria-label='measurement']") == measurement
    assert p.text("code[aria-label='signer']") == signer
    p.wait_text("main", "Layer 1/")         # the conversion log
    p.look("08-image-converted")
    # The pushed image, read by skopeo (not by us), carries the measurement the console shows.
    info = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
         f"docker://{flow.registry.host}/webapp-confidential:{TAG}"], check=True,
        capture_output=True, text=True, timeout=60).stdout)
    assert info["Labels"]["dev.cloister.mrenclave"] == measurement
    assert info["Digest"] == build["docker_info"]["docker_image_sha"]
    p.click("#nav a:has-text('Images')")
    p.wait("h1:text-is('Images')")
    p.wait_text("main table", "webapp", "PENDING")
    p.look("09-images")
    flow.check()


# -- 4. tasks: approve the domain and the image


def test_approve_the_domain_and_the_image(flow):
    p = flow.page
    p.click("#nav a:has-text('Tasks')")
    p.wait("h1:text-is('Tasks')")
    p.wait_text("main table", "webapp")
    lib.wait_until(lambda: p.count("main tbody tr") == 2, 10, what="two pending tasks")
    p.look("10-tasks-pending")
    for _ in range(2):
        p.click("main tbody tr button:has-text('Approve')", nth=0)
        time.sleep(0.5)
    lib.wait_until(lambda: p.count("main tbody tr button:has-text('Approve')") == 0, 20,
                   what="both tasks to leave the pending tab")
    p.click("main a:has-text('Approved')")
    p.wait("main .tab.current:has-text('Approved')")
    p.wait_text("main table", DOMAIN)
    p.look("11-tasks-approved")
    build = flow.api.build(flow.build_id)
    assert build["status"]["status"] == "WHITELISTED", build
    assert flow.api.app(flow.app_id)["whitelisted_domains"] == [DOMAIN]
    flow.check()


# -- 5. a node, enrolled with a join token from the console


def test_enroll_a_node_with_a_token_from_the_console(flow):
    import test_agent
    p = flow.page
    p.click("#nav a:has-text('Compute nodes')")
    p.wait("h1:has-text('Compute nodes')")
    p.look("12-nodes-empty")
    p.click("main a:has-text('Enroll a node')")
    p.click("form button:has-text('Generate join token')")
    token = p.text("code[aria-label='join token']").strip()
    command = p.text("code[aria-label='agent command']")
    assert f"--join-token {token}" in command and f"--manager {flow.m.url}" in command
    assert "--listen 0.0.0.0:9092" in command
    p.look("13-enroll-token")
    # The command as shown, on this machine's free port instead of 9092.
    flow.agent = test_agent.Agent(flow.work / "agent", flow.m.url, token, ca=flow.m.ca,
                                  name="node-1")
    flow.agent.start()
    # The node appears in the list below the token, live.
    p.wait_text("main table", "node-1", "RUNNING")
    p.click("#nav a:has-text('Compute nodes')")
    p.wait("h1:text-is('Compute nodes')")
    p.wait_text("main table", "node-1", "RUNNING", "SIM")
    p.look("14-nodes")
    [node] = flow.api.list("/v1/nodes")["items"]
    flow.node_id = node["node_id"]
    flow.check()


# -- 6. run the image; it attests through the agent, gets its certificate and starts


def test_run_the_image_and_see_it_running(flow):
    p = flow.page
    image = f"{flow.registry.host}/webapp-confidential:{TAG}"
    pull = subprocess.run(["podman", "pull", "--quiet", "--tls-verify=false", "--creds",
                           f"{USER}:{PASSWORD}", image], capture_output=True, text=True,
                          timeout=180)
    assert pull.returncode == 0, pull.stderr
    flow.image = image
    run = subprocess.run(["podman", *PODMAN_RUN,
                          "-e", f"NODE_AGENT_BASE_URL={flow.agent.url}/v1/", image],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    flow.container = run.stdout.strip().splitlines()[-1]

    def started():
        logs = subprocess.run(["podman", "logs", flow.container], capture_output=True,
                              text=True, timeout=60)
        return "app started" in logs.stdout
    lib.wait_until(started, 120, interval=1, what="the app to start in its container")
    p.click("#nav a:has-text('Running apps')")
    p.wait("h1:text-is('Running apps')")
    p.wait_text("main table", "webapp", "node-1", "RUNNING")
    p.look("15-running-apps")
    p.click("#nav a:has-text('Dashboard')")
    p.wait("h1:text-is('Dashboard')")
    p.wait_text("main", "Running")
    assert p.wait_text("#card-running .count", "1") == "1"
    p.look("16-dashboard")
    flow.check()


def test_the_certificate_is_shown_and_downloads(flow):
    p = flow.page
    p.click("#nav a:has-text('Certificates')")
    p.wait("h1:text-is('Certificates')")
    p.wait_text("main table", DOMAIN, "ISSUED")
    p.look("17-certificates")
    p.click(f"main table a:has-text('{DOMAIN}')")
    p.wait("button:has-text('Download PEM')")
    p.look("18-certificate")
    path, _ = p.download("button:has-text('Download PEM')", "app-certificate.pem")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
    zone = flow.api.list("/v1/zones")["items"][0]
    answer = flow.api.get(f"/v1/zones/{zone['zone_id']}/ca")
    assert answer.status_code == 200
    ca_pem = answer.content
    first = ca_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    issuing = x509.load_pem_x509_certificate(first)
    assert cert.issuer == issuing.subject
    # The zone's issuing CA signed it (ECDSA), checked by cryptography, not by us.
    issuing.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                ec.ECDSA(cert.signature_hash_algorithm))
    # Revoke it from its page, with a reason: the zone's next CRL lists it (read by
    # cryptography). The app runs on; its instance keeps the revoked certificate.
    cert_id = p.url().rsplit("/", 1)[-1]
    p.click("main button:has-text('Revoke')")
    p.fill("dialog [name='reason']", "console drill")
    p.click("dialog button:has-text('Revoke')")
    p.wait_text("main", "REVOKED", "console drill")
    assert p.count("main button:has-text('Revoke')") == 0
    record = expect(flow.api.get(f"/v1/certificates/{cert_id}"), 200)
    assert (record["status"], record["revocation_reason"]) == ("REVOKED", "console drill")
    crl = flow.api.get(f"/v1/zones/{zone['zone_id']}/crl")
    assert crl.status_code == 200
    revoked = x509.load_der_x509_crl(crl.content)
    assert revoked.is_signature_valid(issuing.public_key())
    assert revoked.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    flow.check()


# -- 7. the audit log, then clean-up


def test_audit_log_verifies_and_exports(flow):
    p = flow.page
    p.click("#nav a:has-text('Audit log')")
    p.wait_text("main", "Chain verified")
    p.look("19-audit-log")
    path, _ = p.download("button:has-text('Export CSV')", "audit.csv")
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header, events = rows[0], rows[1:]
    assert "action_type" in header and len(events) >= 8, rows[:3]
    actions = {r[header.index("action_type")] for r in events}
    assert {"ADMIN", "USER_APPROVAL", "CERTIFICATE", "IMAGE_CONVERSION"} <= actions, actions
    flow.check()


def test_deactivate_the_node_revokes_its_certificates(flow):
    p = flow.page
    subprocess.run(["podman", "rm", "--force", flow.container], capture_output=True, timeout=60)
    flow.container = None
    p.goto(f"#/nodes/{flow.node_id}")
    p.click("main button:has-text('Deactivate')")
    p.click("dialog button:has-text('Deactivate')")
    p.wait_text("main", "DEACTIVATED")
    p.look("20-node-deactivated")
    p.click("#nav a:has-text('Certificates')")
    p.wait("h1:text-is('Certificates')")
    p.wait_text("main table", DOMAIN, "REVOKED")
    # The node's own certificate too (the app's was revoked on its page already).
    certs = flow.api.list("/v1/certificates", node_id=flow.node_id)["items"]
    assert {c["kind"] for c in certs} == {"NODE", "APP"}, certs
    assert all(c["status"] == "REVOKED" for c in certs), certs
    # Running apps: nothing runs; the stopped instance shows its revoked certificate.
    p.click("#nav a:has-text('Running apps')")
    p.wait_text("main", "No app is running", "0 running")
    p.check("[name='show_stopped']")
    p.wait_text("main table", "webapp", "STOPPED", "REVOKED")
    flow.check()
