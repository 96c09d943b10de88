"""What the app hands down to its screens: one learner's progress and the sync state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from client.journal import Account
from sync.catalog import Catalog
from sync.views import LearnerView

Connection = Literal["off", "connecting", "online", "offline", "refused"]


@dataclass(frozen=True)
class Snapshot:
    """One learner's progress as this device knows it (``status`` is Device.status())."""

    account: Account
    status: dict[str, Any]
    view: LearnerView
    catalog: Catalog | None
    now_ms: int


@dataclass(frozen=True)
class SyncState:
    """What the status line shows."""

    connection: Connection = "off"
    user: str = ""
    pending: int = 0
    synced_at: int | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    account: Account | None = None
