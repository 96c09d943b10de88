"""A learner's progress (their own, or another's for staff) and the catalog."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.exceptions import NotFoundException, PermissionDeniedException

from server.api.common import AuthRequest, errors
from server.auth import SERVICE_SCOPE
from server.storage.store import Store
from sync.catalog import catalog_to_builtins, public_catalog
from sync.protocol.messages import CatalogResponse
from sync.views import CompetencyView, CourseView, PathView, Summary


class Progress(msgspec.Struct, frozen=True):
    user_id: str
    user: str
    feed_head: int
    courses: list[CourseView]
    paths: list[PathView] = []
    competencies: list[CompetencyView] = []
    summary: Summary | None = None


async def _progress(store: Store, user_id: str) -> Progress:
    user = await store.user_by_id(user_id)
    assert user is not None
    view = await store.learner(user.id)
    return Progress(
        user.id,
        user.username,
        user.feed_head,
        view.courses,
        view.paths,
        view.competencies,
        view.summary,
    )


class ProgressController(Controller):
    path = "/v1"
    tags = ["progress"]

    @get("/me/progress")
    async def my_progress(self, request: AuthRequest, store: Store) -> Progress:
        """The signed-in learner's progress: courses → modules → lessons, paths,
        competencies and totals."""
        return await _progress(store, request.user.user.id)

    @get(
        "/users/{name:str}/progress",
        responses=errors(403, 404),
        opt={SERVICE_SCOPE: "progress:read"},
    )
    async def user_progress(self, request: AuthRequest, store: Store, name: str) -> Progress:
        """Another learner's progress; instructors, admins and service tokens with scope
        progress:read only."""
        if not request.user.can_see_others and request.user.user.username != name:
            raise PermissionDeniedException("only instructors and admins see other learners")
        user = await store.user_by_name(name)
        if user is None:
            raise NotFoundException(f"no user {name!r}")
        return await _progress(store, user.id)

    @get("/catalog")
    async def catalog(self, store: Store) -> CatalogResponse:
        """The current catalog, as cached by devices for offline use."""
        catalog = await store.catalog()
        return CatalogResponse(catalog.version, catalog_to_builtins(public_catalog(catalog)))
