"""Assessment reports: one quiz's statistics, and a course's quizzes with their difficult
questions (``docs/reports.md``, "Assessments").

Everything is SQL over the projections ``quiz_attempts`` and ``quiz_question_responses``
(one row per answered question of a scored attempt, :mod:`sync.merge.projections`),
filtered by the report's :class:`~server.reports.scope.Scope`; Python only arranges the
few aggregate rows that come back (score counts, per-question sums).

Which attempts count (``attempts``):

* ``all`` (the default, as Moodle's "all graded attempts"): every scored attempt that
  counted (one over the quiz's attempt limit or inside its cool-down did not);
* ``first``: each learner's first counted attempt only.

Both are filtered by when the attempt was submitted (``since``/``until``, epoch ms).

Per question, over the attempts counted:

* **facility**: the share of attempts that answered it correctly (an attempt that left it
  unanswered did not);
* **discrimination** (Kelley's upper and lower 27 %): the attempts ranked by score,
  ``k = round(0.27 n)`` lowest and ``k`` highest; the facility in the upper group minus
  that in the lower group. Attempts of equal score are ranked by submission time, then
  learner and attempt id, so the groups are always exactly ``k`` attempts and the same on
  every run; with fewer than :data:`MIN_DISCRIMINATION` attempts it is ``None`` (groups
  of one say nothing);
* the **most chosen wrong answer**: the wrong selection (a choice, or a set of choices for
  a multiple-answer question) chosen most often; ties go to the first in choice order;
* **mean time**: the mean of the seconds spent on the question by the attempts that
  answered it (:func:`sync.merge.projections.responses` says how they are measured).

A question is **difficult** when its facility is below :data:`DIFFICULT_FACILITY` or its
discrimination below :data:`DIFFICULT_DISCRIMINATION`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

from server.errors import NotFound
from server.reports.scope import Scope
from server.storage.store import Store
from sync.catalog import Catalog, Course, Question, Quiz

Attempts = Literal["all", "first"]

UPPER_LOWER: Final = 0.27
"""Kelley's share of attempts in the upper and in the lower group."""
MIN_DISCRIMINATION: Final = 4
"""Fewer counted attempts than this: no discrimination (``None``)."""
DIFFICULT_FACILITY: Final = 0.5
DIFFICULT_DISCRIMINATION: Final = 0.2
BINS: Final = 10
"""Score distribution bins: 0-10 %, 10-20 %, …, 90-100 % (100 % is in the last)."""


class Window(msgspec.Struct, frozen=True):
    """The submission times a report covers, epoch ms: ``since`` inclusive, ``until``
    exclusive (``None``: unbounded)."""

    since: int | None = None
    until: int | None = None


EVER: Final = Window()
"""No bound on submission times."""


class ScoreBin(msgspec.Struct, frozen=True):
    """Attempts whose score is at least ``low`` and below ``high`` (the last bin holds
    ``high`` too)."""

    low: float
    high: float
    attempts: int


class QuestionRow(msgspec.Struct, frozen=True):
    """One question's statistics (the report's table and its CSV)."""

    quiz_id: str
    question_id: str
    text: str
    attempts: int
    """Attempts counted (the facility's denominator)."""
    answered: int
    correct: int
    facility: float | None
    discrimination: float | None
    upper_correct: int
    """Correct answers in the upper 27 % of attempts (``group_size`` of them)."""
    lower_correct: int
    group_size: int
    wrong_answer: str | None
    """The most chosen wrong selection: choice ids, ``;``-joined."""
    wrong_answer_text: str | None
    wrong_answer_count: int
    mean_time: float | None
    """Seconds."""
    difficult: bool


class QuizReport(msgspec.Struct, frozen=True):
    course: str
    quiz: str
    title: str
    attempts_counted: Attempts
    group: str | None
    since: int | None
    until: int | None
    attempts: int
    learners: int
    passed: int
    pass_rate: float | None
    mean_score: float | None
    median_score: float | None
    distribution: list[ScoreBin]
    rows: list[QuestionRow]
    """One per question of the quiz, in the quiz's order."""
    difficult: list[QuestionRow]


class QuizSummary(msgspec.Struct, frozen=True):
    """One quiz of a course (the course's quizzes report table and its CSV)."""

    quiz_id: str
    title: str
    module_id: str
    questions: int
    attempts: int
    learners: int
    passed: int
    pass_rate: float | None
    mean_score: float | None
    median_score: float | None
    difficult_questions: int


class CourseQuizzesReport(msgspec.Struct, frozen=True):
    course: str
    title: str
    attempts_counted: Attempts
    group: str | None
    since: int | None
    until: int | None
    rows: list[QuizSummary]
    difficult: list[QuestionRow]
    """The difficult questions of every quiz of the course."""


def _num(value: Any) -> float | None:
    # PostgreSQL's AVG of a bigint is a numeric (Decimal); SQLite's a float.
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | int | float) else float(str(value))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _counted_sql(scope: Scope, attempts: Attempts, window: Window) -> tuple[str, list[Any]]:
    """The counted attempts of one quiz (``?`` course, quiz first), as a subquery with
    ``user_id, attempt_id, score, passed, submitted_at``."""
    cond, scope_args = scope.where("a.user_id")
    sql = (
        "SELECT a.user_id, a.attempt_id, a.score, a.passed, a.submitted_at"
        " FROM quiz_attempts a"
        " WHERE a.course_id = ? AND a.quiz_id = ? AND a.status = 'scored' AND a.counted"
        f" AND {cond}"
    )
    args: list[Any] = [*scope_args]
    if attempts == "first":
        sql += (
            " AND a.attempt_number = (SELECT MIN(b.attempt_number) FROM quiz_attempts b"
            " WHERE b.user_id = a.user_id AND b.course_id = a.course_id"
            " AND b.quiz_id = a.quiz_id AND b.status = 'scored' AND b.counted)"
        )
    if window.since is not None:
        sql += " AND a.submitted_at >= ?"
        args.append(window.since)
    if window.until is not None:
        sql += " AND a.submitted_at < ?"
        args.append(window.until)
    return sql, args


def _distribution(scores: list[tuple[float, int]]) -> list[ScoreBin]:
    counts = [0] * BINS
    for score, n in scores:
        # round(): 0.7 * 10 is 6.999…; a score of 100 % is in the last bin.
        counts[min(BINS - 1, int(round(score * BINS, 6)))] += n
    return [ScoreBin(round(i / BINS, 1), round((i + 1) / BINS, 1), counts[i]) for i in range(BINS)]


def _median(scores: list[tuple[float, int]], n: int) -> float | None:
    """The median of ``n`` scores given as sorted ``(score, count)`` pairs."""
    if n == 0:
        return None
    ordered: list[float] = []
    for score, count in scores:
        ordered += [score] * count
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _selection_text(question: Question, selection: str) -> str:
    texts = {c.id: c.text or c.id for c in question.choices}
    return "; ".join(texts.get(i, i) for i in selection.split(";"))


def _choice_order(question: Question, selection: str) -> tuple[int, ...]:
    order = {c.id: i for i, c in enumerate(question.choices)}
    return tuple(order.get(i, len(order)) for i in selection.split(";"))


class _Counted(msgspec.Struct, frozen=True):
    attempts: int
    learners: int
    passed: int
    mean: float | None
    scores: list[tuple[float, int]]


async def _attempt_stats(
    store: Store, course: str, quiz: str, counted: str, args: list[Any]
) -> _Counted:
    row = await store.engine.fetchrow(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT c.user_id) AS learners,"
        " SUM(CASE WHEN c.passed THEN 1 ELSE 0 END) AS passed, AVG(c.score) AS mean"
        f" FROM ({counted}) c",
        course,
        quiz,
        *args,
    )
    assert row is not None
    scores = await store.engine.fetch(
        f"SELECT c.score, COUNT(*) AS n FROM ({counted}) c GROUP BY c.score ORDER BY c.score",
        course,
        quiz,
        *args,
    )
    return _Counted(
        int(row["n"]),
        int(row["learners"]),
        int(row["passed"] or 0),
        _num(row["mean"]),
        [(float(r["score"]), int(r["n"])) for r in scores],
    )


async def quiz_report(
    store: Store,
    scope: Scope,
    course_id: str,
    quiz_id: str,
    *,
    attempts: Attempts = "all",
    window: Window = EVER,
    catalog: Catalog | None = None,
) -> QuizReport:
    """The statistics of quiz ``course_id/quiz_id`` over the scope's learners. Raises
    :class:`NotFound` for a course or quiz the catalog does not hold."""
    catalog = catalog if catalog is not None else await store.catalog()
    course = catalog.course(course_id)
    if course is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    quiz = catalog.quiz(course_id, quiz_id)
    if quiz is None:
        raise NotFound(f"no quiz {quiz_id!r} in course {course_id!r}")
    counted, args = _counted_sql(scope, attempts, window)
    stats = await _attempt_stats(store, course_id, quiz_id, counted, args)
    rows = await _questions(store, course_id, quiz, counted, args, stats.attempts)
    n = stats.attempts
    return QuizReport(
        course=course_id,
        quiz=quiz_id,
        title=quiz.title,
        attempts_counted=attempts,
        group=scope.group.name if scope.group else None,
        since=window.since,
        until=window.until,
        attempts=n,
        learners=stats.learners,
        passed=stats.passed,
        pass_rate=_round(stats.passed / n) if n else None,
        mean_score=_round(stats.mean),
        median_score=_round(_median(stats.scores, n)),
        distribution=_distribution(stats.scores),
        rows=rows,
        difficult=[r for r in rows if r.difficult],
    )


async def _questions(
    store: Store, course_id: str, quiz: Quiz, counted: str, args: list[Any], n: int
) -> list[QuestionRow]:
    k = round(UPPER_LOWER * n) if n >= MIN_DISCRIMINATION else 0
    ranked = (
        "SELECT c.user_id, c.attempt_id, ROW_NUMBER() OVER"
        " (ORDER BY c.score, c.submitted_at, c.user_id, c.attempt_id) AS pos"
        f" FROM ({counted}) c"
    )
    joined = (
        f" FROM ({ranked}) c JOIN quiz_question_responses r ON r.user_id = c.user_id"
        " AND r.course_id = ? AND r.quiz_id = ? AND r.attempt_id = c.attempt_id"
    )
    both = [course_id, quiz.id, *args, course_id, quiz.id]
    sums = {
        r["question_id"]: r
        for r in await store.engine.fetch(
            "SELECT r.question_id, COUNT(*) AS answered,"
            " SUM(CASE WHEN r.correct THEN 1 ELSE 0 END) AS correct,"
            " SUM(CASE WHEN r.correct AND c.pos <= ? THEN 1 ELSE 0 END) AS lower_correct,"
            " SUM(CASE WHEN r.correct AND c.pos > ? THEN 1 ELSE 0 END) AS upper_correct,"
            f" AVG(r.time_spent) AS mean_time{joined} GROUP BY r.question_id",
            k,
            n - k,
            *both,
        )
    }
    wrong: dict[str, list[tuple[str, int]]] = {}
    for r in await store.engine.fetch(
        f"SELECT r.question_id, r.selected_options, COUNT(*) AS n{joined}"
        " WHERE NOT r.correct GROUP BY r.question_id, r.selected_options",
        *both,
    ):
        wrong.setdefault(r["question_id"], []).append((r["selected_options"], int(r["n"])))
    out: list[QuestionRow] = []
    for question in quiz.questions:
        found = sums.get(question.id)
        correct = int(found["correct"]) if found else 0
        lower = int(found["lower_correct"]) if found else 0
        upper = int(found["upper_correct"]) if found else 0
        facility = _round(correct / n) if n else None
        discrimination = _round((upper - lower) / k) if k else None
        choices = sorted(
            wrong.get(question.id, []), key=lambda x: (-x[1], _choice_order(question, x[0]))
        )
        top = choices[0] if choices else None
        out.append(
            QuestionRow(
                quiz_id=quiz.id,
                question_id=question.id,
                text=question.text,
                attempts=n,
                answered=int(found["answered"]) if found else 0,
                correct=correct,
                facility=facility,
                discrimination=discrimination,
                upper_correct=upper,
                lower_correct=lower,
                group_size=k,
                wrong_answer=top[0] if top else None,
                wrong_answer_text=_selection_text(question, top[0]) if top else None,
                wrong_answer_count=top[1] if top else 0,
                mean_time=_round(_num(found["mean_time"])) if found else None,
                difficult=(facility is not None and facility < DIFFICULT_FACILITY)
                or (discrimination is not None and discrimination < DIFFICULT_DISCRIMINATION),
            )
        )
    return out


async def course_quizzes_report(
    store: Store,
    scope: Scope,
    course_id: str,
    *,
    attempts: Attempts = "all",
    window: Window = EVER,
) -> CourseQuizzesReport:
    """Every quiz of course ``course_id`` summarized, and their difficult questions.
    Raises :class:`NotFound` for a course the catalog does not hold."""
    catalog = await store.catalog()
    course: Course | None = catalog.course(course_id)
    if course is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    rows: list[QuizSummary] = []
    difficult: list[QuestionRow] = []
    for module in course.modules:
        for quiz in module.quizzes:
            found = await quiz_report(
                store, scope, course_id, quiz.id, attempts=attempts, window=window, catalog=catalog
            )
            rows.append(
                QuizSummary(
                    quiz_id=quiz.id,
                    title=quiz.title,
                    module_id=module.id,
                    questions=len(quiz.questions),
                    attempts=found.attempts,
                    learners=found.learners,
                    passed=found.passed,
                    pass_rate=found.pass_rate,
                    mean_score=found.mean_score,
                    median_score=found.median_score,
                    difficult_questions=len(found.difficult),
                )
            )
            difficult += found.difficult
    return CourseQuizzesReport(
        course=course_id,
        title=course.title,
        attempts_counted=attempts,
        group=scope.group.name if scope.group else None,
        since=window.since,
        until=window.until,
        rows=rows,
        difficult=difficult,
    )
