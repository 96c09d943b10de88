"""Assessment and engagement reports over REST (``docs/reports.md``, "Assessments" and
"Engagement over time"): JSON, or ``?format=csv`` for the rows of the report's table.

Errors: a learner asking is 403, a group the instructor does not teach 403, an unknown
course, quiz or group 404, a malformed date (or value) 400. A range that ends before it
starts is empty, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Parameter, QueryParameter

from server.api.common import AuthRequest, errors
from server.reports.engagement import By, EngagementReport, EngagementRow, engagement_report
from server.reports.quiz import (
    Attempts,
    CourseQuizzesReport,
    QuestionRow,
    QuizReport,
    QuizSummary,
    Window,
    course_quizzes_report,
    quiz_report,
)
from server.reports.scope import report_scope
from server.reports.tables import csv_text
from server.storage.store import Store

Format = Literal["json", "csv"]
CSV = "text/csv; charset=utf-8"


@dataclass
class JsonOrCsv(Operation):
    """An operation whose 200 answer is JSON, or CSV with ``?format=csv``: the document
    lists both media types (Litestar lists the handler's one only)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content["text/csv"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


def _window(since: date | None, until: date | None) -> Window:
    """Submission times from the start of day ``since`` to the end of day ``until`` (UTC)."""

    def start(day: date) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)

    return Window(
        since=None if since is None else start(since),
        until=None if until is None else start(until + timedelta(days=1)),
    )


def _answer(
    report: msgspec.Struct,
    fmt: Format,
    row_type: type[msgspec.Struct],
    rows: list[Any],
    filename: str,
) -> Response[Any]:
    if fmt == "csv":
        return Response(
            csv_text(row_type, rows),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return Response(report)


Group = Annotated[str | None, Parameter(description="A group (name or id): its members only.")]
Since = Annotated[
    date | None, Parameter(description="From this day on (YYYY-MM-DD, the learner's), included.")
]
Until = Annotated[
    date | None,
    Parameter(
        description="Up to this day (YYYY-MM-DD, the learner's), included (before since: none)."
    ),
]
SubmittedSince = Annotated[
    date | None,
    Parameter(description="Attempts submitted from this day on (YYYY-MM-DD, UTC), included."),
]
SubmittedUntil = Annotated[
    date | None,
    Parameter(description="Attempts submitted up to this day (YYYY-MM-DD, UTC), included."),
]
AttemptsParameter = Annotated[
    Attempts,
    Parameter(description="all: every counted attempt (the default); first: each learner's first."),
]
ByParameter = Annotated[By, Parameter(description="day (the default) or week (ISO).")]
CourseParameter = Annotated[str | None, Parameter(description="One course only.")]
FormatParameter = Annotated[
    Format, QueryParameter(name="format", description="json (the default) or csv (the rows).")
]


class ReportQuizzesController(Controller):
    """Assessment and engagement reports, for instructors (their groups) and admins."""

    path = "/v1/reports"
    tags = ["reports"]

    @get(
        "/courses/{course:str}/quizzes/{quiz:str}",
        responses=errors(404),
        operation_class=JsonOrCsv,
    )
    async def quiz(
        self,
        request: AuthRequest,
        store: Store,
        course: str,
        quiz: str,
        group: Group = None,
        since: SubmittedSince = None,
        until: SubmittedUntil = None,
        attempts: AttemptsParameter = "all",
        fmt: FormatParameter = "json",
    ) -> Response[QuizReport]:
        """One quiz's statistics: attempts, pass rate, mean and median score, the score
        distribution, and per question facility, discrimination, the most chosen wrong
        answer and the mean time; its difficult questions. CSV: the questions' rows."""
        window = _window(since, until)
        scope = await report_scope(store, request.user.user, group=group)
        report = await quiz_report(store, scope, course, quiz, attempts=attempts, window=window)
        return _answer(report, fmt, QuestionRow, report.rows, f"quiz-{course}-{quiz}")

    @get("/courses/{course:str}/quizzes", responses=errors(404), operation_class=JsonOrCsv)
    async def quizzes(
        self,
        request: AuthRequest,
        store: Store,
        course: str,
        group: Group = None,
        since: SubmittedSince = None,
        until: SubmittedUntil = None,
        attempts: AttemptsParameter = "all",
        fmt: FormatParameter = "json",
    ) -> Response[CourseQuizzesReport]:
        """Every quiz of a course summarized, and the difficult questions across them.
        CSV: the quizzes' rows."""
        window = _window(since, until)
        scope = await report_scope(store, request.user.user, group=group)
        report = await course_quizzes_report(store, scope, course, attempts=attempts, window=window)
        return _answer(report, fmt, QuizSummary, report.rows, f"quizzes-{course}")

    @get("/engagement", responses=errors(404), operation_class=JsonOrCsv)
    async def engagement(
        self,
        request: AuthRequest,
        store: Store,
        course: CourseParameter = None,
        group: Group = None,
        since: Since = None,
        until: Until = None,
        by: ByParameter = "day",
        fmt: FormatParameter = "json",
    ) -> Response[EngagementReport]:
        """Lesson time per day or ISO week and course, with the learners active in each
        period, and the periods' totals. CSV: the rows (period, course)."""
        scope = await report_scope(store, request.user.user, group=group)
        report = await engagement_report(
            store,
            scope,
            course=course,
            since=None if since is None else since.isoformat(),
            until=None if until is None else until.isoformat(),
            by=by,
        )
        return _answer(report, fmt, EngagementRow, report.rows, f"engagement-{by}")
