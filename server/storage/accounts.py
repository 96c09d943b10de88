"""Users, devices and plans: accounts, passwords, device tokens, revocation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import uuid
from typing import Final

import msgspec

from server.errors import Conflict, DeviceRevoked, NotFound, TokenExpired, Unauthorized
from server.passwords import check_async, hash_password
from server.storage.base import StoreBase, _server_hlc
from server.storage.engine import Row, Txn
from sync.hlc import ZERO

ROLES: Final = ("learner", "instructor", "admin")


class User(msgspec.Struct, frozen=True):
    id: str
    username: str
    role: str
    timezone: str
    created_at: int
    feed_head: int
    plan: str = "free"
    leaderboard_opt_out: bool = False


class Device(msgspec.Struct, frozen=True):
    id: str
    user_id: str
    name: str
    created_at: int
    revoked_at: int | None
    acked_seq: int
    last_seen_at: int | None
    reported_seq: int | None = None
    """The highest seq the device said at its last hello it had recorded (``None``: its
    client did not say, as clients before it did not)."""
    reported_at: int | None = None
    """When it said so."""

    @property
    def pending(self) -> int | None:
        """Events the device holds and the server has not merged, as far as the server
        knows: recorded by its last hello and not acked since (``None``: unknown)."""
        if self.reported_seq is None:
            return None
        return max(0, self.reported_seq - self.acked_seq)


DAY_MS: Final = 86_400_000


class TokenPolicy(msgspec.Struct, frozen=True):
    """How long a device's tokens live (``docs/operations.md``, "Tokens"): the access token
    (REST bearer and ``hello``) ``access_ms`` from its issue, the refresh token that gets a
    new pair ``refresh_ms``. The policy is applied when a token is checked, not stored with
    it, so shortening a lifetime takes effect for every token at once."""

    access_ms: int = 30 * DAY_MS
    refresh_ms: int = 180 * DAY_MS


class SessionPolicy(msgspec.Struct, frozen=True):
    """How long an instructor's or admin's web session lives (``docs/operations.md``, "Web
    sessions"): at most ``absolute_ms`` from sign-in, and it ends after ``idle_ms`` with no
    request. Applied when the session is checked, as :class:`TokenPolicy` is."""

    absolute_ms: int = 12 * 3_600_000
    idle_ms: int = 30 * 60_000


SESSION_TOUCH_MS: Final = 60_000
"""A session's ``last_seen_at`` is written at most once a minute (not one write per page)."""


class WebSession(msgspec.Struct, frozen=True):
    """A signed-in browser: its user, when it began and when it ends (if nothing else
    ends it first)."""

    user_id: str
    created_at: int
    expires_at: int


class NewWebSession(msgspec.Struct, frozen=True):
    """A session just created: the cookie's value (shown once) and the session."""

    token: str
    session: WebSession


def csrf_token(session_token: str) -> str:
    """The CSRF token of a web session: derived from its cookie, which only the signed-in
    page's own requests carry and no script can read (HttpOnly), so a page of another site
    can neither send the cookie with the right token nor compute it."""
    digest = hashlib.sha256(b"waymark-csrf:" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TokenPair(msgspec.Struct, frozen=True):
    """A device's new tokens, shown once: the server keeps only their hashes."""

    access: str
    refresh: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


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
        row["reported_seq"],
        row["reported_at"],
    )


# A user with their feed head (users.feed_head before migration 5).
_USER_SELECT = (
    "SELECT u.*, s.through_seq AS feed_head FROM users u JOIN user_state s ON s.user_id = u.id "
)


class LoginThrottle(msgspec.Struct, frozen=True):
    """How failed logins slow down the next ones, per user name and per client address:
    ``free`` failures within ``window_ms`` cost nothing; each one after locks the key out for
    ``base_ms`` doubled per further failure, at most ``max_ms``. A success clears the name's
    count (not the address's: one right password must not hide a guessing run)."""

    user_free: int = 5
    address_free: int = 20
    window_ms: int = 15 * 60_000
    base_ms: int = 1_000
    max_ms: int = 15 * 60_000

    def lock_ms(self, failures: int, free: int) -> int:
        over = failures - free - 1
        return 0 if over < 0 else min(self.max_ms, self.base_ms * 2 ** min(over, 30))


def login_keys(username: str, address: str) -> tuple[str, str]:
    """The throttle's keys of a login attempt: its name (case-folded) and its address."""
    return f"user:{username.casefold()}", f"addr:{address}"


class AccountsStore(StoreBase):
    """Users, devices and plans."""

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
        hashed = await asyncio.to_thread(hash_password, password)  # off the event loop
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
                hashed,
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
        # The same work whether or not the user exists (no timing oracle for names).
        ok, rehash = await check_async(password, None if row is None else row["password_hash"])
        if row is None or not ok:
            return None
        if rehash:  # an older scheme or weaker parameters: upgrade now that we know it
            upgraded = await asyncio.to_thread(hash_password, password)
            async with self.engine.transaction() as txn:
                await txn.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?", upgraded, row["id"]
                )
        return _user(row)

    # -- the login throttle ----------------------------------------------------------------

    async def login_locked_ms(self, keys: tuple[str, str]) -> int:
        """How long (ms) logins with these keys are still locked out (0: not)."""
        until = await self.engine.fetchval(
            "SELECT MAX(locked_until) FROM login_failures WHERE key IN (?, ?)", *keys
        )
        return max(0, int(until or 0) - self.clock())

    async def login_failed(self, keys: tuple[str, str], throttle: LoginThrottle) -> int:
        """Count a failed login against both keys; returns the lock-out it caused (ms)."""
        now = self.clock()
        lock = 0
        async with self.engine.transaction() as txn:
            for key, free in zip(keys, (throttle.user_free, throttle.address_free), strict=True):
                failures = await txn.fetchval(
                    "INSERT INTO login_failures (key, failures, first_at, locked_until)"
                    " VALUES (?, 1, ?, 0) ON CONFLICT (key) DO UPDATE SET"
                    " failures = CASE WHEN login_failures.first_at < ? THEN 1"
                    " ELSE login_failures.failures + 1 END,"
                    " first_at = CASE WHEN login_failures.first_at < ? THEN ?"
                    " ELSE login_failures.first_at END"
                    " RETURNING failures",
                    key,
                    now,
                    now - throttle.window_ms,
                    now - throttle.window_ms,
                    now,
                )
                key_lock = throttle.lock_ms(int(failures), free)
                if key_lock:
                    await txn.execute(
                        "UPDATE login_failures SET locked_until = ? WHERE key = ?",
                        now + key_lock,
                        key,
                    )
                lock = max(lock, key_lock)
        return lock

    async def login_succeeded(self, user_key: str) -> None:
        async with self.engine.transaction() as txn:
            await txn.execute("DELETE FROM login_failures WHERE key = ?", user_key)

    async def register_device(self, user_id: str, name: str) -> tuple[Device, str]:
        """Create a device for ``user_id``; returns it and its bearer token (shown once)."""
        device, pair = await self.register_device_tokens(user_id, name)
        return device, pair.access

    async def register_device_tokens(self, user_id: str, name: str) -> tuple[Device, TokenPair]:
        """Create a device for ``user_id`` with an access and a refresh token (shown once)."""
        pair = TokenPair(_new_token(), _new_token())
        device_id = uuid.uuid4().hex
        async with self.engine.transaction() as txn:
            await self._add_device_txn(txn, user_id, device_id, name, hash_token(pair.access))
            await self._add_refresh_txn(txn, user_id, device_id, hash_token(pair.refresh))
            row = await txn.fetchrow(
                "SELECT * FROM devices WHERE user_id = ? AND id = ?", user_id, device_id
            )
        assert row is not None
        return _device(row), pair

    async def _add_device_txn(
        self, txn: Txn, user_id: str, device_id: str, name: str, token_hash: str
    ) -> None:
        await txn.execute(
            "INSERT INTO device_tokens (token_hash, device_id, user_id, issued_at)"
            " VALUES (?, ?, ?, ?)",
            token_hash,
            device_id,
            user_id,
            self.clock(),
        )
        # Its mark starts at zero: until it has pushed (or been silent too long), a new device
        # holds its learner's settled horizon back, so nothing it recorded before is late.
        await txn.execute(
            "INSERT INTO devices (user_id, id, name, created_at) VALUES (?, ?, ?, ?)",
            user_id,
            device_id,
            name,
            self.clock(),
        )

    async def _add_refresh_txn(
        self, txn: Txn, user_id: str, device_id: str, token_hash: str
    ) -> None:
        await txn.execute(
            "INSERT INTO refresh_tokens (token_hash, device_id, user_id, issued_at)"
            " VALUES (?, ?, ?, ?)",
            token_hash,
            device_id,
            user_id,
            self.clock(),
        )

    async def device_for_token(self, token: str, policy: TokenPolicy) -> Device | None:
        """The device of access ``token`` (``None``: unknown). Raises :class:`TokenExpired`
        when it is older than the policy's lifetime, unless the device is revoked: a revoked
        device is returned as it is, since refreshing cannot help it.

        A token issued before tokens expired (migration 10) has no issue time: its first
        use after the upgrade stamps one, and its lifetime counts from then."""
        row = await self.engine.fetchrow(
            "SELECT device_id, user_id, issued_at FROM device_tokens WHERE token_hash = ?",
            hash_token(token),
        )
        if row is None:
            return None
        device = await self._device_of(str(row["user_id"]), str(row["device_id"]))
        if device is None or device.revoked_at is not None:
            return device
        issued = row["issued_at"]
        if issued is None:
            issued = self.clock()
            async with self.engine.transaction() as txn:
                await txn.execute(
                    "UPDATE device_tokens SET issued_at = ? WHERE token_hash = ?"
                    " AND issued_at IS NULL",
                    issued,
                    hash_token(token),
                )
        if self.clock() >= int(issued) + policy.access_ms:
            raise TokenExpired("token expired: refresh it")
        return device

    async def refresh_device(self, refresh_token: str, policy: TokenPolicy) -> TokenPair:
        """Exchange a refresh token for a new pair; the old access token stops working.

        A refresh token is single use. Presenting one that was already exchanged is the
        sign that it leaked (the device and a thief both hold it), so the device is revoked
        and :class:`DeviceRevoked` raised; its learner logs in again. Raises
        :class:`Unauthorized` for an unknown or expired refresh token."""
        _, pair = await self._exchange(refresh_token, policy)
        return pair

    async def relogin_device(
        self, user_id: str, refresh_token: str, policy: TokenPolicy
    ) -> tuple[Device, TokenPair] | None:
        """A login that shows the refresh token its client holds for ``user_id``: that
        device, with a new pair (as :meth:`refresh_device`), instead of a new device. None
        when the token cannot be exchanged (unknown, another learner's, expired, or the
        device revoked): the caller registers a new device. A token used before revokes
        its device here too."""
        try:
            device_id, pair = await self._exchange(refresh_token, policy, user_id=user_id)
        except (Unauthorized, DeviceRevoked):
            return None
        device = await self._device_of(user_id, device_id)
        assert device is not None
        return device, pair

    async def _exchange(
        self, refresh_token: str, policy: TokenPolicy, *, user_id: str | None = None
    ) -> tuple[str, TokenPair]:
        """Retire ``refresh_token`` for a new pair of its device (only if it is
        ``user_id``'s, when given); returns the device's id and the pair."""
        now = self.clock()
        found = hash_token(refresh_token)
        pair = TokenPair(_new_token(), _new_token())
        reused = False
        async with self.engine.transaction() as txn:
            row = await txn.fetchrow("SELECT * FROM refresh_tokens WHERE token_hash = ?", found)
            if row is None or (user_id is not None and str(row["user_id"]) != user_id):
                raise Unauthorized("unknown refresh token: log in again")
            user_id, device_id = str(row["user_id"]), str(row["device_id"])
            revoked = await txn.fetchval(
                "SELECT revoked_at FROM devices WHERE user_id = ? AND id = ?", user_id, device_id
            )
            if revoked is not None:
                raise DeviceRevoked("this device was revoked: log in again")
            if now >= int(row["issued_at"]) + policy.refresh_ms:
                raise Unauthorized("refresh token expired: log in again")
            # Marked used only if nobody did meanwhile: of two exchanges of one token, the
            # second is a reuse (PostgreSQL re-reads the row after the first one's commit).
            taken = await txn.fetchval(
                "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
                " RETURNING token_hash",
                now,
                found,
            )
            if taken is None:
                reused = True
                await self._revoke_txn(txn, user_id, device_id, now)
            else:
                await txn.execute(
                    "UPDATE device_tokens SET token_hash = ?, issued_at = ? WHERE device_id = ?",
                    hash_token(pair.access),
                    now,
                    device_id,
                )
                # Used tokens are kept to recognise a reuse, until they would have expired.
                await txn.execute(
                    "DELETE FROM refresh_tokens WHERE device_id = ? AND used_at IS NOT NULL"
                    " AND issued_at < ?",
                    device_id,
                    now - policy.refresh_ms,
                )
                await self._add_refresh_txn(txn, user_id, device_id, hash_token(pair.refresh))
        if reused:
            raise DeviceRevoked(
                "this refresh token was used before, so the device was revoked: log in again"
            )
        return device_id, pair

    # -- web sessions ---------------------------------------------------------------------

    async def create_web_session(self, user_id: str, policy: SessionPolicy) -> NewWebSession:
        """Sign ``user_id`` in on a browser: a new session cookie."""
        token = _new_token()
        now = self.clock()
        session = WebSession(user_id, now, now + policy.absolute_ms)
        async with self.engine.transaction() as txn:
            await txn.execute(
                "INSERT INTO web_sessions (token_hash, user_id, created_at,"
                " last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                hash_token(token),
                user_id,
                now,
                now,
                session.expires_at,
            )
        return NewWebSession(token, session)

    async def web_session(
        self, token: str, policy: SessionPolicy, *, touch: bool = True
    ) -> WebSession | None:
        """The live session of cookie ``token``: ``None`` if unknown, ended (signed out or
        revoked), past its absolute end or idle too long. Notes the use, unless ``touch``
        is false (an open live stream checks its session without keeping it alive)."""
        key = hash_token(token)
        row = await self.engine.fetchrow("SELECT * FROM web_sessions WHERE token_hash = ?", key)
        now = self.clock()
        if (
            row is None
            or row["revoked_at"] is not None
            or now >= int(row["expires_at"])
            or now >= int(row["last_seen_at"]) + policy.idle_ms
        ):
            return None
        if touch and now - int(row["last_seen_at"]) >= SESSION_TOUCH_MS:
            async with self.engine.transaction() as txn:
                await txn.execute(
                    "UPDATE web_sessions SET last_seen_at = ? WHERE token_hash = ?", now, key
                )
        return WebSession(str(row["user_id"]), int(row["created_at"]), int(row["expires_at"]))

    async def end_web_session(self, token: str) -> None:
        """Sign a browser out: its cookie is refused from now on."""
        async with self.engine.transaction() as txn:
            await txn.execute(
                "UPDATE web_sessions SET revoked_at = ?"
                " WHERE token_hash = ? AND revoked_at IS NULL",
                self.clock(),
                hash_token(token),
            )

    async def end_web_sessions_of(self, user_id: str) -> int:
        """End every web session of ``user_id`` (``waymark admin user sign-out``); how many."""
        async with self.engine.transaction() as txn:
            ended = await txn.fetchval(
                "SELECT COUNT(*) FROM web_sessions WHERE user_id = ? AND revoked_at IS NULL",
                user_id,
            )
            await txn.execute(
                "UPDATE web_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                self.clock(),
                user_id,
            )
        return int(ended or 0)

    async def log_out(self, device: Device) -> None:
        """Revoke ``device`` (its learner logged out): its access token is refused from
        now on and its refresh tokens are gone."""
        async with self.engine.transaction() as txn:
            await self._revoke_txn(txn, device.user_id, device.id, self.clock())

    async def _revoke_txn(self, txn: Txn, user_id: str, device_id: str, now: int) -> None:
        await txn.execute(
            "UPDATE devices SET revoked_at = ? WHERE user_id = ? AND id = ? AND revoked_at IS NULL",
            now,
            user_id,
            device_id,
        )
        await txn.execute("DELETE FROM refresh_tokens WHERE device_id = ?", device_id)

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

    async def device_heard(self, device: Device, clock: str | None, recorded: int | None) -> None:
        """A device said hello: it was heard from now, and it said the highest seq it has
        recorded (``None``: its client did not say), which the server keeps: the events
        above its watermark are work it holds and has not sent (:attr:`Device.pending`).
        When the server has merged everything it recorded for the learner (``recorded`` <=
        its watermark), its mark rises to ``clock``, so an idle device stops holding the
        settled horizon back (``sync.merge.horizon``). Capped at the server's own time: a
        clock running ahead cannot settle evidence that is still to come."""
        now = self.clock()
        mark = min(clock or ZERO, _server_hlc(now))
        # One row's lock, as the merge's own (which locks the learner's row, then this).
        async with self.engine.transaction() as txn:
            await txn.execute(
                "UPDATE devices SET last_seen_at = ?, reported_seq = ?, reported_at = ?,"
                " mark = CASE WHEN mark < ? AND acked_seq >= ? THEN ? ELSE mark END"
                " WHERE id = ? AND user_id = ?",
                now,
                recorded,
                None if recorded is None else now,
                mark,
                recorded or 0,  # not said: as before the device said it (none recorded)
                mark,
                device.id,
                device.user_id,
            )

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
            await self._revoke_txn(txn, found.user_id, device_id, self.clock())
        device = await self._device_of(found.user_id, device_id)
        assert device is not None
        return device

    async def set_plan(self, user_id: str, plan: str) -> None:
        async with self.engine.transaction(learner=user_id) as txn:
            await txn.execute("UPDATE users SET plan = ? WHERE id = ?", plan, user_id)
