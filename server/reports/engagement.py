"""Engagement over time: lesson time per day or ISO week, per course, and the learners
active in each (``docs/reports.md``, "Engagement over time").

SQL over ``daily_time`` (seconds of ``lesson.progressed`` per learner, course and day, the
day in the zone each event reported, else the learner's: :func:`server.storage.feed.
daily_seconds`), filtered by the report's :class:`~server.reports.scope.Scope`. A learner
is **active** in a period when they recorded time in it (a row exists only for seconds
above zero).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from server.errors import NotFound
from server.reports.scope import Scope
from server.storage.store import Store

By = Literal["day", "week"]


class EngagementRow(msgspec.Struct, frozen=True):
    """Time spent in one course in one period (the report's table and its CSV)."""

    period: str
    """``YYYY-MM-DD`` (by day) or ``YYYY-Www`` (by ISO week)."""
    course_id: str
    seconds: int
    active_learners: int


class PeriodTotal(msgspec.Struct, frozen=True):
    """Every course of the report together in one period (learners counted once)."""

    period: str
    seconds: int
    active_learners: int


class EngagementReport(msgspec.Struct, frozen=True):
    by: By
    course: str | None
    group: str | None
    since: str | None
    until: str | None
    rows: list[EngagementRow]
    totals: list[PeriodTotal]


def _period(dialect: str, by: By) -> str:
    """The SQL of a row's period from its ``day`` (``YYYY-MM-DD``)."""
    if by == "day":
        return "t.day"
    # Dialect branch: no ISO week function both have. PostgreSQL's IYYY/IW are ISO; on
    # SQLite the ISO week is that of the week's Thursday (3 days back, then the next
    # Thursday), numbered from that Thursday's day of the year.
    if dialect == "postgresql":
        return "to_char(to_date(t.day, 'YYYY-MM-DD'), 'IYYY-\"W\"IW')"
    thursday = "t.day, '-3 days', 'weekday 4'"
    return (
        f"strftime('%Y', {thursday}) || '-W' ||"
        f" printf('%02d', (CAST(strftime('%j', {thursday}) AS INTEGER) - 1) / 7 + 1)"
    )


def _int(value: Any) -> int:
    # PostgreSQL's SUM of a bigint is a numeric (Decimal).
    return int(value) if isinstance(value, int | Decimal) else int(str(value))


async def engagement_report(
    store: Store,
    scope: Scope,
    *,
    course: str | None = None,
    since: str | None = None,
    until: str | None = None,
    by: By = "day",
) -> EngagementReport:
    """Time per period and course over the scope's learners, from day ``since`` to day
    ``until`` (``YYYY-MM-DD``, both included), of one ``course`` or all. Raises
    :class:`NotFound` for a course the catalog does not hold."""
    if course is not None and (await store.catalog()).course(course) is None:
        raise NotFound(f"no course {course!r} in the catalog")
    cond, scope_args = scope.where("t.user_id")
    where = f"WHERE {cond}"
    args: list[Any] = [*scope_args]
    for clause, value in (
        ("t.course_id = ?", course),
        ("t.day >= ?", since),
        ("t.day <= ?", until),
    ):
        if value is not None:
            where += f" AND {clause}"
            args.append(value)
    period = _period(store.engine.dialect, by)
    rows = await store.engine.fetch(
        f"SELECT {period} AS period, t.course_id, SUM(t.seconds) AS seconds,"
        f" COUNT(DISTINCT t.user_id) AS learners FROM daily_time t {where}"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        *args,
    )
    totals = await store.engine.fetch(
        f"SELECT {period} AS period, SUM(t.seconds) AS seconds,"
        f" COUNT(DISTINCT t.user_id) AS learners FROM daily_time t {where}"
        " GROUP BY 1 ORDER BY 1",
        *args,
    )
    return EngagementReport(
        by=by,
        course=course,
        group=scope.group.name if scope.group else None,
        since=since,
        until=until,
        rows=[
            EngagementRow(
                str(r["period"]), str(r["course_id"]), _int(r["seconds"]), int(r["learners"])
            )
            for r in rows
        ],
        totals=[
            PeriodTotal(str(r["period"]), _int(r["seconds"]), int(r["learners"])) for r in totals
        ],
    )
