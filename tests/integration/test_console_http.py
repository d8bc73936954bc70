"""The web console over HTTP (issue 7), without a browser: the manager serves web/console/ at
/ with a strict Content-Security-Policy, content types, ETag revalidation and gzip; and the
console's session cookie (HttpOnly, Secure, SameSite=Strict, only with the X-Cloister-Session
header, so cross-site requests are refused) beside bearer tokens (docs/console.md)."""
import gzip
import http.client
import re
import ssl
from pathlib import Path

import pytest
import requests

import cloister_testlib as lib
from cloister_testlib import expect, unique_email

CONSOLE = Path(__file__).resolve().parents[2] / "web" / "console"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
SESSION = {"X-Cloister-Session": "cookie"}


def get(manager, path, **kw):
    return requests.get(manager.url + path, verify=str(manager.ca), timeout=30, **kw)


def raw_status(manager, path, method="GET"):
    """The status of a request for path exactly as written (requests would normalise "..")."""
    context = ssl.create_default_context(cafile=str(manager.ca))
    context.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", manager.port, context=context, timeout=30)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    finally:
        conn.close()


def csp(resp):
    """The Content-Security-Policy as {directive: [sources]}."""
    policy = {}
    for part in resp.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def console_files():
    return sorted(p for p in CONSOLE.rglob("*") if p.is_file())


def test_root_is_the_console_with_a_strict_policy(manager):
    r = get(manager, "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.content == (CONSOLE / "index.html").read_bytes()
    policy = csp(r)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert not any("unsafe" in s or s == "*" or s.startswith("http")
                   for sources in policy.values() for s in sources), policy
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["ETag"])


def test_every_console_file_is_served_as_it_is_in_the_tree(manager):
    """The embedded copy is complete and exact, each with its content type."""
    for path in console_files():
        rel = "/" + path.relative_to(CONSOLE).as_posix()
        r = get(manager, rel, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200, rel
        assert r.content == path.read_bytes(), rel
        assert r.headers["Content-Type"] == TYPES[path.suffix], rel
        assert "Content-Encoding" not in r.headers


def test_index_references_only_files_the_manager_serves(manager):
    html = (CONSOLE / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert refs, html
    for ref in refs:
        assert not ref.startswith(("http:", "https:", "//")), f"external reference {ref}"
        expect(get(manager, "/" + ref), 200)


def test_scripts_import_only_served_modules(manager):
    """Every ES module import resolves to a file the manager serves (no CDN, no bare names)."""
    for path in CONSOLE.rglob("*.js"):
        for spec in re.findall(r"^import .*? from '([^']+)';", path.read_text(), re.M):
            assert spec.startswith("."), f"{path}: import of {spec}"
            target = (path.parent / spec).resolve()
            rel = "/" + target.relative_to(CONSOLE).as_posix()
            expect(get(manager, rel), 200)


def test_etag_revalidation_answers_304_without_a_body(manager):
    first = get(manager, "/js/app.js")
    etag = first.headers["ETag"]
    again = get(manager, "/js/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    listed = get(manager, "/js/app.js", headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304
    changed = get(manager, "/js/app.js", headers={"If-None-Match": '"0123"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_gzip_for_browsers_that_accept_it(manager):
    raw = (CONSOLE / "js" / "ui.js").read_bytes()
    r = requests.get(manager.url + "/js/ui.js", verify=str(manager.ca), timeout=30,
                     headers={"Accept-Encoding": "gzip, deflate"}, stream=True)
    assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
    body = r.raw.read()
    assert gzip.decompress(body) == raw and len(body) < len(raw)
    refused = get(manager, "/js/ui.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.content == raw


def test_head_has_the_headers_and_no_body(manager):
    r = requests.head(manager.url + "/", verify=str(manager.ca), timeout=30)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("path", ["/nope.html", "/js/../index.html", "/js/%2e%2e/index.html",
                                  "/.git/config", "/index.html/", "/js", "/v1"])
def test_unknown_paths_are_404(manager, path):
    assert raw_status(manager, path) == 404, path


def test_other_methods_on_console_files_are_refused(manager):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = requests.request(method, manager.url + "/index.html", verify=str(manager.ca),
                             timeout=30)
        assert r.status_code == 404, (method, r.status_code)


def test_api_routes_are_unchanged(manager):
    expect(get(manager, "/v1/sys/version"), 200)
    r = get(manager, "/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


# ---- the console's session cookie


def signup(manager):
    email, password = unique_email("console"), "console-password"
    expect(lib.Client(manager).signup(email, password, "Con", "Sole"), 201)
    return email, password


class CookieJarClient(requests.Session):
    """A session that keeps cookies as a browser does; verify on every request, since
    REQUESTS_CA_BUNDLE would override a session-level one."""

    def __init__(self, manager):
        super().__init__()
        self.ca = str(manager.ca)
        self.trust_env = False

    def request(self, method, url, **kw):
        kw.setdefault("verify", self.ca)
        kw.setdefault("timeout", 30)
        return super().request(method, url, **kw)


def cookie_login(manager, email, password):
    """A log-in as the console makes it: Basic credentials and X-Cloister-Session: cookie."""
    s = CookieJarClient(manager)
    r = s.post(manager.url + "/v1/sys/auth", auth=(email, password), headers=SESSION)
    return s, r


def set_cookies(resp):
    return [v for k, v in resp.raw.headers.items() if k.lower() == "set-cookie"]


def test_cookie_login_keeps_the_token_from_script(manager):
    email, password = signup(manager)
    s, r = cookie_login(manager, email, password)
    body = expect(r, 200)
    assert "access_token" not in body and body["token_type"] == "Cookie", body
    session, marker = set_cookies(r)
    assert re.match(r"cloister_session=[A-Za-z0-9_-]{43}; ", session), session
    for attribute in ("Path=/v1", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=3600"):
        assert attribute in session.split("; "), session
    assert marker.split("; ")[0] == "cloister_logged_in=1" and "HttpOnly" not in marker
    me = expect(s.get(manager.url + "/v1/user", headers=SESSION, timeout=30), 200)
    assert me["user_email"] == email


def test_a_cookie_without_the_header_is_refused(manager):
    """What a forged cross-site request looks like: the cookie rides along, the header cannot."""
    s, _ = cookie_login(manager, *signup(manager))
    r = s.get(manager.url + "/v1/user", timeout=30)
    expect(r, 403, "FORBIDDEN")
    assert "X-Cloister-Session" in r.json()["message"]
    forged = s.post(manager.url + "/v1/accounts", json={"name": "forged"}, timeout=30)
    expect(forged, 403, "FORBIDDEN")
    assert expect(s.get(manager.url + "/v1/accounts", headers=SESSION, timeout=30),
                  200)["metadata"]["total_count"] == 0


def test_a_bearer_login_sets_no_cookie(manager):
    email, password = signup(manager)
    r = requests.post(manager.url + "/v1/sys/auth", auth=(email, password),
                      verify=str(manager.ca), timeout=30)
    assert expect(r, 200)["access_token"] and not set_cookies(r)


def test_logout_ends_the_session_and_clears_the_cookies(manager):
    s, _ = cookie_login(manager, *signup(manager))
    r = s.post(manager.url + "/v1/sys/logout", headers=SESSION, timeout=30)
    assert r.status_code == 204
    cleared = set_cookies(r)
    assert any(c.startswith("cloister_session=;") and "Max-Age=0" in c for c in cleared)
    assert any(c.startswith("cloister_logged_in=;") and "Max-Age=0" in c for c in cleared)
    assert not s.cookies.get("cloister_session")


def test_a_stale_cookie_is_refused_and_cleared(manager):
    """A session ended elsewhere (or expired): 401, and the browser is told to drop it."""
    s, r = cookie_login(manager, *signup(manager))
    token = s.cookies.get("cloister_session")
    expect(requests.post(manager.url + "/v1/sys/logout", verify=str(manager.ca), timeout=30,
                         headers={"Authorization": f"Bearer {token}"}), 204)
    r = requests.get(manager.url + "/v1/user", verify=str(manager.ca), timeout=30,
                     headers={**SESSION, "Cookie": f"cloister_session={token}"})
    expect(r, 401, "UN_AUTHORIZED")
    assert any(c.startswith("cloister_session=;") for c in set_cookies(r))


def test_a_session_expires_after_token_ttl(manager_factory):
    m = manager_factory({"auth": {"token_ttl": 2}}, name="console-ttl")
    s, _ = cookie_login(m, *signup(m))
    expect(s.get(m.url + "/v1/user", headers=SESSION, timeout=30), 200)
    lib.wait_until(lambda: s.get(m.url + "/v1/user", headers=SESSION, timeout=30).status_code
                   == 401, 10, interval=0.5, what="the session to expire")


@pytest.mark.parametrize("cookie", ["cloister_session=", "cloister_session=" + "x" * 300,
                                    "other=1", "cloister_sessionx=abc"])
def test_malformed_cookies_are_no_session(manager, cookie):
    r = requests.get(manager.url + "/v1/user", verify=str(manager.ca), timeout=30,
                     headers={**SESSION, "Cookie": cookie})
    expect(r, 401, "UN_AUTHORIZED")


# ---- serving from a directory (console development)


def test_a_console_directory_is_served_from_disk(manager_factory, tmp_path):
    d = tmp_path / "console"
    (d / "js").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>dev</title>")
    (d / "js" / "app.js").write_text("// dev\n")
    (d / "notes.md").write_text("not a console file type")
    (d / ".hidden.js").write_text("// hidden")
    (tmp_path / "outside.js").write_text("// outside")
    (d / "js" / "link.js").symlink_to(tmp_path / "outside.js")
    m = manager_factory({"console": {"directory": str(d)}}, name="console-dir")
    r = get(m, "/")
    assert r.text == "<!doctype html><title>dev</title>" and "Content-Security-Policy" in r.headers
    assert get(m, "/js/app.js").headers["Content-Type"] == "text/javascript; charset=utf-8"
    etag = get(m, "/js/app.js").headers["ETag"]
    assert get(m, "/js/app.js", headers={"If-None-Match": etag}).status_code == 304
    (d / "js" / "app.js").write_text("// changed, no rebuild\n")
    assert get(m, "/js/app.js").text == "// changed, no rebuild\n"
    for path in ("/notes.md", "/.hidden.js", "/js/link.js", "/js/../../outside.js", "/js"):
        assert raw_status(m, path) == 404, path
