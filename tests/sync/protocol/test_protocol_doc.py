"""``docs/protocol.md`` §6 documents every field of every message, and only real ones.

Each ``#### `name``` section's tables list the fields of the message whose tag is ``name``.
A field holding structs (``accounts``, ``entries``, ``refused``, ``rejected``) is documented
either by rows of its own (``accounts[].role``, or a feed entry's table with bare names) or
inline in its type column (``array of `{index, code, reason}```).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import msgspec
import pytest

from sync.protocol import messages
from sync.protocol.messages import ClientMessage, ServerMessage

DOC = Path(__file__).parents[3] / "docs" / "protocol.md"


def documented() -> dict[str, list[tuple[str, str]]]:
    """Per message name: the (field, type column) rows of its §6 section's tables."""
    text = DOC.read_text()
    section = text[text.index("## 6. Messages") : text.index("## 7.")]
    found: dict[str, list[tuple[str, str]]] = {}
    name = None
    for line in section.splitlines():
        if heading := re.match(r"#### `(\w+)`", line):
            name = heading.group(1)
            found[name] = []
        elif name and (row := re.match(r"\| `([\w\[\].]+)` \| ([^|]*) \|", line)):
            found[name].append((row.group(1), row.group(2)))
    return found


def _struct_of(annotation: object) -> type[msgspec.Struct] | None:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
            return arg
    return None


def _messages() -> list[type[msgspec.Struct]]:
    return [*typing.get_args(ClientMessage), *typing.get_args(ServerMessage)]


@pytest.mark.parametrize("message", _messages(), ids=lambda m: m.__struct_config__.tag)
def test_every_field_of_a_message_is_documented_and_nothing_else(
    message: type[msgspec.Struct],
) -> None:
    tag = str(message.__struct_config__.tag)
    rows = documented()[tag]
    names = {field for field, _ in rows}
    types = dict(rows)
    hints = typing.get_type_hints(message, vars(messages))
    expected = {"type"}
    for field in msgspec.structs.fields(message):
        expected.add(field.encode_name)
        inner = _struct_of(hints[field.name])
        if inner is None:
            continue
        column = types.get(field.encode_name, "")
        if re.search(r"\(§\d+\)", column):
            continue  # "array of events (§5)": documented in that section, checked there
        inline = re.search(r"`\{([^}]*)\}`", column)
        listed = {s.strip() for s in inline.group(1).split(",")} if inline else set()
        for sub in (f.encode_name for f in msgspec.structs.fields(inner)):
            prefixed = f"{field.encode_name}[].{sub}"
            if prefixed in names:
                expected.add(prefixed)
            elif sub not in listed:
                expected.add(sub)  # a bare row, in a table of its own (a feed entry)
    undocumented, unsent = sorted(expected - names), sorted(names - expected)
    assert names == expected, f"§6 {tag}: not documented {undocumented}, not sent {unsent}"
