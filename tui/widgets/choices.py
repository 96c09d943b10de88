"""A quiz question's choices, marked so the selection reads without colour: ``(•)``/``( )``
for a single choice, ``[x]``/``[ ]`` for a multiple choice.

Space (or enter) changes the selection at once, inside the key's own action. Textual's
``SelectionList`` toggles later, when the ``OptionSelected`` message it posts to itself
is handled; a key queued behind the space (``n``, next question) then ran first, saved
the choices without it and rebuilt the list, and the late toggle landed on the next
question's list. Keys arriving in one burst lost answers that way (issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding
from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option


def mark(multiple: bool, chosen: bool) -> str:
    if multiple:
        return "[x]" if chosen else "[ ]"
    return "(•)" if chosen else "( )"


class Choices(OptionList):
    """The choices of one question; :attr:`chosen` holds the selected ids, in catalog
    order (the screen reads it when it needs it). Fill it with :meth:`ask`. Space, enter
    (OptionList's own "select") and a click choose."""

    BINDINGS = [Binding("space", "choose", "Choose")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.multiple = False
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._chosen: set[str] = set()

    @property
    def chosen(self) -> list[str]:
        return [c for c in self._ids if c in self._chosen]

    def ask(
        self, choices: Sequence[tuple[str, str]], chosen: Sequence[str], *, multiple: bool
    ) -> None:
        """Show ``choices`` (``(id, text)``) with ``chosen`` selected, the cursor on the
        first."""
        self.multiple = multiple
        self._ids = [c for c, _ in choices]
        self._texts = [t for _, t in choices]
        self._chosen = set(chosen) & set(self._ids)
        self.set_options([Option(self._prompt(n), id=c) for n, c in enumerate(self._ids)])
        self.highlighted = 0 if self._ids else None

    def _prompt(self, index: int) -> Content:
        chosen = self._ids[index] in self._chosen
        return Content.assemble(
            (mark(self.multiple, chosen), "bold" if chosen else ""), " ", self._texts[index]
        )

    def action_choose(self) -> None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self._ids):
            return
        choice = self._ids[index]
        if self.multiple:
            self._chosen ^= {choice}
        else:
            self._chosen = {choice}  # a single choice: choosing another replaces it
        for n in range(len(self._ids)):
            self.replace_option_prompt_at_index(n, self._prompt(n))

    def action_select(self) -> None:
        self.action_choose()  # not OptionSelected: that would choose only once handled
