"""Conversions in the manager: `POST /v1/builds/convert-app` records a CONVERTING build, the
jobs process pulls the app's input image from a real registry (docker-registry with htpasswd),
converts it, pushes it, and records the build PENDING with its measurement and a
BUILD_WHITELIST task, or FAILED with the reason (docs/convert.md, "In the manager").

The measurement is checked against the CLI's local conversion of the same image with the same
settings and cloister-init: the two share the converter, but the manager's pull, credentials,
settings snapshot and push are what is under test. The pushed image is read back with skopeo.
"""

import hashlib
import json
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization

import cloister_testlib as lib
import oci_fixtures as fx
from cloister_testlib import expect, new_user
from registry_server import Registry
from test_init import INIT_BIN, binaries, check_sanitizers

USER, PASSWORD = "alice", "s3cret-pw"
CONVERT_TIMEOUT = 90
ZERO64 = "0" * 64


def spki_sha256(public_key_pem):
    """The signer of a public key, computed by `cryptography`, not by us."""
    key = serialization.load_pem_public_key(public_key_pem.encode())
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def inspected(ref):
    p = subprocess.run([str(lib.CLI_BIN), "image", "inspect", ref, "--plain-http",
                        "--src-creds", f"{USER}:{PASSWORD}"],
                       capture_output=True, text=True, timeout=120)
    check_sanitizers(p.stderr)
    assert p.returncode == 0, p.stderr
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("conv-registry"), auth="htpasswd",
                   users={USER: PASSWORD})
    reg.start()
    src = fx.tiny_image(tmp_path_factory.mktemp("conv-input") / "tiny")
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                    "--dest-creds", f"{USER}:{PASSWORD}", f"oci:{src.path}:latest",
                    f"docker://{reg.host}/in-app:1.0"], check=True, capture_output=True,
                   timeout=60)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def mgr(manager_factory):
    binaries()
    return manager_factory({"conversion": {"plain_http_loopback": "true", "init": str(INIT_BIN),
                                           "workers": "2"}}, name="conv-mgr")


@pytest.fixture(scope="module")
def owner(mgr):
    c = new_user(mgr, "conv")
    acct = c.create_account(lib.unique("conv-acct"))
    c.select(acct["acct_id"])
    return c


@pytest.fixture(scope="module")
def app(owner, registry):
    expect(owner.post("/v1/registry", json={"url": registry.host, "username": USER,
                                             "password": PASSWORD}), 201)
    return owner.create_app(input_image_name=f"{registry.host}/in-app:latest",
                            output_image_name=f"{registry.host}/out-app")


def wait_build(owner, build_id, statuses=("PENDING", "FAILED")):
    seen = {}

    def done():
        seen["b"] = owner.build(build_id)
        return seen["b"]["status"]["status"] in statuses
    lib.wait_until(done, CONVERT_TIMEOUT, interval=0.2, what=f"build {build_id} in {statuses}")
    return seen["b"]


def local_conversion(tmp_path, registry, app_json):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(app_json))
    p = subprocess.run([str(lib.CLI_BIN), "image", "convert", "--input",
                        f"docker://{registry.host}/in-app:1.0", "--output",
                        f"oci:{tmp_path / 'local'}:x", "--app-config", str(settings), "--init",
                        str(INIT_BIN), "--plain-http", "--src-creds", f"{USER}:{PASSWORD}"],
                       capture_output=True, text=True, timeout=120)
    check_sanitizers(p.stderr)
    assert p.returncode == 0, p.stderr
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


def test_convert_app_records_a_pending_build(tmp_path, mgr, owner, app, registry):
    b = expect(owner.post("/v1/builds/convert-app",
                          json={"app_id": app["app_id"], "docker_version": "1.0"}), 201)
    assert b["status"]["status"] == "CONVERTING", b
    assert b["enclave_info"]["mrenclave"] is None and b["conversion"]["progress"] == 0, b
    assert b["docker_info"]["docker_image_name"] == f"{registry.host}/out-app"
    done = wait_build(owner, b["build_id"])
    assert done["status"]["status"] == "PENDING", done["conversion"]["log"]
    assert done["conversion"]["progress"] == 100
    assert "Layer 1/" in done["conversion"]["log"]

    # Signing does not change the measurement: the CLI's unsigned conversion measures the same.
    local = local_conversion(tmp_path, registry, owner.app(app["app_id"]))
    assert done["enclave_info"]["mrenclave"] == local["mrenclave"]
    assert local["mrsigner"] == ZERO64
    # The manager signs with the account's key: mrsigner is that key's hash.
    key = expect(owner.get("/v1/signing-key"), 200)
    assert done["enclave_info"]["mrsigner"] == key["signer"] == spki_sha256(key["public_key_pem"])
    info = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
         f"docker://{registry.host}/out-app:1.0"], check=True, capture_output=True,
        text=True, timeout=60).stdout)
    assert info["Digest"] == done["docker_info"]["docker_image_sha"]
    assert info["Labels"]["dev.cloister.mrenclave"] == local["mrenclave"]
    assert info["Labels"]["dev.cloister.mrsigner"] == key["signer"]
    shown = inspected(f"docker://{registry.host}/out-app:1.0")
    assert shown["signature"] == "valid" and shown["mrsigner"] == key["signer"], shown

    task = owner.task(done["pending_task_id"])
    assert task["task_type"] == "BUILD_WHITELIST" and task["entity_id"] == b["build_id"]
    owner.approve(task["task_id"])
    assert owner.build(b["build_id"])["status"]["status"] == "WHITELISTED"
    events = owner.list_all("/v1/events", action_type="IMAGE_CONVERSION")
    assert any(b["build_id"] == e.get("entity", {}).get("id") or
               b["build_id"] in e["message"] for e in events), events


@pytest.mark.parametrize("body, words", [
    ({"docker_version": "no-such-tag"}, ["MANIFEST_UNKNOWN"]),
    ({"docker_version": "1.0", "input_auth_config": {"username": USER, "password": "wrong"}},
     ["refused the credentials"]),
])
def test_failed_conversion_records_why(mgr, owner, app, registry, body, words):
    b = expect(owner.post("/v1/builds/convert-app", json={"app_id": app["app_id"], **body}),
               201)
    done = wait_build(owner, b["build_id"])
    assert done["status"]["status"] == "FAILED", done
    for w in words:
        assert w in done["conversion"]["log"], done["conversion"]["log"]
    assert done["pending_task_id"] is None
    assert done["enclave_info"]["mrenclave"] is None
    tasks = owner.list_all("/v1/tasks")
    assert not any(t["entity_id"] == b["build_id"] for t in tasks)


def test_conversions_survive_a_manager_restart(mgr, owner, app, registry):
    """Jobs recorded just before a kill -9 are taken after the restart: none stays
    CONVERTING."""
    ids = [expect(owner.post("/v1/builds/convert-app",
                             json={"app_id": app["app_id"], "docker_version": "1.0",
                                   "output_docker_version": f"r{i}"}), 201)["build_id"]
           for i in range(3)]
    mgr.kill9()
    # What a killed runner leaves (its scratch directory) is removed when the jobs start again.
    left = mgr.data_dir / "conversions" / "runner-999999"
    (left / "cloister-convert-x").mkdir(parents=True, exist_ok=True)
    (left / "cloister-convert-x" / "blob").write_bytes(b"x" * 4096)
    mgr.start()
    owner = owner.clone()
    for build_id in ids:
        # The same image under other tags: PENDING once, then the same measurement again.
        assert wait_build(owner, build_id)["status"]["status"] in ("PENDING", "FAILED")
    states = [owner.build(i)["status"]["status"] for i in ids]
    # One mrenclave per account: one of the three is PENDING (or an earlier test's build of
    # the same image already holds it), the others say so.
    for i in ids:
        b = owner.build(i)
        if b["status"]["status"] == "FAILED":
            assert "already registered" in b["conversion"]["log"], b["conversion"]["log"]
    assert "CONVERTING" not in states
    # Each job pushed its image (before recording): the same input, settings and Ed25519 key
    # give the same image, byte for byte.
    digests = {json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
         f"docker://{registry.host}/out-app:r{i}"], check=True, capture_output=True,
        text=True, timeout=60).stdout)["Digest"] for i in range(3)}
    assert len(digests) == 1, digests
    # Every runner's directory went with it.
    lib.wait_until(lambda: not any((mgr.data_dir / "conversions").iterdir()), 10,
                   what="the runners' directories to go")


def test_each_account_gets_its_own_signing_key(mgr, owner, app, registry):
    """The key is made by the account's first conversion request (audited), never before, and
    is the account's own."""
    other = new_user(mgr, "conv-other")
    acct = other.create_account(lib.unique("conv-other"))
    other.select(acct["acct_id"])
    expect(other.get("/v1/signing-key"), 404, "NOT_FOUND")
    other_app = other.create_app(input_image_name=f"{registry.host}/in-app",
                                 output_image_name=f"{registry.host}/other-out")
    b = expect(other.post("/v1/builds/convert-app",
                          json={"app_id": other_app["app_id"], "docker_version": "1.0"}), 201)
    key = expect(other.get("/v1/signing-key"), 200)
    assert set(key) == {"signer", "public_key_pem", "created_at"}, key
    assert key["signer"] == spki_sha256(key["public_key_pem"])
    assert key["signer"] != expect(owner.get("/v1/signing-key"), 200)["signer"]
    # A second request keeps the key.
    expect(other.post("/v1/builds/convert-app",
                      json={"app_id": other_app["app_id"], "docker_version": "2.0"}), 201)
    assert expect(other.get("/v1/signing-key"), 200) == key
    events = other.list_all("/v1/events", action_type="IMAGE_CONVERSION")
    assert sum("signing key" in e["message"] for e in events) == 1, events
    # No credentials for this registry in this account: the job fails, saying why.
    assert wait_build(other, b["build_id"])["status"]["status"] == "FAILED"


@pytest.mark.parametrize("body, status, field", [
    ({}, 400, "app_id"),
    ({"app_id": "x"}, 400, "docker_version"),
    ({"docker_version": "bad tag"}, 400, "docker_version"),
    ({"docker_version": "-x"}, 400, "docker_version"),
    ({"docker_version": "1.0", "threads": 0}, 400, "threads"),
    ({"docker_version": "1.0", "mem_size": 3 << 20}, 400, "mem_size"),
    ({"docker_version": "1.0", "input_auth_config": {"user": "x"}}, 400, "input_auth_config"),
    ({"docker_version": "1.0", "unknown": 1}, 400, "unknown"),
])
def test_bad_bodies(owner, app, body, status, field):
    full = {"app_id": app["app_id"], **body} if "app_id" not in body and body else body
    if body == {}:
        full = {}
    resp = owner.post("/v1/builds/convert-app", json=full)
    expect(resp, status, field=field)


def test_unknown_app(owner):
    expect(owner.post("/v1/builds/convert-app",
                      json={"app_id": "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
                            "docker_version": "1.0"}), 404, "NOT_FOUND")


# --------------------------------------------------------------------------------------------
# stand-alone conversions: POST /v1/tools/converter/convert-app


def tool_body(registry, **overrides):
    body = {"input_image_name": f"{registry.host}/in-app:1.0",
            "output_image_name": f"{registry.host}/tool-out:1.0",
            "isvprodid": 7, "isvsvn": 3, "mem_size": 1 << 30, "threads": 16,
            "advanced_settings": {"certificate": {
                "issuer": "MANAGER_CA", "subject": "tool.example.com",
                "alt_names": ["tool.example.com"], "key_type": "EC",
                "key_path": "/tls/key.pem", "cert_path": "/tls/cert.pem"}}}
    body.update(overrides)
    return body


def wait_tool(owner, conversion_id):
    seen = {}

    def done():
        seen["c"] = expect(owner.get(f"/v1/tools/converter/conversions/{conversion_id}"), 200)
        return seen["c"]["status"] != "CONVERTING"
    lib.wait_until(done, CONVERT_TIMEOUT, interval=0.2, what=f"conversion {conversion_id}")
    return seen["c"]


def test_tool_conversion(tmp_path, mgr, owner, registry):
    """No app and no build: the image is converted with the body's settings, signed with the
    account's key, pushed, and the result shown; its measurement is the CLI's for the same
    settings."""
    builds_before = len(owner.list_all("/v1/builds"))
    c = expect(owner.post("/v1/tools/converter/convert-app", json=tool_body(registry)), 201)
    assert c["status"] == "CONVERTING" and c["result"] is None and c["progress"] == 0, c
    assert c["input_image"] == f"{registry.host}/in-app:1.0"
    assert c["requester_info"]["user_id"] == owner.user_id
    done = wait_tool(owner, c["conversion_id"])
    assert done["status"] == "SUCCESS", done["log"]
    assert done["progress"] == 100 and "Layer 1/" in done["log"]
    result = done["result"]
    assert result["isvprodid"] == 7 and result["isvsvn"] == 3
    # The CLI gets the settings without key_param: the manager stores the default (P-256) and
    # the manifest writes it out either way, so both measure the same.
    settings = {k: v for k, v in tool_body(registry).items() if not k.endswith("_name")}
    local = local_conversion(tmp_path, registry, settings)
    assert result["mrenclave"] == local["mrenclave"]
    assert result["mrsigner"] == expect(owner.get("/v1/signing-key"), 200)["signer"]
    shown = inspected(f"docker://{registry.host}/tool-out:1.0")
    assert shown["signature"] == "valid" and shown["mrenclave"] == result["mrenclave"], shown
    assert shown["image_digest"] == result["docker_image_sha"], shown
    assert shown["domain"] == "tool.example.com"
    # Nothing registered; the credentials (the account's registry record) are gone from the row.
    assert len(owner.list_all("/v1/builds")) == builds_before
    assert mgr.sql("SELECT input_password_sealed, output_password_sealed FROM tool_conversions"
                   " WHERE conversion_id = ?", (c["conversion_id"],)) == [(None, None)]
    events = owner.list_all("/v1/events", action_type="IMAGE_CONVERSION")
    assert any(c["conversion_id"] in e["message"] and e["message"].startswith("Converted")
               for e in events), events


def test_tool_conversion_failure_says_why(mgr, owner, registry):
    body = tool_body(registry, input_image_name=f"{registry.host}/in-app:nope",
                     input_auth_config={"username": USER, "password": PASSWORD})
    c = expect(owner.post("/v1/tools/converter/convert-app", json=body), 201)
    done = wait_tool(owner, c["conversion_id"])
    assert done["status"] == "FAILED" and done["result"] is None, done
    assert "MANIFEST_UNKNOWN" in done["log"], done["log"]


@pytest.mark.parametrize("change, field", [
    ({"input_image_name": None}, "input_image_name"),
    ({"output_image_name": "127.0.0.1:5000/x@sha256:" + "a" * 64}, "output_image_name"),
    ({"isvsvn": 70000}, "isvsvn"),
    ({"mem_size": 3 << 20}, "mem_size"),
    ({"threads": 0}, "threads"),
    ({"advanced_settings": {"certificate": {
        "issuer": "MANAGER_CA", "subject": "a.example.com", "key_type": "EC",
        "key_path": "/k.pem", "cert_path": "/c.pem", "key_param": {"size": 2048}}}},
     "advanced_settings.certificate.key_param"),
    ({"advanced_settings": {"certificate": {"subject": "a.example.com"}}},
     "advanced_settings.certificate.issuer"),
    ({"input_auth_config": {"password": "x"}}, "input_auth_config"),
    ({"name": "x"}, "name"),
])
def test_tool_bad_bodies(owner, registry, change, field):
    body = tool_body(registry)
    for k, v in change.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    expect(owner.post("/v1/tools/converter/convert-app", json=body), 400, field=field)


def test_tool_conversion_not_found(owner):
    for cid in ("0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "not-a-uuid"):
        expect(owner.get(f"/v1/tools/converter/conversions/{cid}"), 404, "NOT_FOUND")


def test_manager_log_is_clean(mgr):
    time.sleep(0.2)
    mgr.check_sanitizers()


def run_cli(m, client, home, *args):
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOISTER_", "XDG_"))}
    env.update(HOME=str(home), CLOISTER_URL=m.url, CLOISTER_CA=str(m.ca),
               CLOISTER_TOKEN=client.token, LC_ALL="C.UTF-8")
    p = subprocess.run([str(lib.CLI_BIN), *args], capture_output=True, text=True, env=env,
                       timeout=CONVERT_TIMEOUT + 30)
    check_sanitizers(p.stderr)
    return p


def test_cli_build_convert(tmp_path, mgr, owner, app, registry):
    """`cloister build convert` waits for the build and prints its measurement; a failure
    exits 1 with the reason."""
    # An app of its own (other settings, so another measurement than the other tests' builds).
    app = owner.create_app(input_image_name=f"{registry.host}/in-app",
                           output_image_name=f"{registry.host}/out-app", threads=64)
    p = run_cli(mgr, owner, tmp_path, "build", "convert", "--app", app["name"], "--tag", "1.0",
                "--output-tag", "cli-1")
    assert p.returncode == 0, p.stderr
    assert "Layer 1/" in p.stderr  # the log, line by line (stderr is not a terminal)
    builds = owner.list_all("/v1/builds", app_id=app["app_id"])
    mine = [b for b in builds if b["docker_info"]["docker_version"] == "cli-1"]
    assert len(mine) == 1 and mine[0]["status"]["status"] == "PENDING", mine
    assert mine[0]["enclave_info"]["mrenclave"] in p.stdout
    assert mine[0]["pending_task_id"] in p.stdout
    p = run_cli(mgr, owner, tmp_path, "build", "convert", "--app", app["name"], "--tag",
                "missing-tag")
    assert p.returncode == 1 and "MANIFEST_UNKNOWN" in p.stderr, p.stderr
    p = run_cli(mgr, owner, tmp_path, "build", "convert", "--app", app["name"])
    assert p.returncode == 2 and "tag" in p.stderr, p.stderr


def test_cli_build_signer(tmp_path, mgr, owner, app):
    """`cloister build signer` shows the account's key (-q: the signer alone)."""
    expect(owner.post("/v1/builds/convert-app",
                      json={"app_id": app["app_id"], "docker_version": "signer"}), 201)
    key = expect(owner.get("/v1/signing-key"), 200)
    p = run_cli(mgr, owner, tmp_path, "build", "signer")
    assert p.returncode == 0, p.stderr
    assert key["signer"] in p.stdout and "BEGIN PUBLIC KEY" in p.stdout, p.stdout
    p = run_cli(mgr, owner, tmp_path, "-q", "build", "signer")
    assert p.returncode == 0 and p.stdout.strip() == key["signer"], (p.stdout, p.stderr)
    other = new_user(mgr, "conv-nokey")
    other.select(other.create_account(lib.unique("conv-nokey"))["acct_id"])
    p = run_cli(mgr, other, tmp_path, "build", "signer")
    assert p.returncode != 0 and "first conversion makes it" in p.stderr, (p.stdout, p.stderr)
