"""Predicted completion of a course from a learner's recent pace (``docs/reports.md``,
"Predicted completion"). A pure function: the report's SQL counts what it needs, the
clock is the store's.

The method, for one learner and one course at time ``now``:

* **pace**: lessons completed in the last :data:`WINDOW_DAYS` days (28), per day;
* **estimate**: ``now + remaining / pace`` days, ``remaining`` being the lessons of the
  course not completed;
* **range**: the window's two halves (14 days each) give two paces; the faster one gives
  the earliest date, the slower one the latest (none when the slower half had no
  completed lesson: at that pace the course is never finished);
* **status**: ``completed``; else ``stalled`` when the learner did nothing in the course
  for :data:`STALL_DAYS` days (14) or never; else, with a due date, ``on_track`` when the
  estimate is on or before the due day, ``at_risk`` when it is after it or there is no
  estimate (no lesson completed in the window); without a due date, ``on_track`` when there
  is an estimate, ``at_risk`` otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final, Literal

import msgspec

DAY_MS: Final = 86_400_000
WINDOW_DAYS: Final = 28
"""The pace is measured over this many days before now."""
STALL_DAYS: Final = 14
"""No activity for this many days, and not complete: stalled."""

Outlook = Literal["completed", "on_track", "at_risk", "stalled"]


class Pace(msgspec.Struct, frozen=True):
    """What the report's SQL counts for one learner in one course."""

    total: int
    """Lessons in the course."""
    completed: int
    """Lessons completed now."""
    first_half: int
    """Lessons completed in the older half of the window (28 to 14 days ago)."""
    second_half: int
    """Lessons completed in the recent half (the last 14 days)."""
    last_activity_at: int | None
    """The latest activity in the course (epoch ms)."""
    course_completed: bool = False


class Prediction(msgspec.Struct, frozen=True):
    """``projected_at``: the estimated completion (epoch ms), with its range
    ``earliest_at`` to ``latest_at`` (``None``: no estimate / no bound); ``pace``: lessons per
    day over the window; ``due``: the day it is measured against."""

    outlook: Outlook
    pace: float
    projected_at: int | None = None
    earliest_at: int | None = None
    latest_at: int | None = None
    due: str | None = None


def window_start(now: int) -> int:
    """The start of the pace window (epoch ms)."""
    return now - WINDOW_DAYS * DAY_MS


def half_start(now: int) -> int:
    """The start of the window's recent half."""
    return now - WINDOW_DAYS // 2 * DAY_MS


def _at(now: int, remaining: int, lessons: int, days: int) -> int | None:
    """When ``remaining`` lessons are done at ``lessons`` per ``days`` days (in whole
    milliseconds, rounded up; integers throughout, so exact)."""
    if lessons <= 0:
        return None
    return now + -(-remaining * days * DAY_MS // lessons)


def _end_of(day: str) -> int:
    """The last millisecond of ``day`` (UTC)."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
    return int(start.timestamp() * 1000) + DAY_MS - 1


def predict(pace: Pace, now: int, due: str | None = None) -> Prediction:
    """The prediction for one learner in one course (see the module's docstring)."""
    done = pace.course_completed or (pace.total > 0 and pace.completed >= pace.total)
    recent = pace.first_half + pace.second_half
    per_day = recent / WINDOW_DAYS
    if done:
        return Prediction("completed", round(per_day, 4), due=due)
    remaining = max(0, pace.total - pace.completed)
    half = WINDOW_DAYS // 2
    fast, slow = sorted((pace.first_half, pace.second_half), reverse=True)
    projected = _at(now, remaining, recent, WINDOW_DAYS)
    earliest = _at(now, remaining, fast, half)
    latest = _at(now, remaining, slow, half)
    idle = pace.last_activity_at is None or now - pace.last_activity_at >= STALL_DAYS * DAY_MS
    outlook: Outlook
    if idle:
        outlook = "stalled"
    elif projected is None or (due is not None and projected > _end_of(due)):
        outlook = "at_risk"
    else:
        outlook = "on_track"
    return Prediction(outlook, round(per_day, 4), projected, earliest, latest, due)
