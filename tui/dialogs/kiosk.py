"""The kiosk's dialogs: ask a learner's PIN, offer to set one after a password sign-in,
change or remove it, and count down before the idle sign-out.

The app decides what each answer means (``tui.app``: ``pick_learner``, ``sign_out_if_idle``);
the PIN itself is checked by the app's journal writer (``client.pins``), never here.
"""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.reactive import var
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from client.pins import MAX_DIGITS, MIN_DIGITS, PinCheck, pin_problem
from tui.messages import PinTried, TryPin


class PinPrompt(ModalScreen[bool | None]):
    """Asks ``username``'s PIN. Dismisses with True once the app found it right, False
    when the PIN is gone (too many wrong ones: the password is needed), None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, username: str, ask: str = "your PIN") -> None:
        super().__init__()
        self.username = username
        self.ask = ask

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-box", classes="kiosk-box"):
            yield Static(f"[b]{escape(self.username)}[/b]: {self.ask}", id="pin-title")
            yield Input(placeholder="PIN", password=True, id="pin", max_length=MAX_DIGITS)
            yield Static("", id="pin-error")
            yield Static("[$text-muted]enter open · esc back[/]")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            return
        event.input.disabled = True
        self.query_one("#pin-error", Static).update("Checking…")
        self.app.post_message(TryPin(self, self.username, event.value))

    def on_pin_tried(self, message: PinTried) -> None:
        check: PinCheck = message.check
        if check.ok:
            self.dismiss(True)
        elif check.tries_left == 0:
            self.dismiss(False)
        else:
            pin = self.query_one("#pin", Input)
            pin.value = ""
            pin.disabled = False
            pin.focus()
            tries = "1 try" if check.tries_left == 1 else f"{check.tries_left} tries"
            self.query_one("#pin-error", Static).update(
                f"[$error]Wrong PIN.[/] {tries} left, then the password is needed."
            )

    def action_cancel(self) -> None:
        self.dismiss(None)


class SetPin(ModalScreen[str | None]):
    """Offered on a kiosk after a password sign-in: dismisses with the new PIN (checked
    with :func:`client.pins.pin_problem`, typed twice alike), or None for "not now"."""

    BINDINGS = [Binding("escape", "skip", "Not now")]
    HEADLINE = "Set a PIN for {name} on this kiosk?"
    HINT = "enter set · esc not now"

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username

    def compose(self) -> ComposeResult:
        with Vertical(id="set-pin-box", classes="kiosk-box"):
            yield Static(f"[b]{self.HEADLINE.format(name=escape(self.username))}[/b]")
            yield Static(
                f"Come back with it instead of the password ({MIN_DIGITS} to {MAX_DIGITS} digits). "
                "Anyone else who picks you from the list is asked for it."
            )
            yield Input(placeholder="PIN", password=True, id="new-pin", max_length=MAX_DIGITS)
            yield Input(placeholder="the same PIN again", password=True, id="new-pin-again")
            yield Static("", id="set-pin-error")
            yield Static(f"[$text-muted]{self.HINT}[/]")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#new-pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        pin = self.query_one("#new-pin", Input).value
        again = self.query_one("#new-pin-again", Input)
        problem = pin_problem(pin)
        if not problem and event.input.id == "new-pin" and not again.value:
            again.focus()
            return
        if not problem and again.value != pin:
            problem = "The two PINs differ."
            again.value = ""
        if problem:
            self.query_one("#set-pin-error", Static).update(f"[$error]{problem}[/]")
            return
        self.dismiss(pin)

    def action_skip(self) -> None:
        self.dismiss(None)


class ChangePin(SetPin):
    """The new PIN of a learner who gave the current one (:class:`PinChoice`); None keeps
    the current one."""

    BINDINGS = [Binding("escape", "skip", "Keep the PIN")]
    HEADLINE = "A new PIN for {name} on this kiosk"
    HINT = "enter change · esc keep the current PIN"


PinAnswer = Literal["change", "remove"]


class PinChoice(ModalScreen[PinAnswer | None]):
    """After the current PIN: change it or remove it (None: neither)."""

    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-choice-box", classes="kiosk-box"):
            yield Static(f"[b]{escape(self.username)}'s PIN on this kiosk[/b]")
            yield OptionList(
                Option("Change the PIN", id="change"),
                Option("Remove the PIN (sign in with the password next time)", id="remove"),
                id="pin-choice",
            )
            yield Static("[$text-muted]enter choose · esc back[/]")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == "change":
            self.dismiss("change")
        elif event.option.id == "remove":
            self.dismiss("remove")

    def action_cancel(self) -> None:
        self.dismiss(None)


class IdleCountdown(ModalScreen[None]):
    """Shown over the learner's screen in the last seconds before the idle sign-out. The
    app sets :attr:`seconds` on every idle check and removes it on any key or click."""

    seconds: var[int] = var(0, init=False)

    def __init__(self, username: str, seconds: int) -> None:
        super().__init__()
        self.username = username
        self.set_reactive(IdleCountdown.seconds, seconds)

    def compose(self) -> ComposeResult:
        with Vertical(id="idle-box", classes="kiosk-box"):
            yield Static(f"[b]Still there, {escape(self.username)}?[/b]")
            yield Static(self._line(), id="idle-left")

    def _line(self) -> str:
        return f"Signing out in {self.seconds} s — press any key to stay."

    def watch_seconds(self) -> None:
        if self.is_mounted:
            self.query_one("#idle-left", Static).update(self._line())
