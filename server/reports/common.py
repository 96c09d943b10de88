"""What the reports share: the date range a request filters by, ISO weeks counted in SQL,
the learners' predictions counted in SQL, and the due date a course is measured against.

Weeks are ISO weeks in UTC. SQL numbers them without any date function, so both engines
agree: day ``d`` (``at / 86400000``; day 0 is Thursday 1970-01-01) is in week number
``(d + 3) / 7`` (integer division), whose Monday is day ``7 * w - 3``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import msgspec

from server.errors import BadRequest
from server.reports.predict import DAY_MS, Pace, Prediction, half_start, predict, window_start
from server.reports.scope import Scope
from server.storage.store import Store
from sync.catalog import Course

DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def week_sql(column: str) -> str:
    """SQL for the week number of an epoch-ms ``column`` (see the module docstring)."""
    return f"(({column}) / {DAY_MS} + 3) / 7"


def week_label(number: int) -> str:
    """An ISO week (``2026-W47``) from its SQL number."""
    monday = date(1970, 1, 1) + timedelta(days=7 * int(number) - 3)
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_number(at: int) -> int:
    """The SQL week number of an epoch-ms time, in Python."""
    return (at // DAY_MS + 3) // 7


def parse_day(value: str | None, name: str, *, end: bool = False) -> int | None:
    """A ``YYYY-MM-DD`` query parameter as epoch ms: its first millisecond, or its last
    (``end``). Raises :class:`BadRequest` for anything else."""
    if value is None or value == "":
        return None
    try:
        if not DATE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    start = int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000)
    return start + DAY_MS - 1 if end else start


class Period(msgspec.Struct, frozen=True):
    """A report's date range (``since``/``until``, inclusive days in UTC; epoch ms)."""

    since: int | None = None
    until: int | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Period:
        # A since after its until is an empty range (no learner), not an error.
        return cls(parse_day(since, "since"), parse_day(until, "until", end=True))

    @classmethod
    def of(cls, since: date | None, until: date | None) -> Period:
        """The period of two days (the query's, already parsed)."""
        return cls.parse(since.isoformat() if since else None, until.isoformat() if until else None)

    @property
    def open(self) -> bool:
        return self.since is None and self.until is None

    def active(self, column: str, course: str) -> tuple[str, tuple[Any, ...]]:
        """A condition that learner ``column`` was active in ``course`` within the period
        (a lesson of it started, completed or last touched then); ``1 = 1`` when the
        period is open."""
        if self.open:
            return "1 = 1", ()
        low = self.since if self.since is not None else 0
        high = self.until if self.until is not None else 2**62
        times = " OR ".join(
            f"(a.{t} >= ? AND a.{t} <= ?)"
            for t in ("started_at", "completed_at", "last_activity_at")
        )
        return (
            f"{column} IN (SELECT a.user_id FROM lesson_progress a"
            f" WHERE a.course_id = ? AND ({times}))",
            (course, *((low, high) * 3)),
        )


class CourseLearner(msgspec.Struct, frozen=True):
    """One learner's progress in one course, as one SQL aggregate gives it."""

    user_id: str
    username: str
    status: str
    percent: float
    time_spent: int
    started_at: int | None
    completed_at: int | None
    last_activity_at: int | None
    pace: Pace


async def course_learners(
    store: Store, scope: Scope, course: Course, now: int, period: Period | None = None
) -> list[CourseLearner]:
    """Every learner in ``scope`` who started ``course`` (and was active in it within
    ``period``), by name: their course row and their lessons' sums, one SQL aggregate."""
    cond, args = scope.where("c.user_id")
    active, active_args = (period or Period()).active("c.user_id", course.id)
    total = sum(len(m.lessons) for m in course.modules)
    rows = await store.engine.fetch(
        "SELECT c.user_id, u.username, c.status, c.percent_complete, c.started_at,"
        " c.completed_at, COALESCE(SUM(l.time_spent), 0) AS time_spent,"
        " MAX(l.last_activity_at) AS last_at,"
        " SUM(CASE WHEN l.status = 'completed' THEN 1 ELSE 0 END) AS done,"
        " SUM(CASE WHEN l.status = 'completed' AND l.completed_at >= ?"
        " AND l.completed_at < ? THEN 1 ELSE 0 END) AS first_half,"
        " SUM(CASE WHEN l.status = 'completed' AND l.completed_at >= ?"
        " AND l.completed_at <= ? THEN 1 ELSE 0 END) AS second_half"
        " FROM course_progress c JOIN users u ON u.id = c.user_id"
        " LEFT JOIN lesson_progress l ON l.user_id = c.user_id AND l.course_id = c.course_id"
        f" WHERE c.course_id = ? AND {cond} AND {active}"
        " GROUP BY c.user_id, u.username, c.status, c.percent_complete, c.started_at,"
        " c.completed_at ORDER BY u.username",
        window_start(now),
        half_start(now),
        half_start(now),
        now,
        course.id,
        *args,
        *active_args,
    )
    return [
        CourseLearner(
            r["user_id"],
            r["username"],
            r["status"],
            float(r["percent_complete"] or 0),
            int(r["time_spent"] or 0),
            r["started_at"],
            r["completed_at"],
            r["last_at"],
            Pace(
                total,
                int(r["done"] or 0),
                int(r["first_half"] or 0),
                int(r["second_half"] or 0),
                r["last_at"],
                r["status"] == "completed",
            ),
        )
        for r in rows
    ]


def due_of(course: Course, scope: Scope) -> str | None:
    """The due date a course is measured against: the report's group's, else the course's."""
    if scope.group is not None and scope.group.due:
        return scope.group.due
    return course.due


def prediction(learner: CourseLearner, now: int, due: str | None) -> Prediction:
    return predict(learner.pace, now, due)


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` to 4 places (``None`` when ``whole`` is 0)."""
    return round(part / whole, 4) if whole else None
