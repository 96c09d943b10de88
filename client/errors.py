"""Errors of the device library. Every message is one line, fit for a terminal.

::

    ClientError
     ├── UsageError              the caller misused this library (a bug in the caller)
     ├── JournalError            the local journal cannot be opened or written
     ├── NotLoggedIn             no learner is logged in on this device
     ├── UnknownUser             the named learner is not logged in here, or none is the default
     ├── BadEventArgs            ``record`` arguments do not make a valid event (nothing written)
     ├── BadPin                  a kiosk PIN of the wrong form (nothing stored)
     ├── LogoutRefused           a logout would lose sync or leave a live token (--force)
     ├── ServerUnreachable       no connection to the server, or it dropped (retry later)
     └── ServerRefused           the server answered, but said no
          ├── LoginFailed        wrong username or password, or another login problem
          ├── AccessDenied       the server does not know this device's token (close 4401)
          │    ├── DeviceRevoked this device was revoked (close 4403)
          │    └── TokenExpired  the device's token expired and could not be refreshed (4440)
          ├── RequestRefused     a REST request was refused (unknown code, group, bad week)
          └── SyncProtocolError  the server sent an error or broke the sync protocol
"""

from __future__ import annotations

import socket


class ClientError(Exception):
    """Root of every error raised by ``client``."""


class UsageError(ClientError):
    """The caller used an API of ``client`` the wrong way, e.g. a :class:`Device` not opened."""


class JournalError(ClientError):
    """The journal file cannot be opened (bad ``--home``, disk full, not a database)."""


class BadPin(ClientError):
    """A kiosk PIN that is not 4 to 12 digits (``client.pins.set_pin``)."""


class NotLoggedIn(ClientError):
    """No learner is logged in on this device; call ``Device.login`` first."""


class UnknownUser(ClientError):
    """The named learner is not logged in here, or several are and none is the default."""


class BadEventArgs(ClientError):
    """An event was refused before it reached the journal; nothing was written."""


class LogoutRefused(ClientError):
    """A logout was refused: events are not synced, or the server cannot be reached to
    revoke the token; nothing was changed (``force`` logs out anyway)."""


class ServerUnreachable(ClientError):
    """The server could not be reached or the connection dropped; worth retrying."""


class ServerRefused(ClientError):
    """The server answered but refused; retrying the same request will not help."""


class LoginFailed(ServerRefused):
    """The server refused a login (the message carries its problem detail)."""


class AccessDenied(ServerRefused):
    """The server does not accept this device's token; log in again."""


class DeviceRevoked(AccessDenied):
    """This device was revoked on the server; log in again to get a new one."""


class TokenExpired(AccessDenied):
    """The server refused this device's token as expired (close 4440); refreshing it
    (``POST /v1/auth/refresh``) gets a new one."""


class RequestRefused(ServerRefused):
    """The server refused a REST request as malformed or naming nothing it knows (the
    message carries its problem detail)."""


class SyncProtocolError(ServerRefused):
    """The server sent an ``error`` message or a frame this client cannot read."""


def unreachable(server_url: str, err: BaseException | str | None) -> ServerUnreachable:
    """``cannot reach the server at http://host:port: connection refused``: the base URL a
    learner typed at login and the reason in words, not ``[Errno 111] ...``."""
    scheme, _, rest = server_url.partition("://")
    base = f"{scheme}://{rest.partition('/')[0]}" if rest else server_url
    return ServerUnreachable(f"cannot reach the server at {base}: {_reason(err)}")


def _reason(err: BaseException | str | None) -> str:
    reason = getattr(err, "reason", err)  # urllib's URLError wraps the socket's error
    match reason:
        case ConnectionRefusedError():
            return "connection refused"
        case socket.gaierror():
            return "unknown host"
        case TimeoutError() | None:
            return "timed out"
        case OSError() if reason.strerror:
            return reason.strerror.lower()
        case _:
            return str(reason) or type(reason).__name__
