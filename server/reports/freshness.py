"""How fresh each learner's data is: when their devices last synced, and what the server
knows of work they hold and have not sent (``docs/reports.md``, "Freshness"). Every report
shows it beside each learner.

The server knows of unsent work from the hello: a device says the highest seq it has
recorded for the learner (``hello.accounts[].recorded``, docs/protocol.md §6), and every
event above the device's watermark (``acked_seq``) is recorded there and not merged yet.
No count has to be kept up to date as the device pushes: each ack raises the watermark,
so a device that has pushed everything it reported holds nothing pending, and one that
said hello and lost its connection before pushing still shows what it holds.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from server.reports.scope import Scope
from server.storage.store import Store

OFFLINE_AFTER_MS: Final = 3_600_000
"""A device not heard from (a hello or a push) for longer than this, one hour, is
*offline*; a learner none of whose devices was heard from within it has *stale* data."""

REST_DEVICE: Final = "rest-"
"""Id prefix of a learner's server-side device (actions over REST,
``server.storage.merge.MergeStore.record_action``): it holds nothing and is never offline,
so it counts toward the last sync but not among the devices."""

State = Literal["fresh", "stale", "offline work", "never synced"]


class Freshness(msgspec.Struct, frozen=True):
    """One learner's devices as the server last saw them."""

    last_sync_at: int | None
    """The latest contact of any of the learner's live devices (``None``: never synced)."""
    devices: int
    """Live (not revoked) devices, the server-side REST device left out."""
    pending_events: int | None = None
    """Events the learner's live devices said they hold and the server has not merged yet
    (over each device: recorded by its last hello minus acked since, never below 0).
    ``None``: no live device said (clients before the hello's ``recorded``); with some
    that said and some that did not, the sum of those that said (a lower bound)."""
    pending_since: int | None = None
    """The earliest time one of the devices holding pending events said so (``None``:
    nothing pending)."""
    offline_devices: int = 0
    """Live devices not heard from for longer than :data:`OFFLINE_AFTER_MS` (a device
    never heard from counts from its login)."""
    state: State = "never synced"
    """One word, the first rule that holds: ``never synced`` (no live device ever synced),
    ``offline work`` (``pending_events`` > 0), ``stale`` (the last sync is older than
    :data:`OFFLINE_AFTER_MS`), else ``fresh``."""


def freshness_state(last_sync_at: int | None, pending_events: int | None, now: int) -> State:
    """The :attr:`Freshness.state` word for these numbers at ``now``."""
    if last_sync_at is None:
        return "never synced"
    if pending_events:
        return "offline work"
    if now - last_sync_at > OFFLINE_AFTER_MS:
        return "stale"
    return "fresh"


async def freshness(store: Store, scope: Scope, *, now: int | None = None) -> dict[str, Freshness]:
    """User id → :class:`Freshness`, for every learner in ``scope``, at ``now`` (default:
    the store's clock)."""
    at = store.clock() if now is None else now
    cond, args = scope.where("u.id")
    physical = f"d.id NOT LIKE '{REST_DEVICE}%'"
    rows = await store.engine.fetch(
        "SELECT u.id, MAX(d.last_seen_at) AS last_sync_at,"
        f" COUNT(CASE WHEN {physical} THEN 1 END) AS devices,"
        # Unknown (NULL) for a device that did not say: SUM skips it, and is NULL if all did.
        " SUM(CASE WHEN d.reported_seq > d.acked_seq THEN d.reported_seq - d.acked_seq"
        " WHEN d.reported_seq IS NOT NULL THEN 0 END) AS pending_events,"
        " MIN(CASE WHEN d.reported_seq > d.acked_seq THEN d.reported_at END) AS pending_since,"
        f" COUNT(CASE WHEN {physical} AND COALESCE(d.last_seen_at, d.created_at) < ?"
        " THEN 1 END) AS offline_devices"
        " FROM users u LEFT JOIN devices d ON d.user_id = u.id AND d.revoked_at IS NULL"
        f" WHERE {cond} GROUP BY u.id",
        at - OFFLINE_AFTER_MS,
        *args,
    )
    found = {}
    for r in rows:
        last, pending = r["last_sync_at"], r["pending_events"]
        pending = None if pending is None else int(pending)
        found[r["id"]] = Freshness(
            last,
            int(r["devices"]),
            pending,
            r["pending_since"],
            int(r["offline_devices"]),
            freshness_state(last, pending, at),
        )
    return found
