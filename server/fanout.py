"""Pokes between connections: "this user's feed grew, pull from your cursor".

In-process through Litestar's channels plugin with its memory backend on SQLite, and
across instances with its asyncpg backend (PostgreSQL LISTEN/NOTIFY) on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from server.storage.engine import Engine, PostgresEngine


def user_channel(user_id: str) -> str:
    return f"waymark_u_{user_id}"


class PooledAsyncPgBackend(AsyncPgChannelsBackend):
    """The stock backend, but NOTIFY goes through the store's pool.

    The stock ``publish`` opens a new connection per message, which would cost a TCP and
    auth round trip on every merge; LISTEN still uses the backend's own connection.
    """

    def __init__(self, engine: PostgresEngine) -> None:
        super().__init__(dsn=engine.url)
        self._engine = engine

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        async with self._engine.pool.acquire() as conn:
            for channel in channels:
                await conn.execute("SELECT pg_notify($1, $2)", channel, data.decode())


def channels_plugin(engine: Engine) -> ChannelsPlugin:
    if isinstance(engine, PostgresEngine):
        backend: AsyncPgChannelsBackend | MemoryChannelsBackend = PooledAsyncPgBackend(engine)
    else:
        backend = MemoryChannelsBackend()
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)
