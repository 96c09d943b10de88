"""Learning events (facts) and their validation against the catalog.

An event on the wire is :class:`Event` with a free-form ``body``; :func:`check_event` turns
it into a typed body or a :class:`Rejection` with a stable code. Unknown types are kept by
the device's journal and rejected by the server with ``unknown_type`` (never silently
dropped), so a newer client can talk to an older server.
"""

from __future__ import annotations

import datetime
import math
from typing import Annotated, Any, Final

import msgspec

from sync.catalog import Catalog, Lesson
from sync.errors import split_validation_error
from sync.hlc import HLC_PATTERN, ZERO, parse_hlc

MAX_SECONDS_PER_EVENT: Final = 24 * 3600
# Epoch milliseconds between 2000-01-01 and 2200-01-01: anything else is a broken clock.
MIN_AT_MS: Final = 946_684_800_000
MAX_AT_MS: Final = 7_258_118_400_000
CLOCK_SKEW_MS: Final = 300_000
"""How far past the server's receipt an event's ``at`` may lie and still be taken as sent
(clocks drift by seconds); beyond it the server takes the receipt instead (:func:`ahead`)."""

Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
Hlc = Annotated[str, msgspec.Meta(pattern=HLC_PATTERN)]
AtMs = Annotated[int, msgspec.Meta(ge=MIN_AT_MS, le=MAX_AT_MS)]
Zone = Annotated[str, msgspec.Meta(max_length=64)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=MAX_SECONDS_PER_EVENT)]
Position = Annotated[int, msgspec.Meta(ge=0, le=7 * 86400)]


class Event(msgspec.Struct, frozen=True):
    """One fact recorded on a device. ``(device_id, seq)`` is its identity.

    Only ``seq`` is strict on the wire: a malformed ``hlc``, ``at`` or ``tz`` rejects that
    one event (:func:`check_envelope`) instead of making every retry of the push fail.
    """

    seq: Seq
    hlc: Annotated[str, msgspec.Meta(max_length=64)]
    at: Annotated[int, msgspec.Meta(ge=-(2**62), le=2**62)]
    type: Name
    body: dict[str, Any] = {}
    tz: Annotated[str, msgspec.Meta(max_length=200)] = ""


class LessonRef(msgspec.Struct, frozen=True):
    course: Name
    lesson: Name


class LessonOpened(LessonRef, frozen=True):
    pass


class LessonCompleted(LessonRef, frozen=True):
    pass


class LessonUncompleted(LessonRef, frozen=True):
    pass


class LessonProgressed(LessonRef, frozen=True):
    seconds: Seconds = 0
    position: Position | None = None
    from_: Annotated[Position | None, msgspec.Meta()] = msgspec.field(default=None, name="from")
    to: Position | None = None


Text = Annotated[str, msgspec.Meta(max_length=100_000)]
Url = Annotated[str, msgspec.Meta(max_length=2000)]


class QuizRef(msgspec.Struct, frozen=True):
    """One attempt at a quiz; ``attempt`` is made by the device (unique per learner)."""

    course: Name
    quiz: Name
    attempt: Name


class QuizStarted(QuizRef, frozen=True):
    pass


class QuizAnswered(QuizRef, frozen=True):
    """The chosen answer(s) to one question; the last by HLC per question counts."""

    question: Name = ""
    choices: Annotated[list[Name], msgspec.Meta(max_length=100)] = []


class QuizSubmitted(QuizRef, frozen=True):
    """Closes the attempt; the server scores it (``quiz.scored``)."""


class AssignmentRef(msgspec.Struct, frozen=True):
    course: Name
    assignment: Name
    text: Text = ""
    url: Url = ""


class AssignmentSaved(AssignmentRef, frozen=True):
    """A draft: last writer by HLC wins."""


class AssignmentSubmitted(AssignmentRef, frozen=True):
    """A submission for grading by an instructor."""


class PathRef(msgspec.Struct, frozen=True):
    path: Name


class PathEnrolled(PathRef, frozen=True):
    pass


class PathPaused(PathRef, frozen=True):
    pass


class PathResumed(PathRef, frozen=True):
    pass


class PathDropped(PathRef, frozen=True):
    pass


class MilestoneRef(msgspec.Struct, frozen=True):
    path: Name
    milestone: Name


class MilestoneStarted(MilestoneRef, frozen=True):
    pass


class MilestoneCompleted(MilestoneRef, frozen=True):
    """The learner (or an instructor for them) marks a milestone done."""


class MilestoneReset(MilestoneRef, frozen=True):
    """Start the milestone over: its content's progress resets, history stays."""


class CourseReset(msgspec.Struct, frozen=True):
    """Start a course over; time spent stays in history."""

    course: Name


LessonBody = LessonOpened | LessonCompleted | LessonUncompleted | LessonProgressed
QuizBody = QuizStarted | QuizAnswered | QuizSubmitted
AssignmentBody = AssignmentSaved | AssignmentSubmitted
PathBody = PathEnrolled | PathPaused | PathResumed | PathDropped
MilestoneBody = MilestoneStarted | MilestoneCompleted | MilestoneReset
Body = LessonBody | QuizBody | AssignmentBody | PathBody | MilestoneBody | CourseReset

BODY_TYPES: Final[dict[str, type[Body]]] = {
    "lesson.opened": LessonOpened,
    "lesson.progressed": LessonProgressed,
    "lesson.completed": LessonCompleted,
    "lesson.uncompleted": LessonUncompleted,
    "quiz.started": QuizStarted,
    "quiz.answered": QuizAnswered,
    "quiz.submitted": QuizSubmitted,
    "assignment.saved": AssignmentSaved,
    "assignment.submitted": AssignmentSubmitted,
    "path.enrolled": PathEnrolled,
    "path.paused": PathPaused,
    "path.resumed": PathResumed,
    "path.dropped": PathDropped,
    "milestone.started": MilestoneStarted,
    "milestone.completed": MilestoneCompleted,
    "milestone.reset": MilestoneReset,
    "course.reset": CourseReset,
}


class Rejection(msgspec.Struct, frozen=True):
    """Why an event is refused for good. ``code`` is stable; ``reason`` is for people."""

    code: str
    reason: str


def decode_body(event_type: str, body: dict[str, Any]) -> Body | Rejection:
    """Type-check ``body`` for ``event_type`` without looking at the catalog."""
    body_type = BODY_TYPES.get(event_type)
    if body_type is None:
        return Rejection("unknown_type", f"unknown event type {event_type!r}")
    try:
        return msgspec.convert(body, body_type)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        return Rejection("invalid_body", f"{event_type}: {problem} - at `$.body{path[1:]}`")


def check_envelope(event: Event) -> Rejection | None:
    """The event's own fields: an HLC in range, a plausible ``at``, a short ``tz``."""
    try:
        wall, _ = parse_hlc(event.hlc)
    except ValueError:
        return Rejection("invalid_envelope", f"hlc {event.hlc!r} is not a hybrid logical clock")
    if wall > MAX_AT_MS:
        # Keeps every HLC a device can observe within 13 digits (see sync.hlc).
        return Rejection("invalid_envelope", f"hlc {event.hlc} is beyond the year 2200")
    if not MIN_AT_MS <= event.at <= MAX_AT_MS:
        return Rejection(
            "invalid_envelope", f"at {event.at} is not epoch milliseconds in 2000-2200"
        )
    if len(event.tz) > 64:
        return Rejection("invalid_envelope", "tz is longer than 64 characters")
    return None


def settled_stamp(event: Event, now_ms: int, skew_ms: int = CLOCK_SKEW_MS) -> tuple[str, int, str]:
    """``(hlc, at, tz)`` safe to write on a server entry about ``event`` (e.g. its
    rejection): the event's own where valid, else the zero HLC, ``now_ms`` and ``""``; an
    ``at`` too far ahead of ``now_ms`` (:func:`ahead`) is ``now_ms`` too."""
    try:
        hlc = event.hlc if parse_hlc(event.hlc)[0] <= MAX_AT_MS else ZERO
    except ValueError:
        hlc = ZERO
    valid = MIN_AT_MS <= event.at <= MAX_AT_MS and ahead(event.at, now_ms, skew_ms) is None
    return hlc, event.at if valid else now_ms, event.tz if len(event.tz) <= 64 else ""


# -- time the server can trust (docs/protocol.md, "Time") ---------------------------------


def credited_at(at: int, received: int) -> int:
    """The time the server credits a fact with for streak days, leaderboard weeks and
    cool-downs: the device's ``at``, but never after the server received the event (a
    device clock that runs ahead must not earn a day, a week or a cool-down early)."""
    return min(at, received)


def ahead(at: int, received: int, skew_ms: int = CLOCK_SKEW_MS) -> str | None:
    """Why ``at`` cannot be taken as sent: it lies more than ``skew_ms`` after the server's
    ``received`` (the device's clock is wrong); None when it can. For people, e.g. "at is
    2030-01-01T00:00:00Z, 3.2 years after the server's clock; allowed skew 300 s"."""
    if at - received <= skew_ms:
        return None
    return (
        f"at is {iso_ms(at)}, {span(at - received)} after the server's clock;"
        f" allowed skew {skew_ms // 1000} s"
    )


def iso_ms(at: int) -> str:
    """``at`` (epoch ms) as an ISO 8601 UTC time, to the second: ``2030-01-01T00:00:00Z``."""
    moment = datetime.datetime.fromtimestamp(at // 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_SPANS: Final = (
    (365.25 * 86_400_000, "years"),
    (86_400_000, "days"),
    (3_600_000, "hours"),
)


def span(ms: int) -> str:
    """A duration for people, in the largest unit it reaches: "3.2 years", "301 s"."""
    for size, unit in _SPANS:
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{-(-ms // 1000)} s"


def json_problem(value: Any, path: str = "$.body") -> str | None:
    """Why ``value`` (a decoded body) cannot be stored as the JSON the feed holds, with the
    path of the first value at fault; ``None`` if it can. MessagePack can carry binary,
    extension types, timestamps, non-string map keys and non-finite floats: each would be
    changed or refused by JSON, so the event is rejected instead (protocol.md §5)."""
    if isinstance(value, str | bool | int | None):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"a number JSON cannot hold at `{path}`"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a map key that is not a string at `{path}`"
            if (problem := json_problem(item, f"{path}.{key}")) is not None:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (problem := json_problem(item, f"{path}[{index}]")) is not None:
                return problem
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return f"a binary value at `{path}` (bodies hold JSON values only)"
    if isinstance(value, msgspec.msgpack.Ext):
        return f"a MessagePack extension value at `{path}` (bodies hold JSON values only)"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return f"a MessagePack timestamp at `{path}` (bodies hold JSON values only)"
    return f"a value JSON cannot hold at `{path}`"


def check_event(event: Event, catalog: Catalog) -> Body | Rejection:
    """Validate an event against its schema and the catalog.

    Returns the typed body, or a :class:`Rejection` whose code is one of
    ``invalid_envelope``, ``unknown_type``, ``unknown_path``, ``unknown_milestone``,
    ``unknown_quiz``, ``unknown_question``, ``unknown_assignment``,
    ``invalid_body``, ``unknown_course``, ``unknown_lesson``, ``invalid_value``.
    """
    envelope = check_envelope(event)
    if envelope is not None:
        return envelope
    body = decode_body(event.type, event.body)
    if isinstance(body, Rejection):
        return body
    problem = _check_refs(body, catalog)
    if problem is not None:
        return problem
    if isinstance(body, LessonProgressed):
        lesson = catalog.lesson(body.course, body.lesson)
        assert lesson is not None
        value = _check_progress(body, lesson)
        if value:
            return Rejection("invalid_value", value)
    return body


def _check_refs(body: Body, catalog: Catalog) -> Rejection | None:
    """Every id an event names must exist in the catalog."""
    if isinstance(body, PathRef | MilestoneRef):
        path = catalog.path(body.path)
        if path is None:
            return Rejection("unknown_path", f"no path {body.path!r} in the catalog")
        if isinstance(body, MilestoneRef) and body.milestone not in {m.id for m in path.milestones}:
            return Rejection(
                "unknown_milestone", f"no milestone {body.milestone!r} in path {body.path!r}"
            )
        return None
    if catalog.course(body.course) is None:
        return Rejection("unknown_course", f"no course {body.course!r} in the catalog")
    match body:
        case LessonRef() if catalog.lesson(body.course, body.lesson) is None:
            return Rejection(
                "unknown_lesson", f"no lesson {body.lesson!r} in course {body.course!r}"
            )
        case QuizRef():
            quiz = catalog.quiz(body.course, body.quiz)
            if quiz is None:
                return Rejection("unknown_quiz", f"no quiz {body.quiz!r} in course {body.course!r}")
            if isinstance(body, QuizAnswered):
                question = next((q for q in quiz.questions if q.id == body.question), None)
                if question is None:
                    return Rejection(
                        "unknown_question", f"no question {body.question!r} in quiz {body.quiz!r}"
                    )
                known = {c.id for c in question.choices}
                wrong = [c for c in body.choices if c not in known]
                if wrong or not body.choices:
                    return Rejection(
                        "invalid_value",
                        f"question {body.question!r} has no choice {wrong[0]!r}"
                        if wrong
                        else f"no choice given for question {body.question!r}",
                    )
        case AssignmentRef() if catalog.assignment(body.course, body.assignment) is None:
            return Rejection(
                "unknown_assignment",
                f"no assignment {body.assignment!r} in course {body.course!r}",
            )
    return None


def _check_progress(body: LessonProgressed, lesson: Lesson) -> str | None:
    limit = lesson.duration
    if body.position is not None and limit and body.position > limit:
        return f"position {body.position} is past the lesson's duration {limit}"
    if (body.from_ is None) != (body.to is None):
        return "a watched segment needs both from and to"
    if body.from_ is not None and body.to is not None:
        if body.from_ >= body.to:
            return f"watched segment from {body.from_} to {body.to} is empty or reversed"
        if limit and body.to > limit:
            return f"watched segment ends at {body.to}, past the duration {limit}"
        if not limit:
            return "this lesson has no duration, so it has no watched segments"
    return None
