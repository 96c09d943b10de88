"""One quiz: attempts so far, attempts left and cool-down; then its questions one at a
time, and the result (or "submitted, scored when online")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Header, SelectionList, Static
from textual.widgets.selection_list import Selection

from sync.catalog import Quiz
from sync.views import AttemptView, QuizView
from tui.messages import QuizTaken, TakeQuiz
from tui.present import OFFLINE_ATTEMPT, QuizRef, find_quiz, marked, when
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.status_line import StatusLine

Mode = Literal["overview", "question", "sending", "result"]


def attempt_line(attempt: AttemptView) -> str:
    if attempt.status == "scored" and attempt.score is not None:
        verdict = "passed" if attempt.passed else "not passed"
        number = f"#{attempt.number} " if attempt.number else ""
        counted = "" if attempt.counted in (None, True) else f" (not counted: {attempt.reason})"
        return f"{number}score {attempt.score:.0%}, {verdict}{counted}"
    if attempt.status == "submitted":
        return OFFLINE_ATTEMPT
    return "in progress"


class QuizScreen(LearnerScreen):
    BINDINGS = [
        Binding("escape", "leave", "Back"),
        Binding("s", "start", "Start attempt"),
        Binding("n,right", "step(1)", "Next"),
        Binding("p,left", "step(-1)", "Previous"),
        Binding("ctrl+s,f5", "submit", "Submit"),
    ]

    def __init__(
        self,
        ref: QuizRef,
        snapshot: Snapshot | None,
        sync_state: SyncState,
        clock: Callable[[], int],
    ) -> None:
        super().__init__(snapshot, sync_state, clock)
        self.ref = ref
        self.mode: Mode = "overview"
        self.index = 0
        self.answers: dict[str, list[str]] = {}
        self.attempt_id = ""
        self.error = ""

    @property
    def quiz(self) -> Quiz | None:
        catalog = self.snapshot.catalog if self.snapshot else None
        return catalog.quiz(self.ref.course, self.ref.quiz) if catalog else None

    @property
    def quiz_view(self) -> QuizView | None:
        return (
            find_quiz(self.snapshot.view, self.ref.course, self.ref.quiz) if self.snapshot else None
        )

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="quiz-body"):
            yield Static("", id="quiz-info")
            yield Static("", id="question")
            yield SelectionList[str](id="choices")
        yield StatusLine()
        yield Footer()

    async def show(self, snapshot: Snapshot) -> None:
        self._draw()

    def _cooling_until(self, view: QuizView) -> int | None:
        until = view.cooldown_until
        return until if until is not None and until > self.clock() else None

    def _draw(self) -> None:
        info = self.query_one("#quiz-info", Static)
        question = self.query_one("#question", Static)
        choices = self.query_one("#choices", SelectionList)
        quiz, view = self.quiz, self.quiz_view
        asking = self.mode == "question" and quiz is not None
        question.display = choices.display = asking
        if quiz is None or view is None or self.snapshot is None:
            info.update("This quiz is not in the catalog on this device.")
            return
        self.sub_title = quiz.title or quiz.id
        if asking:
            info.update(f"[b]{quiz.title}[/b] · question {self.index + 1} of {len(quiz.questions)}")
            asked = quiz.questions[self.index]
            question.update(Content(asked.text or asked.id))
            chosen = set(self.answers.get(asked.id, []))
            choices.clear_options()
            choices.add_options(
                [Selection(Content(c.text or c.id), c.id, c.id in chosen) for c in asked.choices]
            )
            choices.highlighted = 0
            choices.focus()
        else:
            info.update(self._overview(quiz, view))
        self.refresh_bindings()

    def _overview(self, quiz: Quiz, view: QuizView) -> str:
        account = self.snapshot.account if self.snapshot else None
        lines = [f"[b]{quiz.title or quiz.id}[/b]  {marked(view.status)}"]
        if self.mode == "result" and self.attempt_id:
            mine = next((a for a in view.attempts if a.id == self.attempt_id), None)
            lines.append(f"[b]Your attempt: {attempt_line(mine) if mine else OFFLINE_ATTEMPT}[/b]")
        if self.mode == "sending":
            lines.append("Saving your answers…")
        if self.error:
            lines.append(f"[$error]{self.error}[/]")
        lines.append(
            f"{len(quiz.questions)} questions · pass at {view.passing_score:.0%} · "
            f"grading: {view.grading}"
        )
        if view.best_score is not None:
            lines.append(f"Score: {view.best_score:.0%}")
        left = "unlimited" if view.attempts_left is None else str(view.attempts_left)
        lines.append(f"Attempts left: {left}")
        until = self._cooling_until(view)
        if until is not None and account is not None:
            lines.append(f"Cool-down: next attempt after {when(until, account, seconds=True)}")
        if view.attempts:
            lines.append("Attempts:")
            lines += [f"  {attempt_line(a)}" for a in view.attempts]
        return "\n".join(lines)

    def can_start(self) -> bool:
        view = self.quiz_view
        return (
            view is not None
            and self.quiz is not None
            and self.mode in ("overview", "result")
            and view.attempts_left != 0
            and self._cooling_until(view) is None
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return self.can_start()
        if action in ("step", "submit"):
            return self.mode == "question"
        return True

    def action_start(self) -> None:
        if not self.can_start():
            return
        self.mode, self.index, self.answers, self.error = "question", 0, {}, ""
        self._draw()

    def _keep_choices(self) -> None:
        quiz = self.quiz
        if self.mode == "question" and quiz is not None:
            chosen = list(self.query_one("#choices", SelectionList).selected)
            asked = quiz.questions[self.index].id
            if chosen:
                self.answers[asked] = [str(c) for c in chosen]
            else:
                self.answers.pop(asked, None)

    def action_step(self, delta: int) -> None:
        quiz = self.quiz
        if self.mode != "question" or quiz is None:
            return
        self._keep_choices()
        self.index = max(0, min(len(quiz.questions) - 1, self.index + delta))
        self._draw()

    def action_submit(self) -> None:
        if self.mode != "question":
            return
        self._keep_choices()
        self.mode = "sending"
        self.post_message(
            TakeQuiz(self, self.user, self.ref.course, self.ref.quiz, dict(self.answers))
        )
        self._draw()

    def on_quiz_taken(self, message: QuizTaken) -> None:
        self.attempt_id = message.attempt.attempt if message.attempt else ""
        self.error = message.error
        self.mode = "result" if message.attempt else "overview"
        self._draw()

    async def action_leave(self) -> None:
        if self.mode == "question":  # abandon: nothing was recorded yet
            self.mode = "overview"
            self._draw()
        else:
            await self.run_action("app.back")
