"""Request bytes that are not UTF-8 (query values, paths, field names, the log-in e-mail).

- Error messages that echo request bytes (a query value, the path) or cut a long field name in the
  middle of a UTF-8 character were not valid UTF-8: the {code, message} body was silently dropped
  (an empty 400/404).
- A log-in whose e-mail (from the Basic header, never checked as UTF-8) is not valid UTF-8 failed
  with a 500 ("Cannot allocate memory" in the log) instead of the usual 401.
"""

import base64
import socket
import ssl

import pytest

from cloister_testlib import expect, new_user, unique_email


@pytest.fixture(scope="module")
def member(manager):
    u = new_user(manager, "review")
    acct = u.create_account()
    u.select(acct["acct_id"])
    return u


def raw_request(manager, request_line, headers=()):
    """Sends one request with the exact bytes of its request line; returns (status, body)."""
    ctx = ssl.create_default_context(cafile=str(manager.ca))
    with socket.create_connection(("127.0.0.1", manager.port), timeout=30) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            head = request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            for h in headers:
                head += h + b"\r\n"
            tls.sendall(head + b"\r\n")
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# ------------------------------------------------------------------------------------------
# error bodies stay {code, message} whatever bytes the request held


def test_query_value_not_utf8_still_gets_error_body(member):
    # %FF decodes to a lone 0xff byte, which the message quotes back
    body = expect(member.get("/v1/apps?sort_by=%FF"), 400, "BAD_REQUEST", field="sort_by")
    assert "\ufffd" in body["message"] or "?" in body["message"]


def test_events_sort_not_utf8_still_gets_error_body(member):
    expect(member.get("/v1/events?sort_by=na%C3"), 400, "BAD_REQUEST", field="sort_by")


def test_long_unknown_field_cut_inside_a_character_still_gets_error_body(member):
    # 100 three-byte characters: the message's 200-byte cap falls inside one of them
    key = "\u20ac" * 100
    body = expect(member.post("/v1/apps", json={key: 1}), 400, "INVALID_BODY_PARAMETER")
    assert "unknown field" in body["message"]


def test_path_not_utf8_still_gets_error_body(manager):
    status, body = raw_request(manager, b"GET /v1/\xff\xfe HTTP/1.1")
    assert status == 404
    assert body, "the 404 has no body"
    import json
    doc = json.loads(body)
    assert doc["code"] == "NOT_FOUND"


# ------------------------------------------------------------------------------------------
# log-in with an e-mail that is not UTF-8


def basic(raw_email, password=b"some-password"):
    return "Basic " + base64.b64encode(raw_email + b":" + password).decode()


def test_login_email_not_utf8_is_401_not_500(manager, anon):
    r = anon.post("/v1/sys/auth", headers={"Authorization": basic(b"\xff\xfe@example.com")},
                  token=None)
    expect(r, 401, "UN_AUTHORIZED")


def test_login_email_not_utf8_leaves_system_chain_readable(manager):
    admin = manager.admin_client()
    acct = admin.create_account()
    admin.select(acct["acct_id"])
    anon = admin.without_token()
    for raw in (b"\xc3@example.com", b"a\xed\xa0\x80@example.com", b"\xf4\x90\x80\x80@x.io"):
        r = anon.post("/v1/sys/auth", headers={"Authorization": basic(raw)}, token=None)
        assert r.status_code == 401, r.text
    expect(admin.get("/v1/events", params={"chain": "system", "limit": 50}), 200)
    events = admin.export_json(chain="system")
    assert events
    report = admin.verify(chain="system")
    assert report["valid"], report


def test_login_valid_utf8_email_is_still_counted(manager, anon):
    """A well-formed but unknown e-mail (non-ASCII) is an ordinary failed log-in: 401."""
    email = "\u00e9" + unique_email("r")
    r = anon.post("/v1/sys/auth", headers={"Authorization": basic(email.encode())}, token=None)
    expect(r, 401, "UN_AUTHORIZED")
