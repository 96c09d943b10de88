"""sync.views: what a learner sees, as pure functions of (state, catalog).

Module rules, statuses, percentages and times (story 7.1), resets, objectives, paths,
competencies and the summary totals. States are made the way the server makes them
(facts folded, decisions decided) with :class:`tests.sync.merge.test_decide.Learner`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.catalog import (
    Assignment,
    Catalog,
    Choice,
    Course,
    Lesson,
    Module,
    ModuleRule,
    Question,
    Quiz,
)
from sync.hlc import format_hlc
from sync.merge.decide import grade
from sync.merge.fold import AttemptResult, Fact, UserState, apply_fact, fold
from sync.views import CourseView, ModuleView, cooldown_ends, learner_view, quiz_view
from tests.sync.merge.test_decide import CAT, MIN, T0, Learner, span


def rule_catalog(rule: ModuleRule, *, lessons: int = 2, assessed: bool = True) -> Catalog:
    """Course ``c``, module ``m`` under ``rule``: manual lessons, a quiz, an assignment."""
    quiz = Quiz(
        "q",
        [Question("x", [Choice("ans-x1"), Choice("no-x1")], answer="ans-x1")],
    )
    module = Module(
        "m",
        lessons=[Lesson(f"l{i + 1}") for i in range(lessons)],
        quizzes=[quiz] if assessed else [],
        assignments=[Assignment("a", max_score=10, passing_score=5)] if assessed else [],
        completion=rule,
    )
    return Catalog([Course("c", modules=[module, Module("empty")])])


def do_lessons(learner: Learner) -> None:
    for lesson in learner.ctx.catalog.courses[0].modules[0].lessons:
        learner.do("lesson.completed", course="c", lesson=lesson.id)


def pass_assessments(learner: Learner) -> None:
    learner.do(
        "quiz.answered", course="c", quiz="q", attempt="t1", question="x", choices=["ans-x1"]
    )
    learner.do("quiz.submitted", course="c", quiz="q", attempt="t1")
    learner.do("assignment.submitted", course="c", assignment="a", text="mine")
    grade(
        learner.state,
        learner.ctx,
        "c",
        "a",
        score=5,
        feedback="",
        graded_by="ivy",
        at=learner.clock + 1,
    )


def module_of(learner: Learner, course: int = 0, module: int = 0) -> ModuleView:
    return learner.view().courses[course].modules[module]


# -- module rules (story 7.1) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "after_lessons", "after_assessments", "after_both"),
    [
        ("all", ("in_progress", 50), ("in_progress", 50), ("completed", 100)),
        ("any", ("completed", 100), ("completed", 100), ("completed", 100)),
        ("lessons", ("completed", 100), ("in_progress", 0), ("completed", 100)),
        ("assessment", ("in_progress", 0), ("completed", 100), ("completed", 100)),
    ],
)
def test_module_rule_says_what_completes_the_module(
    rule: ModuleRule,
    after_lessons: tuple[str, int],
    after_assessments: tuple[str, int],
    after_both: tuple[str, int],
) -> None:
    untouched = Learner(rule_catalog(rule))
    assert (module_of(untouched).status, module_of(untouched).percent) == ("not_started", 0)

    lessons = Learner(rule_catalog(rule))
    do_lessons(lessons)
    assert (module_of(lessons).status, module_of(lessons).percent) == after_lessons

    assessments = Learner(rule_catalog(rule))
    pass_assessments(assessments)
    assert (module_of(assessments).status, module_of(assessments).percent) == after_assessments

    both = Learner(rule_catalog(rule))
    do_lessons(both)
    pass_assessments(both)
    assert (module_of(both).status, module_of(both).percent) == after_both


def test_all_needs_content_viewed_and_assessment_passed() -> None:
    """Seed story 7.1: module completed = content viewed + assessment passed."""
    ann = Learner()
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do("lesson.progressed", course="safety", lesson="wash-video", seconds=90, **span(0, 90))
    assert (module_of(ann).status, module_of(ann).percent) == ("in_progress", 66)
    ann.attempt("wash-check", "w1", 2)
    assert (module_of(ann).status, module_of(ann).percent) == ("completed", 100)


def test_a_module_under_any_without_lessons_needs_its_assessments() -> None:
    ann = Learner(rule_catalog("any", lessons=0))
    assert (module_of(ann).status, module_of(ann).percent) == ("not_started", 0)
    ann.do("quiz.answered", course="c", quiz="q", attempt="t1", question="x", choices=["ans-x1"])
    ann.do("quiz.submitted", course="c", quiz="q", attempt="t1")
    assert (module_of(ann).status, module_of(ann).percent) == ("in_progress", 50)
    pass_assessments(ann)
    assert module_of(ann).status == "completed"


def test_a_module_under_assessment_without_assessments_falls_back_to_its_lessons() -> None:
    ann = Learner(rule_catalog("assessment", assessed=False))
    ann.do("lesson.completed", course="c", lesson="l1")
    assert (module_of(ann).status, module_of(ann).percent) == ("in_progress", 50)
    ann.do("lesson.completed", course="c", lesson="l2")
    assert (module_of(ann).status, module_of(ann).percent) == ("completed", 100)


def test_a_module_is_started_at_first_access_and_completed_when_its_last_requirement_is_met() -> (
    None
):
    ann = Learner()
    ann.do("lesson.opened", at=T0 + 1 * MIN, course="safety", lesson="wash-read")
    ann.do(
        "lesson.progressed",
        at=T0 + 2 * MIN,
        course="safety",
        lesson="wash-video",
        seconds=95,
        **span(0, 95),
    )
    started = module_of(ann)
    assert (started.status, started.started_at, started.completed_at) == (
        "in_progress",
        T0 + MIN,
        None,
    )
    ann.attempt("wash-check", "w1", 2, at=T0 + 30 * MIN)  # submitted at T0 + 30 min + 2 ms
    done = module_of(ann)
    assert (done.status, done.started_at) == ("completed", T0 + MIN)
    # Completed when the quiz passed, not when the lessons were done before it.
    assert done.completed_at == done.last_activity_at == T0 + 30 * MIN + 2
    course = ann.view().courses[0]
    assert course.status == "in_progress" and course.completed_at is None


def test_a_module_under_any_is_completed_by_the_first_alternative_met() -> None:
    ann = Learner(rule_catalog("any"))
    ann.do("lesson.completed", at=T0 + 1 * MIN, course="c", lesson="l1")
    ann.do("lesson.completed", at=T0 + 2 * MIN, course="c", lesson="l2")
    pass_assessments(ann)
    assert module_of(ann).completed_at == T0 + 2 * MIN


def test_a_module_completed_at_counts_a_graded_assignment() -> None:
    ann = Learner(rule_catalog("assessment"))
    ann.do("quiz.answered", course="c", quiz="q", attempt="t1", question="x", choices=["ans-x1"])
    ann.do("quiz.submitted", at=T0 + 5 * MIN, course="c", quiz="q", attempt="t1")
    ann.do("assignment.submitted", at=T0 + 6 * MIN, course="c", assignment="a", text="x")
    grade(ann.state, ann.ctx, "c", "a", score=2, feedback="", graded_by="i", at=T0 + 7 * MIN)
    grade(ann.state, ann.ctx, "c", "a", score=9, feedback="", graded_by="i", at=T0 + 9 * MIN)
    assert module_of(ann).completed_at == T0 + 9 * MIN


# -- courses --------------------------------------------------------------------------------


def test_course_percent_counts_items_and_stays_below_100_until_completed() -> None:
    ann = Learner()
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    safety = ann.view().courses[0]
    # 4 lessons, 5 quizzes and 1 assignment; 1 lesson is done.
    items = sum(len(m.lessons) + len(m.quizzes) + len(m.assignments) for m in safety.modules)
    assert (items, safety.percent) == (10, 10)
    for lesson in ("wash-video", "gloves-read", "report-read"):
        ann.do("lesson.completed", course="safety", lesson=lesson)
    assert ann.view().courses[0].percent == 40


def test_a_course_completes_with_its_modules_and_an_empty_module_does_not_block_it() -> None:
    ann = Learner(rule_catalog("all"))
    do_lessons(ann)
    assert (ann.view().courses[0].status, ann.view().courses[0].percent) == ("in_progress", 50)
    pass_assessments(ann)
    assert (ann.view().courses[0].status, ann.view().courses[0].percent) == ("completed", 100)
    # An empty module ("coming soon") neither blocks completion nor counts.
    assert ann.view().courses[0].modules[1].status == "not_started"


def test_course_reset_keeps_time_spent_and_restarts_completion() -> None:
    ann = Learner()
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=70)
    ann.do("lesson.completed", course="triage", lesson="triage-read")
    ann.do("lesson.opened", course="extra", lesson="extra-read")
    assert ann.view().courses[1].status == "completed"
    ann.do("course.reset", course="triage")
    view = ann.view()
    triage = view.courses[1]
    assert (triage.status, triage.percent, triage.completed_at) == ("in_progress", 0, None)
    assert [x.status for x in triage.modules[0].lessons] == ["in_progress", "in_progress"]
    assert triage.modules[0].lessons[1].seconds == 70 and view.summary.time_spent == 70
    assert view.courses[2].modules[0].lessons[0].status == "in_progress"  # other courses stay
    # Evidence after the reset counts from zero: 30 s more is not enough for time:60.
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=30)
    assert ann.view().courses[1].modules[0].lessons[1].status == "in_progress"
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=30)
    ann.do("lesson.completed", course="triage", lesson="triage-read")
    assert ann.view().courses[1].status == "completed"
    assert ann.view().summary.time_spent == 130


def test_a_reset_older_than_a_completion_does_not_undo_it() -> None:
    ann = Learner()
    ann.do("lesson.completed", at=T0 + 5 * MIN, course="extra", lesson="extra-read")
    ann.do("course.reset", at=T0 + 1 * MIN, course="extra")  # recorded earlier, offline
    assert ann.view().courses[2].status == "completed"


def test_milestone_reset_restarts_only_its_module() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do("lesson.completed", course="safety", lesson="report-read")
    ann.do("milestone.reset", path="responder", milestone="ms-wash")
    safety = ann.view().courses[0]
    assert safety.modules[0].lessons[0].status == "in_progress"  # wash: reset
    assert safety.modules[2].lessons[0].status == "completed"  # report: not in the milestone


def test_objectives_are_mastered_when_every_listed_item_is_done() -> None:
    ann = Learner()
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    assert [(o.id, o.mastered) for o in ann.view().courses[0].objectives] == [
        ("clean-hands", False)
    ]
    ann.attempt("wash-check", "w1", 2)
    assert [(o.id, o.mastered) for o in ann.view().courses[0].objectives] == [("clean-hands", True)]


# -- quizzes and assignments ----------------------------------------------------------------


def test_a_quiz_goes_not_started_in_progress_submitted_failed_passed() -> None:
    device = Learner(plan="premium")
    seen = [device.quiz("gloves-last").status]
    base: dict[str, Any] = {"course": "safety", "quiz": "gloves-last", "attempt": "a1"}
    device.do("quiz.started", **base)
    seen.append(device.quiz("gloves-last").status)
    # Submitted on a device that has not synced: folded, not scored ("scored when online").
    submit = Fact(
        "d1", 99, format_hlc(device.clock + 1, 0), device.clock + 1, "quiz.submitted", base
    )
    apply_fact(device.state, submit)
    seen.append(device.quiz("gloves-last").status)
    attempt = device.quiz("gloves-last").attempts[0]
    assert (attempt.status, attempt.number, attempt.counted) == ("submitted", None, None)

    server = Learner(plan="premium")
    server.attempt("gloves-last", "a1", 0, at=T0)
    seen.append(server.quiz("gloves-last").status)
    server.attempt("gloves-last", "a2", 2, at=T0 + 3_600_000)
    seen.append(server.quiz("gloves-last").status)
    assert seen == ["not_started", "in_progress", "submitted", "failed", "passed"]
    view = server.quiz("gloves-last")
    assert (view.attempts_left, view.cooldown_until) == (2, T0 + 3_600_002 + 600_000)


def test_attempts_are_listed_in_the_same_order_whatever_order_they_arrived_in() -> None:
    at = T0
    base: dict[str, Any] = {"course": "safety", "quiz": "gloves-last"}
    one = Fact("phone", 1, format_hlc(at, 0), at, "quiz.started", {**base, "attempt": "p1"})
    two = Fact("laptop", 1, format_hlc(at, 1), at, "quiz.started", {**base, "attempt": "l1"})
    arrived = UserState()
    apply_fact(arrived, two)
    apply_fact(arrived, one)
    quiz = CAT.quiz("safety", "gloves-last")
    assert quiz is not None
    server = quiz_view(quiz, arrived.quizzes["safety/gloves-last"])
    device = quiz_view(quiz, fold([one, two]).quizzes["safety/gloves-last"])
    assert server == device


def test_an_assignment_goes_draft_submitted_graded_and_submitted_again() -> None:
    ann = Learner()
    seen = [ann.view().courses[0].modules[2].assignments[0].status]
    ann.do("assignment.saved", course="safety", assignment="incident", text="draft")
    seen.append(ann.view().courses[0].modules[2].assignments[0].status)
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    seen.append(ann.view().courses[0].modules[2].assignments[0].status)
    grade(ann.state, ann.ctx, "safety", "incident", score=3, feedback="more", graded_by="i", at=T0)
    seen.append(ann.view().courses[0].modules[2].assignments[0].status)
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v2")
    seen.append(ann.view().courses[0].modules[2].assignments[0].status)
    assert seen == ["not_started", "draft", "submitted", "graded", "submitted"]
    incident = ann.view().courses[0].modules[2].assignments[0]
    assert (incident.score, incident.passed, incident.feedback) == (3, False, "more")


# -- paths, competencies, summary --------------------------------------------------------


def test_path_percent_is_completed_milestones_rounded_down() -> None:
    ann = Learner()
    ann.do("path.enrolled", path="responder")
    assert ann.view().paths[0].percent == 0
    ann.do("milestone.completed", path="responder", milestone="ms-wash")
    assert ann.view().paths[0].percent == 33
    ann.do("milestone.completed", path="responder", milestone="ms-gloves")
    path = ann.view().paths[0]
    assert (path.percent, [m.status for m in path.milestones]) == (
        66,
        ["completed", "completed", "available"],
    )
    ann.do("lesson.opened", course="triage", lesson="triage-read")
    assert ann.view().paths[0].milestones[2].status == "in_progress"


def test_a_competency_level_is_the_share_of_its_evidence_done() -> None:
    ann = Learner()
    ann.attempt("wash-check", "w1", 2)
    hygiene = {c.id: c for c in ann.view().competencies}["hygiene"]
    assert (hygiene.level, hygiene.status, hygiene.evidence) == (
        50,
        "in_progress",
        ["quiz:safety/wash-check"],
    )
    assert {c.id: c.level for c in ann.view().competencies}["triage-skill"] == 0


def test_summary_totals_count_courses_started_or_enrolled() -> None:
    ann = Learner()
    assert ann.view().summary.total_courses == 0
    ann.do("path.enrolled", path="helper")  # course extra, via the path
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=61)
    ann.do("lesson.completed", course="triage", lesson="triage-read")
    ann.attempt("wash-check", "w1", 2)
    summary = ann.view().summary
    assert (
        summary.total_courses,
        summary.completed_courses,
        summary.in_progress_courses,
        summary.total_lessons,
        summary.completed_lessons,
        summary.total_quizzes,
        summary.completed_quizzes,
        summary.total_assignments,
        summary.completed_assignments,
        summary.active_enrollments,
        summary.completed_paths,
        summary.mastered_competencies,
        summary.time_spent,
        summary.last_activity_at,
    ) == (3, 1, 1, 7, 2, 6, 1, 1, 0, 1, 0, 1, 61, ann.clock)


# -- laws -----------------------------------------------------------------------------------

event_steps = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["lesson.opened", "lesson.completed", "lesson.uncompleted"]),
            st.sampled_from(
                [
                    ("safety", "wash-read"),
                    ("safety", "wash-video"),
                    ("safety", "gloves-read"),
                    ("triage", "triage-read"),
                    ("extra", "extra-read"),
                ]
            ),
        ),
        st.tuples(
            st.just("attempt"), st.sampled_from(["wash-check", "gloves-average"]), st.integers(0, 2)
        ),
        st.tuples(st.just("course.reset"), st.sampled_from(["safety", "triage"])),
        st.tuples(
            st.sampled_from(["path.enrolled", "path.paused", "path.resumed", "path.dropped"]),
            st.sampled_from(["responder", "helper"]),
        ),
    ),
    max_size=25,
)


def run_steps(learner: Learner, steps: list[tuple[Any, ...]]) -> None:
    for n, step in enumerate(steps):
        match step:
            case ("attempt", quiz, right):
                learner.attempt(quiz, f"a{n}", right)
            case ("course.reset", course):
                learner.do("course.reset", course=course)
            case (kind, path) if kind.startswith("path."):
                learner.do(kind, path=path)
            case (kind, (course, lesson)):
                learner.do(kind, course=course, lesson=lesson)


def check_course(course: CourseView) -> None:
    assert 0 <= course.percent <= 100
    assert (course.percent == 100) == (course.status == "completed")
    filled = [m for m in course.modules if m.lessons or m.quizzes or m.assignments]
    assert (course.status == "completed") == all(m.status == "completed" for m in filled)
    for module in course.modules:
        assert 0 <= module.percent <= 100
        assert (module.status == "completed") == (module.completed_at is not None)
        if module.status == "completed":
            assert module.percent == 100
        if module.status == "not_started":
            assert module.percent == 0 and module.started_at is None


@settings(max_examples=40, deadline=None)
@given(steps=event_steps, plan=st.sampled_from(["free", "premium"]))
def test_statuses_and_percentages_are_consistent_for_any_history(
    steps: list[tuple[Any, ...]], plan: str
) -> None:
    ann = Learner(plan=plan)
    run_steps(ann, steps)
    view = ann.view()
    for course in view.courses:
        check_course(course)
    for path in view.paths:
        assert 0 <= path.percent <= 100
        assert (path.status == "completed") == (path.percent == 100)
    for competency in view.competencies:
        assert 0 <= competency.level <= 100
    assert view.summary.completed_courses + view.summary.in_progress_courses <= (
        view.summary.total_courses
    )
    assert learner_view(fold(ann.facts, ann.feed), CAT, plan) == view


def test_a_cooldown_ends_after_the_later_of_the_attempts_time_and_its_receipt() -> None:
    def result(at: int, received: int) -> AttemptResult:
        return AttemptResult(1, 0.0, False, True, at=at, received=received)

    assert cooldown_ends(result(T0, T0 + 5000), 60) == T0 + 5000 + 60_000  # synced later
    assert cooldown_ends(result(T0, 0), 60) == T0 + 60_000  # scored before receipts were kept
    assert cooldown_ends(result(T0 + 9000, T0), 60) == T0 + 9000 + 60_000
    assert cooldown_ends(result(T0, T0), 0) is None
