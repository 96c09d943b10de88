"""Acceptance: facts converge. Several devices of one learner record offline with skewed
clocks and sync in random interleavings, with duplicated pushes, lost acks, partitions and
journals restored from backups; afterwards the server and every device show the same state,
and no second of time is lost or counted twice. With the learning domain's events
(quizzes, assignments, paths, milestones, resets), every server decision is made exactly
once and every device shows it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.storage.store import Store
from sync.catalog import parse_catalog, public_catalog
from sync.events import Event
from sync.hlc import HybridClock
from sync.merge.fold import Decision, Fact, fold
from sync.merge.horizon import canonical
from sync.views import learner_view, progress_view
from tests.conftest import CATALOG

CAT = parse_catalog(CATALOG.read_text(), "yaml")
T0 = 1_763_790_000_000
_names = itertools.count()


@dataclass
class SimDevice:
    """A device as the client keeps it: its journal, what it knows was acked, its feed."""

    device_id: str
    skew_ms: int
    clock: HybridClock = field(default_factory=HybridClock)
    journal: list[Event] = field(default_factory=list)
    acked: int = 0
    cursor: int = 0
    feed: dict[int, Any] = field(default_factory=dict)
    backup: tuple[int, int, dict[int, Any]] | None = None

    def record(self, now: int, type_: str, body: dict[str, Any]) -> None:
        at = now + self.skew_ms
        self.journal.append(Event(len(self.journal) + 1, self.clock.tick(at), at, type_, body))

    def view(self) -> Any:
        """What the client shows: feed facts plus own events the feed has not yet settled."""
        seen = {(e.device_id, e.seq) for e in self.feed.values() if e.origin == "device"}
        seen |= {
            (e.body["device_id"], e.body["seq"])
            for e in self.feed.values()
            if e.type == "event.rejected"
        }
        facts = [
            Fact(e.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.feed.values()
            if e.origin == "device"
        ]
        facts += [
            Fact(self.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.journal
            if (self.device_id, e.seq) not in seen
        ]
        return progress_view(fold(facts), CAT)


lessons = st.sampled_from(["read", "intro", "video", "lab"])
facts = st.one_of(
    st.tuples(st.just("lesson.opened"), lessons, st.just({})),
    st.tuples(st.just("lesson.completed"), lessons, st.just({})),
    st.tuples(st.just("lesson.uncompleted"), lessons, st.just({})),
    st.tuples(
        st.just("lesson.progressed"),
        lessons,
        st.builds(
            lambda s, a, b: {"seconds": s} | ({"from": a, "to": a + b} if b else {}),
            st.integers(0, 300),
            st.integers(0, 150),
            st.integers(0, 50),
        ),
    ),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(0, 3), facts),
        st.tuples(
            st.just("sync"),
            st.integers(0, 3),
            st.fixed_dictionaries(
                {"drop_ack": st.booleans(), "dup": st.booleans(), "pull": st.booleans()}
            ),
        ),
        st.tuples(st.just("backup"), st.integers(0, 3), st.none()),
        st.tuples(st.just("restore"), st.integers(0, 3), st.none()),
    ),
    min_size=5,
    max_size=60,
)


async def sync(
    store: Store, user_id: str, dev: SimDevice, drop_ack: bool, dup: bool, pull: bool
) -> None:
    pending = [e for e in dev.journal if e.seq > dev.acked]
    for start in range(0, len(pending), 7):
        batch = pending[start : start + 7]
        result = await store.merge(dev.device_id, batch)
        if dup:
            await store.merge(dev.device_id, batch)  # a retransmitted frame
        if not drop_ack:
            dev.acked = result.acked_seq
    if pull:
        for entry in await store.feed_after(user_id, dev.cursor, 1000):
            dev.feed[entry.user_seq] = entry
            dev.clock.observe(entry.hlc, T0)
        dev.cursor = max(dev.feed, default=0)


async def reconnect(store: Store, dev: SimDevice) -> None:
    """The handshake tells the device the highest seq of its own that the server holds."""
    device = await store.device_by_id(dev.device_id)
    assert device is not None
    dev.acked = device.acked_seq


async def scenario(store: Store, script: list[tuple[str, int, Any]], skews: list[int]) -> None:
    user = await store.create_user(f"u{next(_names)}", "pw")
    devices = []
    for skew in skews:
        device, _ = await store.register_device(user.id, "d")
        devices.append(SimDevice(device.id, skew))
    now = T0
    for action, index, arg in script:
        dev = devices[index % len(devices)]
        now += 1000
        match action:
            case "record":
                type_, lesson, extra = arg
                dev.record(now, type_, {"course": "c1", "lesson": lesson, **extra})
            case "sync":
                await reconnect(store, dev)
                await sync(store, user.id, dev, **arg)
            case "backup":
                dev.backup = (dev.acked, dev.cursor, dict(dev.feed))
            case "restore" if dev.backup is not None:
                dev.acked, dev.cursor, dev.feed = dev.backup[0], dev.backup[1], dict(dev.backup[2])
    for dev in devices + devices:  # everyone comes online at the end, twice round
        await reconnect(store, dev)
        await sync(store, user.id, dev, drop_ack=False, dup=False, pull=True)

    server_state = await store.user_state(user.id)
    feed = await store.feed_after(user.id, 0, 100_000)
    assert await store.verify(user.id) == []  # every cache (awards, scopes) is the feed's
    # The same fold, however far the merge summed the evidence below the horizon.
    assert canonical(server_state, CAT) == canonical(
        fold(
            [
                Fact(e.device_id, e.seq, e.hlc, e.at, e.type, e.body)
                for e in feed
                if e.origin == "device"
            ]
        ),
        CAT,
    )
    expected = progress_view(server_state, CAT)
    for dev in devices:
        assert dev.view() == expected
    rejected = {(e.body["device_id"], e.body["seq"]) for e in feed if e.type == "event.rejected"}
    recorded = sum(
        e.body.get("seconds", 0)
        for d in devices
        for e in d.journal
        if e.type == "lesson.progressed" and (d.device_id, e.seq) not in rejected
    )
    assert sum(x.seconds for x in server_state.lessons.values()) == recorded
    # every recorded event is settled exactly once: accepted into the feed or rejected
    settled = [e for e in feed if e.origin == "device" or e.type == "event.rejected"]
    assert len(settled) == sum(len(d.journal) for d in devices)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=steps, skews=st.lists(st.integers(-3_600_000, 3_600_000), min_size=3, max_size=4))
def test_every_device_and_the_server_converge(db_url: str, script, skews) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        store = Store.for_url(db_url)
        await store.open()
        await store.load_catalog(CAT)
        try:
            await scenario(store, script, skews)
        finally:
            await store.close()

    asyncio.run(run())


def test_concurrent_offline_edits_lose_nothing_in_either_order(db_url: str) -> None:
    """Device A spends 100 s and completes offline, B spends 50 s; both sync, either order."""

    async def run(order: list[int]) -> None:
        store = Store.for_url(db_url)
        await store.open()
        await store.load_catalog(CAT)
        user = await store.create_user(f"u{next(_names)}", "pw")
        a = SimDevice((await store.register_device(user.id, "a"))[0].id, 0)
        b = SimDevice((await store.register_device(user.id, "b"))[0].id, 5000)
        body = {"course": "c1", "lesson": "read"}
        a.record(T0, "lesson.progressed", body | {"seconds": 100})
        a.record(T0 + 1, "lesson.completed", body)
        b.record(T0, "lesson.progressed", body | {"seconds": 50})
        pair = [a, b]
        for i in order + order:
            await sync(store, user.id, pair[i], drop_ack=False, dup=False, pull=True)
        for dev in pair:
            lesson = dev.view()[0].modules[0].lessons[0]
            assert (lesson.status, lesson.seconds) == ("completed", 150)
        await store.close()

    asyncio.run(run([0, 1]))
    asyncio.run(run([1, 0]))


# -- the learning domain: facts converge, decisions are made once ----------------------------

LEARN = parse_catalog((CATALOG.parent / "learning_acceptance.yaml").read_text(), "yaml")
LEARN_PUBLIC = public_catalog(LEARN)
QUIZZES = ["wash-check", "gloves-last", "gloves-average"]
PATHS = ["responder", "helper", "reader"]
MILESTONES = [(p.id, m.id) for p in LEARN.paths for m in p.milestones]
LESSONS = [
    (course.id, lesson.id)
    for course in LEARN.courses
    for m in course.modules
    for lesson in m.lessons
]


class LearningDevice(SimDevice):
    """A device whose view is the whole learner view: the fold of the feed's facts and its
    own unsynced events, plus the feed's decisions, over the public catalog."""

    plan: str = "free"

    def learner(self) -> Any:
        seen = {(e.device_id, e.seq) for e in self.feed.values() if e.origin == "device"}
        facts = [
            Fact(e.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.feed.values()
            if e.origin == "device"
        ]
        facts += [
            Fact(self.device_id, e.seq, e.hlc, e.at, e.type, e.body)
            for e in self.journal
            if (self.device_id, e.seq) not in seen
        ]
        decisions = [
            Decision(e.user_seq, e.type, e.body, e.at)
            for e in self.feed.values()
            if e.origin == "server"
        ]
        return learner_view(fold(facts, decisions), LEARN_PUBLIC, self.plan)


def quiz_body(index: int, quiz: str, attempt: int) -> dict[str, Any]:
    # Attempt ids are made by the device: unique per learner without coordination.
    return {"course": "safety", "quiz": quiz, "attempt": f"dev{index}-{attempt}"}


def learning_events(
    index: int, kind: str, args: tuple[Any, ...]
) -> list[tuple[str, dict[str, Any]]]:
    """``(type, body)`` of the events of one generated step on device ``index``."""
    match kind, args:
        case "lesson", (type_, (course, lesson), seconds):
            extra = {"seconds": seconds} if type_ == "lesson.progressed" else {}
            return [(type_, {"course": course, "lesson": lesson, **extra})]
        case "quiz.take", (quiz_id, attempt, rights, submit):
            # A whole attempt: started, each question answered right or wrong, submitted.
            quiz = LEARN.quiz("safety", quiz_id)
            assert quiz is not None
            base = quiz_body(index, quiz_id, attempt)
            events = [("quiz.started", base)]
            for question, right in zip(quiz.questions, rights, strict=False):
                wrong = next(c.id for c in question.choices if c.id not in question.correct)
                picked = sorted(question.correct) if right else [wrong]
                events.append(
                    ("quiz.answered", base | {"question": question.id, "choices": picked})
                )
            return events + ([("quiz.submitted", base)] if submit else [])
        case "quiz.answered", (quiz_id, attempt, question, right):
            quiz = LEARN.quiz("safety", quiz_id)
            assert quiz is not None
            q = quiz.questions[question % len(quiz.questions)]
            picked = sorted(q.correct) if right else [q.choices[-1].id]
            body = quiz_body(index, quiz_id, attempt) | {"question": q.id, "choices": picked}
            return [(kind, body)]
        case "quiz.submitted", (quiz_id, attempt):
            return [(kind, quiz_body(index, quiz_id, attempt))]
        case "assignment.saved" | "assignment.submitted", (text,):
            return [(kind, {"course": "safety", "assignment": "incident", "text": text})]
        case "path", (path, types):
            return [(type_, {"path": path}) for type_ in types]
        case "milestone", (type_, (path, milestone)):
            return [(type_, {"path": path, "milestone": milestone})]
        case "course.reset", (course,):
            return [(kind, {"course": course})]
    raise AssertionError((kind, args))


attempts = st.integers(0, 2)
quiz_takes = st.tuples(
    st.just("quiz.take"),
    st.tuples(
        st.sampled_from(QUIZZES),
        attempts,
        st.tuples(st.booleans(), st.booleans()),
        st.booleans() | st.just(True),
    ),
)
# A burst of enrollment changes to one path: the transitions, limits and re-enrollments.
path_changes = st.tuples(
    st.just("path"),
    st.tuples(
        st.sampled_from(["responder", "responder", "helper", "reader"]),
        st.lists(
            st.sampled_from(
                ["path.enrolled", "path.enrolled", "path.paused", "path.resumed", "path.dropped"]
            ),
            min_size=1,
            max_size=4,
        ),
    ),
)
milestone_changes = st.tuples(
    st.just("milestone"),
    st.tuples(
        st.sampled_from(["milestone.started", "milestone.completed", "milestone.reset"]),
        st.sampled_from(MILESTONES),
    ),
)
lesson_facts = st.tuples(
    st.just("lesson"),
    st.tuples(
        st.sampled_from(["lesson.opened", "lesson.completed", "lesson.progressed"]),
        st.sampled_from(LESSONS),
        st.integers(0, 120),
    ),
)
# Weighted by repetition (st.one_of favours its first branches and merges equal ones).
learning_facts = st.sampled_from(
    [
        lesson_facts,
        lesson_facts,
        quiz_takes,
        quiz_takes,
        quiz_takes,
        st.tuples(
            st.just("quiz.answered"),
            st.tuples(st.sampled_from(QUIZZES), attempts, st.integers(0, 1), st.booleans()),
        ),
        st.tuples(st.just("quiz.submitted"), st.tuples(st.sampled_from(QUIZZES), attempts)),
        st.tuples(
            st.sampled_from(["assignment.saved", "assignment.submitted"]),
            st.tuples(st.sampled_from(["draft", "final"])),
        ),
        path_changes,
        path_changes,
        path_changes,
        milestone_changes,
        milestone_changes,
        st.tuples(st.just("course.reset"), st.tuples(st.sampled_from(["safety", "triage"]))),
    ]
).flatmap(lambda strategy: strategy)
recording = st.tuples(st.just("record"), st.integers(0, 2), learning_facts)
learning_steps = st.lists(
    st.sampled_from(
        [
            recording,
            recording,
            recording,
            recording,
            st.tuples(
                st.just("sync"),
                st.integers(0, 2),
                st.fixed_dictionaries(
                    {"drop_ack": st.booleans(), "dup": st.booleans(), "pull": st.booleans()}
                ),
            ),
            st.tuples(
                st.just("sync"),
                st.integers(0, 2),
                st.just({"drop_ack": False, "dup": False, "pull": True}),
            ),
            st.tuples(st.just("wait"), st.integers(0, 2), st.integers(1, 15)),
            st.tuples(st.just("backup"), st.integers(0, 2), st.none()),
            st.tuples(st.just("restore"), st.integers(0, 2), st.none()),
        ]
    ).flatmap(lambda strategy: strategy),
    min_size=15,
    max_size=60,
)


async def learning_scenario(
    store: Store, script: list[tuple[str, int, Any]], skews: list[int], plan: str
) -> None:
    user = await store.create_user(f"u{next(_names)}", "pw", plan=plan)
    devices = []
    for skew in skews:
        device, _ = await store.register_device(user.id, "d")
        devices.append(LearningDevice(device.id, skew))
        devices[-1].plan = plan
    now = T0
    for action, index, arg in script:
        dev = devices[index % len(devices)]
        now += 1000
        match action:
            case "record":
                for type_, body in learning_events(index % len(devices), *arg):
                    dev.record(now, type_, body)
            case "sync":
                await reconnect(store, dev)
                await sync(store, user.id, dev, **arg)
            case "wait":
                now += arg * 60_000  # minutes pass: cool-downs end
            case "backup":
                dev.backup = (dev.acked, dev.cursor, dict(dev.feed))
            case "restore" if dev.backup is not None:
                dev.acked, dev.cursor, dev.feed = dev.backup[0], dev.backup[1], dict(dev.backup[2])
    for dev in devices + devices:
        await reconnect(store, dev)
        await sync(store, user.id, dev, drop_ack=False, dup=False, pull=True)

    feed = await store.feed_after(user.id, 0, 100_000)
    facts = [e for e in feed if e.origin == "device"]
    made = [e for e in feed if e.origin == "server"]
    server_state = await store.user_state(user.id)
    assert canonical(server_state, LEARN) == canonical(
        fold(
            [Fact(e.device_id or "", e.seq or 0, e.hlc, e.at, e.type, e.body) for e in facts],
            [Decision(e.user_seq, e.type, e.body, e.at) for e in made],
        ),
        LEARN,
    )
    expected = learner_view(server_state, LEARN, plan)
    assert expected == await store.learner(user.id)
    assert await store.verify(user.id) == []
    for dev in devices:
        assert dev.learner() == expected

    # Every recorded event is settled exactly once: accepted into the feed or rejected.
    rejected = [e for e in made if e.type == "event.rejected"]
    assert rejected == [] and len(facts) == sum(len(d.journal) for d in devices)

    # Each submitted attempt is scored exactly once, numbered in server order per quiz, and
    # no more attempts count than the plan allows.
    submitted = {(e.body["quiz"], e.body["attempt"]) for e in facts if e.type == "quiz.submitted"}
    scored = [e.body for e in made if e.type == "quiz.scored"]
    assert sorted((b["quiz"], b["attempt"]) for b in scored) == sorted(submitted)
    for quiz_id in QUIZZES:
        mine = [b for b in scored if b["quiz"] == quiz_id]
        assert [b["number"] for b in mine] == list(range(1, len(mine) + 1))
        quiz = LEARN.quiz("safety", quiz_id)
        assert quiz is not None
        allowed = quiz.attempts_allowed(plan)
        counted = sum(1 for b in mine if b["counted"])
        assert allowed is None or counted <= allowed
        assert all(b["reason"] for b in mine if not b["counted"])
    passes = [e.body["quiz"] for e in made if e.type == "quiz.passed"]
    assert len(passes) == len(set(passes))
    acquired = [e.body["competency"] for e in made if e.type == "competency.acquired"]
    assert len(acquired) == len(set(acquired))

    # No milestone is unlocked twice within one enrollment (a new one starts when a path is
    # enrolled from scratch or after a drop).
    unlocked: set[tuple[str, str]] = set()
    for e in made:
        restart = e.type == "enrollment.changed" and e.body["to"] == "enrolled"
        if restart and e.body["from"] in (None, "dropped"):
            unlocked = {u for u in unlocked if u[0] != e.body["path"]}
        if e.type == "milestone.unlocked":
            key = (e.body["path"], e.body["milestone"])
            assert key not in unlocked, f"{key} unlocked twice in one enrollment"
            unlocked.add(key)
    assert all(0 <= p.percent <= 100 for p in expected.paths)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    script=learning_steps,
    skews=st.lists(st.integers(-3_600_000, 3_600_000), min_size=2, max_size=3),
    plan=st.sampled_from(["free", "premium"]),
)
def test_learning_decisions_are_made_once_and_every_device_converges(  # type: ignore[no-untyped-def]
    db_url: str, script, skews, plan
) -> None:
    async def run() -> None:
        store = Store.for_url(db_url)
        await store.open()
        await store.load_catalog(LEARN)
        try:
            await learning_scenario(store, script, skews, plan)
        finally:
            await store.close()

    asyncio.run(run())
