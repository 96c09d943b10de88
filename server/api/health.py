"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get

from server.errors import StoreUnavailable
from server.fanout import Hub
from server.storage.store import Store


class Health(msgspec.Struct, frozen=True):
    status: str


class HealthController(Controller):
    path = "/v1"
    tags = ["health"]

    @get("/health", exclude_from_auth=True)
    async def health(self) -> Health:
        """The process is up."""
        return Health("ok")

    @get("/ready", exclude_from_auth=True)
    async def ready(self, store: Store, hub: Hub, request: Request[Any, Any, Any]) -> Health:
        """The store answers and commits of other instances are heard (the fan-out's
        ``LISTEN``), and the server is not stopping; 503 problem details otherwise."""
        if request.app.state.sync_connections.draining:
            raise StoreUnavailable("the server is stopping")
        try:
            await store.ping()
        except Exception as err:
            raise StoreUnavailable(f"store does not answer: {err}") from None
        if not hub.listening:
            raise StoreUnavailable("fan-out is down: not hearing other instances' commits")
        return Health("ready")
