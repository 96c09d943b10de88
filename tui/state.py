"""What the app hands down to its screens: one learner's progress, the sync state and the
weekly leaderboard as last fetched."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from client.journal import Account
from sync.catalog import Catalog
from sync.gamify import GamifyView, Leaderboard
from sync.views import LearnerView

Connection = Literal["off", "connecting", "online", "offline", "refused"]


@dataclass(frozen=True)
class Snapshot:
    """One learner's progress as this device knows it, read in one journal job.

    ``days``: seconds of learning per local day, oldest first (``Journal.time_per_day``);
    ``requested``: path id → the ``path.*`` event this device recorded that the server has
    not acknowledged yet (enrollments are the server's decision, so they show as asked).
    """

    account: Account
    view: LearnerView
    catalog: Catalog | None
    now_ms: int
    achievements: GamifyView | None = None
    days: list[tuple[str, int]] = field(default_factory=list)
    requested: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncState:
    """What the status line shows. ``retry_at``: when the sync, offline, tries the server
    again (epoch ms, None: not waiting); ``now_ms``: the app's clock when this state was
    made, so the status line counts down without a clock of its own."""

    connection: Connection = "off"
    user: str = ""
    pending: int = 0
    synced_at: int | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    account: Account | None = None
    retry_at: int | None = None
    now_ms: int = 0


@dataclass(frozen=True)
class Board:
    """The weekly leaderboard for one learner: the last one fetched (``board``, at
    ``fetched_at``) and, when the latest fetch failed, why (``error``)."""

    board: Leaderboard | None = None
    fetched_at: int | None = None
    error: str = ""
    offline: bool = False
    loading: bool = False
