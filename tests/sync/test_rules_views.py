"""sync.views, rule by rule: every field a learner sees, with its exact value and time.

``test_views.py`` checks statuses and percentages; these tests compare whole views (an
attempt's number, score and submission time, an assignment's status after a pass, a
module's and a course's dates, a path's history) so that a rule that silently changes
fails a test. Measured by mutation testing (``docs/testing.md``).
"""

from __future__ import annotations

from typing import Any

import pytest

from sync.catalog import (
    Assignment,
    Catalog,
    Choice,
    Competency,
    Course,
    Lesson,
    Module,
    ModuleRule,
    Objective,
    Question,
    Quiz,
)
from sync.hlc import format_hlc
from sync.merge.decide import grade
from sync.merge.fold import Fact, UserState, apply_decision, apply_fact, fold
from sync.views import (
    AssignmentView,
    AttemptView,
    CompetencyView,
    CourseView,
    LessonView,
    MilestoneView,
    PathView,
    QuizView,
    TransitionView,
    assignment_view,
    course_view,
    item_done,
    learner_view,
    lesson_done,
    lesson_view,
    milestone_content,
    module_view,
    progress_view,
    quiz_view,
)
from tests.sync.merge.test_decide import CAT, MIN, T0, Learner, span, with_quiz
from tests.sync.merge.test_rules_decide import Server

HOUR = 60 * MIN


def quiz_of(learner: Learner, quiz_id: str) -> QuizView:
    return learner.quiz(quiz_id)


# -- attempts and quizzes ------------------------------------------------------------------


def test_a_scored_attempt_shows_its_number_score_pass_count_and_submission_time() -> None:
    ann = Server(plan="premium")
    ann.answer("gloves-last", "a1", 1, at=T0)
    ann.submit("gloves-last", "a1", at=T0 + 10, arrive=T0 + HOUR)
    ann.answer("gloves-last", "a2", 2, at=T0 + 20)
    # Inside a1's cool-down (by the device's clock and the server's): not counted.
    ann.submit("gloves-last", "a2", at=T0 + 30, arrive=T0 + HOUR)
    ann.do("quiz.started", at=T0 + 40, course="safety", quiz="gloves-last", attempt="a3")
    reason = "cool-down: reached the server 600 s before attempt 1's 600 s cool-down ended"
    assert quiz_of(ann, "gloves-last") == QuizView(
        "gloves-last",
        "",
        "passed",
        True,
        0.5,
        0.5,
        "last",
        [
            AttemptView("a1", "scored", 1, 0.5, True, True, None, T0 + 10),
            AttemptView("a2", "scored", 2, 1.0, True, False, reason, T0 + 30),
            AttemptView("a3", "in_progress"),
        ],
        3,
        T0 + HOUR + 600_000,  # from a1's receipt, later than its submission
    )


def test_a_quiz_shows_an_attempt_under_way_before_a_failure() -> None:
    ann = Server(with_quiz("wash-check", max_attempts=None))
    ann.answer("wash-check", "a1", 0, at=T0)
    ann.submit("wash-check", "a1", at=T0 + 10)
    assert quiz_of(ann, "wash-check").status == "failed"
    ann.do("quiz.started", at=T0 + 20, course="safety", quiz="wash-check", attempt="a2")
    assert quiz_of(ann, "wash-check").status == "in_progress"
    # A submission not yet scored (on a device) shows before the attempt under way.
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check", "attempt": "a3"}
    apply_fact(ann.state, Fact("d9", 1, format_hlc(T0 + 30, 0), T0 + 30, "quiz.submitted", base))
    assert quiz_of(ann, "wash-check").status == "submitted"


def test_a_quiz_never_touched_shows_its_rules_and_no_attempts() -> None:
    quiz = CAT.quiz("safety", "gloves-last")
    assert quiz is not None
    assert quiz_view(quiz, None, "free") == QuizView(
        "gloves-last", "", "not_started", False, None, 0.5, "last", [], 2
    )
    assert quiz_view(quiz, None, "premium").attempts_left == 4


def test_an_attempt_submitted_offline_shows_submitted_with_its_time_and_no_result() -> None:
    base: dict[str, Any] = {"course": "safety", "quiz": "wash-check", "attempt": "t1"}
    state = fold(
        [
            Fact("d1", 1, format_hlc(T0, 0), T0, "quiz.started", base),
            Fact("d1", 2, format_hlc(T0 + 5, 0), T0 + 5, "quiz.submitted", base),
        ]
    )
    quiz = CAT.quiz("safety", "wash-check")
    assert quiz is not None
    assert quiz_view(quiz, state.quizzes["safety/wash-check"]) == QuizView(
        "wash-check",
        "Washing check",
        "submitted",
        False,
        None,
        0.7,
        "highest",
        [AttemptView("t1", "submitted", submitted_at=T0 + 5)],
        1,
    )


def test_a_failed_quiz_without_a_cooldown_has_no_cooldown_and_attempts_left() -> None:
    ann = Server(with_quiz("wash-check", max_attempts=2))
    ann.answer("wash-check", "a1", 0, at=T0)
    ann.submit("wash-check", "a1", at=T0 + 10)
    view = quiz_of(ann, "wash-check")
    assert (view.status, view.passed, view.best_score, view.attempts_left) == (
        "failed",
        False,
        0.0,
        1,
    )
    assert view.cooldown_until is None


def test_attempts_are_listed_by_start_time() -> None:
    ann = Server(with_quiz("wash-check", max_attempts=None))
    ann.do("quiz.started", at=T0 + 50, course="safety", quiz="wash-check", attempt="late")
    ann.do("quiz.started", at=T0 + 10, course="safety", quiz="wash-check", attempt="early")
    ann.do("quiz.started", at=T0 + 10, course="safety", quiz="wash-check", attempt="also")
    assert [a.id for a in quiz_of(ann, "wash-check").attempts] == ["also", "early", "late"]


def test_the_average_policy_rounds_to_four_places() -> None:
    ann = Server(with_quiz("gloves-average", passing_score=1.0), plan="premium")
    for i, right in enumerate([1, 1, 2]):
        ann.answer("gloves-average", f"a{i}", right, at=T0 + i * HOUR)
        ann.submit("gloves-average", f"a{i}", at=T0 + i * HOUR + 10)
    assert quiz_of(ann, "gloves-average").best_score == 0.6667


# -- assignments -----------------------------------------------------------------------------


def test_a_passed_assignment_stays_graded_when_submitted_again() -> None:
    ann = Server()
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    grade(ann.state, ann.ctx, "safety", "incident", score=8, feedback="good", graded_by="i", at=T0)
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v2")
    (incident,) = ann.view().courses[0].modules[2].assignments
    assert incident == AssignmentView(
        "incident",
        "Incident report",
        "graded",
        8.0,
        True,
        10.0,
        "good",
        2,
        "already graded as passed: a new submission is kept but not graded",
    )


def test_a_failed_assignment_submitted_again_waits_for_a_grade() -> None:
    ann = Server()
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v1")
    grade(ann.state, ann.ctx, "safety", "incident", score=2, feedback="redo", graded_by="i", at=T0)
    assert ann.view().courses[0].modules[2].assignments[0] == AssignmentView(
        "incident", "Incident report", "graded", 2.0, False, 10.0, "redo", 1
    )
    ann.do("assignment.submitted", course="safety", assignment="incident", text="v2")
    assert ann.view().courses[0].modules[2].assignments[0] == AssignmentView(
        "incident", "Incident report", "submitted", 2.0, False, 10.0, "redo", 2
    )


def test_an_assignment_with_a_draft_only_is_a_draft() -> None:
    ann = Server()
    ann.do("assignment.saved", course="safety", assignment="incident", text="draft")
    assignment = CAT.assignment("safety", "incident")
    assert assignment is not None
    assert assignment_view(assignment, None) == AssignmentView(
        "incident", "Incident report", "not_started", None, None, 10.0
    )
    assert ann.view().courses[0].modules[2].assignments[0] == AssignmentView(
        "incident", "Incident report", "draft", None, None, 10.0
    )


# -- lessons -----------------------------------------------------------------------------------


def test_a_lesson_view_shows_time_position_watched_share_and_dates() -> None:
    ann = Server()
    ann.do("lesson.progressed", at=T0 + 1000, course="safety", lesson="wash-video", seconds=30)
    ann.do(
        "lesson.progressed",
        at=T0 + 2000,
        course="safety",
        lesson="wash-video",
        seconds=40,
        position=75,
        **span(0, 75),
    )
    video = ann.view().courses[0].modules[0].lessons[1]
    assert video == LessonView(
        "wash-video", "How to wash", "in_progress", 70, 75, 75.0, "watched:90", T0 + 1000, T0 + 2000
    )
    ann.do("lesson.progressed", at=T0 + 3000, course="safety", lesson="wash-video", **span(70, 95))
    video = ann.view().courses[0].modules[0].lessons[1]
    assert video == LessonView(
        "wash-video",
        "How to wash",
        "completed",
        70,
        75,
        95.0,
        "watched:90",
        T0 + 1000,
        T0 + 3000,
        T0 + 3000,
    )


def test_a_lesson_without_a_duration_shows_no_watched_share() -> None:
    lesson = Lesson("l", completion="viewed")
    state = fold(
        [Fact("d", 1, format_hlc(T0, 0), T0, "lesson.opened", {"course": "c", "lesson": "l"})]
    )
    assert lesson_view(lesson, state.lessons["c/l"]) == LessonView(
        "l", "", "completed", 0, None, 0.0, "viewed", T0, T0, T0
    )


def test_lesson_done_counts_resets_of_the_course_and_of_the_module() -> None:
    ann = Server()
    safety = CAT.course("safety")
    assert safety is not None
    assert lesson_done(ann.state, safety, "wash-read") is False  # never touched
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do("lesson.opened", course="safety", lesson="report-read")
    ann.do("lesson.progressed", course="safety", lesson="wash-video", seconds=5)
    assert lesson_done(ann.state, safety, "wash-read") is True
    assert lesson_done(ann.state, safety, "wash-video") is False  # not watched enough
    ann.do("path.enrolled", path="responder")
    ann.do("milestone.reset", path="responder", milestone="ms-wash")  # scope safety/wash
    assert lesson_done(ann.state, safety, "wash-read") is False
    assert lesson_done(ann.state, safety, "report-read") is True  # another module
    ann.do("lesson.opened", course="safety", lesson="wash-read")
    ann.do("course.reset", course="safety")
    assert lesson_done(ann.state, safety, "wash-read") is False
    assert lesson_done(ann.state, safety, "report-read") is False


def test_lesson_done_is_false_for_a_lesson_the_course_does_not_have() -> None:
    state = fold(
        [
            Fact(
                "d",
                1,
                format_hlc(T0, 0),
                T0,
                "lesson.completed",
                {"course": "safety", "lesson": "x"},
            )
        ]
    )
    safety = CAT.course("safety")
    assert safety is not None
    assert lesson_done(state, safety, "x") is False


# -- modules and courses --------------------------------------------------------------------

ONLY_QUIZ = Quiz("q", [Question("x", [Choice("ans-x1"), Choice("no-x1")], answer="ans-x1")])


def test_a_course_whose_every_item_is_done_but_not_complete_shows_99() -> None:
    """A module under ``lessons`` without lessons never completes; its quiz still counts."""
    catalog = Catalog(
        [Course("c", modules=[Module("m", quizzes=[ONLY_QUIZ], completion="lessons")])]
    )
    ann = Server(catalog)
    ann.do("quiz.answered", course="c", quiz="q", attempt="t", question="x", choices=["ans-x1"])
    ann.do("quiz.submitted", course="c", quiz="q", attempt="t")
    course = ann.view().courses[0]
    assert (course.status, course.percent, course.completed_at) == ("in_progress", 99, None)
    assert (course.modules[0].status, course.modules[0].percent) == ("in_progress", 0)


def test_a_course_and_its_modules_are_dated_by_first_access_last_activity_and_completion() -> None:
    ann = Server()
    ann.do("lesson.completed", at=T0 + 5 * MIN, course="triage", lesson="triage-read")
    ann.do("lesson.progressed", at=T0 + 2 * MIN, course="triage", lesson="triage-time", seconds=60)
    ann.do("lesson.opened", at=T0 + 9 * MIN, course="triage", lesson="triage-read")
    triage = ann.view().courses[1]
    intro = triage.modules[0]
    assert (intro.status, intro.percent) == ("completed", 100)
    assert (intro.started_at, intro.completed_at, intro.last_activity_at) == (
        T0 + 2 * MIN,
        T0 + 5 * MIN,
        T0 + 9 * MIN,
    )
    assert (triage.status, triage.percent) == ("completed", 100)
    assert (triage.started_at, triage.completed_at, triage.last_activity_at) == (
        T0 + 2 * MIN,
        T0 + 5 * MIN,
        T0 + 9 * MIN,
    )


def test_a_quiz_submission_starts_a_module_and_dates_its_activity() -> None:
    ann = Server(with_quiz("wash-check", max_attempts=None))
    ann.answer("wash-check", "a1", 0, at=T0 + 7 * MIN)
    ann.submit("wash-check", "a1", at=T0 + 8 * MIN)
    wash = ann.view().courses[0].modules[0]
    # Answers alone are not shown as activity; the submission is.
    assert (wash.status, wash.started_at, wash.last_activity_at, wash.completed_at) == (
        "in_progress",
        T0 + 8 * MIN,
        T0 + 8 * MIN,
        None,
    )
    course = ann.view().courses[0]
    assert (course.started_at, course.last_activity_at, course.percent) == (
        T0 + 8 * MIN,
        T0 + 8 * MIN,
        0,
    )


@pytest.mark.parametrize(
    ("rule", "lessons_at", "quiz_at", "done_at"),
    [
        ("all", 5, 9, 9),
        ("all", 9, 5, 9),
        ("any", 5, 9, 5),
        ("any", 9, 5, 5),
        ("lessons", 9, 5, 9),
        ("assessment", 5, 9, 9),
    ],
)
def test_a_module_is_completed_when_its_rule_is_met(
    rule: ModuleRule, lessons_at: int, quiz_at: int, done_at: int
) -> None:
    catalog = Catalog(
        [
            Course(
                "c",
                modules=[Module("m", lessons=[Lesson("l1")], quizzes=[ONLY_QUIZ], completion=rule)],
            )
        ]
    )
    ann = Server(catalog)
    ann.do("lesson.completed", at=T0 + lessons_at * MIN, course="c", lesson="l1")
    ann.do(
        "quiz.answered",
        at=T0 + quiz_at * MIN - 1,
        course="c",
        quiz="q",
        attempt="t",
        question="x",
        choices=["ans-x1"],
    )
    ann.do("quiz.submitted", at=T0 + quiz_at * MIN, course="c", quiz="q", attempt="t")
    module = ann.view().courses[0].modules[0]
    assert (module.status, module.completed_at) == ("completed", T0 + done_at * MIN)
    assert ann.view().courses[0].completed_at == T0 + done_at * MIN


def test_a_module_completed_by_an_explicit_mark_without_dated_items_uses_its_activity() -> None:
    catalog = Catalog(
        [
            Course(
                "c",
                modules=[
                    Module(
                        "m",
                        assignments=[Assignment("a", max_score=10, passing_score=5)],
                        completion="assessment",
                    )
                ],
            )
        ]
    )
    ann = Server(catalog)
    ann.do("assignment.submitted", at=T0 + MIN, course="c", assignment="a", text="x")
    grade(ann.state, ann.ctx, "c", "a", score=1, feedback="", graded_by="i", at=T0 + 2 * MIN)
    grade(ann.state, ann.ctx, "c", "a", score=6, feedback="", graded_by="i", at=T0 + 3 * MIN)
    grade(ann.state, ann.ctx, "c", "a", score=9, feedback="", graded_by="i", at=T0 + 4 * MIN)
    module = ann.view().courses[0].modules[0]
    # Passed at the first passing grade.
    assert (module.status, module.completed_at) == ("completed", T0 + 3 * MIN)


# -- objectives, paths, competencies --------------------------------------------------------

OBJECTIVES = Catalog(
    [
        Course(
            "c",
            modules=[
                Module(
                    "m",
                    lessons=[Lesson("l1"), Lesson("l2")],
                    quizzes=[ONLY_QUIZ],
                    assignments=[Assignment("a", max_score=10, passing_score=5)],
                )
            ],
            objectives=[
                Objective("lessons", lessons=["l1", "l2"]),
                Objective("quiz", quizzes=["q"]),
                Objective("work", assignments=["a"], competency="k"),
            ],
        )
    ],
    competencies=[Competency("k", "Skill", "cat", mastery=100)],
)


def test_objectives_need_every_listed_lesson_quiz_and_assignment() -> None:
    ann = Server(OBJECTIVES)
    ann.do("lesson.completed", course="c", lesson="l1")

    def objectives() -> list[tuple[str, bool]]:
        return [(o.id, o.mastered) for o in ann.view().courses[0].objectives]

    assert objectives() == [("lessons", False), ("quiz", False), ("work", False)]
    ann.do("lesson.completed", course="c", lesson="l2")
    ann.do("assignment.submitted", course="c", assignment="a", text="x")
    assert objectives() == [("lessons", True), ("quiz", False), ("work", False)]
    decisions = grade(ann.state, ann.ctx, "c", "a", score=5, feedback="", graded_by="i", at=T0)
    assert objectives() == [("lessons", True), ("quiz", False), ("work", True)]
    # Competency k's evidence is objective "work" only: mastered by the grade.
    assert decisions[-1].body == {"competency": "k", "name": "Skill", "level": 100}
    assert ann.view().competencies == [
        CompetencyView("k", "Skill", "cat", 100, "mastered", T0, ["objective:c/work"])
    ]


def test_item_done_reads_each_kind_of_evidence() -> None:
    ann = Server(OBJECTIVES)
    ann.do("lesson.completed", course="c", lesson="l1")
    ann.do("quiz.answered", course="c", quiz="q", attempt="t", question="x", choices=["ans-x1"])
    ann.do("quiz.submitted", course="c", quiz="q", attempt="t")
    courses = {c.id: c for c in ann.view().courses}
    assert [
        item_done(courses, kind, "c", item)
        for kind, item in [
            ("lesson", "l1"),
            ("lesson", "l2"),
            ("quiz", "q"),
            ("assignment", "a"),
            ("objective", "quiz"),
            ("objective", "work"),
            ("course", "c"),
            ("lesson", "q"),
            ("quiz", "l1"),
        ]
    ] == [True, False, True, False, True, False, False, False, False]
    assert item_done(courses, "lesson", "elsewhere", "l1") is False
    ann.do("lesson.completed", course="c", lesson="l2")
    ann.do("assignment.submitted", course="c", assignment="a", text="x")
    grade(ann.state, ann.ctx, "c", "a", score=5, feedback="", graded_by="i", at=T0)
    courses = {c.id: c for c in ann.view().courses}
    assert item_done(courses, "assignment", "c", "a") is True
    assert item_done(courses, "course", "c", "c") is True


def test_milestone_content_is_the_status_of_its_course_or_module() -> None:
    ann = Server()
    ann.do("lesson.completed", course="safety", lesson="gloves-read")
    courses = {c.id: c for c in ann.view().courses}
    assert milestone_content(courses, "safety", None) == "in_progress"
    assert milestone_content(courses, "safety", "gloves") == "completed"
    assert milestone_content(courses, "safety", "wash") == "not_started"
    assert milestone_content(courses, "safety", "nowhere") == "not_started"
    assert milestone_content(courses, "nowhere", None) == "not_started"


def test_a_path_view_shows_each_milestone_with_its_dates_and_the_history() -> None:
    ann = Server()
    ann.do("path.enrolled", at=T0, path="responder")
    ann.do("milestone.completed", at=T0 + MIN, path="responder", milestone="ms-wash")
    ann.do("lesson.opened", at=T0 + 2 * MIN, course="safety", lesson="gloves-read")
    ann.do("path.paused", at=T0 + 3 * MIN, path="responder")
    ann.do("path.resumed", at=T0 + 4 * MIN, path="responder")
    assert ann.view().paths[0] == PathView(
        "responder",
        "First responder",
        "in_progress",
        33,
        [
            MilestoneView("ms-wash", "Washing", "safety", "wash", "completed", T0, T0 + MIN),
            MilestoneView("ms-gloves", "Gloves", "safety", "gloves", "in_progress", T0 + MIN),
            MilestoneView("ms-triage", "Triage", "triage", None, "locked"),
        ],
        T0,
        None,
        T0 + 4 * MIN,
        "",
        [
            TransitionView(None, "enrolled", T0, "enroll"),
            TransitionView("enrolled", "in_progress", T0 + MIN, "started"),
            TransitionView("in_progress", "paused", T0 + 3 * MIN, "pause"),
            TransitionView("paused", "in_progress", T0 + 4 * MIN, "resume"),
        ],
    )
    assert ann.view().paths[1] == PathView(
        "helper",
        "Helper",
        "not_enrolled",
        0,
        [MilestoneView("hp-extra", "", "extra", None, "locked")],
    )


def test_a_competency_with_some_evidence_is_in_progress_and_without_any_not_started() -> None:
    ann = Server()
    assert ann.view().competencies[1] == CompetencyView(
        "triage-skill", "Triage", "care", 0, "not_started", None, []
    )
    ann.do("lesson.completed", at=T0 + MIN, course="triage", lesson="triage-time")
    assert ann.view().competencies[1] == CompetencyView(
        "triage-skill", "Triage", "care", 0, "not_started", None, []
    )
    ann.answer("wash-check", "w1", 2, at=T0 + 2 * MIN)
    ann.submit("wash-check", "w1", at=T0 + 3 * MIN)
    assert ann.view().competencies[0] == CompetencyView(
        "hygiene", "Hand hygiene", "safety", 50, "in_progress", None, ["quiz:safety/wash-check"]
    )


def test_the_summary_counts_only_courses_started_or_in_an_active_or_completed_path() -> None:
    ann = Server()
    ann.do("path.enrolled", path="helper")
    ann.do("path.dropped", path="helper")
    assert ann.view().summary.total_courses == 0  # a dropped path's course is not counted
    ann.do("path.enrolled", path="reader")
    ann.do("path.paused", path="reader")
    summary = ann.view().summary
    assert (summary.total_courses, summary.total_lessons, summary.active_enrollments) == (1, 1, 1)
    ann.do("lesson.completed", course="extra", lesson="extra-read")
    ann.do("path.resumed", path="reader")
    summary = ann.view().summary
    assert (summary.completed_paths, summary.active_enrollments, summary.completed_lessons) == (
        1,
        0,
        1,
    )
    assert (summary.total_courses, summary.completed_courses) == (1, 1)


def test_the_summary_counts_passed_assignments_and_time_over_every_lesson() -> None:
    ann = Server()
    ann.do("lesson.progressed", course="safety", lesson="wash-video", seconds=20)
    ann.do("lesson.progressed", course="triage", lesson="triage-time", seconds=15)
    ann.do("assignment.submitted", course="safety", assignment="incident", text="x")
    grade(ann.state, ann.ctx, "safety", "incident", score=9, feedback="", graded_by="i", at=T0)
    summary = ann.view().summary
    assert (
        summary.total_courses,
        summary.in_progress_courses,
        summary.total_assignments,
        summary.completed_assignments,
        summary.time_spent,
        summary.last_activity_at,
    ) == (2, 2, 1, 1, 35, ann.clock)


def test_a_learner_view_is_the_same_from_the_fold_of_the_feed() -> None:
    ann = Server(OBJECTIVES)
    ann.do("lesson.completed", course="c", lesson="l1")
    state = UserState()
    for each in ann.facts:
        apply_fact(state, each)
    assert learner_view(state, OBJECTIVES) == ann.view()


def test_every_view_is_for_a_free_learner_unless_told() -> None:
    """gloves-last allows 4 attempts, 2 on the free plan."""
    safety = CAT.course("safety")
    quiz = CAT.quiz("safety", "gloves-last")
    assert safety is not None and quiz is not None
    state = UserState()
    gloves = 1  # the module of gloves-last

    def left(view: CourseView) -> int | None:
        return view.modules[gloves].quizzes[0].attempts_left

    assert quiz_view(quiz, None).attempts_left == 2
    assert module_view(state, safety, safety.modules[gloves]).quizzes[0].attempts_left == 2
    assert left(course_view(state, safety)) == 2
    assert left(progress_view(state, CAT)[0]) == 2
    assert left(learner_view(state, CAT).courses[0]) == 2
    assert left(learner_view(state, CAT, "premium").courses[0]) == 4


def test_a_quiz_decision_this_version_cannot_read_leaves_the_quiz_not_started() -> None:
    state = UserState()
    body = {"course": "safety", "quiz": "wash-check", "attempt": "t1", "number": "first"}
    assert apply_decision(state, "quiz.scored", body, T0) is False
    quiz = CAT.quiz("safety", "wash-check")
    assert quiz is not None
    assert quiz_view(quiz, state.quizzes["safety/wash-check"]) == QuizView(
        "wash-check", "Washing check", "not_started", False, None, 0.7, "highest", [], 1
    )


def test_a_watched_share_just_under_the_threshold_does_not_complete() -> None:
    lesson = Lesson("l", kind="video", duration=1000, completion="watched:90")
    body: dict[str, Any] = {"course": "c", "lesson": "l", "from": 0, "to": 899}
    state = fold([Fact("d", 1, format_hlc(T0, 0), T0, "lesson.progressed", body)])
    assert lesson_view(lesson, state.lessons["c/l"]).status == "in_progress"
    more = {**body, "from": 899, "to": 900}
    state = fold(
        [
            Fact("d", 1, format_hlc(T0, 0), T0, "lesson.progressed", body),
            Fact("d", 2, format_hlc(T0 + 1, 0), T0 + 1, "lesson.progressed", more),
        ]
    )
    assert lesson_view(lesson, state.lessons["c/l"]).completed_at == T0 + 1


def test_a_completed_module_keeps_its_completion_time_after_more_activity() -> None:
    ann = Server()
    ann.do("lesson.completed", at=T0 + MIN, course="extra", lesson="extra-read")
    ann.do("lesson.opened", at=T0 + 5 * MIN, course="extra", lesson="extra-read")
    solo = ann.view().courses[2].modules[0]
    assert (solo.status, solo.completed_at, solo.last_activity_at) == (
        "completed",
        T0 + MIN,
        T0 + 5 * MIN,
    )


def test_a_module_with_only_a_quiz_must_be_completed_for_its_course_to_be() -> None:
    catalog = Catalog(
        [
            Course(
                "c", modules=[Module("m", lessons=[Lesson("l1")]), Module("n", quizzes=[ONLY_QUIZ])]
            )
        ]
    )
    ann = Server(catalog)
    ann.do("lesson.completed", course="c", lesson="l1")
    course = ann.view().courses[0]
    assert (course.status, course.percent) == ("in_progress", 50)
