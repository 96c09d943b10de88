"""Time you can trust, on a real server (``docs/protocol.md``, "Time"): a device whose clock
says 2030 loses no work but earns nothing early, a streak never moves past the server's
today, and a cool-down cannot be shortened from the device (issue 11, acceptance 3).

The server runs on its own wall clock (a real ``waymark serve``); the devices here lie
about theirs by hours and years, so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from client.api import Device
from sync.events import Event
from sync.hlc import format_hlc
from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Feed, FeedEntry, Pull, Push
from tests.conftest import RunningServer, init_db, launch_server, waymark
from tests.integration.wire import http, login, open_session, until

Y2030 = 1_893_456_000_000  # 2030-01-01T00:00:00Z
COOLDOWN_MS = 600_000

CATALOG = """
courses:
  - id: c1
    title: Course One
    modules:
      - id: m1
        lessons:
          - {id: read, title: Reading, completion: manual}
          - {id: more, title: More, completion: manual}
        quizzes:
          - id: q1
            cooldown_seconds: 600
            passing_score: 1.0
            questions:
              - {id: x1, choices: [{id: a}, {id: b}], answer: a}
"""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose allowed skew is an hour (WAYMARK_CLOCK_SKEW_SECONDS), so a device
    can date an attempt past a 10-minute cool-down and still be taken at its word about
    the time: only the receipt rule stands in its way. 2030 is far beyond it."""
    folder = tmp_path_factory.mktemp("clock")
    db = init_db(f"sqlite:///{folder / 'server.db'}")
    (folder / "catalog.yaml").write_text(CATALOG)
    for name in ("ann", "bob", "cat", "dan", "eve"):
        result = waymark("admin", "--db", db, "user", "add", name, "--password", "pw")
        assert result.returncode == 0, result.stderr
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WAYMARK_CLOCK_SKEW_SECONDS", "3600")
        running = launch_server(db, catalog=folder / "catalog.yaml")
    yield running
    assert running.stop() == 0
    assert "Traceback" not in "".join(running.output)


class Learner:
    """One learner's device on a raw WebSocket: it stamps events with whatever time it is
    told (its clock may lie), pushes them and reads its feed."""

    def __init__(self, server: RunningServer, name: str) -> None:
        self.server = server
        self.account = login(server.url, name)
        self.token = str(self.account["token"])
        self.seq = 0
        self.ws: ClientConnection | None = None

    async def __aenter__(self) -> Learner:
        self.ws, _ = await open_session(self.server.ws_url, self.token)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.ws is not None
        await self.ws.close()

    def event(self, type_: str, at: int, **body: Any) -> Event:
        self.seq += 1
        return Event(self.seq, format_hlc(at, self.seq), at, type_, {"course": "c1", **body}, "")

    async def push(self, *events: Event) -> Ack:
        assert self.ws is not None
        await self.ws.send(
            encode(Push(events[0].seq, self.account["device_id"], list(events)), binary=True)
        )
        ack: Ack = await until(self.ws, Ack)
        return ack

    async def feed(self) -> list[FeedEntry]:
        assert self.ws is not None
        await self.ws.send(encode(Pull(self.account["user_id"], 0), binary=True))
        while True:
            page: Feed = await until(self.ws, Feed)
            if not page.more and page.entries and page.entries[0].user_seq == 1:
                return page.entries

    async def attempt(self, attempt: str, at: int) -> Ack:
        ref = {"quiz": "q1", "attempt": attempt}
        return await self.push(
            self.event("quiz.answered", at, **ref, question="x1", choices=["a"]),
            self.event("quiz.submitted", at, **ref),
        )

    def get(self, path: str) -> Any:
        status, body = http("GET", f"{self.server.url}{path}", token=self.token)
        assert status == 200, body
        return body


def scored(entries: list[FeedEntry], attempt: str) -> dict[str, Any]:
    (body,) = [e.body for e in entries if e.type == "quiz.scored" and e.body["attempt"] == attempt]
    return body


def day(at: int) -> str:
    """The UTC day of ``at`` (the learners here have the default zone, UTC)."""
    return datetime.fromtimestamp(at / 1000, UTC).date().isoformat()


async def test_an_event_dated_2030_is_kept_at_its_receipt_and_the_device_is_told(
    server: RunningServer,
) -> None:
    async with Learner(server, "ann") as ann:
        before = wall_ms()
        ack = await ann.push(ann.event("lesson.completed", Y2030, lesson="read"))
        after = wall_ms()
        assert (ack.accepted, ack.rejected) == (1, [])  # the learner's work is not lost
        entries = await ann.feed()
    fact = next(e for e in entries if e.origin == "device")
    assert before <= fact.at <= after  # taken at the server's receipt, not 2030
    (note,) = [e.body for e in entries if e.type == "event.clamped"]
    assert (note["seq"], note["sent_at"], note["type"]) == (1, Y2030, "lesson.completed")
    assert note["reason"].startswith("at is 2030-01-01T00:00:00Z, ")
    assert (
        "years after the server's clock; allowed skew 3600 s: taken as received at "
        in (note["reason"])
    )
    progress = ann.get("/v1/me/achievements")
    assert progress["streak"]["last_active_day"] in {day(before), day(after)}
    weeks = {e["week"] for e in progress["ledger"]}
    assert all(not w.startswith("2030") and not w.startswith("2029") for w in weeks), weeks


async def test_a_streak_cannot_move_past_the_servers_today(server: RunningServer) -> None:
    """Within the allowed skew (an hour here) an event keeps its time, but its day and its
    points are credited no later than the server received it."""
    async with Learner(server, "cat") as cat:
        soon = wall_ms() + 50 * 60_000  # 50 minutes ahead: within the skew
        before = wall_ms()
        ack = await cat.push(cat.event("lesson.completed", soon, lesson="more"))
        after = wall_ms()
        assert (ack.accepted, ack.rejected) == (1, [])
        entries = await cat.feed()
    fact = next(e for e in entries if e.origin == "device")
    assert fact.at == soon  # the fact as sent...
    progress = cat.get("/v1/me/achievements")
    received_days = {day(before), day(after)}
    assert progress["streak"]["last_active_day"] in received_days
    days = {e["ref"] for e in progress["ledger"] if e["rule"] == "streak-day"}
    assert len(days) == 1 and days <= received_days
    assert progress["ledger"] and all(before <= e["at"] <= after for e in progress["ledger"])


async def test_a_cooldown_cannot_be_shortened_from_the_device(server: RunningServer) -> None:
    async with Learner(server, "bob") as bob:
        first = wall_ms()
        assert (await bob.attempt("a1", first)).rejected == []
        # A clock running ahead dates the retry past the cool-down (within the skew, so
        # the time is taken as sent): the server received it inside the cool-down.
        assert (await bob.attempt("a2", first + COOLDOWN_MS + 1000)).rejected == []
        entries = await bob.feed()
    one, two = scored(entries, "a1"), scored(entries, "a2")
    assert (one["counted"], two["counted"], two["number"]) == (True, False, 2)
    assert two["reason"].startswith("cool-down: reached the server ")
    assert two["reason"].endswith(" s before attempt 1's 600 s cool-down ended")
    # Over REST the same rule: the next attempt cannot start until the cool-down ended by
    # the server's receipt of attempt 1.
    listed = bob.get("/v1/me/quizzes/c1/q1/attempts")
    assert listed["cooldown_until"] == one["received"] + COOLDOWN_MS
    status, body = http("POST", f"{server.url}/v1/me/quizzes/c1/q1/attempts", {}, token=bob.token)
    assert status == 409 and body["detail"].startswith("cool-down: the next attempt can start in")


async def test_an_earlier_attempt_dated_back_cannot_end_the_cooldown_early(
    server: RunningServer,
) -> None:
    async with Learner(server, "dan") as dan:
        now = wall_ms()
        await dan.attempt("b1", now - 2 * COOLDOWN_MS)  # "I did this twenty minutes ago"
        await dan.attempt("b2", now)
        entries = await dan.feed()
    one, two = scored(entries, "b1"), scored(entries, "b2")
    assert (one["counted"], one["at"]) == (True, now - 2 * COOLDOWN_MS)
    assert two["counted"] is False
    assert two["reason"].startswith("cool-down: reached the server ")


async def test_a_device_whose_clock_says_2030_keeps_its_work_and_shows_the_servers_time(
    server: RunningServer, tmp_path: Path
) -> None:
    """The real device library: what it recorded at "2030" is kept, and after a sync its
    own view shows the time the server credits (it folds the feed's entry, not its own)."""
    ticks = iter(range(Y2030, Y2030 + 10**6))
    async with Device(tmp_path / "eve", clock=lambda: next(ticks), timezone="UTC") as eve:
        await eve.login(server.url, "eve", "pw", "eve-laptop")
        await eve.record("lesson.completed", {"course": "c1", "lesson": "read"})
        offline = lesson_of(await eve.status())
        assert offline["completed_at"] == Y2030  # its own clock, until the server speaks
        before = wall_ms()
        report = await eve.sync_once()
        after = wall_ms()
        status = await eve.status()
        shown = await eve.achievements()
    assert (report.refused, status["pending"], status["rejected"]) == ([], 0, [])
    synced = lesson_of(status)
    assert synced["status"] == "completed"
    assert before <= synced["completed_at"] <= after
    assert shown.streak.last_active_day in {day(before), day(after)}  # not 2030-01-01
    assert eve_points_never_in_2030(server)


def lesson_of(status: dict[str, Any]) -> dict[str, Any]:
    (course,) = [c for c in status["courses"] if c["id"] == "c1"]
    return next(x for m in course["modules"] for x in m["lessons"] if x["id"] == "read")


def eve_points_never_in_2030(server: RunningServer) -> bool:
    account = login(server.url, "eve")
    status, body = http("GET", f"{server.url}/v1/me/achievements", token=account["token"])
    assert status == 200, body
    return bool(body["ledger"]) and all(e["at"] < Y2030 for e in body["ledger"])
