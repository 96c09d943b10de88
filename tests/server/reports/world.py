"""The reports' world: the catalog ``tests/fixtures/reports.yaml`` and four learners whose
progress goes through the real merge, each syncing when they act (the server's clock set
to the moment they sync), so the times the merge decides (a milestone unlocked or
completed) are known too. ``NOW`` is a Monday, 2026-01-05 12:00 UTC (ISO week 2026-W02).

Days are counted back from NOW (``D(k)`` is NOW minus k days):

* **ada** (group A): enrols in path p1 at D(22); in c1 watches l1 for 300 s at D(21),
  completes l1 at D(20), l2 at D(10), l3 at D(5), opens l4 at D(2) and spends 60 s in it
  two hours before NOW; in c2 completes k1 at D(3) and takes quiz q1 twice at D(3): wrong,
  then right.
* **bo** (group A): enrols in p1 at D(31), completes l1 at D(30), then nothing.
* **cy** (group B): enrols in p1 at D(26), completes l1 at D(25), l2 at D(24), l3 at D(12),
  l4 at D(11).
* **dee** (no group): opens l1 at D(1).

Groups: A (created by the instructor ivy, due 2026-01-20), B (created by the instructor
ian). root is an admin. Staff are never counted in reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.storage.store import Store, User
from sync.catalog import Catalog, parse_catalog
from sync.events import Event

DAY = 86_400_000
HOUR = 3_600_000
NOW = 1_767_614_400_000  # 2026-01-05T12:00:00Z, a Monday
SYNC_DELAY = 60_000
"""A learner's device syncs one minute after each action."""
CATALOG_FILE = Path(__file__).parents[2] / "fixtures" / "reports.yaml"


def catalog() -> Catalog:
    return parse_catalog(CATALOG_FILE.read_text(), "yaml")


def D(days: float) -> int:
    return NOW - int(days * DAY)


class Clock:
    """The server's clock: set by the test, one millisecond more per reading."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        self.now += 1
        return self.now


class Actor:
    """A learner with one device that syncs one minute after each action."""

    def __init__(self, store: Store, clock: Clock, user: User, device: str) -> None:
        self.store, self.clock, self.user, self.device = store, clock, user, device
        self.seq = 0

    async def act(self, at: int, type_: str, **body: Any) -> None:
        self.seq += 1
        event = Event(self.seq, f"{at:013d}-{self.seq:04d}", at, type_, body, "UTC")
        self.clock.now = at + SYNC_DELAY
        await self.store.merge(self.device, [event])

    async def lesson(self, at: int, type_: str, lesson: str, course: str = "c1", **more: Any):
        await self.act(at, type_, course=course, lesson=lesson, **more)

    async def quiz(self, at: int, attempt: str, choice: str) -> None:
        base = {"course": "c2", "quiz": "q1", "attempt": attempt}
        await self.act(at, "quiz.started", **base)
        await self.act(at + 1000, "quiz.answered", **base, question="qq", choices=[choice])
        await self.act(at + 2000, "quiz.submitted", **base)


async def build(store: Store, clock: Clock) -> dict[str, User]:
    """The world, on an opened ``store`` whose clock is ``clock``; returns every user."""
    clock.now = D(40)  # accounts and devices are older than any progress
    await store.load_catalog(catalog())
    users: dict[str, User] = {}
    for name, role in [
        ("ada", "learner"),
        ("bo", "learner"),
        ("cy", "learner"),
        ("dee", "learner"),
        ("ivy", "instructor"),
        ("ian", "instructor"),
        ("root", "admin"),
    ]:
        users[name] = await store.create_user(name, "pw-long-enough", role=role)
    a = await store.create_group("A", "ivy")
    b = await store.create_group("B", "ian")
    await store.set_group_due(a.id, "2026-01-20")
    for group, name in [(a, "ada"), (a, "bo"), (b, "cy")]:
        await store.set_member(group.id, users[name].id, True)
    actors = {}
    for name in ("ada", "bo", "cy", "dee"):
        device, _ = await store.register_device(users[name].id, f"{name}-tablet")
        actors[name] = Actor(store, clock, users[name], device.id)
    ada, bo, cy, dee = (actors[n] for n in ("ada", "bo", "cy", "dee"))
    # In time order, as it happened.
    await bo.act(D(31), "path.enrolled", path="p1")
    await bo.lesson(D(30), "lesson.completed", "l1")
    await cy.act(D(26), "path.enrolled", path="p1")
    await cy.lesson(D(25), "lesson.completed", "l1")
    await cy.lesson(D(24), "lesson.completed", "l2")
    await ada.act(D(22), "path.enrolled", path="p1")
    await ada.lesson(D(21), "lesson.progressed", "l1", seconds=300)
    await ada.lesson(D(20), "lesson.completed", "l1")
    await cy.lesson(D(12), "lesson.completed", "l3")
    await cy.lesson(D(11), "lesson.completed", "l4")
    await ada.lesson(D(10), "lesson.completed", "l2")
    await ada.lesson(D(5), "lesson.completed", "l3")
    await ada.lesson(D(3), "lesson.completed", "k1", course="c2")
    await ada.quiz(D(3) + 10_000, "a1", "no-1")
    await ada.quiz(D(3) + 20_000, "a2", "ans-1")
    await ada.lesson(D(2), "lesson.opened", "l4")
    await dee.lesson(D(1), "lesson.opened", "l1")
    await ada.lesson(NOW - 2 * HOUR, "lesson.progressed", "l4", seconds=60)
    clock.now = NOW
    return users
