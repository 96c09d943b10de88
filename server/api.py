"""REST API v1: short controllers that decode, call one store function and return a Struct."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.status_codes import HTTP_201_CREATED

from server.auth import Principal
from server.errors import StoreUnavailable
from server.storage.store import Store
from sync.catalog import catalog_to_builtins, public_catalog
from sync.messages import CatalogResponse, LoginRequest, LoginResponse
from sync.views import CompetencyView, CourseView, PathView, Summary

AuthRequest = Request[Principal, str, Any]


class Progress(msgspec.Struct, frozen=True):
    user_id: str
    user: str
    feed_head: int
    courses: list[CourseView]
    paths: list[PathView] = []
    competencies: list[CompetencyView] = []
    summary: Summary | None = None


class Health(msgspec.Struct, frozen=True):
    status: str


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=HTTP_201_CREATED)
    async def login(self, data: LoginRequest, store: Store) -> LoginResponse:
        """Register this device for the learner and return its bearer token (shown once)."""
        user = await store.authenticate_user(data.username, data.password)
        if user is None:
            raise NotAuthorizedException("wrong user name or password")
        device, token = await store.register_device(user.id, data.device_name or "device")
        return LoginResponse(
            user.id, device.id, token, user.username, user.timezone, user.role, user.plan
        )


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

    @get("/users/{name:str}/progress")
    async def user_progress(self, request: AuthRequest, store: Store, name: str) -> Progress:
        """Another learner's progress; instructors and admins only."""
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


class HealthController(Controller):
    path = "/v1"
    tags = ["health"]

    @get("/health")
    async def health(self) -> Health:
        """The process is up."""
        return Health("ok")

    @get("/ready")
    async def ready(self, store: Store) -> Health:
        """The store answers; 503 problem details otherwise."""
        try:
            await store.ping()
        except Exception as err:
            raise StoreUnavailable(f"store does not answer: {err}") from None
        return Health("ready")
