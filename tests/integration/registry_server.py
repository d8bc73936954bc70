"""Real OCI registries on loopback for the converter's registry tests (test_convert_registry.py).

    Registry(workdir, auth="none" | "htpasswd" | "token")    a `docker-registry serve` (the CNCF
        distribution registry, Debian's docker-registry) on a free 127.0.0.1 port, storage in a
        directory of its own; its log (stderr, logrus) is parsed into requests() so that tests
        can see which HTTP requests a client made.
    TokenServer                 the token service a "token" registry sends clients to: checks
        Basic credentials, grants per `scope` parameter, signs ES256 JWTs whose header carries
        the signing certificate (`x5c`), which the registry verifies against its rootcertbundle.
    CutProxy                    a TCP proxy in front of a registry that cuts every connection
        once a number of bytes went upstream, and refuses connections after that: a registry
        that dies in the middle of a push.

Only the standard library, `cryptography` (python3-cryptography) and the `htpasswd` tool
(apache2-utils) are used.
"""

import base64
import datetime
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

REGISTRY_BIN = shutil.which("docker-registry")
HTPASSWD_BIN = shutil.which("htpasswd")
SERVICE = "test-registry"
ISSUER = "test-issuer"
START_TIMEOUT = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on 127.0.0.1:{port} after {timeout} s")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --------------------------------------------------------------------------------------------
# the token service


class TokenServer:
    """GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] with Basic credentials.

    As the distribution token spec says for this GET form, each `scope` parameter is one
    resource scope (`type:name:actions`, the name being what lies between the first and the
    last colon); a parameter that is not one (two scopes joined by a space, for instance)
    grants nothing, unless split_spaces is set (the OAuth2 form, which some services
    accept). Wrong credentials get 401; none at all get an anonymous token that grants
    nothing (as a registry's public token service does for a private repository). Every
    request is recorded in `requests` (user, scope parameters, status)."""

    def __init__(self, workdir, users):
        self.workdir = Path(workdir)
        self.users = dict(users)
        self.requests = []
        self.split_spaces = False  # also read "a b" in one parameter as two scopes
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloister test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(True, False, False, False, False, True, False,
                                                  False, False), True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = self.workdir / "token-cert.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._httpd = None
        self._thread = None

    # -- tokens

    @staticmethod
    def parse_scope(text):
        """'repository:NAME:pull,push' -> (type, NAME, [actions]); None if it is not one."""
        if " " in text or text.count(":") < 2:
            return None
        kind, rest = text.split(":", 1)
        name, actions = rest.rsplit(":", 1)
        if kind != "repository" or not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", name):
            return None
        return kind, name, [a for a in actions.split(",") if a]

    def grant(self, user, scopes):
        access = []
        if user is None:
            return access
        if self.split_spaces:
            scopes = [s for text in scopes for s in text.split(" ") if s]
        for text in scopes:
            parsed = self.parse_scope(text)
            if parsed is None:
                continue
            kind, name, actions = parsed
            allowed = [a for a in actions if a in ("pull", "push")]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        return access

    def make_token(self, user, access, service=SERVICE, lifetime=300):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(
                      serialization.Encoding.DER)).decode()]}
        claims = {"iss": ISSUER, "sub": user or "", "aud": service, "exp": now + lifetime,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS ES256: R || S, 32 bytes each
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    # -- HTTP

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, body, extra=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
                scopes = params.get("scope", [])
                record = {"path": url.path, "scopes": scopes,
                          "service": params.get("service", [None])[0], "user": None}
                server.requests.append(record)
                if url.path != "/token":
                    record["status"] = 404
                    return self._answer(404, {"error": "not found"})
                user = None
                auth = self.headers.get("Authorization", "")
                if auth:
                    try:
                        kind, value = auth.split(" ", 1)
                        u, _, p = base64.b64decode(value).decode().partition(":")
                    except Exception:  # noqa: BLE001 - anything malformed is a refusal
                        kind, u, p = "", None, None
                    if kind.lower() != "basic" or server.users.get(u) != p:
                        record["status"] = 401
                        return self._answer(401, {"errors": [{"code": "UNAUTHORIZED",
                                                              "message": "bad credentials"}]},
                                            [("WWW-Authenticate", 'Basic realm="token"')])
                    user = u
                record["user"] = user
                record["service"] = params.get("service", [SERVICE])[0]
                access = server.grant(user, scopes)
                record["access"] = access
                record["status"] = 200
                token = server.make_token(user, access, record["service"] or SERVICE)
                self._answer(200, {"token": token, "access_token": token, "expires_in": 300,
                                   "issued_at": datetime.datetime.now(
                                       datetime.timezone.utc).isoformat()})

        return Handler

    def start(self):
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


# --------------------------------------------------------------------------------------------
# the registry


_FIELD = r'{}=("(?:[^"\\]|\\.)*"|\S+)'


def _field(line, name):
    m = re.search(_FIELD.format(re.escape(name)), line)
    if not m:
        return None
    v = m.group(1)
    return json.loads(v) if v.startswith('"') else v


class Registry:
    """`docker-registry serve` with filesystem storage in workdir/storage.

    auth: "none", "htpasswd" (users in a bcrypt file made by `htpasswd -Bbn`) or "token"
    (a TokenServer with the same users). stop()/start() keep the port and the storage."""

    def __init__(self, workdir, auth="none", users=None):
        if REGISTRY_BIN is None:
            raise RuntimeError("docker-registry is not installed (apt-get install "
                               "docker-registry)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.auth = auth
        self.users = dict(users or {})
        self.storage = self.workdir / "storage"
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = self.workdir / "registry.log"
        self.access_log_path = self.workdir / "access.log"
        self.config_path = self.workdir / "config.yml"
        self.token_server = None
        self.proc = None
        self._write_config()

    def _write_config(self):
        config = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)},
                        "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": self.host, "secret": "cloister-test-secret"},
        }
        if self.auth == "htpasswd":
            if HTPASSWD_BIN is None:
                raise RuntimeError("htpasswd is not installed (apt-get install apache2-utils)")
            lines = []
            for user, password in self.users.items():
                lines.append(subprocess.run([HTPASSWD_BIN, "-Bbn", user, password],
                                            capture_output=True, text=True,
                                            check=True).stdout.strip())
            path = self.workdir / "htpasswd"
            path.write_text("\n".join(lines) + "\n")
            config["auth"] = {"htpasswd": {"realm": "cloister-test", "path": str(path)}}
        elif self.auth == "token":
            self.token_server = TokenServer(self.workdir, self.users)
            config["auth"] = {"token": {"realm": self.token_server.realm, "service": SERVICE,
                                        "issuer": ISSUER,
                                        "rootcertbundle": str(self.token_server.cert_path)}}
        elif self.auth != "none":
            raise ValueError(f"unknown registry auth {self.auth!r}")
        # JSON is YAML.
        self.config_path.write_text(json.dumps(config, indent=1))

    # -- process

    def start(self):
        if self.token_server is not None and self.token_server._httpd is None:
            self.token_server.start()
        with open(self.log_path, "ab") as err, open(self.access_log_path, "ab") as out:
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.config_path)],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        try:
            wait_port(self.port, START_TIMEOUT, self.proc, f"docker-registry ({self.auth})")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.log_text()[-3000:]}") from None
        return self

    def kill(self):
        """SIGKILL (a crash); the storage stays."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def close(self):
        self.stop()
        if self.token_server is not None:
            self.token_server.stop()

    # -- log

    def log_size(self):
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, start=0):
        with open(self.log_path, "rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def requests(self, start=0, until=None, timeout=10):
        """[(method, uri, status)] of the requests the registry completed after log offset
        start, in order. The registry logs a request after answering it, so a client may be
        done before its last requests are in the log: with until (a predicate on the list),
        waits up to timeout seconds for it to hold."""
        deadline = time.monotonic() + timeout
        while True:
            out = self._requests(start)
            if until is None or until(out) or time.monotonic() > deadline:
                return out
            time.sleep(0.05)

    def _requests(self, start):
        out = []
        for line in self.log_text(start).splitlines():
            if 'msg="response completed' not in line:
                continue
            method = _field(line, "http.request.method")
            uri = _field(line, "http.request.uri")
            status = _field(line, "http.response.status")
            if method and uri:
                out.append((method, uri, int(status) if status else 0))
        return out

    # -- direct access (for checks that owe nothing to the converter or skopeo)

    def ref(self, repo, tag_or_digest="latest"):
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"docker://{self.host}/{repo}{sep}{tag_or_digest}"

    def token_for(self, repo, actions="pull"):
        user, password = next(iter(self.users.items()))
        return self.token_server.make_token(user, [{"type": "repository", "name": repo,
                                                    "actions": actions.split(",")}])

    def get(self, path, accept=None, repo=None, method="GET"):
        """(status, headers, body) of a request to the registry, authenticated as its first
        user."""
        req = urllib.request.Request(f"http://{self.host}{path}", method=method)
        if accept:
            req.add_header("Accept", accept)
        if self.auth == "htpasswd":
            user, password = next(iter(self.users.items()))
            req.add_header("Authorization", "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode())
        elif self.auth == "token":
            req.add_header("Authorization", "Bearer " + self.token_for(repo or "", "pull"))
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def manifest_status(self, repo, reference):
        accept = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.oci.image.index.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.docker.distribution.manifest.list.v2+json"])
        return self.get(f"/v2/{repo}/manifests/{reference}", accept=accept, repo=repo,
                        method="HEAD")[0]

    def tags(self, repo):
        status, _, body = self.get(f"/v2/{repo}/tags/list", repo=repo)
        if status == 404:
            return []
        assert status == 200, (status, body)
        return json.loads(body).get("tags") or []

    def blob_data_path(self, digest):
        hexdigest = digest.split(":", 1)[1]
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" /
                hexdigest[:2] / hexdigest / "data")


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# a registry that dies in the middle of an upload


class CutProxy:
    """Forwards 127.0.0.1:port to target_port. Once `limit` bytes went from clients to the
    target (all connections together), on_limit() is called (kill the registry, say), every
    connection is closed (RST) and new ones are closed as soon as accepted: to a client it
    looks like the registry died. With stall, connections are left open instead, nothing
    more forwarded either way until close(): a registry that hangs."""

    def __init__(self, target_port, limit, on_limit=None, stall=False):
        self.target_port = target_port
        self.limit = limit
        self.on_limit = on_limit
        self.stall = stall
        self.sent = 0
        self.cut = threading.Event()  # the limit was reached
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._socks = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _reset(sock):
        try:
            # l_onoff 1, l_linger 0: close() sends a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                self._reset(client)
                continue
            with self._lock:
                self._socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(self, src, dst, counted):
        try:
            while not self.cut.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if counted:
                    with self._lock:
                        self.sent += len(data)
                        first = self.sent >= self.limit and not self.cut.is_set()
                        if first:
                            self.cut.set()
                    if first and self.on_limit is not None:
                        self.on_limit()
                    if self.cut.is_set() and self.stall:
                        self._release.wait()
                        return
                    if self.cut.is_set():
                        self._cut_all()
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not self.cut.is_set():
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def _cut_all(self):
        self.cut.set()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            self._reset(s)

    def close(self):
        self._closed = True
        self._release.set()
        self._cut_all()
        try:
            self._listener.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# a server that closes idle keep-alive connections


class OneRequestProxy:
    """Forwards 127.0.0.1:port to target_port, one HTTP request per connection: when a client
    sends a second request on a kept-alive connection, the proxy closes that connection
    without answering, as a server (or load balancer) does when its idle timeout strikes just
    as the client reuses the connection. HTTP clients (curl among them) then retry the request
    on a fresh connection, which for a request with a body means sending the body again.
    `closed_reused` counts the connections closed that way."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.closed_reused = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self._closed = False
        self._socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            state = {"responded": False}
            with self._lock:
                self._socks += [client, upstream]
            threading.Thread(target=self._from_client, args=(client, upstream, state),
                             daemon=True).start()
            threading.Thread(target=self._from_upstream, args=(upstream, client, state),
                             daemon=True).start()

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _from_client(self, client, upstream, state):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if state["responded"]:  # a second request on this connection
                    with self._lock:
                        self.closed_reused += 1
                    break
                upstream.sendall(data)
        except OSError:
            pass
        self._close(client, upstream)

    def _from_upstream(self, upstream, client, state):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                state["responded"] = True
                client.sendall(data)
        except OSError:
            pass
        self._close(client, upstream)

    def close(self):
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks, self._socks = self._socks, []
        self._close(*socks)
