"""Bad input in the web console's forms (issue 7): each error is shown next to the field that
caused it — the console's own checks (required fields, a memory size that does not parse) and
the API's (it names the field's JSON path) — and nothing is created until the input is right."""
import pytest

import cloister_testlib as lib
from cloister_testlib import expect, unique_email

pytestmark = pytest.mark.browser

PASSWORD = "forms-password-1"
CERT = "advanced_settings.certificate"


def field_error(page, name):
    """The error text shown under the control named name."""
    control_id = page.attribute(f"[name='{name}']", "id")
    return page.text(f"#{control_id}-error")


def wait_field_error(page, name, needle=""):
    """Waits until the control named name shows an error (containing needle) and is marked
    invalid; returns the error's text."""
    lib.wait_until(lambda: field_error(page, name).strip() and
                   needle in field_error(page, name), 20, interval=0.2,
                   what=f"an error next to {name}")
    assert page.attribute(f"[name='{name}']", "aria-invalid") == "true"
    return field_error(page, name)


@pytest.fixture(scope="module")
def owner(manager):
    email = unique_email("forms")
    c = lib.Client(manager)
    expect(c.signup(email, PASSWORD, "Fay", "Forms"), 201)
    expect(c.login(email, PASSWORD), 200)
    acct = c.create_account("Forms team")
    c.select(acct["acct_id"])
    c.email = email
    return c


@pytest.fixture
def page(manager, owner, open_page):
    p = open_page(manager)
    p.goto("#/login")
    p.fill("[name='user_email']", owner.email)
    p.fill("[name='user_password']", PASSWORD)
    p.click("button:has-text('Log in')")
    p.wait("h1:has-text('Accounts')")
    p.click("button:has-text('Select')")
    p.wait("h1:has-text('Dashboard')")
    return p


def fill_app(p, name, **overrides):
    values = {"name": name, "input_image_name": "registry.example/in/app:1",
              "output_image_name": "registry.example/out/app", "isvprodid": "1",
              "isvsvn": "1", "mem_size": "1G", "threads": "128",
              f"{CERT}.subject": f"{name}.domain.dom"}
    values.update(overrides)
    for key, value in values.items():
        p.fill(f"[name='{key}']", value)


def test_app_form_errors_are_next_to_their_fields(page, owner):
    p = page
    p.goto("#/apps/new")
    p.wait("[name='name']")
    # The console's own checks: nothing reaches the API.
    p.click("form button[type=submit]")
    wait_field_error(p, "name", "required")
    fill_app(p, "billing", mem_size="lots")
    p.click("form button[type=submit]")
    wait_field_error(p, "mem_size", "")
    assert field_error(p, "mem_size").strip() != ""
    # The API's checks, named by the field's JSON path.
    p.expect_http_error(400, r"^/v1/apps$", "POST")
    fill_app(p, "billing", **{f"{CERT}.key_path": "appkey.pem"})
    p.click("form button[type=submit]")
    wait_field_error(p, f"{CERT}.key_path", "absolute")
    p.look("forms-app-bad-key-path")
    fill_app(p, "billing", output_image_name="has space/out")
    p.fill(f"[name='{CERT}.key_path']", "/appkey.pem")
    p.click("form button[type=submit]")
    wait_field_error(p, "output_image_name", "")
    assert owner.count("/v1/apps") == 0
    # Right input: created, and the console shows it.
    p.fill("[name='output_image_name']", "registry.example/out/app")
    p.click("form button[type=submit]")
    p.wait("h1:has-text('billing')")
    assert owner.count("/v1/apps") == 1


def test_a_duplicate_name_is_shown_next_to_the_name(page, owner):
    owner.create_app(name="taken")
    p = page
    p.expect_http_error(409, r"^/v1/apps$", "POST")
    p.goto("#/apps/new")
    p.wait("[name='name']")
    fill_app(p, "taken")
    p.click("form button[type=submit]")
    wait_field_error(p, "name", "")
    assert "taken" in field_error(p, "name") or "exists" in field_error(p, "name")


def test_registry_and_signup_errors(manager, page, open_page):
    p = page
    p.expect_http_error(400, r"^/v1/registry$", "POST")
    p.goto("#/registries/new")
    p.wait("[name='url']")
    p.fill("[name='url']", "not a url")
    p.click("form button[type=submit]")
    wait_field_error(p, "url", "")
    # Sign-up: a short password, named by the API.
    anon = open_page(manager)
    anon.expect_http_error(400, r"^/v1/users$", "POST")
    anon.goto("#/signup")
    anon.fill("[name='user_email']", unique_email("short"))
    anon.fill("[name='first_name']", "Sho")
    anon.fill("[name='last_name']", "Rt")
    anon.fill("[name='user_password']", "short")
    anon.click("button:has-text('Sign up')")
    wait_field_error(anon, "user_password", "")
    anon.look("forms-signup-short-password")
