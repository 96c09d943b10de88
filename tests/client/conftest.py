"""Fixtures for the device library: a catalog, a settable clock, an open journal and a
fake sync server (``fake_server.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from client.journal import Account, Journal
from sync.catalog import Catalog, parse_catalog
from sync.protocol.messages import FeedEntry
from tests.client.fake_server import T0, FakeServer

CATALOG: Catalog = parse_catalog(
    """
courses:
  - id: c1
    title: Course One
    modules:
      - id: m1
        title: Basics
        lessons:
          - {id: read, title: Reading, completion: manual}
          - {id: video, kind: video, duration: 200, completion: "watched:90"}
  - id: c2
    title: Course Two
    modules:
      - id: m2
        title: Checks
        quizzes:
          - id: q1
            title: Quick check
            max_attempts: 3
            max_attempts_free: 2
            cooldown_seconds: 60
            competencies: [reading]
            questions:
              - {id: one, choices: [{id: a}, {id: b}], answer: a}
              - {id: two, choices: [{id: x}, {id: y}, {id: z}], answer: [x, z]}
        assignments:
          - {id: essay, title: Essay}
paths:
  - id: p1
    title: Track
    milestones:
      - {id: first, title: First steps, course: c1, order: 1}
      - {id: second, title: Checks, course: c2, module: m2, order: 2}
competencies:
  - {id: reading, name: Reading skill}
""",
    "yaml",
)


class Clock:
    """Epoch milliseconds that move only when a test says so."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def account(name: str = "alice", server_url: str = "http://server.test", **kw: Any) -> Account:
    fields: dict[str, Any] = {"device_id": f"d-{name}", "token": f"t-{name}", **kw}
    return Account(user_id=f"u-{name}", username=name, server_url=server_url, **fields)


def entry(user_seq: int, type: str = "lesson.opened", **kw: Any) -> FeedEntry:
    """A feed entry; by default lesson c1/read opened on another device ("phone")."""
    fields: dict[str, Any] = {
        "origin": "device",
        "body": {"course": "c1", "lesson": "read"},
        "hlc": f"{T0 + user_seq:013d}-0000",
        "at": T0 + user_seq,
        "tz": "UTC",
        "device_id": "phone",
        "seq": user_seq,
        **kw,
    }
    return FeedEntry(user_seq=user_seq, type=type, **fields)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await Journal.open(tmp_path / "home") as opened:
        yield opened


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer(CATALOG) as running:
        yield running
