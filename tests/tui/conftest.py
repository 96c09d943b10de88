"""Fixtures for the terminal app: a real journal in ``tmp_path`` with learners and a cached
catalog (no server), a settable clock, and a helper that lets the app finish its work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from client.api import Device
from client.journal import Journal
from sync.catalog import Catalog, parse_catalog
from tests.client.conftest import Clock, account
from tui.app import WaymarkApp

T0 = 1_763_790_000_000  # 2025-11-22 05:40 UTC
SERVER = "http://server.test"
CATALOG: Catalog = parse_catalog(
    """
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
""",
    "yaml",
)


async def seed(home: Path, *names: str, catalog: Catalog = CATALOG) -> None:
    """Sign ``names`` in on the journal in ``home`` (as a login would) with ``catalog``."""
    async with await Journal.open(home) as journal:
        for name in names:
            await journal.add_account(account(name))
        await journal.store_catalog(SERVER, "v1", catalog)


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
        device = Device(kw.pop("home", home), clock=clock, timezone="UTC", new_id=lambda: next(ids))
        options: dict[str, Any] = {
            "sync": False,
            "tick_seconds": None,
            "status_seconds": None,
            "device_name": "kiosk-test",
            **kw,
        }
        return WaymarkApp(device, **options)

    yield make


async def settle(pilot: Pilot[Any]) -> None:
    """Let the app handle its messages and finish every queued journal job."""
    app = pilot.app
    assert isinstance(app, WaymarkApp)
    for _ in range(4):
        await pilot.pause()
        await app.jobs.join()
    await pilot.pause()


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
