"""A loopback HAProxy in front of several cloister-manager replicas (tests/integration).

HAProxy (Debian's `haproxy`, installed by scripts/install-deps) runs in the foreground
(`haproxy -f CFG -db`) as a child of the test, in `mode tcp` with `balance roundrobin`: TLS passes
through untouched, so clients verify the replicas' own certificate. The replicas of a test share
one TLS certificate and key (copied from the first replica's data/tls/), so the first replica's
data/tls/server.crt is the one CA file for the balancer and for every replica directly.

Round robin is per TCP connection: a client that keeps its connection alive talks to one replica
for as long as the connection lasts. LoadBalancer.client() therefore sends `Connection: close`, so
that consecutive requests of one client go to the replicas in turn.

A replica that is down is noticed by TCP health checks (a bare connect, which the manager does not
log) within a few hundred milliseconds; until then a connection refused by it is retried on the
next server (`option redispatch 1`), so clients never see the dead replica's refusals. A request
already in flight on a replica that dies fails at the client, which retries it (the tests do).
The admin socket answers `show stat`, from which the tests read how many connections each
replica got and whether HAProxy sees it up.
"""

import csv
import io
import shutil
import socket
import subprocess
import time
from pathlib import Path

import cloister_testlib as lib

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class LoadBalancer:
    """HAProxy on 127.0.0.1:<free port> in front of `replicas` (cloister_testlib.Manager objects
    that share one TLS certificate). Quacks like a Manager for cloister_testlib.Client: it has
    .url, .ca and .name."""

    def __init__(self, base_dir, replicas, name="lb"):
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.replicas = list(replicas)
        assert self.replicas, "a load balancer needs at least one replica"
        self.port = lib.free_port()
        self.cfg_path = self.dir / "haproxy.cfg"
        self.sock_path = self.dir / "haproxy.sock"
        self.log_path = self.dir / "haproxy.log"
        self.proc = None
        self._log_fh = None

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self):
        return self.replicas[0].ca

    def server_name(self, i):
        return f"r{i}"

    def _config(self):
        servers = "\n".join(
            f"    server {self.server_name(i)} 127.0.0.1:{m.port} check inter 200ms "
            "fall 1 rise 2" for i, m in enumerate(self.replicas))
        return f"""global
    maxconn 2000
    stats socket {self.sock_path} mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    option redispatch 1

listen cloister
    bind 127.0.0.1:{self.port}
    balance roundrobin
{servers}
"""

    def start(self, timeout=15):
        assert self.proc is None, "load balancer already running"
        if not Path(HAPROXY).exists():
            raise AssertionError("haproxy not found: apt-get install -y haproxy "
                                 "(scripts/install-deps installs it)")
        self.cfg_path.write_text(self._config())
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.cfg_path)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, \
            f"haproxy refuses {self.cfg_path}:\n{check.stdout}{check.stderr}"
        self._log_fh = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-f", str(self.cfg_path), "-db"],
                                     stdin=subprocess.DEVNULL, stdout=self._log_fh,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     close_fds=True)
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(f"haproxy exited with status {rc}:\n{self.log_text()}")
            try:
                if all(s["status"] == "UP" for s in self.servers().values()):
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"haproxy not ready with every server up after {timeout} s:"
                                     f"\n{self.log_text()}")
            time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def command(self, line):
        """One command on the admin socket; returns the answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.sock_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def servers(self):
        """{server name: {"status": UP|DOWN|..., "stot": connections so far}} from `show stat`."""
        text = self.command("show stat").lstrip("# ")
        out = {}
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("pxname") == "cloister" and row.get("svname") not in ("FRONTEND",
                                                                           "BACKEND"):
                out[row["svname"]] = {"status": row["status"].split()[0],
                                      "stot": int(row["stot"] or 0)}
        return out

    def connections(self):
        """{replica index: connections HAProxy has sent it so far}."""
        stats = self.servers()
        return {i: stats[self.server_name(i)]["stot"] for i in range(len(self.replicas))}

    def wait_status(self, i, status, timeout=10):
        """Wait until HAProxy sees replica i as status (UP or DOWN)."""
        name = self.server_name(i)
        lib.wait_until(lambda: self.servers()[name]["status"] == status, timeout,
                       what=f"haproxy to see {name} {status}")

    def client(self, token=None):
        """A Client through the balancer, each request on a new connection (so on the next
        replica in turn)."""
        return lb_client(self, token)


def lb_client(target, token=None, like=None):
    """A cloister_testlib.Client on target (a LoadBalancer or a Manager) that sends
    `Connection: close` when target is a LoadBalancer; with like=, the same token, identity and
    selected account as that client."""
    c = lib.Client(target, token if like is None else like.token)
    if like is not None:
        c.email, c.password, c.user_id, c.acct_id = \
            like.email, like.password, like.user_id, like.acct_id
    if isinstance(target, LoadBalancer):
        c.http.headers["Connection"] = "close"
    return c
