"""A local stand-in for Intel's PCCS (API v4 paths) and AMD's KDS, serving the files of
../shared/testvectors, for the manager's collateral refresher (docs/hardware-evidence.md,
"Collateral in the manager").

  GET /sgx/certification/v4/tcb?fmspc=F       tcb_info.json, header TCB-Info-Issuer-Chain
  GET /tdx/certification/v4/tcb?fmspc=F       (issuer chains URL-encoded, as PCS sends them)
  GET /sgx|tdx/certification/v4/qe/identity  qe_identity.json, SGX-Enclave-Identity-Issuer-Chain
  GET /sgx/certification/v4/pckcrl?ca=processor|platform&encoding=der
                                              pck_crl.der, SGX-PCK-CRL-Issuer-Chain
  GET /sgx/certification/v4/rootcacrl         root_ca_crl.der
  GET /vcek/v1/{product}/cert_chain           ASK then ARK (PEM); /vlek/v1/...: ASVK then ARK

What it serves is the dict `routes` ({(kind, key): case folder or bytes}), which tests change
while it runs; every request is recorded in `requests`.
"""

import http.server
import json
import threading
import urllib.parse
from pathlib import Path

from cloister_testlib import REPO_ROOT

TESTVECTORS = (REPO_ROOT / ".." / "shared" / "testvectors").resolve()


def read(case, name):
    return (TESTVECTORS / case / name).read_bytes()


def encoded_chain(case, name):
    return urllib.parse.quote(read(case, name).decode(), safe="")


class CollateralServer:
    """routes: {("tcb", "sgx"|"tdx", FMSPC upper): case, ("qe", "sgx"|"tdx"): case,
    ("pckcrl", "processor"|"platform"): case, ("rootcacrl",): case,
    ("cert_chain", "vcek"|"vlek", product): bytes}. A value of type bytes for tcb/qe replaces
    the body (the chain still comes from the case named in overrides[key])."""

    def __init__(self):
        self.routes = {}
        self.bodies = {}        # same keys: a body to serve instead of the case's file
        self.requests = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.requests.append(self.path)
                answer = server.answer(self.path)
                if answer is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, headers = answer
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def seen(self, prefix):
        with self.lock:
            return [p for p in self.requests if p.startswith(prefix)]

    def answer(self, path):
        u = urllib.parse.urlsplit(path)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = u.path.strip("/").split("/")
        with self.lock:
            routes, bodies = dict(self.routes), dict(self.bodies)
        if len(parts) == 4 and parts[1:] == ["certification", "v4", "tcb"]:
            key = ("tcb", parts[0], q.get("fmspc", ""))
            if key not in routes:
                return None
            case = routes[key]
            return (bodies.get(key) or read(case, "tcb_info.json"),
                    {"Content-Type": "application/json",
                     "TCB-Info-Issuer-Chain": encoded_chain(case, "tcb_info_issuer_chain.pem")})
        if len(parts) == 5 and parts[1:] == ["certification", "v4", "qe", "identity"]:
            key = ("qe", parts[0])
            if key not in routes:
                return None
            case = routes[key]
            return (bodies.get(key) or read(case, "qe_identity.json"),
                    {"Content-Type": "application/json",
                     "SGX-Enclave-Identity-Issuer-Chain":
                         encoded_chain(case, "qe_identity_issuer_chain.pem")})
        if u.path == "/sgx/certification/v4/pckcrl" and q.get("encoding") == "der":
            key = ("pckcrl", q.get("ca", ""))
            if key not in routes:
                return None
            case = routes[key]
            return (read(case, "pck_crl.der"),
                    {"Content-Type": "application/pkix-crl",
                     "SGX-PCK-CRL-Issuer-Chain": encoded_chain(case, "pck_crl_issuer_chain.pem")})
        if u.path == "/sgx/certification/v4/rootcacrl":
            key = ("rootcacrl",)
            if key not in routes:
                return None
            return read(routes[key], "root_ca_crl.der"), {"Content-Type": "application/pkix-crl"}
        if len(parts) == 4 and parts[1] == "v1" and parts[3] == "cert_chain":
            key = ("cert_chain", parts[0], parts[2])
            if key not in routes:
                return None
            return routes[key], {"Content-Type": "application/x-pem-file"}
        return None


def amd_chain(product, vlek=False):
    """KDS's cert_chain for product: the ASK (ASVK) then the ARK, PEM."""
    d = TESTVECTORS / "roots" / "amd" / product.lower()
    return (d / ("asvk.pem" if vlek else "ask.pem")).read_bytes() + (d / "ark.pem").read_bytes()


def tcb_info_bytes(case):
    return read(case, "tcb_info.json")


def tcb_info_fmspc(case):
    return json.loads(read(case, "tcb_info.json"))["tcbInfo"]["fmspc"].upper()


def case_dir(case):
    return Path(TESTVECTORS / case)
