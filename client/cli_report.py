"""``waymark report``: the server's reports (``docs/reports.md``) in the terminal.

Each subcommand asks one ``/v1/reports/…`` endpoint with the signed-in instructor's or
admin's token and shows it: the report's figures as a summary, each list of rows as a
table, and its series (funnels, weeks, score distributions) as bar charts. ``--json``
prints the server's JSON, ``--csv`` its CSV (the same rows), ``report learner --pdf FILE``
saves the printable PDF.

Reports need the server (exit 3 when it cannot be reached) and a staff account (exit 4 for
a learner, or an instructor asking for a group they do not teach).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from client.cli_common import (
    Command,
    Failure,
    Group,
    OneLineUsageError,
    home_option,
    print_json,
    run_device,
    user_option,
)

if TYPE_CHECKING:
    from rich.console import Console

    from client.api import Device

CHART_WIDTH: Final = 40
"""Columns of the longest bar."""
MAX_ROWS: Final = 200
"""Rows of a table shown before "… N more" (``--csv`` and ``--json`` give them all)."""
SERIES: Final = ("funnel", "weeks", "weekly", "days", "daily", "periods", "distribution", "bins")
"""Lists of rows drawn as bar charts (by their name's last word) as well as tabled."""


def _date(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise OneLineUsageError(f"--{name} {value!r}: use a date as YYYY-MM-DD") from None


def _path(*parts: str) -> str:
    return "/v1/reports/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)


def _fetch(
    home: Path, path: str, query: dict[str, str | None], fmt: str | None, user: str | None
) -> Any:
    async def work(device: Device) -> Any:
        return await device.report(path, query, fmt=fmt, user=user)

    return run_device(home, work)


def _zone(report: dict[str, Any]) -> tzinfo:
    from sync.gamify import zone

    return zone(str(report.get("timezone") or "UTC"))


def _cell(key: str, value: Any, tz: tzinfo) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_at") and isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        if "percent" in key:
            return f"{value:.0f}%"
        if key in ("facility", "discrimination") or key.endswith(("_rate", "score")):
            return f"{value:.2f}"
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(k, v, tz)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(key, v, tz) for v in value)
    return str(value)


NESTED: Final = {
    "freshness": ("state", "last_sync_at"),
    "projected": ("outlook", "projected_at"),
}
"""What a table cell shows of a nested object (``--json``/``--csv`` give all of it)."""


def _nested(key: str, value: dict[str, Any], tz: tzinfo) -> str:
    shown = NESTED.get(key, tuple(value))
    return " ".join(_cell(k, value.get(k), tz) for k in shown if value.get(k) is not None)


def _flat(row: dict[str, Any], tz: tzinfo) -> dict[str, str]:
    """A row's cells as text; a nested object (a learner's freshness) in one cell."""
    return {
        key: _nested(key, value, tz) if isinstance(value, dict) else _cell(key, value, tz)
        for key, value in row.items()
    }


def _numbers(rows: Sequence[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """A series' label column and its numeric columns."""
    first = rows[0]
    label = next((k for k, v in first.items() if isinstance(v, str)), None)
    numeric = [
        k
        for k, v in first.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and not k.endswith("_at")
    ]
    return label, numeric


def chart(title: str, rows: Sequence[dict[str, Any]], tz: tzinfo) -> Any:
    """Bars of a series' first numeric column (a second one, if any, shown beside), with
    the scale in the title: a text chart, readable without colour."""
    from rich.table import Table

    label, numeric = _numbers(rows)
    if not numeric:
        return None
    key = numeric[0]
    top = max((float(r.get(key) or 0) for r in rows), default=0.0)
    out = Table(title=f"{title}: {key} (█ = {top / CHART_WIDTH:,.2g})" if top else title)
    out.add_column(label or "", no_wrap=True)
    out.add_column(key, no_wrap=True)
    for extra in numeric[1:2]:
        out.add_column(extra, justify="right")
    for row in rows:
        value = float(row.get(key) or 0)
        bar = "█" * round(value / top * CHART_WIDTH) if top else ""
        cells = [str(row.get(label, "")) if label else "", f"{bar} {_cell(key, row.get(key), tz)}"]
        cells += [_cell(extra, row.get(extra), tz) for extra in numeric[1:2]]
        out.add_row(*cells)
    return out


def table(title: str, rows: Sequence[dict[str, Any]], tz: tzinfo) -> Any:
    from rich.table import Table

    flat = [_flat(r, tz) for r in rows]
    columns: list[str] = []
    for row in flat:
        columns += [k for k in row if k not in columns]
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column.replace("_", " "), overflow="fold")
    for row in flat[:MAX_ROWS]:
        out.add_row(*(row.get(c, "—") for c in columns))
    return out


def render(console: Console, report: dict[str, Any]) -> None:
    """A report's figures, tables and charts, in the report's order."""
    tz = _zone(report)
    summary = {
        k: v for k, v in report.items() if not isinstance(v, list) and k not in ("timezone",)
    }
    for key, value in summary.items():
        console.print(f"[bold]{key.replace('_', ' ')}[/bold]: {_cell(key, value, tz)}")
    for key, value in report.items():
        if not isinstance(value, list):
            continue
        title = key.replace("_", " ")
        if not value:
            console.print(f"{title}: none")
            continue
        if not all(isinstance(v, dict) for v in value):
            console.print(f"{title}: {_cell(key, value, tz)}")
            continue
        if key.split("_")[-1] in SERIES:
            drawn = chart(title, value, tz)
            if drawn is not None:
                console.print(drawn)
                continue
        console.print(table(title, value, tz))
        if len(value) > MAX_ROWS:
            console.print(f"… {len(value) - MAX_ROWS:,} more rows (--csv gives them all)")


def _show(home: Path, path: str, query: dict[str, str | None], out: str, user: str | None) -> None:
    if out == "csv":
        click.echo(_fetch(home, path, query, "csv", user), nl=False)
        return
    report = _fetch(home, path, query, None, user)
    if out == "json":
        print_json(report)
        return
    from rich.console import Console

    render(Console(), report)


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--group", default=None, help="Only this group's learners."),
            click.option("--since", default=None, help="From this day (YYYY-MM-DD)."),
            click.option("--until", default=None, help="Up to this day (YYYY-MM-DD)."),
            click.option("--json", "out", flag_value="json", help="Print the server's JSON."),
            click.option("--csv", "out", flag_value="csv", help="Print the report's rows as CSV."),
            user_option,
            home_option,
        ]
    ):
        command = option(command)
    return command


def _query(
    group: str | None, since: str | None, until: str | None, **more: Any
) -> dict[str, str | None]:
    return {
        "group": group,
        "since": _date(since, "since"),
        "until": _date(until, "until"),
        **{k: None if v is None else str(v) for k, v in more.items()},
    }


@click.group(cls=Group)
def report() -> None:
    """Reports of courses, quizzes, paths, groups and learners (instructors and admins;
    needs the server)."""


@report.command(cls=Command)
@click.argument("course")
@click.option("--module", default=None, help="Drill down: one module's lessons.")
@_common
def course(
    course: str,
    module: str | None,
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """A course: learners x modules (or a --module's lessons), the funnel, completion."""
    parts = (course, "modules", module) if module else (course,)
    _show(home, _path("courses", *parts), _query(group, since, until), out or "", user)


@report.command(cls=Command)
@click.argument("course")
@click.argument("quiz", required=False)
@_common
def quiz(
    course: str,
    quiz: str | None,
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """A quiz's attempts and questions (facility, discrimination), or every quiz of COURSE."""
    parts = (course, "quizzes", quiz) if quiz else (course, "quizzes")
    _show(home, _path("courses", *parts), _query(group, since, until), out or "", user)


@report.command(cls=Command)
@click.argument("path")
@click.option(
    "--stuck-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Stuck: no progress on a milestone for this many days [default: 7].",
)
@_common
def path(
    path: str,
    stuck_days: int | None,
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """A learning path: enrollments, the milestone funnel and velocity, who is stuck."""
    query = _query(group, since, until, stuck_days=stuck_days)
    _show(home, _path("paths", path), query, out or "", user)


@report.command(cls=Command)
@click.argument("group_name", metavar="GROUP")
@_common
def group(
    group_name: str,
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """A group: each course's completion, activity and who is at risk."""
    if group is not None:
        raise OneLineUsageError("report group takes the group as its argument, not --group")
    _show(home, _path("groups", group_name), _query(None, since, until), out or "", user)


@report.command(cls=Command)
@click.argument("name")
@click.option(
    "--pdf",
    "pdf",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the printable PDF to this file.",
)
@_common
def learner(
    name: str,
    pdf: Path | None,
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """One learner: progress per course, time per week, assessments, awards."""
    query = _query(group, since, until)
    if pdf is not None:
        data = _fetch(home, _path("learners", name), query, "pdf", user)
        try:
            pdf.write_bytes(data)
        except OSError as err:
            raise Failure(f"cannot write {pdf}: {err.strerror or err}") from None
        click.echo(f"saved {pdf} ({len(data):,} bytes)")
        return
    _show(home, _path("learners", name), query, out or "", user)


@report.command(cls=Command)
@_common
def competencies(
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """Learners x competencies, and the mastery rate of each objective."""
    _show(home, _path("competencies"), _query(group, since, until), out or "", user)


@report.command(cls=Command)
@click.option("--course", "course_id", default=None, help="Only this course.")
@click.option("--by", type=click.Choice(["day", "week"]), default="week", show_default=True)
@_common
def engagement(
    course_id: str | None,
    by: str,
    group: str | None,
    since: str | None,
    until: str | None,
    out: str | None,
    user: str | None,
    home: Path,
) -> None:
    """Time spent per day or week, per course, and active learners."""
    query = _query(group, since, until, course=course_id, by=by)
    _show(home, _path("engagement"), query, out or "", user)
