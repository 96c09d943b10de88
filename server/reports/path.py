"""The learning path report (``docs/reports.md``, "Paths"): enrollments by status, the
milestone funnel, progress velocity (the mean time from a milestone's unlocking to its
completion) and the learners stuck on a milestone. SQL over ``learning_path_progress``,
``milestone_progress`` and ``lesson_progress``.
"""

from __future__ import annotations

import msgspec

from server.errors import BadRequest, NotFound
from server.reports.course import NEVER
from server.reports.freshness import Freshness, freshness
from server.reports.predict import DAY_MS
from server.reports.scope import Scope
from server.storage.store import Store

STATUSES = ("enrolled", "in_progress", "completed", "paused", "dropped")
"""An enrollment's statuses, in the order the report lists them."""


class MilestoneStep(msgspec.Struct, frozen=True):
    """One milestone: learners it is unlocked for, who started it (in progress or
    completed) and who completed it; ``mean_days_to_complete``: over those who completed
    it, the mean days from its unlocking to its completion."""

    id: str
    title: str
    course: str
    module: str | None
    unlocked: int
    started: int
    completed: int
    mean_days_to_complete: float | None


class StuckLearner(msgspec.Struct, frozen=True):
    """A learner in progress on a milestone with no activity in its content for
    ``idle_days`` (at least the report's ``stuck_days``)."""

    learner: str
    milestone: str
    idle_days: int
    last_activity_at: int | None
    freshness: Freshness


class MilestoneRow(msgspec.Struct, frozen=True):
    """One learner on one milestone of the path."""

    learner: str
    path_status: str
    milestone: str
    status: str
    unlocked_at: int | None
    started_at: int | None
    completed_at: int | None
    freshness: Freshness


class StatusCount(msgspec.Struct, frozen=True):
    status: str
    learners: int


class PathReport(msgspec.Struct, frozen=True):
    path: str
    title: str
    group: str | None
    generated_at: int
    stuck_days: int
    enrolled: int
    """Learners in the scope with an enrollment (any status)."""
    completed: int
    completion_rate: float | None
    enrollments: list[StatusCount]
    funnel: list[MilestoneStep]
    stuck: list[StuckLearner]
    rows: list[MilestoneRow]


async def path_report(store: Store, scope: Scope, path_id: str, stuck_days: int = 7) -> PathReport:
    """The path report of the learners in ``scope``; ``stuck_days``: how long without
    activity on an in-progress milestone makes a learner stuck."""
    if stuck_days < 1:
        raise BadRequest(f"stuck_days must be at least 1, got {stuck_days}")
    catalog = await store.catalog()
    path = catalog.path(path_id)
    if path is None:
        raise NotFound(f"no path {path_id!r} in the catalog")
    now = store.clock()
    fresh = await freshness(store, scope)
    cond, args = scope.where("p.user_id")
    counts = await store.engine.fetch(
        "SELECT p.status, COUNT(*) AS learners FROM learning_path_progress p"
        f" WHERE p.learning_path_id = ? AND {cond} GROUP BY p.status",
        path.id,
        *args,
    )
    by_status = {r["status"]: int(r["learners"]) for r in counts}
    cond, args = scope.where("m.user_id")
    steps = await store.engine.fetch(
        "SELECT m.milestone_id,"
        " SUM(CASE WHEN m.status <> 'locked' THEN 1 ELSE 0 END) AS unlocked,"
        " SUM(CASE WHEN m.status IN ('in_progress', 'completed') THEN 1 ELSE 0 END)"
        " AS started,"
        " SUM(CASE WHEN m.status = 'completed' THEN 1 ELSE 0 END) AS completed,"
        " AVG(CASE WHEN m.status = 'completed' AND m.unlocked_at IS NOT NULL"
        " AND m.completed_at IS NOT NULL THEN m.completed_at - m.unlocked_at END) AS mean_ms"
        f" FROM milestone_progress m WHERE m.learning_path_id = ? AND {cond}"
        " GROUP BY m.milestone_id",
        path.id,
        *args,
    )
    funnel = {r["milestone_id"]: r for r in steps}
    # The content's latest activity: the lessons of the milestone's module (or course).
    stuck_rows = await store.engine.fetch(
        "SELECT m.user_id, u.username, m.milestone_id,"
        " COALESCE(MAX(l.last_activity_at), m.started_at, m.unlocked_at) AS last_at"
        " FROM milestone_progress m JOIN users u ON u.id = m.user_id"
        " LEFT JOIN lesson_progress l ON l.user_id = m.user_id AND l.course_id = m.course_id"
        " AND (m.module_id IS NULL OR l.module_id = m.module_id)"
        f" WHERE m.learning_path_id = ? AND m.status = 'in_progress' AND {cond}"
        " GROUP BY m.user_id, u.username, m.milestone_id, m.started_at, m.unlocked_at"
        " HAVING COALESCE(MAX(l.last_activity_at), m.started_at, m.unlocked_at, 0) <= ?"
        " ORDER BY u.username, m.milestone_id",
        path.id,
        *args,
        now - stuck_days * DAY_MS,
    )
    rows = await store.engine.fetch(
        "SELECT u.username, m.user_id, p.status AS path_status, m.milestone_id, m.status,"
        " m.unlocked_at, m.started_at, m.completed_at"
        " FROM milestone_progress m JOIN users u ON u.id = m.user_id"
        " JOIN learning_path_progress p ON p.user_id = m.user_id"
        " AND p.learning_path_id = m.learning_path_id"
        f" WHERE m.learning_path_id = ? AND {cond}",
        path.id,
        *args,
    )
    order = {m.id: i for i, m in enumerate(path.ordered)}
    enrolled = sum(by_status.values())
    done = by_status.get("completed", 0)
    return PathReport(
        path=path.id,
        title=path.title,
        group=scope.group.name if scope.group else None,
        generated_at=now,
        stuck_days=stuck_days,
        enrolled=enrolled,
        completed=done,
        completion_rate=round(done / enrolled, 4) if enrolled else None,
        enrollments=[StatusCount(s, by_status.get(s, 0)) for s in STATUSES],
        funnel=[
            MilestoneStep(
                m.id,
                m.title,
                m.course,
                m.module,
                int(funnel[m.id]["unlocked"] or 0) if m.id in funnel else 0,
                int(funnel[m.id]["started"] or 0) if m.id in funnel else 0,
                int(funnel[m.id]["completed"] or 0) if m.id in funnel else 0,
                round(float(funnel[m.id]["mean_ms"]) / DAY_MS, 2)
                if m.id in funnel and funnel[m.id]["mean_ms"] is not None
                else None,
            )
            for m in path.ordered
        ],
        stuck=[
            StuckLearner(
                r["username"],
                r["milestone_id"],
                int((now - int(r["last_at"] or 0)) // DAY_MS),
                r["last_at"],
                fresh.get(r["user_id"], NEVER),
            )
            for r in stuck_rows
        ],
        rows=[
            MilestoneRow(
                r["username"],
                r["path_status"],
                r["milestone_id"],
                r["status"],
                r["unlocked_at"],
                r["started_at"],
                r["completed_at"],
                fresh.get(r["user_id"], NEVER),
            )
            for r in sorted(rows, key=lambda r: (r["username"], order.get(r["milestone_id"], 0)))
        ],
    )
