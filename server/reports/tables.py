"""A report's rows as a table, and the table as CSV (``?format=csv``, ``--csv``).

Every report carries the rows of its main table in its JSON (a list of row Structs); the
CSV is the same rows, one line each, under a header of the row Struct's field names, so
the two always agree (``tests/server/reports``). Times are epoch milliseconds in JSON and
ISO 8601 UTC in CSV; ``None`` is an empty cell; lists are joined with ``;``. A field that
holds a Struct (a learner's freshness, a prediction) is spread over one column per field
of it, named ``field.subfield``.
"""

from __future__ import annotations

import csv
import io
import typing
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

TIME_SUFFIX = "_at"
"""Fields whose name ends so hold epoch milliseconds and are written as ISO times in CSV."""


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name.endswith(TIME_SUFFIX) and isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct type a field holds (also ``S | None``), if it holds one."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    found = [
        a
        for a in typing.get_args(annotation)
        if isinstance(a, type) and issubclass(a, msgspec.Struct)
    ]
    return found[0] if len(found) == 1 else None


def columns(row_type: type[msgspec.Struct]) -> list[tuple[str, ...]]:
    """The CSV columns of ``row_type``: a path of attribute names each."""
    hints = typing.get_type_hints(row_type)
    out: list[tuple[str, ...]] = []
    for name in row_type.__struct_fields__:
        inner = _struct_of(hints[name])
        if inner is None:
            out.append((name,))
        else:
            out += [(name, *sub) for sub in columns(inner)]
    return out


def _value(row: Any, path: Sequence[str]) -> Any:
    for name in path:
        if row is None:
            return None
        row = getattr(row, name)
    return row


def csv_text(row_type: type[msgspec.Struct], rows: Iterable[msgspec.Struct]) -> str:
    """The rows under a header of ``row_type``'s field names."""
    paths = columns(row_type)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([".".join(p) for p in paths])
    for row in rows:
        writer.writerow([_cell(p[-1], _value(row, p)) for p in paths])
    return out.getvalue()
