"""Domain events for other systems, derived by the merge (the outbox's content).

Two sources, both decided once per accepted fact, so replays and duplicates (which the
merge never re-applies) derive nothing again:

* a recorded decision or award maps to its domain event (:func:`from_entry`): an
  assessment (quiz attempt) completed, passed or failed; an assignment graded; an
  enrollment created, its status changed, completed, a path completed; a milestone
  unlocked, started or completed; a competency acquired; an achievement earned, a
  certificate issued, a level reached;
* an accepted fact may be one of its own (:func:`from_fact`): an assignment submitted; an
  assessment started (the first fact of a quiz attempt: started, answered or submitted,
  whichever arrives first);
* a fact that may change a course's progress is followed by a look at that course's view
  (:func:`observe`), compared with what the learner's last look saw (``Seen``, kept with
  the learner): a lesson, module or course that became completed, and a change of the
  course's percent complete (``progress.updated``). The percent moves when an item
  completes or is reset, not with every heartbeat (a heartbeat that completes nothing
  changes no percent), so consumers are not flooded.

Each event points at the feed entry it follows from (``entry``: its index in the merge's
entries); the store numbers it ``{user_id}:{user_seq}:{n}``, a stable id. The types are the
public names of :mod:`sync.event_catalog` (one scheme: ``<domain>.<subject>.<verb>``), whose
Structs say what each body holds.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from sync.catalog import Catalog
from sync.merge.fold import UserState
from sync.views import course_view

Seen = dict[str, int]
"""The last look at a learner's progress: ``course:C`` and ``module:C/M`` → percent,
``lesson:C/L`` → 100 for each completed lesson."""


class DomainEvent(msgspec.Struct, frozen=True):
    """One outbox event: its type, what happened (``body``), when (the fact's time)."""

    entry: int
    """Index, in the merge's entries, of the feed entry it follows from."""
    type: str
    body: dict[str, Any]
    at: int


# Decision or award type -> domain event type.
_FROM_ENTRY: Final = {
    "quiz.scored": "progress.assessment.completed",
    "quiz.passed": "progress.assessment.passed",
    "assignment.graded": "progress.assignment.graded",
    "milestone.unlocked": "progress.milestone.unlocked",
    "milestone.started": "progress.milestone.started",
    "milestone.completed": "progress.milestone.completed",
    "competency.acquired": "progress.competency.acquired",
    "achievement.earned": "gamification.achievement.earned",
    "certificate.issued": "gamification.certificate.issued",
    "level.reached": "gamification.level.reached",
}

# Device facts that are domain events of their own.
_FROM_FACT: Final = {"assignment.submitted": "progress.assignment.submitted"}

TYPES: Final = frozenset(
    {
        *_FROM_ENTRY.values(),
        *_FROM_FACT.values(),
        "progress.assessment.started",
        "progress.assessment.failed",
        "progress.enrollment.created",
        "progress.enrollment.status_changed",
        "progress.enrollment.completed",
        "progress.path.completed",
        "progress.lesson.completed",
        "progress.module.completed",
        "progress.course.completed",
        "progress.updated",
    }
)
"""Every domain event type the merge can write."""


def from_entry(index: int, type_: str, body: dict[str, Any], at: int) -> list[DomainEvent]:
    """The domain events of a recorded decision, award or accepted fact."""
    out: list[DomainEvent] = []
    name = _FROM_ENTRY.get(type_) or _FROM_FACT.get(type_)
    if name is not None:
        out.append(DomainEvent(index, name, dict(body), at))
    if type_ == "quiz.scored" and body.get("counted") and not body.get("passed"):
        out.append(DomainEvent(index, "progress.assessment.failed", dict(body), at))
    elif type_ == "enrollment.changed":
        # The first change of a path's enrollment creates it; every later one changes
        # its status; reaching "completed" also completes the enrollment and the path.
        first = body.get("from") is None
        kind = "created" if first else "status_changed"
        out.append(DomainEvent(index, f"progress.enrollment.{kind}", dict(body), at))
        if body.get("to") == "completed":
            path = {"path": body["path"]}
            out.append(DomainEvent(index, "progress.enrollment.completed", dict(path), at))
            out.append(DomainEvent(index, "progress.path.completed", path, at))
    return out


_QUIZ_FACTS: Final = frozenset({"quiz.started", "quiz.answered", "quiz.submitted"})


def from_fact(
    index: int, type_: str, body: dict[str, Any], at: int, state: UserState
) -> list[DomainEvent]:
    """The domain events of an accepted device fact, looked at before it is folded into
    ``state``: an attempt's first fact starts the assessment (once per attempt, whichever
    of its facts arrives first), and what :func:`from_entry` says."""
    out = from_entry(index, type_, body, at)
    if type_ in _QUIZ_FACTS:
        held = state.quizzes.get(f"{body['course']}/{body['quiz']}")
        if held is None or body["attempt"] not in held.attempts:
            started = {"course": body["course"], "quiz": body["quiz"], "attempt": body["attempt"]}
            out.append(DomainEvent(index, "progress.assessment.started", started, at))
    return out


def observe(
    state: UserState,
    catalog: Catalog,
    plan: str,
    seen: Seen,
    course_id: str,
    *,
    index: int,
    at: int,
    lesson: str | None = None,
) -> list[DomainEvent]:
    """What changed in ``course_id`` since the last look (``seen``, updated in place)."""
    course = catalog.course(course_id)
    if course is None:
        return []
    view = course_view(state, course, plan)
    out: list[DomainEvent] = []
    body: dict[str, Any]
    where: dict[str, Any] = {"course": course_id}
    for module in view.modules:
        for item in module.lessons:
            key = f"lesson:{course_id}/{item.id}"
            if item.id == lesson:
                where["module"] = module.id
            if item.status != "completed":
                seen.pop(key, None)
            elif key not in seen:
                seen[key] = 100
                body = {"course": course_id, "module": module.id, "lesson": item.id}
                body["completed_at"] = item.completed_at
                out.append(DomainEvent(index, "progress.lesson.completed", body, at))
        key = f"module:{course_id}/{module.id}"
        if module.percent != seen.get(key, 0):
            _remember(seen, key, module.percent)
            if module.percent == 100:
                body = {"course": course_id, "module": module.id}
                body["completed_at"] = module.completed_at
                out.append(DomainEvent(index, "progress.module.completed", body, at))
    key = f"course:{course_id}"
    before = seen.get(key, 0)
    if view.percent != before:
        _remember(seen, key, view.percent)
        if lesson is not None:
            where["lesson"] = lesson
        body = {**where, "percent": view.percent, "previous": before, "status": view.status}
        out.append(DomainEvent(index, "progress.updated", body, at))
        if view.percent == 100:
            body = {"course": course_id, "completed_at": view.completed_at}
            out.append(DomainEvent(index, "progress.course.completed", body, at))
    return out


def lesson_seen(seen: Seen, course: str, lesson: str) -> bool:
    """Whether the last look saw ``course``'s lesson completed."""
    return f"lesson:{course}/{lesson}" in seen


def _remember(seen: Seen, key: str, percent: int) -> None:
    if percent:
        seen[key] = percent
    else:
        seen.pop(key, None)  # an absent key is 0: the look stays what the progress gives


def baseline(state: UserState, catalog: Catalog, plan: str) -> Seen:
    """The look that a learner's existing progress gives, without events (for learners
    whose progress predates the outbox)."""
    seen: Seen = {}
    for course in catalog.courses:
        observe(state, catalog, plan, seen, course.id, index=0, at=0)
    return seen
