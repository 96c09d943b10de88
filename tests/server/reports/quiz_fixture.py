"""The assessment and engagement reports' fixture, recorded through the real merge: eight
learners, one submitted attempt each at quiz ``cq/q`` (tests/fixtures/reports_quiz.yaml,
four one-point questions, passing at 50 %), and some lesson time on three days.

Answers (C: right; a letter: the wrong choice picked; -: not answered)::

    learner  q1  q2  q3  q4     right  score  submitted
    l1       C   C   C   C      4      1.00   first
    l2       C   C   C   a      3      0.75   2nd
    l3       b   C   C   C      3      0.75   3rd
    l4       C   a   C   a      2      0.50   4th
    l5       C   c*  a   C      2      0.50   5th   (* picked b first, then changed to c)
    l6       C   C   a   a      2      0.50   6th
    l7       C   a   b   a;c    1      0.25   7th
    l8       b   a   -   a      0      0.00   8th

Times: every attempt starts (``quiz.started``) at S and answers q1..q4 at S+10 s, +30 s,
+60 s, +100 s, so 10, 20, 30 and 40 s on them; except l5, whose q2 answer is the change at
S+25 s (15 s after q1; then q3 is 35 s after it), and l8, who answers q1 at S+20 s, q2 at
S+30 s and q4 at S+70 s (20, 10 and 40 s).

Groups: ``a`` (l1-l4) taught by ``ivy``, ``b`` (l5-l8) by ``ian``; ``root`` is an admin.

Lesson time (``lesson.progressed`` seconds; days in the event's zone)::

    l1  cq  Sun 2025-11-23 10:00Z  300 s     l1  cq  Mon 11-24 10:00Z  120 s
    l1  c2  Mon 11-24 11:00Z       100 s     l2  cq  Mon 11-24 12:00Z  600 s
    l5  cq  Mon 11-24 02:00Z, zone America/New_York: Sun 11-23 21:00 local   60 s
    l6  cq  Tue 11-25 09:00Z  30 s and 09:30Z 45 s
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from server.storage.store import Store, User
from sync.catalog import Catalog, parse_catalog
from sync.events import Event

CATALOG_PATH = Path(__file__).parents[2] / "fixtures" / "reports_quiz.yaml"
PASSWORD = "pw-long-enough"


def catalog() -> Catalog:
    return parse_catalog(CATALOG_PATH.read_text(), "yaml")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2025-12-01T00:00:00")
"""After every event: the store's clock starts here (no event is clamped)."""
QUIZ_START = ms("2025-11-24T14:00:00")

# learner -> question -> (seconds after the start, choices); in answer order.
ANSWERS: dict[str, list[tuple[str, int, list[str]]]] = {
    "l1": [("q1", 10, ["a"]), ("q2", 30, ["b"]), ("q3", 60, ["c"]), ("q4", 100, ["a", "b"])],
    "l2": [("q1", 10, ["a"]), ("q2", 30, ["b"]), ("q3", 60, ["c"]), ("q4", 100, ["a"])],
    "l3": [("q1", 10, ["b"]), ("q2", 30, ["b"]), ("q3", 60, ["c"]), ("q4", 100, ["b", "a"])],
    "l4": [("q1", 10, ["a"]), ("q2", 30, ["a"]), ("q3", 60, ["c"]), ("q4", 100, ["a"])],
    "l5": [
        ("q1", 10, ["a"]),
        ("q2", 20, ["b"]),
        ("q2", 25, ["c"]),
        ("q3", 60, ["a"]),
        ("q4", 100, ["a", "b"]),
    ],
    "l6": [("q1", 10, ["a"]), ("q2", 30, ["b"]), ("q3", 60, ["a"]), ("q4", 100, ["a"])],
    "l7": [("q1", 10, ["a"]), ("q2", 30, ["a"]), ("q3", 60, ["b"]), ("q4", 100, ["c", "a"])],
    "l8": [("q1", 20, ["b"]), ("q2", 30, ["a"]), ("q4", 70, ["a"])],
}

# learner -> (course, lesson, time, tz, seconds)
TIME: dict[str, list[tuple[str, str, str, str, int]]] = {
    "l1": [
        ("cq", "read", "2025-11-23T10:00:00", "UTC", 300),
        ("cq", "read", "2025-11-24T10:00:00", "UTC", 120),
        ("c2", "a", "2025-11-24T11:00:00", "UTC", 100),
    ],
    "l2": [("cq", "read", "2025-11-24T12:00:00", "UTC", 600)],
    "l5": [("cq", "read", "2025-11-24T02:00:00", "America/New_York", 60)],
    "l6": [
        ("cq", "read", "2025-11-25T09:00:00", "UTC", 30),
        ("cq", "read", "2025-11-25T09:30:00", "UTC", 45),
    ],
}


class Recorder:
    """One device's events, numbered and stamped by their time."""

    def __init__(self) -> None:
        self.seq = 0
        self.events: list[Event] = []

    def add(self, at: int, type_: str, body: dict[str, Any], tz: str = "UTC") -> None:
        self.seq += 1
        self.events.append(Event(self.seq, f"{at:013d}-0000", at, type_, body, tz))


def quiz_events(
    rec: Recorder, start: int, answers: list[tuple[str, int, list[str]]], attempt: str = "t1"
) -> None:
    ref = {"course": "cq", "quiz": "q", "attempt": attempt}
    rec.add(start, "quiz.started", ref)
    for question, after, choices in answers:
        rec.add(
            start + after * 1000, "quiz.answered", {**ref, "question": question, "choices": choices}
        )
    rec.add(start + 120_000, "quiz.submitted", ref)


async def record(store: Store) -> dict[str, User]:
    """Create the accounts and groups and merge every learner's events (one push each for
    the quiz, one per lesson fact, so both kinds of merge write the rows)."""
    await store.load_catalog(catalog())
    users: dict[str, User] = {}
    for name, role in [("ivy", "instructor"), ("ian", "instructor"), ("root", "admin")]:
        users[name] = await store.create_user(name, PASSWORD, role=role)
    a = await store.create_group("a", "ivy")
    b = await store.create_group("b", "ian")
    for index, name in enumerate(ANSWERS):
        user = users[name] = await store.create_user(name, PASSWORD)
        await store.set_member(a.id if index < 4 else b.id, user.id, True)
        device, _ = await store.register_device(user.id, "laptop")
        rec = Recorder()
        for course, lesson, when, tz, seconds in TIME.get(name, []):
            rec.add(
                ms(when),
                "lesson.progressed",
                {"course": course, "lesson": lesson, "seconds": seconds},
                tz,
            )
            await store.merge(device.id, rec.events[-1:])
        quiz_events(rec, QUIZ_START + index * 600_000, ANSWERS[name])
        first = len(TIME.get(name, []))
        await store.merge(device.id, rec.events[first:])
    return users
