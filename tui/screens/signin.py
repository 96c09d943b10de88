"""Sign in on a server, or pick a learner already signed in on this device."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from client.journal import Account
from tui.messages import PickLearner, SignIn, SignInFailed
from tui.state import SyncState
from tui.widgets.status_line import StatusLine


class SignInScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.back", "Back")]

    def __init__(
        self, accounts: list[Account], sync_state: SyncState, *, server_url: str = ""
    ) -> None:
        super().__init__()
        self.accounts = accounts
        self.sync_state = sync_state
        self.server_url = server_url or (accounts[0].server_url if accounts else "")

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="signin"):
            if self.accounts:
                yield Label("Learners on this device (enter to switch):", classes="heading")
                yield OptionList(
                    *[
                        Option(f"{a.username}  ·  {a.server_url}", id=a.username)
                        for a in self.accounts
                    ],
                    id="learners",
                )
            yield Label("Sign in:", classes="heading")
            with Vertical(id="form"):
                yield Input(self.server_url, placeholder="server URL", id="server")
                yield Input(placeholder="name", id="name")
                yield Input(placeholder="password", password=True, id="password")
                yield Button("Sign in", id="sign-in", variant="primary")
            yield Static("", id="signin-error")
        status = StatusLine()
        status.set_reactive(StatusLine.state, self.sync_state)
        yield status
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Sign in"
        if self.accounts:
            self.query_one("#learners", OptionList).focus()
        else:
            self.query_one("#server" if not self.server_url else "#name", Input).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(PickLearner(event.option.id))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        order = ["server", "name", "password"]
        if event.input.id in order[:-1]:
            self.query_one(f"#{order[order.index(event.input.id) + 1]}", Input).focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._submit()

    def _submit(self) -> None:
        server = self.query_one("#server", Input).value.strip()
        name = self.query_one("#name", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not (server and name and password):
            self.query_one("#signin-error", Static).update(
                "[$error]Server URL, name and password are all needed.[/]"
            )
            return
        self.query_one("#signin-error", Static).update("Signing in…")
        self.query_one("#sign-in", Button).disabled = True
        self.post_message(SignIn(server, name, password))

    def ask_password(self, account: Account, why: str) -> None:
        """Fill the form for ``account`` and ask for the password, saying ``why`` (a kiosk
        learner with no PIN, or one who typed too many wrong ones)."""
        self.query_one("#server", Input).value = account.server_url
        self.query_one("#name", Input).value = account.username
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
        error = self.query_one("#signin-error", Static)
        error.update(f"[$warning]{escape(why)}[/]")
        # (at 80x24 the form overflows and the message would sit below the fold)
        self.call_after_refresh(error.scroll_visible, animate=False)

    def clear_secrets(self) -> None:
        """Empty the password and the message about it (a kiosk left idle)."""
        password = self.query_one("#password", Input)
        if password.value:
            password.value = ""
            self.query_one("#signin-error", Static).update("")

    def on_sign_in_failed(self, message: SignInFailed) -> None:
        self.query_one("#signin-error", Static).update(f"[$error]{escape(message.reason)}[/]")
        self.query_one("#sign-in", Button).disabled = False
        self.query_one("#password", Input).value = ""

    def set_sync_state(self, state: SyncState) -> None:
        self.sync_state = state
        if self.is_mounted:
            self.query_one(StatusLine).state = state
