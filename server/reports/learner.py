"""One learner's report (``docs/reports.md``, "Learner report"): progress and predicted
completion per course, time per week, assessments, badges, certificates and how fresh the
data is; as JSON, CSV (the courses) and a printable PDF."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from server.reports.common import course_learners, prediction, week_label, week_sql
from server.reports.course import NEVER
from server.reports.freshness import Freshness, freshness
from server.reports.predict import Prediction
from server.reports.scope import Scope
from server.storage.store import Store, User


class CourseLine(msgspec.Struct, frozen=True):
    """The learner in one course they started; ``time_spent`` in seconds."""

    course: str
    title: str
    status: str
    percent: float
    lessons_completed: int
    lessons_total: int
    time_spent: int
    started_at: int | None
    completed_at: int | None
    last_activity_at: int | None
    projected: Prediction


class WeekTime(msgspec.Struct, frozen=True):
    """Seconds of lesson time the learner's devices reported in one ISO week (UTC)."""

    week: str
    seconds: int


class QuizLine(msgspec.Struct, frozen=True):
    course: str
    quiz: str
    attempts: int
    """Submitted attempts."""
    best_score: float | None
    passed: bool


class BadgeLine(msgspec.Struct, frozen=True):
    badge: str
    name: str
    points: int
    earned_at: int


class CertificateLine(msgspec.Struct, frozen=True):
    code: str
    kind: str
    ref: str
    title: str
    issued_at: int


class LearnerReport(msgspec.Struct, frozen=True):
    learner: str
    generated_at: int
    groups: list[str]
    freshness: Freshness
    weeks: list[WeekTime]
    assessments: list[QuizLine]
    badges: list[BadgeLine]
    certificates: list[CertificateLine]
    rows: list[CourseLine]


def _seconds_sql(dialect: str) -> str:
    """SQL for the ``seconds`` of a feed entry's JSON body, on each engine."""
    if dialect == "postgresql":
        return "COALESCE(CAST(CAST(f.body AS jsonb) ->> 'seconds' AS BIGINT), 0)"
    return "COALESCE(CAST(json_extract(f.body, '$.seconds') AS INTEGER), 0)"


def _due(groups: list[str | None], course_due: str | None) -> str | None:
    """The earliest due date of the learner's groups, else the course's."""
    dues = sorted(d for d in groups if d)
    return dues[0] if dues else course_due


async def learner_report(store: Store, learner: User) -> LearnerReport:
    """``learner``'s report (who may see it: :func:`server.reports.scope.check_learner`)."""
    catalog = await store.catalog()
    now = store.clock()
    scope = Scope(everyone=False, user=learner.id)
    groups = await store.groups(member=learner.id)
    lines: list[CourseLine] = []
    for course in catalog.courses:
        for row in await course_learners(store, scope, course, now):
            lines.append(
                CourseLine(
                    course.id,
                    course.title,
                    row.status,
                    row.percent,
                    row.pace.completed,
                    row.pace.total,
                    row.time_spent,
                    row.started_at,
                    row.completed_at,
                    row.last_activity_at,
                    prediction(row, now, _due([g.due for g in groups], course.due)),
                )
            )
    weeks = await store.engine.fetch(
        f"SELECT {week_sql('f.at')} AS week, SUM({_seconds_sql(store.engine.dialect)}) AS seconds"
        " FROM feed f WHERE f.user_id = ? AND f.origin = 'device' AND f.type = 'lesson.progressed'"
        " GROUP BY week ORDER BY week",
        learner.id,
    )
    quizzes = await store.engine.fetch(
        "SELECT q.course_id, q.quiz_id, COUNT(*) AS attempts, MAX(q.score) AS best,"
        " SUM(CASE WHEN q.passed AND q.counted THEN 1 ELSE 0 END) AS passes"
        " FROM quiz_attempts q WHERE q.user_id = ? AND q.status = 'scored'"
        " GROUP BY q.course_id, q.quiz_id ORDER BY q.course_id, q.quiz_id",
        learner.id,
    )
    badges = await store.engine.fetch(
        "SELECT badge_id, name, points, earned_at FROM user_badges WHERE user_id = ?"
        " ORDER BY earned_at, badge_id",
        learner.id,
    )
    certificates = await store.engine.fetch(
        "SELECT code, kind, ref, title, issued_at FROM certificates WHERE user_id = ?"
        " ORDER BY issued_at, code",
        learner.id,
    )
    fresh = await freshness(store, scope)
    return LearnerReport(
        learner=learner.username,
        generated_at=now,
        groups=[g.name for g in groups],
        freshness=fresh.get(learner.id, NEVER),
        weeks=[WeekTime(week_label(int(r["week"])), int(r["seconds"] or 0)) for r in weeks],
        assessments=[
            QuizLine(
                r["course_id"],
                r["quiz_id"],
                int(r["attempts"]),
                float(r["best"]) if r["best"] is not None else None,
                int(r["passes"] or 0) > 0,
            )
            for r in quizzes
        ],
        badges=[
            BadgeLine(r["badge_id"], r["name"], int(r["points"]), int(r["earned_at"]))
            for r in badges
        ],
        certificates=[
            CertificateLine(r["code"], r["kind"], r["ref"], r["title"], int(r["issued_at"]))
            for r in certificates
        ],
        rows=lines,
    )


def _when(at: int | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(at: int | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%d")


def learner_pdf(report: LearnerReport) -> bytes:
    """The report as a printable PDF (A4, fpdf2's core fonts: Latin-1 text only, anything
    else replaced)."""
    from fpdf import FPDF  # imported here: only this endpoint needs it

    def text(value: object) -> str:
        return str(value).encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF(format="A4")
    pdf.set_title(text(f"Learner report: {report.learner}"))
    pdf.set_creation_date(datetime.fromtimestamp(report.generated_at / 1000, UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, text(f"Learner report: {report.learner}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    lines = [
        f"Generated {_when(report.generated_at)}",
        f"Groups: {', '.join(report.groups) or '-'}",
        f"Last sync: {_when(report.freshness.last_sync_at)} ({report.freshness.devices} devices)",
    ]
    for line in lines:
        pdf.cell(0, 6, text(line), new_x="LMARGIN", new_y="NEXT")

    def table(title: str, head: list[str], body: list[list[str]]) -> None:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        if not body:
            pdf.cell(0, 6, "none", new_x="LMARGIN", new_y="NEXT")
            return
        with pdf.table(first_row_as_headings=True) as grid:
            for values in [head, *body]:
                row = grid.row()
                for value in values:
                    row.cell(text(value))

    table(
        "Courses",
        ["Course", "Status", "Percent", "Lessons", "Time (min)", "Projected", "Outlook"],
        [
            [
                c.title or c.course,
                c.status,
                f"{c.percent:.0f}",
                f"{c.lessons_completed}/{c.lessons_total}",
                f"{c.time_spent // 60}",
                _day(c.projected.projected_at),
                c.projected.outlook,
            ]
            for c in report.rows
        ],
    )
    table(
        "Time per week",
        ["Week", "Minutes"],
        [[w.week, f"{w.seconds // 60}"] for w in report.weeks],
    )
    table(
        "Assessments",
        ["Course", "Quiz", "Attempts", "Best score", "Passed"],
        [
            [
                q.course,
                q.quiz,
                str(q.attempts),
                "-" if q.best_score is None else f"{q.best_score:.0%}",
                "yes" if q.passed else "no",
            ]
            for q in report.assessments
        ],
    )
    table(
        "Badges",
        ["Badge", "Points", "Earned"],
        [[b.name or b.badge, str(b.points), _day(b.earned_at)] for b in report.badges],
    )
    table(
        "Certificates",
        ["Title", "Kind", "Code", "Issued"],
        [[c.title, c.kind, c.code, _day(c.issued_at)] for c in report.certificates],
    )
    return bytes(pdf.output())
