"""The fold: learner-visible state as a pure function of the *set* of accepted facts.

Merge rules (``docs/architecture.md``):

* completed vs. uncompleted: last writer by stamp ``(hlc, device_id, seq)``;
  auto-completion rules (``viewed``, ``watched:P``, ``time:N``) count only evidence stamped
  after the latest ``lesson.uncompleted``;
* time spent: sum over distinct events; video watched: union of intervals;
* position: last writer by stamp.

Every aggregate is commutative and associative, so any arrival order gives the same state.
Duplicates are removed by :func:`fold` (by ``(device_id, seq)``); :func:`apply_fact` trusts
its caller (the server store) to apply each event once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

import msgspec

from sync.catalog import Catalog, Lesson
from sync.events import (
    Body,
    LessonCompleted,
    LessonOpened,
    LessonProgressed,
    LessonUncompleted,
    Rejection,
    decode_body,
)

Stamp = tuple[str, str, int]
"""Total order of facts: ``(hlc, device_id, seq)``."""

Status = Literal["not_started", "in_progress", "completed"]


class Fact(NamedTuple):
    """An accepted device event as the fold sees it."""

    device_id: str
    seq: int
    hlc: str
    at: int
    type: str
    body: dict[str, Any]


class Evidence(msgspec.Struct, array_like=True, frozen=True):
    """A progress fact stamped after the latest reset: it may still complete the lesson."""

    stamp: Stamp
    seconds: int
    start: int
    end: int


class LessonState(msgspec.Struct):
    seconds: int = 0
    segments: list[tuple[int, int]] = []
    position: int | None = None
    position_stamp: Stamp | None = None
    opened: Stamp | None = None
    completed: Stamp | None = None
    uncompleted: Stamp | None = None
    evidence: list[Evidence] = []
    first_at: int | None = None
    last_at: int | None = None


class UserState(msgspec.Struct):
    lessons: dict[str, LessonState] = {}
    last_at: int | None = None


def lesson_key(course: str, lesson: str) -> str:
    # Catalog ids cannot contain "/", so the key is unambiguous.
    return f"{course}/{lesson}"


def apply_fact(state: UserState, fact: Fact) -> bool:
    """Fold one fact into ``state`` in place. Returns False if its body is not a known fact."""
    body = decode_body(fact.type, fact.body)
    if isinstance(body, Rejection):
        return False
    apply_body(state, (fact.hlc, fact.device_id, fact.seq), fact.at, body)
    return True


def apply_body(state: UserState, stamp: Stamp, at: int, body: Body) -> None:
    """Fold a typed body stamped ``stamp`` (wall time ``at``, epoch ms) into ``state``."""
    key = lesson_key(body.course, body.lesson)
    lesson = state.lessons.get(key)
    if lesson is None:
        lesson = state.lessons[key] = LessonState()
    lesson.first_at = at if lesson.first_at is None else min(lesson.first_at, at)
    lesson.last_at = at if lesson.last_at is None else max(lesson.last_at, at)
    state.last_at = at if state.last_at is None else max(state.last_at, at)
    match body:
        case LessonOpened():
            lesson.opened = _later(lesson.opened, stamp)
        case LessonCompleted():
            lesson.completed = _later(lesson.completed, stamp)
        case LessonUncompleted():
            lesson.uncompleted = _later(lesson.uncompleted, stamp)
            # Evidence at or before the latest reset can never count again: the reset
            # stamp only grows. Dropping it keeps the state small and still exact.
            reset = lesson.uncompleted
            lesson.evidence = [e for e in lesson.evidence if e.stamp > reset]
        case LessonProgressed():
            lesson.seconds += body.seconds
            if body.position is not None and (
                lesson.position_stamp is None or stamp > lesson.position_stamp
            ):
                lesson.position, lesson.position_stamp = body.position, stamp
            # A device folds its own unchecked events too, so a half segment must not crash.
            if body.from_ is not None and body.to is not None:
                start, end = body.from_, body.to
            else:
                start = end = 0
            if end > start:
                lesson.segments = union(lesson.segments, [(start, end)])
            counts = body.seconds > 0 or end > start
            if counts and (lesson.uncompleted is None or stamp > lesson.uncompleted):
                bisect.insort(
                    lesson.evidence, Evidence(stamp, body.seconds, start, end), key=_stamp
                )


def _stamp(e: Evidence) -> Stamp:
    return e.stamp


def _later(current: Stamp | None, new: Stamp) -> Stamp:
    return new if current is None or new > current else current


def union(a: Iterable[tuple[int, int]], b: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open intervals, normalised: sorted, disjoint, adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted([*a, *b]):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def covered(segments: Iterable[tuple[int, int]]) -> int:
    return sum(end - start for start, end in segments)


def fold(facts: Iterable[Fact]) -> UserState:
    """Fold a collection of facts, ignoring duplicates by ``(device_id, seq)``."""
    state = UserState()
    seen: set[tuple[str, int]] = set()
    for fact in sorted(facts, key=lambda f: (f.hlc, f.device_id, f.seq)):
        ident = (fact.device_id, fact.seq)
        if ident not in seen:
            seen.add(ident)
            apply_fact(state, fact)
    return state


# -- derived view -------------------------------------------------------------------------


class LessonView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Status
    seconds: int
    position: int | None
    watched_percent: float
    completion: str
    started_at: int | None = None
    last_activity_at: int | None = None


class ModuleView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Status
    percent: int
    lessons: list[LessonView]


class CourseView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Status
    percent: int
    modules: list[ModuleView]
    last_activity_at: int | None = None


def lesson_completed(lesson: Lesson, st: LessonState) -> bool:
    """Whether ``st`` satisfies ``lesson``'s completion rule (or an explicit completion)."""
    reset = st.uncompleted
    if st.completed is not None and (reset is None or st.completed > reset):
        return True
    rule = lesson.rule
    if rule.kind == "viewed":
        return st.opened is not None and (reset is None or st.opened > reset)
    if rule.kind == "watched":
        seen = covered(union([], ((e.start, e.end) for e in st.evidence)))
        return seen * 100 >= rule.threshold * lesson.duration
    if rule.kind == "time":
        return sum(e.seconds for e in st.evidence) >= rule.threshold
    return False


def lesson_view(lesson: Lesson, st: LessonState | None) -> LessonView:
    if st is None:
        return LessonView(lesson.id, lesson.title, "not_started", 0, None, 0.0, lesson.completion)
    if lesson_completed(lesson, st):
        status: Status = "completed"
    else:
        status = "in_progress"
    watched = covered(st.segments)
    percent = min(100.0, round(100 * watched / lesson.duration, 1)) if lesson.duration else 0.0
    return LessonView(
        lesson.id,
        lesson.title,
        status,
        st.seconds,
        st.position,
        percent,
        lesson.completion,
        st.first_at,
        st.last_at,
    )


def _rollup(statuses: list[Status]) -> Status:
    if statuses and all(s == "completed" for s in statuses):
        return "completed"
    if any(s != "not_started" for s in statuses):
        return "in_progress"
    return "not_started"


def _percent(done: int, total: int) -> int:
    return 100 * done // total if total else 0


def progress_view(state: UserState, catalog: Catalog) -> list[CourseView]:
    """Per-course progress for every course in ``catalog``; percent counts completed lessons."""
    courses = []
    for course in catalog.courses:
        modules = []
        course_done = course_total = 0
        for module in course.modules:
            lessons = [
                lesson_view(x, state.lessons.get(lesson_key(course.id, x.id)))
                for x in module.lessons
            ]
            done = sum(1 for x in lessons if x.status == "completed")
            course_done += done
            course_total += len(lessons)
            modules.append(
                ModuleView(
                    module.id,
                    module.title,
                    _rollup([x.status for x in lessons]),
                    _percent(done, len(lessons)),
                    lessons,
                )
            )
        activity = [x.last_activity_at for m in modules for x in m.lessons if x.last_activity_at]
        courses.append(
            CourseView(
                course.id,
                course.title,
                # Over lessons, not modules: an empty module must not keep a course whose
                # every lesson is completed (percent 100) "in_progress" forever.
                _rollup([x.status for m in modules for x in m.lessons]),
                _percent(course_done, course_total),
                modules,
                max(activity) if activity else None,
            )
        )
    return courses
