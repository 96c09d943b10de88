"""The Waymark terminal app: one :class:`client.api.Device`, its learners, and a
background sync.

Threads of work, all workers: ``_start`` opens the journal; ``_writer`` does every journal
read and write in order (records, quiz attempts, reloads, drafts) and posts what it read;
``_follow`` runs :meth:`Device.follow` with a :class:`Backoff` while any learner is signed
in (offline, the status line counts down to the next try, :data:`RECONNECT` caps the wait
and ctrl+r tries at once); ``_login`` signs in and ``_leaderboard`` fetches the weekly
leaderboard over HTTP. Screens get data as attributes (``snapshot``, ``sync_state``,
``board``) and post messages (:mod:`tui.messages`) up to the app.

Celebrations: every reload reads the feed's celebrations this device has not shown
(:meth:`Journal.celebrations`), marks them shown and toasts them. When the device has never
shown one for the learner (a sign-in with a long feed, or the first awards ever), only the
newest :data:`FIRST_CHEERS` are toasted, plus one line counting the older ones; later
batches show up to :data:`MAX_CHEERS`. See ``docs/tui.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.theme import BUILTIN_THEMES, Theme
from textual.worker import Worker

from client import pins
from client.api import Device
from client.connection import Backoff, Change
from client.errors import ClientError, ServerUnreachable
from client.journal import Account, Celebration, Journal
from sync.events import Event
from sync.gamify import Leaderboard
from tui import layout, settings
from tui.commands import WaymarkCommands
from tui.dialogs.confirm import Confirm
from tui.dialogs.kiosk import (
    ChangePin,
    IdleCountdown,
    PinAnswer,
    PinChoice,
    PinPrompt,
    SetPin,
)
from tui.help import HelpScreen
from tui.keys import KeyLine
from tui.messages import (
    Changed,
    DraftRead,
    FetchLeaderboard,
    LoadDraft,
    Loaded,
    ManagePin,
    Open,
    PickLearner,
    PinTried,
    QuizTaken,
    Record,
    SignIn,
    SignInFailed,
    SwitchLearner,
    TakeQuiz,
    TryPin,
)
from tui.present import (
    CHART_DAYS,
    AchievementsRef,
    AssignmentRef,
    CourseRef,
    LessonRef,
    PathRef,
    QuizRef,
)
from tui.screens.achievements import AchievementsScreen
from tui.screens.assignment import AssignmentScreen
from tui.screens.base import LearnerScreen
from tui.screens.course import CourseScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.lesson import LessonScreen
from tui.screens.path import PathScreen
from tui.screens.quiz import QuizScreen
from tui.screens.signin import SignInScreen
from tui.state import Board, Connection, Snapshot, SyncState
from tui.theme import THEMES
from tui.widgets.status_line import RETRY_KEY

Job = Callable[[Device], Awaitable[Message | None]]

FIRST_CHEERS: Final = 3
MAX_CHEERS: Final = 5
CHEER_SECONDS: Final = 8.0
PAGE: Final = 500  # own events read per journal call when scanning them
# Waits between tries to reach the server: at most 10 s (full jitter, so 5 s on average),
# so a server that comes back is found within seconds, not the library's minute; a fleet
# of kiosks still spreads its reconnects over those 10 s, and a server that says how long
# to wait (4429) is obeyed. ctrl+r skips the wait.
RECONNECT: Final = Backoff(base=0.5, cap=10.0)
IDLE_WARNING: Final = 30.0
"""Seconds before the idle sign-out that the countdown shows (at most half the timeout)."""


class _Started(Message):
    def __init__(self, accounts: list[Account], pinned: set[str]) -> None:
        super().__init__()
        self.accounts = accounts
        self.pinned = pinned


class _SyncRead(Message):
    """Pending count, rejected events and sync times, read from the journal."""

    def __init__(self, state: SyncState, latest_sync: int) -> None:
        super().__init__()
        self.state = state
        self.latest_sync = latest_sync


class _Offline(Message):
    """The background sync failed to connect (or was dropped) and waits ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay


class _Retrying(Message):
    """The wait is over (or skipped): the background sync tries the server again."""


class _SyncStopped(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class _BoardRead(Message):
    def __init__(self, user: str, board: Board) -> None:
        super().__init__()
        self.user = user
        self.board = board


class _SignedIn(Message):
    def __init__(self, account: Account) -> None:
        super().__init__()
        self.account = account


class WaymarkApp(App[None]):
    """``device`` is not open yet: the app opens and closes it. ``idle_timeout`` (seconds,
    None: never) signs the learner out after no input; ``tick_seconds`` is how often an open
    lesson records time spent; ``status_seconds`` how often the status line is re-read
    (None: only on demand, as in tests).

    ``kiosk`` (also on whenever ``idle_timeout`` is set: an idle sign-out only makes sense
    on a shared device): the app opens on the learner list unless ``user`` names one, and
    a learner picked from it gives their PIN or, without one, their password; after a
    password sign-in the app offers to set a PIN. A PIN set on this device is asked for
    also without ``kiosk``. See ``client.pins`` and ``docs/tui.md``."""

    CSS_PATH = "waymark.tcss"
    TITLE = "Waymark"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit"),
        Binding("question_mark,f1", "help", "Keys"),
        Binding(RETRY_KEY, "reconnect", "Retry now"),
    ]
    COMMANDS = App.COMMANDS | {WaymarkCommands}
    HORIZONTAL_BREAKPOINTS = layout.HORIZONTAL
    VERTICAL_BREAKPOINTS = layout.VERTICAL

    def __init__(
        self,
        device: Device,
        *,
        user: str | None = None,
        idle_timeout: float | None = None,
        sync: bool = True,
        backoff: Backoff | None = None,
        tick_seconds: float | None = 30.0,
        status_seconds: float | None = 1.0,
        device_name: str = "",
        kiosk: bool = False,
    ) -> None:
        super().__init__()
        self.device = device
        self.clock = device.clock
        self.user = user
        self.idle_timeout = idle_timeout
        self.kiosk = kiosk or idle_timeout is not None
        self.sync_enabled = sync
        self.backoff = backoff or RECONNECT
        self.tick_seconds = tick_seconds
        self.status_seconds = status_seconds
        self.device_name = device_name or f"tui@{socket.gethostname()}"
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.snapshot: Snapshot | None = None
        self.sync_state = SyncState()
        self.last_input_ms = self.clock()
        self.accounts: list[Account] = []
        self._stop_sync: asyncio.Event | None = None
        self._wake = asyncio.Event()  # set (and replaced) to end the sync's wait early
        self._synced_mark = 0  # the latest sync time when the sync last went offline
        self._opened = False
        self.login_worker: Worker[None] | None = None
        self.boards: dict[str, Board] = {}  # the last leaderboard fetched, per learner
        self._loads_queued: set[str] = set()
        self.pinned: set[str] = set()  # user ids with a kiosk PIN on this device
        self.countdown: IdleCountdown | None = None  # shown before the idle sign-out
        self.keys = KeyLine(self)  # keys from the terminal, let in one at a time
        self._jobs_open = 0  # journal jobs queued or running
        self._use_themes()

    def _use_themes(self) -> None:
        """Offer only Waymark's themes (the ones held to WCAG contrast), starting with the
        one saved in the device home; a change is saved there at once (a few bytes, on a
        learner's choice: a worker could still be writing when ctrl+q follows)."""
        for theme in THEMES:
            self.register_theme(theme)
        saved = settings.load(self.device.home).theme
        self.theme = saved if saved in {t.name for t in THEMES} else THEMES[0].name
        for name in BUILTIN_THEMES:
            self.unregister_theme(name)

    def _save_theme(self, theme: Theme) -> None:
        current = settings.load(self.device.home)
        if current.theme != theme.name:
            settings.save(self.device.home, dataclasses.replace(current, theme=theme.name))

    # -- start and stop ---------------------------------------------------------------

    def on_mount(self) -> None:
        layout.install(self)
        self.theme_changed_signal.subscribe(self, self._save_theme)
        self.run_worker(self._start(), name="start", group="start")

    async def _start(self) -> None:
        await self.device.__aenter__()
        self._opened = True
        journal = self.device.journal
        self.post_message(_Started(await self.device.accounts(), await journal.pinned()))

    async def on__started(self, message: _Started) -> None:
        self.accounts = message.accounts
        self.pinned = message.pinned
        self.run_worker(self._writer(), name="writer", group="writer")
        if self.status_seconds:
            self.set_interval(self.status_seconds, self.request_status)
        self.set_interval(1.0, self.tick_countdown)
        if self.idle_timeout:
            self.set_interval(1.0, self.sign_out_if_idle)
        if self.sync_enabled and self.accounts:
            self.start_sync()
        names = [a.username for a in self.accounts]
        default = next((a.username for a in self.accounts if a.is_default), None)
        chosen = (
            self.user
            if self.user in names
            else None
            if self.kiosk  # whoever walks up to a kiosk picks themselves, with a secret
            else names[0]
            if len(names) == 1
            else default
            if self.user is None
            else None
        )
        if chosen is None:
            self.user = None
            await self.push_screen(SignInScreen(self.accounts, self.sync_state))
        else:
            await self.show_learner(chosen)

    async def action_quit(self) -> None:
        """Save what an open lesson has not recorded yet, then stop the sync and close;
        asks first when quitting would lose work (:meth:`LearnerScreen.leave_question`)."""
        screen = self.screen
        question = screen.leave_question() if isinstance(screen, LearnerScreen) else ""
        if question:

            def answered(leave: bool | None) -> None:
                if leave:
                    self.call_later(self._quit)

            await self.push_screen(Confirm(f"Quit? {question}"), answered)
            return
        await self._quit()

    async def _quit(self) -> None:
        self._save_unsaved()
        await self.jobs.join()
        if self._stop_sync is not None:
            self._stop_sync.set()
        self.exit()

    async def on_unmount(self) -> None:
        if self._opened:
            self._opened = False
            await self.device.__aexit__(None, None, None)

    # -- the journal: one writer, in order --------------------------------------------

    async def _writer(self) -> None:
        while True:
            job = await self.jobs.get()
            try:
                reply = await job(self.device)
                if reply is not None:
                    self.post_message(reply)
            except ClientError as err:
                self.notify(str(err), severity="error", title="Not saved")
            finally:
                self._jobs_open -= 1
                self.jobs.task_done()

    def enqueue(self, job: Job) -> None:
        self.jobs.put_nowait(job)
        self._jobs_open += 1

    @property
    def working(self) -> bool:
        """True while a journal job is queued or running (``jobs.empty()`` is also true
        while the last one runs), or a key waits to be let in."""
        return bool(self._jobs_open) or self.keys.waiting

    def request_load(self) -> None:
        """Reload the learner's progress (once, however many changes ask before it runs)."""
        user = self.user
        if user is None or user in self._loads_queued:
            return
        self._loads_queued.add(user)

        async def job(device: Device) -> Message:
            self._loads_queued.discard(user)  # a change from now on needs another load
            return await self._load(device, user)

        self.enqueue(job)

    def request_status(self) -> None:
        user = self.user
        if self.jobs.empty():
            self.enqueue(lambda device: self._read_sync(device, user))

    async def _load(self, device: Device, user: str) -> Message:
        journal = device.journal
        now = self.clock()
        account = await journal.account(user)
        cached = await journal.catalog(account.server_url)
        snapshot = Snapshot(
            account,
            await journal.view(account),
            cached[1] if cached else None,
            now,
            await journal.achievements(account, now_ms=now),
            await journal.time_per_day(account, days=CHART_DAYS, now_ms=now),
            await self._requested(journal, account),
        )
        if user != self.user:
            return Loaded(snapshot)  # not on screen: its celebrations wait for their turn
        cheers, earlier = await self._celebrations(journal, account)
        return Loaded(snapshot, cheers, earlier)

    async def _celebrations(
        self, journal: Journal, account: Account
    ) -> tuple[list[Celebration], int]:
        """The celebrations to show now and how many older ones only get counted; all of
        them are marked shown."""
        unseen = await journal.celebrations(account)
        if not unseen:
            return [], 0
        # Never shown one for this learner here (the mark is below every celebration): a
        # device just signed in would otherwise replay the learner's whole history.
        first = len(await journal.celebrations(account, after=0)) == len(unseen)
        keep = FIRST_CHEERS if first else MAX_CHEERS
        await journal.mark_celebrated(account, unseen[-1].user_seq)
        return unseen[-keep:], max(0, len(unseen) - keep)

    async def _requested(self, journal: Journal, account: Account) -> dict[str, str]:
        """Path actions recorded here that the server has not acknowledged yet."""
        asked: dict[str, str] = {}
        for event in await self._own_events(journal, account, account.acked_seq):
            path = event.body.get("path")
            if event.type.startswith("path.") and isinstance(path, str):
                asked[path] = event.type
        return asked

    @staticmethod
    async def _own_events(journal: Journal, account: Account, after: int) -> list[Event]:
        found: list[Event] = []
        while True:
            page = await journal.pending(account.device_id, after, PAGE)
            found += page
            if len(page) < PAGE:
                return found
            after = page[-1].seq

    async def _read_sync(self, device: Device, user: str | None) -> Message:
        accounts = await device.accounts()
        latest = max((a.synced_at or 0 for a in accounts), default=0)
        account = next((a for a in accounts if a.username == user), None)
        if account is None:
            return _SyncRead(dataclasses.replace(self.sync_state, user=""), latest)
        pending = await device.journal.pending_count(account.user_id)
        rejected = msgspec.to_builtins(await device.journal.rejected(account.user_id))
        state = dataclasses.replace(
            self.sync_state,
            user=account.username,
            account=account,
            pending=pending,
            synced_at=account.synced_at,
            rejected=rejected,
        )
        return _SyncRead(state, latest)

    def on__sync_read(self, message: _SyncRead) -> None:
        now = self.sync_state
        connection, retry_at = now.connection, now.retry_at
        if connection in ("connecting", "offline") and message.latest_sync > self._synced_mark:
            connection, retry_at = "online", None  # the follower settled a sync since it failed
        state = dataclasses.replace(
            message.state,
            connection=connection,
            error=now.error,
            retry_at=retry_at,
            now_ms=now.now_ms,
        )
        self.set_sync_state(state)
        held, account = self.snapshot, message.state.account
        if held and held.requested and account and account.acked_seq > held.account.acked_seq:
            # The server now holds a path action shown as "requested": its ack can land
            # after the reload its decision prompted, which would leave that line stale.
            self.request_load()

    def on_loaded(self, message: Loaded) -> None:
        snapshot = message.snapshot
        if snapshot.account.username != self.user:
            return  # a load for the learner before a switch
        self.snapshot = snapshot
        for screen in self.screen_stack:
            if isinstance(screen, LearnerScreen):
                screen.snapshot = snapshot
        self.celebrate(message.cheers, message.earlier)
        self.request_status()

    def celebrate(self, cheers: list[Celebration], earlier: int = 0) -> None:
        """Toast each celebration (oldest first), after one line for those not shown."""
        if earlier:
            self.notify(
                f"…and {earlier} earlier {'one' if earlier == 1 else 'ones'}: "
                "press a on the dashboard to see them all.",
                title="More achievements",
                timeout=CHEER_SECONDS,
                markup=False,
            )
        for cheer in cheers:
            self.notify(
                cheer.detail or "Well done!",
                title=f"🎉 {cheer.title}",
                timeout=CHEER_SECONDS,
                markup=False,
            )

    def set_sync_state(self, state: SyncState) -> None:
        moved = state.connection != self.sync_state.connection
        self.sync_state = state
        if moved:
            self.refresh_bindings()  # the retry key is offered only offline
        for screen in self.screen_stack:
            if isinstance(screen, LearnerScreen):
                screen.sync_state = state
            elif isinstance(screen, SignInScreen):
                screen.set_sync_state(state)

    @on(Record)
    def record(self, message: Record) -> None:
        async def job(device: Device) -> Message:
            await device.record(message.type, message.body, user=message.user)
            return await self._load(device, message.user)

        self.enqueue(job)

    @on(TakeQuiz)
    def take_quiz(self, message: TakeQuiz) -> None:
        async def job(device: Device) -> Message | None:
            try:
                attempt = await device.take_quiz(
                    message.course, message.quiz, message.answers, user=message.user
                )
            except ClientError as err:
                message.reply_to.post_message(QuizTaken(None, str(err)))
                return None
            self.post_message(await self._load(device, message.user))
            message.reply_to.post_message(QuizTaken(attempt))
            return None

        self.enqueue(job)

    @on(LoadDraft)
    def load_draft(self, message: LoadDraft) -> None:
        async def job(device: Device) -> None:
            journal = device.journal
            account = await journal.account(message.user)
            text = ""
            for event in await self._own_events(journal, account, 0):
                body = event.body
                if (
                    event.type in ("assignment.saved", "assignment.submitted")
                    and body.get("course") == message.course
                    and body.get("assignment") == message.assignment
                ):
                    text = str(body.get("text", ""))
            message.reply_to.post_message(DraftRead(text))

        self.enqueue(job)

    # -- the leaderboard: HTTP in its own worker, never in the writer --------------------

    @on(FetchLeaderboard)
    def fetch_leaderboard(self) -> None:
        user = self.user
        if user is None:
            return
        held = dataclasses.replace(self.boards.get(user, Board()), loading=True)
        self._set_board(user, held)
        self.run_worker(self._leaderboard(user, held), group="leaderboard", exclusive=True)

    async def _leaderboard(self, user: str, held: Board) -> None:
        done = dataclasses.replace(held, loading=False)
        try:
            data = await self.device.leaderboard(user=user)
            board = Board(msgspec.convert(data, Leaderboard), self.clock())
        except ServerUnreachable:
            board = dataclasses.replace(done, offline=True, error="")
        except ClientError as err:
            board = dataclasses.replace(done, offline=False, error=str(err))
        except msgspec.ValidationError as err:
            board = dataclasses.replace(done, offline=False, error=f"unexpected answer: {err}")
        self.post_message(_BoardRead(user, board))

    def on__board_read(self, message: _BoardRead) -> None:
        self._set_board(message.user, message.board)

    def _set_board(self, user: str, board: Board) -> None:
        self.boards[user] = board
        for screen in self.screen_stack:
            if isinstance(screen, AchievementsScreen) and screen.user == user:
                screen.board = board

    # -- background sync --------------------------------------------------------------

    def start_sync(self) -> None:
        """(Re)start following every learner on this device."""
        if self._stop_sync is not None:
            self._stop_sync.set()
        self._stop_sync = asyncio.Event()
        self._synced_mark = max((a.synced_at or 0 for a in self.accounts), default=0)
        self._set_connection("connecting")
        self.run_worker(self._follow(self._stop_sync), name="sync", group="sync")

    async def _follow(self, stop: asyncio.Event) -> None:
        base = self.backoff

        async def sleep(delay: float) -> None:
            self.post_message(_Offline(delay))
            waiting = asyncio.ensure_future(base.sleep(delay))
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiting, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                woken.cancel()
            self.post_message(_Retrying())

        try:
            await self.device.follow(
                self._on_change, stop=stop, backoff=dataclasses.replace(base, sleep=sleep)
            )
        except ClientError as err:
            self.post_message(_SyncStopped(str(err)))

    def _on_change(self, change: Change) -> None:
        self.post_message(Changed(change))  # called in the follower: hand it to the app

    def on_changed(self, message: Changed) -> None:
        self._set_connection("online")
        if message.change.username == self.user:
            self.request_load()
        self.request_status()

    def on__offline(self, message: _Offline) -> None:
        self._synced_mark = max(self._synced_mark, self.sync_state.synced_at or 0)
        self._set_connection("offline", retry_at=self.clock() + int(message.delay * 1000))
        self.request_status()

    def on__retrying(self, message: _Retrying) -> None:
        self._trying_now()

    def _trying_now(self) -> None:
        """Offline until a try succeeds; the status line says a try is under way."""
        if self.sync_state.connection == "offline":
            self._set_connection("offline", retry_at=self.clock())

    def tick_countdown(self) -> None:
        """Redraw the countdown to the next try (every second, from the app's clock)."""
        if self.sync_state.retry_at is not None:
            self.set_sync_state(dataclasses.replace(self.sync_state, now_ms=self.clock()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reconnect":  # offered while the sync waits to try again
            return self.sync_state.connection == "offline"
        return True

    def action_reconnect(self) -> None:
        """Try the server now instead of at the end of the countdown."""
        if self.sync_state.connection != "offline":
            return
        self._wake.set()  # wakes every server's wait that holds this event
        self._wake = asyncio.Event()
        self._trying_now()

    def on__sync_stopped(self, message: _SyncStopped) -> None:
        self.set_sync_state(
            dataclasses.replace(
                self.sync_state, connection="refused", error=message.error, retry_at=None
            )
        )

    def _set_connection(self, connection: Connection, *, retry_at: int | None = None) -> None:
        state = dataclasses.replace(
            self.sync_state, connection=connection, retry_at=retry_at, now_ms=self.clock()
        )
        self.set_sync_state(state)

    # -- learners -----------------------------------------------------------------------

    async def show_learner(self, username: str) -> None:
        self.user = username
        self.snapshot = None
        self.last_input_ms = self.clock()  # the learner just arrived: idle from now
        await self._reset_to(DashboardScreen(None, self.sync_state, self.clock))
        self.request_load()
        self.request_status()

    async def _reset_to(self, screen: Screen[Any]) -> None:
        self._save_unsaved()
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        if len(self.screen_stack) > 1:
            await self.switch_screen(screen)
        else:
            await self.push_screen(screen)

    def _save_unsaved(self, only: Screen[Any] | None = None) -> None:
        """Record what open screens have not (time in a lesson, an edited draft): they are
        about to close, so their own messages would be lost."""
        for screen in self.screen_stack:
            if isinstance(screen, LearnerScreen) and screen.user and only in (None, screen):
                user = screen.user
                for type_, body in screen.unsaved():
                    self.record(Record(user, type_, body))

    @on(SwitchLearner)
    async def switch_learner(self) -> None:
        await self.push_screen(SignInScreen(self.accounts, self.sync_state))

    @on(PickLearner)
    async def pick_learner(self, message: PickLearner) -> None:
        """Open a learner from the list: at once on a personal device; with their PIN if
        they set one (kiosk or not); on a kiosk without a PIN, only after the password,
        so that the next person cannot walk into someone's account."""
        username = message.username
        account = next((a for a in self.accounts if a.username == username), None)
        if account is None or username == self.user:  # (the learner signed in now)
            await self.show_learner(username)
        elif account.user_id in self.pinned:

            async def answered(ok: bool | None) -> None:
                if ok:
                    await self.show_learner(username)
                elif ok is False:  # too many wrong PINs: the PIN is gone
                    self.pinned.discard(account.user_id)
                    self._ask_password(
                        account,
                        f"{pins.MAX_TRIES} wrong PINs: {username} signs in with the "
                        "password now, and may then set a new PIN.",
                    )

            await self.push_screen(PinPrompt(username), answered)
        elif self.kiosk:
            self._ask_password(
                account, f"{username} has no PIN on this kiosk: sign in with the password."
            )
        else:
            await self.show_learner(username)

    def _ask_password(self, account: Account, why: str) -> None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, SignInScreen):
                screen.ask_password(account, why)
                return

    @on(TryPin)
    def try_pin(self, message: TryPin) -> None:
        async def job(device: Device) -> None:
            account = await device.journal.account(message.username)
            check = await pins.check_pin(device.journal, account, message.pin)
            message.reply_to.post_message(PinTried(check))

        self.enqueue(job)

    def offer_pin(self, account: Account, dialog: type[SetPin] = SetPin) -> None:
        """After a password sign-in on a kiosk: offer to set a PIN (see :class:`SetPin`);
        with :class:`ChangePin`, the new PIN of a learner who gave the current one."""
        said = "changed" if dialog is ChangePin else "set"

        def answered(pin: str | None) -> None:
            if not pin:
                return

            async def job(device: Device) -> None:
                await pins.set_pin(device.journal, account, pin)
                self.pinned.add(account.user_id)
                self.notify(f"PIN {said} for {account.username} on this kiosk.", title="PIN")

            self.enqueue(job)

        self.push_screen(dialog(account.username), answered)

    @on(ManagePin)
    async def manage_pin(self) -> None:
        """``k`` on the dashboard (or the palette): a learner without a PIN may set one;
        one with a PIN gives it first, then changes or removes it. Wrong PINs count as at
        the list: after :data:`client.pins.MAX_TRIES` the PIN is gone."""
        account = next((a for a in self.accounts if a.username == self.user), None)
        if account is None:
            return
        if account.user_id not in self.pinned:
            self.offer_pin(account)
            return

        def remove() -> None:
            async def job(device: Device) -> None:
                await device.journal.remove_pin(account.user_id)
                self.pinned.discard(account.user_id)
                self.notify(
                    f"PIN removed for {account.username}: the password signs in next time.",
                    title="PIN",
                )

            self.enqueue(job)

        def chosen(choice: PinAnswer | None) -> None:
            if choice == "change":
                self.offer_pin(account, ChangePin)
            elif choice == "remove":
                remove()

        async def checked(ok: bool | None) -> None:
            if ok:
                await self.push_screen(PinChoice(account.username), chosen)
            elif ok is False:
                self.pinned.discard(account.user_id)
                self.notify(
                    f"{pins.MAX_TRIES} wrong PINs: the PIN is removed; {account.username} "
                    "signs in with the password next time.",
                    title="PIN",
                    severity="warning",
                )

        await self.push_screen(PinPrompt(account.username, "your current PIN"), checked)

    @on(SignIn)
    def sign_in(self, message: SignIn) -> None:
        screen = self.screen
        self.login_worker = self.run_worker(
            self._login(message, screen), group="login", exclusive=True
        )

    async def _login(self, message: SignIn, screen: Screen[Any]) -> None:
        try:
            account = await self.device.login(
                message.server_url, message.username, message.password, self.device_name
            )
        except ClientError as err:
            screen.post_message(SignInFailed(str(err)))
            return
        self.post_message(_SignedIn(account))

    async def on__signed_in(self, message: _SignedIn) -> None:
        self.accounts = await self.device.accounts()
        if self.sync_enabled:
            self.start_sync()
        await self.show_learner(message.account.username)
        if self.kiosk and message.account.user_id not in self.pinned:
            self.offer_pin(message.account)

    async def sign_out(self) -> None:
        """Back to the sign-in screen (a kiosk after idle time); the journal keeps all."""
        self.user = None
        self.snapshot = None
        self.countdown = None  # (popped with the other screens)
        self.set_sync_state(dataclasses.replace(self.sync_state, user="", account=None))
        await self._reset_to(SignInScreen(self.accounts, self.sync_state))

    async def sign_out_if_idle(self) -> None:
        """Called every second on a kiosk: in the last :data:`IDLE_WARNING` seconds of
        ``idle_timeout`` without input show (and tick) the countdown, at the end sign out.
        Times come from the app's clock.

        The timer and a test may call it at once, so it changes the screen stack (which
        Textual does at once; only the mounting is awaited) with no await in between."""
        if not self.idle_timeout or self.user is None:
            self._end_countdown()
            if self.idle_timeout and self.clock() - self.last_input_ms >= self.idle_timeout * 1000:
                self._clear_sign_in()
            return
        left = self.idle_timeout - (self.clock() - self.last_input_ms) / 1000
        if left <= 0:
            await self.sign_out()
        elif left > min(IDLE_WARNING, self.idle_timeout / 2):
            self._end_countdown()
        elif self.countdown is None:
            self.countdown = IdleCountdown(self.user, math.ceil(left))
            self.push_screen(self.countdown)
        else:
            self.countdown.seconds = math.ceil(left)

    def _clear_sign_in(self) -> None:
        """Nobody is signed in and nobody typed for the idle time: a PIN or password left
        half typed goes, so the next person does not find it."""
        if isinstance(self.screen, PinPrompt):
            self.screen.dismiss(None)
        for screen in self.screen_stack:
            if isinstance(screen, SignInScreen) and screen.is_mounted:
                screen.clear_secrets()

    def _end_countdown(self) -> None:
        countdown, self.countdown = self.countdown, None
        if countdown is not None and countdown in self.screen_stack:
            while self.screen is not countdown:  # (nothing opens over it: keys end it)
                self.pop_screen()
            self.pop_screen()

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal wait in :attr:`keys` and come back here one at a time
        (see :mod:`tui.keys`); each counts as input when it arrives, acts when let in."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if not self.keys.released(event):
                self.last_input_ms = self.clock()  # (no idle sign-out while keys wait)
                self.keys.hold(event)
                return
            if self._noticed(event) or self._covered(event):
                return
        elif isinstance(event, events.MouseDown | events.MouseScrollDown) and self._noticed(event):
            return
        await super().on_event(event)

    def _noticed(self, event: events.Event) -> bool:
        """Note input for the idle sign-out and a lesson's active time; True when the
        event ends the idle countdown: the key (or click) that keeps the learner signed
        in does no more."""
        now = self.last_input_ms = self.clock()
        learner = next(
            (s for s in reversed(self.screen_stack) if isinstance(s, LearnerScreen)), None
        )
        if learner is self.screen or (self.countdown and learner is not None):
            learner.note_input(now)
        if self.countdown is not None:
            self._end_countdown()
            return True
        return False

    def _covered(self, key: events.Key) -> bool:
        """True when the size notice covers the screen and ``key`` is not one it leaves
        working (quit and the keys screen): the learner cannot see what it would do."""
        if not layout.too_small(self.size):
            return False
        return not any(
            binding.action in layout.UNCOVERED
            for binding in self._bindings.key_to_bindings.get(key.key, [])
        )

    # -- navigation ---------------------------------------------------------------------

    @on(Open)
    async def open(self, message: Open) -> None:
        target = message.target
        snapshot, state, clock = self.snapshot, self.sync_state, self.clock
        match target:
            case CourseRef(course=course):
                await self.push_screen(CourseScreen(course, snapshot, state, clock))
            case PathRef(path=path):
                await self.push_screen(PathScreen(path, snapshot, state, clock))
            case LessonRef():
                await self.push_screen(
                    LessonScreen(target, snapshot, state, clock, tick_seconds=self.tick_seconds)
                )
            case QuizRef():
                await self.push_screen(QuizScreen(target, snapshot, state, clock))
            case AssignmentRef():
                await self.push_screen(AssignmentScreen(target, snapshot, state, clock))
            case AchievementsRef():
                board = self.boards.get(self.user or "")
                await self.push_screen(AchievementsScreen(snapshot, state, clock, board))

    async def action_back(self) -> None:
        if len(self.screen_stack) > 2:
            self._save_unsaved(only=self.screen)
            await self.pop_screen()

    async def action_help(self) -> None:
        """The keys of the screen on top (``?``, F1); again closes it."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            await self.push_screen(HelpScreen(self.screen))

    def action_sync_now(self) -> None:
        """Connect now instead of waiting out the backoff (the palette's "Sync now")."""
        if not self.sync_enabled:
            self.notify("Sync is off in this app (--no-sync).", title="Sync now")
        elif not self.accounts:
            self.notify("Sign in first: there is no learner to sync.", title="Sync now")
        else:
            self.start_sync()
