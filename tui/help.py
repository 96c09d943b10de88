"""The keys screen (``?`` or F1): every key the screen underneath answers to now, read from
its active bindings (its own, the focused widget's and the app's), so it cannot drift
from what the keys do.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GROUPS = ("This screen", "Everywhere", "The focused list or field")


class KeyHelp(NamedTuple):
    group: str
    keys: str
    description: str
    enabled: bool


def describe(binding: Binding) -> str:
    if binding.description:
        return binding.description
    action = binding.action.split(".", 1)[-1].split("(", 1)[0]
    return action.replace("_", " ").capitalize()


def key_help(app: App[Any], screen: Screen[Any]) -> list[KeyHelp]:
    """The keys of ``screen`` grouped as :data:`GROUPS`, from its binding chain; keys
    bound to the same action share one line ("n / →  Next"). Keys whose action is
    unavailable now are left out (the footer hides them too); internal bindings without a
    description are skipped."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    enabled: dict[tuple[str, str, str], bool] = {}
    # The whole chain (focused widget … screen … app), not only the binding that wins each
    # key: a list's "→ scroll right" gives way to the screen's "→ +10s" when it cannot
    # scroll, so both are listed. (Textual's own active_bindings walks the same chain.)
    for node, bindings in screen._modal_binding_chain:
        for _, binding in bindings:
            state = app._check_action_state(binding.action, node)
            if state is False or (binding.system and not binding.description):
                continue
            group = GROUPS[1] if node is app else GROUPS[0] if node is screen else GROUPS[2]
            line = (group, binding.action, describe(binding))
            lines.setdefault(line, []).append(app.get_key_display(binding))
            enabled[line] = enabled.get(line, False) or bool(state)
    found = [
        KeyHelp(group, " / ".join(dict.fromkeys(keys)), description, enabled[line])
        for line, keys in lines.items()
        for group, _, description in [line]
    ]
    return sorted(found, key=lambda k: GROUPS.index(k.group))


def help_text(keys: list[KeyHelp]) -> str:
    width = max((len(k.keys) for k in keys), default=0) + 2
    out: list[str] = []
    for group in GROUPS:
        mine = [k for k in keys if k.group == group]
        if not mine:
            continue
        if out:
            out.append("")
        out.append(f"[b]{group}[/b]")
        for k in mine:
            note = "" if k.enabled else " [$text-muted](not now)[/]"
            shown = escape(k.keys.ljust(width))
            out.append(f"  [b $accent]{shown}[/]{escape(k.description)}{note}")
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    """Keys of ``screen`` (the one it opens over); escape, ``?``, F1 or ``q`` close it."""

    BINDINGS = [Binding("escape,question_mark,f1,q", "dismiss", "Close")]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.keys = key_help(screen.app, screen)
        self.over = screen.sub_title or type(screen).__name__.removesuffix("Screen")

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(f"[b]Keys[/b] · {escape(str(self.over))}", id="help-title")
            with VerticalScroll(id="help-keys"):
                yield Static(help_text(self.keys), id="help-list")
            yield Static("[$text-muted]escape, ? or F1 closes · ctrl+p: all commands[/]")
