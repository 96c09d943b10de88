"""The competencies and objectives report (``docs/reports.md``, "Competencies"): learners x
competencies (level, mastered), the mastery rate of each competency and of each course
objective. SQL over ``user_competencies`` and ``objective_progress``.
"""

from __future__ import annotations

import msgspec

from server.reports.common import ratio
from server.reports.course import NEVER
from server.reports.freshness import Freshness, freshness
from server.reports.scope import Scope
from server.storage.store import Store


class CompetencyRow(msgspec.Struct, frozen=True):
    """One learner's level (0 to 100) in one competency."""

    learner: str
    competency: str
    level: int
    status: str
    mastered: bool
    acquired_at: int | None
    freshness: Freshness


class CompetencyMastery(msgspec.Struct, frozen=True):
    """Of the ``learners`` in the scope, how many have a level above zero and mastered
    it; ``mean_level`` over all of them (a learner without a row is at 0)."""

    id: str
    name: str
    mastery: int
    learners: int
    started: int
    mastered: int
    mastery_rate: float | None
    mean_level: float | None


class ObjectiveMastery(msgspec.Struct, frozen=True):
    """Of the learners in the scope who started the course (``started``), how many
    mastered the objective."""

    course: str
    id: str
    title: str
    competency: str | None
    started: int
    mastered: int
    mastery_rate: float | None


class CompetencyReport(msgspec.Struct, frozen=True):
    group: str | None
    generated_at: int
    learners: int
    competencies: list[CompetencyMastery]
    objectives: list[ObjectiveMastery]
    rows: list[CompetencyRow]


async def competency_report(store: Store, scope: Scope) -> CompetencyReport:
    catalog = await store.catalog()
    now = store.clock()
    fresh = await freshness(store, scope)
    cond, args = scope.where("u.id")
    people = await store.engine.fetch(
        f"SELECT u.id, u.username FROM users u WHERE {cond} ORDER BY u.username", *args
    )
    cond, args = scope.where("c.user_id")
    held = await store.engine.fetch(
        "SELECT c.user_id, c.competency_id, c.level, c.status, c.acquired_at"
        f" FROM user_competencies c WHERE {cond}",
        *args,
    )
    levels = {(r["user_id"], r["competency_id"]): r for r in held}
    sums = await store.engine.fetch(
        "SELECT c.competency_id, COUNT(*) AS started,"
        " SUM(CASE WHEN c.status = 'mastered' THEN 1 ELSE 0 END) AS mastered,"
        " SUM(c.level) AS levels"
        f" FROM user_competencies c WHERE {cond} AND c.level > 0 GROUP BY c.competency_id",
        *args,
    )
    per = {r["competency_id"]: r for r in sums}
    cond, args = scope.where("o.user_id")
    objective_rows = await store.engine.fetch(
        "SELECT o.course_id, o.objective_id, COUNT(*) AS started,"
        " SUM(CASE WHEN o.mastered THEN 1 ELSE 0 END) AS mastered"
        f" FROM objective_progress o WHERE {cond} GROUP BY o.course_id, o.objective_id",
        *args,
    )
    objectives = {(r["course_id"], r["objective_id"]): r for r in objective_rows}
    count = len(people)
    rows = [
        CompetencyRow(
            p["username"],
            c.id,
            int(found["level"]) if found else 0,
            found["status"] if found else "not_started",
            found is not None and found["status"] == "mastered",
            found["acquired_at"] if found else None,
            fresh.get(p["id"], NEVER),
        )
        for p in people
        for c in catalog.competencies
        for found in [levels.get((p["id"], c.id))]
    ]
    return CompetencyReport(
        group=scope.group.name if scope.group else None,
        generated_at=now,
        learners=count,
        competencies=[
            CompetencyMastery(
                c.id,
                c.name,
                c.mastery,
                count,
                int(per[c.id]["started"]) if c.id in per else 0,
                int(per[c.id]["mastered"] or 0) if c.id in per else 0,
                ratio(int(per[c.id]["mastered"] or 0) if c.id in per else 0, count),
                round(int(per[c.id]["levels"] or 0) / count, 2)
                if count and c.id in per
                else (0.0 if count else None),
            )
            for c in catalog.competencies
        ],
        objectives=[
            ObjectiveMastery(
                course.id,
                o.id,
                o.title,
                o.competency,
                int(found["started"]) if found else 0,
                int(found["mastered"] or 0) if found else 0,
                ratio(int(found["mastered"] or 0), int(found["started"])) if found else None,
            )
            for course in catalog.courses
            for o in course.objectives
            for found in [objectives.get((course.id, o.id))]
        ],
        rows=rows,
    )
