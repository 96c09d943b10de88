"""sync.merge.fold, rule by rule: the exact state each fact and each decision leaves.

Where ``test_fold.py`` checks the laws (order, duplicates) through the lesson view, these
tests pin the folded state itself: every field a fact or a decision sets, with its time,
so that a rule that silently changes (a stamp compared the wrong way, a time dropped to
zero, a decision applied twice) fails a test. Measured by mutation testing
(``docs/testing.md``).
"""

from __future__ import annotations

from typing import Any

import pytest

from sync.catalog import Lesson
from sync.hlc import format_hlc
from sync.merge.fold import (
    AssignmentState,
    AttemptResult,
    AttemptState,
    Decision,
    EnrollmentState,
    Evidence,
    Fact,
    Grade,
    LessonState,
    MilestoneState,
    QuizState,
    Stamp,
    Submission,
    Transition,
    UserState,
    apply_decision,
    apply_fact,
    fold,
)
from sync.views import lesson_completed_at, lesson_view

T = 1_763_790_000_000
SEC = 1000


def hlc(tick: int, counter: int = 0) -> str:
    return format_hlc(T + tick, counter)


def fact(
    device: str, seq: int, tick: int, type_: str, *, at: int | None = None, **body: Any
) -> Fact:
    """A fact stamped ``tick`` ms after T; its wall time is ``at`` (default: the same)."""
    return Fact(device, seq, hlc(tick), T + tick if at is None else at, type_, body)


def lesson(
    device: str, seq: int, tick: int, kind: str, *, at: int | None = None, **body: Any
) -> Fact:
    """A fact about lesson ``c/l``."""
    return fact(device, seq, tick, f"lesson.{kind}", at=at, course="c", lesson="l", **body)


def stamp(device: str, seq: int, tick: int) -> Stamp:
    return (hlc(tick), device, seq)


def decided(*decisions: tuple[str, dict[str, Any], int]) -> UserState:
    """The state after ``decisions`` (type, body, at), numbered in the order given."""
    return fold([], [Decision(n, t, b, at) for n, (t, b, at) in enumerate(decisions, 1)])


# -- lessons -------------------------------------------------------------------------------


def test_a_lessons_state_holds_every_fact_with_its_stamp_and_wall_time() -> None:
    facts = [
        lesson("a", 1, 10, "opened", at=T + 50),
        lesson("b", 1, 20, "opened", at=T + 5),  # later by HLC: it is the opening kept
        lesson("a", 2, 30, "progressed", at=T + 70, seconds=12, position=40, **{"from": 0}, to=30),
        lesson("b", 2, 40, "progressed", at=T + 1, seconds=3, position=10),
        lesson("a", 3, 50, "completed", at=T + 90),
        lesson("b", 3, 45, "completed", at=T + 2),  # earlier by HLC: not the one kept
    ]
    for order in (facts, facts[::-1]):
        assert fold(order).lessons == {
            "c/l": LessonState(
                seconds=15,
                segments=[(0, 30)],
                position=10,
                position_stamp=stamp("b", 2, 40),
                opened=stamp("b", 1, 20),
                completed=stamp("a", 3, 50),
                uncompleted=None,
                evidence=[
                    Evidence(stamp("a", 2, 30), 12, 0, 30, T + 70),
                    Evidence(stamp("b", 2, 40), 3, 0, 0, T + 1),
                ],
                first_at=T + 1,
                last_at=T + 90,
                opened_at=T + 5,
                completed_at=T + 90,
            )
        }
        assert fold(order).last_at == T + 90


def test_an_uncomplete_keeps_the_latest_reset_and_only_evidence_stamped_after_it() -> None:
    facts = [
        lesson("a", 1, 10, "progressed", seconds=5),
        lesson("a", 2, 20, "uncompleted"),
        lesson("a", 3, 30, "progressed", seconds=7),
        lesson("b", 1, 15, "uncompleted"),  # older than a/2: changes nothing
        lesson("a", 4, 20, "progressed", seconds=1),  # same HLC as the reset, after by seq
    ]
    for order in (facts, facts[::-1]):
        held = fold(order).lessons["c/l"]
        assert held.uncompleted == stamp("a", 2, 20)
        assert held.evidence == [
            Evidence(stamp("a", 4, 20), 1, 0, 0, T + 20),
            Evidence(stamp("a", 3, 30), 7, 0, 0, T + 30),
        ]
        assert held.seconds == 13


def test_progress_before_the_latest_uncomplete_is_never_evidence() -> None:
    # The reset arrives first: the older progress is counted as time, not as evidence.
    state = UserState()
    apply_fact(state, lesson("a", 2, 20, "uncompleted"))
    apply_fact(state, lesson("a", 1, 10, "progressed", seconds=60))
    apply_fact(state, lesson("a", 3, 20, "progressed", seconds=0))  # carries nothing
    assert (state.lessons["c/l"].seconds, state.lessons["c/l"].evidence) == (60, [])


def test_a_segment_alone_is_evidence_and_an_empty_one_is_not() -> None:
    state = fold([lesson("a", 1, 10, "progressed", **{"from": 5}, to=9)])
    assert state.lessons["c/l"].evidence == [Evidence(stamp("a", 1, 10), 0, 5, 9, T + 10)]
    assert state.lessons["c/l"].segments == [(5, 9)]
    empty = fold([lesson("a", 1, 10, "progressed", **{"from": 5}, to=5)])
    assert (empty.lessons["c/l"].evidence, empty.lessons["c/l"].segments) == ([], [])


TIMED = Lesson("l", kind="activity", completion="time:60")
WATCHED = Lesson("l", kind="video", duration=100, completion="watched:50")
VIEWED = Lesson("l", completion="viewed")


def test_a_time_rule_is_met_at_the_wall_time_of_the_fact_that_reached_it() -> None:
    """Not in 1970: the evidence keeps its fact's time."""
    facts = [
        lesson("a", 1, 10, "progressed", at=T + 7 * SEC, seconds=40),
        lesson("b", 1, 20, "progressed", at=T + 3 * SEC, seconds=20),  # reaches 60
        lesson("a", 2, 30, "progressed", at=T + 9 * SEC, seconds=20),
    ]
    held = fold(facts).lessons["c/l"]
    assert lesson_completed_at(TIMED, held) == T + 3 * SEC
    assert lesson_view(TIMED, held).completed_at == T + 3 * SEC
    # After a reset the rule counts from zero, and is met by a later fact.
    again = fold([*facts, lesson("c", 1, 40, "uncompleted")]).lessons["c/l"]
    assert lesson_completed_at(TIMED, again) is None
    more = [
        *facts,
        lesson("c", 1, 40, "uncompleted"),
        lesson("c", 2, 50, "progressed", at=T + 11 * SEC, seconds=59),
        lesson("c", 3, 60, "progressed", at=T + 12 * SEC, seconds=1),
    ]
    assert lesson_completed_at(TIMED, fold(more).lessons["c/l"]) == T + 12 * SEC


def test_a_watched_rule_is_met_at_the_wall_time_of_the_segment_that_reached_it() -> None:
    facts = [
        lesson("a", 1, 10, "progressed", at=T + 4 * SEC, **{"from": 0}, to=30),
        lesson("a", 2, 20, "progressed", at=T + 6 * SEC, **{"from": 20}, to=40),  # 40 %
        lesson("b", 1, 30, "progressed", at=T + 5 * SEC, **{"from": 40}, to=50),  # 50 %
        lesson("b", 2, 40, "progressed", at=T + 8 * SEC, **{"from": 50}, to=90),
    ]
    held = fold(facts).lessons["c/l"]
    assert lesson_completed_at(WATCHED, held) == T + 5 * SEC
    assert lesson_completed_at(WATCHED, fold(facts[:2]).lessons["c/l"]) is None


def test_an_explicit_completion_dates_the_lesson_when_it_came_first() -> None:
    facts = [
        lesson("a", 1, 10, "completed", at=T + 2 * SEC),
        lesson("a", 2, 20, "opened", at=T + 4 * SEC),
    ]
    held = fold(facts).lessons["c/l"]
    assert lesson_completed_at(VIEWED, held) == T + 2 * SEC
    assert lesson_completed_at(VIEWED, fold(facts[1:]).lessons["c/l"]) == T + 4 * SEC
    # An opening before the reset does not count; the explicit completion after it does.
    reset = [lesson("a", 1, 10, "opened"), lesson("a", 2, 20, "uncompleted")]
    assert lesson_completed_at(VIEWED, fold(reset).lessons["c/l"]) is None


# -- quizzes and assignments ----------------------------------------------------------------


def quiz(device: str, seq: int, tick: int, kind: str, attempt: str = "t1", **body: Any) -> Fact:
    return fact(device, seq, tick, f"quiz.{kind}", course="c", quiz="q", attempt=attempt, **body)


def test_an_attempt_keeps_its_first_start_latest_answers_and_first_submission() -> None:
    facts = [
        quiz("a", 1, 10, "started"),
        quiz("a", 2, 20, "answered", question="x", choices=["no"]),
        quiz("b", 1, 30, "answered", question="x", choices=["yes", "also"]),
        quiz("a", 3, 25, "answered", question="y", choices=["maybe"]),
        quiz("b", 2, 50, "submitted"),
        quiz("a", 4, 40, "submitted"),
    ]
    for order in (facts, facts[::-1]):
        state = UserState()
        for each in order:
            assert apply_fact(state, each)
        expected = AttemptState(
            device_id=order[0].device_id,
            started_at=T + 10,
            answers={
                "x": (stamp("b", 1, 30), ["yes", "also"]),
                "y": (stamp("a", 3, 25), ["maybe"]),
            },
            submitted=stamp("a", 4, 40),
            submitted_at=T + 40,
            answered_at={"x": T + 30, "y": T + 25},
        )
        assert state.quizzes == {"c/q": QuizState(attempts={"t1": expected})}


def test_a_draft_is_the_latest_saved_and_submissions_are_kept_in_stamp_order() -> None:
    def work(device: str, seq: int, tick: int, kind: str, text: str) -> Fact:
        return fact(
            device, seq, tick, f"assignment.{kind}", course="c", assignment="a", text=text, url="u"
        )

    facts = [
        work("a", 1, 10, "saved", "first draft"),
        work("b", 1, 30, "saved", "last draft"),
        work("a", 2, 20, "saved", "middle draft"),
        work("a", 3, 50, "submitted", "v2"),
        work("b", 2, 40, "submitted", "v1"),
    ]
    for order in (facts, facts[::-1]):
        assert fold(order).assignments == {
            "c/a": AssignmentState(
                draft=(stamp("b", 1, 30), "last draft", "u"),
                submissions=[
                    Submission(stamp("b", 2, 40), T + 40, "v1", "u"),
                    Submission(stamp("a", 3, 50), T + 50, "v2", "u"),
                ],
            )
        }


def test_a_course_reset_keeps_the_latest_reset_stamp() -> None:
    facts = [
        fact("a", 1, 20, "course.reset", course="c"),
        fact("b", 1, 10, "course.reset", course="c"),
        fact("a", 2, 5, "course.reset", course="d"),
    ]
    for order in (facts, facts[::-1]):
        state = fold(order)
        assert state.resets == {"c": stamp("a", 1, 20), "d": stamp("a", 2, 5)}
        assert (state.last_at, state.lessons) == (T + 20, {})


def test_path_and_milestone_facts_change_only_the_last_activity() -> None:
    facts = [
        fact("a", 1, 10, "path.enrolled", path="p"),
        fact("a", 2, 20, "milestone.completed", path="p", milestone="m"),
        fact("a", 3, 30, "milestone.reset", path="p", milestone="m"),
    ]
    assert fold(facts) == UserState(last_at=T + 30)


# -- decisions --------------------------------------------------------------------------------


def test_a_decision_recorded_twice_in_the_feed_is_applied_once() -> None:
    graded: dict[str, Any] = {
        "course": "c",
        "assignment": "a",
        "score": 4,
        "passed": False,
        "feedback": "again",
        "graded_by": "ivy",
        "submissions": 1,
    }
    feed = [
        Decision(2, "assignment.graded", {**graded, "score": 9, "passed": True}, T + 20),
        Decision(1, "assignment.graded", graded, T + 10),
        Decision(1, "assignment.graded", graded, T + 10),  # the same entry, delivered again
    ]
    state = fold([], feed)
    assert state.assignments["c/a"].grades == [
        Grade(4.0, False, "again", "ivy", T + 10, 1),
        Grade(9.0, True, "again", "ivy", T + 20, 1),
    ]


def test_decisions_are_applied_in_feed_order_whatever_order_they_are_given_in() -> None:
    path = {"path": "p"}
    feed = [
        Decision(3, "enrollment.changed", {**path, "from": "in_progress", "to": "paused"}, 30),
        Decision(1, "enrollment.changed", {**path, "from": None, "to": "enrolled"}, 10),
        Decision(2, "enrollment.changed", {**path, "from": "enrolled", "to": "in_progress"}, 20),
    ]
    held = fold([], feed).enrollments["p"]
    assert [t.to for t in held.history] == ["enrolled", "in_progress", "paused"]
    assert held.status == "paused"


def test_quiz_scored_records_the_result_fields_only() -> None:
    body = {
        "course": "c",
        "quiz": "q",
        "attempt": "t1",
        "number": 2,
        "score": 0.5,
        "passed": False,
        "counted": True,
        "reason": "",
        "at": T + 5,
        "correct": 1,
        "questions": 2,
        "unknown": "ignored",
    }
    state = UserState()
    assert apply_decision(state, "quiz.scored", body, T + 99)
    assert state.quizzes == {
        "c/q": QuizState(results={"t1": AttemptResult(2, 0.5, False, True, "", T + 5, 1, 2)})
    }


def test_a_quiz_pass_is_recorded_once_with_its_time_and_score() -> None:
    state = decided(
        ("quiz.passed", {"course": "c", "quiz": "q", "score": 1}, T + 10),
        ("quiz.passed", {"course": "c", "quiz": "q", "score": 0.8}, T + 20),
        ("quiz.passed", {"course": "c", "quiz": "r"}, T + 30),
    )
    assert state.quizzes == {
        "c/q": QuizState(passed_at=T + 10, passed_score=1.0),
        "c/r": QuizState(passed_at=T + 30, passed_score=0.0),
    }
    assert isinstance(state.quizzes["c/q"].passed_score, float)


def test_a_grade_clears_a_refusal_and_a_refusal_keeps_the_grades() -> None:
    ref = {"course": "c", "assignment": "a"}
    state = decided(
        ("assignment.refused", {**ref, "reason": "late"}, T + 1),
        ("assignment.graded", {**ref, "score": 3, "passed": 1}, T + 2),
    )
    assert state.assignments["c/a"] == AssignmentState(
        grades=[Grade(3.0, True, "", "", T + 2, 0)], refused=""
    )
    state = decided(
        ("assignment.graded", {**ref, "score": 3, "passed": 0}, T + 2),
        ("assignment.refused", ref, T + 3),
        ("assignment.refused", {**ref, "reason": "already passed"}, T + 4),
    )
    assert state.assignments["c/a"] == AssignmentState(
        grades=[Grade(3.0, False, "", "", T + 2, 0)], refused="already passed"
    )
    state = decided(
        ("assignment.refused", {**ref, "reason": "late"}, T + 3),
        ("assignment.refused", ref, T + 4),  # no reason given: none shown
    )
    assert state.assignments["c/a"].refused == ""
    grade = (
        decided(("assignment.graded", {**ref, "score": 3, "passed": 0}, T))
        .assignments["c/a"]
        .grades[0]
    )
    assert (type(grade.score), type(grade.passed)) == (float, bool)


def changed(frm: str | None, to: str, reason: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"path": "p", "from": frm, "to": to}
    return {**body, "reason": reason} if reason else body


def test_an_enrollment_records_each_change_with_its_time() -> None:
    state = decided(
        ("enrollment.refused", {"path": "p", "reason": "limit"}, T + 1),
        ("enrollment.changed", changed(None, "enrolled", "enroll"), T + 2),
        ("milestone.unlocked", {"path": "p", "milestone": "m1"}, T + 2),
        ("enrollment.changed", changed("enrolled", "in_progress", "started"), T + 3),
        ("enrollment.changed", changed("in_progress", "completed"), T + 4),
    )
    assert state.enrollments == {
        "p": EnrollmentState(
            status="completed",
            enrolled_at=T + 2,
            completed_at=T + 4,
            last_at=T + 4,
            history=[
                Transition(None, "enrolled", T + 2, "enroll"),
                Transition("enrolled", "in_progress", T + 3, "started"),
                Transition("in_progress", "completed", T + 4, ""),
            ],
            milestones={"m1": MilestoneState("available", T + 2)},
            refused="",
        )
    }


def test_a_refusal_is_shown_until_the_next_change() -> None:
    state = decided(
        ("enrollment.changed", changed(None, "enrolled"), T + 1),
        ("enrollment.refused", {"path": "p", "reason": "already enrolled"}, T + 2),
    )
    held = state.enrollments["p"]
    assert (held.refused, held.status, held.last_at) == ("already enrolled", "enrolled", T + 1)
    state = decided(
        ("enrollment.changed", changed(None, "enrolled"), T + 1),
        ("enrollment.refused", {"path": "p"}, T + 2),
    )
    assert state.enrollments["p"].refused == ""


@pytest.mark.parametrize("before", ["paused", "enrolled", "in_progress"])
def test_resuming_or_restarting_an_active_enrollment_keeps_its_milestones(before: str) -> None:
    """Resuming a path never started returns it to ``enrolled``: its milestones stay."""
    history = [
        ("enrollment.changed", changed(None, "enrolled"), T + 1),
        ("milestone.unlocked", {"path": "p", "milestone": "m1"}, T + 1),
        ("milestone.completed", {"path": "p", "milestone": "m1"}, T + 2),
    ]
    if before != "enrolled":
        history.append(("enrollment.changed", changed("enrolled", before), T + 3))
    state = decided(*history, ("enrollment.changed", changed(before, "enrolled"), T + 4))
    held = state.enrollments["p"]
    assert held.milestones == {"m1": MilestoneState("completed", T + 1, None, T + 2)}
    assert (held.status, held.enrolled_at, held.completed_at) == ("enrolled", T + 1, None)


@pytest.mark.parametrize("before", ["dropped", "completed"])
def test_enrolling_again_after_a_drop_or_a_completion_starts_over(before: str) -> None:
    state = decided(
        ("enrollment.changed", changed(None, "enrolled"), T + 1),
        ("milestone.unlocked", {"path": "p", "milestone": "m1"}, T + 1),
        ("enrollment.changed", changed("enrolled", before), T + 2),
        ("enrollment.changed", changed(before, "enrolled"), T + 3),
    )
    held = state.enrollments["p"]
    assert (held.milestones, held.enrolled_at, held.completed_at) == ({}, T + 3, None)
    assert held.history[-1] == Transition(before, "enrolled", T + 3, "")


def test_milestone_decisions_set_status_and_times() -> None:
    ref = {"path": "p", "milestone": "m1"}
    state = decided(
        ("milestone.unlocked", ref, T + 1),
        ("milestone.started", ref, T + 2),
        ("milestone.started", ref, T + 3),  # the first start is kept
        ("milestone.completed", ref, T + 4),
    )
    assert state.enrollments["p"].milestones == {
        "m1": MilestoneState("completed", T + 1, T + 2, T + 4)
    }
    assert state.enrollments["p"].last_at == T + 4
    state = decided(("milestone.started", ref, T + 5))
    assert state.enrollments["p"].milestones["m1"] == MilestoneState("in_progress", None, T + 5)


def test_a_milestone_reset_makes_it_available_and_resets_its_scope() -> None:
    ref = {"path": "p", "milestone": "m1"}
    reset = {**ref, "scope": "c/m", "stamp": [hlc(7), "d1", 3]}
    state = decided(
        ("milestone.unlocked", ref, T + 1),
        ("milestone.completed", ref, T + 2),
        ("milestone.reset", reset, T + 3),
    )
    assert state.enrollments["p"].milestones == {"m1": MilestoneState("available", T + 1, None)}
    assert (state.resets, state.enrollments["p"].last_at) == ({"c/m": (hlc(7), "d1", 3)}, T + 3)
    # Without a scope and a stamp (an older server) only the milestone's status changes.
    for partial in (ref, {**ref, "scope": "c/m"}, {**ref, "stamp": [hlc(7), "d1", 3]}):
        state = decided(("milestone.completed", ref, T + 2))
        assert apply_decision(state, "milestone.reset", partial, T + 3) is True
        assert state.resets == {}
        assert state.enrollments["p"].milestones["m1"] == MilestoneState("available")
        assert state.enrollments["p"].last_at == T + 3


def test_a_milestone_refusal_is_recorded_on_the_enrollment() -> None:
    state = decided(("milestone.refused", {"path": "p", "milestone": "m", "reason": "x"}, T))
    assert state.enrollments == {"p": EnrollmentState(refused="x")}
    state = decided(("milestone.refused", {"path": "p", "milestone": "m"}, T))
    assert state.enrollments == {"p": EnrollmentState(refused="")}


def test_a_competency_is_acquired_at_its_first_decision() -> None:
    state = decided(
        ("competency.acquired", {"competency": "k", "level": 50}, T + 1),
        ("competency.acquired", {"competency": "k", "level": 100}, T + 2),
        ("competency.acquired", {"competency": "j"}, T + 3),
    )
    assert state.competencies == {"k": T + 1, "j": T + 3}


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        ("quiz.scored", {"course": "c", "quiz": "q"}),
        ("quiz.scored", {"course": "c", "quiz": "q", "attempt": "t", "number": "x"}),
        ("assignment.graded", {"course": "c", "assignment": "a", "score": "lots", "passed": 1}),
        ("enrollment.changed", {"path": "p"}),
        ("milestone.unlocked", {"path": "p"}),
        ("competency.acquired", {}),
    ],
)
def test_a_decision_missing_what_this_version_needs_is_ignored(
    type_: str, body: dict[str, Any]
) -> None:
    assert apply_decision(UserState(), type_, body, T) is False
    assert apply_decision(UserState(), "quiz.passed", {"course": "c", "quiz": "q"}, T) is True


def test_fold_applies_facts_in_stamp_order_whatever_order_they_are_given_in() -> None:
    """The first fact by stamp opens the attempt, so it names the attempt's device."""
    facts = [
        quiz("a", 1, 20, "answered", question="x", choices=["yes"]),
        quiz("b", 7, 10, "started"),
    ]
    for order in (facts, facts[::-1]):
        assert fold(order).quizzes["c/q"].attempts["t1"].device_id == "b"


def test_a_lessons_completion_counts_only_after_both_the_given_reset_and_its_own() -> None:
    held = fold([lesson("a", 1, 10, "opened"), lesson("a", 2, 20, "uncompleted")]).lessons["c/l"]
    # An older course reset does not bring back the opening before the lesson's own reset.
    assert lesson_completed_at(VIEWED, held, stamp("z", 1, 5)) is None
    assert lesson_completed_at(VIEWED, held, stamp("z", 1, 25)) is None
    fresh = fold([lesson("a", 1, 10, "opened")]).lessons["c/l"]
    assert lesson_completed_at(VIEWED, fresh, stamp("z", 1, 5)) == T + 10
    assert lesson_completed_at(VIEWED, fresh, stamp("z", 1, 15)) is None


def test_a_decision_the_fold_does_not_know_is_ignored_and_says_so() -> None:
    from sync.merge.fold import UserState, apply_decision

    state = UserState()
    assert apply_decision(state, "points.awarded", {"key": "k", "points": 5}, 0) is False
    assert apply_decision(state, "from.the.future", {}, 0) is False
    assert state == UserState()
    assert apply_decision(state, "competency.acquired", {"competency": "c"}, 7) is True
    assert state.competencies == {"c": 7}
