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
from typing import Any, NamedTuple

import msgspec

from sync.events import (
    AssignmentRef,
    AssignmentSaved,
    Body,
    CourseReset,
    LessonCompleted,
    LessonOpened,
    LessonProgressed,
    LessonUncompleted,
    MilestoneRef,
    MilestoneReset,
    PathRef,
    QuizAnswered,
    QuizRef,
    QuizSubmitted,
    Rejection,
    decode_body,
)
from sync.hlc import ZERO

Stamp = tuple[str, str, int]
"""Total order of facts: ``(hlc, device_id, seq)``."""


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
    at: int = 0


class Base(msgspec.Struct, frozen=True):
    """A lesson's evidence stamped below ``upto`` (the learner's settled horizon when it was
    summed), summed for good: only the evidence a late reset could still cut is kept as a
    list (:mod:`sync.merge.horizon`).

    It holds the evidence stamped after ``floor`` (the lesson's effective reset when it was
    summed: later resets are stamped above ``upto``, so they cut all of it). ``rule`` is the
    lesson's completion and duration then (``"watched:80|300"``) and ``module`` its module:
    ``met_at`` (when the rule was first met within this evidence) is true for that rule.
    """

    upto: str
    floor: Stamp | None
    module: str
    rule: str
    seconds: int = 0
    segments: list[tuple[int, int]] = []
    met_at: int | None = None
    last_at: int | None = None
    """The latest wall time of the evidence summed."""


class LessonState(msgspec.Struct):
    seconds: int = 0
    segments: list[tuple[int, int]] = []
    position: int | None = None
    position_stamp: Stamp | None = None
    opened: Stamp | None = None
    completed: Stamp | None = None
    uncompleted: Stamp | None = None
    evidence: list[Evidence] = []
    """Evidence stamped after the lesson's uncompleted mark and at or above ``base.upto``."""
    first_at: int | None = None
    last_at: int | None = None
    opened_at: int | None = None
    completed_at: int | None = None
    base: Base | None = None


class AttemptState(msgspec.Struct):
    """A quiz attempt as the device's facts describe it."""

    device_id: str = ""
    started_at: int | None = None
    answers: dict[str, tuple[Stamp, list[str]]] = {}
    submitted: Stamp | None = None
    submitted_at: int | None = None
    answered_at: dict[str, int] = {}
    """The device time (``at``) of each held answer (the one in ``answers``): the time
    spent on a question (``quiz_question_responses``) counts from it."""


class AttemptResult(msgspec.Struct, frozen=True):
    """The server's decision on a submitted attempt (``quiz.scored``)."""

    number: int
    score: float
    passed: bool
    counted: bool
    reason: str = ""
    at: int = 0
    """When the attempt was submitted as the server credits it (never after ``received``)."""
    correct: int = 0
    questions: int = 0
    received: int = 0
    """When the server received the submit it scored (0: scored before it kept that; then
    ``at``). Cool-downs count from it (:func:`sync.views.cooldown_ends`)."""


class QuizState(msgspec.Struct):
    attempts: dict[str, AttemptState] = {}
    results: dict[str, AttemptResult] = {}
    passed_at: int | None = None
    passed_score: float | None = None


class Submission(msgspec.Struct, array_like=True, frozen=True):
    stamp: Stamp
    at: int
    text: str
    url: str


class Grade(msgspec.Struct, frozen=True):
    score: float
    passed: bool
    feedback: str = ""
    graded_by: str = ""
    at: int = 0
    submissions: int = 0


class AssignmentState(msgspec.Struct):
    draft: tuple[Stamp, str, str] | None = None
    submissions: list[Submission] = []
    grades: list[Grade] = []
    refused: str = ""


class MilestoneState(msgspec.Struct):
    status: str = "locked"
    unlocked_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None


class Transition(msgspec.Struct, array_like=True, frozen=True):
    from_: str | None
    to: str
    at: int
    reason: str = ""


class EnrollmentState(msgspec.Struct):
    status: str = "none"
    enrolled_at: int | None = None
    completed_at: int | None = None
    last_at: int | None = None
    history: list[Transition] = []
    milestones: dict[str, MilestoneState] = {}
    refused: str = ""


class UserState(msgspec.Struct):
    lessons: dict[str, LessonState] = {}
    last_at: int | None = None
    quizzes: dict[str, QuizState] = {}
    assignments: dict[str, AssignmentState] = {}
    enrollments: dict[str, EnrollmentState] = {}
    resets: dict[str, Stamp] = {}
    """Content resets by ``course`` or ``course/module`` (course.reset, milestone.reset)."""
    competencies: dict[str, int] = {}
    """Competencies acquired (a decision), with the time."""
    settled: str = ZERO
    """The highest settled horizon the state was summed to (:mod:`sync.merge.horizon`): no fact
    is folded below it."""


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
    state.last_at = at if state.last_at is None else max(state.last_at, at)
    match body:
        case QuizRef():
            _apply_quiz(state, stamp, at, body)
            return
        case AssignmentRef():
            _apply_assignment(state, stamp, at, body)
            return
        case CourseReset():
            _reset(state, body.course, stamp)
            return
        case MilestoneReset():
            # The content's progress resets (a fact); the milestone's status is decided.
            return
        case PathRef() | MilestoneRef():
            return  # enrollments and milestones change only by server decisions
    key = lesson_key(body.course, body.lesson)
    lesson = state.lessons.get(key)
    if lesson is None:
        lesson = state.lessons[key] = LessonState()
    lesson.first_at = at if lesson.first_at is None else min(lesson.first_at, at)
    lesson.last_at = at if lesson.last_at is None else max(lesson.last_at, at)
    match body:
        case LessonOpened():
            if lesson.opened is None or stamp > lesson.opened:
                lesson.opened, lesson.opened_at = stamp, at
        case LessonCompleted():
            if lesson.completed is None or stamp > lesson.completed:
                lesson.completed, lesson.completed_at = stamp, at
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
                    lesson.evidence, Evidence(stamp, body.seconds, start, end, at), key=_stamp
                )


def _reset(state: UserState, scope: str, stamp: Stamp) -> None:
    current = state.resets.get(scope)
    if current is None or stamp > current:
        state.resets[scope] = stamp


def _apply_quiz(state: UserState, stamp: Stamp, at: int, body: QuizRef) -> None:
    quiz = state.quizzes.setdefault(f"{body.course}/{body.quiz}", QuizState())
    attempt = quiz.attempts.setdefault(body.attempt, AttemptState(device_id=stamp[1]))
    attempt.started_at = at if attempt.started_at is None else min(attempt.started_at, at)
    match body:
        case QuizAnswered():
            held = attempt.answers.get(body.question)
            if held is None or stamp > held[0]:
                attempt.answers[body.question] = (stamp, list(body.choices))
                attempt.answered_at[body.question] = at
        case QuizSubmitted():
            if attempt.submitted is None or stamp < attempt.submitted:
                attempt.submitted, attempt.submitted_at = stamp, at


def _apply_assignment(state: UserState, stamp: Stamp, at: int, body: AssignmentRef) -> None:
    item = state.assignments.setdefault(f"{body.course}/{body.assignment}", AssignmentState())
    if isinstance(body, AssignmentSaved):
        if item.draft is None or stamp > item.draft[0]:
            item.draft = (stamp, body.text, body.url)
    else:
        bisect.insort(item.submissions, Submission(stamp, at, body.text, body.url), key=_sub_stamp)


def _sub_stamp(s: Submission) -> Stamp:
    return s.stamp


def apply_decision(state: UserState, type_: str, body: dict[str, Any], at: int) -> bool:
    """Fold one server decision (a feed entry of origin ``server``) into ``state``.

    Decisions are applied in feed order. Unknown decision types, and bodies missing what
    this version needs, are ignored (returns False), so an older device can read a newer
    server's feed.
    """
    try:
        _apply_decision(state, type_, body, at)
    except (KeyError, TypeError, ValueError, msgspec.ValidationError):
        return False
    return True


def _apply_decision(state: UserState, type_: str, body: dict[str, Any], at: int) -> None:
    match type_:
        case "quiz.scored":
            quiz = state.quizzes.setdefault(f"{body['course']}/{body['quiz']}", QuizState())
            quiz.results[body["attempt"]] = msgspec.convert(
                {k: v for k, v in body.items() if k in _RESULT_FIELDS}, AttemptResult
            )
        case "quiz.passed":
            quiz = state.quizzes.setdefault(f"{body['course']}/{body['quiz']}", QuizState())
            if quiz.passed_at is None:
                quiz.passed_at, quiz.passed_score = at, float(body.get("score", 0.0))
        case "assignment.graded":
            item = state.assignments.setdefault(
                f"{body['course']}/{body['assignment']}", AssignmentState()
            )
            item.grades.append(
                Grade(
                    float(body["score"]),
                    bool(body["passed"]),
                    str(body.get("feedback", "")),
                    str(body.get("graded_by", "")),
                    at,
                    int(body.get("submissions", 0)),
                )
            )
            item.refused = ""
        case "assignment.refused":
            item = state.assignments.setdefault(
                f"{body['course']}/{body['assignment']}", AssignmentState()
            )
            item.refused = str(body.get("reason", ""))
        case "enrollment.changed":
            enrollment = state.enrollments.setdefault(body["path"], EnrollmentState())
            to = str(body["to"])
            if to == "enrolled" and enrollment.status in ("none", "dropped", "completed"):
                enrollment.milestones = {}
                enrollment.enrolled_at, enrollment.completed_at = at, None
            if to == "completed":
                enrollment.completed_at = at
            enrollment.history.append(
                Transition(body.get("from"), to, at, str(body.get("reason", "")))
            )
            enrollment.status, enrollment.last_at, enrollment.refused = to, at, ""
        case "enrollment.refused":
            enrollment = state.enrollments.setdefault(body["path"], EnrollmentState())
            enrollment.refused = str(body.get("reason", ""))
        case "milestone.unlocked" | "milestone.started" | "milestone.completed" | "milestone.reset":
            enrollment = state.enrollments.setdefault(body["path"], EnrollmentState())
            step = enrollment.milestones.setdefault(body["milestone"], MilestoneState())
            kind = type_.partition(".")[2]
            if kind == "unlocked":
                step.status, step.unlocked_at = "available", at
            elif kind == "started":
                step.status, step.started_at = "in_progress", step.started_at or at
            elif kind == "completed":
                step.status, step.completed_at = "completed", at
            else:
                step.status, step.completed_at = "available", None
                if "scope" in body and "stamp" in body:  # the content starts over too
                    hlc, device_id, seq = body["stamp"]
                    _reset(state, str(body["scope"]), (str(hlc), str(device_id), int(seq)))
            enrollment.last_at = at
        case "milestone.refused":
            enrollment = state.enrollments.setdefault(body["path"], EnrollmentState())
            enrollment.refused = str(body.get("reason", ""))
        case "competency.acquired":
            state.competencies.setdefault(str(body["competency"]), at)
        case _:  # not the fold's (awards, rejections) or from a newer server
            raise KeyError(type_)


_RESULT_FIELDS = frozenset(AttemptResult.__struct_fields__)


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


class Decision(NamedTuple):
    """A server decision as the fold sees it: a feed entry of origin ``server``."""

    user_seq: int
    type: str
    body: dict[str, Any]
    at: int


def fold(facts: Iterable[Fact], decisions: Iterable[Decision] = ()) -> UserState:
    """Fold facts (any order; duplicates by ``(device_id, seq)`` ignored) and decisions
    (in feed order; duplicates by ``user_seq`` ignored)."""
    state = UserState()
    seen: set[tuple[str, int]] = set()
    for fact in sorted(facts, key=lambda f: (f.hlc, f.device_id, f.seq)):
        ident = (fact.device_id, fact.seq)
        if ident not in seen:
            seen.add(ident)
            apply_fact(state, fact)
    done: set[int] = set()
    for decision in sorted(decisions, key=lambda d: d.user_seq):
        if decision.user_seq not in done:
            done.add(decision.user_seq)
            apply_decision(state, decision.type, decision.body, decision.at)
    return state
