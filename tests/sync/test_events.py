"""sync.events: the Event wire type and check_event() against the catalog."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sync.catalog import Catalog, Course, Lesson, Module
from sync.events import (
    MAX_AT_MS,
    MAX_SECONDS_PER_EVENT,
    MIN_AT_MS,
    Event,
    LessonCompleted,
    LessonOpened,
    LessonProgressed,
    LessonUncompleted,
    Rejection,
    check_event,
    decode_body,
    settled_stamp,
)
from sync.hlc import parse_hlc

T = 1_763_790_000_000
HLC = "1763790000000-0000"

CATALOG = Catalog(
    [
        Course(
            "py",
            modules=[
                Module(
                    "m",
                    lessons=[
                        Lesson("page"),  # no duration
                        Lesson("video", kind="video", duration=600, completion="watched:90"),
                    ],
                )
            ],
        ),
        Course("js", modules=[Module("m", lessons=[Lesson("intro")])]),
    ]
)


def event(type_: str, **body: Any) -> Event:
    return Event(seq=1, hlc=HLC, at=T, type=type_, body=body, tz="Europe/Paris")


def progressed(lesson: str = "video", **body: Any) -> Event:
    return event("lesson.progressed", course="py", lesson=lesson, **body)


def segment(start: int, end: int) -> dict[str, Any]:
    return {"from": start, "to": end}


# -- accepted -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "body_type"),
    [
        ("lesson.opened", LessonOpened),
        ("lesson.completed", LessonCompleted),
        ("lesson.uncompleted", LessonUncompleted),
        ("lesson.progressed", LessonProgressed),
    ],
)
def test_each_event_type_is_accepted_as_its_typed_body(type_: str, body_type: type) -> None:
    body = check_event(event(type_, course="py", lesson="page"), CATALOG)
    assert type(body) is body_type
    assert not isinstance(body, Rejection)
    assert (body.course, body.lesson) == ("py", "page")


def test_progress_with_every_field_is_accepted() -> None:
    body = check_event(progressed(seconds=60, position=120, **segment(60, 120)), CATALOG)
    assert body == LessonProgressed("py", "video", seconds=60, position=120, from_=60, to=120)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"seconds": 0}, id="zero-seconds"),
        pytest.param({"seconds": MAX_SECONDS_PER_EVENT}, id="a-whole-day"),
        pytest.param({"position": 600}, id="position-at-the-end"),
        pytest.param({"position": 0}, id="position-at-the-start"),
        pytest.param(segment(0, 600), id="the-whole-video"),
        pytest.param(segment(599, 600), id="the-last-second"),
    ],
)
def test_progress_boundaries_are_accepted(body: dict[str, Any]) -> None:
    assert isinstance(check_event(progressed(**body), CATALOG), LessonProgressed)


def test_position_on_a_lesson_without_duration_is_accepted() -> None:
    body = check_event(progressed("page", seconds=30, position=5000), CATALOG)
    assert body == LessonProgressed("py", "page", seconds=30, position=5000)


# -- unknown_type -------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["quiz.submitted", "lesson.open", "Lesson.opened"])
def test_unknown_type_is_rejected(type_: str) -> None:
    result = check_event(event(type_, course="py", lesson="page"), CATALOG)
    assert result == Rejection("unknown_type", f"unknown event type {type_!r}")


# -- invalid_body -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "body", "problem", "path"),
    [
        pytest.param(
            "lesson.progressed",
            {"course": "py", "lesson": "video", "seconds": -1},
            "Expected `int` >= 0",
            "$.body.seconds",
            id="negative-seconds",
        ),
        pytest.param(
            "lesson.progressed",
            {"course": "py", "lesson": "video", "seconds": MAX_SECONDS_PER_EVENT + 1},
            "Expected `int` <= 86400",
            "$.body.seconds",
            id="seconds-above-a-day",
        ),
        pytest.param(
            "lesson.progressed",
            {"course": "py", "lesson": "video", "seconds": "60"},
            "Expected `int`, got `str`",
            "$.body.seconds",
            id="seconds-as-text",
        ),
        pytest.param(
            "lesson.progressed",
            {"course": "py", "lesson": "video", "seconds": 1.5},
            "Expected `int`, got `float`",
            "$.body.seconds",
            id="fractional-seconds",
        ),
        pytest.param(
            "lesson.progressed",
            {"course": "py", "lesson": "video", "from": -5, "to": 10},
            "Expected `int` >= 0",
            "$.body.from",
            id="negative-from",
        ),
        pytest.param(
            "lesson.completed",
            {"course": "py"},
            "Object missing required field `lesson`",
            "$.body",
            id="missing-lesson",
        ),
        pytest.param(
            "lesson.uncompleted",
            {"course": "", "lesson": "page"},
            "Expected `str` of length >= 1",
            "$.body.course",
            id="empty-course",
        ),
        pytest.param(
            "lesson.opened",
            {"course": ["py"], "lesson": "page"},
            "Expected `str`, got `array`",
            "$.body.course",
            id="course-not-text",
        ),
    ],
)
def test_invalid_body_is_rejected_naming_the_path(
    type_: str, body: dict[str, Any], problem: str, path: str
) -> None:
    result = check_event(Event(1, HLC, T, type_, body), CATALOG)
    assert result == Rejection("invalid_body", f"{type_}: {problem} - at `{path}`")


def test_decode_body_checks_the_schema_without_the_catalog() -> None:
    assert decode_body("lesson.opened", {"course": "nowhere", "lesson": "x"}) == LessonOpened(
        "nowhere", "x"
    )


# -- unknown_course / unknown_lesson ------------------------------------------------------


def test_unknown_course_is_rejected() -> None:
    result = check_event(event("lesson.opened", course="rust", lesson="page"), CATALOG)
    assert result == Rejection("unknown_course", "no course 'rust' in the catalog")


@pytest.mark.parametrize("lesson", ["nope", "intro"])  # "intro" exists, in course js
def test_unknown_lesson_is_rejected(lesson: str) -> None:
    result = check_event(event("lesson.completed", course="py", lesson=lesson), CATALOG)
    assert result == Rejection("unknown_lesson", f"no lesson {lesson!r} in course 'py'")


# -- invalid_value ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lesson", "body", "problem"),
    [
        pytest.param(
            "video", {"position": 601}, "position 601 is past the lesson's duration 600", id="pos"
        ),
        pytest.param(
            "video",
            segment(30, 30),
            "watched segment from 30 to 30 is empty or reversed",
            id="empty-segment",
        ),
        pytest.param(
            "video",
            segment(40, 30),
            "watched segment from 40 to 30 is empty or reversed",
            id="reversed-segment",
        ),
        pytest.param(
            "video", {"from": 30}, "a watched segment needs both from and to", id="from-no-to"
        ),
        pytest.param(
            "video", {"to": 30}, "a watched segment needs both from and to", id="to-no-from"
        ),
        pytest.param(
            "video",
            segment(500, 601),
            "watched segment ends at 601, past the duration 600",
            id="segment-past-duration",
        ),
        pytest.param(
            "page",
            segment(0, 10),
            "this lesson has no duration, so it has no watched segments",
            id="segment-without-duration",
        ),
    ],
)
def test_impossible_values_are_rejected(lesson: str, body: dict[str, Any], problem: str) -> None:
    assert check_event(progressed(lesson, seconds=10, **body), CATALOG) == Rejection(
        "invalid_value", problem
    )


# -- the Event wire type ------------------------------------------------------------------


def test_event_body_and_tz_default_to_empty() -> None:
    raw = {"seq": 1, "hlc": HLC, "at": T, "type": "lesson.opened"}
    assert msgspec.convert(raw, Event) == Event(1, HLC, T, "lesson.opened", {}, "")


def test_event_keeps_fields_it_does_not_know() -> None:
    # Schema evolution: a newer device may add fields at the end; an older reader ignores them.
    raw = {"seq": 1, "hlc": HLC, "at": T, "type": "x", "mood": "happy"}
    assert msgspec.convert(raw, Event).type == "x"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 0),
        ("seq", 2**53 + 1),
        ("hlc", 17),
        ("at", 2**62 + 1),
        ("type", ""),
        ("tz", "x" * 201),
    ],
)
def test_event_refuses_out_of_range_fields(field: str, value: object) -> None:
    raw: dict[str, object] = {"seq": 1, "hlc": HLC, "at": T, "type": "lesson.opened"}
    raw[field] = value
    with pytest.raises(msgspec.ValidationError, match=rf"- at `\$\.{field}`"):
        msgspec.convert(raw, Event)


def test_unknown_body_fields_from_a_newer_client_are_tolerated() -> None:
    """Schemas evolve by adding optional fields: an older server must accept them."""
    body = decode_body("lesson.opened", {"course": "py", "lesson": "page", "device_hint": "x"})
    assert not isinstance(body, Rejection)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("hlc", "9999999999999-ffff", "beyond the year 2200"),
        ("hlc", "1763790000000-0000\n", "not a hybrid logical clock"),
        ("hlc", "1763790000000-000", "not a hybrid logical clock"),
        ("hlc", "1763790000000-000G", "not a hybrid logical clock"),
        ("at", MIN_AT_MS - 1, "not epoch milliseconds"),
        ("at", MAX_AT_MS + 1, "not epoch milliseconds"),
        ("tz", "x" * 65, "longer than 64"),
    ],
)
def test_a_bad_envelope_rejects_only_that_event(field: str, value: object, needle: str) -> None:
    """Decodable but out of range: the event is rejected for good, the push goes on."""
    raw: dict[str, object] = {"seq": 1, "hlc": HLC, "at": T, "type": "lesson.opened", "tz": "UTC"}
    raw[field] = value
    raw["body"] = {"course": "py", "lesson": "page"}
    event = msgspec.convert(raw, Event)
    verdict = check_event(event, CATALOG)
    assert isinstance(verdict, Rejection) and verdict.code == "invalid_envelope"
    assert needle in verdict.reason
    hlc, at, tz = settled_stamp(event, T)
    assert parse_hlc(hlc)[0] <= MAX_AT_MS and MIN_AT_MS <= at <= MAX_AT_MS and len(tz) <= 64


def test_a_good_envelope_keeps_its_own_stamp() -> None:
    event = Event(1, HLC, T, "lesson.opened", {"course": "py", "lesson": "page"}, "UTC")
    assert settled_stamp(event, 0) == (HLC, T, "UTC")
