"""The learner's statistics, summary and path analytics."""

from __future__ import annotations

import msgspec
from litestar import get

from server.api.common import (
    AuthRequest,
    Learning,
    LearningController,
    _content_percent,
    _path,
    _path_view,
    errors,
    learning_dependency,
)
from server.storage.store import User
from sync.views import LearnerView, MilestoneView, ModuleView, Summary


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


class Statistics(Learning):
    """What the statistics endpoints do."""

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


class StatisticsController(LearningController):
    tags = ["enrollments"]
    dependencies = learning_dependency(Statistics)

    @get("/me/statistics")
    async def statistics(self, request: AuthRequest, learning: Statistics) -> Summary:
        """The learner's totals: courses, lessons, quizzes, assignments, paths,
        competencies, time spent."""
        return await learning.statistics(request.user.user)

    @get("/me/summary")
    async def summary(self, request: AuthRequest, learning: Statistics) -> LearnerSummary:
        """The totals, with each course's and enrolled path's status and percent."""
        return await learning.summary(request.user.user)

    @get("/me/paths/{path_id:str}/analytics", responses=errors(404))
    async def analytics(
        self, request: AuthRequest, learning: Statistics, path_id: str
    ) -> PathAnalytics:
        """Progress analytics of a path: percent, milestones, time spent in its content,
        quizzes and assignments, enrolled/started/completed times."""
        return await learning.path_analytics(request.user.user, path_id)
