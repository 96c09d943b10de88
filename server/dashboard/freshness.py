"""How fresh the server's picture of a learner is: how long since their devices last
synced. The server cannot see work recorded offline; what it knows is when it last heard
from each device, so a device silent for a day may hold work not yet seen."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
FRESH_MS: Final = HOUR_MS
"""Synced within the last hour: the server's picture is current."""
STALE_MS: Final = DAY_MS
"""Not heard from for a day: the device may hold offline work the server has not seen."""

State = Literal["fresh", "recent", "stale", "never"]
STATES: Final[tuple[State, ...]] = ("fresh", "recent", "stale", "never")
STATE_LABELS: Final[dict[State, str]] = {
    "fresh": "Synced within an hour",
    "recent": "Synced within a day",
    "stale": "Not synced for a day or more",
    "never": "Never synced",
}


class Freshness(msgspec.Struct, frozen=True):
    state: State
    ago: str
    """``"just now"``, ``"5 min ago"``, ``"3 h ago"``, ``"2 days ago"``, ``"never"``."""


def state_of(last_sync_at: int | None, now: int) -> State:
    if last_sync_at is None:
        return "never"
    age = now - last_sync_at
    if age < FRESH_MS:
        return "fresh"
    return "recent" if age < STALE_MS else "stale"


def ago(last_sync_at: int | None, now: int) -> str:
    """How long ago, in words a table cell can hold (a clock behind counts as now)."""
    if last_sync_at is None:
        return "never"
    age = max(0, now - last_sync_at)
    if age < MINUTE_MS:
        return "just now"
    if age < HOUR_MS:
        return f"{age // MINUTE_MS} min ago"
    if age < DAY_MS:
        return f"{age // HOUR_MS} h ago"
    days = age // DAY_MS
    return "1 day ago" if days == 1 else f"{days} days ago"


def freshness(last_sync_at: int | None, now: int) -> Freshness:
    return Freshness(state_of(last_sync_at, now), ago(last_sync_at, now))


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def iso(ms: int) -> str:
    """The instant in ISO 8601, UTC (a ``<time datetime>``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time(ms: int, timezone: str) -> str:
    """The instant as ``2026-12-04 14:05 CET`` in ``timezone`` (UTC if unknown)."""
    tz = zone(timezone) or UTC
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M %Z")
