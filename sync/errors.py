"""Errors of the pure core.

::

    WaymarkError
     ├── CatalogError        a catalog file is malformed (message names the location)
     ├── ProtocolError       a peer sent a frame or message that breaks the protocol
     │    └── DecodeError    a frame could not be decoded (carries the ``$.path``)
     └── UsageError          the caller misused an API of this package
"""

from __future__ import annotations

import msgspec


class WaymarkError(Exception):
    """Root of every error raised by ``sync``."""


class CatalogError(WaymarkError):
    """A catalog is malformed; ``str(err)`` names the file location and the problem."""


class ProtocolError(WaymarkError):
    """A peer broke the sync protocol.

    ``code`` is the stable error code sent in an ``error`` message and ``close_code`` the
    WebSocket close code documented in ``docs/protocol.md``.
    """

    def __init__(self, code: str, message: str, close_code: int, path: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code
        self.path = path


class DecodeError(ProtocolError):
    """A frame is not a valid message (bad msgpack/JSON, wrong shape, unknown type)."""


class UsageError(WaymarkError):
    """The caller used an API of ``sync`` the wrong way (a bug in the caller, not the peer)."""


def split_validation_error(err: msgspec.ValidationError) -> tuple[str, str]:
    """Split msgspec's ``"<problem> - at `<path>`"`` into ``(problem, path)``.

    msgspec leaves the location out for errors at the root; those get ``"$"``, so every
    message names a ``$.path``.
    """
    text = str(err)
    problem, sep, rest = text.rpartition(" - at `")
    if sep and rest.startswith("$") and rest.endswith("`"):
        return problem, rest[:-1]
    return text, "$"
