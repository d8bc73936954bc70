"""The web console's session in a browser (issue 7): log-in and log-out, a reload keeps the
session and the selected account (HttpOnly cookie), an expired session returns to the log-in
screen saying so, and a wrong password is shown on the form (docs/console.md, "Session")."""
import pytest

import cloister_testlib as lib
from cloister_testlib import expect, unique_email

pytestmark = pytest.mark.browser

PASSWORD = "session-password-1"


def user_with_account(manager, account="Session team"):
    email = unique_email("session")
    c = lib.Client(manager)
    expect(c.signup(email, PASSWORD, "Sam", "Session"), 201)
    expect(c.login(email, PASSWORD), 200)
    c.create_account(account)
    return email


def log_in(page, email, password=PASSWORD):
    page.goto("#/login")
    page.fill("[name='user_email']", email)
    page.fill("[name='user_password']", password)
    page.click("button:has-text('Log in')")


def select_first_account(page):
    page.wait("h1:has-text('Accounts')")
    page.click("button:has-text('Select')", nth=0)
    page.wait("h1:has-text('Dashboard')")


def test_login_reload_and_logout(manager, open_page):
    email = user_with_account(manager)
    p = open_page(manager)
    log_in(p, email)
    select_first_account(p)
    p.wait_text("header", email)
    # A reload keeps the session (cookie) and the selected account (kept by the manager).
    p.goto("#/apps")
    p.wait("h1:has-text('Applications')")
    assert "Session team" in p.text("#account-switcher")
    p.click("button:has-text('Log out')")
    p.wait("h1:has-text('Log in')")
    p.wait_text("main", "You have logged out")
    # The session is gone: any screen leads to the log-in screen.
    p.goto("#/apps")
    p.wait("h1:has-text('Log in')")
    assert p.count("#nav a") == 0


def test_wrong_password_is_shown_on_the_form(manager, open_page):
    email = user_with_account(manager)
    p = open_page(manager)
    p.expect_http_error(401, r"^/v1/sys/auth$", "POST")
    log_in(p, email, "not-the-password")
    p.wait_text("form .form-error", "invalid e-mail or password")
    assert p.count("h1:has-text('Log in')") == 1
    p.look("session-wrong-password")


def test_expired_session_returns_to_login(manager_factory, open_page):
    m = manager_factory({"auth": {"token_ttl": 4}}, name="console-expiry")
    email = user_with_account(m)
    p = open_page(m)
    # What the expiry provokes: the next call of the console is refused.
    p.expect_http_error(401, r"^/v1/")
    log_in(p, email)
    select_first_account(p)
    # The dashboard's next poll after the expiry meets the 401.
    p.wait("h1:has-text('Log in')", timeout_ms=15000)
    p.wait_text("main", "Your session has expired")
    p.look("session-expired")
    # Logging in again works (a new session: the account is selected again).
    log_in(p, email)
    select_first_account(p)
