"""Liveness and readiness."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from server.errors import StoreUnavailable
from server.storage.store import Store


class Health(msgspec.Struct, frozen=True):
    status: str


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
