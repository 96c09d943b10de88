"""How ``waymark status`` draws a learner's progress (rich), loaded only by that command."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from client.cli import STYLES, _attempt, _attempt_name, _percent, _when
from sync.gamify import zone as learner_zone


def render(view: dict[str, Any], console: Console, now_ms: int) -> None:
    synced, tz = view["synced_at"], learner_zone(view["timezone"])
    console.print(
        f"[bold]{escape(view['user'])}[/]: {view['pending']} pending, "
        f"last sync {_when(synced, tz=tz) if synced else 'never'}"
    )
    if not view["courses"]:
        console.print("no catalog on this device yet: run waymark sync")
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(overflow="fold")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for course in view["courses"]:
        table.add_row(_name(course, 0, "bold"), *_state(course["status"], f"{course['percent']}%"))
        for module in course["modules"]:
            table.add_row(_name(module, 1), *_state(module["status"], f"{module['percent']}%"))
            for lesson in module["lessons"]:
                table.add_row(_name(lesson, 2, "dim"), *_state(lesson["status"], _details(lesson)))
            for quiz in module["quizzes"]:
                _quiz_rows(table, quiz, now_ms, tz)
            for item in module["assignments"]:
                name = _name(item, 2, label="assignment: ")
                table.add_row(name, *_state(item["status"], _assignment(item)))
    if view["paths"]:
        table.add_row("", "", "")
        table.add_row("[bold]Paths[/]", "", "")
        for path in view["paths"]:
            table.add_row(_name(path, 0), *_state(path["status"], f"{path['percent']}%"))
            for step in path["milestones"]:
                table.add_row(_name(step, 1), *_state(step["status"], ""))
    if view["competencies"]:
        table.add_row("", "", "")
        table.add_row("[bold]Competencies[/]", "", "")
        for skill in view["competencies"]:
            name = _name({"title": skill["name"], "id": skill["id"]}, 0)
            table.add_row(name, *_state(skill["status"], f"level {skill['level']}%"))
    console.print(table)
    console.print(_summary(view["summary"]))
    for event in view["rejected"]:
        console.print(
            f"[red]rejected[/] #{event['seq']} {escape(event['type'])}: "
            f"{escape(event['code'])}: {escape(event['reason'])}"
        )


def _quiz_rows(table: Table, quiz: dict[str, Any], now_ms: int, tz: tzinfo) -> None:
    parts = []
    if quiz["best_score"] is not None:
        parts.append(f"best {_percent(quiz['best_score'])}")
    if quiz["attempts_left"] is not None:
        left = quiz["attempts_left"]
        parts.append(f"{left} attempt{'' if left == 1 else 's'} left")
    if quiz["cooldown_until"] and quiz["cooldown_until"] > now_ms:
        parts.append(f"cool-down until {_when(quiz['cooldown_until'], now_ms, tz)}")
    table.add_row(_name(quiz, 2, label="quiz: "), *_state(quiz["status"], ", ".join(parts)))
    for attempt in quiz["attempts"]:
        name = _name({"title": _attempt_name(attempt)}, 3)
        table.add_row(name, "", escape(_attempt(attempt)))


def _assignment(item: dict[str, Any]) -> str:
    parts = []
    if item["score"] is not None:
        passed = "passed" if item["passed"] else "not passed"
        parts.append(f"{item['score']:g}/{item['max_score']:g}, {passed}")
    if item["refused"]:
        parts.append(item["refused"])
    return escape(", ".join(parts))


def _summary(summary: dict[str, Any]) -> str:
    counts = [
        ("courses", "completed_courses", "total_courses"),
        ("lessons", "completed_lessons", "total_lessons"),
        ("quizzes", "completed_quizzes", "total_quizzes"),
        ("assignments", "completed_assignments", "total_assignments"),
    ]
    parts = [f"{summary[done]}/{summary[total]} {what}" for what, done, total in counts]
    minutes = summary["time_spent"] // 60
    return f"[dim]done: {', '.join(parts)}; {minutes} min spent[/]"


def _name(item: dict[str, Any], depth: int, style: str = "", label: str = "") -> Padding:
    # Padding, not leading spaces, so a wrapped title keeps its indentation.
    text = Text(label + (item["title"] or item["id"]), style=style)
    return Padding(text, (0, 0, 0, 2 * depth))


def _state(status: str, detail: str) -> tuple[str, str]:
    style = STYLES.get(status, "")
    words = status.replace("_", " ")
    return (f"[{style}]{words}[/]" if style else words), detail


def _details(lesson: dict[str, Any]) -> str:
    parts = [f"{lesson['seconds']} s"]
    if lesson["position"] is not None:
        parts.append(f"at {lesson['position']} s")
    if lesson["watched_percent"]:
        parts.append(f"{lesson['watched_percent']:g}% watched")
    return ", ".join(parts)
