"""Server decisions: made once, in the server's order, recorded in the learner's feed.

Call :func:`decide` right after an accepted fact was folded into the state (the store does,
inside the merge transaction); it returns the decisions to append, already folded into the
state. :func:`review` re-examines everything (after a catalog change). Decisions are
idempotent — each is made only when the state does not already hold it — and never revoke
an earlier one: a pass, a completed milestone, an acquired competency stay.

Decision types (feed entries of origin ``server``; bodies in ``docs/protocol.md``):
``quiz.scored``, ``quiz.passed``, ``assignment.refused``, ``enrollment.changed``,
``enrollment.refused``, ``milestone.unlocked``, ``milestone.started``,
``milestone.completed``, ``milestone.reset``, ``milestone.refused``,
``competency.acquired``. ``assignment.graded`` is made by an instructor (:func:`grade`).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import msgspec

from sync.catalog import Catalog, Milestone, Path, Quiz
from sync.events import (
    AssignmentSubmitted,
    Body,
    CourseReset,
    LessonRef,
    MilestoneCompleted,
    MilestoneRef,
    MilestoneReset,
    MilestoneStarted,
    PathDropped,
    PathEnrolled,
    PathPaused,
    PathRef,
    PathResumed,
    QuizSubmitted,
    credited_at,
)
from sync.merge.fold import AttemptResult, Stamp, UserState, apply_decision
from sync.views import (
    CourseView,
    assignment_passed,
    competency_evidence,
    competency_level,
    course_view,
    lesson_done,
    milestone_content,
    policy_score,
    quiz_passed,
)

ACTIVE: Final = ("enrolled", "in_progress", "paused")

# Allowed enrollment transitions (seed: enrolled → in_progress → completed | paused |
# dropped). "none" is a learner never enrolled in the path.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "none": frozenset({"enrolled"}),
    "enrolled": frozenset({"in_progress", "paused", "dropped", "completed"}),
    "in_progress": frozenset({"completed", "paused", "dropped"}),
    "paused": frozenset({"in_progress", "enrolled", "dropped"}),
    "dropped": frozenset({"enrolled"}),
    "completed": frozenset(),
}


class Policy(msgspec.Struct, frozen=True):
    """Server configuration of the rules (seed: FREE_USER_ENROLLMENT_LIMIT=2)."""

    free_enrollment_limit: int | None = 2
    premium_enrollment_limit: int | None = None


class Context(NamedTuple):
    catalog: Catalog
    plan: str = "free"
    policy: Policy = Policy()


class Decision(NamedTuple):
    type: str
    body: dict[str, Any]


def transition_problem(current: str, target: str) -> str | None:
    """Why ``current`` → ``target`` is not allowed, or None if it is."""
    if target in TRANSITIONS.get(current, frozenset()):
        return None
    if current == target:
        return f"the enrollment is already {current}"
    if current == "none":
        return "not enrolled in this path"
    return f"an enrollment cannot go from {current} to {target}"


class _Decider:
    def __init__(
        self, state: UserState, ctx: Context, at: int, received: int | None = None
    ) -> None:
        self.state, self.ctx, self.at = state, ctx, at
        self.received = at if received is None else received
        """When the server received the fact being decided on (cool-downs count by it)."""
        self.out: list[Decision] = []
        self._courses: dict[str, CourseView] = {}

    def emit(self, type_: str, **body: Any) -> None:
        apply_decision(self.state, type_, body, self.at)
        self.out.append(Decision(type_, body))
        self._courses.clear()  # views depend on decisions (quiz passes, grades)

    def course(self, course_id: str) -> CourseView:
        view = self._courses.get(course_id)
        if view is None:
            course = self.ctx.catalog.course(course_id)
            assert course is not None
            view = self._courses[course_id] = course_view(self.state, course, self.ctx.plan)
        return view

    # -- quizzes ---------------------------------------------------------------------

    def score(self, course: str, quiz_id: str, attempt_id: str) -> None:
        quiz = self.ctx.catalog.quiz(course, quiz_id)
        held = self.state.quizzes.get(f"{course}/{quiz_id}")
        if quiz is None or held is None or attempt_id in held.results:
            return
        attempt = held.attempts[attempt_id]
        correct = 0
        earned = 0
        for question in quiz.questions:
            answer = attempt.answers.get(question.id)
            if answer is not None and frozenset(answer[1]) == question.correct:
                correct += 1
                earned += question.points
        score = round(earned / quiz.total_points, 4)
        counted_before = sorted(
            (r for r in held.results.values() if r.counted), key=lambda r: r.number
        )
        number = len(held.results) + 1
        at = credited_at(attempt.submitted_at or self.at, self.received)
        reason = ""
        allowed = quiz.attempts_allowed(self.ctx.plan)
        if allowed is not None and len(counted_before) >= allowed:
            # Name the free plan only when its own limit is the one that applies.
            free = self.ctx.plan == "free" and allowed == quiz.max_attempts_free
            plan = " for free learners" if free else ""
            reason = f"attempt limit reached: {allowed} counted attempt(s) allowed{plan}"
        elif counted_before and quiz.cooldown_seconds:
            reason = cooldown_problem(counted_before[-1], quiz.cooldown_seconds, at, self.received)
        self.emit(
            "quiz.scored",
            course=course,
            quiz=quiz_id,
            attempt=attempt_id,
            number=number,
            score=score,
            passed=score >= quiz.passing_score,
            counted=not reason,
            reason=reason,
            at=at,
            correct=correct,
            questions=len(quiz.questions),
            received=self.received,
        )
        self.check_pass(course, quiz)

    def check_pass(self, course: str, quiz: Quiz) -> None:
        held = self.state.quizzes.get(f"{course}/{quiz.id}")
        if held is None or quiz_passed(held):
            return
        best = policy_score(quiz, held)
        if best is not None and best >= quiz.passing_score:
            self.emit("quiz.passed", course=course, quiz=quiz.id, score=best, grading=quiz.grading)

    # -- assignments -----------------------------------------------------------------

    def submitted(self, body: AssignmentSubmitted) -> None:
        held = self.state.assignments.get(f"{body.course}/{body.assignment}")
        if held is not None and assignment_passed(held) and len(held.submissions) > 1:
            self.emit(
                "assignment.refused",
                course=body.course,
                assignment=body.assignment,
                reason="already graded as passed: a new submission is kept but not graded",
            )

    # -- enrollments and milestones ----------------------------------------------------

    def enrollment(self, body: PathRef) -> None:
        path = self.ctx.catalog.path(body.path)
        assert path is not None
        held = self.state.enrollments.get(path.id)
        current = held.status if held else "none"
        action, target = {
            PathEnrolled: ("enroll", "enrolled"),
            PathPaused: ("pause", "paused"),
            PathResumed: ("resume", "in_progress"),
            PathDropped: ("drop", "dropped"),
        }[type(body)]
        # Resuming a path whose content was never touched returns it to "enrolled". Only a
        # paused (or enrolled) one: a dropped enrollment is re-entered by enrolling, which
        # checks the limit and unlocks the first milestone.
        if action == "resume" and current in ("enrolled", "paused") and not self._in_motion(path):
            target = "enrolled"
        problem = transition_problem(current, target)
        if action == "enroll" and current in ACTIVE:
            # Seed: duplicate prevention; paused → enrolled is a resume, not an enrollment.
            problem = f"already enrolled in {path.id!r} ({current})"
        elif problem is None and action == "enroll":
            problem = self._limit_problem()
        if problem is not None:
            self.emit("enrollment.refused", path=path.id, action=action, reason=problem)
            return
        self.emit(
            "enrollment.changed", path=path.id, to=target, reason=action, **{"from": _none(current)}
        )
        if action == "enroll":
            self.emit("milestone.unlocked", path=path.id, milestone=path.ordered[0].id)
        self.advance(path)

    def _limit_problem(self) -> str | None:
        limit = (
            self.ctx.policy.premium_enrollment_limit
            if self.ctx.plan == "premium"
            else self.ctx.policy.free_enrollment_limit
        )
        active = sum(1 for e in self.state.enrollments.values() if e.status in ACTIVE)
        if limit is not None and active >= limit:
            return (
                f"enrollment limit reached: {self.ctx.plan} learners may have {limit} active "
                f"enrollment(s); drop one or upgrade"
            )
        return None

    def milestone(self, body: MilestoneRef, stamp: Stamp) -> None:
        path = self.ctx.catalog.path(body.path)
        assert path is not None
        held = self.state.enrollments.get(path.id)
        step = next(m for m in path.milestones if m.id == body.milestone)
        status = held.milestones.get(step.id) if held else None
        current = status.status if status else "locked"
        action = {
            MilestoneStarted: "start",
            MilestoneCompleted: "complete",
            MilestoneReset: "reset",
        }[type(body)]
        problem = None
        if held is None or held.status not in ("enrolled", "in_progress"):
            problem = f"not actively enrolled in path {path.id!r}"
        elif current == "locked":
            before = path.ordered[max(0, path.ordered.index(step) - 1)]
            problem = f"milestone {step.id!r} is locked: complete {before.id!r} first"
        elif action in ("start", "complete") and current == "completed":
            problem = f"milestone {step.id!r} is already completed"
        elif action == "reset" and current == "available" and self._content(step) == "not_started":
            # An available milestone whose content was started shows as in progress
            # (sync.views.path_view): that progress can be reset.
            problem = f"milestone {step.id!r} has nothing to reset"
        if problem is not None:
            self.emit(
                "milestone.refused", path=path.id, milestone=step.id, action=action, reason=problem
            )
            return
        if action == "start":
            self.emit("milestone.started", path=path.id, milestone=step.id)
        elif action == "complete":
            self.emit(
                "milestone.completed", path=path.id, milestone=step.id, reason="marked complete"
            )
        else:
            scope = step.course if step.module is None else f"{step.course}/{step.module}"
            self.emit(
                "milestone.reset", path=path.id, milestone=step.id, scope=scope, stamp=list(stamp)
            )
        self.advance(path)

    def _content(self, step: Milestone) -> str:
        return milestone_content({step.course: self.course(step.course)}, step.course, step.module)

    def advance(self, path: Path) -> None:
        """Complete milestones whose content is done, unlock the next, finish the path."""
        held = self.state.enrollments.get(path.id)
        if held is None or held.status not in ("enrolled", "in_progress"):
            return
        steps = path.ordered
        for index, step in enumerate(steps):
            status = held.milestones.get(step.id)
            if status is None or status.status == "locked":
                break
            content = milestone_content(
                {step.course: self.course(step.course)}, step.course, step.module
            )
            if status.status != "completed" and content == "completed":
                self.emit(
                    "milestone.completed",
                    path=path.id,
                    milestone=step.id,
                    reason="content completed",
                )
            if held.milestones[step.id].status != "completed":
                break
            if index + 1 < len(steps) and steps[index + 1].id not in held.milestones:
                self.emit("milestone.unlocked", path=path.id, milestone=steps[index + 1].id)
        if held.status == "enrolled" and self._in_motion(path):
            self.emit(
                "enrollment.changed",
                path=path.id,
                to="in_progress",
                reason="started",
                **{"from": "enrolled"},
            )
        if all(
            held.milestones.get(s.id) and held.milestones[s.id].status == "completed" for s in steps
        ):
            self.emit(
                "enrollment.changed",
                path=path.id,
                to="completed",
                reason="all milestones completed",
                **{"from": held.status},
            )

    def _in_motion(self, path: Path) -> bool:
        held = self.state.enrollments[path.id]
        for step in path.ordered:
            status = held.milestones.get(step.id)
            if status is None:
                break
            if status.status in ("in_progress", "completed"):
                return True
            content = milestone_content(
                {step.course: self.course(step.course)}, step.course, step.module
            )
            if content != "not_started":
                return True
        return False

    # -- competencies ----------------------------------------------------------------

    def competencies(self, courses: set[str] | None) -> None:
        """Acquire competencies mastered now; ``courses`` limits the look to those with
        evidence in them (None: all)."""
        for competency in self.ctx.catalog.competencies:
            if competency.id in self.state.competencies:
                continue
            items = competency_evidence(self.ctx.catalog, competency)
            if courses is not None and not any(course in courses for _, course, _ in items):
                continue
            views = {course: self.course(course) for _, course, _ in items}
            level, _ = competency_level(self.ctx.catalog, competency, views)
            if level >= competency.mastery:
                self.emit(
                    "competency.acquired",
                    competency=competency.id,
                    name=competency.name,
                    level=level,
                )


def cooldown_problem(last: AttemptResult, seconds: int, at: int, received: int) -> str:
    """Why an attempt submitted at ``at`` (device time, credited: never after its receipt)
    and received by the server at ``received`` falls inside the cool-down of the counted
    attempt ``last``; "" if it does not.

    The cool-down must have passed by both clocks: the device's (``at`` after ``last.at``:
    what the learner did, as far as their clock tells) and the server's (``received`` after
    ``last.received``: what no device clock can shorten, whether it dates the new attempt
    ahead or the earlier one back). ``docs/domain.md``, "Cool-down"."""
    span = seconds * 1000
    by_device = last.at + span - at
    by_server = (last.received or last.at) + span - received
    if max(by_device, by_server) <= 0:
        return ""
    verb = "reached the server" if by_server > by_device else "submitted"
    wait = -(-max(by_device, by_server) // 1000)
    return f"cool-down: {verb} {wait} s before attempt {last.number}'s {seconds} s cool-down ended"


def _none(status: str) -> str | None:
    return None if status == "none" else status


def _courses_of(body: Body) -> set[str]:
    course = getattr(body, "course", None)
    return {course} if isinstance(course, str) else set()


def decide(
    state: UserState,
    body: Body,
    stamp: Stamp,
    at: int,
    ctx: Context,
    *,
    lesson_done: bool | None = None,
    received: int | None = None,
) -> list[Decision]:
    """Decisions that follow from the fact ``body`` (already folded into ``state``).

    ``lesson_done``: whether the fact left its lesson completed, when the caller already
    knows; the merge passes whether it left it *newly* completed, since only then can a
    lesson fact change a competency (levels count completed items). None: look here.
    ``received``: when the server received the fact (None: ``at``, a fact made on the
    server); a quiz's score and cool-down never count it later than that."""
    decider = _Decider(state, ctx, at, received)
    match body:
        case QuizSubmitted():
            decider.score(body.course, body.quiz, body.attempt)
        case AssignmentSubmitted():
            decider.submitted(body)
        case PathRef():
            decider.enrollment(body)
        case MilestoneRef():
            decider.milestone(body, stamp)
    touched = _courses_of(body)
    for path in ctx.catalog.paths:
        if isinstance(body, PathRef | MilestoneRef) or touched & {
            m.course for m in path.milestones
        }:
            decider.advance(path)
    # Hot path: a lesson fact can change a competency only if it leaves the lesson
    # completed (newly, as the merge knows); other heartbeats skip the course views.
    if (
        ctx.catalog.competencies
        and (touched or isinstance(body, CourseReset))
        and (
            not isinstance(body, LessonRef)
            or (lesson_done if lesson_done is not None else _lesson_done(state, ctx, body))
        )
    ):
        decider.competencies(touched)
    return decider.out


def _lesson_done(state: UserState, ctx: Context, body: LessonRef) -> bool:
    course = ctx.catalog.course(body.course)
    return course is not None and lesson_done(state, course, body.lesson)


def review(state: UserState, ctx: Context, at: int) -> list[Decision]:
    """Re-examine every decision that the current catalog may now call for (after a catalog
    change): passes under new thresholds, milestones, paths, competencies. Never revokes."""
    decider = _Decider(state, ctx, at)
    for course in ctx.catalog.courses:
        for module in course.modules:
            for quiz in module.all_quizzes:
                decider.check_pass(course.id, quiz)
    for path in ctx.catalog.paths:
        decider.advance(path)
    decider.competencies(None)
    return decider.out


def grade(
    state: UserState,
    ctx: Context,
    course: str,
    assignment_id: str,
    *,
    score: float,
    feedback: str,
    graded_by: str,
    at: int,
) -> list[Decision]:
    """An instructor grades the learner's latest submission. Raises ``ValueError`` with a
    message for people when it cannot be graded."""
    assignment = ctx.catalog.assignment(course, assignment_id)
    if assignment is None:
        raise ValueError(f"no assignment {assignment_id!r} in course {course!r}")
    held = state.assignments.get(f"{course}/{assignment_id}")
    if held is None or not held.submissions:
        raise ValueError("nothing was submitted for this assignment")
    if not 0 <= score <= assignment.max_score:
        raise ValueError(f"score must be between 0 and {assignment.max_score:g}")
    decider = _Decider(state, ctx, at)
    decider.emit(
        "assignment.graded",
        course=course,
        assignment=assignment_id,
        score=score,
        passed=score >= assignment.passing_score,
        feedback=feedback,
        graded_by=graded_by,
        submissions=len(held.submissions),
    )
    for path in ctx.catalog.paths:
        if course in {m.course for m in path.milestones}:
            decider.advance(path)
    decider.competencies({course})
    return decider.out
