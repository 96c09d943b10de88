"""The one catalog of the domain events Waymark publishes (issue 14): name, version, what
each event's ``data`` holds (a msgspec Struct, from which its JSON Schema is generated) and
the envelope every event travels in (the event stream, and the relays built on it).

One naming scheme: ``<domain>.<subject>.<verb>`` in lower case, the verb in the past tense
(``progress.lesson.completed``, ``progress.assessment.passed``,
``gamification.achievement.earned``). The names are the outbox's own types
(:mod:`sync.merge.outbox` writes them), so what is stored is what is published.
:data:`SEED_NAMES` says which catalog event each name of the seeds is.

A version starts at 1 and goes up only when a change of ``data`` could break a consumer
(a field removed, renamed or retyped); adding an optional field at the end does not. The
envelope carries the version of the event's schema that the server publishes now.

Pure: no I/O. :func:`render_markdown` makes the generated part of ``docs/events.md``
(``waymark admin events schema`` writes it; a test holds the doc to it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

import msgspec

# -- the envelope ---------------------------------------------------------------------------


class LearnerRef(msgspec.Struct, frozen=True):
    """The learner an event is about."""

    id: str
    username: str


class Envelope(msgspec.Struct, frozen=True):
    """One published event. ``id`` is stable (``{user_id}:{user_seq}:{n}``: the n-th event
    of the learner's feed entry ``user_seq``), so a consumer deduplicates by it."""

    id: str
    type: str
    """The catalog name (:data:`CATALOG`)."""
    version: int
    """The version of ``type``'s ``data`` schema."""
    learner: LearnerRef
    occurred_at: int
    """When it happened, by the device's clock as the server credited it (ms since the
    Unix epoch, UTC); for a decision the server made on its own, the server's time."""
    recorded_at: int
    """When the server committed it (ms since the Unix epoch, UTC)."""
    data: dict[str, Any]
    """What happened: the fields of the type's data schema."""


# -- what each event's data holds -------------------------------------------------------------


class LessonCompleted(msgspec.Struct, frozen=True):
    course: str
    module: str
    lesson: str
    completed_at: int | None = None
    """When the lesson's rule was first met, or it was marked complete (device time)."""


class ModuleCompleted(msgspec.Struct, frozen=True):
    course: str
    module: str
    completed_at: int | None = None


class CourseCompleted(msgspec.Struct, frozen=True):
    course: str
    completed_at: int | None = None


class ProgressUpdated(msgspec.Struct, frozen=True):
    course: str
    percent: int
    """The course's percent complete now (0 to 100, rounded down)."""
    previous: int
    """Its percent complete at the last look."""
    status: str
    """``not_started``, ``in_progress`` or ``completed``."""
    module: str | None = None
    """The module of the lesson the fact was about, when it named one."""
    lesson: str | None = None


class AssessmentStarted(msgspec.Struct, frozen=True):
    course: str
    quiz: str
    attempt: str
    """The attempt's id (made by the device, unique per learner)."""


class AssessmentCompleted(msgspec.Struct, frozen=True):
    """A submitted attempt, scored by the server."""

    course: str
    quiz: str
    attempt: str
    number: int
    """The attempt's number (1, 2, …) in the order the server scored them."""
    score: float
    """From 0.0 to 1.0: points earned / points possible."""
    passed: bool
    """Whether this attempt's score reaches the quiz's passing score."""
    counted: bool
    """False when the attempt broke the attempt limit or the cool-down (``reason``)."""
    reason: str = ""
    at: int = 0
    """When it was submitted (device time, never after the server received it)."""
    correct: int = 0
    questions: int = 0
    received: int = 0
    """When the server received the submission."""


class AssessmentPassed(msgspec.Struct, frozen=True):
    """The quiz is passed (once per quiz): its policy score reached the passing score."""

    course: str
    quiz: str
    score: float
    grading: str = "highest"
    """Which score counts: the quiz's grading policy."""


class AssignmentSubmitted(msgspec.Struct, frozen=True):
    course: str
    assignment: str
    text: str = ""
    url: str = ""


class AssignmentGraded(msgspec.Struct, frozen=True):
    course: str
    assignment: str
    score: float
    passed: bool
    feedback: str = ""
    graded_by: str = ""
    """The instructor's user name."""
    submissions: int = 0


class EnrollmentChanged(msgspec.Struct, frozen=True):
    path: str
    to: str
    """The status now: ``enrolled``, ``in_progress``, ``paused``, ``dropped``, ``completed``."""
    reason: str
    """What changed it: ``enroll``, ``pause``, ``resume``, ``drop``, ``started``, ``all
    milestones completed``."""
    from_: str | None = msgspec.field(default=None, name="from")
    """The status before (null for a new enrollment)."""


class PathRef(msgspec.Struct, frozen=True):
    path: str


class MilestoneRef(msgspec.Struct, frozen=True):
    path: str
    milestone: str


class MilestoneCompleted(msgspec.Struct, frozen=True):
    path: str
    milestone: str
    reason: str = ""
    """``marked complete`` or ``content completed``."""


class CompetencyAcquired(msgspec.Struct, frozen=True):
    competency: str
    name: str
    level: int
    """The level reached (at least the competency's mastery level)."""


class AchievementEarned(msgspec.Struct, frozen=True):
    achievement_id: str
    name: str = ""
    earned_at: int = 0
    points: int = 0
    evidence: list[str] = []


class CertificateIssued(msgspec.Struct, frozen=True):
    """A certificate for a course or a path (exactly one of the two)."""

    code: str
    issued_at: int = 0
    title: str = ""
    course: str | None = None
    path: str | None = None


class LevelReached(msgspec.Struct, frozen=True):
    level: int
    points: int = 0
    at: int = 0


# -- the catalog ------------------------------------------------------------------------------


class EventType(msgspec.Struct, frozen=True):
    """One catalog entry."""

    name: str
    version: int
    data: type[msgspec.Struct]
    when: str
    """When it is published, for people."""


CATALOG: Final[tuple[EventType, ...]] = (
    EventType(
        "progress.lesson.completed",
        1,
        LessonCompleted,
        "A lesson becomes completed (marked complete, or its completion rule met).",
    ),
    EventType("progress.module.completed", 1, ModuleCompleted, "A module becomes completed."),
    EventType("progress.course.completed", 1, CourseCompleted, "A course becomes completed."),
    EventType(
        "progress.updated",
        1,
        ProgressUpdated,
        "A course's percent complete changes (an item completes, is uncompleted or reset; "
        "not on every heartbeat).",
    ),
    EventType(
        "progress.assessment.started",
        1,
        AssessmentStarted,
        "A quiz attempt's first fact arrives (started, answered or submitted): once per attempt.",
    ),
    EventType(
        "progress.assessment.completed",
        1,
        AssessmentCompleted,
        "A submitted quiz attempt is scored by the server (counted or not).",
    ),
    EventType(
        "progress.assessment.passed",
        1,
        AssessmentPassed,
        "A quiz is passed (once per quiz).",
    ),
    EventType(
        "progress.assessment.failed",
        1,
        AssessmentCompleted,
        "A counted attempt is scored below the passing score (with the same data as its "
        "progress.assessment.completed).",
    ),
    EventType(
        "progress.assignment.submitted",
        1,
        AssignmentSubmitted,
        "A submission for an assignment is accepted.",
    ),
    EventType(
        "progress.assignment.graded", 1, AssignmentGraded, "An instructor grades a submission."
    ),
    EventType(
        "progress.enrollment.created",
        1,
        EnrollmentChanged,
        "A learner enrolls in a path for the first time (``from`` is null).",
    ),
    EventType(
        "progress.enrollment.status_changed",
        1,
        EnrollmentChanged,
        "An existing enrollment changes status (paused, resumed, dropped, re-enrolled, "
        "started, completed).",
    ),
    EventType(
        "progress.enrollment.completed",
        1,
        PathRef,
        "An enrollment reaches ``completed`` (every milestone of its path completed).",
    ),
    EventType(
        "progress.path.completed",
        1,
        PathRef,
        "A path is completed (with progress.enrollment.completed).",
    ),
    EventType(
        "progress.milestone.unlocked",
        1,
        MilestoneRef,
        "A milestone becomes available (the first at enrollment, the next when one completes).",
    ),
    EventType("progress.milestone.started", 1, MilestoneRef, "A learner starts a milestone."),
    EventType(
        "progress.milestone.completed",
        1,
        MilestoneCompleted,
        "A milestone is completed (marked, or its content completed).",
    ),
    EventType(
        "progress.competency.acquired",
        1,
        CompetencyAcquired,
        "A competency reaches its mastery level.",
    ),
    EventType("gamification.achievement.earned", 1, AchievementEarned, "A badge is awarded."),
    EventType(
        "gamification.certificate.issued",
        1,
        CertificateIssued,
        "A course or path certificate is issued.",
    ),
    EventType("gamification.level.reached", 1, LevelReached, "A learner reaches a new level."),
)
"""Every event Waymark publishes, in the order the docs list them."""

BY_NAME: Final = {entry.name: entry for entry in CATALOG}

SEED_NAMES: Final[dict[str, str | None]] = {
    "progress.enrollment.created": "progress.enrollment.created",
    "progress.enrollment.status_changed": "progress.enrollment.status_changed",
    "progress.enrollment.completed": "progress.enrollment.completed",
    "progress.milestone.started": "progress.milestone.started",
    "progress.milestone.completed": "progress.milestone.completed",
    "progress.milestone.unlocked": "progress.milestone.unlocked",
    "progress.assessment.started": "progress.assessment.started",
    "progress.assessment.completed": "progress.assessment.completed",
    "progress.assessment.passed": "progress.assessment.passed",
    "progress.assessment.failed": "progress.assessment.failed",
    "progress.path.completed": "progress.path.completed",
    "progress.analytics.snapshot_created": None,
    "ProgressUpdated": "progress.updated",
    "CourseCompleted": "progress.course.completed",
    "QuizCompleted": "progress.assessment.completed",
    "AssignmentSubmitted": "progress.assignment.submitted",
    "AchievementEarned": "gamification.achievement.earned",
    "CompetencyAcquired": "progress.competency.acquired",
}
"""Each event the seeds publish → its catalog name (None: not published, see
:data:`NOT_PUBLISHED`)."""

NOT_PUBLISHED: Final = {
    "progress.analytics.snapshot_created": (
        "Waymark takes no analytics snapshots: reports and analytics are computed live from "
        "the progress tables, and an analytics system reads the event stream itself "
        "(GET /v1/events) from its own cursor, so there is no snapshot to announce."
    ),
}
"""Seed events Waymark does not publish, and why."""


class BadPattern(ValueError):
    """A ``types`` pattern that matches no catalog event."""


def matching(patterns: Iterable[str]) -> frozenset[str]:
    """The catalog names that ``patterns`` select: an exact name, ``*`` (every event), or a
    prefix ending in ``.*`` (``progress.*``, ``progress.assessment.*``). Raises
    :class:`BadPattern` naming a pattern that selects nothing."""
    out: set[str] = set()
    for raw in patterns:
        pattern = raw.strip()
        if pattern == "*":
            found = set(BY_NAME)
        elif pattern.endswith(".*"):
            found = {n for n in BY_NAME if n.startswith(pattern[:-1])}
        else:
            found = {pattern} & set(BY_NAME)
        if not found:
            raise BadPattern(f"{pattern!r} matches no event of the catalog")
        out |= found
    return frozenset(out)


def envelope(
    *,
    id: str,
    type: str,
    learner_id: str,
    username: str,
    occurred_at: int,
    recorded_at: int,
    data: dict[str, Any],
) -> Envelope:
    """The published form of one outbox row (its ``type`` must be in the catalog)."""
    return Envelope(
        id,
        type,
        BY_NAME[type].version,
        LearnerRef(learner_id, username),
        occurred_at,
        recorded_at,
        data,
    )


def schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """``(per event name: its data's schema reference, components)``: JSON Schema 2020-12
    made by msgspec from the Structs (the envelope is component ``Envelope``)."""
    types = [Envelope, *(entry.data for entry in CATALOG)]
    refs, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    return {entry.name: refs[i + 1] for i, entry in enumerate(CATALOG)}, components


GENERATED_BEGIN: Final = "<!-- BEGIN GENERATED: waymark admin events schema -->"
GENERATED_END: Final = "<!-- END GENERATED -->"


def render_markdown() -> str:
    """The generated part of ``docs/events.md`` (between :data:`GENERATED_BEGIN` and
    :data:`GENERATED_END`): the catalog table, the seed mapping, and the JSON Schemas."""
    refs, components = schemas()
    lines = [
        GENERATED_BEGIN,
        "",
        "### Events",
        "",
        "| name | version | data | published when |",
        "| --- | --- | --- | --- |",
    ]
    for entry in CATALOG:
        data = entry.data.__name__
        lines.append(f"| `{entry.name}` | {entry.version} | `{data}` | {entry.when} |")
    lines += [
        "",
        "### The seeds' names",
        "",
        "| seed event | catalog event |",
        "| --- | --- |",
    ]
    for seed, name in SEED_NAMES.items():
        target = f"`{name}`" if name is not None else f"not published: {NOT_PUBLISHED[seed]}"
        lines.append(f"| `{seed}` | {target} |")
    lines += [
        "",
        "### JSON Schema",
        "",
        "Each event's `data` schema by name, then the components (JSON Schema 2020-12, made",
        "by `msgspec.json.schema_components` from the Structs of `sync/event_catalog.py`).",
        "",
        "```json",
        json.dumps(
            {"events": refs, "components": {"schemas": components}}, indent=2, sort_keys=True
        ),
        "```",
        "",
        GENERATED_END,
    ]
    return "\n".join(lines) + "\n"


def splice(doc: str) -> str:
    """``doc`` with its generated part replaced by :func:`render_markdown` (raises
    ``ValueError`` if the markers are missing)."""
    start, end = doc.index(GENERATED_BEGIN), doc.index(GENERATED_END) + len(GENERATED_END)
    generated = render_markdown().rstrip("\n")
    return doc[:start] + generated + doc[end:]
