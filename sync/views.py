"""What learners and instructors see: pure functions of (state, catalog).

:func:`learner_view` gives everything ``waymark status --json`` and the REST API show:
courses → modules → lessons, quizzes and assignments; paths with milestones;
competencies; and the user-level totals of the seeds' UserProgress model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from sync.catalog import Assignment, Catalog, Competency, Course, Lesson, Module, Quiz
from sync.merge.fold import (
    AssignmentState,
    AttemptResult,
    Base,
    Evidence,
    LessonState,
    QuizState,
    Stamp,
    UserState,
    covered,
    lesson_key,
    union,
)

Status = Literal["not_started", "in_progress", "completed"]


class LessonView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Status
    seconds: int
    position: int | None
    watched_percent: float
    completion: str
    started_at: int | None = None
    last_activity_at: int | None = None
    completed_at: int | None = None


class AttemptView(msgspec.Struct, frozen=True):
    """``number``, ``score``, ``passed`` and ``counted`` are null until the server decided
    ("submitted, scored when online")."""

    id: str
    status: Literal["in_progress", "submitted", "scored"]
    number: int | None = None
    score: float | None = None
    passed: bool | None = None
    counted: bool | None = None
    reason: str | None = None
    submitted_at: int | None = None


class QuizView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Literal["not_started", "in_progress", "submitted", "passed", "failed"]
    passed: bool
    best_score: float | None
    passing_score: float
    grading: str
    attempts: list[AttemptView]
    attempts_left: int | None
    cooldown_until: int | None = None


class AssignmentView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Literal["not_started", "draft", "submitted", "graded"]
    score: float | None
    passed: bool | None
    max_score: float
    feedback: str = ""
    submissions: int = 0
    refused: str = ""


class ModuleView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Status
    percent: int
    lessons: list[LessonView]
    quizzes: list[QuizView] = []
    assignments: list[AssignmentView] = []
    completion: str = "all"
    started_at: int | None = None
    completed_at: int | None = None
    last_activity_at: int | None = None


class ObjectiveView(msgspec.Struct, frozen=True):
    id: str
    title: str
    mastered: bool


class CourseView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Status
    percent: int
    modules: list[ModuleView]
    last_activity_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    objectives: list[ObjectiveView] = []


# -- lessons ------------------------------------------------------------------------------


def effective_reset(state: UserState, course: str, module: str, st: LessonState) -> Stamp | None:
    marks = [
        m
        for m in (st.uncompleted, state.resets.get(course), state.resets.get(f"{course}/{module}"))
        if m is not None
    ]
    return max(marks) if marks else None


def rule_key(lesson: Lesson) -> str:
    """What a lesson's completion depends on besides its evidence (:class:`Base.rule`)."""
    return f"{lesson.completion}|{lesson.duration}"


def first_met(
    lesson: Lesson,
    evidence: Iterable[Evidence],
    seconds: int = 0,
    segments: Sequence[tuple[int, int]] = (),
) -> int | None:
    """The wall time of the first of ``evidence`` (in stamp order) at which ``lesson``'s
    ``time`` or ``watched`` rule is met, counting from ``seconds`` and ``segments`` (the
    summed evidence before it, which did not meet it); None if none does."""
    rule = lesson.rule
    if rule.kind == "time":
        for e in evidence:
            seconds += e.seconds
            if seconds >= rule.threshold:
                return e.at
    elif rule.kind == "watched":
        need = rule.threshold * lesson.duration
        spans = [e for e in evidence if e.end > e.start]
        # The whole union first (one sort): most calls are for lessons not yet watched
        # enough, and they need no search for the moment the rule was met.
        if covered(union(segments, ((e.start, e.end) for e in spans))) * 100 >= need:
            held = list(segments)
            for e in spans:
                held = union(held, [(e.start, e.end)])
                if covered(held) * 100 >= need:
                    return e.at
    return None


def meets(lesson: Lesson, seconds: int, segments: Sequence[tuple[int, int]]) -> bool:
    """Whether summed evidence alone meets ``lesson``'s ``time`` or ``watched`` rule."""
    rule = lesson.rule
    if rule.kind == "time":
        return seconds >= rule.threshold
    if rule.kind == "watched":
        return covered(segments) * 100 >= rule.threshold * lesson.duration
    return False


def base_counts(base: Base, reset: Stamp | None) -> bool:
    """Whether a lesson's summed evidence still counts after ``reset`` (its effective
    reset now): it does unless a reset came after it was summed (every such reset is stamped
    above all of it)."""
    return reset is None or (base.floor is not None and reset <= base.floor)


def lesson_completed_at(lesson: Lesson, st: LessonState, reset: Stamp | None = None) -> int | None:
    """When ``st`` met ``lesson``'s rule (or an explicit completion) after ``reset``; None if
    it has not. Explicit completions count for every rule."""
    reset = max(reset, st.uncompleted) if reset and st.uncompleted else (reset or st.uncompleted)

    def after(stamp: Stamp | None) -> bool:
        return stamp is not None and (reset is None or stamp > reset)

    times: list[int] = []
    if after(st.completed):
        times.append(st.completed_at or 0)
    rule = lesson.rule
    if rule.kind == "viewed" and after(st.opened):
        times.append(st.opened_at or 0)
    elif rule.kind in ("time", "watched"):
        base = st.base
        tail = (e for e in st.evidence if after(e.stamp))
        same_rule = base is not None and base.rule == rule_key(lesson)
        if base is None or not base_counts(base, reset):
            met = first_met(lesson, tail)
        elif same_rule and base.met_at is not None:
            met = base.met_at
        elif not same_rule and meets(lesson, base.seconds, base.segments):
            # Summed under another rule: the store folds the learner again after such a
            # catalog change (sync.merge.horizon.needs_refold); until then, the latest time known.
            met = base.last_at
        else:
            met = first_met(lesson, tail, base.seconds, base.segments)
        if met is not None:
            times.append(met)
    return min(times) if times else None


def lesson_completed(lesson: Lesson, st: LessonState, reset: Stamp | None = None) -> bool:
    """Whether ``st`` satisfies ``lesson``'s completion rule (or an explicit completion)."""
    return lesson_completed_at(lesson, st, reset) is not None


def lesson_done(state: UserState, course: Course, lesson_id: str) -> bool:
    """Whether the learner's lesson ``lesson_id`` of ``course`` counts as completed now
    (its rule or an explicit completion, after the latest reset)."""
    st = state.lessons.get(lesson_key(course.id, lesson_id))
    if st is None:
        return False
    for module in course.modules:
        for lesson in module.lessons:
            if lesson.id == lesson_id:
                reset = effective_reset(state, course.id, module.id, st)
                return lesson_completed(lesson, st, reset)
    return False


def lesson_view(lesson: Lesson, st: LessonState | None, reset: Stamp | None = None) -> LessonView:
    if st is None:
        return LessonView(lesson.id, lesson.title, "not_started", 0, None, 0.0, lesson.completion)
    done_at = lesson_completed_at(lesson, st, reset)
    watched = covered(st.segments)
    percent = min(100.0, round(100 * watched / lesson.duration, 1)) if lesson.duration else 0.0
    return LessonView(
        lesson.id,
        lesson.title,
        "completed" if done_at is not None else "in_progress",
        st.seconds,
        st.position,
        percent,
        lesson.completion,
        st.first_at,
        st.last_at,
        done_at,
    )


# -- quizzes and assignments --------------------------------------------------------------


def policy_score(quiz: Quiz, st: QuizState) -> float | None:
    """The quiz's score under its grading policy, over counted attempts."""
    counted = sorted((r for r in st.results.values() if r.counted), key=lambda r: r.number)
    if not counted:
        return None
    scores = [r.score for r in counted]
    match quiz.grading:
        case "last":
            return scores[-1]
        case "first":
            return scores[0]
        case "average":
            return round(sum(scores) / len(scores), 4)
    return max(scores)


def quiz_passed(st: QuizState | None) -> bool:
    """A pass is a recorded decision and is never revoked."""
    return st is not None and st.passed_at is not None


def quiz_view(quiz: Quiz, st: QuizState | None, plan: str = "free") -> QuizView:
    allowed = quiz.attempts_allowed(plan)
    if st is None:
        return QuizView(
            quiz.id,
            quiz.title,
            "not_started",
            False,
            None,
            quiz.passing_score,
            quiz.grading,
            [],
            allowed,
        )
    attempts = []
    # Ties broken by id: the server holds attempts in arrival order, devices in HLC order.
    by_start = sorted(st.attempts.items(), key=lambda kv: (kv[1].started_at or 0, kv[0]))
    for attempt_id, attempt in by_start:
        result = st.results.get(attempt_id)
        if result is not None:
            attempts.append(
                AttemptView(
                    attempt_id,
                    "scored",
                    result.number,
                    result.score,
                    result.passed,
                    result.counted,
                    result.reason or None,
                    attempt.submitted_at,
                )
            )
        else:
            status: Literal["in_progress", "submitted"] = (
                "submitted" if attempt.submitted else "in_progress"
            )
            attempts.append(AttemptView(attempt_id, status, submitted_at=attempt.submitted_at))
    counted = [r for r in st.results.values() if r.counted]
    left = None if allowed is None else max(0, allowed - len(counted))
    last = max(counted, key=lambda r: r.number, default=None)
    cooldown = cooldown_ends(last, quiz.cooldown_seconds) if last else None
    best = policy_score(quiz, st)
    if quiz_passed(st):
        status_q: Literal["not_started", "in_progress", "submitted", "passed", "failed"] = "passed"
    elif any(a.status == "submitted" for a in attempts):
        status_q = "submitted"
    elif any(a.status == "in_progress" for a in attempts):
        status_q = "in_progress"
    elif st.results:
        status_q = "failed"
    else:
        status_q = "not_started"
    return QuizView(
        quiz.id,
        quiz.title,
        status_q,
        quiz_passed(st),
        best,
        quiz.passing_score,
        quiz.grading,
        attempts,
        left,
        cooldown,
    )


def cooldown_ends(last: AttemptResult, seconds: int) -> int | None:
    """When the cool-down after the counted attempt ``last`` ends for an attempt made then
    (None: the quiz has none): ``seconds`` after the later of its credited time and the
    server's receipt of it, the two clocks :func:`sync.merge.decide.cooldown_problem` checks
    (a device offline compares it with its own clock: a hint, the server decides)."""
    if not seconds:
        return None
    return max(last.at, last.received) + seconds * 1000


def assignment_passed(st: AssignmentState | None) -> bool:
    return st is not None and any(g.passed for g in st.grades)


def assignment_view(assignment: Assignment, st: AssignmentState | None) -> AssignmentView:
    if st is None:
        return AssignmentView(
            assignment.id, assignment.title, "not_started", None, None, assignment.max_score
        )
    grade = st.grades[-1] if st.grades else None
    # A pass is final: a later submission is kept but never graded (assignment.refused).
    if grade is not None and (grade.submissions >= len(st.submissions) or assignment_passed(st)):
        status: Literal["not_started", "draft", "submitted", "graded"] = "graded"
    elif st.submissions:
        status = "submitted"
    else:
        status = "draft"
    return AssignmentView(
        assignment.id,
        assignment.title,
        status,
        grade.score if grade else None,
        assignment_passed(st) if grade else None,
        assignment.max_score,
        grade.feedback if grade else "",
        len(st.submissions),
        st.refused,
    )


# -- modules and courses ------------------------------------------------------------------


def _status(complete: bool, statuses: Sequence[str]) -> Status:
    """``completed`` only by the completion rule; otherwise started once anything is."""
    if complete:
        return "completed"
    return "in_progress" if any(s != "not_started" for s in statuses) else "not_started"


def _percent(done: int, total: int) -> int:
    return 100 * done // total if total else 0


def _when_all(times: Sequence[int | None]) -> int | None:
    """The time the last of ``times`` was done; None if one is not done (or there are none)."""
    done = [t for t in times if t is not None]
    return max(done) if done and len(done) == len(times) else None


def _quiz_passed_at(st: QuizState | None) -> int | None:
    return st.passed_at if st is not None else None


def _assignment_passed_at(st: AssignmentState | None) -> int | None:
    return min((g.at for g in st.grades if g.passed), default=None) if st is not None else None


def module_view(state: UserState, course: Course, module: Module, plan: str = "free") -> ModuleView:
    lessons = [
        lesson_view(
            x,
            st := state.lessons.get(lesson_key(course.id, x.id)),
            effective_reset(state, course.id, module.id, st) if st else None,
        )
        for x in module.lessons
    ]
    quizzes = [
        quiz_view(q, state.quizzes.get(f"{course.id}/{q.id}"), plan) for q in module.all_quizzes
    ]
    assignments = [
        assignment_view(a, state.assignments.get(f"{course.id}/{a.id}")) for a in module.assignments
    ]
    lessons_done = [x.status == "completed" for x in lessons]
    assessed = [q.passed for q in quizzes] + [bool(a.passed) for a in assignments]
    # When each item was done (None: not done), to date the module's completion by the
    # last requirement its rule counts, e.g. a quiz passed after the lessons (story 7.1).
    lessons_at = [x.completed_at for x in lessons]
    assessed_at = [
        _quiz_passed_at(state.quizzes.get(f"{course.id}/{q.id}")) for q in module.all_quizzes
    ] + [
        _assignment_passed_at(state.assignments.get(f"{course.id}/{a.id}"))
        for a in module.assignments
    ]
    match module.completion:
        case "lessons":
            items = lessons_done
            complete = all(lessons_done)
            done_at = _when_all(lessons_at)
        case "assessment":
            items = assessed or lessons_done
            complete = all(items)
            done_at = _when_all(assessed_at or lessons_at)
        case "any":
            items = lessons_done + assessed
            complete = bool(lessons_done and all(lessons_done)) or bool(assessed and all(assessed))
            met = [t for t in (_when_all(lessons_at), _when_all(assessed_at)) if t is not None]
            done_at = min(met, default=None)
        case _:  # "all": seed story 7.1, content viewed and assessment passed
            items = lessons_done + assessed
            complete = all(items)
            done_at = _when_all(lessons_at + assessed_at)
    statuses = (
        [x.status for x in lessons] + [q.status for q in quizzes] + [a.status for a in assignments]
    )
    started = [x.started_at for x in lessons if x.started_at] + [
        a.submitted_at for q in quizzes for a in q.attempts if a.submitted_at
    ]
    activity = [x.last_activity_at for x in lessons if x.last_activity_at] + started
    status = _status(complete and bool(items), statuses)
    return ModuleView(
        module.id,
        module.title,
        status,
        100 if status == "completed" else _percent(sum(items), len(items)),
        lessons,
        quizzes,
        assignments,
        module.completion,
        min(started) if started else None,
        (done_at if done_at is not None else max(activity, default=None))
        if status == "completed"
        else None,
        max(activity) if activity else None,
    )


def course_view(state: UserState, course: Course, plan: str = "free") -> CourseView:
    modules = [module_view(state, course, m, plan) for m in course.modules]
    done = (
        sum(1 for m in modules for x in m.lessons if x.status == "completed")
        + sum(1 for m in modules for q in m.quizzes if q.passed)
        + sum(1 for m in modules for a in m.assignments if a.passed)
    )
    total = sum(len(m.lessons) + len(m.quizzes) + len(m.assignments) for m in modules)
    # Empty modules ("coming soon") neither block nor make completion.
    filled = [m for m in modules if m.lessons or m.quizzes or m.assignments]
    complete = bool(filled) and all(m.status == "completed" for m in filled)
    status = _status(complete, [m.status for m in modules])
    starts = [m.started_at for m in modules if m.started_at]
    activity = [m.last_activity_at for m in modules if m.last_activity_at]
    ends = [m.completed_at for m in modules if m.completed_at]
    lessons = {x.id: x.status == "completed" for m in modules for x in m.lessons}
    quizzes = {q.id: q.passed for m in modules for q in m.quizzes}
    assignments = {a.id: bool(a.passed) for m in modules for a in m.assignments}
    objectives = [
        ObjectiveView(
            o.id,
            o.title,
            all(lessons.get(i, False) for i in o.lessons)
            and all(quizzes.get(i, False) for i in o.quizzes)
            and all(assignments.get(i, False) for i in o.assignments),
        )
        for o in course.objectives
    ]
    return CourseView(
        course.id,
        course.title,
        status,
        100 if complete else min(99, _percent(done, total)) if total else 0,
        modules,
        max(activity) if activity else None,
        min(starts) if starts else None,
        max(ends) if complete and ends else None,
        objectives,
    )


def progress_view(state: UserState, catalog: Catalog, plan: str = "free") -> list[CourseView]:
    """Per-course progress for every course in ``catalog``."""
    return [course_view(state, course, plan) for course in catalog.courses]


# -- paths, competencies, totals ----------------------------------------------------------


class MilestoneView(msgspec.Struct, frozen=True):
    id: str
    title: str
    course: str
    module: str | None
    status: Literal["locked", "available", "in_progress", "completed"]
    unlocked_at: int | None = None
    completed_at: int | None = None


class TransitionView(msgspec.Struct, frozen=True):
    from_: str | None = msgspec.field(name="from")
    to: str
    at: int
    reason: str = ""


class PathView(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: Literal["not_enrolled", "enrolled", "in_progress", "completed", "paused", "dropped"]
    percent: int
    milestones: list[MilestoneView]
    enrolled_at: int | None = None
    completed_at: int | None = None
    last_activity_at: int | None = None
    refused: str = ""
    history: list[TransitionView] = []


class CompetencyView(msgspec.Struct, frozen=True):
    id: str
    name: str
    category: str
    level: int
    status: Literal["not_started", "in_progress", "mastered"]
    acquired_at: int | None = None
    evidence: list[str] = []


class Summary(msgspec.Struct, frozen=True):
    """The seeds' UserProgress totals, over courses the learner started or is enrolled in."""

    total_courses: int
    completed_courses: int
    in_progress_courses: int
    total_lessons: int
    completed_lessons: int
    total_quizzes: int
    completed_quizzes: int
    total_assignments: int
    completed_assignments: int
    active_enrollments: int
    completed_paths: int
    mastered_competencies: int
    time_spent: int
    last_activity_at: int | None = None


class LearnerView(msgspec.Struct, frozen=True):
    courses: list[CourseView]
    paths: list[PathView]
    competencies: list[CompetencyView]
    summary: Summary


def milestone_content(courses: dict[str, CourseView], course: str, module: str | None) -> Status:
    view = courses.get(course)
    if view is None:
        return "not_started"
    if module is None:
        return view.status
    found = next((m for m in view.modules if m.id == module), None)
    return found.status if found else "not_started"


def path_view(
    state: UserState, path_id: str, catalog: Catalog, courses: dict[str, CourseView]
) -> PathView:
    path = catalog.path(path_id)
    assert path is not None
    enrollment = state.enrollments.get(path.id)
    steps = []
    for step in path.ordered:
        held = enrollment.milestones.get(step.id) if enrollment else None
        status = held.status if held else "locked"
        if (
            status == "available"
            and milestone_content(courses, step.course, step.module) != "not_started"
        ):
            status = "in_progress"
        steps.append(
            MilestoneView(
                step.id,
                step.title,
                step.course,
                step.module,
                status,  # type: ignore[arg-type]
                held.unlocked_at if held else None,
                held.completed_at if held else None,
            )
        )
    done = sum(1 for s in steps if s.status == "completed")
    raw = enrollment.status if enrollment else "none"
    return PathView(
        path.id,
        path.title,
        "not_enrolled" if raw == "none" else raw,  # type: ignore[arg-type]
        _percent(done, len(steps)),
        steps,
        enrollment.enrolled_at if enrollment else None,
        enrollment.completed_at if enrollment else None,
        enrollment.last_at if enrollment else None,
        enrollment.refused if enrollment else "",
        [TransitionView(t.from_, t.to, t.at, t.reason) for t in enrollment.history]
        if enrollment
        else [],
    )


def competency_evidence(catalog: Catalog, competency: Competency) -> list[tuple[str, str, str]]:
    """``(kind, course, id)`` of every item mapped to ``competency``."""
    items: list[tuple[str, str, str]] = []
    for course in catalog.courses:
        if competency.id in course.competencies:
            items.append(("course", course.id, course.id))
        for module in course.modules:
            items += [
                ("lesson", course.id, x.id)
                for x in module.lessons
                if competency.id in x.competencies
            ]
            items += [
                ("quiz", course.id, q.id)
                for q in module.all_quizzes
                if competency.id in q.competencies
            ]
            items += [
                ("assignment", course.id, a.id)
                for a in module.assignments
                if competency.id in a.competencies
            ]
        items += [
            ("objective", course.id, o.id)
            for o in course.objectives
            if o.competency == competency.id
        ]
    return items


def item_done(courses: dict[str, CourseView], kind: str, course: str, item: str) -> bool:
    view = courses.get(course)
    if view is None:
        return False
    if kind == "course":
        return view.status == "completed"
    if kind == "objective":
        return any(o.id == item and o.mastered for o in view.objectives)
    for module in view.modules:
        if kind == "lesson" and any(
            x.id == item and x.status == "completed" for x in module.lessons
        ):
            return True
        if kind == "quiz" and any(q.id == item and q.passed for q in module.quizzes):
            return True
        if kind == "assignment" and any(a.id == item and a.passed for a in module.assignments):
            return True
    return False


def competency_level(
    catalog: Catalog, competency: Competency, courses: dict[str, CourseView]
) -> tuple[int, list[str]]:
    """Level 0-100 (share of mapped evidence done) and the evidence done, as ``kind:course/id``."""
    items = competency_evidence(catalog, competency)
    done = [f"{k}:{c}/{i}" for k, c, i in items if item_done(courses, k, c, i)]
    return _percent(len(done), len(items)), done


def competency_view(
    state: UserState, catalog: Catalog, competency: Competency, courses: dict[str, CourseView]
) -> CompetencyView:
    level, evidence = competency_level(catalog, competency, courses)
    acquired = state.competencies.get(competency.id)
    status: Literal["not_started", "in_progress", "mastered"] = (
        "mastered" if acquired is not None else "in_progress" if level else "not_started"
    )
    return CompetencyView(
        competency.id, competency.name, competency.category, level, status, acquired, evidence
    )


def learner_view(state: UserState, catalog: Catalog, plan: str = "free") -> LearnerView:
    """Everything a learner's progress shows, from one fold and one catalog."""
    courses = progress_view(state, catalog, plan)
    by_id = {c.id: c for c in courses}
    paths = [path_view(state, p.id, catalog, by_id) for p in catalog.paths]
    competencies = [competency_view(state, catalog, c, by_id) for c in catalog.competencies]
    enrolled = {
        step.course
        for p in paths
        if p.status in ("enrolled", "in_progress", "paused", "completed")
        for step in p.milestones
    }
    mine = [c for c in courses if c.status != "not_started" or c.id in enrolled]
    lessons = [x for c in mine for m in c.modules for x in m.lessons]
    quizzes = [q for c in mine for m in c.modules for q in m.quizzes]
    assignments = [a for c in mine for m in c.modules for a in m.assignments]
    summary = Summary(
        total_courses=len(mine),
        completed_courses=sum(1 for c in mine if c.status == "completed"),
        in_progress_courses=sum(1 for c in mine if c.status == "in_progress"),
        total_lessons=len(lessons),
        completed_lessons=sum(1 for x in lessons if x.status == "completed"),
        total_quizzes=len(quizzes),
        completed_quizzes=sum(1 for q in quizzes if q.passed),
        total_assignments=len(assignments),
        completed_assignments=sum(1 for a in assignments if a.passed),
        active_enrollments=sum(
            1 for p in paths if p.status in ("enrolled", "in_progress", "paused")
        ),
        completed_paths=sum(1 for p in paths if p.status == "completed"),
        mastered_competencies=sum(1 for c in competencies if c.status == "mastered"),
        time_spent=sum(x.seconds for x in state.lessons.values()),
        last_activity_at=state.last_at,
    )
    return LearnerView(courses, paths, competencies, summary)
