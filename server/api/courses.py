"""Course and lesson progress: one or many courses, a course reset, lesson actions and
recorded time, position and watched segments."""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK

from server.api.common import (
    AuthRequest,
    Learning,
    LearningController,
    _course,
    _course_view,
    errors,
    learning_dependency,
)
from server.errors import BadRequest, NotFound
from server.storage.store import User
from sync.catalog import Catalog, Lesson, Module
from sync.events import Position, Seconds
from sync.views import CourseView, LessonView

MAX_IDS: Final = 100


class CourseProgressList(msgspec.Struct, frozen=True):
    courses: list[CourseView]
    not_found: list[str]


class LessonProgressBody(msgspec.Struct, frozen=True):
    """Time spent (``seconds``), the last ``position`` and a watched segment ``from``-``to``
    (seconds into the lesson)."""

    seconds: Seconds = 0
    position: Position | msgspec.UnsetType = msgspec.UNSET
    from_: Position | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="from")
    to: Position | msgspec.UnsetType = msgspec.UNSET


# What a Struct cannot say and the OpenAPI document must: something to record (seconds
# above 0, a position, or a segment), and a segment's two ends together.
_SOMETHING_TO_RECORD: Final = msgspec.Meta(
    extra_json_schema={
        "anyOf": [
            {"required": ["seconds"], "properties": {"seconds": {"minimum": 1}}},
            {"required": ["position"]},
            {"required": ["from", "to"]},
        ],
        "dependentRequired": {"from": ["to"], "to": ["from"]},
    }
)


class LessonResult(msgspec.Struct, frozen=True):
    course: str
    module: str
    lesson: LessonView
    module_status: str
    module_percent: int
    course_status: str
    course_percent: int


def _lesson(catalog: Catalog, course_id: str, lesson_id: str) -> tuple[Module, Lesson]:
    course = _course(catalog, course_id)
    for module in course.modules:
        for lesson in module.lessons:
            if lesson.id == lesson_id:
                return module, lesson
    raise NotFound(f"no lesson {lesson_id!r} in course {course_id!r}")


class CourseProgress(Learning):
    """What the course and lesson progress endpoints do."""

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
        if body.position is not msgspec.UNSET:
            extra["position"] = body.position
        if body.from_ is not msgspec.UNSET:
            extra["from"] = body.from_
        if body.to is not msgspec.UNSET:
            extra["to"] = body.to
        if extra == {"seconds": 0}:
            raise BadRequest("nothing to record: send seconds, position, or from and to")
        if ("from" in extra) != ("to" in extra):
            raise BadRequest("a watched segment needs both from and to")
        return await self.lesson_action(user, course_id, lesson_id, "lesson.progressed", extra)


class CourseProgressController(LearningController):
    tags = ["progress"]
    dependencies = learning_dependency(CourseProgress)

    @get("/me/courses/{course:str}/progress", responses=errors(404))
    async def course(
        self, request: AuthRequest, learning: CourseProgress, course: str
    ) -> CourseView:
        """One course's progress: modules, lessons, quizzes, assignments, objectives."""
        return await learning.course_progress(request.user.user, course)

    @get("/me/progress/courses")
    async def courses(
        self,
        request: AuthRequest,
        learning: CourseProgress,
        ids: str = Parameter(description="Course ids, separated by commas (at most 100)."),
    ) -> CourseProgressList:
        """Progress of many courses in one call; unknown ids are listed in ``not_found``."""
        return await learning.courses_progress(request.user.user, ids)

    @post("/me/courses/{course:str}/reset", status_code=HTTP_200_OK, responses=errors(404))
    async def reset(
        self, request: AuthRequest, learning: CourseProgress, course: str
    ) -> CourseView:
        """Start a course over: its lessons' completion resets; time spent and recorded
        passes stay."""
        return await learning.reset_course(request.user.user, course)

    @post(
        "/me/lessons/{course:str}/{lesson:str}/open", status_code=HTTP_200_OK, responses=errors(404)
    )
    async def open_lesson(
        self, request: AuthRequest, learning: CourseProgress, course: str, lesson: str
    ) -> LessonResult:
        """The learner opened the lesson (completes a ``viewed`` lesson)."""
        return await learning.lesson_action(request.user.user, course, lesson, "lesson.opened", {})

    @post(
        "/me/lessons/{course:str}/{lesson:str}/complete",
        status_code=HTTP_200_OK,
        responses=errors(404),
    )
    async def complete_lesson(
        self, request: AuthRequest, learning: CourseProgress, course: str, lesson: str
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
        self, request: AuthRequest, learning: CourseProgress, course: str, lesson: str
    ) -> LessonResult:
        """Mark the lesson not complete (an explicit reset; later evidence counts again)."""
        return await learning.lesson_action(
            request.user.user, course, lesson, "lesson.uncompleted", {}
        )

    @post(
        "/me/lessons/{course:str}/{lesson:str}/progress",
        status_code=HTTP_200_OK,
        responses=errors(404, 409),
    )
    async def lesson_progress(
        self,
        request: AuthRequest,
        learning: CourseProgress,
        course: str,
        lesson: str,
        data: Annotated[LessonProgressBody, _SOMETHING_TO_RECORD],
    ) -> LessonResult:
        """Record time spent, position and a watched segment; 409 with the reason for a
        value the lesson cannot have (past its duration, a reversed segment)."""
        return await learning.lesson_progress(request.user.user, course, lesson, data)
