"""Progress as rows: the projections reports, exports and other systems query with SQL.

Each table is named after the seeds' model and keyed by ``user_id`` first; each row is a
plain tuple in the table's column order (:data:`TABLES`), computed from the same views the
learner sees (:mod:`sync.views`), so a row never says anything the views do not.

* ``lesson_progress`` (LessonProgress): one row per lesson the learner has touched;
* ``module_progress``, ``course_progress`` (ModuleProgress, CourseProgress): one row per
  module and course the learner has started (their last activity is the latest of their
  lessons': a heartbeat writes its lesson's row only);
* ``quiz_attempts`` (QuizAttempt): one row per attempt;
* ``quiz_question_responses`` (QuizQuestionResponse): one row per answered question of a
  scored attempt (:func:`responses`);
* ``learning_path_progress`` (LearningPathProgress): one row per path the learner has
  enrolled in;
* ``user_competencies`` (UserCompetency): one row per competency with a level above zero;
* ``milestone_progress``: one row per milestone of each path the learner enrolled in (its
  unlock, start and completion times: progress velocity in reports);
* ``objective_progress``: one row per objective of each course the learner started.

The merge says which rows a push changed (:func:`course_rows`, :func:`lesson_row`,
:func:`learner_rows`); :func:`all_rows` gives every row of a learner, for rebuilding and
verifying them.
"""

from __future__ import annotations

from typing import Any, Final

from sync.catalog import Catalog, Course, Quiz
from sync.merge.fold import AttemptState, UserState
from sync.views import (
    CourseView,
    LessonView,
    competency_view,
    course_view,
    effective_reset,
    lesson_view,
    path_view,
)

Row = tuple[Any, ...]
Rows = dict[str, list[Row]]

_COUNTS: Final = (
    ("total_lessons", "integer"),
    ("completed_lessons", "integer"),
    ("total_quizzes", "integer"),
    ("completed_quizzes", "integer"),
    ("total_assignments", "integer"),
    ("completed_assignments", "integer"),
    ("started_at", "bigint"),
    ("completed_at", "bigint"),
)
"""What a module's and a course's rows count (totals and completed), and their times."""

TABLES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "lesson_progress": (
        ("user_id", "text"),
        ("course_id", "text"),
        ("lesson_id", "text"),
        ("module_id", "text"),
        ("status", "text"),
        ("percent_complete", "double precision"),
        ("time_spent", "bigint"),
        ("last_position", "bigint"),
        ("completion_criteria", "text"),
        ("started_at", "bigint"),
        ("completed_at", "bigint"),
        ("last_activity_at", "bigint"),
    ),
    "module_progress": (
        ("user_id", "text"),
        ("course_id", "text"),
        ("module_id", "text"),
        ("status", "text"),
        ("percent_complete", "double precision"),
        *_COUNTS,
    ),
    "course_progress": (
        ("user_id", "text"),
        ("course_id", "text"),
        ("status", "text"),
        ("percent_complete", "double precision"),
        ("total_modules", "integer"),
        ("completed_modules", "integer"),
        *_COUNTS,
    ),
    "quiz_attempts": (
        ("user_id", "text"),
        ("course_id", "text"),
        ("quiz_id", "text"),
        ("attempt_id", "text"),
        ("module_id", "text"),
        ("status", "text"),
        ("attempt_number", "integer"),
        ("score", "double precision"),
        ("passed", "boolean"),
        ("counted", "boolean"),
        ("submitted_at", "bigint"),
    ),
    "quiz_question_responses": (
        ("user_id", "text"),
        ("course_id", "text"),
        ("quiz_id", "text"),
        ("attempt_id", "text"),
        ("question_id", "text"),
        ("selected_options", "text"),
        ("correct", "boolean"),
        ("score", "double precision"),
        ("time_spent", "bigint"),
        ("answered_at", "bigint"),
    ),
    "learning_path_progress": (
        ("user_id", "text"),
        ("learning_path_id", "text"),
        ("status", "text"),
        ("percent_complete", "double precision"),
        ("total_milestones", "integer"),
        ("completed_milestones", "integer"),
        ("enrolled_at", "bigint"),
        ("completed_at", "bigint"),
    ),
    "user_competencies": (
        ("user_id", "text"),
        ("competency_id", "text"),
        ("level", "integer"),
        ("status", "text"),
        ("acquired_at", "bigint"),
    ),
    "milestone_progress": (
        ("user_id", "text"),
        ("learning_path_id", "text"),
        ("milestone_id", "text"),
        ("course_id", "text"),
        ("module_id", "text"),
        ("status", "text"),
        ("unlocked_at", "bigint"),
        ("started_at", "bigint"),
        ("completed_at", "bigint"),
    ),
    "objective_progress": (
        ("user_id", "text"),
        ("course_id", "text"),
        ("objective_id", "text"),
        ("mastered", "boolean"),
    ),
}
"""Each projection table's columns, in row order, with their SQL types."""

KEYS: Final = {
    "lesson_progress": ("user_id", "course_id", "lesson_id"),
    "module_progress": ("user_id", "course_id", "module_id"),
    "course_progress": ("user_id", "course_id"),
    "quiz_attempts": ("user_id", "course_id", "quiz_id", "attempt_id"),
    "quiz_question_responses": ("user_id", "course_id", "quiz_id", "attempt_id", "question_id"),
    "learning_path_progress": ("user_id", "learning_path_id"),
    "user_competencies": ("user_id", "competency_id"),
    "milestone_progress": ("user_id", "learning_path_id", "milestone_id"),
    "objective_progress": ("user_id", "course_id", "objective_id"),
}
"""Each table's primary key (``user_id`` first)."""


def empty() -> Rows:
    return {table: [] for table in TABLES}


def _lesson(user_id: str, course: str, module: str, view: LessonView) -> Row:
    return (
        user_id,
        course,
        view.id,
        module,
        view.status,
        view.watched_percent,
        view.seconds,
        view.position,
        view.completion,
        view.started_at,
        view.completed_at,
        view.last_activity_at,
    )


def lesson_row(state: UserState, catalog: Catalog, user_id: str, key: str) -> Row | None:
    """The ``lesson_progress`` row of the lesson ``course/lesson`` (None: not in the
    catalog, or not touched)."""
    course_id, _, lesson_id = key.partition("/")
    lesson = catalog.lesson(course_id, lesson_id)
    module = catalog.lesson_module(course_id, lesson_id)
    st = state.lessons.get(key)
    if lesson is None or module is None or st is None:
        return None
    view = lesson_view(lesson, st, effective_reset(state, course_id, module, st))
    return _lesson(user_id, course_id, module, view)


def _course(user_id: str, view: CourseView, out: Rows) -> None:
    if view.status == "not_started" and view.started_at is None:
        return
    totals = [0, 0, 0, 0, 0, 0]
    done_modules = 0
    for module in view.modules:
        lessons = [x for x in module.lessons if x.status == "completed"]
        quizzes = [q for q in module.quizzes if q.passed]
        assignments = [a for a in module.assignments if a.passed]
        counts = (
            len(module.lessons),
            len(lessons),
            len(module.quizzes),
            len(quizzes),
            len(module.assignments),
            len(assignments),
        )
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        done_modules += module.status == "completed"
        for lesson in module.lessons:
            if lesson.status != "not_started" or lesson.started_at is not None:
                out["lesson_progress"].append(_lesson(user_id, view.id, module.id, lesson))
        for quiz in module.quizzes:
            for attempt in quiz.attempts:
                out["quiz_attempts"].append(
                    (
                        user_id,
                        view.id,
                        quiz.id,
                        attempt.id,
                        module.id,
                        attempt.status,
                        attempt.number,
                        attempt.score,
                        attempt.passed,
                        attempt.counted,
                        attempt.submitted_at,
                    )
                )
        if module.status != "not_started" or module.started_at is not None:
            out["module_progress"].append(
                (
                    user_id,
                    view.id,
                    module.id,
                    module.status,
                    float(module.percent),
                    *counts,
                    module.started_at,
                    module.completed_at,
                )
            )
    out["objective_progress"] += [
        (user_id, view.id, objective.id, objective.mastered) for objective in view.objectives
    ]
    out["course_progress"].append(
        (
            user_id,
            view.id,
            view.status,
            float(view.percent),
            len(view.modules),
            done_modules,
            *totals,
            view.started_at,
            view.completed_at,
        )
    )


def _attempt_responses(
    user_id: str, course_id: str, quiz_id: str, attempt_id: str, attempt: AttemptState, quiz: Quiz
) -> list[Row]:
    # The held answers (the last by stamp per question), whatever their stamp: a row is a
    # function of the state, and the rows of an attempt only ever gain keys (answers are
    # never dropped), so the merge's upserts and a rebuild give the same rows. A client
    # answers before it submits, so these are the answers the server scored; one that
    # answers after (out of spec) changes the row, never the score.
    held = []
    for index, question in enumerate(quiz.questions):
        answer = attempt.answers.get(question.id)
        if answer is not None:
            held.append((attempt.answered_at.get(question.id), index, question, answer[1]))
    # Time on a question: from the answer before it (by device time; ties by the quiz's
    # order), or from the attempt's start for the first one (docs/reports.md).
    spent: dict[str, int] = {}
    previous = attempt.started_at
    for at, _, question, _ in sorted(held, key=lambda x: (x[0] or 0, x[1])):
        if at is not None:  # None: an answer folded before its time was kept
            spent[question.id] = max(0, at - (at if previous is None else previous)) // 1000
            previous = at
    rows: list[Row] = []
    for at, _, question, choices in held:
        correct = frozenset(choices) == question.correct
        rows.append(
            (
                user_id,
                course_id,
                quiz_id,
                attempt_id,
                question.id,
                ";".join(sorted(choices)),
                correct,
                float(question.points if correct else 0),
                spent.get(question.id),
                at,
            )
        )
    return rows


def responses(state: UserState, course: Course, user_id: str, out: Rows) -> None:
    """Append the ``quiz_question_responses`` rows of ``course``: one per question answered
    in an attempt the server scored, with the answer held (the choices, ``;``-joined
    and sorted), whether it was right, the points it earned, and the seconds spent on it."""
    table = out["quiz_question_responses"]
    for module in course.modules:
        for quiz in module.quizzes:
            held = state.quizzes.get(f"{course.id}/{quiz.id}")
            if held is None:
                continue
            for attempt_id in sorted(held.results):
                attempt = held.attempts.get(attempt_id)
                if attempt is not None:
                    table += _attempt_responses(
                        user_id, course.id, quiz.id, attempt_id, attempt, quiz
                    )


def course_rows(
    state: UserState, catalog: Catalog, plan: str, user_id: str, courses: set[str], out: Rows
) -> dict[str, CourseView]:
    """Append the rows of ``courses`` (course, modules, touched lessons, quiz attempts and
    their responses) to ``out``; returns their views."""
    views: dict[str, CourseView] = {}
    for course_id in sorted(courses):
        course = catalog.course(course_id)
        if course is not None:
            views[course_id] = view = course_view(state, course, plan)
            _course(user_id, view, out)
            responses(state, course, user_id, out)
    return views


def learner_rows(
    state: UserState, catalog: Catalog, plan: str, user_id: str, out: Rows
) -> list[str]:
    """Append the learner-wide rows (paths, competencies) to ``out``: they depend on any
    course's progress. Returns the competencies at level zero (they have no row: a reset
    can take one back there)."""
    zero: list[str] = []
    courses = {c.id: course_view(state, c, plan) for c in catalog.courses}
    for path in catalog.paths:
        view = path_view(state, path.id, catalog, courses)
        if view.status == "not_enrolled":
            continue
        done = sum(1 for m in view.milestones if m.status == "completed")
        out["learning_path_progress"].append(
            (
                user_id,
                path.id,
                view.status,
                float(view.percent),
                len(view.milestones),
                done,
                view.enrolled_at,
                view.completed_at,
            )
        )
        enrollment = state.enrollments.get(path.id)
        held = enrollment.milestones if enrollment is not None else {}
        for step in view.milestones:
            started = held[step.id].started_at if step.id in held else None
            out["milestone_progress"].append(
                (
                    user_id,
                    path.id,
                    step.id,
                    step.course,
                    step.module,
                    step.status,
                    step.unlocked_at,
                    started,
                    step.completed_at,
                )
            )
    for competency in catalog.competencies:
        found = competency_view(state, catalog, competency, courses)
        if found.level or found.acquired_at is not None:
            out["user_competencies"].append(
                (user_id, found.id, found.level, found.status, found.acquired_at)
            )
        else:
            zero.append(found.id)
    return zero


def all_rows(state: UserState, catalog: Catalog, plan: str, user_id: str) -> Rows:
    """Every projection row of the learner."""
    out = empty()
    course_rows(state, catalog, plan, user_id, {c.id for c in catalog.courses}, out)
    learner_rows(state, catalog, plan, user_id, out)
    return out


def key_of(table: str, row: Row) -> Row:
    """A row's primary key (its leading columns)."""
    return row[: len(KEYS[table])]
