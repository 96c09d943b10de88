"""How fresh each learner's data is: when their devices last synced (``docs/reports.md``,
"Freshness"). Every report shows it beside each learner."""

from __future__ import annotations

import msgspec

from server.reports.scope import Scope
from server.storage.store import Store


class Freshness(msgspec.Struct, frozen=True):
    """One learner's devices as the server last saw them."""

    last_sync_at: int | None
    """The latest contact of any of the learner's live devices (``None``: never synced)."""
    devices: int
    """Live (not revoked) devices."""


async def freshness(store: Store, scope: Scope) -> dict[str, Freshness]:
    """User id → :class:`Freshness`, for every learner in ``scope``."""
    cond, args = scope.where("u.id")
    rows = await store.engine.fetch(
        "SELECT u.id, MAX(d.last_seen_at) AS last_sync_at, COUNT(d.id) AS devices"
        " FROM users u LEFT JOIN devices d ON d.user_id = u.id AND d.revoked_at IS NULL"
        f" WHERE {cond} GROUP BY u.id",
        *args,
    )
    return {r["id"]: Freshness(r["last_sync_at"], int(r["devices"])) for r in rows}
