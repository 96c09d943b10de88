"""How the gamification commands look: pure functions from plain data to rich renderables
(and one PDF), so tests can render them into a recording console without a server.

Everything here fits :data:`MAX_WIDTH` columns; callers print with
``width=min(console.width, MAX_WIDTH)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Final

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from sync.gamify import BadgeView, Certificate, GamifyView, LevelView, StreakView

MAX_WIDTH: Final = 80
BAR_FULL: Final = "█"
BAR_EMPTY: Final = "░"
EIGHTHS: Final = " ▏▎▍▌▋▊▉"
"""Partial blocks, one eighth of a cell more each: the chart's last cell."""
FREEZE: Final = "❄"
DAY_LABEL: Final = 10  # "Sat 28 Mar"
MINUTES_LABEL: Final = 8  # "1440 min"


def day_of(ms: int, tz: tzinfo | None = None) -> str:
    """``2026-03-28``: the date of epoch ms ``ms`` in ``tz`` (default: this machine's)."""
    return datetime.fromtimestamp(ms / 1000, tz).date().isoformat()


def minutes(seconds: int) -> str:
    """``12 min``; ``<1 min`` for a few seconds, so a visible bar never says zero."""
    if 0 < seconds < 60:
        return "<1 min"
    return f"{seconds // 60} min"


def _duration(seconds: int) -> str:
    hours, mins = divmod(seconds // 60, 60)
    return f"{hours} h {mins} min" if hours else minutes(seconds)


# -- achievements -----------------------------------------------------------------------------


def level_bar(level: LevelView, width: int) -> Text:
    """``Level 2  ██████░░░░  45%  55 points to level 3`` in ``width`` columns; at the top
    level the bar is full and says so."""
    head = f"Level {level.level}  "
    if level.to_next is None:
        tail = "  top level"
        filled = bar = max(width - len(head) - len(tail), 1)
    else:
        tail = f"  {level.percent:>3}%  {level.to_next} points to level {level.level + 1}"
        bar = max(width - len(head) - len(tail), 1)
        filled = bar * level.percent // 100
    text = Text(head, style="bold")
    text.append(BAR_FULL * filled, style="green")
    text.append(BAR_EMPTY * (bar - filled), style="dim")
    text.append(tail)
    return text


def streak_line(streak: StreakView) -> Text:
    """Current and longest streak, freezes held as ❄ marks, and whether today counts yet."""
    days = "day" if streak.current == 1 else "days"
    text = Text("Streak   ", style="bold")
    text.append(f"{streak.current} {days}", style="bold yellow" if streak.current else "")
    text.append(f" (longest {streak.longest})  ")
    if streak.freezes:
        plural = "" if streak.freezes == 1 else "s"
        text.append(FREEZE * streak.freezes, style="cyan")
        text.append(f" {streak.freezes} freeze{plural}")
    else:
        text.append("no freezes", style="dim")
    if streak.active_today:
        text.append("  · active today", style="green")
    elif streak.current:
        text.append("  · learn today to keep it", style="yellow")
    return text


def badge_table(badges: Sequence[BadgeView], tz: tzinfo | None = None) -> Table:
    """Earned badges first with their date; then the others, dimmed, with what earns them."""
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column(no_wrap=True)  # mark
    table.add_column(overflow="fold", max_width=28)  # name
    table.add_column(overflow="fold")  # date or description
    table.add_column(no_wrap=True, justify="right")  # points
    ordered = sorted(badges, key=lambda b: (not b.earned, b.earned_at or 0))
    for badge in ordered:
        name = escape(badge.name or badge.id)
        points = f"+{badge.points}" if badge.points else ""
        if badge.earned and badge.earned_at is not None:
            table.add_row("[green]✓[/]", f"[bold]{name}[/]", day_of(badge.earned_at, tz), points)
        else:
            what = escape(badge.description) or "not earned yet"
            table.add_row("·", name, what, points, style="dim")
    return table


def certificate_table(certificates: Sequence[Certificate], tz: tzinfo | None = None) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column(overflow="fold")
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    for cert in certificates:
        title = f"{escape(cert.title or cert.ref)} [dim]({cert.kind})[/]"
        table.add_row(title, f"issued {day_of(cert.issued_at, tz)}", f"code [bold]{cert.code}[/]")
    return table


def time_chart(per_day: Sequence[tuple[str, int]], width: int) -> Text:
    """One line per day, ``Sat 28 Mar ████▌   12 min``: bars scaled so the busiest day
    fills the chart (eighths of a cell for the last one), in ``width`` columns."""
    bar = max(width - DAY_LABEL - MINUTES_LABEL - 2, 1)
    most = max((s for _, s in per_day), default=0)
    text = Text(no_wrap=True, overflow="crop")
    for i, (day, seconds) in enumerate(per_day):
        label = date.fromisoformat(day).strftime("%a %d %b")
        eighths = round(seconds * bar * 8 / most) if most else 0
        if seconds and not eighths:
            eighths = 1  # some time, however little, shows
        full, part = divmod(eighths, 8)
        drawn = BAR_FULL * full + (EIGHTHS[part] if part else "")
        if i:
            text.append("\n")
        text.append(f"{label:<{DAY_LABEL}} ", style="dim" if not seconds else "")
        text.append(f"{drawn:<{bar}}", style="cyan")
        text.append(f" {minutes(seconds):>{MINUTES_LABEL}}", style="" if seconds else "dim")
    return text


def achievements(
    view: GamifyView,
    per_day: Sequence[tuple[str, int]],
    *,
    user: str,
    width: int = MAX_WIDTH,
    tz: tzinfo | None = None,
) -> Group:
    """The whole ``waymark achievements`` screen."""
    parts: list[RenderableType] = [
        Text.assemble(
            (user, "bold"),
            f": {view.points} points, ",
            (f"{view.week_points}", "bold"),
            f" this week ({view.week})",
        ),
        level_bar(view.level, width),
        streak_line(view.streak),
        Text(""),
        Text("Badges", style="bold"),
    ]
    if view.badges:
        parts.append(badge_table(view.badges, tz))
    else:
        parts.append(Text("this catalog has no badges", style="dim"))
    parts += [Text(""), Text("Certificates", style="bold")]
    if view.certificates:
        parts.append(certificate_table(view.certificates, tz))
    else:
        parts.append(Text("none yet: complete a course or a path", style="dim"))
    total = sum(s for _, s in per_day)
    parts += [
        Text(""),
        Text.assemble(
            (f"Learning time, last {len(per_day)} days", "bold"), f" ({_duration(total)})"
        ),
        time_chart(per_day, width),
    ]
    return Group(*parts)


def achievements_json(
    view: GamifyView, per_day: Iterable[tuple[str, int]], *, user: str
) -> dict[str, Any]:
    """``waymark achievements --json``: the GamifyView's fields, the learner and the chart's
    data (``time_per_day``: ``[{"day", "seconds"}]``, oldest first)."""
    import msgspec

    return {
        "user": user,
        **msgspec.to_builtins(view),
        "time_per_day": [{"day": d, "seconds": s} for d, s in per_day],
    }


# -- leaderboards -----------------------------------------------------------------------------


def leaderboard(board: dict[str, Any], *, scope: str) -> Group:
    """The ranked table (the caller's row highlighted) and, when the caller is not among
    the rows shown, their own place under it."""
    title = Text.assemble(("Leaderboard ", "bold"), (str(board["week"]), "bold"), f" · {scope}")
    rows = board["rows"]
    if not rows:
        parts: list[RenderableType] = [title, Text("nobody has points on this board yet")]
    else:
        table = Table(box=None, pad_edge=False, header_style="bold", padding=(0, 2, 0, 0))
        table.add_column("rank", justify="right", no_wrap=True)
        table.add_column("learner", overflow="fold", max_width=50)
        table.add_column("points", justify="right", no_wrap=True)
        for row in rows:
            name = escape(str(row["user"])) + (" (you)" if row["you"] else "")
            style = "bold reverse" if row["you"] else ""
            table.add_row(str(row["rank"]), name, str(row["points"]), style=style)
        parts = [title, table]
    you = board.get("you")
    if you is None:
        parts.append(Text("you are not on this board", style="dim"))
    elif not any(row["you"] for row in rows):
        parts.append(Text(f"you: #{you['rank']} with {you['points']} points", style="bold"))
    return Group(*parts)


# -- certificates -----------------------------------------------------------------------------


def verification_url(found: dict[str, Any]) -> str:
    """The certificate's public verification link (its credential URL without the suffix)."""
    credential = str(found.get("credential", ""))
    return credential.removesuffix("/credential")


def certificate_panel(found: dict[str, Any], tz: tzinfo | None = None) -> Panel:
    """A verified certificate (``GET /v1/certificates/{code}``) as a panel."""
    kind = "learning path" if found["kind"] == "path" else "course"
    title = found["title"] or found["ref"]
    body = Table.grid(padding=(0, 2))
    body.add_column(style="dim", no_wrap=True)
    body.add_column(overflow="fold")
    body.add_row("", f"[bold]{escape(title)}[/]")
    body.add_row("learner", f"[bold]{escape(found['learner'])}[/]")
    body.add_row(kind, escape(found["ref"]))
    body.add_row("issued", day_of(found["issued_at"], tz))
    body.add_row("code", found["code"])
    body.add_row("issuer", escape(found["issuer"]))
    if found["valid"]:
        body.add_row("", "[bold green]verified ✓[/] by the issuer's server")
    else:
        body.add_row("", "[bold red]NOT valid ✗[/]")
    # The URL gets a line of its own, the panel's full width, so it is rarely broken.
    body.add_row("credential", "the signed Open Badges 3.0 form is at")
    url = Text(str(found["credential"]), overflow="fold", style=Style(link=found["credential"]))
    return Panel(
        Group(body, url),
        title="Certificate of completion",
        border_style="green" if found["valid"] else "red",
        expand=False,
    )


def _latin1(text: str) -> str:
    """The PDF's built-in fonts cover Latin-1 only; other characters print as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def certificate_pdf(found: dict[str, Any], *, compress: bool = True) -> bytes:
    """A one-page landscape A4 certificate for a verified certificate; its metadata title
    names the course or path and the learner."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    kind = "learning path" if found["kind"] == "path" else "course"
    title = str(found["title"] or found["ref"])
    learner = str(found["learner"])
    issued = datetime.fromtimestamp(found["issued_at"] / 1000).strftime("%d %B %Y")
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_compression(compress)
    pdf.set_title(f"Certificate: {title}, {learner}")
    pdf.set_author(str(found["issuer"]))
    pdf.set_subject(f"{kind} {found['ref']}, verification code {found['code']}")
    pdf.set_keywords(str(found["code"]))
    pdf.set_creator("Waymark")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    width, height = pdf.w, pdf.h
    pdf.set_draw_color(40, 90, 60)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, width - 20, height - 20)
    pdf.set_line_width(0.3)
    pdf.rect(14, 14, width - 28, height - 28)

    def line(text: str, size: float, style: str = "", gap: float = 4) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.multi_cell(0, size * 0.5, _latin1(text), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    pdf.set_margins(30, 30, 30)
    pdf.set_y(36)
    pdf.set_text_color(40, 90, 60)
    line("CERTIFICATE OF COMPLETION", 30, "B", 10)
    pdf.set_text_color(30, 30, 30)
    line("This certifies that", 14)
    line(learner, 30 if len(learner) <= 30 else 18, "B", 6)
    line(f"has completed the {kind}", 14)
    line(title, 22 if len(title) <= 60 else 14, "B", 10)
    line(f"Issued on {issued} by {found['issuer']}", 13)
    pdf.set_y(height - 44)
    pdf.set_text_color(90, 90, 90)
    line(f"Verification code: {found['code']}", 12, "B", 2)
    line(f"Verify at {verification_url(found)}", 10, "", 0)
    return bytes(pdf.output())


def write_certificate_pdf(found: dict[str, Any], path: Path) -> None:
    """Write :func:`certificate_pdf` to ``path``; raises OSError."""
    path.write_bytes(certificate_pdf(found))
