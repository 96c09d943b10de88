"""Reading the outbox: the domain events each merge committed with its entries, the latest
(:meth:`OutboxStore.outbox_tail`) or in commit order from a cursor (the event stream,
:meth:`OutboxStore.events_after`; ``docs/events.md``, "The cursor")."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Final, NamedTuple

import msgspec

from server.storage.base import StoreBase
from sync.event_catalog import Envelope, envelope


class OutboxEvent(msgspec.Struct, frozen=True):
    """One row of the outbox: a domain event, committed with the merge that derived it."""

    id: str
    user_id: str
    user_seq: int
    type: str
    body: dict[str, Any]
    occurred_at: int
    recorded_at: int


class Cursor(NamedTuple):
    """A position in the outbox's commit order: ``(tx, pos)``, compared as a pair; written
    ``T.P``. On SQLite ``tx`` is 0 and ``pos`` is commit order itself."""

    tx: int
    pos: int

    def __str__(self) -> str:
        return f"{self.tx}.{self.pos}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor ``T.P``; raises ``ValueError`` for anything else."""
        match = _CURSOR.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a cursor: {text[:40]!r} (expected T.P, as a page's next)")
        tx, pos = int(match.group(1)), int(match.group(2))
        if tx > _MAX_TX or pos > _MAX_POS:
            raise ValueError(f"not a cursor: {text[:40]!r} (a number is too large)")
        return cls(tx, pos)


START: Final = Cursor(0, 0)
"""Before every event."""
_CURSOR: Final = re.compile(r"(\d{1,20})\.(\d{1,20})")
_MAX_TX: Final = 2**64 - 1  # xid8
_MAX_POS: Final = 2**63 - 1  # BIGINT


class StreamItem(NamedTuple):
    cursor: Cursor
    event: Envelope


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

    async def events_after(
        self, after: Cursor, limit: int, *, types: Collection[str] | None = None
    ) -> list[StreamItem]:
        """Up to ``limit`` published events after ``after``, in commit order, each with its
        cursor (``types``: only those catalog names). Never returns an event that a later
        call could find before it (``docs/events.md``, "The cursor")."""
        only, names = "", list(types) if types is not None else []
        if types is not None:
            if not names:
                return []
            only = f" AND o.type IN ({', '.join('?' * len(names))})"
        select = (
            "SELECT {tx} AS tx, o.pos, o.id, o.user_id, u.username, o.type, o.body,"
            " o.occurred_at, o.recorded_at FROM outbox o JOIN users u ON u.id = o.user_id"
        )
        if self.engine.concurrent_commits:
            # Only rows of transactions below the snapshot's xmin: all of those have ended,
            # and every transaction still running (or yet to begin) has an id at or above
            # it, so nothing can commit later below what this read returns.
            rows = await self.engine.fetch(
                select.format(tx="o.tx::text")
                + " WHERE (o.tx, o.pos) > (CAST(CAST(? AS text) AS xid8), ?)"
                " AND o.tx < pg_snapshot_xmin(pg_current_snapshot())"
                + only
                + " ORDER BY o.tx, o.pos LIMIT ?",
                str(after.tx),
                after.pos,
                *names,
                limit,
            )
        else:
            # One writer: the position assigned at insert is commit order.
            rows = await self.engine.fetch(
                select.format(tx="0") + " WHERE o.pos > ?" + only + " ORDER BY o.pos LIMIT ?",
                after.pos,
                *names,
                limit,
            )
        return [
            StreamItem(
                Cursor(int(r["tx"]), int(r["pos"])),
                envelope(
                    id=str(r["id"]),
                    type=str(r["type"]),
                    learner_id=str(r["user_id"]),
                    username=str(r["username"]),
                    occurred_at=int(r["occurred_at"]),
                    recorded_at=int(r["recorded_at"]),
                    data=msgspec.json.decode(r["body"]),
                ),
            )
            for r in rows
        ]
