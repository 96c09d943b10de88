"""One assignment: its status and grade, and its text to write, save as a draft
(``assignment.saved``) and submit for grading (``assignment.submitted``).

The assignment's own text (from the catalog) is shown above the editor. The editor starts
from the text this device last saved or submitted (read by the app in a journal job).
Leaving with ``esc`` and changes not saved asks first, then saves them as a draft (so no
text is ever lost); quitting or switching learner saves them without asking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Footer, Header, Markdown, Static, TextArea

from tui.dialogs.confirm import Confirm
from tui.messages import DraftRead, LoadDraft, Record
from tui.present import AssignmentRef, find_assignment, marked, when
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.status_line import StatusLine


class AssignmentScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "leave", "Back"),
        Binding("ctrl+s", "save", "Save draft"),
        Binding("f5", "submit", "Submit"),
    ]

    def __init__(
        self,
        ref: AssignmentRef,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
    ) -> None:
        super().__init__(snapshot, sync_state, clock)
        self.ref = ref
        self.saved_text: str | None = None  # None until the draft is read
        self._early: list[str] = []  # typed before that
        self.note = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="assignment-info")
        with VerticalScroll(id="assignment-brief"):
            yield Markdown(self._brief(), id="assignment-task")
        yield TextArea(
            id="assignment-text",
            soft_wrap=True,
            disabled=True,
            placeholder="Write your answer here; ctrl+s saves a draft, F5 submits it.",
        )
        yield Static("", id="assignment-note")
        yield StatusLine()
        yield Footer()

    def _brief(self) -> str:
        catalog = self.snapshot.catalog if self.snapshot else None
        found = catalog.assignment(self.ref.course, self.ref.assignment) if catalog else None
        return found.text if found is not None and found.text else ""

    def mounted(self) -> None:
        self.query_one("#assignment-brief").display = bool(self._brief())
        self.post_message(LoadDraft(self, self.user, self.ref.course, self.ref.assignment))

    @property
    def text(self) -> str:
        return self.query_one("#assignment-text", TextArea).text

    def on_key(self, event: events.Key) -> None:
        """Text typed before the draft is read (the editor waits for it) is kept and
        added after it, in order, instead of going nowhere."""
        if self.saved_text is None and (event.is_printable or event.key == "enter"):
            self._early.append("\n" if event.key == "enter" else event.character or "")
            event.stop()
            event.prevent_default()

    def on_draft_read(self, message: DraftRead) -> None:
        self.saved_text = message.text
        editor = self.query_one("#assignment-text", TextArea)
        editor.load_text(message.text)
        editor.disabled = False
        editor.move_cursor(editor.document.end)
        if self._early:
            editor.insert("".join(self._early))
            self._early.clear()
        self.set_focus(editor)  # now: keys queued behind this message must reach it
        self._draw_note()

    async def show(self, snapshot: Snapshot) -> None:
        info = self.query_one("#assignment-info", Static)
        view = find_assignment(snapshot.view, self.ref.course, self.ref.assignment)
        if view is None:
            info.update("This assignment is not in the catalog on this device.")
            return
        self.sub_title = view.title or view.id
        lines = [f"[b]{escape(self.sub_title)}[/b]  {marked(view.status)}"]
        facts = [f"max score {view.max_score:g}", f"{view.submissions} submitted"]
        if view.score is not None:
            verdict = "passed" if view.passed else "not passed"
            facts.insert(0, f"score {view.score:g}/{view.max_score:g}, {verdict}")
        lines.append(" · ".join(facts))
        if view.feedback:
            lines.append(f"Feedback: {escape(view.feedback)}")
        if view.refused:
            lines.append(f"[$error]Not accepted: {escape(view.refused)}[/]")
        info.update("\n".join(lines))

    def _draw_note(self) -> None:
        keys = "[$text-muted]ctrl+s saves a draft · F5 submits for grading · esc back[/]"
        self.query_one("#assignment-note", Static).update(
            f"{self.note} · {keys}" if self.note else keys
        )

    @property
    def changed(self) -> bool:
        """The editor holds text not saved or submitted yet."""
        return self.saved_text is not None and self.is_mounted and self.text != self.saved_text

    async def action_leave(self) -> None:
        if not self.changed:
            await self.run_action("app.back")
            return

        def answered(leave: bool | None) -> None:
            if leave:
                title = self.sub_title or self.ref.assignment
                self.app.notify(
                    f"Your changes to “{title}” were saved as a draft.",
                    title="Draft saved",
                    markup=False,
                )
                self.app.call_later(self.app.run_action, "back")

        title = escape(self.sub_title or self.ref.assignment)
        self.app.push_screen(
            Confirm(f"Leave “{title}”? Your changes are not saved yet; leaving saves a draft."),
            answered,
        )

    def _body(self) -> dict[str, Any]:
        return {"course": self.ref.course, "assignment": self.ref.assignment, "text": self.text}

    def unsaved(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.changed:
            return []
        self.saved_text = self.text
        return [("assignment.saved", self._body())]

    def action_save(self) -> None:
        if self.saved_text is None:
            return
        self.saved_text = self.text
        self.post_message(Record(self.user, "assignment.saved", self._body()))
        self._noted("Draft saved")

    def action_submit(self) -> None:
        if self.saved_text is None:
            return
        if not self.text.strip():
            self._noted("[$warning]Nothing to submit yet[/]", stamp=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.saved_text = self.text
                self.post_message(Record(self.user, "assignment.submitted", self._body()))
                self._noted("Submitted for grading")

        self.app.push_screen(
            Confirm(f"Submit “{escape(self.sub_title or self.ref.assignment)}” for grading?"),
            answered,
        )

    def _noted(self, note: str, *, stamp: bool = True) -> None:
        account = self.snapshot.account if self.snapshot else None
        at = f" at {when(self.clock(), account, seconds=True)}" if stamp and account else ""
        self.note = f"{note}{at}"
        self._draw_note()
