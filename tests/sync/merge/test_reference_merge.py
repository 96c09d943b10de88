"""The live merge (``sync.merge.batch``) against the frozen reference (``tests.reference``).

The fold's state representation is being rewritten; whatever it becomes, the server must
give exactly what today's fold gives. Hypothesis draws one learner's history: 2-3 devices,
each with its own journal (lessons opened, progressed with seconds, video segments and
positions, completed and uncompleted; course and milestone resets; quiz attempts; path
and milestone actions; assignments; a few events the server must reject), then a schedule
of pushes (interleaved across devices, in batches, with resends below the watermark and
gaps filled later), catalog changes (reviewed and settled as the store does) and grades.
Both implementations run the same schedule; every step must give the same entries (types,
bodies, stamps), outbox events, watermarks and counts, and the same learner and
gamification views; at the end, a device's fold of the whole feed must agree too.

Only :data:`LIVE` names the live API: when the rewrite changes a signature, adapt it there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sync.gamify
import sync.merge.batch
import sync.merge.decide
import sync.merge.fold
import sync.merge.horizon
import sync.views
import tests.reference.decide
import tests.reference.fold
import tests.reference.gamify
import tests.reference.merge
import tests.reference.views
from sync.catalog import Catalog, parse_catalog
from sync.events import CLOCK_SKEW_MS, Event
from sync.hlc import ZERO, format_hlc
from tests.sync.test_gamify import DAY, SECRET, T0, TZ

HOUR = 3_600_000

CATALOG_V1 = """
competencies:
  - {id: basics, name: Basics, mastery: 100}
  - {id: media, name: Media, mastery: 50}
courses:
  - id: c1
    title: Course one
    competencies: [media]
    modules:
      - id: m1
        lessons:
          - {id: l1, completion: manual}
          - {id: l2, completion: viewed}
        quizzes:
          - id: q1
            passing_score: 1.0
            max_attempts_free: 2
            cooldown_seconds: 60
            questions:
              - {id: x1, choices: [{id: a}, {id: b}], answer: a}
              - {id: x2, choices: [{id: a}, {id: b}], answer: b}
      - id: m2
        completion: any
        lessons:
          - {id: v1, kind: video, duration: 100, completion: "watched:80", competencies: [media]}
          - {id: t1, kind: activity, completion: "time:120"}
  - id: c2
    title: Course two
    objectives:
      - {id: o1, lessons: [k1], competency: basics}
    modules:
      - id: n1
        lessons: [{id: k1, completion: viewed, competencies: [basics]}]
        assignments: [{id: h1, competencies: [basics]}]
paths:
  - id: p1
    title: Path one
    milestones:
      - {id: s1, course: c1, module: m1}
      - {id: s2, course: c1, module: m2, order: 1}
      - {id: s3, course: c2, order: 2}
  - id: p2
    title: Path two
    milestones: [{id: r1, course: c2}]
gamification:
  levels: [0, 20, 60]
  points: {lesson_completed: 5}
  badges:
    - {id: first-steps, name: First steps, points: 10, criteria: {lessons_completed: 1}}
    - id: scholar
      criteria: {all: [{lessons_completed: 3}, {quizzes_passed: 1}]}
    - id: finisher
      criteria: {any: [{course_completed: c1}, {path_completed: p1}]}
    - {id: streaker, criteria: {streak: 2}}
"""

# Every kind of catalog change at once: a lower pass mark and more attempts, a lesson
# removed (l2) and one added (l4), a longer video with a lower threshold, a shorter time
# rule, a module rule, a milestone removed, a lower mastery, new points and a new badge.
CATALOG_V2 = """
competencies:
  - {id: basics, name: Basics, mastery: 60}
  - {id: media, name: Media, mastery: 50}
courses:
  - id: c1
    title: Course one
    competencies: [media]
    modules:
      - id: m1
        lessons:
          - {id: l1, completion: manual}
          - {id: l4, completion: manual}
        quizzes:
          - id: q1
            passing_score: 0.5
            max_attempts_free: 3
            cooldown_seconds: 60
            questions:
              - {id: x1, choices: [{id: a}, {id: b}], answer: a}
              - {id: x2, choices: [{id: a}, {id: b}], answer: b}
      - id: m2
        lessons:
          - {id: v1, kind: video, duration: 120, completion: "watched:50", competencies: [media]}
          - {id: t1, kind: activity, completion: "time:60"}
  - id: c2
    title: Course two
    objectives:
      - {id: o1, lessons: [k1], competency: basics}
    modules:
      - id: n1
        lessons: [{id: k1, completion: viewed, competencies: [basics]}]
        assignments: [{id: h1, competencies: [basics]}]
paths:
  - id: p1
    title: Path one
    milestones:
      - {id: s1, course: c1, module: m1}
      - {id: s2, course: c1, module: m2, order: 1}
  - id: p2
    title: Path two
    milestones: [{id: r1, course: c2}]
gamification:
  levels: [0, 15, 40]
  points: {lesson_completed: 7, module_completed: 30}
  badges:
    - {id: first-steps, name: First steps, points: 10, criteria: {lessons_completed: 1}}
    - id: scholar
      criteria: {all: [{lessons_completed: 3}, {quizzes_passed: 1}]}
    - id: finisher
      criteria: {any: [{course_completed: c1}, {path_completed: p1}]}
    - {id: streaker, criteria: {streak: 2}}
    - {id: master, points: 5, criteria: {competencies_mastered: 1}}
"""

CATALOGS = (parse_catalog(CATALOG_V1, "yaml"), parse_catalog(CATALOG_V2, "yaml"))
USER = "u1"

# ("c1", "l4") exists only in v2 and ("c1", "l2") only in v1: either is rejected under the
# other catalog. "c9" exists in neither.
LESSONS = [("c1", "l1"), ("c1", "l2"), ("c1", "l4"), ("c1", "v1"), ("c1", "t1"), ("c2", "k1")]
MILESTONES = [("p1", "s1"), ("p1", "s2"), ("p1", "s3"), ("p2", "r1")]


# -- the two implementations -------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """One implementation of the server's merge, review, grade and views."""

    new_learner: Callable[[str, str], Any]
    """``(timezone, plan) -> Learner`` with an empty state."""
    merge: Callable[..., Any]
    settle: Callable[..., Any]
    review: Callable[..., Any]
    grade: Callable[..., Any]
    context: Callable[[Catalog, str], Any]
    rules_for: Callable[[Catalog], Any]
    learner_view: Callable[[Any, Catalog, str], Any]
    gamify_view: Callable[..., Any]
    make_code: Callable[[str, str], str]
    rebuild: Callable[[Sequence[tuple[int, Any]]], Any]
    """The device's fold of a feed (``(user_seq, entry)``): a fresh state."""
    before_push: Callable[[Server], None] = lambda server: None
    """What the store gives the merge besides the learner's state (the settled horizon)."""
    after_catalog: Callable[[Server, Catalog], None] = lambda server, catalog: None
    """What the store does to a learner's state after a catalog change (a refold)."""
    outbox: Callable[[Sequence[Any]], Any] = msgspec.to_builtins
    """The domain events as compared (the live ones narrowed to the frozen names)."""


def _by_version(rules_for: Callable[[Catalog], Any]) -> Callable[[Catalog], Any]:
    """``rules_for`` cached per catalog version, as the store does (Store.rules)."""
    cache: dict[str, Any] = {}

    def rules(catalog: Catalog) -> Any:
        if catalog.version not in cache:
            cache[catalog.version] = rules_for(catalog)
        return cache[catalog.version]

    return rules


def _live_rebuild(feed: Sequence[tuple[int, Any]]) -> Any:
    facts, decisions = [], []
    for user_seq, entry in feed:
        if isinstance(entry, sync.merge.batch.DeviceEntry):
            e = entry.event
            facts.append(sync.merge.fold.Fact(entry.device_id, e.seq, e.hlc, e.at, e.type, e.body))
        else:
            decisions.append(sync.merge.fold.Decision(user_seq, entry.type, entry.body, entry.at))
    return sync.merge.fold.fold(facts, decisions)


def _frozen_rebuild(feed: Sequence[tuple[int, Any]]) -> Any:
    ref = tests.reference
    facts, decisions = [], []
    for user_seq, entry in feed:
        if isinstance(entry, ref.merge.DeviceEntry):
            e = entry.event
            facts.append(ref.fold.Fact(entry.device_id, e.seq, e.hlc, e.at, e.type, e.body))
        else:
            decisions.append(ref.fold.Decision(user_seq, entry.type, entry.body, entry.at))
    return ref.fold.fold(facts, decisions)


def _live_horizon(server: Server) -> None:
    """As the store computes it: the lowest last-synced HLC over the learner's devices, all
    registered before any event (so a device that has not pushed yet holds it at zero)."""
    marks = [server.marks.get(name, ZERO) for name in server.devices]
    server.learner.horizon = min(marks, default=ZERO)


def _live_refold(server: Server, catalog: Catalog) -> None:
    """As the store does: a state summed under a rule the catalog changed is folded again."""
    state = server.learner.state
    if sync.merge.horizon.needs_refold(state, catalog):
        server.refolds += 1
        fresh = _live_rebuild(server.feed)
        fresh.settled = state.settled
        server.learner.state = fresh


# Issue 14 renamed four outbox types to the event catalog's names and added events the
# frozen outbox never derived (sync.event_catalog): deliberate, so the comparison narrows
# the live events to what the frozen outbox knew, under its names.
_FROZEN_NAMES = {
    "progress.assessment.completed": "progress.quiz.scored",
    "progress.assessment.passed": "progress.quiz.passed",
    "progress.assessment.failed": "progress.quiz.failed",
    "progress.enrollment.created": "progress.enrollment.changed",
    "progress.enrollment.status_changed": "progress.enrollment.changed",
}
_NEW_IN_ISSUE_14 = frozenset({"progress.assessment.started", "progress.enrollment.completed"})


def _live_outbox(events: Sequence[Any]) -> Any:
    return msgspec.to_builtins(
        [
            msgspec.structs.replace(e, type=_FROZEN_NAMES.get(e.type, e.type))
            for e in events
            if e.type not in _NEW_IN_ISSUE_14
        ]
    )


LIVE = Impl(
    new_learner=lambda tz, plan: sync.merge.batch.Learner(
        USER, sync.merge.fold.UserState(), sync.gamify.GamifyState(), tz, plan
    ),
    merge=sync.merge.batch.merge,
    settle=sync.merge.batch.settle,
    review=sync.merge.decide.review,
    grade=sync.merge.decide.grade,
    context=lambda catalog, plan: sync.merge.decide.Context(
        catalog, plan, sync.merge.decide.Policy()
    ),
    rules_for=_by_version(sync.gamify.rules_for),
    learner_view=sync.views.learner_view,
    gamify_view=sync.gamify.gamify_view,
    make_code=functools.partial(sync.gamify.certificate_code, SECRET, USER),
    rebuild=_live_rebuild,
    before_push=_live_horizon,
    after_catalog=_live_refold,
    outbox=_live_outbox,
)

FROZEN = Impl(
    new_learner=lambda tz, plan: tests.reference.merge.Learner(
        USER, tests.reference.fold.UserState(), tests.reference.gamify.GamifyState(), tz, plan
    ),
    merge=tests.reference.merge.merge,
    settle=tests.reference.merge.settle,
    review=tests.reference.decide.review,
    grade=tests.reference.decide.grade,
    context=lambda catalog, plan: tests.reference.decide.Context(
        catalog, plan, tests.reference.decide.Policy()
    ),
    rules_for=_by_version(tests.reference.gamify.rules_for),
    learner_view=tests.reference.views.learner_view,
    gamify_view=tests.reference.gamify.gamify_view,
    make_code=functools.partial(tests.reference.gamify.certificate_code, SECRET, USER),
    rebuild=_frozen_rebuild,
)


def entry_builtins(entry: Any) -> tuple[str, Any]:
    return type(entry).__name__, msgspec.to_builtins(entry)


@dataclass
class Server:
    """One learner on a server built from ``impl``, as the store drives the pure merge."""

    impl: Impl
    plan: str
    tz: str
    learner: Any = None
    watermarks: dict[str, int] = field(default_factory=dict)
    feed: list[tuple[int, Any]] = field(default_factory=list)
    devices: Sequence[str] = ()
    marks: dict[str, str] = field(default_factory=dict)
    """Each device's highest HLC merged (the store's ``devices.mark``)."""
    refolds: int = 0
    skew_ms: int = CLOCK_SKEW_MS
    """How far ahead of the server's clock an event's time is taken as sent."""

    def __post_init__(self) -> None:
        self.learner = self.impl.new_learner(self.tz, self.plan)

    def _append(self, entries: Sequence[Any]) -> list[tuple[str, Any]]:
        for entry in entries:
            self.feed.append((len(self.feed) + 1, entry))
        return [entry_builtins(e) for e in entries]

    def push(self, device: str, batch: Sequence[Event], catalog: Catalog, now: int) -> Any:
        """Store.merge: one batch of one device, at the device's acked watermark."""
        impl = self.impl
        impl.before_push(self)
        out = impl.merge(
            self.learner,
            device,
            self.watermarks.get(device, 0),
            batch,
            impl.context(catalog, self.plan),
            rules=impl.rules_for(catalog),
            make_code=impl.make_code,
            now=now,
            skew_ms=self.skew_ms,
        )
        self.watermarks[device] = out.watermark
        for entry in out.entries:
            if type(entry).__name__ == "DeviceEntry":
                self.marks[device] = max(self.marks.get(device, ZERO), entry.event.hlc)
        return {
            "entries": self._append(out.entries),
            "watermark": out.watermark,
            "accepted": out.accepted,
            "duplicates": out.duplicates,
            "rejected": msgspec.to_builtins(out.rejected),
            "gap_at": out.gap_at,
            "scopes": sorted(out.scopes),
            "outbox": self.impl.outbox(out.events),
        }

    def _settle(self, ctx: Any, decisions: Any, catalog: Catalog, now: int, courses: Any) -> Any:
        settled = self.impl.settle(
            self.learner,
            decisions,
            ctx,
            rules=self.impl.rules_for(catalog),
            make_code=self.impl.make_code,
            now=now,
            hlc=format_hlc(now, 0),
            courses=courses,
        )
        return {
            "decisions": [tuple(d) for d in decisions],
            "entries": self._append(settled.entries),
            "outbox": self.impl.outbox(settled.events),
        }

    def catalog_changed(self, catalog: Catalog, now: int) -> Any:
        """Store.recompute after Store.load_catalog: a review, settled. (Every change here
        touches the gamification section, so the store reviews every learner.)"""
        self.impl.after_catalog(self, catalog)
        ctx = self.impl.context(catalog, self.plan)
        decisions = self.impl.review(self.learner.state, ctx, now)
        return self._settle(ctx, decisions, catalog, now, None)

    def grade(self, catalog: Catalog, score: float, now: int) -> Any:
        """Store.grade_assignment: an instructor grades the latest submission of c2/h1."""
        ctx = self.impl.context(catalog, self.plan)
        try:
            decisions = self.impl.grade(
                self.learner.state,
                ctx,
                "c2",
                "h1",
                score=score,
                feedback="seen",
                graded_by="teacher",
                at=now,
            )
        except ValueError as err:
            return {"refused": str(err)}
        return self._settle(ctx, decisions, catalog, now, {"c2"})

    def views(self, catalog: Catalog, now: int) -> Any:
        impl = self.impl
        return {
            "learner": msgspec.to_builtins(
                impl.learner_view(self.learner.state, catalog, self.plan)
            ),
            "gamify": msgspec.to_builtins(
                impl.gamify_view(
                    self.learner.gamify,
                    catalog,
                    user_tz=self.tz,
                    now_ms=now,
                    rules=impl.rules_for(catalog),
                )
            ),
        }

    def rebuilt_view(self, catalog: Catalog) -> Any:
        state = self.impl.rebuild(self.feed)
        return msgspec.to_builtins(self.impl.learner_view(state, catalog, self.plan))


# -- histories -----------------------------------------------------------------------------


class Device:
    """A device's journal: seq-ordered events, stamped by its own clock. ``skew`` puts its
    HLC ahead of its wall time (it saw a later clock), so stamp order and time order differ
    across devices."""

    def __init__(self, name: str, tz: str = TZ, skew: int = 0) -> None:
        self.name, self.tz, self.skew = name, tz, skew
        self.events: list[Event] = []

    def event(self, type_: str, at: int, **body: Any) -> Event:
        seq = len(self.events) + 1
        event = Event(seq, format_hlc(at + self.skew, seq), at, type_, body, self.tz)
        self.events.append(event)
        return event


def _lesson_event(draw: st.DrawFn, device: Device, at: int, lessons: list[tuple[str, str]]) -> None:
    course, lesson = draw(st.sampled_from(lessons))
    kind = draw(st.sampled_from(["opened", "progressed", "progressed", "completed", "uncompleted"]))
    if kind != "progressed":
        device.event(f"lesson.{kind}", at, course=course, lesson=lesson)
        return
    body: dict[str, Any] = {"seconds": draw(st.sampled_from([0, 20, 45, 70, 130]))}
    if draw(st.booleans()):
        body["position"] = draw(st.integers(0, 130))
    # Mostly valid segments of the video; some past its end (v1 is longer in v2), some on
    # lessons without a duration: rejections.
    if lesson == "v1" or draw(st.integers(0, 4)) == 0:
        start = draw(st.integers(0, 110))
        body["from"], body["to"] = start, start + draw(st.integers(1, 40))
    device.event("lesson.progressed", at, course=course, lesson=lesson, **body)


def _quiz_events(draw: st.DrawFn, device: Device, at: int) -> None:
    # Attempts are few and shared: a device may go on with (re-answer, submit again) an
    # attempt another device started.
    ref = {"course": "c1", "quiz": "q1", "attempt": draw(st.sampled_from(["a0", "a1", "a2"]))}
    if draw(st.booleans()):
        device.event("quiz.started", at, **ref)
    for question in ("x1", "x2"):
        if draw(st.integers(0, 3)):
            choice = draw(st.sampled_from(["a", "b"]))
            device.event("quiz.answered", at, **ref, question=question, choices=[choice])
    if draw(st.integers(0, 3)):
        device.event("quiz.submitted", at + 1000, **ref)


EVERYTHING = ["lesson"] * 8 + ["course.reset"] * 2 + ["quiz"] * 2 + ["path"] * 2
EVERYTHING += ["milestone", "assignment", "junk"]
# The fold's lesson state (what the rewrite changes): a lesson or two, resets, a path whose
# milestones can be reset.
LESSON_STATE = ["lesson"] * 8 + ["course.reset"] * 2 + ["path", "milestone"]


def _action(
    draw: st.DrawFn, device: Device, at: int, lessons: list[tuple[str, str]], kinds: list[str]
) -> None:
    match draw(st.sampled_from(kinds)):
        case "lesson":
            _lesson_event(draw, device, at, lessons)
        case "course.reset":
            device.event("course.reset", at, course=draw(st.sampled_from(["c1", "c2"])))
        case "quiz":
            _quiz_events(draw, device, at)
        case "path":
            action = draw(st.sampled_from(["enrolled", "enrolled", "paused", "resumed", "dropped"]))
            device.event(f"path.{action}", at, path=draw(st.sampled_from(["p1", "p2"])))
        case "milestone":
            action = draw(st.sampled_from(["started", "completed", "reset"]))
            path, milestone = draw(st.sampled_from(MILESTONES))
            device.event(f"milestone.{action}", at, path=path, milestone=milestone)
        case "assignment":
            action = draw(st.sampled_from(["saved", "submitted"]))
            text = draw(st.sampled_from(["draft", "final"]))
            device.event(f"assignment.{action}", at, course="c2", assignment="h1", text=text)
        case _ if draw(st.booleans()):
            device.event("lesson.bookmarked", at, course="c1", lesson="l1")
        case _:
            device.event("lesson.opened", at, course="c9", lesson="l1")


@st.composite
def journals(
    draw: st.DrawFn, kinds: list[str], pool: list[tuple[str, str]], actions: tuple[int, int]
) -> dict[str, list[Event]]:
    """Each device's journal, in seq order, with its own (non-decreasing) clock."""
    out: dict[str, list[Event]] = {}
    # One or two lessons per history, so that devices often write about the same one.
    lessons = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    for index in range(draw(st.integers(2, 3))):
        device = Device(
            f"d{index}",
            draw(st.sampled_from([TZ, "Asia/Tokyo", ""])),
            draw(st.sampled_from([0, 0, 30_000, 2 * HOUR, DAY])),
        )
        at = T0 + draw(st.integers(0, 5)) * 60_000
        for _ in range(draw(st.integers(*actions))):
            at += draw(st.sampled_from([0, 1000, 60_000, 600_000, HOUR, HOUR, DAY // 2, DAY]))
            _action(draw, device, at, lessons, kinds)
        out[device.name] = device.events
    return out


Step = tuple[Any, ...]

# ("push", device, resend, count, drop): resend up to `resend` events below the watermark
# (all of them when large), then `count` new ones, one of them left out when `drop` is set
# (a gap: the merge stops there; later pushes fill it).
pushes = st.tuples(
    st.just("push"),
    st.integers(0, 2),
    st.integers(0, 40),
    st.integers(0, 6),
    st.none() | st.integers(0, 5),
)
steps = st.one_of(
    pushes,
    pushes,
    st.tuples(st.just("push"), st.integers(0, 2), st.just(0), st.integers(1, 6), st.none()),
    st.just(("catalog",)),
    st.tuples(st.just("grade"), st.sampled_from([30.0, 80.0, 150.0])),
)


@dataclass(frozen=True)
class History:
    plan: str
    tz: str
    journals: dict[str, list[Event]]
    schedule: list[tuple[int, Step]]
    """Steps with the server clock's advance before each."""
    skew_ms: int = CLOCK_SKEW_MS
    """The allowed clock skew: the default (devices here often run days ahead of the
    server, so their events are taken at receipt), or a month (taken as sent, credited no
    later than receipt)."""


def histories(
    kinds: list[str], pool: list[tuple[str, str]], actions: tuple[int, int] = (1, 12)
) -> st.SearchStrategy[History]:
    return st.builds(
        History,
        st.sampled_from(["free", "premium"]),
        st.sampled_from([TZ, "UTC", "Asia/Tokyo"]),
        journals(kinds, pool, actions),
        st.lists(
            st.tuples(st.sampled_from([60_000, HOUR, DAY, 3 * DAY]), steps),
            min_size=2,
            max_size=16,
        ),
        st.sampled_from([CLOCK_SKEW_MS, 30 * DAY]),
    )


def batch_for(journal: list[Event], watermark: int, step: Step) -> list[Event]:
    _, _, resend, count, drop = step
    new = journal[watermark : watermark + count]
    if drop is not None and new:
        del new[drop % len(new)]
    return journal[max(0, watermark - resend) : watermark] + new


def run(history: History, impl: Impl) -> list[Any]:
    """Everything observable, step by step, of ``history`` run on ``impl``."""
    names = sorted(history.journals)
    server = Server(impl, history.plan, history.tz, devices=names, skew_ms=history.skew_ms)
    version, now = 0, T0
    seen: list[Any] = []
    for advance, step in history.schedule:
        now += advance
        catalog = CATALOGS[version]
        if step[0] == "push":
            name = names[step[1] % len(names)]
            batch = batch_for(history.journals[name], server.watermarks.get(name, 0), step)
            seen.append(("push", name, server.push(name, batch, catalog, now)))
        elif step[0] == "catalog":
            version = 1 - version
            catalog = CATALOGS[version]
            seen.append(("catalog", version, server.catalog_changed(catalog, now)))
        else:
            seen.append(("grade", server.grade(catalog, step[1], now)))
        seen.append(("views", server.views(catalog, now)))
    # Every device comes online at last and sends all it has.
    catalog = CATALOGS[version]
    for name in names:
        now += HOUR
        journal = history.journals[name]
        rest = journal[server.watermarks.get(name, 0) :]
        seen.append(("flush", name, server.push(name, rest, catalog, now)))
        seen.append(("views", server.views(catalog, now)))
    seen.append(("watermarks", dict(server.watermarks)))
    # A device rebuilding from the whole feed folds the same as the reference device does.
    seen.append(("rebuilt", server.rebuilt_view(catalog)))
    return seen


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories(EVERYTHING, LESSONS))
def test_the_merge_gives_exactly_what_the_frozen_fold_gives(history: History) -> None:
    assert_same(run(history, LIVE), run(history, FROZEN))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories(LESSON_STATE, [("c1", "v1"), ("c1", "t1"), ("c1", "l1")], (3, 14)))
def test_lesson_progress_is_exactly_the_frozen_folds_in_any_order(history: History) -> None:
    """The same on lesson facts alone (seconds, segments, positions, completions, resets),
    where the rewrite changes the state: more of them per lesson, in any order."""
    assert_same(run(history, LIVE), run(history, FROZEN))


def assert_same(live: list[Any], frozen: list[Any]) -> None:
    assert len(live) == len(frozen)
    for index, (got, want) in enumerate(zip(live, frozen, strict=True)):
        assert got == want, f"step {index} ({want[0]}) differs"


def test_the_histories_reach_what_they_are_meant_to_exercise() -> None:
    """A fixed history that goes through every kind of step, so the property test's
    strategy is known to reach rejections, duplicates, gaps, reviews and grades."""
    d0, d1 = Device("d0"), Device("d1", "Asia/Tokyo")
    j0 = [
        d0.event("path.enrolled", T0, path="p1"),
        d0.event("lesson.completed", T0 + 1000, course="c1", lesson="l1"),
        d0.event("lesson.opened", T0 + 2000, course="c1", lesson="l2"),
        d0.event("assignment.submitted", T0 + 3000, course="c2", assignment="h1", text="x"),
        d0.event("lesson.bookmarked", T0 + 4000, course="c1", lesson="l1"),
    ]
    j1 = [
        d1.event(
            "lesson.progressed",
            T0 + 500,
            course="c1",
            lesson="v1",
            seconds=90,
            **{"from": 0, "to": 90},
        ),
        d1.event("lesson.uncompleted", T0 + 5000, course="c1", lesson="l1"),
        d1.event("course.reset", T0 + 6000, course="c1"),
    ]
    history = History(
        "free",
        TZ,
        {"d0": j0, "d1": j1},
        [
            (HOUR, ("push", 0, 0, 3, 1)),  # gap: seq 2 left out
            (HOUR, ("push", 1, 0, 2, None)),
            (HOUR, ("push", 0, 40, 5, None)),  # resend seq 1, then fill the gap
            (HOUR, ("grade", 80.0)),
            (DAY, ("catalog",)),
            (HOUR, ("push", 1, 0, 1, None)),
        ],
    )
    seen = run(history, FROZEN)
    assert seen == run(history, LIVE)
    pushes = [s[2] for s in seen if s[0] in ("push", "flush")]
    assert pushes[0]["gap_at"] == 3 and pushes[0]["watermark"] == 1
    assert pushes[2]["duplicates"] == 1 and pushes[2]["watermark"] == 5
    assert [r["code"] for r in pushes[2]["rejected"]] == ["unknown_type"]
    grade = next(s[1] for s in seen if s[0] == "grade")
    assert grade["decisions"][0][0] == "assignment.graded"
    review = next(s[2] for s in seen if s[0] == "catalog")
    assert review["entries"], "the new catalog's points and badges are settled"
    assert seen[-1][0] == "rebuilt"
    assert seen[-2] == ("watermarks", {"d0": 5, "d1": 3})


def test_a_device_clock_ahead_of_the_server_is_clamped_alike() -> None:
    """A fixed history whose second device runs a day ahead of the server: both
    implementations take its events at receipt, with the same notes, and credit no day
    after the server's; with a month's skew, both take them as sent."""
    d0, d1 = Device("d0"), Device("d1")
    j0 = [d0.event("lesson.completed", T0, course="c1", lesson="l1")]
    j1 = [
        d1.event("lesson.completed", T0 + DAY, course="c1", lesson="l2"),
        d1.event("quiz.submitted", T0 + DAY + 1000, course="c1", quiz="q1", attempt="a1"),
    ]
    schedule: list[tuple[int, Step]] = [(HOUR, ("push", 0, 0, 1, None))]
    schedule.append((HOUR, ("push", 1, 0, 2, None)))
    for skew, clamped in ((CLOCK_SKEW_MS, 2), (30 * DAY, 0)):
        history = History("free", TZ, {"d0": j0, "d1": j1}, schedule, skew)
        seen = run(history, LIVE)
        assert seen == run(history, FROZEN)
        entries = [e for s in seen if s[0] in ("push", "flush") for e in s[2]["entries"]]
        notes = [e for kind, e in entries if kind == "ServerEntry" and e["type"] == "event.clamped"]
        assert len(notes) == clamped
