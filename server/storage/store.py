"""The store: every storage call Waymark makes, written once for both engines.

Open with :meth:`Store.open` (runs migrations). The merge of a device's push happens in
:meth:`Store.merge`, one transaction per push under the user's lock: dedupe by
``(device_id, seq)``, validate against the catalog, append to the feed, fold into the
materialized state, advance the device's watermark — all or nothing, so an ack always
means "durably committed".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from server.credentials import SigningKey
from server.errors import BadRequest, Conflict, DeviceRevoked, Forbidden, NotFound
from server.storage.engine import Engine, Row, Txn, open_engine
from sync.catalog import Catalog, catalog_from_builtins, catalog_to_builtins
from sync.decide import Context, Decision, Policy, decide, grade, review
from sync.events import MIN_AT_MS, Event, Rejection, check_event
from sync.fold import UserState, apply_body
from sync.gamify import (
    AWARD_TYPES,
    BoardEntry,
    CodeFactory,
    GamifyState,
    GamifyView,
    Leaderboard,
    PointsRules,
    certificate_code,
    gamify_view,
    iso_week,
    leaderboard,
    rules_for,
)
from sync.hlc import format_hlc
from sync.merge import DeviceEntry, Entry, Learner, merge, settle
from sync.messages import EventRejection, FeedEntry
from sync.outbox import DomainEvent, Seen, baseline
from sync.views import LearnerView, competency_evidence, learner_view

ROLES: Final = ("learner", "instructor", "admin")
Clock = Callable[[], int]

_state_enc = msgspec.json.Encoder()
_state_dec = msgspec.json.Decoder(UserState)
_json = msgspec.json.Encoder()
_body_dec = msgspec.json.Decoder(dict[str, Any])
_gamify_dec = msgspec.json.Decoder(GamifyState)
_seen_dec = msgspec.json.Decoder(Seen)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class User(msgspec.Struct, frozen=True):
    id: str
    username: str
    role: str
    timezone: str
    created_at: int
    feed_head: int
    plan: str = "free"
    leaderboard_opt_out: bool = False


class IssuedCertificate(msgspec.Struct, frozen=True):
    """A certificate as its verification shows it."""

    code: str
    user_id: str
    username: str
    kind: str
    ref: str
    title: str
    issued_at: int


class EarnedBadgeRecord(msgspec.Struct, frozen=True):
    user_id: str
    username: str
    badge_id: str
    name: str
    earned_at: int
    points: int
    evidence: list[str]


class Group(msgspec.Struct, frozen=True):
    """Learners an instructor put together (for leaderboards)."""

    id: str
    name: str
    created_by: str
    created_at: int
    members: list[str] = []
    """User names; filled only where the caller may see them."""


WEEK_PATTERN: Final = r"^\d{4}-W\d{2}$"


class Device(msgspec.Struct, frozen=True):
    id: str
    user_id: str
    name: str
    created_at: int
    revoked_at: int | None
    acked_seq: int
    last_seen_at: int | None


class OutboxEvent(msgspec.Struct, frozen=True):
    """One row of the outbox: a domain event, committed with the merge that derived it."""

    id: str
    user_id: str
    user_seq: int
    type: str
    body: dict[str, Any]
    occurred_at: int
    recorded_at: int


class MergeResult(msgspec.Struct, frozen=True):
    acked_seq: int
    accepted: int
    duplicates: int
    rejected: list[EventRejection]
    feed_head: int
    gap_at: int | None = None
    """The first seq that was not applied because the seq before it is missing."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    scheme, salt, _ = ([*stored.split("$"), "", ""])[:3]
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, salt=bytes.fromhex(salt)), stored)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: Row) -> User:
    return User(
        row["id"],
        row["username"],
        row["role"],
        row["timezone"],
        row["created_at"],
        row["feed_head"],
        row["plan"],
        bool(row["leaderboard_opt_out"]),
    )


def _device(row: Row) -> Device:
    return Device(
        row["id"],
        row["user_id"],
        row["name"],
        row["created_at"],
        row["revoked_at"],
        row["acked_seq"],
        row["last_seen_at"],
    )


def _entry(row: Row) -> FeedEntry:
    return FeedEntry(
        user_seq=row["user_seq"],
        origin=row["origin"],
        type=row["type"],
        body=_body_dec.decode(row["body"]),
        hlc=row["hlc"],
        at=row["at"],
        tz=row["tz"],
        device_id=row["device_id"],
        seq=row["seq"],
    )


GAMIFICATION_SCOPE: Final = "gamification"
"""A changed catalog ``gamification`` section (points, levels, badges) concerns everyone."""


def _server_hlc(now: int) -> str:
    """HLC for an entry the server writes on its own (a grade, a review, a REST action)."""
    return format_hlc(max(now, MIN_AT_MS), 0)


def changed_scopes(before: Catalog, after: Catalog) -> set[str]:
    """``course:ID`` / ``path:ID`` scopes whose definition differs between two catalogs
    (a competency change touches every course that gives evidence for it)."""
    scopes: set[str] = set()
    old = {c.id: c for c in before.courses}
    for course in after.courses:
        if old.get(course.id) != course:
            scopes.add(f"course:{course.id}")
    scopes |= {f"course:{c}" for c in old if after.course(c) is None}
    old_paths = {p.id: p for p in before.paths}
    for path in after.paths:
        if old_paths.get(path.id) != path:
            scopes.add(f"path:{path.id}")
    old_comp = {c.id: c for c in before.competencies}
    changed = {c.id for c in after.competencies if old_comp.get(c.id) != c}
    for competency in after.competencies:
        if competency.id in changed:
            scopes |= {
                f"course:{course}" for _, course, _ in competency_evidence(after, competency)
            }
    if before.gamification != after.gamification:
        scopes.add(GAMIFICATION_SCOPE)
    return scopes


# A user with their feed head (users.feed_head before migration 5).
_USER_SELECT = (
    "SELECT u.*, s.through_seq AS feed_head FROM users u JOIN user_state s ON s.user_id = u.id "
)

# What a learner's writes load (aliases: u = users, s = user_state).
_SLICE = "s.through_seq, s.state, s.gamify, s.seen, u.plan, u.timezone"

_FEED_COLUMNS: Final = (
    ("user_id", "text"),
    ("user_seq", "bigint"),
    ("origin", "text"),
    ("device_id", "text"),
    ("seq", "bigint"),
    ("hlc", "text"),
    ("at", "bigint"),
    ("tz", "text"),
    ("type", "text"),
    ("body", "text"),
    ("recorded_at", "bigint"),
)
_OUTBOX_COLUMNS: Final = (
    ("user_id", "text"),
    ("id", "text"),
    ("user_seq", "bigint"),
    ("n", "integer"),
    ("type", "text"),
    ("body", "text"),
    ("occurred_at", "bigint"),
    ("recorded_at", "bigint"),
)
_LEDGER_COLUMNS: Final = (
    ("user_id", "text"),
    ("key", "text"),
    ("points", "bigint"),
    ("rule", "text"),
    ("ref", "text"),
    ("earned_at", "bigint"),
    ("week", "text"),
    ("awarded_at", "bigint"),
    ("user_seq", "bigint"),
)
_BADGE_COLUMNS: Final = (
    ("user_id", "text"),
    ("badge_id", "text"),
    ("name", "text"),
    ("earned_at", "bigint"),
    ("points", "bigint"),
    ("evidence", "text"),
    ("user_seq", "bigint"),
)
_CODE_COLUMNS: Final = (("code", "text"), ("user_id", "text"))
_CERTIFICATE_COLUMNS: Final = (
    ("code", "text"),
    ("user_id", "text"),
    ("kind", "text"),
    ("ref", "text"),
    ("title", "text"),
    ("issued_at", "bigint"),
    ("user_seq", "bigint"),
)
_SCOPE_COLUMNS: Final = (("user_id", "text"), ("scope", "text"))


class _FeedWriter:
    """Appends to one user's feed inside a merge transaction (the user's lock is held):
    numbers entries, keeps the materialized state, the gamification state, the award
    tables and the user's scopes in step."""

    def __init__(
        self,
        user_id: str,
        head: int,
        plan: str,
        state: UserState,
        now: int,
        *,
        tz: str = "UTC",
        gamify: GamifyState | None = None,
        seen: Seen | None = None,
    ) -> None:
        self.user_id, self.head, self.plan, self.state, self.now = user_id, head, plan, state, now
        self.tz = tz
        self.gamify = gamify if gamify is not None else GamifyState()
        self.seen: Seen = seen if seen is not None else {}
        self.outbox: list[tuple[Any, ...]] = []
        self.rows: list[tuple[Any, ...]] = []
        self.scopes: set[str] = set()
        self.ledger: list[tuple[Any, ...]] = []
        self.badges: list[tuple[Any, ...]] = []
        self.certificates: list[tuple[Any, ...]] = []

    @classmethod
    async def open_txn(cls, txn: Txn, user_id: str, now: int, catalog: Catalog) -> _FeedWriter:
        """Load the learner's slice (in a transaction that holds ``learner=user_id``)."""
        row = await txn.fetchrow(
            f"SELECT {_SLICE} FROM user_state s JOIN users u ON u.id = s.user_id"
            " WHERE s.user_id = ?",
            user_id,
        )
        assert row is not None
        return cls.of_row(user_id, row, now, catalog)

    @classmethod
    def of_row(cls, user_id: str, row: Row, now: int, catalog: Catalog) -> _FeedWriter:
        """The writer for a learner from a row of :data:`_SLICE` columns."""
        plan = str(row["plan"])
        state = _state_dec.decode(row["state"])
        gamify = _gamify_dec.decode(row["gamify"])
        # NULL: progress from before the outbox: take a look, announce nothing.
        seen = (
            baseline(state, catalog, plan) if row["seen"] is None else _seen_dec.decode(row["seen"])
        )
        return cls(
            user_id,
            int(row["through_seq"]),
            plan,
            state,
            now,
            tz=str(row["timezone"]),
            gamify=gamify,
            seen=seen,
        )

    @property
    def learner(self) -> Learner:
        """The slice the pure merge folds into (the same state objects as this writer's)."""
        return Learner(self.user_id, self.state, self.gamify, self.tz, self.plan, self.seen)

    def append(self, entries: Sequence[Entry], events: Sequence[DomainEvent] = ()) -> None:
        """Number and queue what :mod:`sync.merge` decided, in its order: the entries, and
        the domain events for the outbox (id ``user:user_seq:n``, stable across rebuilds)."""
        first = self.head + 1
        numbered: dict[int, int] = {}
        for event in events:
            user_seq = first + event.entry
            n = numbered[user_seq] = numbered.get(user_seq, -1) + 1
            self.outbox.append(
                (
                    self.user_id,
                    f"{self.user_id}:{user_seq}:{n}",
                    user_seq,
                    n,
                    event.type,
                    _json.encode(event.body).decode(),
                    event.at,
                    self.now,
                )
            )
        for entry in entries:
            if isinstance(entry, DeviceEntry):
                self.device(entry.device_id, entry.event, entry.body_json)
            else:
                self.server(entry.type, entry.body, entry.hlc, entry.at, entry.tz)

    def device(self, device_id: str, event: Event, body_json: str) -> None:
        self.head += 1
        self.rows.append(
            (
                self.user_id,
                self.head,
                "device",
                device_id,
                event.seq,
                event.hlc,
                event.at,
                event.tz,
                event.type,
                body_json,
                self.now,
            )
        )

    def server(self, type_: str, body: dict[str, Any], hlc: str, at: int, tz: str) -> None:
        """Append a decision (already folded into ``state`` by ``sync.decide``)."""
        self.head += 1
        self.rows.append(
            (
                self.user_id,
                self.head,
                "server",
                None,
                None,
                hlc,
                at,
                tz,
                type_,
                _json.encode(body).decode(),
                self.now,
            )
        )
        if type_ in AWARD_TYPES:
            self._award_row(type_, body)

    def _award_row(self, type_: str, body: dict[str, Any]) -> None:
        """The queryable copy of an award (leaderboards, certificate lookup by code)."""
        if type_ == "points.awarded":
            self.ledger.append(
                (
                    self.user_id,
                    body["key"],
                    body["points"],
                    body["rule"],
                    body["ref"],
                    body["at"],
                    body["week"],
                    self.now,
                    self.head,
                )
            )
        elif type_ == "achievement.earned":
            self.badges.append(
                (
                    self.user_id,
                    body["achievement_id"],
                    body["name"],
                    body["earned_at"],
                    body["points"],
                    _json.encode(body["evidence"]).decode(),
                    self.head,
                )
            )
        elif type_ == "certificate.issued":
            kind = "course" if "course" in body else "path"
            self.certificates.append(
                (
                    body["code"],
                    self.user_id,
                    kind,
                    body[kind],
                    body["title"],
                    body["issued_at"],
                    self.head,
                )
            )

    async def flush_txn(self, txn: Txn) -> None:
        """Write what was appended: one statement per table written (the feed, the state
        with the new head, the outbox; award rows and new scopes when there are some)."""
        if not self.rows:
            return
        await txn.insert_rows("feed", _FEED_COLUMNS, self.rows)
        await txn.execute(
            "UPDATE user_state SET through_seq = ?, state = ?, gamify = ?, seen = ?,"
            " updated_at = ? WHERE user_id = ?",
            self.head,
            _state_enc.encode(self.state).decode(),
            _state_enc.encode(self.gamify).decode(),
            _state_enc.encode(self.seen).decode(),
            self.now,
            self.user_id,
        )
        # The keys make a second copy (of an event, an award) impossible: DO NOTHING keeps
        # the first.
        for table, columns, rows in (
            ("outbox", _OUTBOX_COLUMNS, self.outbox),
            ("points_ledger", _LEDGER_COLUMNS, self.ledger),
            ("user_badges", _BADGE_COLUMNS, self.badges),
            ("certificates", _CERTIFICATE_COLUMNS, self.certificates),
            ("certificate_codes", _CODE_COLUMNS, [c[:2] for c in self.certificates]),
            ("user_scopes", _SCOPE_COLUMNS, [(self.user_id, s) for s in sorted(self.scopes)]),
        ):
            if rows:
                await txn.insert_rows(table, columns, rows, "ON CONFLICT DO NOTHING")
        self.rows, self.outbox, self.ledger, self.badges, self.certificates = [], [], [], [], []


class Store:
    """Storage calls of the server. Each method's name is what shows in logs and metrics."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = wall_clock_ms,
        policy: Policy | None = None,
        points: PointsRules | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.policy = policy or Policy()
        self.points = points or PointsRules()
        """The server's gamification defaults; a catalog's section overrides them."""
        self.last_recomputed: list[str] = []
        self._catalog: tuple[str, Catalog] = ("", Catalog())
        self._rules: tuple[str, PointsRules] = ("", self.points)
        self._code_secret = b""
        self._device_users: dict[str, str] = {}
        # Scopes each learner is known to have recorded (committed), so a push inserts only
        # new ones.
        self._scopes: dict[str, set[str]] = {}
        """device id -> its learner's id (fixed for a device's life)."""
        self.signing_key: SigningKey | None = None
        """The Ed25519 key credentials are signed with (loaded by :meth:`open`)."""

    @classmethod
    def for_url(cls, url: str, *, clock: Clock = wall_clock_ms) -> Store:
        return cls(open_engine(url), clock=clock)

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

    # -- users and devices -------------------------------------------------------------

    async def create_user(
        self,
        username: str,
        password: str,
        *,
        role: str = "learner",
        timezone: str = "UTC",
        plan: str = "free",
    ) -> User:
        if await self.user_by_name(username) is not None:
            raise Conflict(f"user {username!r} already exists")
        user_id = uuid.uuid4().hex
        async with self.engine.transaction() as txn:
            # The name's look-up row first: its key refuses a name taken meanwhile.
            await txn.execute(
                "INSERT INTO usernames (username, user_id) VALUES (?, ?)", username, user_id
            )
            await txn.execute(
                "INSERT INTO users (id, username, password_hash, role, timezone, created_at,"
                " plan) VALUES (?, ?, ?, ?, ?, ?, ?)",
                user_id,
                username,
                hash_password(password),
                role,
                timezone,
                self.clock(),
                plan,
            )
            # The learner's row: locked by each of their writes, holds the feed head.
            await txn.execute(
                "INSERT INTO user_state (user_id, through_seq, state, gamify, seen, updated_at)"
                " VALUES (?, 0, '{}', '{}', '{}', ?)",
                user_id,
                self.clock(),
            )
        user = await self.user_by_id(user_id)
        assert user is not None
        return user

    async def _user_id_of(self, username: str) -> str | None:
        found = await self.engine.fetchval(
            "SELECT user_id FROM usernames WHERE username = ?", username
        )
        return None if found is None else str(found)

    async def user_by_name(self, username: str) -> User | None:
        user_id = await self._user_id_of(username)
        if user_id is None:
            return None
        row = await self.engine.fetchrow(_USER_SELECT + "WHERE u.id = ?", user_id)
        return None if row is None else _user(row)

    async def user_by_id(self, user_id: str) -> User | None:
        row = await self.engine.fetchrow(_USER_SELECT + "WHERE u.id = ?", user_id)
        return None if row is None else _user(row)

    async def authenticate_user(self, username: str, password: str) -> User | None:
        user_id = await self._user_id_of(username)
        row = (
            None
            if user_id is None
            else await self.engine.fetchrow(_USER_SELECT + "WHERE u.id = ?", user_id)
        )
        if row is None or not check_password(password, row["password_hash"]):
            return None
        return _user(row)

    async def register_device(self, user_id: str, name: str) -> tuple[Device, str]:
        """Create a device for ``user_id``; returns it and its bearer token (shown once)."""
        token = secrets.token_urlsafe(32)
        device_id = uuid.uuid4().hex
        async with self.engine.transaction() as txn:
            await self._add_device_txn(txn, user_id, device_id, name, hash_token(token))
        device = await self._device_of(user_id, device_id)
        assert device is not None
        return device, token

    async def _add_device_txn(
        self, txn: Txn, user_id: str, device_id: str, name: str, token_hash: str
    ) -> None:
        await txn.execute(
            "INSERT INTO device_tokens (token_hash, device_id, user_id) VALUES (?, ?, ?)",
            token_hash,
            device_id,
            user_id,
        )
        await txn.execute(
            "INSERT INTO devices (user_id, id, name, created_at) VALUES (?, ?, ?, ?)",
            user_id,
            device_id,
            name,
            self.clock(),
        )

    async def _device_of(self, user_id: str, device_id: str) -> Device | None:
        row = await self.engine.fetchrow(
            "SELECT * FROM devices WHERE user_id = ? AND id = ?", user_id, device_id
        )
        return None if row is None else _device(row)

    async def device_by_id(self, device_id: str) -> Device | None:
        user_id = await self.engine.fetchval(
            "SELECT user_id FROM device_tokens WHERE device_id = ?", device_id
        )
        return None if user_id is None else await self._device_of(str(user_id), device_id)

    async def device_by_token(self, token: str) -> Device | None:
        row = await self.engine.fetchrow(
            "SELECT device_id, user_id FROM device_tokens WHERE token_hash = ?", hash_token(token)
        )
        if row is None:
            return None
        return await self._device_of(str(row["user_id"]), str(row["device_id"]))

    async def devices_of(self, user_id: str) -> list[Device]:
        rows = await self.engine.fetch(
            "SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, id", user_id
        )
        return [_device(r) for r in rows]

    async def revoke_device(self, device_id: str) -> Device:
        found = await self.device_by_id(device_id)
        if found is None:
            raise NotFound(f"no device {device_id!r}")
        async with self.engine.transaction() as txn:
            await txn.execute(
                "UPDATE devices SET revoked_at = ? WHERE user_id = ? AND id = ?"
                " AND revoked_at IS NULL",
                self.clock(),
                found.user_id,
                device_id,
            )
        device = await self._device_of(found.user_id, device_id)
        assert device is not None
        return device

    # -- catalog -----------------------------------------------------------------------

    async def load_catalog(self, catalog: Catalog) -> str:
        """Make ``catalog`` the current one and recompute the learners the change affects
        (see :meth:`recompute`); returns its version."""
        before = await self.catalog()
        body = _json.encode(catalog_to_builtins(catalog)).decode()
        async with self.engine.transaction() as txn:
            await txn.execute(
                "INSERT INTO catalog (id, version, body, loaded_at) VALUES (1, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
                " body = excluded.body, loaded_at = excluded.loaded_at",
                catalog.version,
                body,
                self.clock(),
            )
        self._catalog = (catalog.version, catalog)
        self.last_recomputed = await self.recompute(changed_scopes(before, catalog))
        return catalog.version

    async def recompute(self, scopes: set[str]) -> list[str]:
        """Review the decisions of every learner who touched one of ``scopes``
        (``course:ID`` / ``path:ID``): new passes under a lowered threshold, milestones,
        paths and competencies the new structure completes. Nothing is revoked. Returns the
        ids of the learners reviewed (the others are not even read)."""
        if not scopes:
            return []
        if GAMIFICATION_SCOPE in scopes:  # new badges or points: everyone with progress
            rows = await self.engine.fetch(
                "SELECT user_id FROM user_state WHERE through_seq > 0 ORDER BY user_id"
            )
        else:
            marks = ", ".join("?" * len(scopes))
            rows = await self.engine.fetch(
                "SELECT DISTINCT user_id FROM user_scopes"
                f" WHERE scope IN ({marks}) ORDER BY user_id",
                *sorted(scopes),
            )
        users = [str(r["user_id"]) for r in rows]
        for user_id in users:
            async with self.engine.transaction(learner=user_id) as txn:
                catalog = await self._catalog_txn(txn)
                feed = await _FeedWriter.open_txn(txn, user_id, self.clock(), catalog)
                ctx = Context(catalog, feed.plan, self.policy)
                self._append_now(feed, ctx, review(feed.state, ctx, feed.now), courses=None)
                await feed.flush_txn(txn)
        return users

    # -- actions over REST and by instructors ----------------------------------------

    async def record_action(self, user_id: str, type_: str, body: dict[str, Any]) -> MergeResult:
        """A learner action made over REST, recorded through the same merge as sync.

        It comes from the learner's server-side device ``rest-<user_id>``, whose own seq
        stream never collides with a real device's.
        """
        device_id = f"rest-{user_id}"
        async with self.engine.transaction(learner=user_id) as txn:
            row = await txn.fetchrow(
                "SELECT acked_seq FROM devices WHERE user_id = ? AND id = ?", user_id, device_id
            )
            if row is None:
                # No token hashes to "none:…": nobody signs in as it.
                await self._add_device_txn(txn, user_id, device_id, "REST API", f"none:{device_id}")
                seq = 1
            else:
                seq = int(row["acked_seq"]) + 1
            now = self.clock()
            # Made "here" for the learner: their own zone, so streaks count their day.
            zone = await txn.fetchval("SELECT timezone FROM users WHERE id = ?", user_id)
            event = Event(seq, _server_hlc(now), now, type_, body, str(zone or "UTC"))
            result, scopes = await self._merge_txn(txn, user_id, device_id, [event])
        self._scopes.setdefault(user_id, set()).update(scopes)
        return result

    async def grade_assignment(
        self,
        user_id: str,
        course: str,
        assignment: str,
        *,
        score: float,
        feedback: str,
        graded_by: str,
    ) -> list[Decision]:
        """An instructor's grade, appended to the learner's feed. Raises :class:`BadRequest`
        when there is nothing to grade or the score is out of range."""
        async with self.engine.transaction(learner=user_id) as txn:
            catalog = await self._catalog_txn(txn)
            feed = await _FeedWriter.open_txn(txn, user_id, self.clock(), catalog)
            ctx = Context(catalog, feed.plan, self.policy)
            try:
                decisions = grade(
                    feed.state,
                    ctx,
                    course,
                    assignment,
                    score=score,
                    feedback=feedback,
                    graded_by=graded_by,
                    at=feed.now,
                )
            except ValueError as err:
                raise BadRequest(str(err)) from None
            self._append_now(feed, ctx, decisions, courses={course})
            await feed.flush_txn(txn)
        return decisions

    def _append_now(
        self,
        feed: _FeedWriter,
        ctx: Context,
        decisions: Sequence[Decision],
        *,
        courses: set[str] | None,
    ) -> None:
        """Append decisions the server makes on its own (a grade, a review), stamped now,
        then the awards they earn (:func:`sync.merge.settle`)."""
        settled = settle(
            feed.learner,
            decisions,
            ctx,
            rules=self.rules(ctx.catalog),
            make_code=self._code_maker(feed.user_id),
            now=feed.now,
            hlc=_server_hlc(feed.now),
            courses=courses,
        )
        feed.append(settled.entries, settled.events)

    def _code_maker(self, user_id: str) -> CodeFactory:
        secret = self._code_secret
        return lambda kind, ref: certificate_code(secret, user_id, kind, ref)

    async def preview_action(
        self, user_id: str, type_: str, body: dict[str, Any]
    ) -> list[Decision]:
        """The decisions :meth:`record_action` would make for this action now, without
        recording anything (e.g. whether an enrollment would be refused). Advisory: another
        action may change the answer before the learner acts. Raises :class:`BadRequest`
        when the event itself would be rejected, :class:`NotFound` for an unknown user."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        catalog = await self.catalog()
        now = self.clock()
        event = Event(1, _server_hlc(now), now, type_, body, "UTC")
        verdict = check_event(event, catalog)
        if isinstance(verdict, Rejection):
            raise BadRequest(verdict.reason)
        state = await self.user_state(user_id)  # a fresh copy: the preview mutates it
        stamp = (event.hlc, f"preview-{user_id}", event.seq)
        apply_body(state, stamp, now, verdict)
        return decide(state, verdict, stamp, now, Context(catalog, user.plan, self.policy))

    async def set_plan(self, user_id: str, plan: str) -> None:
        async with self.engine.transaction(learner=user_id) as txn:
            await txn.execute("UPDATE users SET plan = ? WHERE id = ?", plan, user_id)

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

    # -- outbox ------------------------------------------------------------------------

    async def outbox_tail(self, limit: int, *, user_id: str | None = None) -> list[OutboxEvent]:
        """The latest ``limit`` outbox events (of one learner, or of all), oldest first."""
        where, args = ("WHERE user_id = ? ", [user_id]) if user_id is not None else ("", [])
        rows = await self.engine.fetch(
            "SELECT * FROM outbox "
            + where
            + "ORDER BY recorded_at DESC, user_id DESC, user_seq DESC, n DESC LIMIT ?",
            *args,
            limit,
        )
        return [
            OutboxEvent(
                str(r["id"]),
                str(r["user_id"]),
                int(r["user_seq"]),
                str(r["type"]),
                msgspec.json.decode(r["body"]),
                int(r["occurred_at"]),
                int(r["recorded_at"]),
            )
            for r in reversed(rows)
        ]

    # -- feed and state ----------------------------------------------------------------

    async def feed_after(self, user_id: str, cursor: int, limit: int) -> list[FeedEntry]:
        rows = await self.engine.fetch(
            "SELECT * FROM feed WHERE user_id = ? AND user_seq > ? ORDER BY user_seq LIMIT ?",
            user_id,
            cursor,
            limit,
        )
        return [_entry(r) for r in rows]

    async def feed_head(self, user_id: str) -> int:
        head = await self.engine.fetchval(
            "SELECT through_seq FROM user_state WHERE user_id = ?", user_id
        )
        return int(head or 0)

    async def learner(self, user_id: str) -> LearnerView:
        """Everything the learner's progress shows (``sync.views.learner_view``)."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return learner_view(await self.user_state(user_id), await self.catalog(), user.plan)

    async def user_state(self, user_id: str) -> UserState:
        body = await self.engine.fetchval("SELECT state FROM user_state WHERE user_id = ?", user_id)
        return UserState() if body is None else _state_dec.decode(body)

    # -- gamification ------------------------------------------------------------------

    async def achievements(self, user_id: str) -> GamifyView:
        """Points, level, streak, badges, certificates and ledger of a learner, now."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        body = await self.engine.fetchval(
            "SELECT gamify FROM user_state WHERE user_id = ?", user_id
        )
        gstate = GamifyState() if body is None else _gamify_dec.decode(body)
        catalog = await self.catalog()
        return gamify_view(
            gstate, catalog, user_tz=user.timezone, now_ms=self.clock(), rules=self.rules(catalog)
        )

    async def certificate(self, code: str) -> IssuedCertificate | None:
        code = code.strip().upper()
        user_id = await self.engine.fetchval(
            "SELECT user_id FROM certificate_codes WHERE code = ?", code
        )
        if user_id is None:
            return None
        row = await self.engine.fetchrow(
            "SELECT c.*, u.username FROM certificates c JOIN users u ON u.id = c.user_id"
            " WHERE c.user_id = ? AND c.code = ?",
            user_id,
            code,
        )
        if row is None:
            return None
        return IssuedCertificate(
            row["code"],
            row["user_id"],
            row["username"],
            row["kind"],
            row["ref"],
            row["title"],
            row["issued_at"],
        )

    async def badge(self, user_id: str, badge_id: str) -> EarnedBadgeRecord | None:
        row = await self.engine.fetchrow(
            "SELECT b.*, u.username FROM user_badges b JOIN users u ON u.id = b.user_id"
            " WHERE b.user_id = ? AND b.badge_id = ?",
            user_id,
            badge_id,
        )
        if row is None:
            return None
        return EarnedBadgeRecord(
            row["user_id"],
            row["username"],
            row["badge_id"],
            row["name"],
            row["earned_at"],
            row["points"],
            msgspec.json.decode(row["evidence"], type=list[str]),
        )

    async def set_leaderboard_opt_out(self, user_id: str, opt_out: bool) -> None:
        """A learner who opts out is left out of every other learner's leaderboard."""
        async with self.engine.transaction() as txn:
            await txn.execute(
                "UPDATE users SET leaderboard_opt_out = ? WHERE id = ?", int(opt_out), user_id
            )

    async def create_group(self, name: str, created_by: str) -> Group:
        group = Group(uuid.uuid4().hex, name, created_by, self.clock())
        async with self.engine.transaction() as txn:
            # Two instructors creating the same name at once: one wins, the other is told.
            await txn.execute(
                "INSERT INTO learner_groups (id, name, created_by, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                group.id,
                group.name,
                group.created_by,
                group.created_at,
            )
            held = await txn.fetchval("SELECT id FROM learner_groups WHERE name = ?", name)
        if held != group.id:
            raise Conflict(f"group {name!r} already exists")
        return group

    async def group(self, name_or_id: str, *, members: bool = False) -> Group | None:
        row = await self.engine.fetchrow(
            "SELECT * FROM learner_groups WHERE id = ? OR name = ?", name_or_id, name_or_id
        )
        if row is None:
            return None
        names: list[str] = []
        if members:
            rows = await self.engine.fetch(
                "SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id"
                " WHERE m.group_id = ? ORDER BY u.username",
                row["id"],
            )
            names = [str(r["username"]) for r in rows]
        return Group(row["id"], row["name"], row["created_by"], row["created_at"], names)

    async def groups(self, *, member: str | None = None) -> list[Group]:
        """Every group, or those ``member`` (a user id) belongs to."""
        if member is None:
            rows = await self.engine.fetch("SELECT * FROM learner_groups ORDER BY name")
        else:
            rows = await self.engine.fetch(
                "SELECT g.* FROM learner_groups g JOIN group_members m ON m.group_id = g.id"
                " WHERE m.user_id = ? ORDER BY g.name",
                member,
            )
        return [Group(r["id"], r["name"], r["created_by"], r["created_at"]) for r in rows]

    async def delete_group(self, group_id: str) -> None:
        async with self.engine.transaction() as txn:
            await txn.execute("DELETE FROM group_members WHERE group_id = ?", group_id)
            await txn.execute("DELETE FROM learner_groups WHERE id = ?", group_id)

    async def set_member(self, group_id: str, user_id: str, member: bool) -> None:
        async with self.engine.transaction() as txn:
            if member:
                await txn.execute(
                    "INSERT INTO group_members (group_id, user_id, added_at) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    group_id,
                    user_id,
                    self.clock(),
                )
            else:
                await txn.execute(
                    "DELETE FROM group_members WHERE group_id = ? AND user_id = ?",
                    group_id,
                    user_id,
                )

    async def leaderboard(
        self,
        viewer: User,
        *,
        group: Group | None = None,
        course: str | None = None,
        week: str | None = None,
        limit: int = 10,
    ) -> Leaderboard:
        """Weekly points of everyone (learners), of a group or of a course's cohort (the
        learners who have progress in it), ranked; opted-out learners are left out of
        everyone's board but their own. ``week``: ``YYYY-Www`` (default: this week in the
        viewer's zone). Raises :class:`Forbidden` when the viewer is not on that board and
        is not an instructor or admin."""
        week = week or iso_week(self.clock(), viewer.timezone)
        staff = viewer.role in ("instructor", "admin")
        if group is not None:
            members = "SELECT user_id FROM group_members WHERE group_id = ?"
            scope: tuple[Any, ...] = (group.id,)
        elif course is not None:
            members = "SELECT user_id FROM user_scopes WHERE scope = ?"
            scope = (f"course:{course}",)
        else:
            members = "SELECT id AS user_id FROM users WHERE role = 'learner'"
            scope = ()
        if not staff:
            inside = await self.engine.fetchval(
                f"SELECT 1 FROM ({members}) AS m WHERE m.user_id = ?", *scope, viewer.id
            )
            if inside is None:
                raise Forbidden("you are not on this leaderboard")
        rows = await self.engine.fetch(
            "SELECT u.username, u.leaderboard_opt_out, SUM(l.points) AS points"
            " FROM points_ledger l JOIN users u ON u.id = l.user_id"
            f" WHERE l.week = ? AND l.user_id IN ({members})"
            " GROUP BY u.username, u.leaderboard_opt_out",
            week,
            *scope,
        )
        entries = [
            BoardEntry(str(r["username"]), int(r["points"]), bool(r["leaderboard_opt_out"]))
            for r in rows
        ]
        if not staff and all(e.user != viewer.username for e in entries):
            entries.append(BoardEntry(viewer.username, 0, viewer.leaderboard_opt_out))
        return leaderboard(entries, viewer=viewer.username, week=week, limit=limit)

    # -- the merge ---------------------------------------------------------------------

    async def merge(self, device_id: str, events: Sequence[Event]) -> MergeResult:
        """Apply a device's push; see the module docstring. Raises :class:`DeviceRevoked`."""
        user_id = self._device_users.get(device_id)
        if user_id is None:
            owner = await self.engine.fetchval(
                "SELECT user_id FROM device_tokens WHERE device_id = ?", device_id
            )
            if owner is None:
                raise NotFound(f"no device {device_id!r}")
            # A device never changes learner: after the first push this costs no round trip
            # (revocation is checked inside the transaction).
            user_id = self._device_users[device_id] = str(owner)
        # The slice read locks the learner's row and the device's: no lock statement.
        async with self.engine.transaction() as txn:
            result, scopes = await self._merge_txn(txn, user_id, device_id, events)
        self._scopes.setdefault(user_id, set()).update(scopes)  # committed: known from now
        return result

    async def _merge_txn(
        self, txn: Txn, user_id: str, device_id: str, events: Sequence[Event]
    ) -> tuple[MergeResult, set[str]]:
        """The merge's transaction: one statement reads (and locks) the learner's slice,
        the device and the catalog's version; the pure merge decides; one statement per
        table writes. Returns the result and the scopes it recorded."""
        row = await txn.fetchrow(
            f"SELECT {_SLICE}, d.acked_seq, d.revoked_at,"
            " (SELECT version FROM catalog WHERE id = 1) AS catalog_version"
            " FROM user_state s JOIN users u ON u.id = s.user_id"
            " JOIN devices d ON d.id = ? AND d.user_id = s.user_id"
            # The learner's row and the device's: both current once locked.
            f" WHERE s.user_id = ?{txn.locking('s', 'd')}",
            device_id,
            user_id,
        )
        assert row is not None
        if row["revoked_at"] is not None:
            raise DeviceRevoked("this device was revoked by an administrator")
        catalog = await self._catalog_for(row["catalog_version"], txn.fetchval)
        feed = _FeedWriter.of_row(user_id, row, self.clock(), catalog)
        ctx = Context(catalog, feed.plan, self.policy)
        outcome = merge(
            feed.learner,
            device_id,
            int(row["acked_seq"]),
            events,
            ctx,
            rules=self.rules(ctx.catalog),
            make_code=self._code_maker(user_id),
            now=feed.now,
        )
        feed.append(outcome.entries, outcome.events)
        feed.scopes = outcome.scopes - self._scopes.get(user_id, set())
        scopes = set(feed.scopes)
        await feed.flush_txn(txn)
        await txn.execute(
            "UPDATE devices SET acked_seq = ?, last_seen_at = ? WHERE id = ? AND user_id = ?",
            outcome.watermark,
            feed.now,
            device_id,
            user_id,
        )
        result = MergeResult(
            outcome.watermark,
            outcome.accepted,
            outcome.duplicates,
            outcome.rejected,
            feed.head,
            outcome.gap_at,
        )
        return result, scopes
