"""A report's rows as a table, and the table as CSV (``?format=csv``, ``--csv``).

Every report carries the rows of its main table in its JSON (a list of row Structs); the
CSV is the same rows, one line each, under a header of the row Struct's field names, so
the two always agree (``tests/server/reports``). Times are epoch milliseconds in JSON and
ISO 8601 UTC in CSV; ``None`` is an empty cell; lists are joined with ``;``.
"""

from __future__ import annotations

import csv
import io
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


def csv_text(row_type: type[msgspec.Struct], rows: Iterable[msgspec.Struct]) -> str:
    """The rows under a header of ``row_type``'s field names."""
    names: Sequence[str] = row_type.__struct_fields__
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(name, getattr(row, name)) for name in names])
    return out.getvalue()
