"""What every part of the store shares: the engine, the clock, the policy and points
defaults, the server's secrets, the caches (catalog, rules, device owners, scopes) and the
state encoders. The per-domain mixins (``accounts``, ``feed``, ``catalog``, ``merge``,
``projections``, ``gamify``, ``outbox``) build on :class:`StoreBase`; ``store.Store``
combines them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec

from server.credentials import SigningKey
from server.storage.engine import Engine, Txn
from sync.catalog import Catalog, catalog_from_builtins
from sync.events import CLOCK_SKEW_MS, MIN_AT_MS
from sync.gamify import CodeFactory, GamifyState, PointsRules, certificate_code, rules_for
from sync.hlc import format_hlc
from sync.merge.decide import Policy
from sync.merge.fold import UserState
from sync.merge.outbox import Seen

Clock = Callable[[], int]

_state_enc = msgspec.json.Encoder()
_state_dec = msgspec.json.Decoder(UserState)
_json = msgspec.json.Encoder()
_body_dec = msgspec.json.Decoder(dict[str, Any])
_gamify_dec = msgspec.json.Decoder(GamifyState)
_seen_dec = msgspec.json.Decoder(Seen)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _server_hlc(now: int) -> str:
    """HLC for an entry the server writes on its own (a grade, a review, a REST action)."""
    return format_hlc(max(now, MIN_AT_MS), 0)


STALE_DEVICE_MS = 30 * 86_400_000
"""How long a silent device holds its learner's settled horizon back (30 days)."""


class StoreBase:
    """The engine, the clock, the secrets and the caches every domain of the store uses."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = wall_clock_ms,
        policy: Policy | None = None,
        points: PointsRules | None = None,
        stale_device_ms: int = STALE_DEVICE_MS,
        clock_skew_ms: int = CLOCK_SKEW_MS,
    ) -> None:
        self.engine = engine
        self.clock_skew_ms = clock_skew_ms
        """How far ahead of :attr:`clock` an event's ``at`` may lie and be taken as sent;
        beyond it the merge takes the event at its receipt (:func:`sync.events.ahead`)."""
        self.stale_device_ms = stale_device_ms
        """A device silent longer than this stops holding its learner's settled horizon
        back (:mod:`sync.merge.horizon`); a late event from it is merged as if at the horizon."""
        self.clock = clock
        self.policy = policy or Policy()
        self.points = points or PointsRules()
        """The server's gamification defaults; a catalog's section overrides them."""
        self.last_recomputed: list[str] = []
        self._catalog: tuple[str, Catalog] = ("", Catalog())
        self._rules: tuple[str, PointsRules] = ("", self.points)
        self._code_secret = b""
        self._device_users: dict[str, str] = {}
        """device id -> its learner's id (fixed for a device's life)."""
        self._settled_under: dict[str, str] = {}
        """learner id -> the catalog version their summed evidence was last checked
        against (committed), so a push checks for a refold once per catalog change."""
        self._scopes: dict[str, set[str]] = {}
        """Scopes each learner is known to have recorded (committed), so a push inserts
        only new ones."""
        self.signing_key: SigningKey | None = None
        """The Ed25519 key credentials are signed with (loaded by :meth:`open`)."""

    async def open(self) -> list[int]:
        """Connect, migrate and load the server's secrets; returns the migrations applied."""
        await self.engine.open()
        applied = await self.engine.migrate()
        self._code_secret = bytes.fromhex(
            await self.secret("certificate-code", lambda: secrets.token_hex(32))
        )
        self.signing_key = SigningKey.from_private_text(
            await self.secret("signing-key", lambda: SigningKey.generate().to_private_text())
        )
        return applied

    async def secret(self, name: str, make: Callable[[], str]) -> str:
        """The server secret ``name``, made by ``make`` the first time any instance asks
        (the first insert wins; every instance then reads the same value)."""
        value = await self.engine.fetchval("SELECT value FROM server_secrets WHERE name = ?", name)
        if value is None:
            async with self.engine.transaction(lock=f"waymark:secret:{name}") as txn:
                await txn.execute(
                    "INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO NOTHING",
                    name,
                    make(),
                    self.clock(),
                )
            value = await self.engine.fetchval(
                "SELECT value FROM server_secrets WHERE name = ?", name
            )
        return str(value)

    def rules(self, catalog: Catalog) -> PointsRules:
        """Points, levels and badges for ``catalog`` (cached per catalog version)."""
        if self._rules[0] != catalog.version:
            self._rules = (catalog.version, rules_for(catalog, self.points))
        return self._rules[1]

    async def close(self) -> None:
        await self.engine.close()

    async def ping(self) -> None:
        await self.engine.fetchval("SELECT 1")

    def _code_maker(self, user_id: str) -> CodeFactory:
        secret = self._code_secret
        return lambda kind, ref: certificate_code(secret, user_id, kind, ref)

    async def catalog(self) -> Catalog:
        """The current catalog (empty if none was loaded), re-read only when it changed."""
        version = await self.engine.fetchval("SELECT version FROM catalog WHERE id = 1")
        return await self._catalog_for(version, self.engine.fetchval)

    async def _catalog_for(self, version: str | None, fetchval: Any) -> Catalog:
        if version is None:
            return Catalog()
        if version != self._catalog[0]:
            body = await fetchval("SELECT body FROM catalog WHERE id = 1")
            self._catalog = (version, catalog_from_builtins(msgspec.json.decode(body)))
        return self._catalog[1]

    async def _catalog_txn(self, txn: Txn) -> Catalog:
        version = await txn.fetchval("SELECT version FROM catalog WHERE id = 1")
        return await self._catalog_for(version, txn.fetchval)
