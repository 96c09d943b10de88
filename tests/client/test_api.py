"""Device: login over HTTP (a stdlib fake server on 127.0.0.1), record and status."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import pytest

from client.api import Device
from client.errors import BadEventArgs, LoginFailed, ServerUnreachable, UsageError
from sync.catalog import catalog_to_builtins
from sync.protocol.messages import EventRejection
from tests.client.conftest import CATALOG, T0, Clock, account, entry
from tests.client.test_connection import free_port

READ = {"course": "c1", "lesson": "read"}
LOGIN = {
    "user_id": "u-alice",
    "device_id": "d-1",
    "token": "secret-token",
    "username": "alice",
    "timezone": "Europe/Paris",
    "role": "learner",
    "plan": "premium",
}


class FakeHttp(BaseHTTPRequestHandler):
    """``POST /v1/auth/login`` (password "pw") and ``GET /v1/catalog`` (bearer token)."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path == "/v1/auth/login" and request["password"] == "pw":
            self._answer(201, {**LOGIN, "username": request["username"]})
        else:
            self._answer(401, {"status_code": 401, "detail": "wrong user name or password"})

    def do_GET(self) -> None:
        if self.headers["authorization"] == f"Bearer {LOGIN['token']}":
            self._answer(200, {"version": "v1", "catalog": catalog_to_builtins(CATALOG)})
        else:
            self._answer(401, {"status_code": 401, "detail": "no token"})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeHttp)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


async def test_login_stores_the_account_and_caches_the_catalog(
    tmp_path: Path, http_url: str
) -> None:
    async with Device(tmp_path, clock=Clock(), timezone="") as device:
        account = await device.login(http_url + "/", "alice", "pw", "laptop")
        assert (account.device_id, account.token, account.server_url) == (
            "d-1",
            "secret-token",
            http_url,
        )
        assert account.is_default
        assert (await device.journal.account()).plan == "premium"
        cached = await device.journal.catalog(http_url)
        assert cached is not None and cached[0] == "v1"
        event = await device.record("lesson.opened", READ)
    assert (event.seq, event.at, event.tz) == (1, T0, "Europe/Paris")  # the learner's zone


async def test_a_refused_login_is_login_failed_with_the_servers_detail(
    tmp_path: Path, http_url: str
) -> None:
    async with Device(tmp_path) as device:
        with pytest.raises(LoginFailed, match="'alice' refused: wrong user name or password"):
            await device.login(http_url, "alice", "nope", "laptop")
        assert await device.accounts() == []


async def test_login_to_a_server_that_is_not_there_is_server_unreachable(tmp_path: Path) -> None:
    async with Device(tmp_path) as device:
        with pytest.raises(
            ServerUnreachable,
            match=r"^cannot reach the server at http://127\.0\.0\.1:\d+: connection refused$",
        ):
            await device.login(f"http://127.0.0.1:{free_port()}", "alice", "pw", "laptop")


async def test_status_has_the_documented_shape(tmp_path: Path, http_url: str) -> None:
    clock = Clock()
    async with Device(tmp_path, clock=clock, timezone="UTC") as device:
        await device.login(http_url, "alice", "pw", "laptop")
        await device.record("lesson.completed", READ)
        await device.record("lesson.progressed", {"course": "c1", "lesson": "video", "seconds": 5})
        await device.record("badge.polished", {"badge": "b"})
        await device.journal.mark_acked("d-1", 3, [EventRejection(3, "unknown_type", "no such")])
        await device.journal.apply_feed("u-alice", [entry(1, "lesson.opened")], now_ms=T0)
        status = await device.status()
    assert msgspec.json.decode(msgspec.json.encode(status)) == status  # plain data
    assert {k: status[k] for k in ("user", "pending", "rejected", "synced_at")} == {
        "user": "alice",
        "pending": 0,
        "rejected": [
            {"seq": 3, "type": "badge.polished", "code": "unknown_type", "reason": "no such"}
        ],
        "synced_at": None,
    }
    course = status["courses"][0]
    assert {k: course[k] for k in ("id", "title", "status", "percent")} == {
        "id": "c1",
        "title": "Course One",
        "status": "in_progress",
        "percent": 50,
    }
    [module] = course["modules"]
    assert (module["id"], module["status"], module["percent"]) == ("m1", "in_progress", 50)
    lessons = {x["id"]: x for x in module["lessons"]}
    keys = ("status", "seconds", "position", "watched_percent")
    assert [lessons["read"][k] for k in keys] == ["completed", 0, None, 0.0]
    assert [lessons["video"][k] for k in keys] == ["in_progress", 5, None, 0.0]


async def test_a_device_must_be_opened_before_use(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="async with Device"):
        await Device(tmp_path).record("lesson.opened", READ)


async def test_a_login_answer_without_a_plan_means_the_free_plan(
    tmp_path: Path, http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(LOGIN, "plan")  # an older server
    async with Device(tmp_path) as device:
        assert (await device.login(http_url, "alice", "pw", "laptop")).plan == "free"


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[Device]:
    """Alice logged in with the catalog cached; attempt ids are "att-1"."""
    async with Device(tmp_path, clock=Clock(), timezone="UTC", new_id=lambda: "att-1") as opened:
        alice = await opened.journal.add_account(account("alice"))
        await opened.journal.store_catalog(alice.server_url, CATALOG.version, CATALOG)
        yield opened


async def test_take_quiz_records_start_answers_and_submit_under_one_attempt(
    device: Device,
) -> None:
    taken = await device.take_quiz("c2", "q1", {"one": ["b"]})
    events = await device.journal.pending("d-alice", 0)
    found = await device.attempt("c2", "q1", "att-1")
    status = await device.status()
    assert (taken.attempt, taken.unanswered) == ("att-1", ["two"])
    ref = {"course": "c2", "quiz": "q1", "attempt": "att-1"}
    assert [(e.seq, e.type, e.body) for e in events] == [
        (1, "quiz.started", ref),
        (2, "quiz.answered", {**ref, "question": "one", "choices": ["b"]}),
        (3, "quiz.submitted", ref),
    ]
    assert found is not None and (found[0].status, found[1].status) == ("submitted", "submitted")
    assert status["pending"] == 3


@pytest.mark.parametrize(
    ("course", "quiz", "answers", "message"),
    [
        ("c9", "q1", {"one": ["a"]}, "no course 'c9' in the catalog"),
        ("c2", "zz", {"one": ["a"]}, "no quiz 'zz' in course 'c2'"),
        ("c2", "q1", {"three": ["a"]}, "quiz 'q1' has no question 'three' (one, two)"),
        ("c2", "q1", {"one": ["a"], "two": ["x", "w"]}, "question 'two': no choice 'w' (x, y, z)"),
        ("c2", "q1", {"one": []}, "question 'one': no choice given (a, b)"),
    ],
)
async def test_take_quiz_refuses_what_the_quiz_does_not_have_and_writes_nothing(
    device: Device, course: str, quiz: str, answers: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(BadEventArgs) as caught:
        await device.take_quiz(course, quiz, answers)
    assert str(caught.value) == message
    assert await device.journal.pending("d-alice", 0) == []


async def test_take_quiz_needs_a_catalog(tmp_path: Path) -> None:
    async with Device(tmp_path) as device:
        await device.journal.add_account(account("alice"))
        with pytest.raises(BadEventArgs, match="no catalog on this device yet"):
            await device.take_quiz("c2", "q1", {"one": ["a"]})


STATUS_KEYS = {"user", "pending", "rejected", "synced_at", "courses", "paths", "competencies"}
STATUS_KEYS |= {"summary"}


async def test_status_has_courses_quizzes_assignments_paths_competencies_and_summary(
    device: Device,
) -> None:
    await device.take_quiz("c2", "q1", {"one": ["a"], "two": ["x", "z"]})
    await device.record("assignment.saved", {"course": "c2", "assignment": "essay"})
    status = await device.status()
    assert set(status) >= STATUS_KEYS
    module = status["courses"][1]["modules"][0]
    [quiz] = module["quizzes"]
    assert {"id", "status", "passed", "best_score", "attempts"} <= set(quiz)
    assert (quiz["id"], quiz["status"], quiz["passed"], quiz["best_score"]) == (
        "q1",
        "submitted",
        False,
        None,
    )
    [attempt] = quiz["attempts"]
    assert {k: attempt[k] for k in ("id", "number", "score", "passed", "counted", "reason")} == {
        "id": "att-1",
        "number": None,
        "score": None,
        "passed": None,
        "counted": None,
        "reason": None,
    }
    [assignment] = module["assignments"]
    assert {k: assignment[k] for k in ("id", "status", "score")} == {
        "id": "essay",
        "status": "draft",
        "score": None,
    }
    [path] = status["paths"]
    assert {k: path[k] for k in ("id", "status", "percent")} == {
        "id": "p1",
        "status": "not_enrolled",
        "percent": 0,
    }
    assert [{k: m[k] for k in ("id", "status")} for m in path["milestones"]] == [
        {"id": "first", "status": "locked"},
        {"id": "second", "status": "locked"},
    ]
    [skill] = status["competencies"]
    assert {k: skill[k] for k in ("id", "level", "status")} == {
        "id": "reading",
        "level": 0,
        "status": "not_started",
    }
    assert status["summary"]["total_quizzes"] == 1 and status["summary"]["completed_quizzes"] == 0
