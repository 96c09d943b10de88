"""Structured logs: one JSON line per record (or a readable line), a request id per HTTP
request and per sync connection, and one line per request.

Built on the standard :mod:`logging` with a msgspec formatter rather than structlog:
uvicorn, asyncpg and Litestar already log through the standard library, so one root
handler puts every line of the process in the same format with no bridge, and msgspec is
already how Waymark writes JSON. A record's fields are what it was given as
``extra={"fields": {...}}`` (see :func:`fields`); the formatter adds the time, level,
logger, message and the current request id.

Nothing secret is ever a field: callers pass names and counts, never a password, a token,
an answer or an event's body (``tests/integration/test_metrics.py`` checks a sync's log).

Call :func:`configure` once at start (``waymark serve``), and put :func:`request_logging`
outermost in the app's middleware.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import logging.handlers
import queue
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

LogFormat = Literal["json", "text"]
FORMATS: Final = ("json", "text")
LEVELS: Final = ("debug", "info", "warning", "error")
REQUEST_ID_HEADER: Final = "x-request-id"
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""An incoming ``X-Request-ID`` is kept only if it is this short and plain; anything else
(long, spaces, quotes, control characters: a way to forge log lines) is replaced."""

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
"""The id of the request or sync connection being served (tasks it starts inherit it)."""

access = logging.getLogger("waymark.http")
_encoder = msgspec.json.Encoder()


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: ``log.info("merge", extra=fields(accepted=3))``."""
    return {"fields": values}


def new_request_id(offered: str | None = None) -> str:
    """``offered`` (a client's ``X-Request-ID``) if it is safe to log, else a fresh id."""
    if offered is not None and _SAFE_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def _request_id_of(record: logging.LogRecord) -> str:
    """The request id noted on ``record`` where it was logged, else the current one."""
    noted = getattr(record, "request_id", None)
    return noted if isinstance(noted, str) else request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``request_id``
    (when there is one), the record's fields, and ``exc`` (the traceback, as a string)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = _request_id_of(record)
        if rid:
            line["request_id"] = rid
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...``: for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        parts = [when, f"{record.levelname:<7}", record.name, record.getMessage()]
        rid = _request_id_of(record)
        if rid:
            parts.append(f"request_id={rid}")
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            parts += [f"{k}={v}" for k, v in extra.items()]
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Enqueue(logging.handlers.QueueHandler):
    """Hands a record to the writer thread as it is (formatting happens there too), with
    the request id of where it was logged: the thread has no such context."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.request_id = request_id.get()
        return record


_listener: logging.handlers.QueueListener | None = None


def configure(fmt: LogFormat = "json", level: str = "info") -> None:
    """Send every log record of the process to stderr in ``fmt`` at ``level`` and above.

    Lines are formatted and written by a thread of their own (a queue in between): a merge
    logs a line, and a write to a pipe (a container's log, a terminal) waiting on its
    reader must not hold up the event loop. Replaces the handlers Litestar and uvicorn
    installed, so their lines come out in the same format; uvicorn's own chatter stays at
    warning (the request lines replace its access log)."""
    global _listener
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if _listener is not None:
        _listener.stop()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, handler, respect_handler_level=True)
    _listener.start()
    atexit.register(_listener.stop)  # the last lines are written before the process ends
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(_Enqueue(records))
    root.setLevel(level.upper())
    for name in ("litestar", "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        logger = logging.getLogger(name)
        for old in logger.handlers[:]:
            logger.removeHandler(old)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    quiet = max(logging.WARNING, root.level)
    logging.getLogger("uvicorn").setLevel(quiet)


_SCOPE_KEY: Final = "waymark.request_id"


class RequestLogging(ASGIMiddleware):
    """Give each request (and each sync connection) a request id, and log one line per
    HTTP request when it is answered: method, path, status, duration_ms, request_id, and
    user/device when the request was authenticated. Put it first in the app's middleware,
    and :func:`echo_request_id` in its ``before_send``. On a sync connection the id is in
    every line the connection causes (its merges')."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        offered = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                offered = value.decode("latin-1")
                break
        rid = new_request_id(offered)
        cast("dict[str, Any]", scope)[_SCOPE_KEY] = rid
        token = request_id.set(rid)
        if scope["type"] != ScopeType.HTTP:
            try:
                await next_app(scope, receive, send)
            finally:
                request_id.reset(token)
            return
        start = time.perf_counter()
        status = [500]

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_and_note)
        except Exception as exc:
            # Raised by a middleware after this one (authentication): Litestar's outermost
            # handler answers it, after this line is written.
            status[0] = status_of(exc)
            raise
        finally:
            line: dict[str, Any] = {
                "method": scope.get("method", ""),
                "path": scope.get("path", ""),
                "status": status[0],
                "duration_ms": round((time.perf_counter() - start) * 1000, 2),
            }
            principal = scope.get("user")
            if principal is not None and hasattr(principal, "device"):
                line["user"] = principal.user.username
                if principal.device is not None:
                    line["device"] = principal.device.id
                else:
                    line["session"] = True  # an instructor's or admin's web session
            access.info("request", extra={"fields": line})
            request_id.reset(token)


async def echo_request_id(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: the request id in the ``X-Request-ID`` header of every
    response and WebSocket handshake, errors answered outside the middleware included."""
    if message["type"] in ("http.response.start", "websocket.accept"):
        rid = cast("dict[str, Any]", scope).get(_SCOPE_KEY)
        if rid is not None:
            raw = cast("dict[str, Any]", message)
            raw["headers"] = [*(raw.get("headers") or ()), (b"x-request-id", rid.encode())]


def status_of(exc: BaseException) -> int:
    """The HTTP status Litestar answers ``exc`` with (``HTTPException.status_code``,
    ``ServerError.status``; 500 for anything else)."""
    for attribute in ("status_code", "status"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int):
            return value
    return 500
