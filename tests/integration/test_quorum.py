"""Approval quorum (approvals_required = 2): distinct voters, denial, roles, finished tasks."""

import threading

import pytest

import cloister_testlib as lib
from cloister_testlib import REFERENCE_DOMAIN, Team, expect, new_user


@pytest.fixture(scope="module")
def quorum(manager):
    t = Team(manager, settings={"approvals_required": 2})
    acct = expect(t.owner.get(f"/v1/accounts/{t.acct_id}"), 200)
    assert acct["settings"]["approvals_required"] == 2
    t.writer2 = t.add_member("WRITER")
    t.writer2.select(t.acct_id)
    t.app = t.owner.create_app(certificate=False)
    return t


def new_build_task(t):
    b = t.writer.create_build(t.app["app_id"])
    task = t.owner.task(b["pending_task_id"])
    assert task["approvals_required"] == 2
    assert task["status"]["status"] == "INPROGRESS"
    return b, task


def test_same_user_twice_is_conflict(quorum):
    t = quorum
    b, task = new_build_task(t)
    first = expect(t.owner.vote(task["task_id"], "APPROVED"), 200)
    assert first["status"]["status"] == "INPROGRESS"
    assert [v["user_id"] for v in first["approvals"]] == [t.owner.user_id]

    expect(t.owner.vote(task["task_id"], "APPROVED"), 409, "CONFLICT")
    # from another session of the same user, and with the opposite vote
    expect(t.owner.new_session().vote(task["task_id"], "APPROVED"), 409, "CONFLICT")
    expect(t.owner.vote(task["task_id"], "DENIED", reason="changed my mind"), 409, "CONFLICT")

    again = t.owner.task(task["task_id"])
    assert again["status"]["status"] == "INPROGRESS"
    assert len(again["approvals"]) == 1
    assert t.owner.build(b["build_id"])["status"]["status"] == "PENDING"


def test_two_distinct_approvals_succeed(quorum):
    t = quorum
    b, task = new_build_task(t)
    expect(t.writer.vote(task["task_id"], "APPROVED"), 200)
    assert t.owner.build(b["build_id"])["status"]["status"] == "PENDING"
    assert t.owner.build(b["build_id"])["pending_task_id"] == task["task_id"]
    done = expect(t.owner.vote(task["task_id"], "APPROVED"), 200)
    assert done["status"]["status"] == "SUCCESS"
    assert {v["user_id"] for v in done["approvals"]} == {t.writer.user_id, t.owner.user_id}
    assert all(v["status"] == "APPROVED" for v in done["approvals"])
    build = t.owner.build(b["build_id"])
    assert build["status"]["status"] == "WHITELISTED"
    assert build["pending_task_id"] is None
    # finished: nobody can vote any more
    expect(t.writer2.vote(task["task_id"], "APPROVED"), 409, "INVALID_STATE")
    expect(t.writer2.vote(task["task_id"], "DENIED"), 409, "INVALID_STATE")
    expect(t.owner.vote(task["task_id"], "APPROVED"), 409, "INVALID_STATE")
    assert len(t.owner.task(task["task_id"])["approvals"]) == 2


def test_one_denial_denies(quorum):
    t = quorum
    b, task = new_build_task(t)
    expect(t.owner.vote(task["task_id"], "APPROVED"), 200)
    denied = expect(t.writer.vote(task["task_id"], "DENIED", reason="unknown measurement"), 200)
    assert denied["status"]["status"] == "DENIED"
    votes = {v["user_id"]: v for v in denied["approvals"]}
    assert votes[t.writer.user_id]["status"] == "DENIED"
    assert votes[t.writer.user_id]["reason"] == "unknown measurement"
    build = t.owner.build(b["build_id"])
    assert build["status"]["status"] == "REJECTED"
    assert build["pending_task_id"] is None
    expect(t.writer2.vote(task["task_id"], "APPROVED"), 409, "INVALID_STATE")
    assert t.owner.build(b["build_id"])["status"]["status"] == "REJECTED"


def test_first_vote_denial_denies(quorum):
    t = quorum
    b, task = new_build_task(t)
    expect(t.writer2.vote(task["task_id"], "DENIED"), 200)
    assert t.owner.task(task["task_id"])["status"]["status"] == "DENIED"
    assert t.owner.build(b["build_id"])["status"]["status"] == "REJECTED"


def test_reader_cannot_vote(quorum):
    t = quorum
    b, task = new_build_task(t)
    expect(t.reader.vote(task["task_id"], "APPROVED"), 403, "FORBIDDEN")
    expect(t.reader.vote(task["task_id"], "DENIED"), 403, "FORBIDDEN")
    got = t.owner.task(task["task_id"])
    assert got["approvals"] == [] and got["status"]["status"] == "INPROGRESS"
    # the reader's attempts did not count: two real approvals are still needed
    expect(t.writer.vote(task["task_id"], "APPROVED"), 200)
    assert t.owner.task(task["task_id"])["status"]["status"] == "INPROGRESS"
    expect(t.writer2.vote(task["task_id"], "APPROVED"), 200)
    assert t.owner.task(task["task_id"])["status"]["status"] == "SUCCESS"


def test_domain_task_quorum(quorum):
    t = quorum
    app = t.writer.create_app()
    task_id = app["pending_task_id"]
    expect(t.writer.vote(task_id, "APPROVED"), 200)
    assert t.owner.app(app["app_id"])["whitelisted_domains"] == []
    expect(t.writer2.vote(task_id, "APPROVED"), 200)
    got = t.owner.app(app["app_id"])
    assert got["whitelisted_domains"] == [REFERENCE_DOMAIN]
    assert got["pending_task_id"] is None


def test_domain_task_denied(quorum):
    t = quorum
    app = t.writer.create_app()
    expect(t.owner.vote(app["pending_task_id"], "DENIED"), 200)
    got = t.owner.app(app["app_id"])
    assert got["whitelisted_domains"] == []
    assert got["pending_task_id"] is None


def test_quorum_read_at_vote_time(fresh_team):
    t = fresh_team
    expect(t.owner.patch(f"/v1/accounts/{t.acct_id}",
                         json={"settings": {"approvals_required": 2}}), 200)
    app = t.owner.create_app(certificate=False)
    b = t.owner.create_build(app["app_id"])
    expect(t.writer.vote(b["pending_task_id"], "APPROVED"), 200)
    assert t.owner.task(b["pending_task_id"])["status"]["status"] == "INPROGRESS"
    # raise the quorum: a second approval is no longer enough
    expect(t.owner.patch(f"/v1/accounts/{t.acct_id}",
                         json={"settings": {"approvals_required": 3}}), 200)
    expect(t.owner.vote(b["pending_task_id"], "APPROVED"), 200)
    assert t.owner.task(b["pending_task_id"])["status"]["status"] == "INPROGRESS"
    # lower it: the next vote finds enough approvers
    expect(t.owner.patch(f"/v1/accounts/{t.acct_id}",
                         json={"settings": {"approvals_required": 1}}), 200)
    third = t.add_member("WRITER")
    third.select(t.acct_id)
    done = expect(third.vote(b["pending_task_id"], "APPROVED"), 200)
    assert done["status"]["status"] == "SUCCESS"
    assert t.owner.build(b["build_id"])["status"]["status"] == "WHITELISTED"


def test_concurrent_votes_by_one_user(quorum):
    """The same user voting from 4 sessions at once: exactly one vote counts."""
    t = quorum
    b, task = new_build_task(t)
    sessions = [t.writer.new_session() for _ in range(4)]
    results = [None] * len(sessions)
    barrier = threading.Barrier(len(sessions))

    def go(i):
        barrier.wait()
        results[i] = sessions[i].vote(task["task_id"], "APPROVED")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sessions))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409], [lib.describe(r) for r in results]
    for r in results:
        if r.status_code == 409:
            expect(r, 409, "CONFLICT")
    got = t.owner.task(task["task_id"])
    assert len(got["approvals"]) == 1 and got["status"]["status"] == "INPROGRESS"


def test_concurrent_final_votes(quorum):
    """Two distinct approvers and one denier at once on a 2-quorum task: the task ends exactly
    once, in a state consistent with the votes recorded."""
    t = quorum
    b, task = new_build_task(t)
    voters = [(t.owner.new_session(), "APPROVED"), (t.writer.new_session(), "APPROVED"),
              (t.writer2.new_session(), "DENIED")]
    results = [None] * len(voters)
    barrier = threading.Barrier(len(voters))

    def go(i):
        barrier.wait()
        c, vote = voters[i]
        results[i] = c.vote(task["task_id"], vote)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(voters))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for r in results:
        assert r.status_code in (200, 409), lib.describe(r)
        if r.status_code == 409:
            expect(r, 409, "INVALID_STATE")
    got = t.owner.task(task["task_id"])
    accepted = [v for v, r in zip(voters, results) if r.status_code == 200]
    assert len(got["approvals"]) == len(accepted)
    state = got["status"]["status"]
    build = t.owner.build(b["build_id"])["status"]["status"]
    if state == "DENIED":
        assert build == "REJECTED"
        assert any(v["status"] == "DENIED" for v in got["approvals"])
    else:
        assert state == "SUCCESS" and build == "WHITELISTED"
        assert [v["status"] for v in got["approvals"]] == ["APPROVED", "APPROVED"]


def test_outsider_manager_cannot_vote(quorum, manager):
    t = quorum
    b, task = new_build_task(t)
    stranger = new_user(manager, "stranger")
    acct = stranger.create_account()["acct_id"]
    stranger.select(acct)
    expect(stranger.vote(task["task_id"], "APPROVED"), 404, "NOT_FOUND")
    assert t.owner.task(task["task_id"])["approvals"] == []
