"""The device library's front door: one :class:`Device` per journal folder.

::

    async with Device(Path("~/.waymark").expanduser()) as device:
        await device.login("http://localhost:8000", "alice", "secret", "laptop")
        await device.record("lesson.opened", {"course": "c1", "lesson": "l1"})
        await device.sync_once()
        print(await device.status())
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec

from client.errors import (
    AccessDenied,
    BadEventArgs,
    ClientError,
    DeviceRevoked,
    LoginFailed,
    LogoutRefused,
    RequestRefused,
    ServerUnreachable,
    SyncProtocolError,
    UsageError,
    unreachable,
)
from client.journal import Account, Journal
from sync.catalog import catalog_from_server
from sync.errors import CatalogError
from sync.events import Event
from sync.gamify import GamifyView
from sync.protocol.messages import CatalogResponse, LoginResponse, TokenResponse
from sync.views import AttemptView, LearnerView, QuizView

if TYPE_CHECKING:  # client.connection (websockets, ssl) loads at the first sync: fast start
    from client.connection import Backoff, Change, SyncReport

HTTP_TIMEOUT: Final = 15.0
T = TypeVar("T")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def new_attempt_id() -> str:
    return uuid.uuid4().hex


class QuizAttempt(msgspec.Struct, frozen=True):
    """An attempt :meth:`Device.take_quiz` recorded; ``unanswered`` lists question ids."""

    course: str
    quiz: str
    attempt: str
    unanswered: list[str] = []


def gamify_status(view: GamifyView) -> dict[str, Any]:
    """The gamification part of ``waymark status --json``."""
    certificates = [
        {"code": c.code, c.kind: c.ref, "title": c.title, "issued_at": c.issued_at}
        for c in view.certificates
    ]
    return {
        "points": view.points,
        "level": view.level.level,
        "next_level_at": view.level.next_level_at,
        "points_to_next_level": view.level.to_next,
        "streak": {
            "current": view.streak.current,
            "longest": view.streak.longest,
            "freezes": view.streak.freezes,
        },
        "badges": [
            {"id": b.id, "name": b.name, "earned_at": b.earned_at} for b in view.badges if b.earned
        ],
        "certificates": certificates,
        "week_points": view.week_points,
    }


def _quizzes(view: LearnerView, course: str) -> list[QuizView]:
    return [q for c in view.courses if c.id == course for m in c.modules for q in m.quizzes]


def local_zone() -> str:
    """The device's IANA time zone: ``$TZ``, else the ``/etc/localtime`` link; "" if unknown."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name and os.path.islink("/etc/localtime"):
        name = os.path.realpath("/etc/localtime").partition("/zoneinfo/")[2]
    return name


class Device:
    """This device's journal in ``home`` and its learners. Use ``async with Device(home)``.

    ``clock`` returns epoch milliseconds; ``timezone`` is the IANA zone stamped on events
    (default: the device's, else the learner's); ``new_id`` makes quiz attempt ids (unique
    per learner).
    """

    def __init__(
        self,
        home: Path,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        timezone: str | None = None,
        new_id: Callable[[], str] = new_attempt_id,
    ) -> None:
        self.home = home
        self.clock = clock
        self.new_id = new_id
        self.timezone = local_zone() if timezone is None else timezone
        self._journal: Journal | None = None

    async def __aenter__(self) -> Device:
        self._journal = await Journal.open(self.home)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.journal.close()
        self._journal = None

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise UsageError("open the device first: async with Device(home) as device")
        return self._journal

    async def login(
        self,
        server_url: str,
        username: str,
        password: str,
        device_name: str,
        *,
        make_default: bool = False,
    ) -> Account:
        """Register this device for ``username`` on the server and cache the catalog.

        Logging in again (a kiosk signing a learner in with the password after the idle
        sign-out) keeps the device the server registered for the learner here: the login
        shows its refresh token and the server gives that device new tokens. Only when it
        cannot (the token expired, the device was revoked, an older server) does the new
        device replace the previous one here. Raises :class:`LoginFailed` (with the
        server's problem detail), :class:`ServerUnreachable` and
        :class:`SyncProtocolError` (an answer this client cannot read).
        """
        base = server_url.rstrip("/")
        await self._settle_previous_login(base, username)

        async def log_in(refresh_token: str) -> LoginResponse:
            body = {"username": username, "password": password, "device_name": device_name}
            if refresh_token:
                body["refresh_token"] = refresh_token
            status, data = await _http(f"{base}/v1/auth/login", body)
            if status not in (200, 201):
                raise LoginFailed(f"login as {username!r} refused: {_detail(status, data)}")
            return _decode(data, LoginResponse, "login")

        reply = await self.journal.log_in_again(username, base, log_in)
        status, data = await _http(f"{base}/v1/catalog", token=reply.token)
        if status in (401, 403):
            raise AccessDenied(
                f"the catalog was refused to the new device: {_detail(status, data)}"
            )
        if status != 200:
            raise SyncProtocolError(f"GET {base}/v1/catalog failed: {_detail(status, data)}")
        catalog = _decode(data, CatalogResponse, "catalog")
        try:
            parsed = catalog_from_server(catalog.catalog)
        except CatalogError as err:
            raise SyncProtocolError(f"the server sent a bad catalog: {err}") from None
        account = await self.journal.add_account(
            Account(
                user_id=reply.user_id,
                username=reply.username,
                device_id=reply.device_id,
                token=reply.token,
                server_url=base,
                timezone=reply.timezone,
                role=reply.role,
                plan=reply.plan,
                refresh_token=reply.refresh_token,
            ),
            make_default=make_default,
        )
        await self.journal.store_catalog(base, catalog.version, parsed)
        return account

    async def _settle_previous_login(self, base: str, username: str) -> None:
        """Push a previous login's pending events under their own (device, seq) identity.

        Moving them to the new device unsynced would renumber them, and an event whose ack
        was lost would then be stored twice. If the old device cannot sync any more (revoked),
        they move to the new device (see :meth:`Journal.add_account`).
        """
        try:
            previous = await self.journal.account(username)
        except ClientError:
            return
        if previous.server_url == base and await self.journal.pending_count(previous.user_id):
            with contextlib.suppress(ClientError):
                await self.sync_once([username])

    async def accounts(self) -> list[Account]:
        return await self.journal.accounts()

    async def logout(self, user: str | None = None, *, force: bool = False) -> int:
        """Log ``user`` out of this device: the server revokes its tokens
        (``DELETE /v1/auth/device``), then this device forgets them. Returns the number of
        its events not synced, which stay in the journal and are pushed after the learner's
        next login here.

        Events not synced are pushed first when the server can be reached. If some remain
        (offline, or refused), or the server cannot be reached to revoke the tokens, this
        raises :class:`LogoutRefused` unless ``force``: a forced logout forgets the tokens even
        then (an administrator can still revoke the device: ``waymark admin revoke``)."""
        account = await self.journal.account(user)
        if await self.journal.pending_count(account.user_id):
            with contextlib.suppress(ClientError):
                await self.sync_once([account.username])
        pending = await self.journal.pending_count(account.user_id)
        if pending and not force:
            raise LogoutRefused(
                f"{account.username} has {pending} events not synced yet: run waymark sync "
                "first, or log out with --force (they stay here and are pushed after the "
                "next login)"
            )
        try:
            status, data = await self._authed(account, "/v1/auth/device", method="DELETE")
        except AccessDenied:
            pass  # its token is expired and cannot be renewed, or revoked: none left live
        except ServerUnreachable as err:
            if not force:
                raise LogoutRefused(
                    f"{err}; the server must revoke the token: try again, or log out with "
                    "--force (the token then stays valid until an administrator revokes it)"
                ) from None
        else:
            # 401/403: the server holds no live token of this device any more, as wanted.
            if status not in (204, 401, 403):
                raise SyncProtocolError(f"logout: the server answered {_detail(status, data)}")
        await self.journal.forget_account(await self.journal.account(account.username))
        return pending

    async def refresh(self, account: Account) -> Account:
        """Renew ``account``'s expired token with its refresh token; returns it with the new
        tokens. Raises :class:`AccessDenied` (no refresh token, or the server refused it:
        log in again), :class:`DeviceRevoked`, :class:`ServerUnreachable`."""
        if not account.refresh_token:
            raise AccessDenied(
                f"{account.username}'s token expired and this login cannot renew it (it "
                "predates token refresh): log in again"
            )

        async def exchange(refresh_token: str) -> tuple[str, str]:
            status, data = await _http(
                f"{account.server_url}/v1/auth/refresh", {"refresh_token": refresh_token}
            )
            if status == 403:
                raise DeviceRevoked(f"{account.username}: {_detail(status, data)}")
            if status in (400, 401):
                raise AccessDenied(f"{account.username}: {_detail(status, data)}")
            if status != 200:
                raise SyncProtocolError(
                    f"token refresh: the server answered {_detail(status, data)}"
                )
            reply = _decode(data, TokenResponse, "token refresh")
            return reply.token, reply.refresh_token

        return await self.journal.refresh_tokens(account, exchange)

    async def _authed(
        self, account: Account, path: str, body: object = None, *, method: str | None = None
    ) -> tuple[int, bytes]:
        """A REST call with the account's token; an expired token is refreshed once and the
        call made again (a 401 for any other reason stays one: the refresh fails too)."""
        url = f"{account.server_url}{path}"
        status, data = await _http(url, body, token=account.token, method=method)
        if status == 401 and account.refresh_token:
            account = await self.refresh(account)
            status, data = await _http(url, body, token=account.token, method=method)
        return status, data

    async def record(
        self,
        type: str,
        body: dict[str, Any],
        *,
        user: str | None = None,
        at_ms: int | None = None,
        tz: str | None = None,
        unknown_ids: bool = False,
    ) -> Event:
        """Durably record one event for ``user`` (default: the only or default learner).

        ``at_ms`` and ``tz`` set the event's wall-clock time and IANA zone (an import, a
        test); by default now and this device's zone. ``unknown_ids`` records an event
        naming ids the cached catalog lacks (the server decides). Raises
        :class:`BadEventArgs` (nothing written), :class:`NotLoggedIn`, :class:`UnknownUser`.
        """
        account = await self.journal.account(user)
        zone = tz if tz is not None else (self.timezone or account.timezone)
        now = self.clock() if at_ms is None else at_ms
        return await self.journal.record(
            account, type, body, now_ms=now, tz=zone, unknown_ids=unknown_ids
        )

    async def take_quiz(
        self,
        course: str,
        quiz: str,
        answers: Mapping[str, Sequence[str]],
        *,
        user: str | None = None,
    ) -> QuizAttempt:
        """Record one whole attempt at ``quiz``: ``quiz.started``, one ``quiz.answered`` per
        question in ``answers`` (question id -> choice ids), ``quiz.submitted``, under a new
        attempt id, all in one commit. Offline is fine: the server scores the attempt when it
        gets it (see :meth:`attempt`).

        Raises :class:`BadEventArgs` (an unknown quiz, question or choice, or no catalog on
        this device yet; nothing written), :class:`NotLoggedIn`, :class:`UnknownUser`.
        """
        account = await self.journal.account(user)
        cached = await self.journal.catalog(account.server_url)
        if cached is None:
            raise BadEventArgs("no catalog on this device yet: run waymark sync")
        found = cached[1].quiz(course, quiz)
        if found is None:
            if cached[1].course(course) is None:
                raise BadEventArgs(f"no course {course!r} in the catalog")
            raise BadEventArgs(f"no quiz {quiz!r} in course {course!r}")
        questions = {q.id: q for q in found.questions}
        for question_id, choices in answers.items():
            question = questions.get(question_id)
            if question is None:
                known = ", ".join(questions)
                raise BadEventArgs(f"quiz {quiz!r} has no question {question_id!r} ({known})")
            ids = [c.id for c in question.choices]
            wrong = next((c for c in choices if c not in ids), None)
            if wrong is not None or not choices:
                what = f"no choice {wrong!r}" if wrong is not None else "no choice given"
                raise BadEventArgs(f"question {question_id!r}: {what} ({', '.join(ids)})")
        attempt = self.new_id()
        ref = {"course": course, "quiz": quiz, "attempt": attempt}
        events: list[tuple[str, dict[str, Any]]] = [
            ("quiz.started", ref),
            *(
                ("quiz.answered", {**ref, "question": q, "choices": list(c)})
                for q, c in answers.items()
            ),
            ("quiz.submitted", ref),
        ]
        tz = self.timezone or account.timezone
        await self.journal.record_many(account, events, now_ms=self.clock(), tz=tz)
        unanswered = [q for q in questions if q not in answers]
        return QuizAttempt(course, quiz, attempt, unanswered)

    async def attempt(
        self, course: str, quiz: str, attempt: str, *, user: str | None = None
    ) -> tuple[QuizView, AttemptView] | None:
        """The quiz and one attempt at it as this device knows them, or None if unknown."""
        view = await self.journal.view(await self.journal.account(user))
        for found in _quizzes(view, course):
            if found.id == quiz:
                for item in found.attempts:
                    if item.id == attempt:
                        return found, item
        return None

    async def quiz(self, course: str, quiz: str, *, user: str | None = None) -> QuizView | None:
        """The quiz as this device knows it (attempts, attempts left, cool-down)."""
        view = await self.journal.view(await self.journal.account(user))
        return next((q for q in _quizzes(view, course) if q.id == quiz), None)

    async def status(self, user: str | None = None) -> dict[str, Any]:
        """The learner's progress as plain data: ``user``, ``user_id``, ``server``, ``plan``,
        ``timezone`` (the learner's IANA zone, which times are shown in), ``pending``,
        ``rejected``, ``synced_at``, then ``courses``, ``paths``,
        ``competencies`` and ``summary`` of :func:`sync.views.learner_view` over what this
        device holds (own facts not yet synced included; decisions as the server made them)."""
        account = await self.journal.account(user)
        return {
            "user": account.username,
            "user_id": account.user_id,
            "server": account.server_url,
            "plan": account.plan,
            "timezone": account.timezone,
            "pending": await self.journal.pending_count(account.user_id),
            "rejected": msgspec.to_builtins(await self.journal.rejected(account.user_id)),
            "synced_at": account.synced_at,
            **msgspec.to_builtins(await self.journal.view(account)),
            **gamify_status(await self.achievements(user)),
        }

    async def achievements(self, user: str | None = None) -> GamifyView:
        """Points, level, streak, badges and certificates as this device knows them: the
        streak counts own offline activity at once; points, badges and certificates are
        the server's decisions, so they arrive with a sync."""
        account = await self.journal.account(user)
        return await self.journal.achievements(account, now_ms=self.clock())

    # -- online only: what needs other learners' data or the server's signature ----------

    async def _get(self, account: Account, path: str, what: str) -> Any:
        status, data = await self._authed(account, path)
        return _answer(status, data, what)

    async def leaderboard(
        self,
        *,
        group: str | None = None,
        course: str | None = None,
        week: str | None = None,
        limit: int = 10,
        user: str | None = None,
    ) -> dict[str, Any]:
        """This week's (or ``week``'s) leaderboard of everyone, a ``group`` or a ``course``
        cohort from the server: ``{"week", "rows": [{"rank", "user", "points", "you"}],
        "you"}``. Raises :class:`ServerUnreachable` offline, :class:`AccessDenied`,
        :class:`RequestRefused` (unknown group or course, bad week)."""
        account = await self.journal.account(user)
        query = {"group": group, "course": course, "week": week, "limit": str(limit)}
        encoded = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return dict(await self._get(account, f"/v1/leaderboards/weekly?{encoded}", "leaderboard"))

    async def report(
        self,
        path: str,
        query: dict[str, str | None],
        *,
        fmt: str | None = None,
        user: str | None = None,
    ) -> Any:
        """A report of the server (``/v1/reports/…``) for this device's instructor or
        admin: its JSON, or with ``fmt`` (``csv``, ``pdf``) its text or bytes. Raises
        :class:`ServerUnreachable` offline, :class:`AccessDenied` (a learner, another
        group), :class:`RequestRefused` (unknown course, bad date)."""
        account = await self.journal.account(user)
        params = {k: v for k, v in query.items() if v is not None}
        if fmt is not None:
            params["format"] = fmt
        encoded = urllib.parse.urlencode(params)
        status, data = await self._authed(account, f"{path}?{encoded}" if encoded else path)
        if fmt is None or not 200 <= status < 300:
            return _answer(status, data, "report")
        return data.decode() if fmt == "csv" else data

    async def set_leaderboard_opt_out(self, opt_out: bool, *, user: str | None = None) -> bool:
        """Hide the learner from (True) or show them on (False) other learners' leaderboards."""
        account = await self.journal.account(user)
        status, data = await self._authed(
            account, "/v1/me/leaderboard", {"opt_out": opt_out}, method="PUT"
        )
        return bool(_answer(status, data, "leaderboard opt-out")["opt_out"])

    async def certificate(self, code: str, *, server_url: str | None = None) -> dict[str, Any]:
        """Verify a certificate by its code on ``server_url`` (default: the default
        learner's server); no sign-in needed. Raises :class:`RequestRefused` for an unknown code."""
        base = (server_url or (await self.journal.account()).server_url).rstrip("/")
        quoted = urllib.parse.quote(code.strip(), safe="")
        status, data = await _http(f"{base}/v1/certificates/{quoted}")
        return dict(_answer(status, data, "certificate"))

    async def sync_once(self, users: Iterable[str] = ()) -> SyncReport:
        """See :func:`client.connection.sync_once`."""
        from client import connection

        return await connection.sync_once(
            self.journal, users, now_ms=self.clock(), refresh=self.refresh
        )

    async def follow(
        self,
        on_change: Callable[[Change], object],
        *,
        stop: asyncio.Event,
        users: Iterable[str] = (),
        backoff: Backoff | None = None,
    ) -> None:
        """See :func:`client.connection.follow`."""
        from client import connection

        await connection.follow(
            self.journal,
            on_change,
            stop=stop,
            clock=self.clock,
            backoff=backoff or connection.Backoff(),
            users=users,
            refresh=self.refresh,
        )


async def _http(
    url: str, body: object = None, *, token: str = "", method: str | None = None
) -> tuple[int, bytes]:
    """GET (or POST ``body`` as JSON) in a worker thread; returns ``(status, body)``."""
    import urllib.error  # with urllib.request (ssl, http.client): only when a command calls
    import urllib.request

    request = urllib.request.Request(url, method=method or ("GET" if body is None else "POST"))
    request.add_header("accept", "application/json")
    if body is not None:
        request.data = msgspec.json.encode(body)
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")

    def call() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()

    try:
        return await asyncio.to_thread(call)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise unreachable(url, err) from None


def _answer(status: int, data: bytes, what: str) -> Any:
    """The JSON of a 2xx answer; else the error this client raises for it."""
    if status in (401, 403):
        raise AccessDenied(f"{what}: {_detail(status, data)}")
    if status in (400, 404, 409, 422):
        raise RequestRefused(f"{what}: {_detail(status, data)}")
    if not 200 <= status < 300:
        raise SyncProtocolError(f"{what}: the server answered {_detail(status, data)}")
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        raise SyncProtocolError(f"unexpected {what} answer from the server: {err}") from None


def _detail(status: int, data: bytes) -> str:
    """The problem detail of an error answer, else its status."""
    try:
        problem = msgspec.json.decode(data)
    except msgspec.DecodeError:
        problem = None
    if isinstance(problem, dict) and (problem.get("detail") or problem.get("title")):
        return str(problem.get("detail") or problem.get("title"))
    return f"HTTP {status}"


def _decode(data: bytes, kind: type[T], what: str) -> T:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as err:  # ValidationError is a DecodeError too
        raise SyncProtocolError(f"unexpected {what} answer from the server: {err}") from None
