"""Run one fault schedule against a real server and check what the devices were promised.

:class:`Backend` owns the server process (``waymark serve``, restarted on the same
database after a kill -9) and, in the crash variant, a private PostgreSQL cluster whose
postmaster is killed with SIGKILL and started again. :func:`run_schedule` logs the
schedule's learners in on fresh devices (each behind its own :class:`FaultProxy`), plays
its rounds (the devices' scripts at the same time, and a follower's ``follow`` beside
them), and checks:

* after every round, once whatever was killed runs again and before any device speaks to
  it: every event a device was told is acked (an ``ack`` or ``welcome`` the proxy
  forwarded to it) is in the server's feed exactly once, as the device recorded it, and
  the server's watermark for the device is not below it (a device told an event is acked
  never sends it again, so it is checked before a reconnect could paper over a loss);
* after healing (no more faults, every device synced until nothing is pending and every
  cursor is at the server's feed head): every event recorded is on the server exactly
  once and acked; each device shows the server's numbers (``status`` = ``/v1/me/progress``
  for courses, paths, competencies and the summary, ``achievements`` =
  ``/v1/me/achievements`` for the awards); the server's seconds per lesson are
  the sum of the seconds recorded, and its quiz attempts the attempts taken, all scored;
  and the server printed no traceback (faults get close codes, not crashes).

A broken promise raises :class:`ChaosFailure`; :class:`Totals` counts what was checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from client import connection
from client.api import Device
from client.connection import Backoff, Change
from client.errors import ServerUnreachable, SyncProtocolError
from server.storage.store import Store
from tests.chaos.proxy import FaultProxy
from tests.chaos.schedule import QUIZ, Action, Schedule, connection_plan
from tests.conftest import ROOT, RunningServer, launch_server
from tests.integration.test_fanout_restart import BIN, Cluster

CATALOG = Path(__file__).with_name("catalog.yaml")
T0 = 1_763_790_000_000
SYNC_TIMEOUT = 20.0  # a sync that takes this long under these faults is a hang
HEAL_PASSES = 8
READY_TIMEOUT = 60.0
VIEW_KEYS = ("courses", "paths", "competencies", "summary")
# The server's decisions as each side shows them (the streak and this week's points are
# left out: both count from "now", and a device's clock is not the server's; so is a
# ledger entry's awarded_at, which a device takes from the award's feed entry and the
# server from its ledger row's own clock).
AWARD_KEYS = ("points", "level", "badges", "certificates", "ledger")


def _awards(view: dict[str, Any]) -> dict[str, Any]:
    ledger = [{k: v for k, v in e.items() if k != "awarded_at"} for e in view["ledger"]]
    return {key: view[key] for key in AWARD_KEYS} | {"ledger": ledger}


FOLLOW_BACKOFF = Backoff(base=0.01, cap=0.05)


class ChaosFailure(AssertionError):
    """A promise the system broke under a fault schedule (message: what, where);
    ``traces``: what went through each device's proxy last (:attr:`FaultProxy.trace`)."""

    traces: str = ""


@dataclass
class Totals:
    schedules: int = 0
    recorded: int = 0  # events the devices recorded
    acked: int = 0  # of those, seen acked by their device (all of them, after healing)
    checked: int = 0  # acked events looked up on the server (after every round, and at the end)
    lost: int = 0  # acked, then not on the server (or its seconds missing from the lesson)
    twice: int = 0  # on the server more than once (or its seconds, its attempt, counted again)
    live: int = 0  # feed entries followers heard of while connected
    faults: Counter[str] = field(default_factory=Counter)  # faults that fired
    sync_errors: Counter[str] = field(default_factory=Counter)  # syncs the faults broke
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        errors = " | ".join(f"{k}: {v}" for k, v in sorted(self.sync_errors.items()))
        return (
            f"schedules {self.schedules}, events recorded {self.recorded}, acked "
            f"{self.acked}, acked-event checks {self.checked}, lost {self.lost}, counted "
            f"twice {self.twice}, failures {len(self.failures)}, live changes followed "
            f"{self.live}; faults: {faults or 'none'}; "
            f"broken syncs: {errors or 'none'}"
        )


class Clock:
    """Device wall clock: one second further at every reading."""

    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1000
        return self.now


class CrashableCluster(Cluster):
    """A private cluster (see :class:`Cluster`) run under :mod:`tests.chaos.pg_reaper`, so
    that its postmaster can be killed with SIGKILL and started again (crash recovery)."""

    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert BIN is not None
        user = "postgres" if os.geteuid() == 0 else ""
        args = [
            sys.executable,
            "-m",
            "tests.chaos.pg_reaper",
            user,
            str(BIN / "postgres"),
            "-D",
            str(self.dir),
            "-p",
            str(self.port),
            "-k",
            str(self.dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",  # a killed process, not a crashed machine: the page cache survives
        ]
        with open(self.dir.parent / "server.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + READY_TIMEOUT
        ready = [str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(ready, check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.dir.parent / "server.log").read_text(errors="replace")
                raise ChaosFailure(f"PostgreSQL did not start again:\n{log_text[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the postmaster; its backends notice and exit, the reaper collects them."""
        pid = int((self.dir / "postmaster.pid").read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def wait_gone(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise ChaosFailure("the killed cluster's processes did not all exit") from None
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                pid = int((self.dir / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown
        self.wait_gone()


class Backend:
    """The server (and its database) the devices reach through their proxies."""

    def __init__(self, kind: str, db: str, cluster: CrashableCluster | None = None) -> None:
        self.kind = kind
        self.db = db
        self.cluster = cluster
        self.server: RunningServer | None = None
        self.server_dead = False
        self.db_dead = False
        self.tracebacks = 0  # tracebacks the server processes printed
        self._unread: list[str] = []  # ... not yet reported by take_tracebacks()
        self._scanned = 0  # lines of the current process's output already scanned

    @property
    def can_kill_db(self) -> bool:
        return self.cluster is not None

    def start(self) -> None:
        self.server = launch_server(self.db, catalog=CATALOG)

    def address(self) -> tuple[str, int] | None:
        """Where the server listens, or None while it is down (never a stale port, which
        another process may have taken)."""
        if self.server is None or self.server_dead:
            return None
        host, port = self.server.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def kill(self, target: str) -> None:
        """kill -9 the server or the database (called by a proxy when a kill fault fires)."""
        if target == "server" and self.server is not None and not self.server_dead:
            os.kill(self.server.proc.pid, signal.SIGKILL)
            self.server_dead = True
        elif target == "db" and self.cluster is not None and not self.db_dead:
            self.cluster.kill()
            self.db_dead = True

    async def recover(self) -> None:
        """Start again whatever was killed, on the same database; returns once it serves."""
        if self.db_dead:
            assert self.cluster is not None
            await asyncio.to_thread(self.cluster.wait_gone)
            await asyncio.to_thread(self.cluster.start)
            self.db_dead = False
        if self.server_dead or self.server is None:
            if self.server is not None:
                await asyncio.to_thread(self.server.proc.wait)
                self._finished(self.server)
            self.server = await asyncio.to_thread(launch_server, self.db, catalog=None)
            self.server_dead = False
        await self._ready()

    def _finished(self, server: RunningServer) -> None:
        server.stop()
        self._scan(server)
        self._scanned = 0

    def _scan(self, server: RunningServer) -> None:
        lines = server.output[self._scanned :]
        self._scanned += len(lines)
        for i, line in enumerate(lines):
            if line.startswith("{") and "Traceback" in line:
                # A JSON log line (server.logs) carries its traceback in "exc".
                exc = json.loads(line).get("exc", "")
                if "Traceback" in exc:
                    self.tracebacks += 1
                    self._unread.append(exc)
            elif line.startswith("Traceback"):
                # Up to the exception's own line, the first one not indented.
                end = next(
                    (j for j in range(i + 1, len(lines)) if not lines[j][:1].isspace()),
                    len(lines) - 1,
                )
                self.tracebacks += 1
                self._unread.append("".join(lines[i : end + 1]))

    def take_tracebacks(self) -> list[str]:
        """Tracebacks the server printed since the last call (a fault must be answered
        with a close code and a log line, never a traceback)."""
        if self.server is not None:
            self._scan(self.server)
        found, self._unread = self._unread, []
        return found

    async def _ready(self) -> None:
        assert self.server is not None
        url = f"{self.server.url}/v1/ready"
        deadline = time.monotonic() + READY_TIMEOUT
        while (status := await asyncio.to_thread(_status, url)) != 200:
            if time.monotonic() > deadline:
                raise ChaosFailure(f"{url} still answers {status} after {READY_TIMEOUT:g} s")
            await asyncio.sleep(0.05)

    def close(self) -> None:
        if self.server is not None:
            if not self.server_dead:
                self.server.proc.send_signal(signal.SIGTERM)
            self.server.proc.wait(timeout=30)
            self._finished(self.server)
            self.server = None

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` read straight from the server's database."""
        if self.db.startswith("sqlite:///"):
            path = self.db.removeprefix("sqlite:///")

            def read() -> list[tuple[Any, ...]]:
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as c:
                    return [tuple(r) for r in c.execute(sql)]

            return await asyncio.to_thread(read)
        conn = await asyncpg.connect(self.db)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def create_users(self, names: Iterable[str]) -> None:
        store = Store.for_url(self.db)
        await store.open()
        try:
            for name in names:
                await store.create_user(name, "pw")
        finally:
            await store.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        with err:
            return err.code
    except OSError:
        return 0


def _get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _in(ids: Iterable[str]) -> str:
    """An SQL list of ids the server made (hex), checked so they can be inlined."""
    values = sorted(set(ids))
    assert values and all(re.fullmatch(r"[0-9a-f]{8,64}", v) for v in values), values
    return ", ".join(f"'{v}'" for v in values)


@dataclass
class _Dev:
    index: int
    device: Device
    proxy: FaultProxy
    learners: tuple[int, ...]


@dataclass
class _Run:
    schedule: Schedule
    backend: Backend
    totals: Totals
    names: list[str]
    devs: list[_Dev] = field(default_factory=list)
    seconds: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    attempts: Counter[int] = field(default_factory=Counter)
    hangs: list[str] = field(default_factory=list)

    def fail(self, what: str) -> ChaosFailure:
        failure = ChaosFailure(f"seed {self.schedule.seed} on {self.backend.kind}: {what}")
        failure.traces = "\n".join(
            f"device {dev.index} {line}" for dev in self.devs for line in dev.proxy.trace
        )
        return failure


async def run_schedule(backend: Backend, schedule: Schedule, home: Path, totals: Totals) -> None:
    """Play ``schedule`` with fresh learners and devices under ``home``; raises
    :class:`ChaosFailure` on a broken promise (and counts into ``totals`` either way)."""
    await backend.recover()  # a previous schedule may have failed with something down
    backend.take_tracebacks()  # ... and those were its
    names = [f"chaos-{schedule.seed}-{i}" for i in range(schedule.learners)]
    await backend.create_users(names)
    run = _Run(schedule, backend, totals, names)
    try:
        await _login(run, home)
        for number, round_ in enumerate(schedule.rounds):
            for kill in round_.kills:
                run.devs[kill.device].proxy.arm_kill(kill.target, kill.direction, kill.frame)
            stop = asyncio.Event()
            follow = None
            if schedule.follower is not None:
                follow = asyncio.create_task(_follow(run, run.devs[schedule.follower], stop))
            try:
                scripts = zip(run.devs, round_.scripts, strict=True)
                # Every script to its end, even when one fails: none is left running.
                ended = await asyncio.gather(
                    *(_play(run, d, s) for d, s in scripts), return_exceptions=True
                )
                for error in ended:
                    if isinstance(error, BaseException):
                        raise error
            finally:
                # Before anything restarts: a follower reconnecting to it could resend
                # what it lost, before the check below could see the loss.
                stop.set()
                if follow is not None:
                    await follow
            for dev in run.devs:
                for target in dev.proxy.disarm_kills():  # never reached its frame: now
                    totals.faults[f"kill_{target}"] += 1
                    backend.kill(target)
            await backend.recover()
            await _check_acked(run, f"after round {number}")
        if run.hangs:
            raise run.fail("a sync hung under faults: " + "; ".join(run.hangs))
        for dev in run.devs:
            dev.proxy.faults_on = False
        await _heal(run)
        await _check_final(run)
    finally:
        for dev in run.devs:
            totals.faults.update(dev.proxy.applied)
            await dev.proxy.close()
            await dev.device.__aexit__()
        totals.schedules += 1


async def _login(run: _Run, home: Path) -> None:
    seed = run.schedule.seed
    for index, learners in enumerate(run.schedule.devices):
        proxy = FaultProxy(
            upstream=run.backend.address,
            plan=lambda n, d=index: connection_plan(seed, d, n),
            on_kill=run.backend.kill,
        )
        url = await proxy.start()
        attempts = itertools.count()
        device = Device(
            home / f"device-{index}",
            clock=Clock(T0 + 977 * index),
            timezone="UTC",
            new_id=lambda d=index, n=attempts: f"{seed}d{d}a{next(n)}",
        )
        await device.__aenter__()
        run.devs.append(_Dev(index, device, proxy, learners))
        for learner in learners:
            await device.login(url, run.names[learner], "pw", f"chaos-device-{index}")


async def _play(run: _Run, dev: _Dev, script: tuple[Action, ...]) -> None:
    for action in script:
        name = run.names[action.learner]
        match action.kind:
            case "record":
                await dev.device.record(action.type, action.body, user=name)
                run.totals.recorded += 1
                if action.type == "lesson.progressed":
                    key = (action.learner, action.body["course"], action.body["lesson"])
                    run.seconds[key] += action.body["seconds"]
            case "quiz":
                course, quiz, _ = QUIZ
                answers = action.body["answers"]
                await dev.device.take_quiz(course, quiz, answers, user=name)
                run.totals.recorded += 2 + len(answers)
                run.attempts[action.learner] += 1
            case "sync":
                await _sync(run, dev, faults=True)


def _why(err: Exception) -> str:
    """``err`` by kind and reason, without the addresses and numbers that vary."""
    reason = re.sub(r"https?://\S+|\d+(\.\d+)?", "#", str(err))
    return f"{type(err).__name__}: {reason[:70]}"


async def _follow(run: _Run, dev: _Dev, stop: asyncio.Event) -> None:
    """``follow`` until ``stop``; started again after a garbled frame ends it (its
    reconnects after drops and kills are its own)."""

    def heard(change: Change) -> None:
        run.totals.live += 1

    while not stop.is_set():
        try:
            await dev.device.follow(heard, stop=stop, backoff=FOLLOW_BACKOFF)
        except SyncProtocolError as err:
            run.totals.sync_errors[f"follow: {_why(err)}"] += 1


async def _sync(run: _Run, dev: _Dev, *, faults: bool) -> bool:
    """One ``sync_once``; False if a fault broke it (a hang is noted)."""
    started = time.monotonic()
    journal = dev.device.journal
    try:
        await connection.sync_once(journal, now_ms=dev.device.clock(), timeout=SYNC_TIMEOUT)
    except (ServerUnreachable, SyncProtocolError) as err:
        if not faults:
            raise run.fail(f"device {dev.index} could not sync with no fault: {err}") from None
        run.totals.sync_errors[_why(err)] += 1
        if "did not complete the sync" in str(err):
            took = time.monotonic() - started
            run.hangs.append(f"device {dev.index} after {took:.0f} s: {err}")
        return False
    return True


async def _accounts(run: _Run) -> list[tuple[_Dev, Any]]:
    return [(dev, a) for dev in run.devs for a in await dev.device.accounts()]


async def _server_events(run: _Run, device_ids: list[str]) -> dict[str, dict[int, list[Any]]]:
    rows = await run.backend.fetch(
        "SELECT device_id, seq, hlc, type, body FROM feed "
        f"WHERE origin = 'device' AND device_id IN ({_in(device_ids)})"
    )
    held: dict[str, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for device_id, seq, hlc, type_, body in rows:
        held[device_id][int(seq)].append((hlc, type_, json.loads(body)))
    return held


async def _check_acked(run: _Run, when: str, *, everything: bool = False) -> None:
    """Every event its device saw acked is on the server once, as recorded; with
    ``everything``, every event recorded is, and was seen acked, and nothing else is."""
    accounts = await _accounts(run)
    ids = [a.device_id for _, a in accounts]
    held = await _server_events(run, ids)
    marks = dict(
        await run.backend.fetch(f"SELECT id, acked_seq FROM devices WHERE id IN ({_in(ids)})")
    )
    rejected = await run.backend.fetch(
        "SELECT body FROM feed WHERE origin = 'server' AND type = 'event.rejected' "
        f"AND user_id IN ({_in(a.user_id for _, a in accounts)})"
    )
    if rejected:
        raise run.fail(f"{when}: the server rejected events the harness made valid: {rejected}")
    problems = []
    for dev, account in accounts:
        device_id = account.device_id
        events = {e.seq: e for e in await dev.device.journal.pending(device_id, 0, 10**9)}
        seen = dev.proxy.acked.get(device_id, 0)
        if everything and seen != len(events):
            problems.append(
                f"device {dev.index} ({account.username}) saw {seen} of its "
                f"{len(events)} events acked"
            )
        upto = len(events) if everything else seen
        if int(marks.get(device_id, 0)) < seen:
            problems.append(
                f"device {dev.index} ({account.username}) was told seq {seen} is acked; "
                f"the server's watermark is {marks.get(device_id)}"
            )
        server = held.get(device_id, {})
        for seq in range(1, upto + 1):
            copies = server.get(seq, [])
            event = events.get(seq)
            if not copies:
                run.totals.lost += 1
                problems.append(
                    f"device {dev.index} seq {seq} ({event and event.type}) was acked "
                    "and is not on the server"
                )
            elif len(copies) > 1:
                run.totals.twice += len(copies) - 1
                problems.append(
                    f"device {dev.index} seq {seq} is on the server {len(copies)} times"
                )
            elif event is None or copies[0] != (event.hlc, event.type, event.body):
                problems.append(
                    f"device {dev.index} seq {seq} on the server is {copies[0]}, "
                    f"recorded as {event}"
                )
        if everything and (extra := sorted(set(server) - set(events))):
            problems.append(f"device {dev.index}: the server holds seqs never recorded: {extra}")
        run.totals.checked += upto
    if problems:
        raise run.fail(f"{when}: " + "; ".join(problems[:10]))


async def _heads(run: _Run, accounts: list[tuple[_Dev, Any]]) -> dict[str, int]:
    rows = await run.backend.fetch(
        "SELECT user_id, MAX(user_seq) FROM feed "
        f"WHERE user_id IN ({_in(a.user_id for _, a in accounts)}) GROUP BY user_id"
    )
    return {str(user_id): int(head) for user_id, head in rows}


async def _heal(run: _Run) -> None:
    """Sync every device, one after the other, until nothing is pending anywhere and every
    device holds its learners' whole feed."""
    for _ in range(HEAL_PASSES):
        for dev in run.devs:
            await _sync(run, dev, faults=False)
        accounts = await _accounts(run)
        heads = await _heads(run, accounts)
        pending = [await dev.device.journal.pending_count(a.user_id) for dev, a in accounts]
        if not any(pending) and all(a.cursor == heads.get(a.user_id, 0) for _, a in accounts):
            return
    raise run.fail(f"devices did not converge in {HEAL_PASSES} passes with no fault")


def _diff(a: Any, b: Any, path: str = "$") -> str | None:
    """The first place ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{path}.{key}: {a.get(key, '<missing>')!r} != {b.get(key, '<missing>')!r}"
            if (found := _diff(a[key], b[key], f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (found := _diff(x, y, f"{path}[{i}]")) is not None:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


async def _check_final(run: _Run) -> None:
    await _check_acked(run, "after healing", everything=True)
    accounts = await _accounts(run)
    run.totals.acked += sum(dev.proxy.acked.get(a.device_id, 0) for dev, a in accounts)
    assert run.backend.server is not None
    base = run.backend.server.url
    problems = []
    for learner, name in enumerate(run.names):
        mine = [(dev, a) for dev, a in accounts if a.username == name]
        token = mine[0][1].token
        server = await asyncio.to_thread(_get_json, f"{base}/v1/me/progress", token)
        awards = _awards(await asyncio.to_thread(_get_json, f"{base}/v1/me/achievements", token))
        for dev, _ in mine:
            status = await dev.device.status(name)
            shown = _awards(msgspec.to_builtins(await dev.device.achievements(name)))
            differences = [_diff(status[key], server[key], key) for key in VIEW_KEYS]
            differences.append(_diff(shown, awards, "achievements"))
            problems += [
                f"device {dev.index} shows {name} otherwise than the server: {found}"
                for found in differences
                if found is not None
            ]
        lessons = {
            (c["id"], lesson["id"]): lesson["seconds"]
            for c in server["courses"]
            for m in c["modules"]
            for lesson in m["lessons"]
        }
        for (who, course, lesson), seconds in run.seconds.items():
            held = lessons.get((course, lesson), 0)
            if who == learner and held != seconds:
                if held > seconds:
                    run.totals.twice += 1  # a lesson's seconds counted more than once
                else:
                    run.totals.lost += 1
                problems.append(
                    f"{name}: {course}/{lesson} has {held} s on the "
                    f"server; {seconds} s were recorded"
                )
        course, quiz, _ = QUIZ
        attempts = [
            a
            for c in server["courses"]
            if c["id"] == course
            for m in c["modules"]
            for q in m.get("quizzes", [])
            if q["id"] == quiz
            for a in q["attempts"]
        ]
        if len(attempts) != run.attempts[learner]:
            run.totals.twice += max(0, len(attempts) - run.attempts[learner])
            problems.append(
                f"{name}: {len(attempts)} attempts on the server, {run.attempts[learner]} taken"
            )
        if unscored := [a["id"] for a in attempts if a["status"] != "scored"]:
            problems.append(f"{name}: attempts not scored: {unscored}")
    if problems:
        raise run.fail("after healing: " + "; ".join(problems[:10]))
    if tracebacks := run.backend.take_tracebacks():
        last = "\n".join(t.rstrip().splitlines()[-1] for t in tracebacks)
        raise run.fail(
            f"the server printed {len(tracebacks)} traceback(s), ending:\n{last}\n"
            f"the first:\n{tracebacks[0]}"
        )
