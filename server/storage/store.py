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

from server.errors import BadRequest, Conflict, DeviceRevoked, NotFound
from server.storage.engine import Engine, Row, Txn, open_engine
from sync.catalog import Catalog, catalog_from_builtins, catalog_to_builtins
from sync.decide import Context, Decision, Policy, decide, grade, review
from sync.events import MIN_AT_MS, Body, Event, Rejection, check_event, settled_stamp
from sync.fold import UserState, apply_body
from sync.hlc import format_hlc
from sync.messages import EventRejection, FeedEntry
from sync.views import LearnerView, competency_evidence, learner_view

ROLES: Final = ("learner", "instructor", "admin")
Clock = Callable[[], int]

_state_enc = msgspec.json.Encoder()
_state_dec = msgspec.json.Decoder(UserState)
_json = msgspec.json.Encoder()
_body_dec = msgspec.json.Decoder(dict[str, Any])


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


class Device(msgspec.Struct, frozen=True):
    id: str
    user_id: str
    name: str
    created_at: int
    revoked_at: int | None
    acked_seq: int
    last_seen_at: int | None


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
    return scopes


def _checked(event: Event, catalog: Catalog) -> tuple[Body | Rejection, str]:
    """Validate ``event`` and encode its body for the feed (msgpack may carry values, such as
    extension types, that JSON cannot hold: those bodies are rejected, not crashed on)."""
    verdict = check_event(event, catalog)
    if isinstance(verdict, Rejection):
        return verdict, ""
    try:
        return verdict, _json.encode(event.body).decode()
    except (TypeError, msgspec.EncodeError) as err:
        return Rejection("invalid_body", f"{event.type}: body cannot be stored: {err}"), ""


class _FeedWriter:
    """Appends to one user's feed inside a merge transaction (the user's lock is held):
    numbers entries, keeps the materialized state and the user's scopes in step."""

    def __init__(self, user_id: str, head: int, plan: str, state: UserState, now: int) -> None:
        self.user_id, self.head, self.plan, self.state, self.now = user_id, head, plan, state, now
        self.rows: list[tuple[Any, ...]] = []
        self.scopes: set[str] = set()

    @classmethod
    async def open_txn(cls, txn: Txn, user_id: str, now: int) -> _FeedWriter:
        user = await txn.fetchrow("SELECT feed_head, plan FROM users WHERE id = ?", user_id)
        assert user is not None
        body = await txn.fetchval("SELECT state FROM user_state WHERE user_id = ?", user_id)
        state = UserState() if body is None else _state_dec.decode(body)
        return cls(user_id, int(user["feed_head"]), str(user["plan"]), state, now)

    def device(self, device_id: str, event: Event, body_json: str, body: Body) -> None:
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
        for name in ("course", "path"):
            value = getattr(body, name, None)
            if isinstance(value, str):
                self.scopes.add(f"{name}:{value}")

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

    async def flush_txn(self, txn: Txn) -> None:
        if not self.rows:
            return
        await txn.executemany(
            "INSERT INTO feed (user_id, user_seq, origin, device_id, seq, hlc, at, tz,"
            " type, body, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.rows,
        )
        await txn.execute("UPDATE users SET feed_head = ? WHERE id = ?", self.head, self.user_id)
        await txn.execute(
            "INSERT INTO user_state (user_id, through_seq, state, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " through_seq = excluded.through_seq, state = excluded.state,"
            " updated_at = excluded.updated_at",
            self.user_id,
            self.head,
            _state_enc.encode(self.state).decode(),
            self.now,
        )
        if self.scopes:
            await txn.executemany(
                "INSERT INTO user_scopes (user_id, scope) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(self.user_id, scope) for scope in sorted(self.scopes)],
            )
        self.rows = []


class Store:
    """Storage calls of the server. Each method's name is what shows in logs and metrics."""

    def __init__(
        self, engine: Engine, *, clock: Clock = wall_clock_ms, policy: Policy | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.policy = policy or Policy()
        self.last_recomputed: list[str] = []
        self._catalog: tuple[str, Catalog] = ("", Catalog())

    @classmethod
    def for_url(cls, url: str, *, clock: Clock = wall_clock_ms) -> Store:
        return cls(open_engine(url), clock=clock)

    async def open(self) -> list[int]:
        """Connect and migrate; returns the migrations applied now."""
        await self.engine.open()
        return await self.engine.migrate()

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
        user = await self.user_by_id(user_id)
        assert user is not None
        return user

    async def user_by_name(self, username: str) -> User | None:
        row = await self.engine.fetchrow("SELECT * FROM users WHERE username = ?", username)
        return None if row is None else _user(row)

    async def user_by_id(self, user_id: str) -> User | None:
        row = await self.engine.fetchrow("SELECT * FROM users WHERE id = ?", user_id)
        return None if row is None else _user(row)

    async def authenticate_user(self, username: str, password: str) -> User | None:
        row = await self.engine.fetchrow("SELECT * FROM users WHERE username = ?", username)
        if row is None or not check_password(password, row["password_hash"]):
            return None
        return _user(row)

    async def register_device(self, user_id: str, name: str) -> tuple[Device, str]:
        """Create a device for ``user_id``; returns it and its bearer token (shown once)."""
        token = secrets.token_urlsafe(32)
        device_id = uuid.uuid4().hex
        async with self.engine.transaction() as txn:
            await txn.execute(
                "INSERT INTO devices (id, user_id, name, token_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                device_id,
                user_id,
                name,
                hash_token(token),
                self.clock(),
            )
        device = await self.device_by_id(device_id)
        assert device is not None
        return device, token

    async def device_by_id(self, device_id: str) -> Device | None:
        row = await self.engine.fetchrow("SELECT * FROM devices WHERE id = ?", device_id)
        return None if row is None else _device(row)

    async def device_by_token(self, token: str) -> Device | None:
        row = await self.engine.fetchrow(
            "SELECT * FROM devices WHERE token_hash = ?", hash_token(token)
        )
        return None if row is None else _device(row)

    async def devices_of(self, user_id: str) -> list[Device]:
        rows = await self.engine.fetch(
            "SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, id", user_id
        )
        return [_device(r) for r in rows]

    async def revoke_device(self, device_id: str) -> Device:
        async with self.engine.transaction() as txn:
            found = await txn.fetchval("SELECT id FROM devices WHERE id = ?", device_id)
            if found is None:
                raise NotFound(f"no device {device_id!r}")
            await txn.execute(
                "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                self.clock(),
                device_id,
            )
        device = await self.device_by_id(device_id)
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
        marks = ", ".join("?" * len(scopes))
        rows = await self.engine.fetch(
            f"SELECT DISTINCT user_id FROM user_scopes WHERE scope IN ({marks}) ORDER BY user_id",
            *sorted(scopes),
        )
        users = [str(r["user_id"]) for r in rows]
        for user_id in users:
            async with self.engine.transaction(lock=user_id) as txn:
                feed = await _FeedWriter.open_txn(txn, user_id, self.clock())
                ctx = Context(await self._catalog_txn(txn), feed.plan, self.policy)
                for decision in review(feed.state, ctx, feed.now):
                    feed.server(decision.type, decision.body, _server_hlc(feed.now), feed.now, "")
                await feed.flush_txn(txn)
        return users

    # -- actions over REST and by instructors ----------------------------------------

    async def record_action(self, user_id: str, type_: str, body: dict[str, Any]) -> MergeResult:
        """A learner action made over REST, recorded through the same merge as sync.

        It comes from the learner's server-side device ``rest-<user_id>``, whose own seq
        stream never collides with a real device's.
        """
        device_id = f"rest-{user_id}"
        async with self.engine.transaction(lock=user_id) as txn:
            row = await txn.fetchrow("SELECT acked_seq FROM devices WHERE id = ?", device_id)
            if row is None:
                await txn.execute(
                    "INSERT INTO devices (id, user_id, name, token_hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    device_id,
                    user_id,
                    "REST API",
                    f"none:{device_id}",  # no token hashes to this: nobody signs in as it
                    self.clock(),
                )
                seq = 1
            else:
                seq = int(row["acked_seq"]) + 1
            now = self.clock()
            event = Event(seq, _server_hlc(now), now, type_, body, "UTC")
            return await self._merge_txn(txn, user_id, device_id, [event])

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
        async with self.engine.transaction(lock=user_id) as txn:
            feed = await _FeedWriter.open_txn(txn, user_id, self.clock())
            ctx = Context(await self._catalog_txn(txn), feed.plan, self.policy)
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
            for decision in decisions:
                feed.server(decision.type, decision.body, _server_hlc(feed.now), feed.now, "")
            await feed.flush_txn(txn)
        return decisions

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
        async with self.engine.transaction(lock=user_id) as txn:
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
        head = await self.engine.fetchval("SELECT feed_head FROM users WHERE id = ?", user_id)
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

    # -- the merge ---------------------------------------------------------------------

    async def merge(self, device_id: str, events: Sequence[Event]) -> MergeResult:
        """Apply a device's push; see the module docstring. Raises :class:`DeviceRevoked`."""
        device = await self.device_by_id(device_id)
        if device is None:
            raise NotFound(f"no device {device_id!r}")
        async with self.engine.transaction(lock=device.user_id) as txn:
            return await self._merge_txn(txn, device.user_id, device_id, events)

    async def _merge_txn(
        self, txn: Txn, user_id: str, device_id: str, events: Sequence[Event]
    ) -> MergeResult:
        row = await txn.fetchrow(
            "SELECT acked_seq, revoked_at FROM devices WHERE id = ?", device_id
        )
        assert row is not None
        if row["revoked_at"] is not None:
            raise DeviceRevoked("this device was revoked by an administrator")
        watermark = int(row["acked_seq"])
        feed = await _FeedWriter.open_txn(txn, user_id, self.clock())
        ctx = Context(await self._catalog_txn(txn), feed.plan, self.policy)
        rejected: list[EventRejection] = []
        accepted = duplicates = 0
        gap_at = None
        for event in events:
            if event.seq <= watermark:
                duplicates += 1
                continue
            if event.seq != watermark + 1:
                gap_at = event.seq
                break
            watermark = event.seq
            verdict, body_json = _checked(event, ctx.catalog)
            if isinstance(verdict, Rejection):
                rejected.append(EventRejection(event.seq, verdict.code, verdict.reason))
                hlc, at, tz = settled_stamp(event, feed.now)
                feed.server(
                    "event.rejected",
                    {
                        "device_id": device_id,
                        "seq": event.seq,
                        "type": event.type,
                        "code": verdict.code,
                        "reason": verdict.reason,
                    },
                    hlc,
                    at,
                    tz,
                )
                continue
            accepted += 1
            stamp = (event.hlc, device_id, event.seq)
            feed.device(device_id, event, body_json, verdict)
            apply_body(feed.state, stamp, event.at, verdict)
            for decision in decide(feed.state, verdict, stamp, event.at, ctx):
                feed.server(decision.type, decision.body, event.hlc, event.at, event.tz)
        await feed.flush_txn(txn)
        await txn.execute(
            "UPDATE devices SET acked_seq = ?, last_seen_at = ? WHERE id = ?",
            watermark,
            feed.now,
            device_id,
        )
        return MergeResult(watermark, accepted, duplicates, rejected, feed.head, gap_at)
