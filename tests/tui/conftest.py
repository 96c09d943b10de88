"""Fixtures for the terminal app: a real journal in ``tmp_path`` with learners and a cached
catalog (no server), a settable clock, a leaderboard that answers without a network, and
helpers that let the app finish its work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from client.api import Device
from client.errors import ServerUnreachable
from client.journal import Journal
from sync.catalog import Catalog, parse_catalog
from sync.protocol.messages import FeedEntry
from tests.client.conftest import Clock, account, entry
from tui.app import WaymarkApp

T0 = 1_763_790_000_000  # 2025-11-22 05:40 UTC
SERVER = "http://server.test"
CATALOG_YAML = """
courses:
  - id: c1
    title: Course One
    modules:
      - id: m1
        title: Basics
        lessons:
          - id: read
            title: Reading
            completion: manual
            text: |
              # Reading well

              Read **slowly**, then read again.
          - {id: video, title: Watching, kind: video, duration: 200, completion: "watched:90"}
  - id: c2
    title: Course Two
    modules:
      - id: m2
        title: Checks
        lessons:
          - {id: intro, title: Intro, completion: viewed, text: "Welcome to the checks."}
        quizzes:
          - id: q1
            title: Quick check
            max_attempts: 3
            max_attempts_free: 2
            cooldown_seconds: 60
            questions:
              - id: one
                text: Which letter comes first?
                choices: [{id: a, text: A}, {id: b, text: B}]
                answer: a
              - id: two
                text: Pick the vowels.
                choices: [{id: x, text: E}, {id: y, text: K}, {id: z, text: O}]
                answer: [x, z]
        assignments:
          - {id: essay, title: Essay}
paths:
  - id: p1
    title: Track
    milestones:
      - {id: first, title: First steps, course: c1, order: 1}
      - {id: second, title: Checks, course: c2, module: m2, order: 2}
gamification:
  badges:
    - id: first-steps
      name: First steps
      description: Complete your first lesson.
      points: 5
      criteria: {lessons_completed: 1}
    - id: quiz-whiz
      name: Quiz whiz
      description: Pass a quiz with a perfect score.
      points: 15
      criteria: {perfect_quizzes: 1}
    - id: on-a-roll
      name: On a roll
      description: Learn on 7 days in a row.
      points: 25
      criteria: {streak: 7}
"""
CATALOG: Catalog = parse_catalog(CATALOG_YAML, "yaml")
BOARD: dict[str, Any] = {
    "week": "2025-W47",
    "rows": [
        {"rank": 1, "user": "bob", "points": 120, "you": False},
        {"rank": 2, "user": "alice", "points": 45, "you": True},
        {"rank": 3, "user": "carol", "points": 10, "you": False},
    ],
    "you": {"rank": 2, "user": "alice", "points": 45, "you": True},
}


class TestDevice(Device):
    """A device whose leaderboard answers from ``boards`` (a dict, or an error to raise),
    one per call, the last one repeated; offline (unreachable) by default."""

    __test__ = False

    def __init__(self, *args: Any, boards: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.boards = boards or [ServerUnreachable("cannot reach http://server.test")]

    async def leaderboard(self, **kw: Any) -> dict[str, Any]:
        answer = self.boards.pop(0) if len(self.boards) > 1 else self.boards[0]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


async def seed(
    home: Path, *names: str, catalog: Catalog = CATALOG, server_url: str = SERVER
) -> None:
    """Sign ``names`` in on the journal in ``home`` (as a login would) with ``catalog``."""
    async with await Journal.open(home) as journal:
        for name in names:
            await journal.add_account(account(name, server_url))
        await journal.store_catalog(server_url, "v1", catalog)


def awards(first_seq: int = 1, at: int = T0) -> list[FeedEntry]:
    """Server decisions for alice: a lesson's points, the First steps badge, Course One
    completed with its certificate, level 2 (115 points)."""
    decided: list[tuple[str, dict[str, Any]]] = [
        (
            "points.awarded",
            {
                "key": "points:lesson-completed:c1/read",
                "points": 10,
                "rule": "lesson-completed",
                "ref": "c1/read",
                "at": at,
                "week": "2025-W47",
            },
        ),
        (
            "achievement.earned",
            {"achievement_id": "first-steps", "name": "First steps", "earned_at": at, "points": 5},
        ),
        (
            "points.awarded",
            {
                "key": "points:badge:first-steps",
                "points": 5,
                "rule": "badge",
                "ref": "first-steps",
                "at": at,
                "week": "2025-W47",
            },
        ),
        (
            "points.awarded",
            {
                "key": "points:course-completed:c1",
                "points": 100,
                "rule": "course-completed",
                "ref": "c1",
                "at": at,
                "week": "2025-W47",
            },
        ),
        (
            "certificate.issued",
            {"code": "ABCD-EFGH-JKLM-NPQR", "course": "c1", "issued_at": at, "title": "Course One"},
        ),
        ("level.reached", {"level": 2, "points": 115, "at": at}),
    ]
    return [
        entry(first_seq + n, type_, origin="server", body=body, device_id=None, seq=None, at=at)
        for n, (type_, body) in enumerate(decided)
    ]


async def feed(home: Path, entries: list[FeedEntry], user: str = "u-alice") -> None:
    """Entries arrive in ``user``'s feed (as a sync would store them)."""
    async with await Journal.open(home) as journal:
        await journal.apply_feed(user, entries, now_ms=T0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    asyncio.run(seed(tmp_path / "home", "alice"))
    return tmp_path / "home"


@pytest.fixture
def make_app(home: Path, clock: Clock) -> Iterator[Callable[..., WaymarkApp]]:
    """An app on ``home`` with the test clock, no background sync and no timers."""

    def make(**kw: Any) -> WaymarkApp:
        ids = iter(f"attempt-{n}" for n in range(1, 100))
        device = TestDevice(
            kw.pop("home", home),
            clock=clock,
            timezone="UTC",
            new_id=lambda: next(ids),
            boards=kw.pop("boards", None),
        )
        options: dict[str, Any] = {
            "sync": False,
            "tick_seconds": None,
            "status_seconds": None,
            "device_name": "kiosk-test",
            **kw,
        }
        return WaymarkApp(device, **options)

    yield make


SETTLE_SECONDS = 60.0


async def settle(pilot: Pilot[Any], timeout: float = SETTLE_SECONDS) -> None:
    """Let the app handle its keys and messages and finish every queued journal job: until
    no job is queued or running (``WaymarkApp.working``), no key waits to be let in and no
    message waits in the app or on any of its screens. A condition, not
    a number of rounds: on a busy machine the work a key starts takes longer (Textual's
    own idle test, CPU time against wall time, passes early when another process holds
    the CPU). Fails after ``timeout`` seconds."""
    app = pilot.app
    assert isinstance(app, WaymarkApp)
    try:
        async with asyncio.timeout(timeout):
            while True:
                await pilot.pause()
                await app.jobs.join()
                await pilot.pause()
                if not app.working and not _messages_waiting(app):
                    return
    except TimeoutError:
        raise AssertionError(f"the app was still busy after {timeout} s") from None


async def press(pilot: Pilot[Any], *keys: str) -> None:
    """Press ``keys`` one at a time, each once the app has finished what the one before
    started (a screen that opens, a focus that moves). Pilot's own pause between keys is
    a guess from CPU time that passes early on a busy machine, and a key that then lands
    on the screen being left is a flaky test. Tests of a key burst use ``pilot.press``."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def _messages_waiting(app: WaymarkApp) -> bool:
    nodes = (node for s in app.screen_stack for node in s.walk_children(with_self=True))
    return bool(app.message_queue_size or any(node.message_queue_size for node in nodes))


async def fetched(pilot: Pilot[Any]) -> None:
    """Wait for the leaderboard fetch, then for the app to show it."""
    app = pilot.app
    await settle(pilot)  # the screen asks for it when it opens
    asked = [w for w in app.workers if w.group == "leaderboard"]
    if asked:  # (an empty list would wait for every worker)
        await app.workers.wait_for_complete(asked)
    await settle(pilot)


async def arrive(pilot: Pilot[Any], entries: list[FeedEntry], user: str = "u-alice") -> None:
    """Entries arrive in the running app's journal and the app reloads, as after a sync."""
    app = pilot.app
    assert isinstance(app, WaymarkApp)
    await app.device.journal.apply_feed(user, entries, now_ms=app.clock())
    app.request_load()
    await settle(pilot)


async def started(pilot: Pilot[Any]) -> None:
    """Wait until the journal is open and the first screen shows its data."""
    app = pilot.app
    assert isinstance(app, WaymarkApp)
    await app.workers.wait_for_complete([w for w in app.workers if w.group == "start"])
    await settle(pilot)


def screen_text(pilot: Pilot[Any]) -> str:
    """Everything the learner sees, as plain text lines."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)
