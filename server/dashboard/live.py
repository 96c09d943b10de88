"""Live updates of open dashboard pages: ``GET /dashboard/live``, server-sent events.

The instance's :class:`~server.fanout.Hub` tells :class:`LiveFeed` of every learner commit
it hears (its own commits, and every other instance's through ``LISTEN``/``NOTIFY`` or
Redis) and of every device that says hello here. The feed reads the learner's latest sync
time once per announcement (not once per open page) and sends ``event: synced`` to every
open page whose viewer may see that learner (:func:`server.dashboard.scope.visible_to`,
taken when the page connected). ``static/live.js`` updates the learner's row. A page
without JavaScript simply shows what was true when it loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import msgspec
from litestar import Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from server.auth import session_policy
from server.dashboard.freshness import iso, local_time
from server.dashboard.pages import viewer
from server.dashboard.scope import Visibility, visible_to
from server.dashboard.urls import LIVE
from server.storage.accounts import SessionPolicy
from server.storage.store import Store

log = logging.getLogger("waymark.dashboard")

KEEPALIVE_S: Final = 15.0
"""A comment line this often keeps proxies from closing a quiet stream."""
RETRY_MS: Final = 2_000
"""How soon a browser reconnects after the stream drops (the ``retry:`` field)."""
QUEUE_MAX: Final = 1_000
"""Events waiting for one slow page; past this its oldest are dropped (it is late, and a
reload shows the truth)."""


class Synced(msgspec.Struct, frozen=True):
    """``data`` of an ``event: synced``: the learner, when (ISO 8601, UTC, and in the
    viewer's zone), and in words."""

    user_id: str
    username: str
    at: int
    iso: str
    local: str
    ago: str = "just now"


class _Page:
    """One open page: what its viewer may see, its session (the cookie), and its queue
    of events (``None``: end)."""

    def __init__(self, visibility: Visibility, timezone: str, session: str) -> None:
        self.visibility = visibility
        self.timezone = timezone
        self.session = session
        self.queue: asyncio.Queue[Synced | None] = asyncio.Queue(QUEUE_MAX)

    def put(self, item: Synced | None) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(item)


class LiveFeed:
    """The open dashboard pages of this instance, fed by the hub (:meth:`announced`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pages: set[_Page] = set()
        self._heads: dict[str, int] = {}
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.closed = False

    def announced(self, user_id: str, head: int | None) -> None:
        """``user_id`` synced: a commit up to feed entry ``head`` (heard once from the
        committing code and again from the backend: the second is dropped), or a hello
        (``None``). Must not block: the read happens in a task."""
        if not self.pages or self.closed:
            return
        if head is not None:
            if head <= self._heads.get(user_id, 0):
                return
            self._heads[user_id] = head
        if user_id in self._reading:
            self._again.add(user_id)
            return
        self._reading[user_id] = asyncio.create_task(self._tell(user_id))

    async def _tell(self, user_id: str) -> None:
        try:
            while True:
                self._again.discard(user_id)
                at = await self.store.last_sync_of(user_id)
                user = await self.store.user_by_id(user_id)
                if at is not None and user is not None:
                    for page in list(self.pages):
                        if page.visibility.can_see(user_id):
                            page.put(
                                Synced(
                                    user_id,
                                    user.username,
                                    at,
                                    iso(at),
                                    local_time(at, page.timezone),
                                )
                            )
                if user_id not in self._again:
                    break
        except Exception:  # a page is late, never wrong: its next load shows the truth
            log.exception("live update of the dashboard failed")
        finally:
            del self._reading[user_id]

    def open(self, visibility: Visibility, timezone: str, session: str = "") -> _Page:
        """A page opened a stream; ``session``: its cookie (:meth:`signed_out` ends it)."""
        page = _Page(visibility, timezone, session)
        if self.closed:
            page.put(None)
        else:
            self.pages.add(page)
        return page

    def leave(self, page: _Page) -> None:
        self.pages.discard(page)
        if not self.pages:
            self._heads.clear()

    def signed_out(self, session: str) -> None:
        """The browser of cookie ``session`` signed out: its streams end now."""
        for page in list(self.pages):
            if page.session and hmac.compare_digest(page.session, session):
                page.put(None)

    def close(self) -> None:
        """End every stream (the server is stopping); new ones end at once."""
        self.closed = True
        for page in list(self.pages):
            page.put(None)


_encode = msgspec.json.Encoder()


async def _stream(
    feed: LiveFeed, page: _Page, policy: SessionPolicy
) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(comment="live", retry=RETRY_MS)
        while True:
            try:
                item = await asyncio.wait_for(page.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                # A session that ended (idle, expired, signed out elsewhere) ends its
                # stream; checking it does not keep it alive. The browser's reconnect is
                # then refused (401) and the page stays as it is.
                if await feed.store.web_session(page.session, policy, touch=False) is None:
                    return
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            if item is None:
                return
            yield ServerSentEventMessage(data=_encode.encode(item).decode(), event="synced")
    finally:
        feed.leave(page)


@get(LIVE, name="dashboard:live")
async def live(request: Request[Any, Any, Any], store: Store) -> ServerSentEvent:
    """Server-sent events: ``event: synced`` with :class:`Synced` as ``data`` whenever a
    learner the viewer may see syncs; a comment every 15 s otherwise."""
    principal = viewer(request)
    seen = await visible_to(store, principal.user)
    feed: LiveFeed = request.app.state.dashboard_live
    page = feed.open(seen, principal.user.timezone, str(request.auth))
    return ServerSentEvent(_stream(feed, page, session_policy(request.app.state)))
