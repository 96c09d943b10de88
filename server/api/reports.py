"""REST API v1 for reports (``docs/reports.md``): progress above one learner, for instructors
(the learners of the groups they created or teach) and admins (everyone); a learner may see
only their own learner report.

Every report answers JSON by default; ``?format=csv`` gives its ``rows`` as CSV
(``text/csv``, a ``Content-Disposition`` file name), the same rows as the JSON's; the
learner report also answers ``?format=pdf`` (a printable PDF).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Parameter, QueryParameter

from server.api.common import AuthRequest, errors
from server.errors import Forbidden, NotFound
from server.reports.common import Period
from server.reports.competency import CompetencyReport, CompetencyRow, competency_report
from server.reports.course import (
    CourseReport,
    LessonRow,
    ModuleReport,
    ModuleRow,
    course_report,
    module_report,
)
from server.reports.group import GroupCourse, GroupReport, group_report
from server.reports.learner import CourseLine, LearnerReport, learner_pdf, learner_report
from server.reports.path import MilestoneRow, PathReport, path_report
from server.reports.scope import check_learner, report_scope
from server.reports.tables import csv_text
from server.storage.store import Store

Format = Literal["json", "csv"]
Group = Annotated[
    str | None,
    Parameter(description="Only this group's learners (its name or id).", max_length=200),
]
Day = Annotated[
    date | None,
    Parameter(
        description="A day, YYYY-MM-DD (UTC): only learners active in the course from "
        "(since) or until (until) that day."
    ),
]
FORMAT_DOC = "json (default) or csv: the report's rows as CSV, the same rows as the JSON's."


@dataclass
class _Tabular(Operation):
    """The 200 answer is also ``text/csv`` (``?format=csv``)."""

    media: ClassVar[tuple[str, ...]] = ("text/csv",)

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = dict(ok.content or {})
            for media in self.media:
                fmt = "binary" if media == "application/pdf" else None
                ok.content[media] = OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, format=fmt)  # type: ignore[arg-type]
                )
            ok.description = (ok.description or "") + (
                " (with ?format=csv: its rows as text/csv"
                + (", with ?format=pdf: a printable PDF" if len(self.media) > 1 else "")
                + ")"
            )


@dataclass
class _TabularPdf(_Tabular):
    media: ClassVar[tuple[str, ...]] = ("text/csv", "application/pdf")


def _file(content: bytes, media_type: str, filename: str) -> Response[Any]:
    return Response(
        content=content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _answer(report: Any, row_type: type[msgspec.Struct], fmt: str, name: str) -> Response[Any]:
    if fmt == "csv":
        text = csv_text(row_type, report.rows)
        return _file(text.encode(), "text/csv", f"{name}.csv")
    return Response(content=report)


def _safe(name: str) -> str:
    """A file name part from an id (ids are [A-Za-z0-9_.:-]; user and group names are
    freer)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "report"


REPORT_ERRORS = errors(403, 404)


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]

    @get("/courses/{course:str}", responses=REPORT_ERRORS, operation_class=_Tabular)
    async def course(
        self,
        request: AuthRequest,
        store: Store,
        course: str,
        group: Group = None,
        since: Day = None,
        until: Day = None,
        fmt: Annotated[Format, QueryParameter(name="format", description=FORMAT_DOC)] = "json",
    ) -> Response[CourseReport]:
        """Course progress: learners x modules (status, percent, time spent, last
        activity, last sync, projected completion), the completion funnel by module, the
        completion rate and the learners active per week."""
        period = Period.of(since, until)
        scope = await report_scope(store, request.user.user, group=group)
        report = await course_report(store, scope, course, period)
        return _answer(report, ModuleRow, fmt, f"course-{_safe(course)}")

    @get(
        "/courses/{course:str}/modules/{module:str}",
        responses=REPORT_ERRORS,
        operation_class=_Tabular,
    )
    async def module(
        self,
        request: AuthRequest,
        store: Store,
        course: str,
        module: str,
        group: Group = None,
        since: Day = None,
        until: Day = None,
        fmt: Annotated[Format, QueryParameter(name="format", description=FORMAT_DOC)] = "json",
    ) -> Response[ModuleReport]:
        """One module of a course: learners x its lessons, and how many started and
        completed each lesson."""
        period = Period.of(since, until)
        scope = await report_scope(store, request.user.user, group=group)
        report = await module_report(store, scope, course, module, period)
        return _answer(report, LessonRow, fmt, f"course-{_safe(course)}-{_safe(module)}")

    @get("/paths/{path_id:str}", responses=REPORT_ERRORS, operation_class=_Tabular)
    async def learning_path(
        self,
        request: AuthRequest,
        store: Store,
        path_id: str,
        group: Group = None,
        stuck_days: Annotated[
            int,
            Parameter(
                ge=1,
                le=3650,
                description="Days without activity on an in-progress milestone that make "
                "a learner stuck (default 7).",
            ),
        ] = 7,
        fmt: Annotated[Format, QueryParameter(name="format", description=FORMAT_DOC)] = "json",
    ) -> Response[PathReport]:
        """A learning path: enrollments by status, the milestone funnel, the mean days to
        complete each milestone once unlocked, learners stuck on a milestone; rows are
        learners x milestones."""
        scope = await report_scope(store, request.user.user, group=group)
        report = await path_report(store, scope, path_id, stuck_days)
        return _answer(report, MilestoneRow, fmt, f"path-{_safe(path_id)}")

    @get("/competencies", responses=REPORT_ERRORS, operation_class=_Tabular)
    async def competencies(
        self,
        request: AuthRequest,
        store: Store,
        group: Group = None,
        fmt: Annotated[Format, QueryParameter(name="format", description=FORMAT_DOC)] = "json",
    ) -> Response[CompetencyReport]:
        """Learners x competencies (level, mastered), the mastery rate of each competency
        and of each course objective."""
        scope = await report_scope(store, request.user.user, group=group)
        report = await competency_report(store, scope)
        return _answer(report, CompetencyRow, fmt, "competencies")

    @get("/groups/{name:str}", responses=REPORT_ERRORS, operation_class=_Tabular)
    async def group(
        self,
        request: AuthRequest,
        store: Store,
        name: str,
        fmt: Annotated[Format, QueryParameter(name="format", description=FORMAT_DOC)] = "json",
    ) -> Response[GroupReport]:
        """One group, per course of the catalog: completion rate, mean percent, learners
        active this week, how many are on track, at risk or stalled."""
        scope = await report_scope(store, request.user.user, group=name)
        report = await group_report(store, scope)
        return _answer(report, GroupCourse, fmt, f"group-{_safe(name)}")

    @get("/learners/{name:str}", responses=REPORT_ERRORS, operation_class=_TabularPdf)
    async def learner(
        self,
        request: AuthRequest,
        store: Store,
        name: str,
        fmt: Annotated[
            Literal["json", "csv", "pdf"],
            QueryParameter(
                name="format",
                description="json (default), csv (the courses) or pdf (printable).",
            ),
        ] = "json",
    ) -> Response[LearnerReport]:
        """One learner: progress and predicted completion per course, time per week,
        assessments, badges, certificates and when their devices last synced. A learner
        may see their own; instructors those of their groups' learners."""
        viewer = request.user.user
        if viewer.username != name and viewer.role not in ("instructor", "admin"):
            # Before the look-up: a learner learns nothing about other names.
            raise Forbidden("a learner sees only their own report")
        user = await store.user_by_name(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        await check_learner(store, viewer, user)
        report = await learner_report(store, user)
        if fmt == "pdf":
            return _file(learner_pdf(report), "application/pdf", f"learner-{_safe(name)}.pdf")
        return _answer(report, CourseLine, fmt, f"learner-{_safe(name)}")
