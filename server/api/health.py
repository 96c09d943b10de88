"""Liveness and readiness.

``/v1/health`` says the process answers. ``/v1/ready`` says whether this instance can do
its work, and what each dependency said: 200 with every check when all pass, 503 problem
details with the same checks in ``extra`` when one fails (a load balancer looks at the
status; a person at the checks).
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.plugins.problem_details import ProblemDetailsException

from server.api.openapi import errors
from server.fanout import Hub
from server.storage.store import Store


class Health(msgspec.Struct, frozen=True):
    status: str


class Check(msgspec.Struct, frozen=True, omit_defaults=True):
    """One dependency: whether it is fine, and what was seen."""

    ok: bool
    detail: str
    latency_ms: float | None = None


class Readiness(msgspec.Struct, frozen=True):
    status: str
    """``ready`` (the 200 answer's only value)."""
    checks: dict[str, Check]
    """``server`` (not stopping), ``database`` (answers ``SELECT 1``, and how fast),
    ``fanout`` (whether other instances' commits are heard: PostgreSQL's ``LISTEN``
    connection, or Redis)."""


async def _database(store: Store) -> Check:
    start = time.perf_counter()
    try:
        await store.ping()
    except Exception as err:  # any failure is "not ready"; the words say which
        detail = getattr(err, "detail", None) or str(err) or type(err).__name__
        return Check(False, f"{store.engine.dialect} does not answer: {detail}")
    latency = round((time.perf_counter() - start) * 1000, 2)
    return Check(True, f"{store.engine.dialect} answers", latency)


def _fanout(hub: Hub) -> Check:
    name = hub.backend.name
    if name == "in-process":
        return Check(True, "in-process (one server owns the SQLite database)")
    if hub.listening:
        return Check(True, f"{name}: hearing other instances' commits")
    return Check(False, f"{name} down: not hearing other instances' commits (reconnecting)")


def _server(request: Request[Any, Any, Any]) -> Check:
    if request.app.state.sync_connections.draining:
        return Check(False, "stopping: draining its connections")
    return Check(True, "serving")


class HealthController(Controller):
    path = "/v1"
    tags = ["health"]

    @get("/health", exclude_from_auth=True)
    async def health(self) -> Health:
        """The process is up."""
        return Health("ok")

    @get("/ready", exclude_from_auth=True, responses=errors(503))
    async def ready(self, store: Store, hub: Hub, request: Request[Any, Any, Any]) -> Readiness:
        """The server is not stopping, the store answers and commits of other instances
        are heard (the fan-out); 503 problem details otherwise, with each check in
        ``extra``."""
        checks = {
            "server": _server(request),
            "database": await _database(store),
            "fanout": _fanout(hub),
        }
        failed = [name for name, check in checks.items() if not check.ok]
        if failed:
            raise ProblemDetailsException(
                status_code=HTTPStatus.SERVICE_UNAVAILABLE,
                title=HTTPStatus.SERVICE_UNAVAILABLE.phrase,
                detail="; ".join(f"{name}: {checks[name].detail}" for name in failed),
                extra={"checks": msgspec.to_builtins(checks)},
            )
        return Readiness("ready", checks)
