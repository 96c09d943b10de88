"""Learning events (facts) and their validation against the catalog.

An event on the wire is :class:`Event` with a free-form ``body``; :func:`check_event` turns
it into a typed body or a :class:`Rejection` with a stable code. Unknown types are kept by
the device's journal and rejected by the server with ``unknown_type`` (never silently
dropped), so a newer client can talk to an older server.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from sync.catalog import Catalog, Lesson
from sync.errors import split_validation_error
from sync.hlc import HLC_PATTERN, ZERO, parse_hlc

MAX_SECONDS_PER_EVENT: Final = 24 * 3600
# Epoch milliseconds between 2000-01-01 and 2200-01-01: anything else is a broken clock.
MIN_AT_MS: Final = 946_684_800_000
MAX_AT_MS: Final = 7_258_118_400_000

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


Body = LessonOpened | LessonCompleted | LessonUncompleted | LessonProgressed

BODY_TYPES: Final[dict[str, type[Body]]] = {
    "lesson.opened": LessonOpened,
    "lesson.progressed": LessonProgressed,
    "lesson.completed": LessonCompleted,
    "lesson.uncompleted": LessonUncompleted,
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


def settled_stamp(event: Event, now_ms: int) -> tuple[str, int, str]:
    """``(hlc, at, tz)`` safe to write on a server entry about ``event`` (e.g. its
    rejection): the event's own where valid, else the zero HLC, ``now_ms`` and ``""``."""
    try:
        hlc = event.hlc if parse_hlc(event.hlc)[0] <= MAX_AT_MS else ZERO
    except ValueError:
        hlc = ZERO
    at = event.at if MIN_AT_MS <= event.at <= MAX_AT_MS else now_ms
    return hlc, at, event.tz if len(event.tz) <= 64 else ""


def check_event(event: Event, catalog: Catalog) -> Body | Rejection:
    """Validate an event against its schema and the catalog.

    Returns the typed body, or a :class:`Rejection` whose code is one of
    ``invalid_envelope``, ``unknown_type``,
    ``invalid_body``, ``unknown_course``, ``unknown_lesson``, ``invalid_value``.
    """
    envelope = check_envelope(event)
    if envelope is not None:
        return envelope
    body = decode_body(event.type, event.body)
    if isinstance(body, Rejection):
        return body
    if catalog.course(body.course) is None:
        return Rejection("unknown_course", f"no course {body.course!r} in the catalog")
    lesson = catalog.lesson(body.course, body.lesson)
    if lesson is None:
        return Rejection("unknown_lesson", f"no lesson {body.lesson!r} in course {body.course!r}")
    if isinstance(body, LessonProgressed):
        problem = _check_progress(body, lesson)
        if problem:
            return Rejection("invalid_value", problem)
    return body


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
