"""Accessibility of the web console (issue 7: "accessible (keyboard, labels, contrast)").

Every screen the flow test shows is audited by axe-core as it is screenshotted (`Page.look`);
this module audits the screens the flow does not reach (sign-up, accounts, account settings,
the app edit form, image and registry forms, a task, users, a dialog), shows that the audit does
fail on what it should, and uses the console with the keyboard alone: log-in, account choice,
the skip link, the navigation, and a dialog closed with Escape."""
import pytest

from cloister_testlib import Team

pytestmark = pytest.mark.browser

ZERO = "0" * 63


@pytest.fixture(scope="module")
def team(manager):
    """An account with an application, a registered image waiting for approval and a
    registry, whose owner logs in to the console."""
    t = Team(manager)
    t.app = t.owner.create_app(name="ledger")
    t.build = t.owner.create_build(t.app["app_id"], mrenclave=ZERO + "3", mrsigner=ZERO + "4")
    t.registry = t.owner.create_registry()
    return t


def test_the_audit_fails_on_a_missing_label_and_poor_contrast(manager, open_page):
    p = open_page(manager)
    p.goto("#/login")
    p.wait("h1:has-text('Log in')")
    assert p.accessibility_violations() == []
    # What a careless change could add: an input without a label, grey on white text.
    p.evaluate("""(() => {
        const main = document.getElementById('view');
        main.append(document.createElement('input'));
        const faint = document.createElement('p');
        faint.textContent = 'barely readable';
        faint.style.color = '#ddd';
        main.append(faint);
    })()""")
    found = {v["id"] for v in p.accessibility_violations()}
    assert {"label", "color-contrast"} <= found, found


def test_signup_screen(manager, open_page):
    p = open_page(manager)
    p.goto("#/signup")
    p.wait("h1:has-text('Sign up')")
    p.look("a11y-signup")


# (name, route, what the screen shows once loaded)
SCREENS = [
    ("accounts", "#/accounts", lambda t: "Select"),
    ("account-settings", lambda t: f"#/accounts/{t.acct_id}", lambda t: "allow"),
    ("app-edit", lambda t: f"#/apps/{t.app['app_id']}/edit", lambda t: "ledger"),
    ("app-detail", lambda t: f"#/apps/{t.app['app_id']}", lambda t: "ledger"),
    ("image-form", "#/builds/new", lambda t: "ledger"),
    ("image-registered", lambda t: f"#/builds/{t.build['build_id']}", lambda t: ZERO + "3"),
    ("registry-form", "#/registries/new", lambda t: "URL"),
    ("registry", lambda t: f"#/registries/{t.registry['registry_id']}",
     lambda t: t.registry["url"]),
    ("task", lambda t: f"#/tasks/{t.build['pending_task_id']}", lambda t: "ledger"),
    ("users", "#/users", lambda t: t.reader.email),
]


@pytest.mark.parametrize("name,route,shows", SCREENS, ids=[s[0] for s in SCREENS])
def test_screen_passes_the_audit(team, open_page, name, route, shows):
    p = open_page(team.m)
    p.log_in(team.owner.email, team.owner.password)
    p.goto(route(team) if callable(route) else route)
    p.wait_text("main", shows(team))
    p.look("a11y-" + name)


def test_a_dialog_passes_the_audit_and_closes_with_escape(team, open_page):
    p = open_page(team.m)
    p.log_in(team.owner.email, team.owner.password)
    p.goto("#/tasks")
    p.wait_text("main", "ledger")
    p.click("button:has-text('Deny')")
    p.wait("dialog[open]")
    # The modal dialog takes the focus (its reason field), and is audited as shown.
    assert p.focused()["tag"] == "textarea"
    p.look("a11y-deny-dialog")
    p.key("Escape")
    p.wait("dialog", state="detached")
    # Nothing was denied.
    assert team.owner.task(team.build["pending_task_id"])["status"]["status"] == "INPROGRESS"


def tab_to(page, matches, limit=40):
    """Presses Tab until the focused element satisfies matches; returns it."""
    for _ in range(limit):
        page.key("Tab")
        focused = page.focused()
        if matches(focused):
            return focused
    raise AssertionError(f"Tab never reached the element; last focus: {focused}")


def test_the_keyboard_alone_logs_in_and_moves_around(team, open_page):
    p = open_page(team.m)
    p.goto("#/login")
    p.wait("h1:has-text('Log in')")
    # A new screen puts the focus on its heading (so a screen reader announces it); the next
    # Tab reaches the first field.
    assert p.focused()["tag"] == "h1"
    p.key("Tab")
    assert p.focused()["name"] == "user_email"
    p.type(team.owner.email)
    p.key("Tab")
    assert p.focused()["name"] == "user_password"
    p.type(team.owner.password)
    p.key("Enter")
    p.wait("h1:has-text('Accounts')")
    select = tab_to(p, lambda f: f["tag"] == "button" and f["text"] == "Select")
    # Focus is visible: the console's focus ring, not the browser's default or none.
    assert select["outline"].startswith("solid"), select
    p.key("Enter")
    p.wait("h1:has-text('Dashboard')")
    # The skip link comes first (Shift+Tab from the header's first link), is shown while
    # focused, moves the focus to the screen and leaves the route alone.
    p.evaluate("document.querySelector('header a.brand').focus()")
    p.key("Shift+Tab")
    assert p.focused()["text"] == "Skip to content"
    assert p.count("a.skip:visible") == 1
    p.key("Enter")
    assert p.focused()["id"] == "view"
    assert p.url().endswith("#/dashboard")
    # The navigation: Tab to "Applications", Enter opens it; Enter on the app's link opens it.
    tab_to(p, lambda f: f["tag"] == "a" and f["text"] == "Applications")
    p.key("Enter")
    p.wait("h1:has-text('Applications')")
    p.wait_text("main", "ledger")
    tab_to(p, lambda f: f["tag"] == "a" and f["text"] == "ledger")
    p.key("Enter")
    p.wait("h1:has-text('ledger')")
