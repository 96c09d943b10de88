"""REST API v1 for learning: enrollments, milestones, assessments, assignments,
competencies and course progress (the endpoints of seeds 001 and 003, under ``/v1``).

Learner state changes one way only: every action is one event recorded through the same
merge as sync (:meth:`Store.record_action`, from the learner's server-side ``rest`` device).
The server's decisions on it (a score, an enrollment or its refusal, an unlocked milestone)
are made inside that merge; :class:`Learning` reads them back from the learner's feed to
answer the call, then pokes the learner's other devices to pull them. Reads are views of the
fold (:meth:`Store.learner`). Quiz answers never appear in a response: quiz details are
built from :func:`sync.catalog.public_catalog`.

Controllers decode, call one :class:`Learning` method and return a Struct. Errors are
:mod:`server.errors`, answered as RFC 9457 problem details: an unknown id is 404, a
malformed request 400, a refused action 409 with the server's reason, a staff-only endpoint
403 for learners.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.channels import ChannelsPlugin
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.auth import Principal
from server.errors import BadRequest, Conflict, Forbidden, NotFound, ServerError
from server.fanout import user_channel
from server.storage.store import Store, User
from sync.catalog import (
    Assignment,
    Catalog,
    Course,
    Lesson,
    Milestone,
    Module,
    Path,
    Quiz,
    public_catalog,
)
from sync.decide import TRANSITIONS, transition_problem
from sync.events import Name, Position, Seconds, Text, Url
from sync.fold import AssignmentState
from sync.messages import FeedEntry
from sync.views import (
    AttemptView,
    CompetencyView,
    CourseView,
    LearnerView,
    LessonView,
    MilestoneView,
    ModuleView,
    PathView,
    QuizView,
    Summary,
    TransitionView,
    assignment_view,
    competency_evidence,
    milestone_content,
)

AuthRequest = Request[Principal, str, Any]
EnrollmentStatus = Literal["enrolled", "in_progress", "completed", "paused", "dropped"]
LearnerStatus = Literal["paused", "in_progress", "dropped"]
AdminStatus = Literal["enrolled", "paused", "in_progress", "dropped"]
AssignmentStatus = Literal["not_started", "draft", "submitted", "graded"]

# The learner's event for each requested enrollment status (sync.decide makes the change).
STATUS_EVENTS: Final = {
    "enrolled": "path.enrolled",
    "paused": "path.paused",
    "in_progress": "path.resumed",
    "dropped": "path.dropped",
}
# Rejection codes (sync.events.check_event) that name something that does not exist.
NOT_FOUND_CODES: Final = frozenset(
    {
        "unknown_path",
        "unknown_milestone",
        "unknown_course",
        "unknown_lesson",
        "unknown_quiz",
        "unknown_assignment",
    }
)
MAX_BULK: Final = 500
MAX_IDS: Final = 100


# -- wire types -------------------------------------------------------------------------


class EnrollmentList(msgspec.Struct, frozen=True):
    enrollments: list[PathView]


class Eligibility(msgspec.Struct, frozen=True):
    """Whether enrolling now would be accepted; ``reason`` is the refusal it would get."""

    path: str
    eligible: bool
    status: str
    reason: str = ""


class StatusChange(msgspec.Struct, frozen=True):
    status: LearnerStatus


class TransitionCheck(msgspec.Struct, frozen=True):
    current: str
    new: str
    valid: bool
    reason: str = ""


class BulkUpdate(msgspec.Struct, frozen=True):
    user: Name
    path: Name
    status: AdminStatus


class BulkStatusRequest(msgspec.Struct, frozen=True):
    updates: Annotated[list[BulkUpdate], msgspec.Meta(min_length=1, max_length=MAX_BULK)]


class BulkResult(msgspec.Struct, frozen=True):
    """One update: ``ok`` with the enrollment's status after it, or the reason it failed."""

    index: int
    user: str
    path: str
    ok: bool
    status: str | None = None
    reason: str = ""


class BulkStatusResponse(msgspec.Struct, frozen=True):
    results: list[BulkResult]
    succeeded: int
    failed: int


class EnrollmentHistory(msgspec.Struct, frozen=True):
    path: str
    status: str
    history: list[TransitionView]


class EnrollmentProgress(msgspec.Struct, frozen=True):
    """Path progress from milestones (seed: percent = completed milestones)."""

    path: str
    status: str
    percent: int
    milestones_total: int
    milestones_completed: int
    milestones_in_progress: int
    milestones_available: int
    milestones_locked: int
    current_milestone: str | None = None


class CourseStatus(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: str
    percent: int
    last_activity_at: int | None = None


class PathStatus(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: str
    percent: int


class LearnerSummary(msgspec.Struct, frozen=True):
    summary: Summary
    courses: list[CourseStatus]
    paths: list[PathStatus]


class MilestoneAnalytics(msgspec.Struct, frozen=True):
    id: str
    title: str
    status: str
    content_percent: int
    time_spent: int
    unlocked_at: int | None = None
    completed_at: int | None = None


class PathAnalytics(msgspec.Struct, frozen=True):
    """Progress analytics of one path; times are epoch ms, ``time_spent`` seconds."""

    path: str
    title: str
    status: str
    percent: int
    milestones_total: int
    milestones_completed: int
    time_spent: int
    lessons_total: int
    lessons_completed: int
    quizzes_total: int
    quizzes_passed: int
    quiz_attempts: int
    assignments_total: int
    assignments_passed: int
    milestones: list[MilestoneAnalytics]
    average_quiz_score: float | None = None
    enrolled_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    last_activity_at: int | None = None
    duration_ms: int | None = None


class MilestoneProgress(msgspec.Struct, frozen=True):
    path: str
    path_status: str
    path_percent: int
    milestone: MilestoneView
    content_status: str
    content_percent: int
    next_milestone: str | None = None


class PublicChoice(msgspec.Struct, frozen=True):
    id: str
    text: str


class PublicQuestion(msgspec.Struct, frozen=True):
    id: str
    text: str
    points: int
    choices: list[PublicChoice]


class QuizDetail(msgspec.Struct, frozen=True):
    """A quiz as a learner may see it: never its answers. ``attempts_allowed`` is for the
    caller's plan (null: unlimited)."""

    course: str
    module: str
    id: str
    title: str
    passing_score: float
    grading: str
    cooldown_seconds: int
    total_points: int
    questions: list[PublicQuestion]
    max_attempts: int | None = None
    max_attempts_free: int | None = None
    attempts_allowed: int | None = None
    competencies: list[str] = []


class AttemptStarted(msgspec.Struct, frozen=True):
    course: str
    quiz: str
    attempt: str
    started_at: int
    attempts_left: int | None = None
    status: str = "in_progress"


class SubmitAnswers(msgspec.Struct, frozen=True):
    """The chosen choice ids per question id; unanswered questions score nothing."""

    answers: Annotated[
        dict[Name, Annotated[list[Name], msgspec.Meta(min_length=1, max_length=100)]],
        msgspec.Meta(max_length=1000),
    ] = {}


class ScoredAttempt(msgspec.Struct, frozen=True):
    """The server's decision on a submitted attempt (``quiz.scored``)."""

    course: str
    quiz: str
    attempt: str
    number: int
    score: float
    passed: bool
    counted: bool
    reason: str
    correct_count: int
    questions: int
    quiz_passed: bool
    attempts_left: int | None = None


class AttemptList(msgspec.Struct, frozen=True):
    course: str
    quiz: str
    attempts: list[AttemptView]
    attempts_left: int | None = None
    cooldown_until: int | None = None


class Assessment(msgspec.Struct, frozen=True):
    course: str
    module: str
    quiz: QuizView


class AssessmentList(msgspec.Struct, frozen=True):
    assessments: list[Assessment]


class AssignmentWork(msgspec.Struct, frozen=True):
    text: Text = ""
    url: Url = ""


class AssignmentDetail(msgspec.Struct, frozen=True):
    course: str
    module: str
    id: str
    title: str
    status: AssignmentStatus
    max_score: float
    passing_score: float
    submissions: int = 0
    draft_text: str = ""
    draft_url: str = ""
    submitted_text: str = ""
    submitted_url: str = ""
    submitted_at: int | None = None
    score: float | None = None
    passed: bool | None = None
    feedback: str = ""
    graded_by: str = ""
    graded_at: int | None = None
    refused: str = ""


class AssignmentList(msgspec.Struct, frozen=True):
    assignments: list[AssignmentDetail]


class GradeRequest(msgspec.Struct, frozen=True):
    score: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    feedback: Text = ""


class GradeResult(msgspec.Struct, frozen=True):
    user: str
    assignment: AssignmentDetail
    decisions: list[str]


class CompetencyDefinition(msgspec.Struct, frozen=True):
    """A competency of the catalog; ``evidence`` lists what counts, as ``kind:course/id``."""

    id: str
    name: str
    category: str
    level: str
    description: str
    mastery: int
    evidence: list[str]


class CompetencyCatalog(msgspec.Struct, frozen=True):
    competencies: list[CompetencyDefinition]


class LearnerCompetencies(msgspec.Struct, frozen=True):
    user: str
    competencies: list[CompetencyView]


class CourseProgressList(msgspec.Struct, frozen=True):
    courses: list[CourseView]
    not_found: list[str]


class LessonProgressBody(msgspec.Struct, frozen=True):
    """Time spent (``seconds``), the last ``position`` and a watched segment ``from``-``to``
    (seconds into the lesson)."""

    seconds: Seconds = 0
    position: Position | None = None
    from_: Position | None = msgspec.field(default=None, name="from")
    to: Position | None = None


class LessonResult(msgspec.Struct, frozen=True):
    course: str
    module: str
    lesson: LessonView
    module_status: str
    module_percent: int
    course_status: str
    course_percent: int


class Problem(msgspec.Struct, frozen=True):
    """An RFC 9457 problem detail: the body of every error."""

    status: int
    title: str
    detail: str = ""


_PROBLEMS: Final = {
    403: "Not allowed for this user's role",
    404: "An id in the path does not exist (or the learner is not enrolled)",
    409: "Refused by the server's rules; the detail says why",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries of the problem details an endpoint can answer besides 400/401."""
    return {
        status: ResponseSpec(
            Problem,
            description=_PROBLEMS[status],
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status in statuses
    }


# -- catalog look-ups (404 for what does not exist) --------------------------------------


def _path(catalog: Catalog, path_id: str) -> Path:
    path = catalog.path(path_id)
    if path is None:
        raise NotFound(f"no path {path_id!r} in the catalog")
    return path


def _milestone(path: Path, milestone_id: str) -> Milestone:
    found = next((m for m in path.milestones if m.id == milestone_id), None)
    if found is None:
        raise NotFound(f"no milestone {milestone_id!r} in path {path.id!r}")
    return found


def _course(catalog: Catalog, course_id: str) -> Course:
    course = catalog.course(course_id)
    if course is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    return course


def _quiz(catalog: Catalog, course_id: str, quiz_id: str) -> tuple[Module, Quiz]:
    course = _course(catalog, course_id)
    for module in course.modules:
        for quiz in module.all_quizzes:
            if quiz.id == quiz_id:
                return module, quiz
    raise NotFound(f"no quiz {quiz_id!r} in course {course_id!r}")


def _lesson(catalog: Catalog, course_id: str, lesson_id: str) -> tuple[Module, Lesson]:
    course = _course(catalog, course_id)
    for module in course.modules:
        for lesson in module.lessons:
            if lesson.id == lesson_id:
                return module, lesson
    raise NotFound(f"no lesson {lesson_id!r} in course {course_id!r}")


def _assignment(catalog: Catalog, course_id: str, assignment_id: str) -> tuple[Module, Assignment]:
    course = _course(catalog, course_id)
    for module in course.modules:
        for assignment in module.assignments:
            if assignment.id == assignment_id:
                return module, assignment
    raise NotFound(f"no assignment {assignment_id!r} in course {course_id!r}")


# -- views ------------------------------------------------------------------------------


def _path_view(view: LearnerView, path_id: str) -> PathView:
    found = next((p for p in view.paths if p.id == path_id), None)
    if found is None:  # the catalog changed between the check and the read
        raise NotFound(f"no path {path_id!r} in the catalog")
    return found


def _enrollment(view: LearnerView, path_id: str) -> PathView:
    found = _path_view(view, path_id)
    if found.status == "not_enrolled":
        raise NotFound(f"not enrolled in path {path_id!r}")
    return found


def _course_view(view: LearnerView, course_id: str) -> CourseView:
    found = next((c for c in view.courses if c.id == course_id), None)
    if found is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    return found


def _quiz_view(view: LearnerView, course_id: str, quiz_id: str) -> QuizView:
    course = _course_view(view, course_id)
    found = next((q for m in course.modules for q in m.quizzes if q.id == quiz_id), None)
    if found is None:
        raise NotFound(f"no quiz {quiz_id!r} in course {course_id!r}")
    return found


def _enrollment_progress(path: PathView) -> EnrollmentProgress:
    def count(status: str) -> int:
        return sum(1 for m in path.milestones if m.status == status)

    current = next(
        (m.id for m in path.milestones if m.status in ("available", "in_progress")), None
    )
    return EnrollmentProgress(
        path.id,
        path.status,
        path.percent,
        len(path.milestones),
        count("completed"),
        count("in_progress"),
        count("available"),
        count("locked"),
        current,
    )


def _content_percent(courses: dict[str, CourseView], step: MilestoneView) -> int:
    course = courses.get(step.course)
    if course is None:
        return 0
    if step.module is None:
        return course.percent
    module = next((m for m in course.modules if m.id == step.module), None)
    return module.percent if module else 0


def _milestone_progress(view: LearnerView, path_id: str, milestone_id: str) -> MilestoneProgress:
    path = _path_view(view, path_id)
    index = next((i for i, m in enumerate(path.milestones) if m.id == milestone_id), None)
    if index is None:
        raise NotFound(f"no milestone {milestone_id!r} in path {path_id!r}")
    step = path.milestones[index]
    courses = {c.id: c for c in view.courses}
    following = path.milestones[index + 1] if index + 1 < len(path.milestones) else None
    return MilestoneProgress(
        path.id,
        path.status,
        path.percent,
        step,
        milestone_content(courses, step.course, step.module),
        _content_percent(courses, step),
        following.id if following else None,
    )


def _path_analytics(view: LearnerView, path_id: str) -> PathAnalytics:
    path = _path_view(view, path_id)
    courses = {c.id: c for c in view.courses}

    def modules(step: MilestoneView) -> list[ModuleView]:
        course = courses.get(step.course)
        if course is None:
            return []
        return [m for m in course.modules if step.module is None or m.id == step.module]

    # Distinct modules of the path: two milestones may share a course.
    scope = {(s.course, m.id): m for s in path.milestones for m in modules(s)}
    lessons = [x for m in scope.values() for x in m.lessons]
    quizzes = [q for m in scope.values() for q in m.quizzes]
    assignments = [a for m in scope.values() for a in m.assignments]
    scores = [a.score for q in quizzes for a in q.attempts if a.score is not None and a.counted]
    started = next((t.at for t in path.history if t.to == "in_progress"), None)
    return PathAnalytics(
        path=path.id,
        title=path.title,
        status=path.status,
        percent=path.percent,
        milestones_total=len(path.milestones),
        milestones_completed=sum(1 for m in path.milestones if m.status == "completed"),
        time_spent=sum(x.seconds for x in lessons),
        lessons_total=len(lessons),
        lessons_completed=sum(1 for x in lessons if x.status == "completed"),
        quizzes_total=len(quizzes),
        quizzes_passed=sum(1 for q in quizzes if q.passed),
        quiz_attempts=sum(len(q.attempts) for q in quizzes),
        assignments_total=len(assignments),
        assignments_passed=sum(1 for a in assignments if a.passed),
        milestones=[
            MilestoneAnalytics(
                s.id,
                s.title,
                s.status,
                _content_percent(courses, s),
                sum(x.seconds for m in modules(s) for x in m.lessons),
                s.unlocked_at,
                s.completed_at,
            )
            for s in path.milestones
        ],
        average_quiz_score=round(sum(scores) / len(scores), 4) if scores else None,
        enrolled_at=path.enrolled_at,
        started_at=started,
        completed_at=path.completed_at,
        last_activity_at=path.last_activity_at,
        duration_ms=path.completed_at - path.enrolled_at
        if path.completed_at and path.enrolled_at
        else None,
    )


def _assignment_detail(
    course: str, module: Module, assignment: Assignment, st: AssignmentState | None
) -> AssignmentDetail:
    view = assignment_view(assignment, st)
    last = st.submissions[-1] if st and st.submissions else None
    grade = st.grades[-1] if st and st.grades else None
    draft = st.draft if st else None
    return AssignmentDetail(
        course=course,
        module=module.id,
        id=assignment.id,
        title=assignment.title,
        status=view.status,
        max_score=assignment.max_score,
        passing_score=assignment.passing_score,
        submissions=view.submissions,
        draft_text=draft[1] if draft else "",
        draft_url=draft[2] if draft else "",
        submitted_text=last.text if last else "",
        submitted_url=last.url if last else "",
        submitted_at=last.at if last else None,
        score=view.score,
        passed=view.passed,
        feedback=view.feedback,
        graded_by=grade.graded_by if grade else "",
        graded_at=grade.at if grade else None,
        refused=view.refused,
    )


def _public_quiz(catalog: Catalog, course_id: str, quiz_id: str, plan: str) -> QuizDetail:
    # From the public catalog only, so an answer cannot reach the response by mistake.
    module, quiz = _quiz(public_catalog(catalog), course_id, quiz_id)
    return QuizDetail(
        course=course_id,
        module=module.id,
        id=quiz.id,
        title=quiz.title,
        passing_score=quiz.passing_score,
        grading=quiz.grading,
        cooldown_seconds=quiz.cooldown_seconds,
        total_points=quiz.total_points,
        questions=[
            PublicQuestion(q.id, q.text, q.points, [PublicChoice(c.id, c.text) for c in q.choices])
            for q in quiz.questions
        ],
        max_attempts=quiz.max_attempts,
        max_attempts_free=quiz.max_attempts_free,
        attempts_allowed=quiz.attempts_allowed(plan),
        competencies=list(quiz.competencies),
    )


def _check_answers(quiz: Quiz, answers: dict[str, list[str]]) -> None:
    questions = {q.id: q for q in quiz.questions}
    for question_id, choices in answers.items():
        question = questions.get(question_id)
        if question is None:
            raise BadRequest(f"no question {question_id!r} in quiz {quiz.id!r}")
        known = {c.id for c in question.choices}
        wrong = [c for c in choices if c not in known]
        if wrong:
            raise BadRequest(f"question {question_id!r} has no choice {wrong[0]!r}")


def _caused(entries: list[FeedEntry], head: int) -> list[FeedEntry]:
    """The decisions of the action whose merge left the feed at ``head``: the server entries
    after its device entry. One learner's merges are serialized, so an action's entries are
    contiguous and end at ``head``; entries of a merge that came between sit before them."""
    mine = [e for e in entries if e.user_seq <= head]
    for index in range(len(mine) - 1, -1, -1):
        if mine[index].origin == "device":
            return mine[index + 1 :]
    return []


def _refuse_on(decisions: list[FeedEntry], refusal: str) -> None:
    """Raise :class:`Conflict` with the server's reason if it refused the action."""
    for entry in decisions:
        if entry.type == refusal:
            raise Conflict(str(entry.body.get("reason", "refused")))


def _staff(principal: Principal, what: str) -> None:
    if not principal.can_see_others:
        raise Forbidden(f"only instructors and admins {what}")


# -- the service ------------------------------------------------------------------------


class Learning:
    """What the learning endpoints do, one method per endpoint; each raises
    :class:`~server.errors.NotFound`, :class:`~server.errors.BadRequest`,
    :class:`~server.errors.Conflict` (a refusal, with the server's reason) or
    :class:`~server.errors.Forbidden`."""

    def __init__(self, store: Store, channels: ChannelsPlugin) -> None:
        self.store = store
        self.channels = channels

    async def _act(self, user_id: str, type_: str, body: dict[str, Any]) -> list[FeedEntry]:
        """Record one learner action through the merge; returns the decisions it caused.
        A rejected event raises (404 for an unknown id, 400 otherwise)."""
        head = await self.store.feed_head(user_id)
        result = await self.store.record_action(user_id, type_, body)
        await self._poke(user_id)  # the feed grew either way: the event or its rejection
        if result.rejected:
            rejection = result.rejected[0]
            error = NotFound if rejection.code in NOT_FOUND_CODES else BadRequest
            raise error(rejection.reason)
        entries = await self.store.feed_after(user_id, head, max(1, result.feed_head - head))
        return _caused(entries, result.feed_head)

    async def _poke(self, user_id: str) -> None:
        # As server/sync_socket.py does after a push: the learner's devices pull the feed.
        await self.channels.wait_published(user_id.encode(), user_channel(user_id))

    async def _user(self, principal: Principal, name: str, what: str) -> User:
        """``name``'s account, if the caller may see it (themselves, or staff)."""
        if principal.user.username != name:
            _staff(principal, what)
        user = await self.store.user_by_name(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        return user

    # -- enrollments -------------------------------------------------------------------

    async def enrollments(self, user: User, status: str | None) -> EnrollmentList:
        view = await self.store.learner(user.id)
        return EnrollmentList(
            [
                p
                for p in view.paths
                if p.status != "not_enrolled" and (status is None or p.status == status)
            ]
        )

    async def change_enrollment(self, user: User, path_id: str, status: str) -> PathView:
        _path(await self.store.catalog(), path_id)
        decisions = await self._act(user.id, STATUS_EVENTS[status], {"path": path_id})
        _refuse_on(decisions, "enrollment.refused")
        return _path_view(await self.store.learner(user.id), path_id)

    async def enrollment(self, user: User, path_id: str) -> PathView:
        _path(await self.store.catalog(), path_id)
        return _enrollment(await self.store.learner(user.id), path_id)

    async def eligibility(self, user: User, path_id: str) -> Eligibility:
        _path(await self.store.catalog(), path_id)
        current = _path_view(await self.store.learner(user.id), path_id)
        # The merge's own rule, run on a copy of the state (nothing is recorded).
        decisions = await self.store.preview_action(user.id, "path.enrolled", {"path": path_id})
        refusal = next((d for d in decisions if d.type == "enrollment.refused"), None)
        reason = str(refusal.body.get("reason", "")) if refusal else ""
        return Eligibility(path_id, refusal is None, current.status, reason)

    async def history(self, user: User, path_id: str) -> EnrollmentHistory:
        path = await self.enrollment(user, path_id)
        return EnrollmentHistory(path.id, path.status, path.history)

    async def enrollment_progress(self, user: User, path_id: str) -> EnrollmentProgress:
        return _enrollment_progress(await self.enrollment(user, path_id))

    @staticmethod
    def check_transition(current: str, new: str) -> TransitionCheck:
        known = [s for s in TRANSITIONS if s != "none"]
        for status in (current, new):
            if status not in known and status not in ("none", "not_enrolled"):
                raise BadRequest(f"unknown enrollment status {status!r} (one of {known})")
        start = "none" if current == "not_enrolled" else current
        problem = transition_problem(start, new)
        return TransitionCheck(current, new, problem is None, problem or "")

    async def bulk_status(
        self, principal: Principal, updates: list[BulkUpdate]
    ) -> BulkStatusResponse:
        if principal.user.role != "admin":
            raise Forbidden("only admins update enrollments in bulk")
        results = []
        for index, update in enumerate(updates):
            user = await self.store.user_by_name(update.user)
            if user is None:
                results.append(
                    BulkResult(
                        index, update.user, update.path, False, None, f"no user {update.user!r}"
                    )
                )
                continue
            try:
                path = await self.change_enrollment(user, update.path, update.status)
            except ServerError as err:
                results.append(BulkResult(index, update.user, update.path, False, None, err.detail))
                continue
            results.append(BulkResult(index, update.user, update.path, True, path.status))
        done = sum(1 for r in results if r.ok)
        return BulkStatusResponse(results, done, len(results) - done)

    async def statistics(self, user: User) -> Summary:
        return (await self.store.learner(user.id)).summary

    async def summary(self, user: User) -> LearnerSummary:
        view = await self.store.learner(user.id)
        return LearnerSummary(
            view.summary,
            [
                CourseStatus(c.id, c.title, c.status, c.percent, c.last_activity_at)
                for c in view.courses
            ],
            [
                PathStatus(p.id, p.title, p.status, p.percent)
                for p in view.paths
                if p.status != "not_enrolled"
            ],
        )

    async def path_analytics(self, user: User, path_id: str) -> PathAnalytics:
        _path(await self.store.catalog(), path_id)
        return _path_analytics(await self.store.learner(user.id), path_id)

    # -- milestones --------------------------------------------------------------------

    async def path(self, user: User, path_id: str) -> PathView:
        _path(await self.store.catalog(), path_id)
        return _path_view(await self.store.learner(user.id), path_id)

    async def milestone(self, user: User, path_id: str, milestone_id: str) -> MilestoneProgress:
        _milestone(_path(await self.store.catalog(), path_id), milestone_id)
        return _milestone_progress(await self.store.learner(user.id), path_id, milestone_id)

    async def milestone_action(
        self, user: User, path_id: str, milestone_id: str, action: str
    ) -> MilestoneProgress:
        """``action``: ``started``, ``completed`` or ``reset`` (the event ``milestone.*``)."""
        _milestone(_path(await self.store.catalog(), path_id), milestone_id)
        body = {"path": path_id, "milestone": milestone_id}
        _refuse_on(await self._act(user.id, f"milestone.{action}", body), "milestone.refused")
        return _milestone_progress(await self.store.learner(user.id), path_id, milestone_id)

    # -- assessments -------------------------------------------------------------------

    async def quiz(self, user: User, course_id: str, quiz_id: str) -> QuizDetail:
        return _public_quiz(await self.store.catalog(), course_id, quiz_id, user.plan)

    async def start_attempt(self, user: User, course_id: str, quiz_id: str) -> AttemptStarted:
        """Refuses (409) an attempt that could not count: over the limit or in the cool-down.
        A device offline may still make one; the server then scores it ``counted: false``."""
        _, quiz = _quiz(await self.store.catalog(), course_id, quiz_id)
        view = _quiz_view(await self.store.learner(user.id), course_id, quiz_id)
        now = self.store.clock()
        if view.attempts_left == 0:
            allowed = quiz.attempts_allowed(user.plan)
            # Worded as sync.decide words the score it would get.
            free = user.plan == "free" and allowed == quiz.max_attempts_free
            plan = " for free learners" if free else ""
            raise Conflict(f"attempt limit reached: {allowed} counted attempt(s) allowed{plan}")
        if view.cooldown_until is not None and now < view.cooldown_until:
            wait = -(-(view.cooldown_until - now) // 1000)
            raise Conflict(f"cool-down: the next attempt can start in {wait} s")
        attempt = uuid.uuid4().hex
        body = {"course": course_id, "quiz": quiz_id, "attempt": attempt}
        await self._act(user.id, "quiz.started", body)
        return AttemptStarted(course_id, quiz_id, attempt, now, view.attempts_left)

    async def submit_attempt(
        self,
        user: User,
        course_id: str,
        quiz_id: str,
        attempt_id: str,
        answers: dict[str, list[str]],
    ) -> ScoredAttempt:
        """Records one ``quiz.answered`` per answered question, then ``quiz.submitted``;
        returns the server's score."""
        _, quiz = _quiz(await self.store.catalog(), course_id, quiz_id)
        view = _quiz_view(await self.store.learner(user.id), course_id, quiz_id)
        attempt = next((a for a in view.attempts if a.id == attempt_id), None)
        if attempt is None:
            raise NotFound(f"no attempt {attempt_id!r} at quiz {quiz_id!r}")
        if attempt.status != "in_progress":
            raise Conflict(f"attempt {attempt_id!r} was already submitted")
        _check_answers(quiz, answers)  # all of them before any is recorded
        ref = {"course": course_id, "quiz": quiz_id, "attempt": attempt_id}
        for question in quiz.questions:
            if question.id in answers:
                body = {**ref, "question": question.id, "choices": answers[question.id]}
                await self._act(user.id, "quiz.answered", body)
        decisions = await self._act(user.id, "quiz.submitted", ref)
        scored = next(
            (
                d.body
                for d in decisions
                if d.type == "quiz.scored" and d.body["attempt"] == attempt_id
            ),
            None,
        )
        if scored is None:  # another submit of the same attempt got there first
            raise Conflict(f"attempt {attempt_id!r} was already submitted")
        after = _quiz_view(await self.store.learner(user.id), course_id, quiz_id)
        return ScoredAttempt(
            course=course_id,
            quiz=quiz_id,
            attempt=attempt_id,
            number=int(scored["number"]),
            score=float(scored["score"]),
            passed=bool(scored["passed"]),
            counted=bool(scored["counted"]),
            reason=str(scored.get("reason", "")),
            correct_count=int(scored.get("correct", 0)),
            questions=int(scored.get("questions", len(quiz.questions))),
            quiz_passed=after.passed,
            attempts_left=after.attempts_left,
        )

    async def attempts(self, user: User, course_id: str, quiz_id: str) -> AttemptList:
        _quiz(await self.store.catalog(), course_id, quiz_id)
        view = _quiz_view(await self.store.learner(user.id), course_id, quiz_id)
        return AttemptList(
            course_id, quiz_id, view.attempts, view.attempts_left, view.cooldown_until
        )

    async def results(self, user: User, course_id: str, quiz_id: str) -> QuizView:
        _quiz(await self.store.catalog(), course_id, quiz_id)
        return _quiz_view(await self.store.learner(user.id), course_id, quiz_id)

    async def assessments(self, user: User) -> AssessmentList:
        view = await self.store.learner(user.id)
        return AssessmentList(
            [
                Assessment(c.id, m.id, q)
                for c in view.courses
                for m in c.modules
                for q in m.quizzes
                if q.status != "not_started"
            ]
        )

    # -- assignments -------------------------------------------------------------------

    async def assignments(self, user: User, status: str | None) -> AssignmentList:
        catalog = await self.store.catalog()
        state = await self.store.user_state(user.id)
        details = [
            _assignment_detail(c.id, m, a, state.assignments.get(f"{c.id}/{a.id}"))
            for c in catalog.courses
            for m in c.modules
            for a in m.assignments
        ]
        return AssignmentList([d for d in details if status is None or d.status == status])

    async def _assignment_of(
        self, user_id: str, course_id: str, assignment_id: str
    ) -> AssignmentDetail:
        module, assignment = _assignment(await self.store.catalog(), course_id, assignment_id)
        state = await self.store.user_state(user_id)
        held = state.assignments.get(f"{course_id}/{assignment_id}")
        return _assignment_detail(course_id, module, assignment, held)

    async def assignment_work(
        self, user: User, course_id: str, assignment_id: str, work: AssignmentWork, *, submit: bool
    ) -> AssignmentDetail:
        """Save a draft, or submit for grading (409 with the reason when the server will not
        grade it, e.g. already passed; the submission is kept)."""
        _assignment(await self.store.catalog(), course_id, assignment_id)
        if submit and not (work.text.strip() or work.url.strip()):
            raise BadRequest("a submission needs a text or a url")
        body = {
            "course": course_id,
            "assignment": assignment_id,
            "text": work.text,
            "url": work.url,
        }
        decisions = await self._act(
            user.id, "assignment.submitted" if submit else "assignment.saved", body
        )
        _refuse_on(decisions, "assignment.refused")
        return await self._assignment_of(user.id, course_id, assignment_id)

    async def grade(
        self,
        principal: Principal,
        name: str,
        course_id: str,
        assignment_id: str,
        grade: GradeRequest,
    ) -> GradeResult:
        _staff(principal, "grade assignments")
        user = await self._user(principal, name, "grade assignments")
        _assignment(await self.store.catalog(), course_id, assignment_id)
        decisions = await self.store.grade_assignment(
            user.id,
            course_id,
            assignment_id,
            score=grade.score,
            feedback=grade.feedback,
            graded_by=principal.user.username,
        )
        await self._poke(user.id)
        detail = await self._assignment_of(user.id, course_id, assignment_id)
        return GradeResult(user.username, detail, [d.type for d in decisions])

    # -- competencies ------------------------------------------------------------------

    async def competency_catalog(self) -> CompetencyCatalog:
        catalog = await self.store.catalog()
        return CompetencyCatalog(
            [
                CompetencyDefinition(
                    c.id,
                    c.name,
                    c.category,
                    c.level,
                    c.description,
                    c.mastery,
                    [f"{k}:{course}/{item}" for k, course, item in competency_evidence(catalog, c)],
                )
                for c in catalog.competencies
            ]
        )

    async def competencies(self, principal: Principal, name: str | None) -> LearnerCompetencies:
        user = (
            principal.user
            if name is None
            else await self._user(principal, name, "see other learners")
        )
        view = await self.store.learner(user.id)
        return LearnerCompetencies(user.username, view.competencies)

    # -- course and lesson progress ----------------------------------------------------

    async def course_progress(self, user: User, course_id: str) -> CourseView:
        _course(await self.store.catalog(), course_id)
        return _course_view(await self.store.learner(user.id), course_id)

    async def courses_progress(self, user: User, ids: str) -> CourseProgressList:
        wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
        if not wanted:
            raise BadRequest("ids: give one or more course ids, separated by commas")
        if len(wanted) > MAX_IDS:
            raise BadRequest(f"ids: at most {MAX_IDS} course ids per call")
        courses = {c.id: c for c in (await self.store.learner(user.id)).courses}
        return CourseProgressList(
            [courses[i] for i in wanted if i in courses], [i for i in wanted if i not in courses]
        )

    async def reset_course(self, user: User, course_id: str) -> CourseView:
        _course(await self.store.catalog(), course_id)
        await self._act(user.id, "course.reset", {"course": course_id})
        return _course_view(await self.store.learner(user.id), course_id)

    async def lesson_action(
        self, user: User, course_id: str, lesson_id: str, type_: str, extra: dict[str, Any]
    ) -> LessonResult:
        """Record ``type_`` (``lesson.opened``, ``.completed``, ``.uncompleted``,
        ``.progressed``) for the lesson; returns the lesson with its module and course."""
        module, _ = _lesson(await self.store.catalog(), course_id, lesson_id)
        await self._act(user.id, type_, {"course": course_id, "lesson": lesson_id, **extra})
        course = _course_view(await self.store.learner(user.id), course_id)
        held = next(m for m in course.modules if m.id == module.id)
        lesson = next(x for x in held.lessons if x.id == lesson_id)
        return LessonResult(
            course_id, module.id, lesson, held.status, held.percent, course.status, course.percent
        )

    async def lesson_progress(
        self, user: User, course_id: str, lesson_id: str, body: LessonProgressBody
    ) -> LessonResult:
        extra: dict[str, Any] = {"seconds": body.seconds}
        if body.position is not None:
            extra["position"] = body.position
        if body.from_ is not None:
            extra["from"] = body.from_
        if body.to is not None:
            extra["to"] = body.to
        if extra == {"seconds": 0}:
            raise BadRequest("nothing to record: send seconds, position, or from and to")
        return await self.lesson_action(user, course_id, lesson_id, "lesson.progressed", extra)


def provide_learning(store: Store, channels: ChannelsPlugin) -> Learning:
    return Learning(store, channels)


# -- controllers ------------------------------------------------------------------------


class _LearningController(Controller):
    path = "/v1"
    dependencies = {"learning": Provide(provide_learning, sync_to_thread=False)}


class EnrollmentController(_LearningController):
    tags = ["enrollments"]

    @get("/me/enrollments")
    async def list_enrollments(
        self, request: AuthRequest, learning: Learning, status: EnrollmentStatus | None = None
    ) -> EnrollmentList:
        """The learner's enrollments in learning paths, optionally of one ``status``."""
        return await learning.enrollments(request.user.user, status)

    @post("/me/enrollments/{path_id:str}", status_code=HTTP_201_CREATED, responses=errors(404, 409))
    async def enroll(self, request: AuthRequest, learning: Learning, path_id: str) -> PathView:
        """Enroll in a path; the first milestone unlocks. 409 when refused (already
        enrolled, or the free plan's limit of active enrollments), with the reason."""
        return await learning.change_enrollment(request.user.user, path_id, "enrolled")

    @get("/me/enrollments/{path_id:str}", responses=errors(404))
    async def get_enrollment(
        self, request: AuthRequest, learning: Learning, path_id: str
    ) -> PathView:
        """One enrollment: status, percent, milestones and status history. 404 if never
        enrolled."""
        return await learning.enrollment(request.user.user, path_id)

    @delete("/me/enrollments/{path_id:str}", status_code=HTTP_200_OK, responses=errors(404, 409))
    async def drop(self, request: AuthRequest, learning: Learning, path_id: str) -> PathView:
        """Unenroll: the enrollment becomes ``dropped`` (its history stays). 409 if it
        cannot be dropped."""
        return await learning.change_enrollment(request.user.user, path_id, "dropped")

    @get("/me/enrollments/{path_id:str}/check", responses=errors(404))
    async def check(self, request: AuthRequest, learning: Learning, path_id: str) -> Eligibility:
        """Whether enrolling now would be accepted, and the reason if not."""
        return await learning.eligibility(request.user.user, path_id)

    @put("/me/enrollments/{path_id:str}/status", responses=errors(404, 409))
    async def set_status(
        self, request: AuthRequest, learning: Learning, path_id: str, data: StatusChange
    ) -> PathView:
        """Pause, resume (``in_progress``) or drop; 409 with the reason when the transition
        is not allowed. ``completed`` is reached by completing the milestones."""
        return await learning.change_enrollment(request.user.user, path_id, data.status)

    @get("/me/enrollments/{path_id:str}/history", responses=errors(404))
    async def history(
        self, request: AuthRequest, learning: Learning, path_id: str
    ) -> EnrollmentHistory:
        """The enrollment's status changes, oldest first."""
        return await learning.history(request.user.user, path_id)

    @get("/me/enrollments/{path_id:str}/progress", responses=errors(404))
    async def progress(
        self, request: AuthRequest, learning: Learning, path_id: str
    ) -> EnrollmentProgress:
        """Percent complete and milestone counts of the enrollment."""
        return await learning.enrollment_progress(request.user.user, path_id)

    @get("/enrollments/validate-transition/{current:str}/{new:str}")
    async def validate_transition(self, current: str, new: str) -> TransitionCheck:
        """Whether an enrollment may go from ``current`` to ``new`` (400 for an unknown
        status)."""
        return Learning.check_transition(current, new)

    @post("/enrollments/bulk-status", status_code=HTTP_200_OK, responses=errors(403))
    async def bulk_status(
        self, request: AuthRequest, learning: Learning, data: BulkStatusRequest
    ) -> BulkStatusResponse:
        """Admins only: set many learners' enrollment status; one result per update, in
        order (a failed update does not stop the others)."""
        return await learning.bulk_status(request.user, data.updates)

    @get("/me/statistics")
    async def statistics(self, request: AuthRequest, learning: Learning) -> Summary:
        """The learner's totals: courses, lessons, quizzes, assignments, paths,
        competencies, time spent."""
        return await learning.statistics(request.user.user)

    @get("/me/summary")
    async def summary(self, request: AuthRequest, learning: Learning) -> LearnerSummary:
        """The totals, with each course's and enrolled path's status and percent."""
        return await learning.summary(request.user.user)

    @get("/me/paths/{path_id:str}/analytics", responses=errors(404))
    async def analytics(
        self, request: AuthRequest, learning: Learning, path_id: str
    ) -> PathAnalytics:
        """Progress analytics of a path: percent, milestones, time spent in its content,
        quizzes and assignments, enrolled/started/completed times."""
        return await learning.path_analytics(request.user.user, path_id)


class MilestoneController(_LearningController):
    tags = ["milestones"]

    @get("/me/paths/{path_id:str}", responses=errors(404))
    async def overview(self, request: AuthRequest, learning: Learning, path_id: str) -> PathView:
        """A path's progress overview: status, percent and every milestone."""
        return await learning.path(request.user.user, path_id)

    @get("/me/paths/{path_id:str}/milestones/{milestone_id:str}", responses=errors(404))
    async def milestone(
        self, request: AuthRequest, learning: Learning, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """One milestone: status, times, and the progress of its course or module."""
        return await learning.milestone(request.user.user, path_id, milestone_id)

    @post(
        "/me/paths/{path_id:str}/milestones/{milestone_id:str}/start",
        status_code=HTTP_200_OK,
        responses=errors(404, 409),
    )
    async def start(
        self, request: AuthRequest, learning: Learning, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """Start an unlocked milestone; 409 with the reason (e.g. locked)."""
        return await learning.milestone_action(request.user.user, path_id, milestone_id, "started")

    @post(
        "/me/paths/{path_id:str}/milestones/{milestone_id:str}/complete",
        status_code=HTTP_200_OK,
        responses=errors(404, 409),
    )
    async def complete(
        self, request: AuthRequest, learning: Learning, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """Mark a milestone complete; the next one unlocks. 409 with the reason."""
        return await learning.milestone_action(
            request.user.user, path_id, milestone_id, "completed"
        )

    @put("/me/paths/{path_id:str}/milestones/{milestone_id:str}/reset", responses=errors(404, 409))
    async def reset(
        self, request: AuthRequest, learning: Learning, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """Start a milestone over: its content's progress resets, history and passes stay.
        409 with the reason."""
        return await learning.milestone_action(request.user.user, path_id, milestone_id, "reset")


class AssessmentController(_LearningController):
    tags = ["assessments"]

    @get("/courses/{course:str}/quizzes/{quiz:str}", responses=errors(404))
    async def quiz(
        self, request: AuthRequest, learning: Learning, course: str, quiz: str
    ) -> QuizDetail:
        """A quiz's questions and choices (never the answers), passing score, attempt
        limits, cool-down and grading policy."""
        return await learning.quiz(request.user.user, course, quiz)

    @post(
        "/me/quizzes/{course:str}/{quiz:str}/attempts",
        status_code=HTTP_201_CREATED,
        responses=errors(404, 409),
    )
    async def start(
        self, request: AuthRequest, learning: Learning, course: str, quiz: str
    ) -> AttemptStarted:
        """Start an attempt; the server makes its id. 409 when no attempt would count
        (limit reached, or inside the cool-down)."""
        return await learning.start_attempt(request.user.user, course, quiz)

    @post(
        "/me/quizzes/{course:str}/{quiz:str}/attempts/{attempt:str}/submit",
        status_code=HTTP_200_OK,
        responses=errors(404, 409),
    )
    async def submit(
        self,
        request: AuthRequest,
        learning: Learning,
        course: str,
        quiz: str,
        attempt: str,
        data: SubmitAnswers,
    ) -> ScoredAttempt:
        """Submit an attempt's answers (``{question: [choice, ...]}``); returns the
        server's score: number, score 0-1, passed, counted and why not."""
        return await learning.submit_attempt(request.user.user, course, quiz, attempt, data.answers)

    @get("/me/quizzes/{course:str}/{quiz:str}/attempts", responses=errors(404))
    async def attempts(
        self, request: AuthRequest, learning: Learning, course: str, quiz: str
    ) -> AttemptList:
        """The learner's attempts at a quiz, attempts left and the cool-down's end."""
        return await learning.attempts(request.user.user, course, quiz)

    @get("/me/quizzes/{course:str}/{quiz:str}/results", responses=errors(404))
    async def results(
        self, request: AuthRequest, learning: Learning, course: str, quiz: str
    ) -> QuizView:
        """The learner's result at a quiz: status, passed, best score under its grading
        policy, attempts."""
        return await learning.results(request.user.user, course, quiz)

    @get("/me/assessments")
    async def assessments(self, request: AuthRequest, learning: Learning) -> AssessmentList:
        """Every quiz the learner has started, with its result."""
        return await learning.assessments(request.user.user)


class AssignmentController(_LearningController):
    tags = ["assignments"]

    @get("/me/assignments")
    async def list_assignments(
        self,
        request: AuthRequest,
        learning: Learning,
        status: AssignmentStatus | None = None,
    ) -> AssignmentList:
        """Every assignment of the catalog with the learner's draft, submission and grade."""
        return await learning.assignments(request.user.user, status)

    @put("/me/assignments/{course:str}/{assignment:str}/draft", responses=errors(404))
    async def draft(
        self,
        request: AuthRequest,
        learning: Learning,
        course: str,
        assignment: str,
        data: AssignmentWork,
    ) -> AssignmentDetail:
        """Save a draft (the latest one wins)."""
        return await learning.assignment_work(
            request.user.user, course, assignment, data, submit=False
        )

    @post(
        "/me/assignments/{course:str}/{assignment:str}/submit",
        status_code=HTTP_201_CREATED,
        responses=errors(404, 409),
    )
    async def submit(
        self,
        request: AuthRequest,
        learning: Learning,
        course: str,
        assignment: str,
        data: AssignmentWork,
    ) -> AssignmentDetail:
        """Submit for grading (a text and/or a url). 409 with the reason when it will not
        be graded (already passed)."""
        return await learning.assignment_work(
            request.user.user, course, assignment, data, submit=True
        )

    @post(
        "/users/{name:str}/assignments/{course:str}/{assignment:str}/grade",
        status_code=HTTP_201_CREATED,
        responses=errors(403, 404),
    )
    async def grade(
        self,
        request: AuthRequest,
        learning: Learning,
        name: str,
        course: str,
        assignment: str,
        data: GradeRequest,
    ) -> GradeResult:
        """Instructors and admins: grade a learner's latest submission (score 0 to the
        assignment's max). 400 when nothing was submitted or the score is out of range."""
        return await learning.grade(request.user, name, course, assignment, data)


class CompetencyController(_LearningController):
    tags = ["competencies"]

    @get("/competencies")
    async def definitions(self, learning: Learning) -> CompetencyCatalog:
        """The catalog's competencies and what gives evidence for each."""
        return await learning.competency_catalog()

    @get("/me/competencies")
    async def mine(self, request: AuthRequest, learning: Learning) -> LearnerCompetencies:
        """The learner's level (0-100), status and evidence per competency."""
        return await learning.competencies(request.user, None)

    @get("/users/{name:str}/competencies", responses=errors(403, 404))
    async def of_user(
        self, request: AuthRequest, learning: Learning, name: str
    ) -> LearnerCompetencies:
        """Another learner's competencies; instructors and admins only."""
        return await learning.competencies(request.user, name)


class CourseProgressController(_LearningController):
    tags = ["progress"]

    @get("/me/courses/{course:str}/progress", responses=errors(404))
    async def course(self, request: AuthRequest, learning: Learning, course: str) -> CourseView:
        """One course's progress: modules, lessons, quizzes, assignments, objectives."""
        return await learning.course_progress(request.user.user, course)

    @get("/me/progress/courses")
    async def courses(
        self,
        request: AuthRequest,
        learning: Learning,
        ids: str = Parameter(description="Course ids, separated by commas (at most 100)."),
    ) -> CourseProgressList:
        """Progress of many courses in one call; unknown ids are listed in ``not_found``."""
        return await learning.courses_progress(request.user.user, ids)

    @post("/me/courses/{course:str}/reset", status_code=HTTP_200_OK, responses=errors(404))
    async def reset(self, request: AuthRequest, learning: Learning, course: str) -> CourseView:
        """Start a course over: its lessons' completion resets; time spent and recorded
        passes stay."""
        return await learning.reset_course(request.user.user, course)

    @post(
        "/me/lessons/{course:str}/{lesson:str}/open", status_code=HTTP_200_OK, responses=errors(404)
    )
    async def open_lesson(
        self, request: AuthRequest, learning: Learning, course: str, lesson: str
    ) -> LessonResult:
        """The learner opened the lesson (completes a ``viewed`` lesson)."""
        return await learning.lesson_action(request.user.user, course, lesson, "lesson.opened", {})

    @post(
        "/me/lessons/{course:str}/{lesson:str}/complete",
        status_code=HTTP_200_OK,
        responses=errors(404),
    )
    async def complete_lesson(
        self, request: AuthRequest, learning: Learning, course: str, lesson: str
    ) -> LessonResult:
        """Mark the lesson complete."""
        return await learning.lesson_action(
            request.user.user, course, lesson, "lesson.completed", {}
        )

    @post(
        "/me/lessons/{course:str}/{lesson:str}/uncomplete",
        status_code=HTTP_200_OK,
        responses=errors(404),
    )
    async def uncomplete_lesson(
        self, request: AuthRequest, learning: Learning, course: str, lesson: str
    ) -> LessonResult:
        """Mark the lesson not complete (an explicit reset; later evidence counts again)."""
        return await learning.lesson_action(
            request.user.user, course, lesson, "lesson.uncompleted", {}
        )

    @post(
        "/me/lessons/{course:str}/{lesson:str}/progress",
        status_code=HTTP_200_OK,
        responses=errors(404),
    )
    async def lesson_progress(
        self,
        request: AuthRequest,
        learning: Learning,
        course: str,
        lesson: str,
        data: LessonProgressBody,
    ) -> LessonResult:
        """Record time spent, position and a watched segment; 400 with the reason for a
        value the lesson cannot have (past its duration, a reversed segment)."""
        return await learning.lesson_progress(request.user.user, course, lesson, data)


LEARNING_CONTROLLERS: Final = [
    EnrollmentController,
    MilestoneController,
    AssessmentController,
    AssignmentController,
    CompetencyController,
    CourseProgressController,
]
