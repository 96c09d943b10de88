"""Quizzes (never their answers), attempts, their scores and the learner's assessments."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.api.common import (
    AuthRequest,
    Learning,
    LearningController,
    _course,
    _course_view,
    errors,
    learning_dependency,
)
from server.errors import Conflict, NotFound
from server.storage.store import User
from sync.catalog import Catalog, Module, Quiz, public_catalog
from sync.events import Name
from sync.views import AttemptView, LearnerView, QuizView


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


def _quiz(catalog: Catalog, course_id: str, quiz_id: str) -> tuple[Module, Quiz]:
    course = _course(catalog, course_id)
    for module in course.modules:
        for quiz in module.all_quizzes:
            if quiz.id == quiz_id:
                return module, quiz
    raise NotFound(f"no quiz {quiz_id!r} in course {course_id!r}")


def _quiz_view(view: LearnerView, course_id: str, quiz_id: str) -> QuizView:
    course = _course_view(view, course_id)
    found = next((q for m in course.modules for q in m.quizzes if q.id == quiz_id), None)
    if found is None:
        raise NotFound(f"no quiz {quiz_id!r} in course {course_id!r}")
    return found


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
            raise Conflict(f"no question {question_id!r} in quiz {quiz.id!r}")
        known = {c.id for c in question.choices}
        wrong = [c for c in choices if c not in known]
        if wrong:
            raise Conflict(f"question {question_id!r} has no choice {wrong[0]!r}")


class Assessments(Learning):
    """What the quiz and assessment endpoints do."""

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
            # Worded as sync.merge.decide words the score it would get.
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


class AssessmentController(LearningController):
    tags = ["assessments"]
    dependencies = learning_dependency(Assessments)

    @get("/courses/{course:str}/quizzes/{quiz:str}", responses=errors(404))
    async def quiz(
        self, request: AuthRequest, learning: Assessments, course: str, quiz: str
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
        self, request: AuthRequest, learning: Assessments, course: str, quiz: str
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
        learning: Assessments,
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
        self, request: AuthRequest, learning: Assessments, course: str, quiz: str
    ) -> AttemptList:
        """The learner's attempts at a quiz, attempts left and the cool-down's end."""
        return await learning.attempts(request.user.user, course, quiz)

    @get("/me/quizzes/{course:str}/{quiz:str}/results", responses=errors(404))
    async def results(
        self, request: AuthRequest, learning: Assessments, course: str, quiz: str
    ) -> QuizView:
        """The learner's result at a quiz: status, passed, best score under its grading
        policy, attempts."""
        return await learning.results(request.user.user, course, quiz)

    @get("/me/assessments")
    async def assessments(self, request: AuthRequest, learning: Assessments) -> AssessmentList:
        """Every quiz the learner has started, with its result."""
        return await learning.assessments(request.user.user)
