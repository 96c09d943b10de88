"""The course progress report and its drill-down into one module (``docs/reports.md``,
"Course progress"): learners x modules (x lessons), the completion funnel by module, the
completion rate and the active learners per week. SQL over the projections
(``course_progress``, ``module_progress``, ``lesson_progress``); Python only lays the
aggregates out in the catalog's order.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.errors import NotFound
from server.reports.common import (
    Period,
    course_learners,
    due_of,
    prediction,
    ratio,
    week_label,
    week_sql,
)
from server.reports.freshness import Freshness, freshness
from server.reports.predict import Prediction
from server.reports.scope import Scope
from server.storage.store import Store
from sync.catalog import Catalog, Course

NEVER = Freshness(None, 0)
"""The freshness of a learner the freshness query did not return (cannot happen in one
scope; a safe default)."""


class ModuleRow(msgspec.Struct, frozen=True):
    """One learner in one module. ``time_spent``: seconds in its lessons."""

    learner: str
    module: str
    status: str
    percent: float
    time_spent: int
    last_activity_at: int | None
    freshness: Freshness
    projected: Prediction
    """The learner's predicted completion of the whole course."""


class LessonRow(msgspec.Struct, frozen=True):
    """One learner in one lesson (the drill-down into a module)."""

    learner: str
    lesson: str
    status: str
    percent: float
    time_spent: int
    started_at: int | None
    completed_at: int | None
    last_activity_at: int | None
    freshness: Freshness


class LearnerCourse(msgspec.Struct, frozen=True):
    """One learner in the course as a whole."""

    learner: str
    status: str
    percent: float
    lessons_completed: int
    lessons_total: int
    time_spent: int
    started_at: int | None
    completed_at: int | None
    last_activity_at: int | None
    freshness: Freshness
    projected: Prediction


class FunnelStep(msgspec.Struct, frozen=True):
    """How many learners started and completed one module (or lesson)."""

    id: str
    title: str
    started: int
    completed: int


class WeekActivity(msgspec.Struct, frozen=True):
    """Learners active in the course in one ISO week (UTC)."""

    week: str
    active: int


class CourseReport(msgspec.Struct, frozen=True):
    """``learners``: learners in the scope who started the course; ``completion_rate``:
    the share of them who completed it; ``mean_percent``: their mean percent."""

    course: str
    title: str
    group: str | None
    since: int | None
    until: int | None
    due: str | None
    generated_at: int
    learners: int
    completed: int
    completion_rate: float | None
    mean_percent: float | None
    on_track: int
    at_risk: int
    stalled: int
    funnel: list[FunnelStep]
    weeks: list[WeekActivity]
    summary: list[LearnerCourse]
    rows: list[ModuleRow]


class ModuleReport(msgspec.Struct, frozen=True):
    course: str
    module: str
    title: str
    group: str | None
    generated_at: int
    learners: int
    completed: int
    funnel: list[FunnelStep]
    """Per lesson: learners who started and completed it."""
    rows: list[LessonRow]


def find_course(store_catalog: Catalog, course_id: str) -> Course:
    course = store_catalog.course(course_id)
    if course is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    return course


def _where(scope: Scope, period: Period, column: str, course: str) -> tuple[str, list[Any]]:
    cond, args = scope.where(column)
    active, active_args = period.active(column, course)
    return f"{cond} AND {active}", [*args, *active_args]


async def course_report(
    store: Store, scope: Scope, course_id: str, period: Period | None = None
) -> CourseReport:
    """The course progress report of the learners in ``scope``."""
    period = period or Period()
    course = find_course(await store.catalog(), course_id)
    now = store.clock()
    due = due_of(course, scope)
    learners = await course_learners(store, scope, course, now, period)
    fresh = await freshness(store, scope)
    where, args = _where(scope, period, "m.user_id", course.id)
    modules = await store.engine.fetch(
        "SELECT m.user_id, m.module_id, m.status, m.percent_complete FROM module_progress m"
        f" WHERE m.course_id = ? AND {where}",
        course.id,
        *args,
    )
    held = {(r["user_id"], r["module_id"]): r for r in modules}
    where, args = _where(scope, period, "l.user_id", course.id)
    sums = await store.engine.fetch(
        "SELECT l.user_id, l.module_id, COALESCE(SUM(l.time_spent), 0) AS time_spent,"
        " MAX(l.last_activity_at) AS last_at FROM lesson_progress l"
        f" WHERE l.course_id = ? AND {where} GROUP BY l.user_id, l.module_id",
        course.id,
        *args,
    )
    spent = {(r["user_id"], r["module_id"]): r for r in sums}
    where, args = _where(scope, period, "m.user_id", course.id)
    funnel = await store.engine.fetch(
        "SELECT m.module_id, COUNT(*) AS started,"
        " SUM(CASE WHEN m.status = 'completed' THEN 1 ELSE 0 END) AS completed"
        f" FROM module_progress m WHERE m.course_id = ? AND {where} GROUP BY m.module_id",
        course.id,
        *args,
    )
    steps = {r["module_id"]: r for r in funnel}
    where, args = _where(scope, period, "c.user_id", course.id)
    totals = await store.engine.fetchrow(
        "SELECT COUNT(*) AS learners,"
        " SUM(CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END) AS completed,"
        " AVG(c.percent_complete) AS mean_percent"
        f" FROM course_progress c WHERE c.course_id = ? AND {where}",
        course.id,
        *args,
    )
    assert totals is not None
    weeks = await _weeks(store, scope, period, course.id)

    summary: list[LearnerCourse] = []
    rows: list[ModuleRow] = []
    outlooks = {"on_track": 0, "at_risk": 0, "stalled": 0, "completed": 0}
    for learner in learners:
        projected = prediction(learner, now, due)
        outlooks[projected.outlook] += 1
        seen = fresh.get(learner.user_id, NEVER)
        summary.append(
            LearnerCourse(
                learner.username,
                learner.status,
                learner.percent,
                learner.pace.completed,
                learner.pace.total,
                learner.time_spent,
                learner.started_at,
                learner.completed_at,
                learner.last_activity_at,
                seen,
                projected,
            )
        )
        for module in course.modules:
            row = held.get((learner.user_id, module.id))
            time = spent.get((learner.user_id, module.id))
            rows.append(
                ModuleRow(
                    learner.username,
                    module.id,
                    row["status"] if row else "not_started",
                    float(row["percent_complete"] or 0) if row else 0.0,
                    int(time["time_spent"]) if time else 0,
                    time["last_at"] if time else None,
                    seen,
                    projected,
                )
            )
    count = int(totals["learners"] or 0)
    done = int(totals["completed"] or 0)
    mean = totals["mean_percent"]
    return CourseReport(
        course=course.id,
        title=course.title,
        group=scope.group.name if scope.group else None,
        since=period.since,
        until=period.until,
        due=due,
        generated_at=now,
        learners=count,
        completed=done,
        completion_rate=ratio(done, count),
        mean_percent=round(float(mean), 2) if mean is not None else None,
        on_track=outlooks["on_track"],
        at_risk=outlooks["at_risk"],
        stalled=outlooks["stalled"],
        funnel=[
            FunnelStep(
                m.id,
                m.title,
                int(steps[m.id]["started"]) if m.id in steps else 0,
                int(steps[m.id]["completed"] or 0) if m.id in steps else 0,
            )
            for m in course.modules
        ],
        weeks=weeks,
        summary=summary,
        rows=rows,
    )


async def _weeks(store: Store, scope: Scope, period: Period, course: str) -> list[WeekActivity]:
    """Learners active per week: a lesson of the course started, completed or last touched
    in it (within the period)."""
    parts: list[str] = []
    args: list[Any] = []
    cond, cond_args = scope.where("l.user_id")
    low = period.since if period.since is not None else 0
    high = period.until if period.until is not None else 2**62
    for column in ("started_at", "completed_at", "last_activity_at"):
        parts.append(
            f"SELECT l.user_id, {week_sql('l.' + column)} AS week FROM lesson_progress l"
            f" WHERE l.course_id = ? AND l.{column} >= ? AND l.{column} <= ? AND {cond}"
        )
        args += [course, low, high, *cond_args]
    rows = await store.engine.fetch(
        "SELECT t.week, COUNT(DISTINCT t.user_id) AS active"
        f" FROM ({' UNION '.join(parts)}) t GROUP BY t.week ORDER BY t.week",
        *args,
    )
    return [WeekActivity(week_label(int(r["week"])), int(r["active"])) for r in rows]


async def module_report(
    store: Store, scope: Scope, course_id: str, module_id: str, period: Period | None = None
) -> ModuleReport:
    """The drill-down into one module: learners x its lessons."""
    period = period or Period()
    catalog = await store.catalog()
    course = find_course(catalog, course_id)
    module = catalog.module(course.id, module_id)
    if module is None:
        raise NotFound(f"no module {module_id!r} in course {course.id!r}")
    now = store.clock()
    learners = await course_learners(store, scope, course, now, period)
    fresh = await freshness(store, scope)
    where, args = _where(scope, period, "l.user_id", course.id)
    lessons = await store.engine.fetch(
        "SELECT l.user_id, l.lesson_id, l.status, l.percent_complete, l.time_spent,"
        " l.started_at, l.completed_at, l.last_activity_at FROM lesson_progress l"
        f" WHERE l.course_id = ? AND l.module_id = ? AND {where}",
        course.id,
        module.id,
        *args,
    )
    held = {(r["user_id"], r["lesson_id"]): r for r in lessons}
    funnel = await store.engine.fetch(
        "SELECT l.lesson_id, COUNT(*) AS started,"
        " SUM(CASE WHEN l.status = 'completed' THEN 1 ELSE 0 END) AS completed"
        " FROM lesson_progress l"
        f" WHERE l.course_id = ? AND l.module_id = ? AND {where} GROUP BY l.lesson_id",
        course.id,
        module.id,
        *args,
    )
    steps = {r["lesson_id"]: r for r in funnel}
    where, args = _where(scope, period, "m.user_id", course.id)
    done = await store.engine.fetchval(
        "SELECT COUNT(*) FROM module_progress m WHERE m.course_id = ? AND m.module_id = ?"
        f" AND m.status = 'completed' AND {where}",
        course.id,
        module.id,
        *args,
    )
    rows: list[LessonRow] = []
    for learner in learners:
        seen = fresh.get(learner.user_id, NEVER)
        for lesson in module.lessons:
            row = held.get((learner.user_id, lesson.id))
            rows.append(
                LessonRow(
                    learner.username,
                    lesson.id,
                    row["status"] if row else "not_started",
                    float(row["percent_complete"] or 0) if row else 0.0,
                    int(row["time_spent"] or 0) if row else 0,
                    row["started_at"] if row else None,
                    row["completed_at"] if row else None,
                    row["last_activity_at"] if row else None,
                    seen,
                )
            )
    return ModuleReport(
        course=course.id,
        module=module.id,
        title=module.title,
        group=scope.group.name if scope.group else None,
        generated_at=now,
        learners=len(learners),
        completed=int(done or 0),
        funnel=[
            FunnelStep(
                x.id,
                x.title,
                int(steps[x.id]["started"]) if x.id in steps else 0,
                int(steps[x.id]["completed"] or 0) if x.id in steps else 0,
            )
            for x in module.lessons
        ],
        rows=rows,
    )
