"""Every course and path with its progress, points, level, streak and recent badges, and
"continue where you left off".

Until the first load arrives (``snapshot`` is None) the list shows Textual's loading
indicator and the summary says so.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, ListView, Static

from tui.messages import ManagePin, Open, SwitchLearner
from tui.present import (
    AchievementsRef,
    CourseRef,
    LessonRef,
    PathRef,
    badges_line,
    catalog_totals,
    continue_at,
    duration,
    gamify_line,
    when,
)
from tui.screens.base import LearnerScreen
from tui.state import Snapshot
from tui.widgets.progress_row import EntryRow, ProgressRow, RowHeading
from tui.widgets.rows import Rows
from tui.widgets.status_line import StatusLine


class DashboardScreen(LearnerScreen):
    BINDINGS = [
        Binding("c", "continue", "Continue"),
        Binding("a", "achievements", "Achievements"),
        Binding("l", "learners", "Learners"),
        Binding("k", "pin", "PIN", show=False),  # (listed by ?: the footer is full at 80)
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("[$text-muted]Loading your progress…[/]", id="summary")
        yield Static("", id="gamify")
        yield Static("", id="badges")
        yield RowHeading(id="heading")
        yield Rows(id="items")
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        items = self.query_one("#items", ListView)
        items.focus()
        items.loading = self.snapshot is None

    async def show(self, snapshot: Snapshot) -> None:
        view, account = snapshot.view, snapshot.account
        self.sub_title = account.username
        totals = catalog_totals(view)
        self.query_one("#summary", Static).update(
            f"[b]{account.username}[/b] · {totals.courses_done}/{totals.courses} "
            f"courses · {totals.lessons_done}/{totals.lessons} lessons · "
            f"time spent {duration(view.summary.time_spent)}"
        )
        achievements = snapshot.achievements
        for name, text in (
            ("#gamify", gamify_line(achievements) if achievements else ""),
            ("#badges", badges_line(achievements, account) if achievements else ""),
        ):
            line = self.query_one(name, Static)
            line.update(text)
            line.display = bool(text)
        rows: list[EntryRow | ProgressRow] = []
        resume = continue_at(view)
        if resume is not None:
            rows.append(
                EntryRow(
                    LessonRef(resume.course.id, resume.lesson.id),
                    f"▶ Continue: {resume.lesson.title} ({resume.course.title} / "
                    f"{resume.module_title})",
                    id="continue",
                )
            )
        for course in view.courses:
            rows.append(
                ProgressRow(
                    CourseRef(course.id),
                    course.title,
                    course.percent,
                    course.status,
                    when(course.last_activity_at, account) if course.last_activity_at else "",
                    id=f"course-{course.id}",
                )
            )
        for path in view.paths:
            rows.append(
                ProgressRow(
                    PathRef(path.id),
                    f"Path: {path.title}",
                    path.percent,
                    path.status,
                    when(path.last_activity_at, account) if path.last_activity_at else "",
                    id=f"path-{path.id}",
                )
            )
        items = self.query_one("#items", Rows)
        await items.refill(rows)
        items.loading = False
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue":  # offered only when there is somewhere to continue
            return self.snapshot is not None and continue_at(self.snapshot.view) is not None
        return True

    def on_list_view_selected(self, event: ListView.Selected) -> None:  # enter or a click
        event.stop()
        if isinstance(event.item, EntryRow | ProgressRow):
            self.post_message(Open(event.item.target))

    def action_continue(self) -> None:
        if self.snapshot is not None:
            resume = continue_at(self.snapshot.view)
            if resume is not None:
                self.post_message(Open(LessonRef(resume.course.id, resume.lesson.id)))

    def action_achievements(self) -> None:
        self.post_message(Open(AchievementsRef()))

    def action_learners(self) -> None:
        self.post_message(SwitchLearner())

    def action_pin(self) -> None:
        """Set, change or remove this learner's PIN on the device (the app asks)."""
        self.post_message(ManagePin())
