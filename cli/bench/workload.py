"""What the bench sends: deterministic learner events on the demo catalog, and the feed
rows those events become (the rows the baseline writes)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec

from sync.catalog import Catalog, format_for, parse_catalog
from sync.events import Event
from sync.hlc import HybridClock

DEMO_CATALOG: Final = Path(__file__).resolve().parent.parent / "demo_catalog.yaml"
START_MS: Final = 1_763_790_000_000
"""The first event's ``at`` (2025-11-22): every run sends the same events."""
STEP_MS: Final = 20_000
"""One event every 20 s of a learner's time: 100,000 events span about 23 days."""
FEED_COLUMNS: Final = (
    "user_id",
    "user_seq",
    "origin",
    "device_id",
    "seq",
    "hlc",
    "at",
    "tz",
    "type",
    "body",
    "recorded_at",
)
FeedRow = tuple[Any, ...]
_json = msgspec.json.Encoder()


@cache
def demo_catalog() -> Catalog:
    return parse_catalog(DEMO_CATALOG.read_bytes(), format_for(DEMO_CATALOG.name))


def _lessons() -> list[tuple[str, str, int]]:
    catalog = demo_catalog()
    return [
        (course.id, lesson.id, lesson.duration)
        for course in catalog.courses
        for module in course.modules
        for lesson in module.lessons
    ]


def event_stream(
    *, first: int = 0, seq: int = 1, now: Callable[[], int] | None = None
) -> Iterator[Event]:
    """Endless events of one device, numbered from ``seq``: visits of the catalog's lessons
    in turn, each ``lesson.opened`` then three ``lesson.progressed`` stretches of 30 s (with
    a watched segment and a position on videos). ``first`` is the index of the first event
    in the learner's life, so a later push continues where history stopped. ``at`` steps
    :data:`STEP_MS` from :data:`START_MS`, or is ``now()`` when given."""
    lessons = _lessons()
    clock = HybridClock()
    for i in itertools.count(first):
        visit, step = divmod(i, 4)
        course, lesson, duration = lessons[visit % len(lessons)]
        at = START_MS + i * STEP_MS if now is None else now()
        body: dict[str, Any] = {"course": course, "lesson": lesson}
        kind = "lesson.opened"
        if step:
            kind = "lesson.progressed"
            body["seconds"] = 30
            if duration:
                start = (visit * 90 + (step - 1) * 30) % duration
                end = min(start + 30, duration)
                body.update({"position": end, "from": start, "to": end})
        yield Event(seq + i - first, clock.tick(at), at, kind, body, "UTC")


def make_events(count: int, *, first: int = 0, seq: int = 1) -> list[Event]:
    """The first ``count`` events of :func:`event_stream`."""
    return list(itertools.islice(event_stream(first=first, seq=seq), count))


def feed_rows(
    user_id: str, device_id: str, events: list[Event], *, user_seq: int = 1, now: int = 0
) -> list[FeedRow]:
    """The feed rows the server appends for ``events`` (all accepted), numbered from
    ``user_seq``, in :data:`FEED_COLUMNS` order."""
    return [
        (
            user_id,
            user_seq + n,
            "device",
            device_id,
            e.seq,
            e.hlc,
            e.at,
            e.tz,
            e.type,
            _json.encode(e.body).decode(),
            now,
        )
        for n, e in enumerate(events)
    ]
