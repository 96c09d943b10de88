"""Reading the outbox: the domain events each merge committed with its entries."""

from __future__ import annotations

from typing import Any

import msgspec

from server.storage.base import StoreBase


class OutboxEvent(msgspec.Struct, frozen=True):
    """One row of the outbox: a domain event, committed with the merge that derived it."""

    id: str
    user_id: str
    user_seq: int
    type: str
    body: dict[str, Any]
    occurred_at: int
    recorded_at: int


class OutboxStore(StoreBase):
    """The outbox."""

    async def outbox_tail(self, limit: int, *, user_id: str | None = None) -> list[OutboxEvent]:
        """The latest ``limit`` outbox events (of one learner, or of all), oldest first."""
        where, args = ("WHERE user_id = ? ", [user_id]) if user_id is not None else ("", [])
        rows = await self.engine.fetch(
            "SELECT * FROM outbox "
            + where
            + "ORDER BY recorded_at DESC, user_id DESC, user_seq DESC, n DESC LIMIT ?",
            *args,
            limit,
        )
        return [
            OutboxEvent(
                str(r["id"]),
                str(r["user_id"]),
                int(r["user_seq"]),
                str(r["type"]),
                msgspec.json.decode(r["body"]),
                int(r["occurred_at"]),
                int(r["recorded_at"]),
            )
            for r in reversed(rows)
        ]
