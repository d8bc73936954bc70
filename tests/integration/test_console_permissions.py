"""Roles in the web console (issue 7): a READER sees everything but no write action (no
Approve/Deny, no Add, no Enroll), and the API refuses the write anyway when the READER's
browser sends it; a WRITER approves a task and sees it move to Approved."""
import pytest

import cloister_testlib as lib
from cloister_testlib import Team, expect

pytestmark = pytest.mark.browser

PASSWORD = "role-password-1"
ZERO = "0" * 63


def browser_user(team, role):
    """A member of the team's account with role, who can log in with PASSWORD."""
    email = lib.unique_email(role.lower())
    c = lib.Client(team.m)
    expect(c.signup(email, PASSWORD, role.title(), "Member"), 201)
    team.owner.invite(email, role)
    return email


@pytest.fixture(scope="module")
def team(manager):
    t = Team(manager)
    app = t.owner.create_app(name="payments")
    build = t.owner.create_build(app["app_id"], mrenclave=ZERO + "1", mrsigner=ZERO + "2")
    t.app, t.build = app, build
    return t


def test_a_reader_sees_no_write_action_and_the_api_refuses_anyway(team, open_page):
    p = open_page(team.m)
    p.log_in(browser_user(team, "READER"), PASSWORD)
    assert "READER" in p.text("header")
    p.goto("#/tasks")
    p.wait_text("main", "payments")
    p.look("reader-tasks")
    assert p.count("button:has-text('Approve')") == 0
    assert p.count("button:has-text('Deny')") == 0
    for route, action in (("#/apps", "Add application"), ("#/nodes", "Enroll"),
                          ("#/registries", "Add registry"), ("#/users", "Invite")):
        p.goto(route)
        p.wait("main h1")
        p.wait_text("main", "")
        assert p.count(f"main :is(a, button):has-text('{action}')") == 0, route
    p.goto(f"#/builds/{team.build['build_id']}")
    p.wait_text("main", ZERO + "1")
    assert p.count("button:has-text('Delete')") == 0
    # The API refuses the approval the console does not offer.
    p.expect_http_error(403, r"^/v1/tasks/", "PATCH")
    answer = p.evaluate(f"""fetch('/v1/tasks/{team.build['pending_task_id']}', {{
        method: 'PATCH', headers: {{'X-Cloister-Session': 'cookie',
        'Content-Type': 'application/json'}}, body: JSON.stringify({{status: 'APPROVED'}})}})
        .then(async (r) => [r.status, (await r.json()).code])""")
    assert answer == [403, "FORBIDDEN"]
    assert team.owner.task(team.build["pending_task_id"])["status"]["status"] == "INPROGRESS"


def test_a_writer_approves_and_the_task_moves(team, open_page):
    p = open_page(team.m)
    p.log_in(browser_user(team, "WRITER"), PASSWORD)
    p.goto("#/tasks")
    p.wait_text("main", "payments")
    p.click("button:has-text('Approve')", nth=0)
    p.goto("#/tasks?status=SUCCESS")
    p.wait_text("main", "payments")
    task = team.owner.task(team.build["pending_task_id"])
    assert task["status"]["status"] == "SUCCESS", task
