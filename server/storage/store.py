"""The store: every storage call Waymark makes, written once for both engines.

:class:`Store` combines one mixin per domain (each a module of ``server.storage``):
``base`` (engine, clock, secrets, caches, the current catalog), ``accounts`` (users,
devices, plans), ``feed`` (the feed writer, feed and state reads), ``catalog`` (loading a
catalog, recomputing), ``merge`` (the merge of a push, REST actions, grades, previews),
``projections`` (the learner's views), ``gamify`` (achievements, certificates, badges,
groups, leaderboards), ``outbox`` (the outbox tail and the event stream), ``services``
(service tokens) and ``roster`` (group members and device freshness, for the dashboard).

Open with :meth:`Store.open` (runs migrations). The merge of a device's push happens in
:meth:`Store.merge`, one transaction per push under the user's lock: dedupe by
``(device_id, seq)``, validate against the catalog, append to the feed, fold into the
materialized state, advance the device's watermark — all or nothing, so an ack always
means "durably committed".
"""

from __future__ import annotations

from server.storage.accounts import ROLES, Device, User, hash_token
from server.storage.base import STALE_DEVICE_MS, Clock, wall_clock_ms
from server.storage.catalog import CatalogStore
from server.storage.engine import open_engine
from server.storage.gamify import WEEK_PATTERN, GamifyStore, Group
from server.storage.merge import MergeStore
from server.storage.outbox import OutboxEvent, OutboxStore
from server.storage.projections import ProjectionsStore
from server.storage.roster import RosterStore
from server.storage.services import ServiceTokenStore
from sync.events import CLOCK_SKEW_MS
from sync.merge.decide import Policy

__all__ = [
    "ROLES",
    "STALE_DEVICE_MS",
    "WEEK_PATTERN",
    "Clock",
    "Device",
    "Group",
    "OutboxEvent",
    "Store",
    "User",
    "hash_token",
    "wall_clock_ms",
]


class Store(
    MergeStore,
    CatalogStore,
    ProjectionsStore,
    GamifyStore,
    OutboxStore,
    RosterStore,
    ServiceTokenStore,
):
    """Storage calls of the server. Each method's name is what shows in logs and metrics."""

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        clock: Clock = wall_clock_ms,
        stale_device_ms: int = STALE_DEVICE_MS,
        policy: Policy | None = None,
        create: bool = True,
        clock_skew_ms: int = CLOCK_SKEW_MS,
    ) -> Store:
        """The store at ``url``; ``create=False``: a missing SQLite file is an error."""
        engine = open_engine(url, create=create)
        return cls(
            engine,
            clock=clock,
            stale_device_ms=stale_device_ms,
            policy=policy,
            clock_skew_ms=clock_skew_ms,
        )
