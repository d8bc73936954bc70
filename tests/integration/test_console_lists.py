"""The console's lists read one page at a time (issue 7; docs/console.md "Live updates"): a poll
asks for 50 rows whatever the account's size, and a pager turns the pages. Checked on the images
and tasks of an account with more than a page of each."""
import pytest

from cloister_testlib import Team

pytestmark = pytest.mark.browser

COUNT = 53  # a full page of 50 and 3 more


@pytest.fixture(scope="module")
def team(manager):
    t = Team(manager)
    app = t.owner.create_app(name="bulk")
    t.builds = [t.owner.create_build(app["app_id"], mrenclave=f"{n:064x}",
                                  mrsigner="e" * 64)
                for n in range(1, COUNT + 1)]
    return t


def links(page, prefix):
    """The ids the table's links to prefix ("#/builds/") point at."""
    return page.evaluate(f"""[...document.querySelectorAll('main table a[href^="{prefix}"]')]
        .map((a) => decodeURIComponent(a.getAttribute('href').slice({len(prefix)})))""")


def turn_pages(page, prefix, total=COUNT):
    """Pages 1 and 2 of a list of total rows: every row once over both; returns page 2's."""
    page.wait_text(".pager", f"1–50 of {total}")
    first = links(page, prefix)
    assert page.attribute(".pager button:has-text('Previous')", "disabled") is not None
    page.click(".pager button:has-text('Next')")
    page.wait_text(".pager", f"51–{total} of {total}")
    second = links(page, prefix)
    assert page.attribute(".pager button:has-text('Next')", "disabled") is not None
    assert len(first) == 50 and len(second) == total - 50
    assert len(set(first) | set(second)) == total
    return second


def test_images_page_by_page(team, open_page):
    p = open_page(team.m)
    p.log_in(team.owner.email, team.owner.password)
    p.goto("#/builds")
    second = turn_pages(p, "#/builds/")
    assert set(second) <= {b["build_id"] for b in team.builds}
    p.look("lists-images-page-2")
    # The page survives the polling (a poll reads the same page again).
    p.evaluate("new Promise((done) => setTimeout(done, 2500))")
    assert f"51–{COUNT} of {COUNT}" in p.text(".pager")
    p.click(".pager button:has-text('Previous')")
    p.wait_text(".pager", f"1–50 of {COUNT}")


def test_tasks_page_by_page(team, open_page):
    p = open_page(team.m)
    p.log_in(team.owner.email, team.owner.password)
    p.goto("#/tasks")
    # The images' approvals and the app's domain approval.
    pending = team.owner.list_all("/v1/tasks", status="INPROGRESS")
    assert len(pending) > COUNT
    second = turn_pages(p, "#/tasks/", len(pending))
    assert set(second) <= {t["task_id"] for t in pending}
    p.look("lists-tasks-page-2")


def test_a_short_list_has_no_pager(team, open_page):
    p = open_page(team.m)
    p.log_in(team.owner.email, team.owner.password)
    p.goto("#/apps")
    p.wait_text("main table", "bulk")
    assert p.count(".pager") == 0
