"""Assignments: drafts, submissions and instructors' grades."""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from litestar import get, post, put
from litestar.status_codes import HTTP_201_CREATED

from server.api.common import (
    AuthRequest,
    Learning,
    LearningController,
    _course,
    _refuse_on,
    _staff,
    errors,
    learning_dependency,
)
from server.auth import Principal
from server.errors import BadRequest, Conflict, NotFound
from server.storage.store import User
from sync.catalog import Assignment, Catalog, Module
from sync.events import Text, Url
from sync.merge.fold import AssignmentState
from sync.views import assignment_view

AssignmentStatus = Literal["not_started", "draft", "submitted", "graded"]


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


# A submission has something in it; the OpenAPI document says so (a draft may be empty).
_SOMETHING_SUBMITTED: Final = msgspec.Meta(
    extra_json_schema={
        "anyOf": [
            {"required": ["text"], "properties": {"text": {"minLength": 1}}},
            {"required": ["url"], "properties": {"url": {"minLength": 1}}},
        ]
    }
)


class AssignmentList(msgspec.Struct, frozen=True):
    assignments: list[AssignmentDetail]


class GradeRequest(msgspec.Struct, frozen=True):
    score: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    feedback: Text = ""


class GradeResult(msgspec.Struct, frozen=True):
    user: str
    assignment: AssignmentDetail
    decisions: list[str]


def _assignment(catalog: Catalog, course_id: str, assignment_id: str) -> tuple[Module, Assignment]:
    course = _course(catalog, course_id)
    for module in course.modules:
        for assignment in module.assignments:
            if assignment.id == assignment_id:
                return module, assignment
    raise NotFound(f"no assignment {assignment_id!r} in course {course_id!r}")


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


class Assignments(Learning):
    """What the assignment endpoints do."""

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
        if submit and not (work.text or work.url):
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
        _, assignment = _assignment(await self.store.catalog(), course_id, assignment_id)
        if grade.score > assignment.max_score:  # the schema cannot know the catalog's maximum
            raise Conflict(f"score must be between 0 and {assignment.max_score:g}")
        decisions = await self.store.grade_assignment(
            user.id,
            course_id,
            assignment_id,
            score=grade.score,
            feedback=grade.feedback,
            graded_by=principal.user.username,
        )
        self._poke(user.id)
        detail = await self._assignment_of(user.id, course_id, assignment_id)
        return GradeResult(user.username, detail, [d.type for d in decisions])


class AssignmentController(LearningController):
    tags = ["assignments"]
    dependencies = learning_dependency(Assignments)

    @get("/me/assignments")
    async def list_assignments(
        self,
        request: AuthRequest,
        learning: Assignments,
        status: AssignmentStatus | None = None,
    ) -> AssignmentList:
        """Every assignment of the catalog with the learner's draft, submission and grade."""
        return await learning.assignments(request.user.user, status)

    @put("/me/assignments/{course:str}/{assignment:str}/draft", responses=errors(404))
    async def draft(
        self,
        request: AuthRequest,
        learning: Assignments,
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
        learning: Assignments,
        course: str,
        assignment: str,
        data: Annotated[AssignmentWork, _SOMETHING_SUBMITTED],
    ) -> AssignmentDetail:
        """Submit for grading (a text and/or a url). 409 with the reason when it will not
        be graded (already passed)."""
        return await learning.assignment_work(
            request.user.user, course, assignment, data, submit=True
        )

    @post(
        "/users/{name:str}/assignments/{course:str}/{assignment:str}/grade",
        status_code=HTTP_201_CREATED,
        responses=errors(403, 404, 409),
    )
    async def grade(
        self,
        request: AuthRequest,
        learning: Assignments,
        name: str,
        course: str,
        assignment: str,
        data: GradeRequest,
    ) -> GradeResult:
        """Instructors and admins: grade a learner's latest submission (score 0 to the
        assignment's max). 400 when nothing was submitted or the score is out of range."""
        return await learning.grade(request.user, name, course, assignment, data)
