"""The course report page (``/dashboard/courses/{course}``): the same report as
``GET /v1/reports/courses/{course}`` (:func:`server.reports.course.course_report`, scoped
by :func:`server.reports.scope.report_scope`), as charts with their data tables, a
table of learners and a link to its CSV."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from server.dashboard import charts
from server.dashboard.freshness import iso, local_time
from server.reports.course import CourseReport
from server.storage.store import User

OUTLOOK_LABELS = {"on_track": "On track", "at_risk": "At risk", "stalled": "Stalled"}


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min"


def _when(ms: int | None, tz: str) -> dict[str, str] | None:
    return None if ms is None else {"iso": iso(ms), "local": local_time(ms, tz)}


def course_context(report: CourseReport, viewer: User, group: str | None) -> dict[str, Any]:
    """The ``course.html`` template's context of ``report`` for ``viewer``."""
    tz = viewer.timezone
    funnel: list[tuple[str, float]] = [("Learners", float(report.learners))]
    for step in report.funnel:
        funnel.append((f"{step.title}: completed", float(step.completed)))
    weeks = [(w.week, float(w.active)) for w in report.weeks]
    learners = [
        {
            "name": row.learner,
            "status": row.status.replace("_", " "),
            "percent": f"{row.percent:.0f} %",
            "lessons": f"{row.lessons_completed} of {row.lessons_total}",
            "time": _minutes(row.time_spent),
            "last_activity": _when(row.last_activity_at, tz),
            "last_sync": _when(row.freshness.last_sync_at, tz),
            "freshness": row.freshness.state,
            "outlook": OUTLOOK_LABELS.get(row.projected.outlook, row.projected.outlook),
            "projected": _when(row.projected.projected_at, tz),
        }
        for row in report.summary
    ]
    query = {"format": "csv", **({"group": group} if group else {})}
    rate = report.completion_rate
    return {
        "report": report,
        "title": report.title or report.course,
        "completion": "—" if rate is None else f"{rate * 100:.0f} %",
        "funnel_chart": charts.funnel("Completion by module", funnel),
        "weeks_chart": charts.bar_chart("Active learners per week", weeks, unit="learners"),
        "learners": learners,
        "timezone": tz,
        "csv_url": f"/v1/reports/courses/{quote(report.course, safe='')}?{urlencode(query)}",
    }
