"""Enrollments in learning paths: enroll, pause, resume, drop, eligibility, history and
progress, the transition check and admins' bulk status changes."""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from litestar import delete, get, post, put
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.api.common import (
    AuthRequest,
    Learning,
    LearningController,
    _path,
    _path_view,
    _refuse_on,
    errors,
    learning_dependency,
)
from server.auth import Principal
from server.errors import Forbidden, NotFound, ServerError
from server.storage.store import User
from sync.events import Name
from sync.merge.decide import transition_problem
from sync.views import LearnerView, PathView, TransitionView

EnrollmentStatus = Literal["enrolled", "in_progress", "completed", "paused", "dropped"]


LearnerStatus = Literal["paused", "in_progress", "dropped"]


AdminStatus = Literal["enrolled", "paused", "in_progress", "dropped"]


# What validate-transition takes: a status, or no enrollment yet ("none" or "not_enrolled").
TransitionStatus = Literal[EnrollmentStatus, "none", "not_enrolled"]


# The learner's event for each requested enrollment status (sync.merge.decide makes the change).
STATUS_EVENTS: Final = {
    "enrolled": "path.enrolled",
    "paused": "path.paused",
    "in_progress": "path.resumed",
    "dropped": "path.dropped",
}


MAX_BULK: Final = 500


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


def _enrollment(view: LearnerView, path_id: str) -> PathView:
    found = _path_view(view, path_id)
    if found.status == "not_enrolled":
        raise NotFound(f"not enrolled in path {path_id!r}")
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


class Enrollments(Learning):
    """What the enrollment endpoints do."""

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
    def check_transition(current: TransitionStatus, new: TransitionStatus) -> TransitionCheck:
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


class EnrollmentController(LearningController):
    tags = ["enrollments"]
    dependencies = learning_dependency(Enrollments)

    @get("/me/enrollments")
    async def list_enrollments(
        self, request: AuthRequest, learning: Enrollments, status: EnrollmentStatus | None = None
    ) -> EnrollmentList:
        """The learner's enrollments in learning paths, optionally of one ``status``."""
        return await learning.enrollments(request.user.user, status)

    @post("/me/enrollments/{path_id:str}", status_code=HTTP_201_CREATED, responses=errors(404, 409))
    async def enroll(self, request: AuthRequest, learning: Enrollments, path_id: str) -> PathView:
        """Enroll in a path; the first milestone unlocks. 409 when refused (already
        enrolled, or the free plan's limit of active enrollments), with the reason."""
        return await learning.change_enrollment(request.user.user, path_id, "enrolled")

    @get("/me/enrollments/{path_id:str}", responses=errors(404))
    async def get_enrollment(
        self, request: AuthRequest, learning: Enrollments, path_id: str
    ) -> PathView:
        """One enrollment: status, percent, milestones and status history. 404 if never
        enrolled."""
        return await learning.enrollment(request.user.user, path_id)

    @delete("/me/enrollments/{path_id:str}", status_code=HTTP_200_OK, responses=errors(404, 409))
    async def drop(self, request: AuthRequest, learning: Enrollments, path_id: str) -> PathView:
        """Unenroll: the enrollment becomes ``dropped`` (its history stays). 409 if it
        cannot be dropped."""
        return await learning.change_enrollment(request.user.user, path_id, "dropped")

    @get("/me/enrollments/{path_id:str}/check", responses=errors(404))
    async def check(self, request: AuthRequest, learning: Enrollments, path_id: str) -> Eligibility:
        """Whether enrolling now would be accepted, and the reason if not."""
        return await learning.eligibility(request.user.user, path_id)

    @put("/me/enrollments/{path_id:str}/status", responses=errors(404, 409))
    async def set_status(
        self, request: AuthRequest, learning: Enrollments, path_id: str, data: StatusChange
    ) -> PathView:
        """Pause, resume (``in_progress``) or drop; 409 with the reason when the transition
        is not allowed. ``completed`` is reached by completing the milestones."""
        return await learning.change_enrollment(request.user.user, path_id, data.status)

    @get("/me/enrollments/{path_id:str}/history", responses=errors(404))
    async def history(
        self, request: AuthRequest, learning: Enrollments, path_id: str
    ) -> EnrollmentHistory:
        """The enrollment's status changes, oldest first."""
        return await learning.history(request.user.user, path_id)

    @get("/me/enrollments/{path_id:str}/progress", responses=errors(404))
    async def progress(
        self, request: AuthRequest, learning: Enrollments, path_id: str
    ) -> EnrollmentProgress:
        """Percent complete and milestone counts of the enrollment."""
        return await learning.enrollment_progress(request.user.user, path_id)

    @get("/enrollments/validate-transition/{current:str}/{new:str}")
    async def validate_transition(
        self, current: TransitionStatus, new: TransitionStatus
    ) -> TransitionCheck:
        """Whether an enrollment may go from ``current`` to ``new`` (400 for an unknown
        status)."""
        return Enrollments.check_transition(current, new)

    @post("/enrollments/bulk-status", status_code=HTTP_200_OK, responses=errors(403))
    async def bulk_status(
        self, request: AuthRequest, learning: Enrollments, data: BulkStatusRequest
    ) -> BulkStatusResponse:
        """Admins only: set many learners' enrollment status; one result per update, in
        order (a failed update does not stop the others)."""
        return await learning.bulk_status(request.user, data.updates)
