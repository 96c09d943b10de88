"""The learning domain through the store, on SQLite and PostgreSQL (``db_url``).

Story 7.1's acceptance criteria (module-level progress), two devices taking one quiz
offline, the refusals the server records (cool-down, attempt limits, enrollment limits and
transitions), instructor grading, and catalog changes that recompute only the learners
they affect. The catalog is ``tests/fixtures/learning_acceptance.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from server.errors import BadRequest
from server.storage.store import Store
from sync.catalog import Catalog, Lesson, Quiz, parse_catalog, public_catalog
from sync.events import Event
from sync.hlc import HybridClock
from sync.merge.fold import Decision, Fact, fold
from sync.merge.horizon import canonical
from sync.protocol.messages import FeedEntry
from sync.views import LearnerView, ModuleView, QuizView, learner_view

T0 = 1_763_790_000_000
MIN = 60_000
FIXTURE = Path(__file__).parents[1] / "fixtures" / "learning_acceptance.yaml"
CAT = parse_catalog(FIXTURE.read_text(), "yaml")
PUBLIC = public_catalog(CAT)
WASH_RIGHT = {"wq-when": ["ans-7f3"], "wq-what": ["ans-b41", "ans-c9d"]}
WASH_WRONG = {"wq-when": ["no-a1"], "wq-what": ["no-a2"]}


class Clock:
    """The server's clock: one millisecond per reading, from a fixed start."""

    def __init__(self) -> None:
        self.now = T0 + 10**9

    def __call__(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture
async def store(db_url: str):  # type: ignore[no-untyped-def]
    store = Store.for_url(db_url, clock=Clock())
    await store.open()
    await store.load_catalog(CAT)
    yield store
    await store.close()


class Device:
    """A learner's device as the client keeps it: a journal of events with their HLCs,
    the highest seq the server acked, and the feed pulled so far. Its view is the fold of
    the feed's facts and its own unsynced events, plus the feed's decisions."""

    def __init__(self, store: Store, user_id: str, device_id: str, plan: str = "free") -> None:
        self.store, self.user_id, self.device_id, self.plan = store, user_id, device_id, plan
        self.clock = HybridClock()
        self.journal: list[Event] = []
        self.acked = 0
        self.feed: dict[int, FeedEntry] = {}
        self.catalog = PUBLIC

    @classmethod
    async def new(cls, store: Store, user_id: str, name: str, plan: str = "free") -> Device:
        device, _token = await store.register_device(user_id, name)
        return cls(store, user_id, device.id, plan)

    def record(self, at: int, type_: str, **body: Any) -> None:
        self.journal.append(
            Event(len(self.journal) + 1, self.clock.tick(at), at, type_, body, "Europe/Paris")
        )

    def watch(self, at: int, lesson: str, start: int, end: int) -> None:
        """Watch seconds ``start`` to ``end`` of a video lesson of course ``safety``."""
        body = {"course": "safety", "lesson": lesson, "seconds": end - start}
        self.record(at, "lesson.progressed", **body, **{"from": start, "to": end})

    def take_quiz(self, at: int, quiz: str, attempt: str, answers: dict[str, list[str]]) -> None:
        base = {"course": "safety", "quiz": quiz, "attempt": attempt}
        self.record(at, "quiz.started", **base)
        for i, (question, choices) in enumerate(answers.items()):
            self.record(at + i + 1, "quiz.answered", **base, question=question, choices=choices)
        self.record(at + len(answers) + 1, "quiz.submitted", **base)

    async def sync(self) -> None:
        pending = [e for e in self.journal if e.seq > self.acked]
        if pending:
            self.acked = (await self.store.merge(self.device_id, pending)).acked_seq
        cursor = max(self.feed, default=0)
        for entry in await self.store.feed_after(self.user_id, cursor, 10_000):
            self.feed[entry.user_seq] = entry
            if entry.origin == "device":  # decisions are not observed (protocol.md)
                self.clock.observe(entry.hlc, T0)

    def view(self) -> LearnerView:
        held = {(e.device_id, e.seq) for e in self.feed.values() if e.origin == "device"}
        facts = [
            Fact(e.device_id or "", e.seq or 0, e.hlc, e.at, e.type, e.body)
            for e in self.feed.values()
            if e.origin == "device"
        ]
        facts += [
            Fact(self.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.journal
            if (self.device_id, e.seq) not in held
        ]
        decisions = [
            Decision(e.user_seq, e.type, e.body, e.at)
            for e in self.feed.values()
            if e.origin == "server"
        ]
        return learner_view(fold(facts, decisions), self.catalog, self.plan)


async def learner(store: Store, name: str, plan: str = "free") -> tuple[str, Device]:
    user = await store.create_user(name, "pw", plan=plan)
    return user.id, await Device.new(store, user.id, f"{name}-laptop", plan)


def module(view: LearnerView, course: str, module_id: str) -> ModuleView:
    found = next(c for c in view.courses if c.id == course)
    return next(m for m in found.modules if m.id == module_id)


def quiz(view: LearnerView, quiz_id: str, course: str = "safety") -> QuizView:
    found = next(c for c in view.courses if c.id == course)
    return next(q for m in found.modules for q in m.quizzes if q.id == quiz_id)


async def decisions(store: Store, user_id: str, type_: str) -> list[dict[str, Any]]:
    feed = await store.feed_after(user_id, 0, 10_000)
    return [e.body for e in feed if e.origin == "server" and e.type == type_]


# -- story 7.1: track learner progress at module level -----------------------------------


async def test_module_progress_is_tracked_when_a_learner_accesses_or_completes_module_content(
    store: Store,
) -> None:
    ann_id, laptop = await learner(store, "ann")
    laptop.record(T0, "path.enrolled", path="responder")  # enrolled in a path with the course
    await laptop.sync()
    assert module(await store.learner(ann_id), "safety", "wash").status == "not_started"

    laptop.record(T0 + MIN, "lesson.opened", course="safety", lesson="wash-read")  # access
    await laptop.sync()
    accessed = module(await store.learner(ann_id), "safety", "wash")
    assert (accessed.status, accessed.percent, accessed.started_at) == ("in_progress", 33, T0 + MIN)
    assert [x.status for x in accessed.lessons] == ["completed", "not_started"]

    laptop.watch(T0 + 2 * MIN, "wash-video", 0, 95)
    laptop.take_quiz(T0 + 3 * MIN, "wash-check", "a1", WASH_RIGHT)  # completion
    await laptop.sync()
    completed = module(await store.learner(ann_id), "safety", "wash")
    assert (completed.status, completed.percent) == ("completed", 100)
    assert completed.lessons[1].seconds == 95 and completed.quizzes[0].passed
    # The other modules of the course are tracked separately.
    assert module(await store.learner(ann_id), "safety", "gloves").status == "not_started"


async def test_module_progress_includes_started_in_progress_and_completed_status(
    store: Store,
) -> None:
    ann_id, laptop = await learner(store, "ann")
    seen: list[tuple[str, bool, bool]] = []

    async def look() -> None:
        wash = module(await store.learner(ann_id), "safety", "wash")
        seen.append((wash.status, wash.started_at is not None, wash.completed_at is not None))

    await look()
    laptop.record(T0, "lesson.opened", course="safety", lesson="wash-read")  # started
    await laptop.sync()
    await look()
    laptop.watch(T0 + MIN, "wash-video", 0, 30)
    await laptop.sync()
    await look()  # in progress: still learning
    laptop.watch(T0 + 2 * MIN, "wash-video", 30, 90)
    laptop.take_quiz(T0 + 3 * MIN, "wash-check", "a1", WASH_RIGHT)
    await laptop.sync()
    await look()
    # started = first access (started_at set), in progress, completed (completed_at set).
    assert seen == [
        ("not_started", False, False),
        ("in_progress", True, False),
        ("in_progress", True, False),
        ("completed", True, True),
    ]
    wash = module(await store.learner(ann_id), "safety", "wash")
    assert (wash.started_at, wash.completed_at) == (T0, T0 + 3 * MIN + 3)


async def test_module_progress_is_stored_in_the_database(store: Store, db_url: str) -> None:
    ann_id, laptop = await learner(store, "ann")
    laptop.record(T0, "lesson.opened", course="safety", lesson="wash-read")
    laptop.take_quiz(T0 + MIN, "wash-check", "a1", WASH_RIGHT)
    await laptop.sync()
    before = await store.learner(ann_id)

    # Another server process on the same database, after a restart: the progress is there.
    reopened = Store.for_url(db_url, clock=Clock())
    await reopened.open()
    try:
        after = await reopened.learner(ann_id)
        row = await reopened.engine.fetchrow(
            "SELECT through_seq, state FROM user_state WHERE user_id = ?", ann_id
        )
        feed = await reopened.feed_after(ann_id, 0, 10_000)
    finally:
        await reopened.close()
    assert after == before
    wash = module(after, "safety", "wash")
    assert (wash.status, wash.percent, wash.lessons[0].status) == ("in_progress", 66, "completed")
    assert row is not None and row["through_seq"] == len(feed)
    assert '"safety/wash-read"' in row["state"] and '"safety/wash-check"' in row["state"]
    # The stored state is a cache of the feed, the source of truth: it folds back to it.
    facts = [Fact(e.device_id or "", e.seq or 0, e.hlc, e.at, e.type, e.body) for e in feed]
    made = [Decision(e.user_seq, e.type, e.body, e.at) for e in feed]
    folded = fold(
        [f for f, e in zip(facts, feed, strict=True) if e.origin == "device"],
        [d for d, e in zip(made, feed, strict=True) if e.origin == "server"],
    )
    held = await store.catalog()
    assert canonical(await store.user_state(ann_id), held) == canonical(folded, held)


async def test_module_progress_is_updated_in_real_time_as_learners_interact(
    store: Store,
) -> None:
    """Each interaction is visible in the same commit that acks it: no batch, no delay."""
    ann_id, laptop = await learner(store, "ann")
    video = {"course": "safety", "lesson": "wash-video"}
    attempt = {"course": "safety", "quiz": "wash-check", "attempt": "a1"}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("lesson.opened", {"course": "safety", "lesson": "wash-read"}),
        ("lesson.progressed", {**video, "seconds": 50, "from": 0, "to": 50}),
        ("lesson.progressed", {**video, "seconds": 45, "from": 50, "to": 95}),
        ("quiz.answered", {**attempt, "question": "wq-when", "choices": ["ans-7f3"]}),
        ("quiz.answered", {**attempt, "question": "wq-what", "choices": ["ans-b41", "ans-c9d"]}),
        ("quiz.submitted", attempt),
    ]
    seen = []
    for i, (type_, body) in enumerate(steps):
        laptop.record(T0 + i * MIN, type_, **body)
        result = await store.merge(laptop.device_id, laptop.journal[-1:])
        assert result.acked_seq == i + 1
        wash = module(await store.learner(ann_id), "safety", "wash")
        seen.append((wash.status, wash.percent, wash.lessons[1].seconds, wash.quizzes[0].status))
    assert seen == [
        ("in_progress", 33, 0, "not_started"),
        ("in_progress", 33, 50, "not_started"),
        ("in_progress", 66, 95, "not_started"),
        ("in_progress", 66, 95, "in_progress"),
        ("in_progress", 66, 95, "in_progress"),
        ("completed", 100, 95, "passed"),
    ]


async def test_module_progress_is_accurate_and_consistent_content_viewed_and_assessment_passed(
    store: Store,
) -> None:
    """Module completed = content viewed AND assessment passed (``completion: all``), and
    every device of the learner shows what the server shows."""
    # Content viewed, assessment failed: not completed.
    ann_id, ann_laptop = await learner(store, "ann")
    ann_phone = await Device.new(store, ann_id, "ann-phone")
    ann_laptop.record(T0, "lesson.opened", course="safety", lesson="wash-read")
    ann_laptop.watch(T0 + MIN, "wash-video", 0, 100)
    ann_phone.take_quiz(T0 + 2 * MIN, "wash-check", "a1", WASH_WRONG)
    # Assessment passed, content not all viewed: not completed.
    bob_id, bob_laptop = await learner(store, "bob")
    bob_laptop.take_quiz(T0, "wash-check", "b1", WASH_RIGHT)
    bob_laptop.record(T0 + MIN, "lesson.opened", course="safety", lesson="wash-read")
    for device in (ann_laptop, ann_phone, bob_laptop, ann_laptop):
        await device.sync()

    ann = await store.learner(ann_id)
    bob = await store.learner(bob_id)
    assert (module(ann, "safety", "wash").status, module(ann, "safety", "wash").percent) == (
        "in_progress",
        66,
    )
    assert (module(bob, "safety", "wash").status, module(bob, "safety", "wash").percent) == (
        "in_progress",
        66,
    )
    # Both: completed.
    bob_laptop.watch(T0 + 2 * MIN, "wash-video", 0, 90)
    await bob_laptop.sync()
    bob = await store.learner(bob_id)
    assert (module(bob, "safety", "wash").status, module(bob, "safety", "wash").percent) == (
        "completed",
        100,
    )
    # Consistent: every device of the learner shows exactly what the server shows.
    for device in (ann_laptop, ann_phone):
        await device.sync()
        assert device.view() == ann
    assert bob_laptop.view() == bob
    course = next(c for c in bob.courses if c.id == "safety")
    assert course.status == "in_progress" and 0 <= course.percent < 100
    assert bob.summary.completed_quizzes == 1 and ann.summary.completed_quizzes == 0


# -- two devices, one quiz, one attempt allowed ----------------------------------------------


@pytest.mark.parametrize("first", ["laptop", "phone"])
async def test_two_devices_taking_a_one_attempt_quiz_offline_count_exactly_one_attempt(
    store: Store, first: str
) -> None:
    ann_id, laptop = await learner(store, "ann")
    phone = await Device.new(store, ann_id, "ann-phone")
    laptop.take_quiz(T0, "wash-check", "laptop-1", WASH_WRONG)  # offline, both
    phone.take_quiz(T0 + 30_000, "wash-check", "phone-1", WASH_RIGHT)
    devices = {"laptop": laptop, "phone": phone}
    order = [devices[first], devices["phone" if first == "laptop" else "laptop"]]
    for device in order + order:
        await device.sync()

    scored = await decisions(store, ann_id, "quiz.scored")
    assert sorted(d["attempt"] for d in scored) == ["laptop-1", "phone-1"]
    counted = [d for d in scored if d["counted"]]
    other = [d for d in scored if not d["counted"]]
    assert [d["attempt"] for d in counted] == [f"{first}-1"]
    assert [(d["number"], d["reason"]) for d in other] == [
        (2, "attempt limit reached: 1 counted attempt(s) allowed")
    ]
    server = await store.learner(ann_id)
    for device in (laptop, phone):
        assert device.view() == server
    shown = quiz(server, "wash-check")
    by_id = {a.id: a for a in shown.attempts}
    assert by_id[f"{first}-1"].counted is True and by_id[f"{first}-1"].number == 1
    loser = by_id[other[0]["attempt"]]
    assert (loser.status, loser.counted, loser.reason) == (
        "scored",
        False,
        "attempt limit reached: 1 counted attempt(s) allowed",
    )
    # The phone's answers were right; the quiz is passed only if its attempt was counted.
    assert shown.passed == (first == "phone")
    assert len(await decisions(store, ann_id, "quiz.passed")) == (1 if first == "phone" else 0)


# -- refusals the server records --------------------------------------------------------


def server_time(store: Store, now: int) -> None:
    """Set the store's clock (the server's receipt of what is synced next) to ``now``."""
    assert isinstance(store.clock, Clock)
    store.clock.now = now


async def test_cooldown_counts_an_attempt_after_it_and_not_one_inside_it(store: Store) -> None:
    ann_id, laptop = await learner(store, "ann", plan="premium")
    both = {"gl-1": ["no-b1"], "gl-2": ["no-b2"]}
    laptop.take_quiz(T0, "gloves-last", "a1", both)  # submitted at T0 + 3
    server_time(store, T0 + 10)
    await laptop.sync()
    laptop.take_quiz(T0 + 300_000, "gloves-last", "a2", both)  # 5 minutes later
    laptop.take_quiz(T0 + 600_003, "gloves-last", "a3", both)  # 10 minutes after a1
    server_time(store, T0 + 600_010)  # and both received 10 minutes after a1 was
    await laptop.sync()
    scored = {d["attempt"]: d for d in await decisions(store, ann_id, "quiz.scored")}
    assert (scored["a1"]["counted"], scored["a3"]["counted"]) == (True, True)
    assert (scored["a2"]["counted"], scored["a2"]["reason"]) == (
        False,
        "cool-down: submitted 300 s before attempt 1's 600 s cool-down ended",
    )
    ends = quiz(await store.learner(ann_id), "gloves-last").cooldown_until
    assert ends == scored["a3"]["received"] + 600_000  # its receipt, after its submission


async def test_offline_attempts_synced_together_count_once_inside_a_cooldown(store: Store) -> None:
    """Two attempts an hour apart by the device's clock, synced together: the second is
    kept and scored, not counted (no device clock can prove the wait to the server)."""
    ann_id, laptop = await learner(store, "ann", plan="premium")
    both = {"gl-1": ["no-b1"], "gl-2": ["no-b2"]}
    laptop.take_quiz(T0, "gloves-last", "a1", both)
    laptop.take_quiz(T0 + 3_600_000, "gloves-last", "a2", both)
    server_time(store, T0 + 2 * 3_600_000)
    await laptop.sync()
    scored = {d["attempt"]: d for d in await decisions(store, ann_id, "quiz.scored")}
    assert (scored["a1"]["counted"], scored["a2"]["counted"]) == (True, False)
    assert scored["a2"]["reason"].startswith("cool-down: reached the server ")
    assert laptop.view() == await store.learner(ann_id)


async def test_attempt_limits_are_max_attempts_free_for_free_and_max_attempts_for_premium(
    store: Store,
) -> None:
    answers = {"gl-1": ["no-b1"], "gl-2": ["no-b2"]}
    counted = {}
    for name, plan in (("ann", "free"), ("bob", "premium")):
        user_id, laptop = await learner(store, name, plan)
        for i in range(5):  # an hour apart, each synced at once: no cool-down in the way
            laptop.take_quiz(T0 + i * 3_600_000, "gloves-last", f"a{i}", answers)
            server_time(store, T0 + i * 3_600_000 + 1000)
            await laptop.sync()
        scored = await decisions(store, user_id, "quiz.scored")
        counted[plan] = [d["counted"] for d in scored]
        reasons = {d["reason"] for d in scored if not d["counted"]}
        if plan == "free":
            assert reasons == {
                "attempt limit reached: 2 counted attempt(s) allowed for free learners"
            }
        else:
            assert reasons == {"attempt limit reached: 4 counted attempt(s) allowed"}
        assert quiz(await store.learner(user_id), "gloves-last").attempts_left == 0
    assert counted == {
        "free": [True, True, False, False, False],
        "premium": [True, True, True, True, False],
    }


async def test_enrollment_limit_is_two_active_paths_for_free_learners_and_none_for_premium(
    store: Store,
) -> None:
    for name, plan in (("ann", "free"), ("bob", "premium")):
        user_id, laptop = await learner(store, name, plan)
        for i, path in enumerate(("responder", "helper", "reader")):
            laptop.record(T0 + i, "path.enrolled", path=path)
        await laptop.sync()
        view = await store.learner(user_id)
        statuses = {p.id: (p.status, p.refused) for p in view.paths}
        if plan == "free":
            assert statuses["reader"] == (
                "not_enrolled",
                "enrollment limit reached: free learners may have 2 active enrollment(s); "
                "drop one or upgrade",
            )
            assert view.summary.active_enrollments == 2
        else:
            assert statuses["reader"] == ("enrolled", "")
            assert view.summary.active_enrollments == 3
        assert laptop.view() == view  # the refusal is in the device's feed too


async def test_enrollment_transitions_are_recorded_and_refused_ones_say_why(store: Store) -> None:
    ann_id, laptop = await learner(store, "ann")
    for i, (type_, path) in enumerate(
        [
            ("path.enrolled", "helper"),
            ("path.enrolled", "helper"),  # refused: a duplicate
            ("path.paused", "helper"),
            ("path.enrolled", "helper"),  # refused: paused is still enrolled
            ("path.resumed", "helper"),
            ("path.dropped", "helper"),
            ("path.paused", "helper"),  # refused: dropped
            ("path.resumed", "helper"),  # refused: a dropped path is enrolled again, not resumed
            ("path.enrolled", "helper"),
        ]
    ):
        laptop.record(T0 + i * MIN, type_, path=path)
    await laptop.sync()
    helper = next(p for p in (await store.learner(ann_id)).paths if p.id == "helper")
    assert [(t.from_, t.to) for t in helper.history] == [
        (None, "enrolled"),
        ("enrolled", "paused"),
        ("paused", "enrolled"),
        ("enrolled", "dropped"),
        ("dropped", "enrolled"),
    ]
    assert [
        (d["action"], d["reason"]) for d in await decisions(store, ann_id, "enrollment.refused")
    ] == [
        ("enroll", "already enrolled in 'helper' (enrolled)"),
        ("enroll", "already enrolled in 'helper' (paused)"),
        ("pause", "an enrollment cannot go from dropped to paused"),
        ("resume", "an enrollment cannot go from dropped to in_progress"),
    ]
    # Content done: in progress, then completed; a completed path refuses to be dropped.
    laptop.record(T0 + 20 * MIN, "lesson.opened", course="extra", lesson="extra-read")
    laptop.record(T0 + 21 * MIN, "lesson.completed", course="extra", lesson="extra-read")
    laptop.record(T0 + 22 * MIN, "path.dropped", path="helper")
    await laptop.sync()
    helper = next(p for p in (await store.learner(ann_id)).paths if p.id == "helper")
    assert [t.to for t in helper.history][-2:] == ["in_progress", "completed"]
    assert (helper.status, helper.percent, helper.refused) == (
        "completed",
        100,
        "an enrollment cannot go from completed to dropped",
    )
    unlocked = [d["milestone"] for d in await decisions(store, ann_id, "milestone.unlocked")]
    assert unlocked == ["hp-extra", "hp-extra"]  # once per enrollment


async def test_an_instructor_grade_is_recorded_and_a_bad_one_refused(store: Store) -> None:
    ann_id, laptop = await learner(store, "ann")
    with pytest.raises(BadRequest, match="nothing was submitted for this assignment"):
        await store.grade_assignment(
            ann_id, "safety", "incident", score=5, feedback="", graded_by="ivy"
        )
    laptop.record(T0, "assignment.submitted", course="safety", assignment="incident", text="report")
    await laptop.sync()
    with pytest.raises(BadRequest, match="score must be between 0 and 10"):
        await store.grade_assignment(
            ann_id, "safety", "incident", score=12, feedback="", graded_by="ivy"
        )
    made = await store.grade_assignment(
        ann_id, "safety", "incident", score=8, feedback="clear", graded_by="ivy"
    )
    assert [d.type for d in made] == ["assignment.graded"]
    await laptop.sync()
    report = module(await store.learner(ann_id), "safety", "report")
    assert (report.status, report.assignments[0].feedback) == ("completed", "clear")
    assert laptop.view() == await store.learner(ann_id)


# -- catalog changes recompute only the learners they affect ---------------------------------


def changed(catalog: Catalog, quiz_id: str | None = None, **quiz_changes: Any) -> Catalog:
    """``catalog`` with a quiz of course ``safety`` changed."""

    def fix(q: Quiz) -> Quiz:
        return msgspec.structs.replace(q, **quiz_changes) if q.id == quiz_id else q

    courses = [
        msgspec.structs.replace(
            c,
            modules=[
                msgspec.structs.replace(m, quizzes=[fix(q) for q in m.quizzes]) for m in c.modules
            ],
        )
        for c in catalog.courses
    ]
    return msgspec.structs.replace(catalog, courses=courses)


def with_lesson(catalog: Catalog, course_id: str, module_id: str, lesson: Lesson) -> Catalog:
    courses = [
        msgspec.structs.replace(
            c,
            modules=[
                msgspec.structs.replace(m, lessons=[*m.lessons, lesson])
                if (c.id, m.id) == (course_id, module_id)
                else m
                for m in c.modules
            ],
        )
        for c in catalog.courses
    ]
    return msgspec.structs.replace(catalog, courses=courses)


async def updated_at(store: Store, user_id: str) -> tuple[int, int]:
    row = await store.engine.fetchrow(
        "SELECT updated_at, through_seq FROM user_state WHERE user_id = ?", user_id
    )
    assert row is not None
    return int(row["updated_at"]), int(row["through_seq"])


def percents(view: LearnerView) -> list[int]:
    return [
        *(c.percent for c in view.courses),
        *(m.percent for c in view.courses for m in c.modules),
        *(p.percent for p in view.paths),
        *(c.level for c in view.competencies),
    ]


async def test_a_catalog_change_recomputes_only_the_learners_it_affects(store: Store) -> None:
    ann_id, ann_laptop = await learner(store, "ann")
    bob_id, bob_laptop = await learner(store, "bob")
    # Ann: course safety. Her counted attempt scores 1/3 and fails at 0.7.
    ann_laptop.record(T0, "path.enrolled", path="responder")
    ann_laptop.record(T0 + 1, "lesson.opened", course="safety", lesson="wash-read")
    ann_laptop.watch(T0 + 2, "wash-video", 0, 100)
    ann_laptop.take_quiz(
        T0 + MIN, "wash-check", "a1", {"wq-when": ["ans-7f3"], "wq-what": ["no-a2"]}
    )
    await ann_laptop.sync()
    # Bob: course triage only.
    bob_laptop.record(T0, "lesson.completed", course="triage", lesson="triage-read")
    await bob_laptop.sync()
    assert not quiz(await store.learner(ann_id), "wash-check").passed
    bob_before = await updated_at(store, bob_id)

    # The quiz's passing score is lowered: Ann's earlier failed-but-counted attempt passes.
    lowered = changed(CAT, "wash-check", passing_score=0.3)
    await store.load_catalog(lowered)
    assert store.last_recomputed == [ann_id]
    assert await updated_at(store, bob_id) == bob_before
    ann = await store.learner(ann_id)
    assert quiz(ann, "wash-check").passed and module(ann, "safety", "wash").status == "completed"
    passed = await decisions(store, ann_id, "quiz.passed")
    assert [(d["quiz"], d["score"]) for d in passed] == [("wash-check", 0.3333)]
    assert [m.status for m in ann.paths[0].milestones] == ["completed", "available", "locked"]
    await ann_laptop.sync()
    ann_laptop.catalog = public_catalog(lowered)  # the device receives the new catalog
    assert ann_laptop.view() == ann

    # A lesson is added to the module: its completion drops, the recorded decisions stay.
    grown = with_lesson(lowered, "safety", "wash", Lesson("wash-new", completion="manual"))
    await store.load_catalog(grown)
    assert store.last_recomputed == [ann_id]
    assert await updated_at(store, bob_id) == bob_before
    ann = await store.learner(ann_id)
    wash = module(ann, "safety", "wash")
    assert (wash.status, wash.percent) == ("in_progress", 75)
    assert quiz(ann, "wash-check").passed  # a recorded pass is not revoked
    assert ann.paths[0].milestones[0].status == "completed"  # nor a completed milestone
    assert all(0 <= p <= 100 for p in percents(ann) + percents(await store.learner(bob_id)))

    # A raised passing score revokes nothing either.
    raised = changed(grown, "wash-check", passing_score=1.0)
    await store.load_catalog(raised)
    assert store.last_recomputed == [ann_id]
    assert quiz(await store.learner(ann_id), "wash-check").passed
    assert len(await decisions(store, ann_id, "quiz.passed")) == 1

    # A change to a course nobody touched recomputes nobody.
    untouched = with_lesson(raised, "extra", "solo", Lesson("extra-new"))
    await store.load_catalog(untouched)
    assert store.last_recomputed == []
    assert await updated_at(store, bob_id) == bob_before


async def test_a_competency_change_recomputes_the_learners_of_its_evidence(store: Store) -> None:
    ann_id, ann_laptop = await learner(store, "ann")
    bob_id, bob_laptop = await learner(store, "bob")
    # hygiene (mastery 100): evidence is quiz wash-check and assignment incident (safety).
    ann_laptop.take_quiz(T0, "wash-check", "a1", WASH_RIGHT)
    await ann_laptop.sync()
    bob_laptop.record(T0, "lesson.opened", course="triage", lesson="triage-read")
    await bob_laptop.sync()
    hygiene = {c.id: c for c in (await store.learner(ann_id)).competencies}["hygiene"]
    assert (hygiene.level, hygiene.status) == (50, "in_progress")
    bob_before = await updated_at(store, bob_id)
    easier = msgspec.structs.replace(
        CAT,
        competencies=[
            msgspec.structs.replace(c, mastery=50) if c.id == "hygiene" else c
            for c in CAT.competencies
        ],
    )
    await store.load_catalog(easier)
    assert store.last_recomputed == [ann_id]
    assert await updated_at(store, bob_id) == bob_before
    acquired = await decisions(store, ann_id, "competency.acquired")
    assert [(d["competency"], d["level"]) for d in acquired] == [("hygiene", 50)]
    hygiene = {c.id: c for c in (await store.learner(ann_id)).competencies}["hygiene"]
    assert hygiene.status == "mastered"
