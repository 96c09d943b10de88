"""sync.events: the Event wire type and check_event() against the catalog."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
import pytest

from sync.catalog import (
    Assignment,
    Catalog,
    Choice,
    Course,
    Lesson,
    Milestone,
    Module,
    Path,
    Question,
    Quiz,
    public_catalog,
)
from sync.events import (
    BODY_TYPES,
    CLOCK_SKEW_MS,
    MAX_AT_MS,
    MAX_SECONDS_PER_EVENT,
    MIN_AT_MS,
    AssignmentSaved,
    AssignmentSubmitted,
    CourseReset,
    Event,
    LessonCompleted,
    LessonOpened,
    LessonProgressed,
    LessonRef,
    LessonUncompleted,
    MilestoneCompleted,
    MilestoneReset,
    MilestoneStarted,
    PathDropped,
    PathEnrolled,
    PathPaused,
    PathResumed,
    QuizAnswered,
    QuizStarted,
    QuizSubmitted,
    Rejection,
    ahead,
    check_event,
    credited_at,
    decode_body,
    json_problem,
    settled_stamp,
)
from sync.hlc import parse_hlc

T = 1_763_790_000_000
HLC = "1763790000000-0000"

ABC = [Choice("a"), Choice("b"), Choice("c")]
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
                        Lesson(
                            "reading",
                            quizzes=[Quiz("check", [Question("q1", ABC[:2], answer="b")])],
                        ),
                    ],
                    quizzes=[
                        Quiz(
                            "final",
                            [
                                Question("q1", ABC, answer="a"),
                                Question("q2", ABC, answer=["a", "c"]),
                                Question("q3", [Choice("yes"), Choice("no")], answer="no"),
                            ],
                        )
                    ],
                    assignments=[Assignment("essay")],
                ),
                Module("more", lessons=[Lesson("extra")]),
            ],
        ),
        Course(
            "js",
            modules=[
                Module(
                    "m",
                    lessons=[Lesson("intro")],
                    quizzes=[Quiz("js-quiz", [Question("q1", ABC, answer="c")])],
                    assignments=[Assignment("js-essay")],
                )
            ],
        ),
    ],
    paths=[
        Path("track", [Milestone("start", "py", "m", order=1), Milestone("js", "js", order=2)]),
        Path("short", [Milestone("only", "js")]),
    ],
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
    assert isinstance(body, LessonRef)
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


@pytest.mark.parametrize(
    "type_", ["lesson.liked", "quiz.peeked", "lesson.open", "Lesson.opened", "path", "Quiz.started"]
)
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
    assert settled_stamp(event, T) == (HLC, T, "UTC")
    assert settled_stamp(event, T - CLOCK_SKEW_MS) == (HLC, T, "UTC")  # within the skew


def test_a_stamp_far_ahead_of_the_server_is_the_servers_time() -> None:
    event = Event(1, HLC, T, "lesson.opened", {"course": "py", "lesson": "page"}, "UTC")
    assert settled_stamp(event, T - CLOCK_SKEW_MS - 1) == (HLC, T - CLOCK_SKEW_MS - 1, "UTC")
    assert settled_stamp(event, T - 10, skew_ms=5) == (HLC, T - 10, "UTC")


# -- time the server can trust -----------------------------------------------------------

Y2030 = 1_893_456_000_000  # 2030-01-01T00:00:00Z


def test_an_at_within_the_skew_is_taken_as_sent() -> None:
    assert ahead(T, T) is None
    assert ahead(T - 1000, T) is None  # the past is fine: offline devices sync late
    assert ahead(MIN_AT_MS, T) is None
    assert ahead(T + CLOCK_SKEW_MS, T) is None
    assert ahead(T + 10, T, skew_ms=10) is None


@pytest.mark.parametrize(
    ("at", "skew_ms", "reason"),
    [
        (
            Y2030,
            CLOCK_SKEW_MS,
            "at is 2030-01-01T00:00:00Z, 4.1 years after the server's clock; allowed skew 300 s",
        ),
        (
            T + CLOCK_SKEW_MS + 1,
            CLOCK_SKEW_MS,
            "at is 2025-11-22T05:45:00Z, 301 s after the server's clock; allowed skew 300 s",
        ),
        (
            T + 2 * 86_400_000 + 43_200_000,
            60_000,
            "at is 2025-11-24T17:40:00Z, 2.5 days after the server's clock; allowed skew 60 s",
        ),
        (
            T + 5 * 3_600_000,
            0,
            "at is 2025-11-22T10:40:00Z, 5.0 hours after the server's clock; allowed skew 0 s",
        ),
    ],
)
def test_an_at_beyond_the_skew_says_when_and_how_far_ahead(
    at: int, skew_ms: int, reason: str
) -> None:
    assert ahead(at, T, skew_ms) == reason


def test_a_fact_is_credited_no_later_than_its_receipt() -> None:
    assert credited_at(T, T + 5) == T
    assert credited_at(T + 5, T) == T
    assert credited_at(Y2030, T) == T


# -- learning events: quizzes, assignments, paths, milestones, course reset ---------------

ATTEMPT = "att-7f3a"


def quiz_event(type_: str, quiz: str = "final", course: str = "py", **body: Any) -> Event:
    return event(type_, course=course, quiz=quiz, attempt=ATTEMPT, **body)


LEARNING_EVENTS: list[tuple[str, dict[str, Any], object]] = [
    (
        "quiz.started",
        {"course": "py", "quiz": "final", "attempt": ATTEMPT},
        QuizStarted("py", "final", ATTEMPT),
    ),
    (
        "quiz.answered",
        {
            "course": "py",
            "quiz": "final",
            "attempt": ATTEMPT,
            "question": "q1",
            "choices": ["b"],
        },
        QuizAnswered("py", "final", ATTEMPT, "q1", ["b"]),
    ),
    (
        "quiz.submitted",
        {"course": "py", "quiz": "final", "attempt": ATTEMPT},
        QuizSubmitted("py", "final", ATTEMPT),
    ),
    (
        "assignment.saved",
        {"course": "py", "assignment": "essay", "text": "draft"},
        AssignmentSaved("py", "essay", "draft", ""),
    ),
    (
        "assignment.submitted",
        {"course": "py", "assignment": "essay", "text": "final", "url": "https://x.test/e"},
        AssignmentSubmitted("py", "essay", "final", "https://x.test/e"),
    ),
    ("path.enrolled", {"path": "track"}, PathEnrolled("track")),
    ("path.paused", {"path": "track"}, PathPaused("track")),
    ("path.resumed", {"path": "track"}, PathResumed("track")),
    ("path.dropped", {"path": "track"}, PathDropped("track")),
    (
        "milestone.started",
        {"path": "track", "milestone": "start"},
        MilestoneStarted("track", "start"),
    ),
    (
        "milestone.completed",
        {"path": "track", "milestone": "js"},
        MilestoneCompleted("track", "js"),
    ),
    (
        "milestone.reset",
        {"path": "short", "milestone": "only"},
        MilestoneReset("short", "only"),
    ),
    ("course.reset", {"course": "js"}, CourseReset("js")),
]


@pytest.mark.parametrize(
    ("type_", "body", "expected"),
    [pytest.param(*case, id=case[0]) for case in LEARNING_EVENTS],
)
def test_each_learning_event_is_accepted_as_its_typed_body(
    type_: str, body: dict[str, Any], expected: object
) -> None:
    assert check_event(Event(1, HLC, T, type_, body), CATALOG) == expected
    # Devices check events against the public catalog, which has no answers: same verdict.
    assert check_event(Event(1, HLC, T, type_, body), public_catalog(CATALOG)) == expected


def test_every_event_type_has_an_accepted_example() -> None:
    """A type added to BODY_TYPES without a test here (or in the lesson tests) fails."""
    lesson_types = {"lesson.opened", "lesson.progressed", "lesson.completed", "lesson.uncompleted"}
    assert set(BODY_TYPES) == lesson_types | {type_ for type_, _, _ in LEARNING_EVENTS}
    assert len(LEARNING_EVENTS) == 13


@pytest.mark.parametrize(
    ("quiz", "question", "choices"),
    [
        pytest.param("final", "q2", ["a", "c"], id="several-choices"),
        pytest.param("final", "q2", ["b"], id="a-wrong-choice-is-still-valid"),
        pytest.param("final", "q3", ["yes"], id="another-question"),
        pytest.param("check", "q1", ["a"], id="a-lesson-quiz"),
    ],
)
def test_an_answer_naming_known_choices_is_accepted(
    quiz: str, question: str, choices: list[str]
) -> None:
    body = check_event(
        quiz_event("quiz.answered", quiz, question=question, choices=choices), CATALOG
    )
    assert body == QuizAnswered("py", quiz, ATTEMPT, question, choices)


def test_an_assignment_body_defaults_to_empty_text_and_url() -> None:
    body = check_event(event("assignment.saved", course="py", assignment="essay"), CATALOG)
    assert body == AssignmentSaved("py", "essay", "", "")


def test_quiz_started_and_submitted_are_checked_only_for_the_quiz() -> None:
    # No question or choice to check: any attempt id made by the device goes.
    for type_ in ("quiz.started", "quiz.submitted"):
        assert not isinstance(check_event(quiz_event(type_, "check"), CATALOG), Rejection)


# -- the new rejection codes --------------------------------------------------------------


@pytest.mark.parametrize(
    "type_",
    ["path.enrolled", "path.paused", "path.resumed", "path.dropped"],
)
def test_unknown_path_is_rejected(type_: str) -> None:
    result = check_event(event(type_, path="nowhere"), CATALOG)
    assert result == Rejection("unknown_path", "no path 'nowhere' in the catalog")


@pytest.mark.parametrize("type_", ["milestone.started", "milestone.completed", "milestone.reset"])
def test_a_milestone_of_an_unknown_path_is_rejected_as_unknown_path(type_: str) -> None:
    result = check_event(event(type_, path="nowhere", milestone="start"), CATALOG)
    assert result == Rejection("unknown_path", "no path 'nowhere' in the catalog")


@pytest.mark.parametrize(
    ("type_", "milestone"),
    [
        ("milestone.started", "nope"),
        ("milestone.completed", "only"),  # exists, in path "short"
        ("milestone.reset", "py"),  # a course id, not a milestone id
    ],
)
def test_unknown_milestone_is_rejected(type_: str, milestone: str) -> None:
    result = check_event(event(type_, path="track", milestone=milestone), CATALOG)
    assert result == Rejection("unknown_milestone", f"no milestone {milestone!r} in path 'track'")


@pytest.mark.parametrize(
    ("type_", "quiz"),
    [
        ("quiz.started", "nope"),
        ("quiz.answered", "js-quiz"),  # exists, in course js
        ("quiz.submitted", "essay"),  # an assignment, not a quiz
    ],
)
def test_unknown_quiz_is_rejected(type_: str, quiz: str) -> None:
    result = check_event(quiz_event(type_, quiz, question="q1", choices=["a"]), CATALOG)
    assert result == Rejection("unknown_quiz", f"no quiz {quiz!r} in course 'py'")


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        ("quiz.started", {"quiz": "final", "attempt": ATTEMPT}),
        ("quiz.answered", {"quiz": "final", "attempt": ATTEMPT, "question": "q1"}),
        ("assignment.saved", {"assignment": "essay"}),
        ("assignment.submitted", {"assignment": "essay"}),
        ("course.reset", {}),
    ],
)
def test_unknown_course_is_rejected_for_learning_events(type_: str, body: dict[str, Any]) -> None:
    result = check_event(event(type_, course="rust", **body), CATALOG)
    assert result == Rejection("unknown_course", "no course 'rust' in the catalog")


@pytest.mark.parametrize(
    ("quiz", "question"),
    [
        ("final", "q9"),
        ("check", "q2"),  # q2 is in quiz "final", not in "check"
    ],
)
def test_unknown_question_is_rejected(quiz: str, question: str) -> None:
    result = check_event(
        quiz_event("quiz.answered", quiz, question=question, choices=["a"]), CATALOG
    )
    assert result == Rejection("unknown_question", f"no question {question!r} in quiz {quiz!r}")


def test_an_answer_without_a_question_is_rejected_as_unknown_question() -> None:
    result = check_event(quiz_event("quiz.answered", choices=["a"]), CATALOG)
    assert result == Rejection("unknown_question", "no question '' in quiz 'final'")


@pytest.mark.parametrize(
    ("course", "assignment"),
    [("py", "nope"), ("py", "js-essay"), ("js", "essay"), ("py", "final")],
)
@pytest.mark.parametrize("type_", ["assignment.saved", "assignment.submitted"])
def test_unknown_assignment_is_rejected(type_: str, course: str, assignment: str) -> None:
    result = check_event(event(type_, course=course, assignment=assignment), CATALOG)
    assert result == Rejection(
        "unknown_assignment", f"no assignment {assignment!r} in course {course!r}"
    )


@pytest.mark.parametrize(
    ("question", "choices", "problem"),
    [
        pytest.param("q1", ["d"], "question 'q1' has no choice 'd'", id="unknown-choice"),
        pytest.param(
            "q1", ["a", "zz", "yy"], "question 'q1' has no choice 'zz'", id="first-unknown-named"
        ),
        pytest.param(
            "q3", ["a"], "question 'q3' has no choice 'a'", id="choice-of-another-question"
        ),
        pytest.param("q1", [], "no choice given for question 'q1'", id="no-choice"),
    ],
)
def test_an_impossible_answer_is_rejected_as_invalid_value(
    question: str, choices: list[str], problem: str
) -> None:
    result = check_event(quiz_event("quiz.answered", question=question, choices=choices), CATALOG)
    assert result == Rejection("invalid_value", problem)


def test_an_answer_with_choices_left_out_is_rejected_as_invalid_value() -> None:
    result = check_event(quiz_event("quiz.answered", question="q1"), CATALOG)
    assert result == Rejection("invalid_value", "no choice given for question 'q1'")


@pytest.mark.parametrize(
    ("type_", "body", "problem", "path"),
    [
        pytest.param(
            "quiz.started",
            {"course": "py", "quiz": "final"},
            "Object missing required field `attempt`",
            "$.body",
            id="attempt-missing",
        ),
        pytest.param(
            "quiz.submitted",
            {"course": "py", "quiz": "final", "attempt": ""},
            "Expected `str` of length >= 1",
            "$.body.attempt",
            id="attempt-empty",
        ),
        pytest.param(
            "quiz.answered",
            {"course": "py", "quiz": "final", "attempt": "a", "question": "q1", "choices": "a"},
            "Expected `array`, got `str`",
            "$.body.choices",
            id="choices-not-a-list",
        ),
        pytest.param(
            "quiz.answered",
            {"course": "py", "quiz": "final", "attempt": "a", "question": "q1", "choices": [""]},
            "Expected `str` of length >= 1",
            "$.body.choices[0]",
            id="empty-choice",
        ),
        pytest.param(
            "quiz.answered",
            {
                "course": "py",
                "quiz": "final",
                "attempt": "a",
                "question": "q1",
                "choices": ["a"] * 101,
            },
            "Expected `array` of length <= 100",
            "$.body.choices",
            id="too-many-choices",
        ),
        pytest.param(
            "assignment.submitted",
            {"course": "py", "assignment": "essay", "url": "x" * 2001},
            "Expected `str` of length <= 2000",
            "$.body.url",
            id="url-too-long",
        ),
        pytest.param(
            "assignment.saved",
            {"course": "py", "assignment": "essay", "text": "x" * 100_001},
            "Expected `str` of length <= 100000",
            "$.body.text",
            id="text-too-long",
        ),
        pytest.param(
            "path.enrolled", {}, "Object missing required field `path`", "$.body", id="no-path"
        ),
        pytest.param(
            "milestone.completed",
            {"path": "track"},
            "Object missing required field `milestone`",
            "$.body",
            id="no-milestone",
        ),
        pytest.param(
            "course.reset", {"course": 7}, "Expected `str`, got `int`", "$.body.course", id="course"
        ),
    ],
)
def test_invalid_learning_bodies_are_rejected_naming_the_path(
    type_: str, body: dict[str, Any], problem: str, path: str
) -> None:
    result = check_event(Event(1, HLC, T, type_, body), CATALOG)
    assert result == Rejection("invalid_body", f"{type_}: {problem} - at `{path}`")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"x": b"\x00"}, "a binary value at `$.body.x` (bodies hold JSON values only)"),
        (
            {"x": [1, {"y": msgspec.msgpack.Ext(5, b"x")}]},
            "a MessagePack extension value at `$.body.x[1].y` (bodies hold JSON values only)",
        ),
        ({"x": {1: "one"}}, "a map key that is not a string at `$.body.x`"),
        ({"x": float("nan")}, "a number JSON cannot hold at `$.body.x`"),
        ({"x": float("inf")}, "a number JSON cannot hold at `$.body.x`"),
        (
            {"x": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},
            "a MessagePack timestamp at `$.body.x` (bodies hold JSON values only)",
        ),
        ({"x": [1, 2.5, "s", True, None, {"y": []}]}, None),
    ],
)
def test_a_body_is_stored_only_if_json_holds_it_unchanged(
    body: dict[str, object], problem: str | None
) -> None:
    assert json_problem(body) == problem


def test_a_msgpack_timestamp_or_binary_decodes_to_a_value_json_problem_names() -> None:
    """What MessagePack bodies really decode to: bin → bytes, timestamp ext → datetime."""
    packed = msgspec.msgpack.encode(
        {"b": b"\x01", "t": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}
    )
    body = msgspec.msgpack.decode(packed, type=dict[str, Any])
    assert json_problem({"b": body["b"]}) is not None
    assert json_problem({"t": body["t"]}) is not None
