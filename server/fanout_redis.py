"""Fan-out over Redis (``waymark serve --fanout redis://…``): for deployments that outgrow
PostgreSQL ``LISTEN``/``NOTIFY``.

:class:`RedisFanout` is a :class:`~server.fanout.Backend`: every instance publishes its own
commits' announcements (``"<user_id> <head>"``, as the ``NOTIFY`` payload: never the
entries) on one channel through Litestar channels' Redis pub/sub backend, and hears every
instance's there. Pub/sub keeps nothing, so whatever Redis drops is lost for good; that is
safe because an announcement only says "read the feed", and the feed is the truth:

* this instance cannot publish (Redis down): it keeps, per learner, the highest head it
  could not announce and publishes those when it is back;
* it cannot hear: on reconnect every connection is offered a read from its own cursor
  (:meth:`~server.fanout.Hub.resync`), as after a PostgreSQL restart.

The channels plugin's workers end at the first connection error, so each connection to
Redis gets a fresh plugin, run as an async context manager by a supervisor that reconnects
with backoff; redis-py's own retries are off, so no reconnect (and no missed message)
goes unnoticed. A heartbeat published to the channel and heard back proves both
directions; a connection that answers nothing within :attr:`RedisFanout.heartbeat_s` is
treated as lost. :attr:`RedisFanout.healthy` is what ``/v1/ready`` reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from redis.asyncio.retry import Retry  # the asyncio client's own, not redis.retry's
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.fanout import Hub, announcement, parse_announcement

__all__ = ["DEFAULT_CHANNEL_PREFIX", "RedisFanout", "check_url", "ping", "redacted"]

log = logging.getLogger("waymark.fanout")

DEFAULT_CHANNEL_PREFIX = "waymark"
_SCHEMES = ("redis", "rediss", "unix")
_PING = "ping:"
_FAILURES = (RedisError, OSError)


def check_url(url: str) -> str:
    """``url`` if it is a Redis URL redis-py accepts; :class:`ValueError` saying why not."""
    if urllib.parse.urlsplit(url).scheme not in _SCHEMES:
        raise ValueError(f"{redacted(url)!r} is not a redis://, rediss:// or unix:// URL")
    try:
        Redis.from_url(url)  # parses only: no connection yet
    except ValueError as err:
        raise ValueError(f"{redacted(url)!r}: {err}") from None
    return url


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def _client(url: str, timeout_s: float) -> Redis:
    return Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
    )


async def ping(url: str, timeout_s: float = 5.0) -> None:
    """Whether Redis answers at ``url`` (``waymark serve`` asks before it starts); raises
    :class:`redis.exceptions.RedisError` or :class:`OSError`."""
    redis = _client(url, timeout_s)
    try:
        await redis.ping()
    finally:
        await redis.aclose()


class _Watched(RedisChannelsPubSubBackend):
    """The pub/sub backend, reporting a lost connection instead of ending its plugin's
    workers with an exception nobody reads."""

    def __init__(
        self, *, redis: Redis, lost: asyncio.Event, unsent: Callable[[bytes], None]
    ) -> None:
        super().__init__(redis=redis)
        self._lost = lost
        self._unsent = unsent

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        if not self._lost.is_set():
            try:
                await super().publish(data, channels)
                return
            except _FAILURES as err:
                log.warning("fan-out: cannot publish to Redis (%s)", err)
                self._lost.set()
        self._unsent(data)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        try:
            async for event in super().stream_events():
                yield event
        except _FAILURES as err:
            log.warning("fan-out: the Redis subscription dropped (%s)", err)
            self._lost.set()


class RedisFanout:
    """Announcements between instances on the Redis channel ``<channel_prefix>:feed``.
    Call :meth:`start` once (it waits for the first attempt to connect, and keeps trying
    in the background if that fails), :meth:`stop` at shutdown."""

    name = "redis"

    def __init__(
        self,
        url: str,
        hub: Hub,
        *,
        channel_prefix: str = DEFAULT_CHANNEL_PREFIX,
        retry_s: tuple[float, float] = (0.05, 2.0),
        heartbeat_s: float = 5.0,
    ) -> None:
        self.url = url
        self.hub = hub
        self.channel = f"{channel_prefix}:feed"
        self.retry_s = retry_s
        self.heartbeat_s = heartbeat_s
        self._healthy = False
        self._health = asyncio.Condition()
        self._channels: ChannelsPlugin | None = None
        self._unsent: dict[str, int] = {}
        """Per learner: the highest head this instance committed and could not announce."""
        self._heads: set[asyncio.Task[None]] = set()
        self._echo = ""
        self._echoed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        """Subscribed, and Redis answers (``/v1/ready``)."""
        return self._healthy

    async def healthy_is(self, healthy: bool) -> None:
        """Return once :attr:`healthy` is ``healthy`` (for whoever must wait on a change)."""
        async with self._health:
            await self._health.wait_for(lambda: self._healthy is healthy)

    async def _set_healthy(self, healthy: bool) -> None:
        async with self._health:
            self._healthy = healthy
            self._health.notify_all()

    async def start(self) -> None:
        tried = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._keep(tried))
        await tried

    async def stop(self) -> None:
        for task in [*self._heads, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def announce(self, user_id: str, head: int | None) -> None:
        if head is None:  # the writer kept no entries: find the head, then announce it
            task = asyncio.create_task(self._announce_head(user_id))
            self._heads.add(task)
            task.add_done_callback(self._heads.discard)
        elif self._channels is not None and self.healthy:
            self._channels.publish(announcement(user_id, head), self.channel)
        else:
            self._keep_unsent(user_id, head)

    async def _announce_head(self, user_id: str) -> None:
        try:
            head = await self.hub.store.feed_head(user_id)
        except Exception as err:  # the store is away: this instance's devices read anyway
            log.warning("fan-out: cannot read the feed head to announce: %s", err)
            return
        self.announce(user_id, head)

    def _keep_unsent(self, user_id: str, head: int) -> None:
        self._unsent[user_id] = max(head, self._unsent.get(user_id, 0))

    def _not_published(self, data: bytes) -> None:
        if (found := parse_announcement(data.decode(errors="replace"))) is not None:
            self._keep_unsent(*found)

    async def _heard(self, data: bytes) -> None:
        payload = data.decode(errors="replace")
        if payload == self._echo:
            self._echoed.set()
        elif (found := parse_announcement(payload)) is not None:
            self.hub.heard(*found)

    async def _keep(self, tried: asyncio.Future[None]) -> None:
        delay = self.retry_s[0]
        was_up = False
        while True:
            lost = asyncio.Event()
            try:
                async with self._connected(lost) as channels:
                    try:
                        delay = self.retry_s[0]
                        await self._up(channels, again=was_up)
                        was_up = True
                        if not tried.done():
                            tried.set_result(None)
                        await self._watch(channels, lost)
                    finally:
                        # Before the plugin closes: from now on announcements are kept.
                        self._channels = None
                        await self._set_healthy(False)
            except _FAILURES as err:
                log.warning("fan-out: Redis at %s unreachable (%s); retrying", self._where, err)
            except Exception:
                # A dead supervisor would leave this instance deaf for good: log, go on.
                log.exception("fan-out: the Redis connection failed")
            if not tried.done():
                tried.set_result(None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_s[1])

    @property
    def _where(self) -> str:
        return redacted(self.url)

    @contextlib.asynccontextmanager
    async def _connected(self, lost: asyncio.Event) -> AsyncIterator[ChannelsPlugin]:
        """One connection to Redis: subscribed, and a command answered."""
        redis = _client(self.url, self.heartbeat_s)
        backend = _Watched(redis=redis, lost=lost, unsent=self._not_published)
        channels = ChannelsPlugin(backend=backend, channels=[self.channel])
        try:
            async with (
                channels,
                channels.start_subscription(self.channel) as subscriber,
                subscriber.run_in_background(self._heard, join=False),
            ):
                await redis.ping()
                yield channels
        finally:
            with contextlib.suppress(*_FAILURES):
                await redis.aclose()

    async def _up(self, channels: ChannelsPlugin, *, again: bool) -> None:
        self._channels = channels
        await self._set_healthy(True)
        if again:
            log.info("fan-out: Redis at %s answers again", self._where)
        # Whatever was announced while this instance was not subscribed (down, or not yet
        # up while devices connected) was not heard here: every connection reads.
        self.hub.resync()
        unsent, self._unsent = self._unsent, {}
        for user_id, head in unsent.items():  # what this instance could not tell the others
            channels.publish(announcement(user_id, head), self.channel)

    async def _watch(self, channels: ChannelsPlugin, lost: asyncio.Event) -> None:
        """Return when the connection is lost, or a heartbeat is not heard back in time."""
        heartbeat = asyncio.create_task(self._heartbeat(channels, lost))
        try:
            await lost.wait()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, channels: ChannelsPlugin, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)  # a period, not a wait for something
            self._echo = f"{_PING}{uuid.uuid4().hex}"
            self._echoed.clear()
            channels.publish(self._echo, self.channel)
            try:
                await asyncio.wait_for(self._echoed.wait(), self.heartbeat_s)
            except TimeoutError:
                log.warning("fan-out: no heartbeat back from Redis in %g s", self.heartbeat_s)
                lost.set()
                return
