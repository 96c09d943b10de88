"""How progress reads on screen: plain functions over :mod:`sync.views` data.

No rule of progress is decided here (that is ``sync/``); these only pick and format what
the views already say, so every screen words things the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual.markup import escape

from client.journal import Account
from sync.catalog import Catalog, CompletionRule
from sync.gamify import BadgeView, GamifyView, Ranked, StreakView
from sync.merge.decide import ACTIVE, TRANSITIONS
from sync.views import (
    AssignmentView,
    CourseView,
    LearnerView,
    LessonView,
    MilestoneView,
    PathView,
    QuizView,
)
from tui.state import Board

# A mark before every status so it reads without colour (light, dark, monochrome).
MARKS: Final = {
    "completed": "✓",
    "passed": "✓",
    "graded": "✓",
    "mastered": "✓",
    "in_progress": "◐",
    "submitted": "…",
    "draft": "◐",
    "enrolled": "◐",
    "available": "○",
    "not_started": "○",
    "not_enrolled": "○",
    "locked": "⊘",
    "paused": "‖",
    "failed": "✗",
    "dropped": "✗",
}
# Theme variables, so colours follow the light or dark theme.
COLOURS: Final = {
    "completed": "$success",
    "passed": "$success",
    "graded": "$success",
    "mastered": "$success",
    "in_progress": "$warning",
    "submitted": "$warning",
    "draft": "$warning",
    "enrolled": "$warning",
    "available": "$accent",
    "failed": "$error",
    "dropped": "$error",
}
OFFLINE_ATTEMPT: Final = "submitted, scored when online"
CHART_DAYS: Final = 14
RECENT_BADGES: Final = 3
OFFLINE_BOARD: Final = "leaderboard needs the server — offline"
# What each path action asks the server for: the event, its key, and the state it aims at.
PATH_ACTIONS: Final = (
    ("path.enrolled", "enroll", "enrolled"),
    ("path.paused", "pause", "paused"),
    ("path.resumed", "resume", "in_progress"),
    ("path.dropped", "drop", "dropped"),
)


def words(status: str) -> str:
    return status.replace("_", " ")


def marked(status: str) -> str:
    """``✓ completed`` in the status's theme colour (Textual content markup)."""
    text = f"{MARKS.get(status, '·')} {words(status)}"
    colour = COLOURS.get(status)
    return f"[{colour}]{text}[/]" if colour else f"[$text-muted]{text}[/]"


def zone(account: Account) -> ZoneInfo | None:
    try:
        return ZoneInfo(account.timezone) if account.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def when(ms: int | None, account: Account, *, seconds: bool = False) -> str:
    """An epoch-ms time in the learner's zone (UTC if unknown); "never" for None."""
    if ms is None:
        return "never"
    moment = datetime.fromtimestamp(ms / 1000, tz=zone(account) or UTC)
    return moment.strftime("%b %d %H:%M:%S" if seconds else "%b %d %H:%M")


def percent(value: float) -> int:
    """The one rounding rule for every percent on screen: down to a whole number, so 100%
    means done and "90%" never shows before a 90% threshold is met. (A hair above the
    floor is forgiven: 0.29 * 100 is 28.999999999999996 in floating point.)"""
    return max(0, math.floor(value + 1e-9))


def span(seconds: int) -> str:
    """``45 s``, ``5 min``, ``2 min 30 s``, ``1 h 30 min``: a length of time in words."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not (hours or minutes) else "")
    return " ".join(p for p in parts if p)


def completion_words(rule: str) -> str:
    """A lesson's completion rule (:class:`sync.catalog.CompletionRule`) in words."""
    try:
        parsed = CompletionRule.parse(rule)
    except ValueError:
        return f"completes when {rule}"  # a rule from a newer catalog: show it as it is
    match parsed.kind:
        case "manual":
            return "completes when you mark it complete"
        case "viewed":
            return "completes when opened"
        case "watched":
            return f"completes at {parsed.threshold}% watched"
        case "time":
            return f"completes after {span(parsed.threshold)} in the lesson"


def duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class QuizStanding:
    """What a learner may do next on a quiz, as this device knows it: ``pending``
    attempts are submitted but not scored yet (offline) and already count against
    ``left``; ``cooling_until`` is when the next attempt may start (after a pending
    attempt, a hint from the catalog's cool-down: the server decides)."""

    left: int | None
    pending: int
    cooling_until: int | None

    @property
    def why_not(self) -> str:
        """Why no attempt can start now ("" when one can)."""
        if self.left == 0:
            if self.pending:
                return f"No attempts left: {plural(self.pending, 'attempt')} waiting to be scored"
            return "No attempts left"
        if self.cooling_until is not None:
            return "Cool-down: wait until it ends"
        return ""


def quiz_standing(view: QuizView, cooldown_seconds: int, now_ms: int) -> QuizStanding:
    pending = [a for a in view.attempts if a.status == "submitted"]
    left = None if view.attempts_left is None else max(0, view.attempts_left - len(pending))
    ends = [view.cooldown_until] if view.cooldown_until is not None else []
    if cooldown_seconds:
        ends += [a.submitted_at + cooldown_seconds * 1000 for a in pending if a.submitted_at]
    until = max(ends, default=None)
    return QuizStanding(left, len(pending), until if until is not None and until > now_ms else None)


def countdown(until_ms: int, now_ms: int) -> str:
    """``0:42`` (rounded up to the second) until ``until_ms``."""
    return duration(-(-(until_ms - now_ms) // 1000))


@dataclass(frozen=True)
class CourseRef:
    course: str


@dataclass(frozen=True)
class PathRef:
    path: str


@dataclass(frozen=True)
class LessonRef:
    course: str
    lesson: str


@dataclass(frozen=True)
class QuizRef:
    course: str
    quiz: str


@dataclass(frozen=True)
class AssignmentRef:
    course: str
    assignment: str


@dataclass(frozen=True)
class AchievementsRef:
    """The learner's achievements screen."""


@dataclass(frozen=True)
class ContinueAt:
    """Where "continue" takes the learner (:func:`continue_at`)."""

    course: CourseView
    lesson: LessonView
    module_title: str


def continue_at(view: LearnerView) -> ContinueAt | None:
    """Where the learner left off: the lesson they were in last, while it is not finished;
    once it is, the next unfinished lesson of that course (in catalog order, then from the
    top); when that course is done, the most recent lesson in progress elsewhere."""
    lessons = [
        ContinueAt(course, lesson, module.title)
        for course in view.courses
        for module in course.modules
        for lesson in module.lessons
    ]

    def latest(found: list[ContinueAt]) -> ContinueAt | None:
        return max(found, key=lambda c: c.lesson.last_activity_at or 0, default=None)

    last = latest([c for c in lessons if c.lesson.last_activity_at])
    if last is None:
        return None
    if last.lesson.status != "completed":
        return last
    same = [c for c in lessons if c.course.id == last.course.id]
    here = same.index(last)
    for following in same[here + 1 :] + same[:here]:
        if following.lesson.status != "completed":
            return following
    return latest([c for c in lessons if c.lesson.status == "in_progress"])


def lesson_percent(lesson: LessonView) -> int:
    """Watched percent for videos, else 0/100 by status (a page has no finer measure)."""
    if lesson.status == "completed":
        return 100
    return percent(lesson.watched_percent)


@dataclass(frozen=True)
class Totals:
    """Courses and lessons done out of all the catalog has (the dashboard's line)."""

    courses_done: int
    courses: int
    lessons_done: int
    lessons: int


def catalog_totals(view: LearnerView) -> Totals:
    """Totals over every course of the catalog. (``view.summary`` counts only courses the
    learner started or is enrolled in, the seeds' UserProgress: a new learner would read
    "0/0 courses" while the catalog has some.)"""
    lessons = [x for c in view.courses for m in c.modules for x in m.lessons]
    return Totals(
        sum(1 for c in view.courses if c.status == "completed"),
        len(view.courses),
        sum(1 for x in lessons if x.status == "completed"),
        len(lessons),
    )


def _in_modules(view: LearnerView, course: str, part: str, item: str) -> Any:
    """Item ``item`` of the modules' ``part`` (lessons, quizzes, assignments) in ``course``."""
    for c in view.courses:
        if c.id == course:
            for module in c.modules:
                for found in getattr(module, part):
                    if found.id == item:
                        return found
    return None


def find_lesson(view: LearnerView, course: str, lesson: str) -> LessonView | None:
    found: LessonView | None = _in_modules(view, course, "lessons", lesson)
    return found


def find_quiz(view: LearnerView, course: str, quiz: str) -> QuizView | None:
    found: QuizView | None = _in_modules(view, course, "quizzes", quiz)
    return found


def find_assignment(view: LearnerView, course: str, assignment: str) -> AssignmentView | None:
    found: AssignmentView | None = _in_modules(view, course, "assignments", assignment)
    return found


def find_course(view: LearnerView, course: str) -> CourseView | None:
    return next((c for c in view.courses if c.id == course), None)


def milestones_of(view: LearnerView, course: str) -> list[tuple[str, MilestoneView]]:
    """``(path title, milestone)`` for every path milestone in ``course``."""
    return [(p.title, m) for p in view.paths for m in p.milestones if m.course == course]


def lesson_text(catalog: Catalog | None, course: str, lesson: str) -> tuple[str, str, int]:
    """``(kind, markdown text, duration)`` of a catalog lesson; ("page", "", 0) if unknown."""
    found = catalog.lesson(course, lesson) if catalog else None
    if found is None:
        return "page", "", 0
    return found.kind, found.text, found.duration


def find_path(view: LearnerView, path: str) -> PathView | None:
    return next((p for p in view.paths if p.id == path), None)


def path_actions(status: str) -> list[tuple[str, str]]:
    """``(event type, action)`` a learner may ask for on a path in ``status``; the server
    decides (``sync.merge.decide``), so this only hides what it would refuse anyway."""
    current = "none" if status == "not_enrolled" else status
    allowed = TRANSITIONS.get(current, frozenset())
    offered = []
    for type_, action, target in PATH_ACTIONS:
        if action == "enroll":
            ok = target in allowed and current not in ACTIVE
        elif action == "resume":
            ok = current == "paused"
        else:
            ok = target in allowed
        if ok:
            offered.append((type_, action))
    return offered


# -- achievements ---------------------------------------------------------------------------


def bar(percent: int, width: int) -> str:
    """A text progress bar in theme colours (content markup)."""
    filled = max(0, min(width, percent * width // 100))
    return f"[$accent]{'█' * filled}[/][$text-muted]{'░' * (width - filled)}[/]"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def level_line(view: GamifyView, width: int = 20) -> str:
    """``[b]135 points[/b] · Level 2 ███░░ 45% · 115 points to level 3``."""
    level = view.level
    head = f"[b]{plural(view.points, 'point')}[/b] · Level {level.level}"
    if level.to_next is None:
        return f"{head} · top level"
    return (
        f"{head} {bar(level.percent, width)} {level.percent}% · "
        f"{plural(level.to_next, 'point')} to level {level.level + 1}"
    )


def streak_line(streak: StreakView) -> str:
    """``Streak 3 days · longest 5 · ❄ 1 freeze``."""
    parts = [f"Streak {plural(streak.current, 'day')}", f"longest {streak.longest}"]
    if streak.freezes:
        parts.append(f"❄ {plural(streak.freezes, 'freeze')}")
    if streak.current and not streak.active_today:
        parts.append("[$warning]learn today to keep it[/]")
    return " · ".join(parts)


def recent_badges(view: GamifyView, count: int = RECENT_BADGES) -> list[BadgeView]:
    earned = [b for b in view.badges if b.earned]
    return sorted(earned, key=lambda b: b.earned_at or 0, reverse=True)[:count]


def gamify_line(view: GamifyView) -> str:
    """The dashboard's one line: points, level, streak."""
    level = view.level
    parts = [
        f"[b]{plural(view.points, 'point')}[/b]",
        f"Level {level.level} {bar(level.percent, 10)}",
        f"streak {plural(view.streak.current, 'day')}",
    ]
    if view.streak.freezes:
        parts.append(f"❄ {view.streak.freezes}")
    return " · ".join(parts)


def badges_line(view: GamifyView, account: Account) -> str:
    recent = recent_badges(view)
    if not recent:
        return "[$text-muted]Recent badges: none yet[/]"
    shown = [f"✓ {escape(b.name or b.id)} ({day(b.earned_at, account)})" for b in recent]
    return "Recent badges: " + " · ".join(shown)


def day(ms: int | None, account: Account) -> str:
    """``Nov 22`` in the learner's zone ("" for None)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=zone(account) or UTC).strftime("%b %d")


def badge_lines(view: GamifyView, account: Account) -> list[str]:
    """Earned badges (newest first) with their date, then the rest dimmed with what earns
    them."""
    if not view.badges:
        return ["[$text-muted]This catalog has no badges.[/]"]
    lines = [
        f"[$success]✓[/] [b]{escape(b.name or b.id)}[/b] · {day(b.earned_at, account)}"
        for b in recent_badges(view, len(view.badges))
    ]
    for badge in view.badges:
        if not badge.earned:
            text = escape(badge.name or badge.id)
            about = f": {escape(badge.description)}" if badge.description else ""
            lines.append(f"[$text-muted]○ {text}{about}[/]")
    return lines


def certificate_lines(view: GamifyView, account: Account) -> list[str]:
    if not view.certificates:
        return ["[$text-muted]No certificates yet.[/]"]
    return [
        f"🎓 [b]{escape(c.title or c.ref)}[/b] · {day(c.issued_at, account)}\n"
        f"   code [b]{escape(c.code)}[/b]"
        for c in view.certificates
    ]


def _ranked(row: Ranked) -> str:
    text = f"{row.rank:>2}. {escape(row.user[:14]):<14} {row.points:>6}"
    return f"[b $accent]{text} ◀ you[/]" if row.you else text


def board_lines(board: Board, account: Account) -> list[str]:
    """The weekly leaderboard as last fetched, and why it is not fresh (offline, error)."""
    lines = []
    if board.offline:
        lines.append(f"[$warning]{OFFLINE_BOARD}[/]")
    elif board.error:
        lines.append(f"[$error]{escape(board.error)}[/]")
    elif board.loading and board.board is None:
        lines.append("[$text-muted]fetching…[/]")
    held = board.board
    if held is None:
        return lines
    if board.offline or board.error:
        lines.append(f"[$text-muted]last fetched {when(board.fetched_at, account)}:[/]")
    if not held.rows:
        lines.append("No points this week yet.")
    lines += [_ranked(row) for row in held.rows]
    if held.you is not None and not any(row.you for row in held.rows):
        lines += [" …", _ranked(held.you)]
    return lines


BLOCKS: Final = " ▁▂▃▄▅▆▇█"


def day_chart(
    days: list[tuple[str, int]], *, height: int = 3, column: int = 4, width: int | None = None
) -> list[str]:
    """A bar chart of seconds per day: a title, ``height`` rows of bars (eighth blocks)
    with a y-axis (the top row's time and 0), and a label row (weekday and day of month),
    oldest day left. ``width`` (cells): columns widen to fill it, at least ``column``."""
    total = sum(s for _, s in days)
    peak = max((s for _, s in days), default=0)
    title = f"[b]Time per day[/b], last {len(days)} days · total {duration(total)}"
    if peak:
        title += f" · most in a day {duration(peak)}"
    height = max(1, height)
    ticks = {height - 1: duration(peak) if peak else "0:00", 0: "0"}
    axis = max(len(t) for t in ticks.values())
    if width is not None and days:
        column = max(column, (width - axis - 2) // len(days) - 1)
    rows = []
    steps = height * 8
    # Any time at all shows at least an eighth, so a short day is not mistaken for none.
    sizes = [max(1, s * steps // peak) if s and peak else 0 for _, s in days]
    for level in range(height - 1, -1, -1):
        cells = [BLOCKS[max(0, min(8, size - level * 8))] * column for size in sizes]
        tick = ticks.get(level, "")
        scale = f"[$text-muted]{tick.rjust(axis)} {'┤' if tick else '│'}[/]"
        rows.append(scale + "[$primary]" + " ".join(cells) + "[/]")
    labels = []
    for iso, _ in days:
        moment = date.fromisoformat(iso)
        labels.append(f"{moment.strftime('%a')[:2]}{moment.day:02d}"[:column].ljust(column))
    if labels:
        labels[-1] = f"[b]{labels[-1]}[/b]"
    return [title, *rows, "[$text-muted]" + " " * (axis + 2) + " ".join(labels) + "[/]"]
