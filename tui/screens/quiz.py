"""One quiz: attempts so far, attempts left and cool-down; then its questions one at a
time, and the result (or "submitted, scored when online").

The answers of the attempt being taken live here (:attr:`QuizScreen.answers`, and the
question on screen in its :class:`~tui.widgets.choices.Choices`), never in the journal
until the attempt is submitted as a whole. A new snapshot (a sync, a score) redraws the
lines about the quiz but never the question being answered, so no key is lost to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Header, Static

from sync.catalog import Quiz
from sync.views import AttemptView, QuizView
from tui.dialogs.confirm import Confirm
from tui.messages import QuizTaken, TakeQuiz
from tui.present import (
    OFFLINE_ATTEMPT,
    QuizRef,
    QuizStanding,
    countdown,
    find_quiz,
    marked,
    percent,
    plural,
    quiz_standing,
    when,
)
from tui.screens.base import LearnerScreen
from tui.state import Snapshot, SyncState
from tui.widgets.choices import Choices
from tui.widgets.status_line import StatusLine

Mode = Literal["overview", "question", "sending", "result"]
TICK_SECONDS = 1.0  # how often the cool-down countdown is redrawn


def attempt_line(attempt: AttemptView) -> str:
    if attempt.status == "scored" and attempt.score is not None:
        verdict = "passed" if attempt.passed else "not passed"
        number = f"#{attempt.number} " if attempt.number else ""
        counted = "" if attempt.counted in (None, True) else f" (not counted: {attempt.reason})"
        return f"{number}score {percent(attempt.score * 100)}%, {verdict}{counted}"
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
        self.note = ""
        self.refused = False  # s was pressed when no attempt could start

    @property
    def quiz(self) -> Quiz | None:
        catalog = self.snapshot.catalog if self.snapshot else None
        return catalog.quiz(self.ref.course, self.ref.quiz) if catalog else None

    @property
    def quiz_view(self) -> QuizView | None:
        return (
            find_quiz(self.snapshot.view, self.ref.course, self.ref.quiz) if self.snapshot else None
        )

    def standing(self) -> QuizStanding | None:
        quiz, view = self.quiz, self.quiz_view
        if quiz is None or view is None:
            return None
        return quiz_standing(view, quiz.cooldown_seconds, self.clock())

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="quiz-body"):
            yield Static("", id="quiz-info")
            yield Static("", id="question")
            yield Choices(id="choices")
        yield StatusLine()
        yield Footer()

    def mounted(self) -> None:
        self.set_interval(TICK_SECONDS, self._tick)
        self._draw()

    async def show(self, snapshot: Snapshot) -> None:
        self._draw()

    def _tick(self) -> None:
        """The countdown moves on; when the cool-down ends, ``s`` starts again."""
        if self.mode in ("overview", "result"):
            self._draw()

    def _draw(self) -> None:
        """The lines about the quiz (and the header of the question being answered)."""
        info = self.query_one("#quiz-info", Static)
        quiz, view = self.quiz, self.quiz_view
        asking = self.mode == "question" and quiz is not None
        self.query_one("#question").display = self.query_one(Choices).display = asking
        if quiz is None or view is None or self.snapshot is None:
            info.update("This quiz is not in the catalog on this device.")
            return
        self.sub_title = quiz.title or quiz.id
        if asking:
            info.update(
                Content.from_markup(
                    "[b]$title[/b] · question $n of $total",
                    title=quiz.title or quiz.id,
                    n=str(self.index + 1),
                    total=str(len(quiz.questions)),
                )
            )
        else:
            info.update(self._overview(quiz, view))
        self.refresh_bindings()

    def _ask(self) -> None:
        """Show question :attr:`index` with the answer given to it so far."""
        quiz = self.quiz
        if quiz is None:
            return
        asked = quiz.questions[self.index]
        how = "Pick every one that applies." if asked.is_multiple else "Pick one."
        self.query_one("#question", Static).update(
            Content.assemble(asked.text or asked.id, "\n", (how, "not bold dim"))
        )
        choices = self.query_one(Choices)
        choices.ask(
            [(c.id, c.text or c.id) for c in asked.choices],
            self.answers.get(asked.id, []),
            multiple=asked.is_multiple,
        )
        # Now, not later: focus() waits for a round trip, and keys queued behind this one
        # (a burst) must already reach the choices.
        self.set_focus(choices)

    def _overview(self, quiz: Quiz, view: QuizView) -> str:
        account = self.snapshot.account if self.snapshot else None
        standing = quiz_standing(view, quiz.cooldown_seconds, self.clock())
        lines = [f"[b]{quiz.title or quiz.id}[/b]  {marked(view.status)}"]
        if self.mode == "result" and self.attempt_id:
            mine = next((a for a in view.attempts if a.id == self.attempt_id), None)
            lines.append(f"[b]Your attempt: {attempt_line(mine) if mine else OFFLINE_ATTEMPT}[/b]")
        if self.mode == "sending":
            lines.append("Saving your answers…")
        if self.note:
            lines.append(f"[$warning]{self.note}[/]")
        if self.error:
            lines.append(f"[$error]{self.error}[/]")
        self.refused = self.refused and bool(standing.why_not)
        if self.refused:
            lines.append(f"[$warning]Cannot start an attempt. {standing.why_not}.[/]")
        lines.append(
            f"{len(quiz.questions)} questions · pass at {percent(view.passing_score * 100)}% · "
            f"grading: {view.grading}"
        )
        if view.best_score is not None:
            lines.append(f"Score: {percent(view.best_score * 100)}%")
        left = "unlimited" if standing.left is None else str(standing.left)
        if standing.pending:
            left += f" ({plural(standing.pending, 'attempt')} {OFFLINE_ATTEMPT})"
        lines.append(f"Attempts left: {left}")
        until = standing.cooling_until
        if until is not None and account is not None:
            lines.append(
                f"Cool-down: next attempt in {countdown(until, self.clock())} "
                f"(at {when(until, account, seconds=True)})"
            )
        if view.attempts:
            lines.append("Attempts:")
            lines += [f"  {attempt_line(a)}" for a in view.attempts]
        return "\n".join(lines)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            # Offered whenever no attempt is open; when one cannot start, s says why.
            return self.mode in ("overview", "result") and self.quiz is not None
        if action in ("step", "submit"):
            return self.mode == "question"
        return True

    def action_start(self) -> None:
        standing = self.standing()
        if self.mode not in ("overview", "result") or standing is None:
            return
        self.note = ""
        if standing.why_not:
            self.refused = True  # shown while it holds (_overview)
            self._draw()
            return
        self.mode, self.index, self.answers, self.error = "question", 0, {}, ""
        self.refused = False
        self._draw()
        self._ask()

    def _keep_choices(self) -> None:
        quiz = self.quiz
        if self.mode == "question" and quiz is not None:
            chosen = self.query_one(Choices).chosen
            asked = quiz.questions[self.index].id
            if chosen:
                self.answers[asked] = chosen
            else:
                self.answers.pop(asked, None)

    def action_step(self, delta: int) -> None:
        quiz = self.quiz
        if self.mode != "question" or quiz is None:
            return
        self._keep_choices()
        index = max(0, min(len(quiz.questions) - 1, self.index + delta))
        if index != self.index:
            self.index = index
            self._draw()
            self._ask()

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

    def leave_question(self) -> str:
        if self.mode != "question":
            return ""
        self._keep_choices()
        if not self.answers:
            return ""
        total = len(self.quiz.questions) if self.quiz else len(self.answers)
        return (
            f"Your answers to {len(self.answers)} of {total} questions are not sent yet "
            "and will be discarded."
        )

    async def action_leave(self) -> None:
        if self.mode != "question":
            await self.run_action("app.back")
            return
        question = self.leave_question()
        if not question:  # nothing answered: nothing to lose
            self._abandon("")
            return

        def answered(leave: bool | None) -> None:
            if leave:
                count = plural(len(self.answers), "answer")
                self._abandon(f"Attempt discarded: {count} not sent, nothing recorded.")

        self.app.push_screen(Confirm(f"Leave this attempt? {question}"), answered)

    def _abandon(self, note: str) -> None:
        self.mode, self.answers, self.note = "overview", {}, note
        self._draw()
