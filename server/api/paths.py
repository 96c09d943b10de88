"""A learning path's overview and its milestones: start, complete, reset."""

from __future__ import annotations

import msgspec
from litestar import get, post, put
from litestar.status_codes import HTTP_200_OK

from server.api.common import (
    AuthRequest,
    Learning,
    LearningController,
    _content_percent,
    _path,
    _path_view,
    _refuse_on,
    errors,
    learning_dependency,
)
from server.errors import NotFound
from server.storage.store import User
from sync.catalog import Milestone, Path
from sync.views import LearnerView, MilestoneView, PathView, milestone_content


class MilestoneProgress(msgspec.Struct, frozen=True):
    path: str
    path_status: str
    path_percent: int
    milestone: MilestoneView
    content_status: str
    content_percent: int
    next_milestone: str | None = None


def _milestone(path: Path, milestone_id: str) -> Milestone:
    found = next((m for m in path.milestones if m.id == milestone_id), None)
    if found is None:
        raise NotFound(f"no milestone {milestone_id!r} in path {path.id!r}")
    return found


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


class Paths(Learning):
    """What the path and milestone endpoints do."""

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


class MilestoneController(LearningController):
    tags = ["milestones"]
    dependencies = learning_dependency(Paths)

    @get("/me/paths/{path_id:str}", responses=errors(404))
    async def overview(self, request: AuthRequest, learning: Paths, path_id: str) -> PathView:
        """A path's progress overview: status, percent and every milestone."""
        return await learning.path(request.user.user, path_id)

    @get("/me/paths/{path_id:str}/milestones/{milestone_id:str}", responses=errors(404))
    async def milestone(
        self, request: AuthRequest, learning: Paths, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """One milestone: status, times, and the progress of its course or module."""
        return await learning.milestone(request.user.user, path_id, milestone_id)

    @post(
        "/me/paths/{path_id:str}/milestones/{milestone_id:str}/start",
        status_code=HTTP_200_OK,
        responses=errors(404, 409),
    )
    async def start(
        self, request: AuthRequest, learning: Paths, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """Start an unlocked milestone; 409 with the reason (e.g. locked)."""
        return await learning.milestone_action(request.user.user, path_id, milestone_id, "started")

    @post(
        "/me/paths/{path_id:str}/milestones/{milestone_id:str}/complete",
        status_code=HTTP_200_OK,
        responses=errors(404, 409),
    )
    async def complete(
        self, request: AuthRequest, learning: Paths, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """Mark a milestone complete; the next one unlocks. 409 with the reason."""
        return await learning.milestone_action(
            request.user.user, path_id, milestone_id, "completed"
        )

    @put("/me/paths/{path_id:str}/milestones/{milestone_id:str}/reset", responses=errors(404, 409))
    async def reset(
        self, request: AuthRequest, learning: Paths, path_id: str, milestone_id: str
    ) -> MilestoneProgress:
        """Start a milestone over: its content's progress resets, history and passes stay.
        409 with the reason."""
        return await learning.milestone_action(request.user.user, path_id, milestone_id, "reset")
