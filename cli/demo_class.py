"""The demo's class: learners in two groups with five weeks of history, for the reports.

``waymark demo`` seeds it before its server starts, so every report has something to
show: learners of the groups "morning" and "evening" who completed courses, are half-way
or barely started, quiz attempts whose answers differ question by question, enrollments
in the learning path with milestones, one learner stuck on a milestone for well over a
week, some whose devices are offline holding work not synced yet, and an instructor who
teaches both groups.

Everything goes through the real merge, as devices would send it: each learner has a
device that records events (back-dated ``at`` and HLC) and pushes them at the end of each
learning session; the store's clock is set to that moment, so the server receives the push
then, and decides scores, completions, milestones and awards as it would have. Grades are
the instructor's, through the store's grading call. A device with offline work said its
hello (the store's ``device_heard``, as the sync socket calls it) with more recorded than
it pushed, and went away. No projection table is written here.

The plan is fixed by :data:`SEED`: every demo has the same class.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Final

import msgspec

from server.storage.store import Store
from sync.catalog import Catalog, Lesson, Quiz
from sync.events import Event
from sync.hlc import format_hlc

SEED: Final = 13
DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000
HISTORY_DAYS: Final = 35
"""How far back the class's history goes (five weeks)."""
GROUPS: Final = ("morning", "evening")
INSTRUCTOR: Final = ("iris", "iris-demo")
"""The instructor's name and password (printed by the demo)."""
LEARNER_PASSWORD: Final = "learner-demo"
PATH: Final = "python-data-track"
STALLED_DAYS: Final = 12
"""The stalled learner's last activity, in days before the demo starts (> 7)."""

NAMES: Final = (
    "amara", "bruno", "chen", "dalia", "emil", "farah", "goran", "hana", "ines", "jonas",
    "kemal", "lena", "mateo", "nadia", "oskar", "priya", "quentin", "rosa", "samir", "tove",
    "umar", "vera", "wen", "ximena", "yusuf", "zofia", "arjun", "bea",
)  # fmt: skip
ZONES: Final = ("Europe/Berlin", "Europe/Lisbon", "America/Sao_Paulo", "Asia/Kolkata", "UTC")

# Profiles: how far a learner gets (a share of the steps) and how well they answer.
FINISHER, STEADY, SLOW, STALLED, OFFLINE, IDLE = (
    "finisher", "steady", "slow", "stalled", "offline", "idle",
)  # fmt: skip
PROFILES: Final = (
    (FINISHER, 6),
    (STEADY, 10),
    (SLOW, 5),
    (STALLED, 1),
    (OFFLINE, 4),
    (IDLE, 2),
)
"""Profiles and how many learners of each: 28 with the story's two, 30 in all."""

EASE: Final = {"assign": 0.95, "def": 0.9, "range": 0.7, "loops": 0.45}
"""How likely a good learner answers each question right: the reports' "difficult
questions" must differ. Other questions: 0.75."""
POPULAR_WRONG: Final = {"loops": ["for"], "range": ["four"], "assign": ["a"], "mean": ["4"]}
"""The wrong answer most learners pick, so the most chosen wrong answer is clear."""


class Summary(msgspec.Struct):
    """What was seeded (for the demo's panel and its test)."""

    learners: dict[str, list[str]] = {}
    """Group name → learner names."""
    profiles: dict[str, str] = {}
    """Learner name → profile."""
    stalled: str = ""
    offline: list[str] = []
    events: int = 0


class _Clock:
    """The store's clock while seeding: set to each push's moment."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class _Device:
    """One learner's device: numbers and stamps events, pushes them through the merge."""

    def __init__(self, store: Store, clock: _Clock, device_id: str, tz: str) -> None:
        self.store, self.clock, self.id, self.tz = store, clock, device_id, tz
        self.seq = 0
        self.held: list[Event] = []
        self.last = 0  # the last event's time

    def record(self, at: int, type_: str, body: dict[str, Any]) -> None:
        at = max(at, self.last + 1)  # one device's stamps rise
        self.last = at
        self.seq += 1
        self.held.append(Event(self.seq, format_hlc(at, 0), at, type_, body, self.tz))

    async def push(self, at: int) -> int:
        """Sync at ``at``: the server receives what the device holds."""
        sent, self.held = self.held, []
        self.clock.now = max(at, self.last, self.clock.now)  # receipts never go back
        if sent:
            await self.store.merge(self.id, sent)
        return len(sent)

    async def hello_then_gone(self, at: int) -> None:
        """Say hello at ``at`` with everything recorded, and lose the connection before
        pushing: the server knows what the device holds, not what it is."""
        self.clock.now = at
        device = await self.store.device_by_id(self.id)
        assert device is not None
        await self.store.device_heard(device, format_hlc(self.last, 1), self.seq)


class _Learner:
    """Plays one learner's weeks: sessions of a few steps, each pushed at its end."""

    def __init__(self, user_id: str, device: _Device, rng: random.Random, skill: float) -> None:
        self.user_id, self.device, self.rng, self.skill = user_id, device, rng, skill
        self.attempts = 0
        self.submitted: list[tuple[str, str]] = []  # (course, assignment), to grade

    async def grade(self, at: int) -> None:
        """The instructor grades what was submitted, at ``at`` (after the push)."""
        store, clock = self.device.store, self.device.clock
        for course, assignment in self.submitted:
            clock.now = max(clock.now, at)
            score = float(self.rng.choice([70, 80, 85, 90, 95]))
            feedback = "Clear program; name your variables."
            await store.grade_assignment(
                self.user_id, course, assignment, score=score, feedback=feedback,
                graded_by=INSTRUCTOR[0],
            )  # fmt: skip
        self.submitted = []

    def lesson(self, at: int, course: str, lesson: Lesson, *, finish: bool = True) -> int:
        """Work on ``lesson`` from ``at``; returns when the learner is done with it."""
        ref = {"course": course, "lesson": lesson.id}
        record = self.device.record
        record(at, "lesson.opened", ref)
        spent = self.rng.randint(90, 420)
        if lesson.duration:  # watch it, all of it or a part
            share = 1.0 if finish else self.rng.uniform(0.2, 0.6)
            to = max(1, int(lesson.duration * share))
            spent = max(spent, to)
            segment = {"seconds": spent, "from": 0, "to": to, "position": to}
            record(at + spent * 1000, "lesson.progressed", ref | segment)
        else:
            if lesson.completion.startswith("time:") and finish:
                spent = max(spent, int(lesson.completion.split(":")[1]) + 30)
            record(at + spent * 1000, "lesson.progressed", ref | {"seconds": spent})
        end = at + spent * 1000 + 1000
        if finish and lesson.completion == "manual":
            record(end, "lesson.completed", ref)
        return end + self.rng.randint(1, 5) * MINUTE_MS

    def quiz(self, at: int, course: str, quiz: Quiz, bonus: float = 0.0) -> tuple[int, bool]:
        """One attempt, answered as well as this learner answers; returns when it was
        submitted and whether it passes (the server scores it the same way)."""
        self.attempts += 1
        attempt = f"{self.device.id[:16]}{self.attempts:016x}"
        ref = {"course": course, "quiz": quiz.id, "attempt": attempt}
        self.device.record(at, "quiz.started", ref)
        got = total = 0
        for question in quiz.questions:
            at += self.rng.randint(20, 90) * 1000
            ease = EASE.get(question.id, 0.75)
            right = self.rng.random() < min(0.98, self.skill * ease + bonus)
            answer = question.answer
            correct = sorted(answer) if isinstance(answer, list) else [str(answer)]
            total += question.points
            if right:
                choices, got = correct, got + question.points
            else:
                wrong = [c.id for c in question.choices if [c.id] != correct]
                popular = POPULAR_WRONG.get(question.id)
                pick = popular if popular and self.rng.random() < 0.7 else None
                choices = pick or [self.rng.choice(wrong)]
            body = ref | {"question": question.id, "choices": choices}
            self.device.record(at, "quiz.answered", body)
        at += 10_000
        self.device.record(at, "quiz.submitted", ref)
        return at + 2 * MINUTE_MS, got / total >= quiz.passing_score

    def assignment(self, at: int, course: str, assignment: str) -> int:
        body = {"course": course, "assignment": assignment}
        text = "words = open('book.txt').read().lower().split()  # and a Counter"
        self.device.record(at, "assignment.submitted", body | {"text": text})
        self.submitted.append((course, assignment))
        return at + 5 * MINUTE_MS


def _steps(catalog: Catalog) -> list[tuple[str, str, Any]]:
    """The class's order of work: each course's lessons, quizzes after their module's
    lessons, then its assignments."""
    steps: list[tuple[str, str, Any]] = []
    for course_id in ("python-foundations", "data-literacy"):
        course = next(c for c in catalog.courses if c.id == course_id)
        for module in course.modules:
            steps += [("lesson", course.id, lesson) for lesson in module.lessons]
            steps += [("quiz", course.id, quiz) for quiz in module.quizzes]
            steps += [("assignment", course.id, a.id) for a in module.assignments]
    return steps


def _reach(profile: str, rng: random.Random, total: int) -> int:
    """How many steps a learner of ``profile`` gets through."""
    share = {
        FINISHER: rng.choice([1.0, 1.0, rng.uniform(0.75, 0.95)]),  # most finish both
        STEADY: rng.uniform(0.3, 0.6),
        SLOW: rng.uniform(0.08, 0.2),
        STALLED: 0.22,
        OFFLINE: rng.uniform(0.25, 0.5),
        IDLE: 0.0,
    }[profile]
    return round(share * total)


async def seed_class(
    store: Store,
    catalog: Catalog,
    now: int,
    *,
    extra: dict[str, str] | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Summary:
    """Seed the class into ``store`` (whose clock must be a settable :class:`_Clock`,
    made by :func:`seeding_store`), as of ``now`` (epoch ms). ``extra``: existing learners
    (name → group) to add to the groups, e.g. the story's. ``progress(done, total)`` is
    called after each learner."""
    clock = store.clock
    assert isinstance(clock, _Clock), "open the store with seeding_store()"
    rng = random.Random(SEED)
    start = now - HISTORY_DAYS * DAY_MS
    clock.now = start
    summary = Summary(learners={g: [] for g in GROUPS})
    instructor = await store.create_user(INSTRUCTOR[0], INSTRUCTOR[1], role="instructor")
    groups = {g: await store.create_group(g, instructor.username) for g in GROUPS}
    for name, group in (extra or {}).items():
        user = await store.user_by_name(name)
        assert user is not None
        await store.set_member(groups[group].id, user.id, True)
        summary.learners[group].append(name)
    profiles = [p for p, count in PROFILES for _ in range(count)]
    rng.shuffle(profiles)
    steps = _steps(catalog)
    for index, (name, profile) in enumerate(zip(NAMES, profiles, strict=True)):
        group = GROUPS[index % 2]
        zone = ZONES[index % len(ZONES)]
        first = start + rng.randint(0, 6) * DAY_MS + rng.randint(8, 20) * HOUR_MS
        if profile == STALLED:
            first = start + 2 * DAY_MS + 9 * HOUR_MS
        clock.now = first - HOUR_MS
        user = await store.create_user(name, LEARNER_PASSWORD, timezone=zone)
        await store.set_member(groups[group].id, user.id, True)
        summary.learners[group].append(name)
        summary.profiles[name] = profile
        if profile == IDLE:  # an account and a login, nothing synced
            await store.register_device(user.id, "laptop")
            progress(index + 1, len(NAMES))
            continue
        found, _ = await store.register_device(user.id, "laptop")
        device = _Device(store, clock, found.id, zone)
        learner = _Learner(user.id, device, rng, rng.uniform(0.45, 1.0))
        summary.events += await _play(learner, profile, steps, first, now, rng)
        if profile == STALLED:
            summary.stalled = name
        if profile == OFFLINE:
            summary.offline.append(name)
        progress(index + 1, len(NAMES))
    return summary


async def _play(
    learner: _Learner,
    profile: str,
    steps: list[tuple[str, str, Any]],
    first: int,
    now: int,
    rng: random.Random,
) -> int:
    """Play ``profile``'s sessions from ``first``; returns the events pushed."""
    device = learner.device
    reach = _reach(profile, rng, len(steps))
    # The last session ends a few minutes ago for some (fresh), days ago for others; the
    # stalled learner's STALLED_DAYS ago; offline devices did one more later, not pushed.
    if profile == STALLED:
        last = now - STALLED_DAYS * DAY_MS
    elif profile == OFFLINE:
        last = now - rng.randint(3, 6) * DAY_MS
    elif profile in (FINISHER, STEADY) and rng.random() < 0.5:
        last = now - rng.randint(5, 40) * MINUTE_MS
    else:
        last = now - rng.randint(1, 6) * DAY_MS - rng.randint(0, 8) * HOUR_MS
    sessions = max(1, min(reach, rng.randint(5, 12)))
    # Steps split evenly over the sessions: each has at least one, the last included.
    ends = [round(reach * (n + 1) / sessions) for n in range(sessions)]
    chunk = max(1, -(-reach // sessions))
    gap = max(2 * HOUR_MS, (last - first) // sessions)
    # Enrolled in the path: finishers and the stalled learner from their first session,
    # some steady learners at their last (so they are not stuck: they just began).
    enroll_at = {FINISHER: 0, STALLED: 0}.get(profile)
    if profile == STEADY and rng.random() < 0.4:
        enroll_at = sessions - 1
    pushed = done = 0
    at = first
    for session in range(sessions):
        at = max(at, first + session * gap)
        if session == sessions - 1:  # done by ``last``: up to 45 minutes a step
            at = max(at, last - chunk * 45 * MINUTE_MS)
        if session == enroll_at:
            device.record(at, "path.enrolled", {"path": PATH})
            step = {"path": PATH, "milestone": "foundations"}
            device.record(at + 1000, "milestone.started", step)
            at += 2000
        for kind, course, item in steps[done : ends[session]]:
            if kind == "lesson":
                at = learner.lesson(at, course, item)
            elif kind == "quiz":
                # Finishers try until they pass (within the attempts a free learner has).
                limit = item.max_attempts_free or item.max_attempts or 3
                tries = limit if profile == FINISHER else rng.choice([1, 1, 2])
                for attempt in range(tries):
                    later = at + attempt * 10 * MINUTE_MS  # past the cool-down
                    # A finisher's last try goes well: they finish.
                    bonus = 1.0 if profile == FINISHER and attempt == tries - 1 else 0.3 * attempt
                    at, passed = learner.quiz(later, course, item, bonus=bonus)
                    if passed:
                        break
                    # Synced before trying again: the cool-down counts from the
                    # server's receipt too.
                    pushed += await device.push(at)
            else:
                at = learner.assignment(at, course, item)
            done += 1
        if session == sessions - 1 and profile == STEADY and done < len(steps):
            kind, course, item = steps[done]  # half-way through the next lesson
            if kind == "lesson":
                at = learner.lesson(at, course, item, finish=False)
        synced = at + rng.randint(1, 10) * MINUTE_MS
        if session == sessions - 1:
            synced = max(synced, last)  # the last contact: ``last``
        pushed += await device.push(min(synced, now - MINUTE_MS))
        await learner.grade(
            min(device.clock.now + rng.randint(20, 90) * MINUTE_MS, now - MINUTE_MS)
        )
    if profile == OFFLINE:
        # Offline since: another session recorded, said at a hello, never pushed.
        later = last + rng.randint(1, 2) * DAY_MS
        for kind, course, item in steps[done : done + 3]:
            if kind == "lesson":
                later = learner.lesson(later, course, item)
        if not device.held:
            lesson = next(item for kind, _, item in steps if kind == "lesson")
            later = learner.lesson(later, steps[0][1], lesson)
        await device.hello_then_gone(later + MINUTE_MS)
    return pushed


def seeding_store(db: str, now: int) -> Store:
    """A store on ``db`` whose clock :func:`seed_class` sets (at ``now`` until then)."""
    return Store.for_url(db, clock=_Clock(now))
