"""One learning path: its status and milestones, and the actions the learner may ask for
(enroll, pause, resume, drop). The server decides each one, so until this device syncs an
action shows as requested."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.widgets import Footer, Header, ListView, Static

from tui.dialogs.confirm import Confirm
from tui.messages import Open, Record
from tui.present import CourseRef, find_path, marked, path_actions, when, words
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.progress_row import EntryRow
from tui.widgets.rows import Rows
from tui.widgets.status_line import StatusLine

REQUESTED = {
    "path.enrolled": "Enrollment",
    "path.paused": "Pause",
    "path.resumed": "Resume",
    "path.dropped": "Drop",
}


class PathScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("e", "ask('path.enrolled')", "Enroll"),
        Binding("p", "ask('path.paused')", "Pause"),
        Binding("r", "ask('path.resumed')", "Resume"),
        Binding("d", "ask('path.dropped')", "Drop"),
    ]

    def __init__(
        self,
        path: str,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
    ) -> None:
        super().__init__(snapshot, sync_state, clock)
        self.path = path

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="path-info")
        yield Static(f"{'Milestone':40}{'status':16}course", id="heading")
        yield Rows(id="milestones")
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        self.query_one("#milestones", ListView).focus()

    def _offered(self) -> list[str]:
        view = find_path(self.snapshot.view, self.path) if self.snapshot else None
        if view is None or self.snapshot is None or self.path in self.snapshot.requested:
            return []  # one request at a time: the server has not answered the last one
        return [type_ for type_, _ in path_actions(view.status)]

    async def show(self, snapshot: Snapshot) -> None:
        info = self.query_one("#path-info", Static)
        view = find_path(snapshot.view, self.path)
        if view is None:
            info.update("This path is not in the catalog on this device.")
            return
        self.sub_title = view.title or view.id
        done = sum(1 for m in view.milestones if m.status == "completed")
        lines = [
            f"[b]{escape(self.sub_title)}[/b]  {marked(view.status)} · "
            f"{done}/{len(view.milestones)} milestones · {view.percent}%"
        ]
        if view.enrolled_at is not None:
            lines.append(f"Enrolled {when(view.enrolled_at, snapshot.account)}")
        asked = snapshot.requested.get(self.path)
        if asked is not None:
            lines.append(
                f"[$warning]{REQUESTED.get(asked, asked)} requested: "
                "the server decides when this device syncs[/]"
            )
        if view.refused:
            lines.append(f"[$error]Refused: {escape(view.refused)}[/]")
        info.update("\n".join(lines))
        catalog = snapshot.catalog
        rows = []
        for step in view.milestones:
            course = catalog.course(step.course) if catalog else None
            title = escape((step.title or step.id)[:38])
            rows.append(
                EntryRow(
                    CourseRef(step.course),
                    f"{title:40}{marked(step.status)}{' ' * (16 - len(words(step.status)) - 2)}"
                    f"{escape((course.title if course and course.title else step.course)[:20])}",
                    id=f"milestone-{step.id}",
                )
            )
        await self.query_one("#milestones", Rows).refill(rows)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "ask":
            return parameters[0] in self._offered()
        return True

    def on_list_view_selected(self, event: ListView.Selected) -> None:  # enter or a click
        event.stop()
        if isinstance(event.item, EntryRow):
            self.post_message(Open(event.item.target))

    def action_ask(self, type_: str) -> None:
        if type_ not in self._offered():
            return
        user, body = self.user, {"path": self.path}
        if type_ != "path.dropped":
            self.post_message(Record(user, type_, body))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(Record(user, type_, body))

        question = f"Drop the path “{escape(self.sub_title or self.path)}”? Your progress stays."
        self.app.push_screen(Confirm(question), answered)
