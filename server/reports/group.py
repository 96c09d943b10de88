"""The group report (``docs/reports.md``, "Groups"): per course of the catalog, the group's
completion rate, mean percent, learners active this week and how many are on track, at
risk or stalled."""

from __future__ import annotations

import msgspec

from server.reports.common import course_learners, due_of, prediction, ratio, week_label
from server.reports.predict import DAY_MS
from server.reports.scope import Scope
from server.storage.store import Store


class GroupCourse(msgspec.Struct, frozen=True):
    """One course for the group: ``learners`` who started it, of the group's ``members``."""

    course: str
    title: str
    due: str | None
    members: int
    learners: int
    completed: int
    completion_rate: float | None
    mean_percent: float | None
    active_this_week: int
    on_track: int
    at_risk: int
    stalled: int


class GroupReport(msgspec.Struct, frozen=True):
    group: str
    due: str | None
    week: str
    """The ISO week (UTC) "this week" is."""
    generated_at: int
    members: int
    """The group's learners (staff in it are not counted)."""
    rows: list[GroupCourse]


def monday_of(now: int) -> int:
    """The first millisecond of the ISO week (UTC) of ``now``."""
    day = now // DAY_MS
    return (day - (day + 3) % 7) * DAY_MS


async def group_report(store: Store, scope: Scope) -> GroupReport:
    """``scope`` is one group's (``report_scope(..., group=name)``)."""
    assert scope.group is not None
    catalog = await store.catalog()
    now = store.clock()
    monday = monday_of(now)
    cond, args = scope.where("u.id")
    members = int(await store.engine.fetchval(f"SELECT COUNT(*) FROM users u WHERE {cond}", *args))
    out: list[GroupCourse] = []
    for course in catalog.courses:
        due = due_of(course, scope)
        cond, args = scope.where("c.user_id")
        totals = await store.engine.fetchrow(
            "SELECT COUNT(*) AS learners,"
            " SUM(CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END) AS completed,"
            " AVG(c.percent_complete) AS mean_percent"
            f" FROM course_progress c WHERE c.course_id = ? AND {cond}",
            course.id,
            *args,
        )
        assert totals is not None
        cond, args = scope.where("l.user_id")
        active = await store.engine.fetchval(
            "SELECT COUNT(DISTINCT l.user_id) FROM lesson_progress l"
            f" WHERE l.course_id = ? AND l.last_activity_at >= ? AND {cond}",
            course.id,
            monday,
            *args,
        )
        outlooks = {"on_track": 0, "at_risk": 0, "stalled": 0, "completed": 0}
        for learner in await course_learners(store, scope, course, now):
            outlooks[prediction(learner, now, due).outlook] += 1
        count, done = int(totals["learners"] or 0), int(totals["completed"] or 0)
        mean = totals["mean_percent"]
        out.append(
            GroupCourse(
                course.id,
                course.title,
                due,
                members,
                count,
                done,
                ratio(done, count),
                round(float(mean), 2) if mean is not None else None,
                int(active or 0),
                outlooks["on_track"],
                outlooks["at_risk"],
                outlooks["stalled"],
            )
        )
    return GroupReport(
        group=scope.group.name,
        due=scope.group.due,
        week=week_label((now // DAY_MS + 3) // 7),
        generated_at=now,
        members=members,
        rows=out,
    )
