"""Liveness and readiness."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from server.api.openapi import errors
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

    @get("/ready", exclude_from_auth=True, responses=errors(503))
    async def ready(self, store: Store, hub: Hub) -> Health:
        """The store answers and commits of other instances are heard (the fan-out's
        ``LISTEN``); 503 problem details otherwise."""
        try:
            await store.ping()
        except Exception as err:
            raise StoreUnavailable(f"store does not answer: {err}") from None
        if not hub.listening:
            raise StoreUnavailable("fan-out is down: not hearing other instances' commits")
        return Health("ready")
