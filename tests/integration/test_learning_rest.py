"""The learning REST API (the learning modules of ``server/api/``) against a real server
process: enrollments, milestones, assessments, assignments, competencies and course progress.

Each test signs in its own learners, so tests do not depend on each other. Every response
goes through :func:`call`, which checks that no quiz answer is in it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.storage.store import Store
from sync.protocol.messages import Feed
from tests.conftest import RunningServer, init_db, launch_server, waymark
from tests.integration.wire import http, login, open_session, recv

CATALOG = Path(__file__).parent.parent / "fixtures" / "learning_rest.yaml"
LEARNERS = (
    "ann", "tom", "fay", "mia", "quinn", "fred", "sam", "cora", "leo", "bea", "wes", "kim",
)  # fmt: skip
STAFF = (("ivy", "instructor"), ("ada", "admin"))
RIGHT = {"x": ["b"], "y": ["c", "e"]}  # the answers of c1/q1 in the catalog file


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = init_db(f"sqlite:///{tmp_path_factory.mktemp('learning') / 'server.db'}")

    async def add_users() -> None:
        store = Store.for_url(db)
        await store.open()
        try:
            for name in LEARNERS:
                await store.create_user(name, "pw")
            for name, role in STAFF:
                await store.create_user(name, "pw", role=role)
        finally:
            await store.close()

    asyncio.run(add_users())
    result = waymark(
        "admin", "--db", db, "user", "add", "pat", "--password", "pw", "--plan", "premium"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("user pat (learner, UTC, premium) id ")
    running = launch_server(db, catalog=CATALOG)
    yield running
    assert running.stop() == 0


def find_answer_keys(value: Any, where: str = "$") -> list[str]:
    """Places in a JSON value that hold a quiz answer (a non-null ``answer``)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "answer" and item is not None:
                found.append(f"{where}.{key}")
            found += find_answer_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += find_answer_keys(item, f"{where}[{index}]")
    return found


def call(
    server: RunningServer, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, Any]:
    status, data = http(method, f"{server.url}{path}", body, token)
    assert not find_answer_keys(data), (path, data)
    return status, data


def ok(server: RunningServer, method: str, path: str, token: str, body: Any = None) -> Any:
    status, data = call(server, method, path, token, body)
    assert status in (200, 201), (method, path, status, data)
    return data


def problem(
    server: RunningServer,
    method: str,
    path: str,
    token: str | None,
    body: Any = None,
    *,
    status: int,
    detail: str = "",
) -> dict[str, Any]:
    """Call, and check the answer is an RFC 9457 problem of ``status`` naming ``detail``."""
    got, data = call(server, method, path, token, body)
    assert got == status, (method, path, got, data)
    assert data["status"] == status and data["title"], data
    assert detail in data["detail"], data
    return data  # type: ignore[no-any-return]


def raw(server: RunningServer, method: str, path: str, token: str, data: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def token(server: RunningServer, name: str) -> str:
    return str(login(server.url, name)["token"])


# -- enrollments ---------------------------------------------------------------------------


def test_enroll_is_accepted_and_a_duplicate_or_one_over_the_free_limit_is_refused(
    server: RunningServer,
) -> None:
    ann = token(server, "ann")
    assert ok(server, "GET", "/v1/me/enrollments", ann) == {"enrollments": []}
    check = ok(server, "GET", "/v1/me/enrollments/track/check", ann)
    assert check == {"path": "track", "eligible": True, "status": "not_enrolled", "reason": ""}

    status, path = call(server, "POST", "/v1/me/enrollments/track", ann)
    assert status == 201 and path["status"] == "enrolled" and path["percent"] == 0
    assert [m["status"] for m in path["milestones"]] == ["available", "locked"]

    problem(
        server,
        "POST",
        "/v1/me/enrollments/track",
        ann,
        status=409,
        detail="already enrolled in 'track' (enrolled)",
    )
    ok(server, "POST", "/v1/me/enrollments/p2", ann)
    check = ok(server, "GET", "/v1/me/enrollments/p3/check", ann)
    assert not check["eligible"] and "enrollment limit reached" in check["reason"]
    problem(
        server,
        "POST",
        "/v1/me/enrollments/p3",
        ann,
        status=409,
        detail="enrollment limit reached: free learners may have 2 active enrollment(s)",
    )
    check = ok(server, "GET", "/v1/me/enrollments/track/check", ann)
    assert check["eligible"] is False and check["status"] == "enrolled"
    assert "already enrolled" in check["reason"]

    listed = ok(server, "GET", "/v1/me/enrollments", ann)["enrollments"]
    assert [p["id"] for p in listed] == ["track", "p2"]
    assert len(ok(server, "GET", "/v1/me/enrollments?status=enrolled", ann)["enrollments"]) == 2
    assert ok(server, "GET", "/v1/me/enrollments?status=paused", ann)["enrollments"] == []
    problem(server, "GET", "/v1/me/enrollments?status=bogus", ann, status=400)

    detail = ok(server, "GET", "/v1/me/enrollments/track", ann)
    assert detail["history"] == [
        {"from": None, "to": "enrolled", "at": detail["enrolled_at"], "reason": "enroll"}
    ]
    problem(
        server, "GET", "/v1/me/enrollments/p3", ann, status=404, detail="not enrolled in path 'p3'"
    )


def test_premium_learners_have_no_enrollment_limit(server: RunningServer) -> None:
    pat = token(server, "pat")
    for path in ("track", "p2", "p3"):
        assert call(server, "POST", f"/v1/me/enrollments/{path}", pat)[0] == 201
    assert ok(server, "GET", "/v1/me/statistics", pat)["active_enrollments"] == 3


def test_the_plan_command_moves_a_learner_to_premium(server: RunningServer) -> None:
    fay = token(server, "fay")
    ok(server, "POST", "/v1/me/enrollments/track", fay)
    ok(server, "POST", "/v1/me/enrollments/p2", fay)
    problem(server, "POST", "/v1/me/enrollments/p3", fay, status=409, detail="limit")

    result = waymark("admin", "--db", server.db, "user", "plan", "fay", "premium")
    assert result.returncode == 0 and result.stdout == "user fay is on the premium plan\n"
    assert call(server, "POST", "/v1/me/enrollments/p3", fay)[0] == 201

    missing = waymark("admin", "--db", server.db, "user", "plan", "nobody", "premium")
    assert missing.returncode == 1 and missing.stderr == "Error: no user 'nobody'\n"
    assert waymark("admin", "--db", server.db, "user", "plan", "fay", "gold").returncode == 2


def test_status_changes_follow_the_allowed_transitions(server: RunningServer) -> None:
    tom = token(server, "tom")
    problem(
        server,
        "PUT",
        "/v1/me/enrollments/track/status",
        tom,
        {"status": "paused"},
        status=409,
        detail="not enrolled in this path",
    )
    ok(server, "POST", "/v1/me/enrollments/track", tom)
    paused = ok(server, "PUT", "/v1/me/enrollments/track/status", tom, {"status": "paused"})
    assert paused["status"] == "paused"
    problem(
        server,
        "PUT",
        "/v1/me/enrollments/track/status",
        tom,
        {"status": "paused"},
        status=409,
        detail="the enrollment is already paused",
    )
    # Resuming a path nothing was started in goes back to "enrolled".
    resumed = ok(server, "PUT", "/v1/me/enrollments/track/status", tom, {"status": "in_progress"})
    assert resumed["status"] == "enrolled"
    ok(server, "POST", "/v1/me/paths/track/milestones/first/start", tom)
    assert ok(server, "GET", "/v1/me/enrollments/track", tom)["status"] == "in_progress"
    problem(
        server,
        "PUT",
        "/v1/me/enrollments/track/status",
        tom,
        {"status": "completed"},
        status=400,
    )
    problem(server, "PUT", "/v1/me/enrollments/track/status", tom, {"status": 5}, status=400)

    status, dropped = call(server, "DELETE", "/v1/me/enrollments/track", tom)
    assert status == 200 and dropped["status"] == "dropped"
    problem(
        server,
        "DELETE",
        "/v1/me/enrollments/track",
        tom,
        status=409,
        detail="the enrollment is already dropped",
    )
    history = ok(server, "GET", "/v1/me/enrollments/track/history", tom)
    assert history["status"] == "dropped"
    assert [(h["from"], h["to"]) for h in history["history"]] == [
        (None, "enrolled"),
        ("enrolled", "paused"),
        ("paused", "enrolled"),
        ("enrolled", "in_progress"),
        ("in_progress", "dropped"),
    ]
    # A dropped enrollment may start again.
    assert call(server, "POST", "/v1/me/enrollments/track", tom)[1]["status"] == "enrolled"


@pytest.mark.parametrize(
    ("current", "new", "valid", "reason"),
    [
        ("enrolled", "in_progress", True, ""),
        ("none", "enrolled", True, ""),
        ("not_enrolled", "enrolled", True, ""),
        ("paused", "paused", False, "the enrollment is already paused"),
        ("completed", "paused", False, "an enrollment cannot go from completed to paused"),
        ("dropped", "in_progress", False, "an enrollment cannot go from dropped to in_progress"),
    ],
)
def test_validate_transition_answers_with_the_reason(
    server: RunningServer, current: str, new: str, valid: bool, reason: str
) -> None:
    kim = token(server, "kim")
    answer = ok(server, "GET", f"/v1/enrollments/validate-transition/{current}/{new}", kim)
    assert answer == {"current": current, "new": new, "valid": valid, "reason": reason}


def test_validate_transition_refuses_an_unknown_status(server: RunningServer) -> None:
    kim = token(server, "kim")
    refused = problem(
        server,
        "GET",
        "/v1/enrollments/validate-transition/enrolled/finished",
        kim,
        status=400,
    )
    assert [(i["key"], i["source"]) for i in refused["extra"]] == [("new", "path")], refused
    assert "'finished'" in refused["extra"][0]["message"], refused


def test_bulk_status_is_for_admins_and_answers_each_update(server: RunningServer) -> None:
    body = {
        "updates": [
            {"user": "bea", "path": "track", "status": "enrolled"},
            {"user": "bea", "path": "track", "status": "paused"},
            {"user": "bea", "path": "track", "status": "paused"},
            {"user": "ghost", "path": "track", "status": "paused"},
            {"user": "bea", "path": "nowhere", "status": "paused"},
        ]
    }
    for name in ("kim", "ivy"):
        problem(
            server,
            "POST",
            "/v1/enrollments/bulk-status",
            token(server, name),
            body,
            status=403,
            detail="only admins",
        )
    ada = token(server, "ada")
    status, answer = call(server, "POST", "/v1/enrollments/bulk-status", ada, body)
    assert status == 200 and (answer["succeeded"], answer["failed"]) == (2, 3)
    assert [(r["index"], r["ok"], r["status"], r["reason"]) for r in answer["results"]] == [
        (0, True, "enrolled", ""),
        (1, True, "paused", ""),
        (2, False, None, "the enrollment is already paused"),
        (3, False, None, "no user 'ghost'"),
        (4, False, None, "no path 'nowhere' in the catalog"),
    ]
    bea = token(server, "bea")
    assert ok(server, "GET", "/v1/me/enrollments/track", bea)["status"] == "paused"
    problem(server, "POST", "/v1/enrollments/bulk-status", ada, {"updates": []}, status=400)
    problem(
        server,
        "POST",
        "/v1/enrollments/bulk-status",
        ada,
        {"updates": [{"user": "bea", "path": "track", "status": "completed"}]},
        status=400,
    )


# -- milestones, path progress and analytics ---------------------------------------------------


def test_milestones_unlock_in_order_and_a_locked_one_is_refused(server: RunningServer) -> None:
    mia = token(server, "mia")
    overview = ok(server, "GET", "/v1/me/paths/track", mia)
    assert overview["status"] == "not_enrolled"
    assert [m["status"] for m in overview["milestones"]] == ["locked", "locked"]
    problem(
        server,
        "POST",
        "/v1/me/paths/track/milestones/first/start",
        mia,
        status=409,
        detail="not actively enrolled in path 'track'",
    )
    ok(server, "POST", "/v1/me/enrollments/track", mia)
    second = ok(server, "GET", "/v1/me/paths/track/milestones/second", mia)
    assert second["milestone"]["status"] == "locked" and second["next_milestone"] is None
    problem(
        server,
        "POST",
        "/v1/me/paths/track/milestones/second/start",
        mia,
        status=409,
        detail="milestone 'second' is locked: complete 'first' first",
    )

    started = ok(server, "POST", "/v1/me/paths/track/milestones/first/start", mia)
    assert started["milestone"]["status"] == "in_progress"
    assert (started["path_status"], started["next_milestone"]) == ("in_progress", "second")
    done = ok(server, "POST", "/v1/me/paths/track/milestones/first/complete", mia)
    assert done["milestone"]["status"] == "completed" and done["path_percent"] == 50
    problem(
        server,
        "POST",
        "/v1/me/paths/track/milestones/first/complete",
        mia,
        status=409,
        detail="milestone 'first' is already completed",
    )
    second = ok(server, "GET", "/v1/me/paths/track/milestones/second", mia)
    assert second["milestone"]["status"] == "available"
    assert (second["content_status"], second["content_percent"]) == ("not_started", 0)

    progress = ok(server, "GET", "/v1/me/enrollments/track/progress", mia)
    assert progress == {
        "path": "track",
        "status": "in_progress",
        "percent": 50,
        "milestones_total": 2,
        "milestones_completed": 1,
        "milestones_in_progress": 0,
        "milestones_available": 1,
        "milestones_locked": 0,
        "current_milestone": "second",
    }
    analytics = ok(server, "GET", "/v1/me/paths/track/analytics", mia)
    assert (analytics["percent"], analytics["milestones_completed"]) == (50, 1)
    assert analytics["lessons_total"] == 3 and analytics["quizzes_total"] == 2
    assert analytics["assignments_total"] == 1 and analytics["time_spent"] == 0
    assert analytics["enrolled_at"] <= analytics["started_at"]
    assert analytics["completed_at"] is None and analytics["duration_ms"] is None
    assert [m["id"] for m in analytics["milestones"]] == ["first", "second"]

    problem(
        server,
        "PUT",
        "/v1/me/paths/track/milestones/second/reset",
        mia,
        status=409,
        detail="milestone 'second' has nothing to reset",
    )
    reset = ok(server, "PUT", "/v1/me/paths/track/milestones/first/reset", mia)
    assert reset["milestone"]["status"] == "available" and reset["path_percent"] == 0
    history = ok(server, "GET", "/v1/me/enrollments/track/history", mia)["history"]
    assert [h["to"] for h in history] == ["enrolled", "in_progress"]  # a reset keeps history


def test_milestone_time_spent_counts_the_milestones_lessons(server: RunningServer) -> None:
    kim = token(server, "kim")
    ok(server, "POST", "/v1/me/enrollments/track", kim)
    ok(server, "POST", "/v1/me/lessons/c1/video/progress", kim, {"seconds": 30})
    ok(server, "POST", "/v1/me/lessons/c1/wrap/progress", kim, {"seconds": 12})
    analytics = ok(server, "GET", "/v1/me/paths/track/analytics", kim)
    assert analytics["time_spent"] == 42
    assert [m["time_spent"] for m in analytics["milestones"]] == [30, 12]


# -- assessments ---------------------------------------------------------------------------


def test_quiz_detail_shows_questions_and_rules_but_no_answers(server: RunningServer) -> None:
    kim = token(server, "kim")
    quiz = ok(server, "GET", "/v1/courses/c1/quizzes/q1", kim)
    assert (quiz["course"], quiz["module"], quiz["title"]) == ("c1", "m1", "Check")
    assert (quiz["passing_score"], quiz["max_attempts"], quiz["cooldown_seconds"]) == (
        0.5,
        2,
        3600,
    )
    assert quiz["attempts_allowed"] == 2 and quiz["grading"] == "highest"
    assert quiz["total_points"] == 3
    assert quiz["questions"][1] == {
        "id": "y",
        "text": "Pick C and E",
        "points": 2,
        "choices": [{"id": "c", "text": "C"}, {"id": "d", "text": "D"}, {"id": "e", "text": "E"}],
    }
    assert all(set(q) == {"id", "text", "points", "choices"} for q in quiz["questions"])
    problem(server, "GET", "/v1/courses/c1/quizzes/nope", kim, status=404, detail="no quiz 'nope'")
    problem(server, "GET", "/v1/courses/cx/quizzes/q1", kim, status=404, detail="no course 'cx'")


def test_quiz_attempts_are_numbered_scored_and_limited_by_the_server(
    server: RunningServer,
) -> None:
    quinn = token(server, "quinn")
    attempts = "/v1/me/quizzes/c1/q1/attempts"
    status, first = call(server, "POST", attempts, quinn)
    assert status == 201 and first["status"] == "in_progress" and first["attempts_left"] == 2
    second = ok(server, "POST", attempts, quinn)
    assert first["attempt"] != second["attempt"]
    submit = f"{attempts}/{first['attempt']}/submit"

    # Bad answers are refused before anything is recorded.
    problem(
        server,
        "POST",
        submit,
        quinn,
        {"answers": {"nope": ["a"]}},
        status=409,
        detail="no question 'nope' in quiz 'q1'",
    )
    problem(
        server,
        "POST",
        submit,
        quinn,
        {"answers": {"x": ["zz"]}},
        status=409,
        detail="question 'x' has no choice 'zz'",
    )
    problem(server, "POST", submit, quinn, {"answers": {"x": []}}, status=400)
    problem(server, "POST", submit, quinn, {"answers": 5}, status=400)
    problem(
        server,
        "POST",
        f"{attempts}/nope/submit",
        quinn,
        {"answers": RIGHT},
        status=404,
        detail="no attempt 'nope' at quiz 'q1'",
    )

    scored = ok(server, "POST", submit, quinn, {"answers": RIGHT})
    assert scored == {
        "course": "c1",
        "quiz": "q1",
        "attempt": first["attempt"],
        "number": 1,
        "score": 1.0,
        "passed": True,
        "counted": True,
        "reason": "",
        "correct_count": 2,
        "questions": 2,
        "quiz_passed": True,
        "attempts_left": 1,
    }
    problem(
        server,
        "POST",
        submit,
        quinn,
        {"answers": RIGHT},
        status=409,
        detail="was already submitted",
    )
    # The second attempt was started before the first was scored; it lands in the
    # cool-down, so the server scores it but does not count it.
    late = ok(server, "POST", f"{attempts}/{second['attempt']}/submit", quinn, {"answers": {}})
    assert (late["number"], late["score"], late["passed"], late["counted"]) == (
        2,
        0.0,
        False,
        False,
    )
    assert late["reason"].startswith("cool-down: ")
    problem(server, "POST", attempts, quinn, status=409, detail="cool-down: the next attempt")

    listed = ok(server, "GET", attempts, quinn)
    assert [(a["number"], a["status"], a["counted"]) for a in listed["attempts"]] == [
        (1, "scored", True),
        (2, "scored", False),
    ]
    assert listed["attempts_left"] == 1 and listed["cooldown_until"] > first["started_at"]
    results = ok(server, "GET", "/v1/me/quizzes/c1/q1/results", quinn)
    assert (results["status"], results["passed"], results["best_score"]) == ("passed", True, 1.0)
    touched = ok(server, "GET", "/v1/me/assessments", quinn)["assessments"]
    assert [(a["course"], a["module"], a["quiz"]["id"]) for a in touched] == [("c1", "m1", "q1")]


def test_free_learners_get_max_attempts_free_and_premium_learners_do_not(
    server: RunningServer,
) -> None:
    fred, pat = token(server, "fred"), token(server, "pat")
    attempts = "/v1/me/quizzes/c1/q2/attempts"
    assert ok(server, "GET", "/v1/courses/c1/quizzes/q2", fred)["attempts_allowed"] == 1
    assert ok(server, "GET", "/v1/courses/c1/quizzes/q2", pat)["attempts_allowed"] is None

    one, two = ok(server, "POST", attempts, fred), ok(server, "POST", attempts, fred)
    wrong = {"answers": {"z": ["f"]}}
    assert ok(server, "POST", f"{attempts}/{one['attempt']}/submit", fred, wrong)["counted"]
    over = ok(
        server, "POST", f"{attempts}/{two['attempt']}/submit", fred, {"answers": {"z": ["g"]}}
    )
    assert (over["score"], over["counted"], over["quiz_passed"]) == (1.0, False, False)
    assert over["reason"] == "attempt limit reached: 1 counted attempt(s) allowed for free learners"
    problem(
        server,
        "POST",
        attempts,
        fred,
        status=409,
        detail="attempt limit reached: 1 counted attempt(s) allowed for free learners",
    )
    assert ok(server, "GET", "/v1/me/quizzes/c1/q2/results", fred)["status"] == "failed"

    for answers, passed in (({"z": ["f"]}, False), ({"z": ["g"]}, True)):
        attempt = ok(server, "POST", attempts, pat)["attempt"]
        scored = ok(server, "POST", f"{attempts}/{attempt}/submit", pat, {"answers": answers})
        assert scored["counted"] and scored["passed"] is passed


# -- assignments and competencies --------------------------------------------------------


def test_assignment_draft_submit_and_grade_by_an_instructor(server: RunningServer) -> None:
    sam, ivy = token(server, "sam"), token(server, "ivy")
    essay = "/v1/me/assignments/c1/essay"
    (listed,) = ok(server, "GET", "/v1/me/assignments", sam)["assignments"]
    assert (listed["id"], listed["status"], listed["module"]) == ("essay", "not_started", "m2")

    draft = ok(server, "PUT", f"{essay}/draft", sam, {"text": "first thoughts"})
    assert (draft["status"], draft["draft_text"]) == ("draft", "first thoughts")
    problem(server, "POST", f"{essay}/submit", sam, {}, status=400, detail="needs a text or a url")
    problem(server, "POST", f"{essay}/submit", sam, {"text": 5}, status=400)
    grade = "/v1/users/sam/assignments/c1/essay/grade"
    problem(
        server,
        "POST",
        grade,
        ivy,
        {"score": 80},
        status=400,
        detail="nothing was submitted for this assignment",
    )

    status, sent = call(server, "POST", f"{essay}/submit", sam, {"text": "final", "url": "u"})
    assert status == 201 and (sent["status"], sent["submissions"]) == ("submitted", 1)
    assert (sent["submitted_text"], sent["submitted_url"]) == ("final", "u")

    problem(server, "POST", grade, sam, {"score": 100}, status=403, detail="only instructors")
    problem(
        server,
        "POST",
        grade,
        ivy,
        {"score": 500},
        status=409,
        detail="score must be between 0 and 100",
    )
    problem(server, "POST", grade, ivy, {"score": "high"}, status=400)
    status, graded = call(server, "POST", grade, ivy, {"score": 80, "feedback": "clear"})
    assert status == 201 and graded["user"] == "sam"
    assert graded["decisions"][0] == "assignment.graded"
    mine = graded["assignment"]
    assert (mine["status"], mine["score"], mine["passed"]) == ("graded", 80.0, True)
    assert (mine["feedback"], mine["graded_by"]) == ("clear", "ivy")

    graded_list = ok(server, "GET", "/v1/me/assignments?status=graded", sam)["assignments"]
    assert [a["id"] for a in graded_list] == ["essay"]
    assert ok(server, "GET", "/v1/me/assignments?status=draft", sam)["assignments"] == []
    problem(server, "GET", "/v1/me/assignments?status=lost", sam, status=400)

    problem(
        server,
        "POST",
        f"{essay}/submit",
        sam,
        {"text": "again"},
        status=409,
        detail="already graded as passed",
    )
    (kept,) = ok(server, "GET", "/v1/me/assignments", sam)["assignments"]
    assert (kept["submissions"], kept["score"], kept["passed"]) == (2, 80.0, True)
    assert kept["refused"].startswith("already graded as passed")


def test_a_grade_completes_a_competency_with_its_other_evidence(server: RunningServer) -> None:
    cora, ivy, kim = token(server, "cora"), token(server, "ivy"), token(server, "kim")
    (definition,) = ok(server, "GET", "/v1/competencies", cora)["competencies"]
    assert definition == {
        "id": "writing",
        "name": "Technical writing",
        "category": "communication",
        "level": "beginner",
        "description": "Reads a text closely and writes a clear report.",
        "mastery": 100,
        "evidence": ["lesson:c1/read", "assignment:c1/essay"],
    }
    ok(server, "POST", "/v1/me/lessons/c1/read/complete", cora)
    (half,) = ok(server, "GET", "/v1/me/competencies", cora)["competencies"]
    assert (half["level"], half["status"]) == (50, "in_progress")

    ok(server, "POST", "/v1/me/assignments/c1/essay/submit", cora, {"url": "https://x.test/e"})
    graded = ok(server, "POST", "/v1/users/cora/assignments/c1/essay/grade", ivy, {"score": 90})
    assert "competency.acquired" in graded["decisions"]
    (mastered,) = ok(server, "GET", "/v1/me/competencies", cora)["competencies"]
    assert (mastered["level"], mastered["status"]) == (100, "mastered")
    assert mastered["acquired_at"] is not None

    seen = ok(server, "GET", "/v1/users/cora/competencies", ivy)
    assert seen["user"] == "cora" and seen["competencies"] == [mastered]
    assert ok(server, "GET", "/v1/users/cora/competencies", cora)["user"] == "cora"
    problem(server, "GET", "/v1/users/cora/competencies", kim, status=403)
    problem(server, "GET", "/v1/users/ghost/competencies", ivy, status=404, detail="no user")
    summary = ok(server, "GET", "/v1/me/statistics", cora)
    assert summary["mastered_competencies"] == 1 and summary["completed_assignments"] == 1


def test_the_grade_command_prints_the_grade_and_one_line_errors(server: RunningServer) -> None:
    kim = token(server, "kim")
    ok(server, "POST", "/v1/me/assignments/c1/essay/submit", kim, {"text": "mine"})

    def grade(*args: str) -> tuple[int, str, str]:
        result = waymark("admin", "--db", server.db, "grade", *args)
        return result.returncode, result.stdout, result.stderr

    assert grade("kim", "c1", "essay", "55", "--feedback", "more detail", "--by", "ivy") == (
        0,
        "graded kim c1/essay: 55/100 not passed (by ivy)\n",
        "",
    )
    (essay,) = ok(server, "GET", "/v1/me/assignments", kim)["assignments"]
    assert (essay["score"], essay["passed"], essay["feedback"]) == (55.0, False, "more detail")
    assert essay["graded_by"] == "ivy"

    for args, error in (
        (("ghost", "c1", "essay", "50"), "Error: no user 'ghost'\n"),
        (("kim", "c1", "nope", "50"), "Error: no assignment 'nope' in course 'c1'\n"),
        (("kim", "cx", "essay", "50"), "Error: no assignment 'essay' in the catalog\n"),
        (("kim", "c1", "essay", "101"), "Error: score must be between 0 and 100\n"),
        (("leo", "c1", "essay", "50"), "Error: nothing was submitted for this assignment\n"),
    ):
        assert grade(*args) == (1, "", error)


# -- lessons and course progress -----------------------------------------------------------


def test_lesson_actions_change_the_course_progress(server: RunningServer) -> None:
    leo = token(server, "leo")
    lesson = "/v1/me/lessons/c1"
    opened = ok(server, "POST", f"{lesson}/read/open", leo)
    assert (opened["course"], opened["module"]) == ("c1", "m1")
    assert opened["lesson"]["status"] == "in_progress" and opened["course_status"] == "in_progress"
    done = ok(server, "POST", f"{lesson}/read/complete", leo)
    assert done["lesson"]["status"] == "completed" and done["module_status"] == "in_progress"

    watched = ok(
        server,
        "POST",
        f"{lesson}/video/progress",
        leo,
        {"seconds": 60, "position": 95, "from": 0, "to": 95},
    )
    assert watched["lesson"]["status"] == "completed" and watched["lesson"]["seconds"] == 60
    assert (watched["module_status"], watched["module_percent"]) == ("completed", 100)
    # Malformed (the schema says so) is 400; what this lesson cannot have is refused, 409.
    for body, status, detail in (
        ({"from": 50, "to": 40}, 409, "empty or reversed"),
        ({"position": 500}, 409, "past the lesson's duration 100"),
        ({"from": 10}, 400, "needs both from and to"),
        ({}, 400, "nothing to record"),
        ({"position": None}, 400, "Validation failed"),
    ):
        problem(server, "POST", f"{lesson}/video/progress", leo, body, status=status, detail=detail)
    problem(server, "POST", f"{lesson}/video/progress", leo, {"seconds": -1}, status=400)

    undone = ok(server, "POST", f"{lesson}/read/uncomplete", leo)
    assert undone["lesson"]["status"] == "in_progress" and undone["module_status"] == "in_progress"
    ok(server, "POST", f"{lesson}/read/complete", leo)

    course = ok(server, "GET", "/v1/me/courses/c1/progress", leo)
    assert course["id"] == "c1" and course["modules"][0]["status"] == "completed"
    bulk = ok(server, "GET", "/v1/me/progress/courses?ids=c1,nope,c2,c1", leo)
    assert [c["id"] for c in bulk["courses"]] == ["c1", "c2"] and bulk["not_found"] == ["nope"]
    assert bulk["courses"][0] == course
    problem(server, "GET", "/v1/me/progress/courses?ids=,", leo, status=400, detail="ids")
    problem(server, "GET", "/v1/me/progress/courses", leo, status=400)

    reset = ok(server, "POST", "/v1/me/courses/c1/reset", leo)
    lessons = {x["id"]: x for x in reset["modules"][0]["lessons"]}
    assert lessons["read"]["status"] == "in_progress" and lessons["video"]["seconds"] == 60
    assert reset["status"] == "in_progress"

    summary = ok(server, "GET", "/v1/me/summary", leo)
    assert summary["summary"]["time_spent"] == 60 and summary["paths"] == []
    assert [(c["id"], c["status"]) for c in summary["courses"]] == [
        ("c1", "in_progress"),
        ("c2", "not_started"),
    ]


def test_progress_includes_paths_competencies_and_summary(server: RunningServer) -> None:
    wes, ivy = token(server, "wes"), token(server, "ivy")
    mine = ok(server, "GET", "/v1/me/progress", wes)
    assert {"user_id", "user", "feed_head", "courses", "paths", "competencies", "summary"} <= set(
        mine
    )
    assert [p["id"] for p in mine["paths"]] == ["track", "p2", "p3"]
    assert [c["id"] for c in mine["competencies"]] == ["writing"]
    theirs = ok(server, "GET", "/v1/users/wes/progress", ivy)
    assert theirs["user"] == "wes" and theirs["summary"] == mine["summary"]


async def test_a_rest_action_pokes_the_learners_devices(server: RunningServer) -> None:
    wes = login(server.url, "wes", device="phone")
    rest = token(server, "wes")
    ws, _ = await open_session(server.ws_url, wes["token"])
    try:
        status, _ = await asyncio.to_thread(
            http, "POST", f"{server.url}/v1/me/enrollments/p2", None, rest
        )
        assert status == 201
        while True:  # the catalog and any backlog come first
            msg = await recv(ws)
            if isinstance(msg, Feed) and any(
                e.type == "enrollment.changed" and e.body["path"] == "p2" for e in msg.entries
            ):
                break
    finally:
        await ws.close()


# -- errors everywhere ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("POST", "/v1/me/enrollments/nowhere", "no path 'nowhere' in the catalog"),
        ("GET", "/v1/me/enrollments/nowhere", "no path 'nowhere'"),
        ("DELETE", "/v1/me/enrollments/nowhere", "no path 'nowhere'"),
        ("GET", "/v1/me/enrollments/nowhere/check", "no path 'nowhere'"),
        ("GET", "/v1/me/enrollments/nowhere/history", "no path 'nowhere'"),
        ("GET", "/v1/me/enrollments/nowhere/progress", "no path 'nowhere'"),
        ("GET", "/v1/me/paths/nowhere", "no path 'nowhere'"),
        ("GET", "/v1/me/paths/nowhere/analytics", "no path 'nowhere'"),
        ("GET", "/v1/me/paths/track/milestones/nope", "no milestone 'nope' in path 'track'"),
        ("POST", "/v1/me/paths/track/milestones/nope/start", "no milestone 'nope'"),
        ("POST", "/v1/me/paths/nowhere/milestones/first/complete", "no path 'nowhere'"),
        ("PUT", "/v1/me/paths/track/milestones/nope/reset", "no milestone 'nope'"),
        ("POST", "/v1/me/quizzes/c1/nope/attempts", "no quiz 'nope' in course 'c1'"),
        ("GET", "/v1/me/quizzes/cx/q1/attempts", "no course 'cx' in the catalog"),
        ("GET", "/v1/me/quizzes/c1/nope/results", "no quiz 'nope'"),
        ("PUT", "/v1/me/assignments/c1/nope/draft", "no assignment 'nope' in course 'c1'"),
        ("POST", "/v1/me/assignments/cx/essay/submit", "no course 'cx'"),
        ("GET", "/v1/me/courses/cx/progress", "no course 'cx'"),
        ("POST", "/v1/me/courses/cx/reset", "no course 'cx'"),
        ("POST", "/v1/me/lessons/c1/nope/open", "no lesson 'nope' in course 'c1'"),
        ("POST", "/v1/me/lessons/cx/read/complete", "no course 'cx'"),
        ("POST", "/v1/me/lessons/c1/nope/uncomplete", "no lesson 'nope'"),
    ],
)
def test_unknown_ids_are_404_problems(
    server: RunningServer, method: str, path: str, detail: str
) -> None:
    body = {"text": "t"} if "assignments" in path else None
    problem(server, method, path, token(server, "kim"), body, status=404, detail=detail)


def test_unknown_ids_in_staff_endpoints_are_404_problems(server: RunningServer) -> None:
    ivy = token(server, "ivy")
    grade = {"score": 1}
    for path, detail in (
        ("/v1/users/ghost/assignments/c1/essay/grade", "no user 'ghost'"),
        ("/v1/users/kim/assignments/c1/nope/grade", "no assignment 'nope' in course 'c1'"),
    ):
        problem(server, "POST", path, ivy, grade, status=404, detail=detail)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/me/enrollments/track/status"),
        ("POST", "/v1/enrollments/bulk-status"),
        ("POST", "/v1/me/quizzes/c1/q1/attempts/a/submit"),
        ("PUT", "/v1/me/assignments/c1/essay/draft"),
        ("POST", "/v1/me/assignments/c1/essay/submit"),
        ("POST", "/v1/users/kim/assignments/c1/essay/grade"),
        ("POST", "/v1/me/lessons/c1/video/progress"),
    ],
)
def test_malformed_bodies_are_400_problems(server: RunningServer, method: str, path: str) -> None:
    ada = token(server, "ada")
    status, body = raw(server, method, path, ada, b"{not json")
    assert status == 400 and body["status"] == 400 and body["detail"], body
    status, body = raw(server, method, path, ada, b"[1, 2]")
    assert status == 400 and body["status"] == 400, body


def test_every_learning_endpoint_needs_a_token(server: RunningServer) -> None:
    problem(server, "GET", "/v1/me/enrollments", None, status=401, detail="Authorization")
    problem(server, "GET", "/v1/competencies", None, status=401)


def test_the_openapi_schema_documents_the_learning_endpoints(server: RunningServer) -> None:
    status, schema = http("GET", f"{server.url}/schema/openapi.json")
    assert status == 200
    paths = schema["paths"]
    for path in (
        "/v1/me/enrollments/{path_id}",
        "/v1/me/enrollments/{path_id}/check",
        "/v1/enrollments/bulk-status",
        "/v1/me/paths/{path_id}/milestones/{milestone_id}/start",
        "/v1/courses/{course}/quizzes/{quiz}",
        "/v1/me/quizzes/{course}/{quiz}/attempts/{attempt}/submit",
        "/v1/users/{name}/assignments/{course}/{assignment}/grade",
        "/v1/me/progress/courses",
        "/v1/me/lessons/{course}/{lesson}/progress",
    ):
        assert path in paths, path
    enroll = paths["/v1/me/enrollments/{path_id}"]["post"]
    assert "409 when refused" in enroll["description"]
    assert {"201", "400", "404", "409"} <= set(enroll["responses"])
    refused = enroll["responses"]["409"]["content"]["application/problem+json"]["schema"]
    assert refused["$ref"].endswith("/ProblemDetails")
    grade = paths["/v1/users/{name}/assignments/{course}/{assignment}/grade"]["post"]
    assert {"403", "404"} <= set(grade["responses"])
