"""How progress reads on screen: plain functions over :mod:`sync.views` data.

No rule of progress is decided here (that is ``sync/``); these only pick and format what
the views already say, so every screen words things the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from client.journal import Account
from sync.catalog import Catalog
from sync.views import CourseView, LearnerView, LessonView, MilestoneView, QuizView

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
EXTRAS: Final = ("points", "level", "streak", "badges")


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


def duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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
class ContinueAt:
    """The most recent lesson in progress: where "continue" takes the learner."""

    course: CourseView
    lesson: LessonView
    module_title: str


def continue_at(view: LearnerView) -> ContinueAt | None:
    found = [
        ContinueAt(course, lesson, module.title)
        for course in view.courses
        for module in course.modules
        for lesson in module.lessons
        if lesson.status == "in_progress"
    ]
    return max(found, key=lambda c: c.lesson.last_activity_at or 0, default=None)


def lesson_percent(lesson: LessonView) -> int:
    """Watched percent for videos, else 0/100 by status (a page has no finer measure)."""
    if lesson.status == "completed":
        return 100
    return int(lesson.watched_percent)


def find_lesson(view: LearnerView, course: str, lesson: str) -> LessonView | None:
    return next(
        (
            x
            for c in view.courses
            if c.id == course
            for m in c.modules
            for x in m.lessons
            if x.id == lesson
        ),
        None,
    )


def find_quiz(view: LearnerView, course: str, quiz: str) -> QuizView | None:
    return next(
        (
            q
            for c in view.courses
            if c.id == course
            for m in c.modules
            for q in m.quizzes
            if q.id == quiz
        ),
        None,
    )


def find_course(view: LearnerView, course: str) -> CourseView | None:
    return next((c for c in view.courses if c.id == course), None)


def milestones_of(view: LearnerView, course: str) -> list[tuple[str, MilestoneView]]:
    """``(path title, milestone)`` for every path milestone in ``course``."""
    return [(p.title, m) for p in view.paths for m in p.milestones if m.course == course]


def path_course(view: LearnerView, path_id: str) -> str | None:
    """The course of the path's first milestone not completed (else its last)."""
    path = next((p for p in view.paths if p.id == path_id), None)
    if path is None or not path.milestones:
        return None
    step = next((m for m in path.milestones if m.status != "completed"), path.milestones[-1])
    return step.course


def extras(status: dict[str, Any]) -> str:
    """Points, level, streak and badges, only those the status has (a later issue adds them)."""
    parts = []
    for key in EXTRAS:
        value = status.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            names = [
                str(v.get("name") or v.get("id")) if isinstance(v, dict) else str(v) for v in value
            ]
            parts.append(f"{key.title()}: {', '.join(names) or 'none'}")
        elif isinstance(value, dict):
            shown = value.get("current", value.get("days", value.get("level", "")))
            parts.append(f"{key.title()} {shown}")
        else:
            parts.append(f"{key.title()} {value}")
    return " · ".join(parts)


def lesson_text(catalog: Catalog | None, course: str, lesson: str) -> tuple[str, str, int]:
    """``(kind, markdown text, duration)`` of a catalog lesson; ("page", "", 0) if unknown."""
    found = catalog.lesson(course, lesson) if catalog else None
    if found is None:
        return "page", "", 0
    return found.kind, found.text, found.duration
