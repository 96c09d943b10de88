"""Errors of the pure core.

::

    WaymarkError
     ├── CatalogError        a catalog file is malformed (message names the location)
     ├── ProtocolError       a peer sent a frame or message that breaks the protocol
     │    └── DecodeError    a frame could not be decoded (carries the ``$.path``)
     └── UsageError          the caller misused an API of this package
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import msgspec


class Disposition(NamedTuple):
    """How an error code ends a request: its HTTP status, and its WebSocket close code
    (``None``: the code is never sent over ``/v1/sync``)."""

    status: int
    close: int | None


ERROR_CODES: Final[dict[str, Disposition]] = {
    # The sync protocol's codes (docs/protocol.md §8) ...
    "bad_frame": Disposition(400, 4400),
    "bad_message": Disposition(400, 4400),
    "unsupported_protocol": Disposition(400, 4406),
    "unauthorized": Disposition(401, 4401),
    "token_expired": Disposition(401, 4440),
    "device_revoked": Disposition(403, 4403),
    "forbidden": Disposition(403, 4403),
    "batch_too_large": Disposition(413, 4413),
    "rate_limited": Disposition(429, 4429),
    "store_unavailable": Disposition(503, 1013),
    "internal": Disposition(500, 1011),
    # ... and the REST API's others.
    "bad_request": Disposition(400, None),
    "catalog_rejected": Disposition(400, None),
    "not_found": Disposition(404, None),
    "conflict": Disposition(409, None),
}
"""The one mapping from error codes (the server's domain errors and the protocol's
refusals) to HTTP statuses and WebSocket close codes."""


def close_code_for(code: str) -> int:
    """The WebSocket close code for error ``code`` (1011 for one never sent there)."""
    close = ERROR_CODES[code].close if code in ERROR_CODES else None
    return 1011 if close is None else close


class WaymarkError(Exception):
    """Root of every error raised by ``sync``."""


class CatalogError(WaymarkError):
    """A catalog is malformed; ``str(err)`` names the file location and the problem."""


class ProtocolError(WaymarkError):
    """A peer broke the sync protocol.

    ``code`` is the stable error code sent in an ``error`` message and ``close_code`` the
    WebSocket close code documented in ``docs/protocol.md`` (by default the code's, from
    :data:`ERROR_CODES`).
    """

    def __init__(
        self, code: str, message: str, close_code: int | None = None, path: str | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code_for(code) if close_code is None else close_code
        self.path = path


class DecodeError(ProtocolError):
    """A frame is not a valid message (bad msgpack/JSON, wrong shape, unknown type)."""


class UsageError(WaymarkError):
    """The caller used an API of ``sync`` the wrong way (a bug in the caller, not the peer)."""


_TYPE_WORDS: Final = {
    # Python's names for what a frame can carry, where JSON has none (msgspec's `int`,
    # `str`, `array`, `object` and `null` read as the wire's types and stay).
    "bytes": "binary data",
    "bytearray": "binary data",
    "memoryview": "binary data",
    "list": "array",
    "tuple": "array",
    "dict": "object",
    "Ext": "MessagePack extension",
    "datetime": "timestamp",
}
_TYPE_NAME = re.compile(r"`(" + "|".join(_TYPE_WORDS) + r")`")


def split_validation_error(err: msgspec.ValidationError) -> tuple[str, str]:
    """Split msgspec's ``"<problem> - at `<path>`"`` into ``(problem, path)``, with Python's
    type names in the problem in the wire's words (``got `binary data```, not ``bytes``).

    msgspec leaves the location out for errors at the root; those get ``"$"``, so every
    message names a ``$.path``. A map key at fault (``- at `key` in `<path>```) gets the
    map's path.
    """
    text = str(err)
    problem, path = text, "$"
    if (key := re.fullmatch(r"(.*) - at `key` in `(\$[^`]*)`", text, re.S)) is not None:
        problem, path = f"{key.group(1)} for a map key", key.group(2)
    else:
        head, sep, rest = text.rpartition(" - at `")
        if sep and rest.startswith("$") and rest.endswith("`"):
            problem, path = head, rest[:-1]
    return _TYPE_NAME.sub(lambda m: f"`{_TYPE_WORDS[m.group(1)]}`", problem), path
