"""Debian's Chromium, driven by playwright-core through tests/browser/bridge.mjs, for the web
console's browser tests (test_console_*.py, marked `browser`).

Every page is watched for console errors and warnings, uncaught exceptions, failed requests,
requests to other origins (aborted by the bridge) and HTTP error answers. A test declares the
error answers it provokes on purpose (`page.expect_http_error(400, "/v1/apps")`); anything else
fails it (`Browser.check_page`, run when the `console_page` fixture ends).

Screenshots go to the artifacts directory: $CLOISTER_ARTIFACTS_DIR, else
<repo>/test-artifacts/browser. `Page.look` also audits the screen with axe-core (Deque's
accessibility engine, pinned in tests/browser) and fails on any WCAG 2.1 A/AA violation.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parents[2]
BRIDGE = REPO / "tests" / "browser" / "bridge.mjs"
NODE_MODULES = REPO / "tests" / "browser" / "node_modules"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("CLOISTER_ARTIFACTS_DIR", REPO / "test-artifacts" / "browser"))
COMMAND_TIMEOUT = 60
DEFAULT_WAIT_MS = 20000
# Chromium's console line for an HTTP error answer of a fetch.
FAILED_RESOURCE = re.compile(r"Failed to load resource: the server responded with a status of "
                             r"(\d+)")


class BrowserError(AssertionError):
    pass


def missing():
    """What the browser tests need and this machine lacks, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} (apt-get install chromium; scripts/install-deps does)"
    for package in ("playwright-core", "axe-core"):
        if not (NODE_MODULES / package).exists():
            return f"{NODE_MODULES / package} (npm ci in tests/browser; scripts/install-deps does)"
    return None


def spki_pin(cert_path):
    """base64(SHA-256(SubjectPublicKeyInfo)) of the manager's TLS certificate: the one key
    Chromium is told to trust (--ignore-certificate-errors-spki-list)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class Browser:
    """One Chromium (one bridge process) for the manager at origin."""

    def __init__(self, origin, cert_path, log_path):
        self.origin = origin
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(["node", str(BRIDGE)], cwd=BRIDGE.parent,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, bufsize=1)
        self._next = 0
        self._issues = []
        self.version = self.send("launch", origin=origin, spki=spki_pin(cert_path),
                                 artifactsDir=str(ARTIFACTS))["version"]

    def send(self, op, **args):
        self._next += 1
        self.proc.stdin.write(json.dumps({"id": self._next, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser bridge exited (rc {self.proc.poll()}); see "
                               f"{self._log.name}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise BrowserError(f"{op} {args}: {answer['error']}")
        return answer["result"]

    def new_page(self):
        return Page(self, self.send("newPage")["page"])

    def issues_of(self, page_id):
        """Every issue the bridge saw on page page_id so far (kept across calls)."""
        self._issues.extend(self.send("issues"))
        return [i for i in self._issues if i["page"] == page_id]

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Page:
    """One browser context (its own cookies) with one page. Actions and reads act on the first
    element a selector matches."""

    def __init__(self, browser, page_id):
        self.browser = browser
        self.id = page_id
        self.expected = []      # [(status, method or None, path regex)]
        self.issues = []

    # -- driving

    def call(self, method, *args, selector=None, nth=None):
        return self.browser.send("call", page=self.id, selector=selector, nth=nth,
                                 method=method, args=list(args))

    def goto(self, route):
        """Opens the console at a hash route ("#/apps"), or the console's root."""
        self.call("goto", self.browser.origin + "/" + route, {"waitUntil": "load"})

    def click(self, selector, nth=0):
        self.call("click", {"timeout": DEFAULT_WAIT_MS}, selector=selector, nth=nth)

    def fill(self, selector, value):
        self.call("fill", value, {"timeout": DEFAULT_WAIT_MS}, selector=selector, nth=0)

    def select(self, selector, value):
        self.call("selectOption", value, {"timeout": DEFAULT_WAIT_MS}, selector=selector, nth=0)

    def check(self, selector, checked=True):
        self.call("setChecked", checked, {"timeout": DEFAULT_WAIT_MS}, selector=selector, nth=0)

    def press(self, key, selector=":focus"):
        """Presses key (Tab, Enter, ...) on the focused element."""
        self.call("press", key, {"timeout": DEFAULT_WAIT_MS}, selector=selector)

    def key(self, key):
        """Presses key on the keyboard, wherever the focus is (even nowhere, as on load)."""
        self.browser.send("keyboard", page=self.id, method="press", args=[key])

    def type(self, text):
        """Types text into whatever has the focus."""
        self.browser.send("keyboard", page=self.id, method="type", args=[text])

    def focused(self):
        """What has the keyboard focus: {tag, id, name, text, label, outline}, where outline
        is the focus indicator's computed outline style."""
        return self.evaluate("""(() => {
            const e = document.activeElement;
            const style = getComputedStyle(e);
            return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name'),
                    text: (e.innerText || '').trim(), label: e.getAttribute('aria-label'),
                    outline: style.outlineStyle + ' ' + style.outlineWidth};
        })()""")

    def wait(self, selector, state="visible", timeout_ms=DEFAULT_WAIT_MS):
        self.call("waitFor", {"state": state, "timeout": timeout_ms}, selector=selector, nth=0)

    def count(self, selector):
        return self.call("count", selector=selector)

    def text(self, selector, nth=0):
        return self.call("innerText", {"timeout": DEFAULT_WAIT_MS}, selector=selector, nth=nth)

    def texts(self, selector):
        return self.call("allInnerTexts", selector=selector)

    def value(self, selector):
        return self.call("inputValue", {"timeout": DEFAULT_WAIT_MS}, selector=selector, nth=0)

    def attribute(self, selector, name):
        return self.call("getAttribute", name, {"timeout": DEFAULT_WAIT_MS}, selector=selector,
                         nth=0)

    def evaluate(self, expression):
        return self.call("evaluate", expression)

    def url(self):
        return self.evaluate("location.href")

    def log_in(self, email, password):
        """Logs in on the log-in screen and selects the user's first account."""
        self.goto("#/login")
        self.fill("[name='user_email']", email)
        self.fill("[name='user_password']", password)
        self.click("button:has-text('Log in')")
        self.wait("h1:has-text('Accounts')")
        self.click("button:has-text('Select')", nth=0)
        self.wait("h1:has-text('Dashboard')")

    def wait_text(self, selector, *needles, timeout=DEFAULT_WAIT_MS / 1000):
        """Waits until the first element matching selector shows every needle; returns its
        text. Live screens update by polling, so this is how a test sees a change arrive."""
        deadline = time.monotonic() + timeout
        text = None
        while True:
            try:
                text = self.text(selector)
                if all(n in text for n in needles):
                    return text
            except BrowserError:
                pass
            if time.monotonic() > deadline:
                raise BrowserError(f"{selector} never showed {needles}; last text: {text!r}")
            time.sleep(0.25)

    def screenshot(self, name):
        return Path(self.browser.send("screenshot", page=self.id, name=name)["path"])

    def accessibility_violations(self):
        """What axe-core (WCAG 2.1 A/AA and best practices) finds wrong with the screen now."""
        return self.browser.send("audit", page=self.id)

    def look(self, name):
        """What a reviewer does with each main screen: a screenshot for people to look at, and
        an accessibility audit that fails the test on any violation (missing labels or names,
        contrast, keyboard traps, landmarks...)."""
        path = self.screenshot(name)
        violations = self.accessibility_violations()
        if violations:
            lines = [f"{v['id']} ({v['impact']}): {v['help']}; " +
                     "; ".join(n["target"] for n in v["nodes"][:5]) for v in violations]
            raise BrowserError(f"screen {name} ({path}) fails the accessibility audit:\n  " +
                               "\n  ".join(lines))
        return path

    def download(self, selector, name=None):
        result = self.browser.send("download", page=self.id, selector=selector, name=name)
        return Path(result["path"]), result["suggested"]

    # -- what must not happen

    def expect_http_error(self, status, path_regex, method=None):
        """Declares an HTTP error answer this test provokes (bad input, a READER's refused
        call, an expired session): it is not counted as a failed request."""
        self.expected.append((status, method, re.compile(path_regex)))

    def unexpected(self):
        """The issues of this page no expectation covers. A console line for an HTTP error
        answer is covered when an expected answer had that status."""
        issues = self.browser.issues_of(self.id)
        allowed_statuses = {i["status"] for i in issues
                            if i["kind"] == "http-error" and self._expected(i)}
        bad = []
        for issue in issues:
            if issue["kind"] == "http-error":
                if not self._expected(issue):
                    bad.append(issue)
                continue
            m = FAILED_RESOURCE.search(issue.get("text", ""))
            if issue["kind"] == "console-error" and m and int(m.group(1)) in allowed_statuses:
                continue
            bad.append(issue)
        return bad

    def _expected(self, issue):
        path = re.sub(r"^https?://[^/]+", "", issue["url"])
        return any(status == issue["status"] and (method is None or method == issue["method"])
                   and regex.search(path) for status, method, regex in self.expected)

    def close(self):
        self.browser.send("closePage", page=self.id)
