"""The event stream (``docs/events.md``): every published event in commit order from a
cursor, as pages (``GET /v1/events``) or, asked with ``Accept: text/event-stream``, as
server-sent events that go on as events are committed, for admins and for service tokens
with scope ``events:read``. Each event is the catalog's envelope
(:class:`sync.event_catalog.Envelope`).

Server-sent events are asked for by the ``Accept`` header only, not by a path of their own:
a client that does not ask for an endless answer (a scanner walking every route, say)
never gets one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.response.base import ASGIResponse

from server.api.common import AuthRequest, errors
from server.auth import SERVICE_SCOPE, Principal
from server.errors import BadRequest, Forbidden
from server.storage.outbox import START, Cursor
from server.storage.store import Store
from sync.event_catalog import BadPattern, Envelope, matching

MAX_LIMIT: Final = 1000
POLL_SECONDS: Final = 0.5
"""How often a server-sent stream looks for new events while there are none
(``app.state.events_poll_seconds`` overrides it)."""
KEEP_ALIVE_SECONDS: Final = 15.0
"""How long a server-sent stream stays silent before it sends a comment."""
_json = msgspec.json.Encoder()


class EventPage(msgspec.Struct, frozen=True):
    """A page of the stream; ask again with ``after=next`` to resume."""

    events: list[Envelope]
    next: str
    """The cursor of the page's last event, or the one asked for when nothing was new."""


class EventStreams:
    """The open server-sent streams' stop signal: a stopping server ends them, so that it
    does not wait for clients that never hang up."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()


def _reader(principal: Principal) -> None:
    # A service token reached this handler only with scope events:read (server/auth.py).
    if principal.service is None and principal.user.role != "admin":
        raise Forbidden("only admins and service tokens with scope events:read read events")


def _cursor(after: str | None, last_event_id: str | None = None) -> Cursor:
    given = last_event_id if last_event_id else after
    if not given:
        return START
    try:
        return Cursor.parse(given)
    except ValueError as err:
        raise BadRequest(f"after: {err}") from None


def _types(types: str | None) -> frozenset[str] | None:
    if types is None or types.strip() in ("", "*"):
        return None
    try:
        return matching(types.split(","))
    except BadPattern as err:
        raise BadRequest(f"types: {err}") from None


Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="events per page")]
After = Annotated[
    str | None, Parameter(description="the cursor to read after (a page's next); absent: all")
]
Types = Annotated[
    str | None,
    Parameter(description="comma-separated names or patterns (`*`, `progress.*`)"),
]


async def _sse(
    store: Store,
    streams: EventStreams,
    after: Cursor,
    types: frozenset[str] | None,
    poll: float,
) -> AsyncIterator[ServerSentEventMessage]:
    cursor, quiet = after, 0.0
    while not streams.stopping.is_set():
        items = await store.events_after(cursor, 100, types=types)
        for item in items:
            cursor = item.cursor
            data = _json.encode(item.event).decode()
            yield ServerSentEventMessage(data=data, event=item.event.type, id=str(cursor))
        if items:
            quiet = 0.0
            continue
        try:  # nothing new: look again after a while, or end with the server
            await asyncio.wait_for(streams.stopping.wait(), poll)
        except TimeoutError:
            quiet += poll
            if quiet >= KEEP_ALIVE_SECONDS:
                quiet = 0.0
                yield ServerSentEventMessage(comment="keep-alive")


class _EventStream(ServerSentEvent):
    """A server-sent stream answered by a handler whose own media type is JSON (its
    pages): Litestar (2.x) lets the handler's media type override the response's, so this
    keeps ``text/event-stream``."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


def _open_stream(
    request: AuthRequest, store: Store, after: str | None, types: str | None
) -> ServerSentEvent:
    _reader(request.user)
    cursor = _cursor(after, request.headers.get("last-event-id"))
    wanted = _types(types)
    state = request.app.state
    streams: EventStreams = state.event_streams
    poll = float(getattr(state, "events_poll_seconds", POLL_SECONDS))
    return _EventStream(_sse(store, streams, cursor, wanted, poll))


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]
    opt = {SERVICE_SCOPE: "events:read"}

    @get("/", responses=errors(403))
    async def events(
        self,
        request: AuthRequest,
        store: Store,
        after: After = None,
        types: Types = None,
        limit: Limit = 100,
    ) -> EventPage:
        """Published events after a cursor, in commit order (the catalog's envelopes).
        With ``Accept: text/event-stream``: server-sent events from the cursor (``after``,
        or the ``Last-Event-ID`` a reconnecting client sends), on as they are committed:
        ``event:`` the type, ``id:`` the event's cursor, ``data:`` its envelope."""
        if "text/event-stream" in request.headers.get("accept", ""):
            # Litestar sends a Response returned by any handler as it is.
            return _open_stream(request, store, after, types)  # type: ignore[return-value]
        _reader(request.user)
        cursor, wanted = _cursor(after), _types(types)
        items = await store.events_after(cursor, limit, types=wanted)
        last = items[-1].cursor if items else cursor
        return EventPage([i.event for i in items], str(last))
