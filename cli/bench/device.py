"""The ``device`` scenario: the device's own costs, with no server.

* ``waymark status`` (the same work in-process: a fresh :class:`client.api.Device` on the
  journal, ``status()``) with a small and a large feed (``--history`` entries), and the
  ratio; also the same with the view folded from the whole feed (what ``status`` did before
  the view was materialized), and the first ``status`` after a ``record`` (which folds the
  new event in);
* a real ``waymark status --json`` process on each feed;
* feed pages applied (:meth:`Journal.apply_feed`, ``FEED_PAGE`` entries per transaction),
  against the raw baseline: ``executemany`` of the same rows into a table of the journal
  feed's shape on the same disk, a transaction per page;
* ``record`` throughput on the large feed, against one durable ``INSERT`` per event.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import msgspec

from cli.bench.scenarios import Bench, Result
from cli.bench.workload import START_MS, demo_catalog, event_stream
from client.api import Device
from client.journal import Account, Journal
from client.view import Folded
from sync.gamify import gamify_view
from sync.protocol.messages import FEED_PAGE, FeedEntry
from sync.views import learner_view

SMALL: Final = 100
STATUS_RUNS: Final = 7
RECORDS: Final = 200
SERVER: Final = "http://bench.invalid"


def feed(count: int) -> list[FeedEntry]:
    """``count`` feed entries of two other devices of the learner (their lesson visits in
    turn), with the decisions a server would make once each: points for the first visit
    of each lesson and for each new day of activity."""
    entries: list[FeedEntry] = []
    phones = (event_stream(), event_stream())
    awarded: set[str] = set()
    while len(entries) < count:
        n = len(entries) + 1
        device = n % 2
        e = next(phones[device])
        entries.append(
            FeedEntry(n, "device", e.type, e.body, e.hlc, e.at, e.tz, f"phone-{device}", e.seq)
        )
        day = e.at // 86_400_000
        for key, rule in (
            (f"lesson:{e.body['lesson']}", "lesson-completed"),
            (f"day:{day}", "streak-day"),
        ):
            if key in awarded or len(entries) >= count:
                continue
            awarded.add(key)
            n = len(entries) + 1
            body = {"key": key, "points": 5, "rule": rule, "ref": key}
            entries.append(FeedEntry(n, "server", "points.awarded", body, e.hlc, e.at))
    return entries


async def _journal(home: Path, entries: list[FeedEntry]) -> tuple[Account, float]:
    """A journal in ``home`` with one learner and ``entries``; returns the seconds the feed
    pages took to apply."""
    async with await Journal.open(home) as journal:
        alice = await journal.add_account(
            Account(
                user_id="u-bench",
                username="bench",
                device_id="d-bench",
                token="t",
                server_url=SERVER,
            )
        )
        catalog = demo_catalog()
        await journal.store_catalog(SERVER, catalog.version, catalog)
        began = time.perf_counter()
        for start in range(0, len(entries), FEED_PAGE):
            page = entries[start : start + FEED_PAGE]
            await journal.apply_feed(alice.user_id, page, now_ms=START_MS)
        return alice, time.perf_counter() - began


def _baseline_pages(path: Path, entries: list[FeedEntry]) -> float:
    """Seconds to write the same rows raw: a table of the feed's shape, same pragmas."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute(
            "CREATE TABLE feed (user_id TEXT, user_seq INTEGER, origin TEXT, type TEXT, "
            "body TEXT, hlc TEXT, at INTEGER, tz TEXT, device_id TEXT, seq INTEGER, "
            "PRIMARY KEY (user_id, user_seq))"
        )
        encode = msgspec.json.Encoder().encode
        began = time.perf_counter()
        for start in range(0, len(entries), FEED_PAGE):
            page = entries[start : start + FEED_PAGE]
            rows: list[tuple[object, ...]] = [
                ("u", e.user_seq, e.origin, e.type, encode(e.body).decode(), e.hlc, e.at)
                for e in page
            ]
            rows = [(*r, e.tz, e.device_id, e.seq) for r, e in zip(rows, page, strict=True)]
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO feed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        db.close()


async def _status_once(home: Path) -> float:
    began = time.perf_counter()
    async with Device(home, clock=lambda: START_MS) as device:
        await device.status()
    return time.perf_counter() - began


async def _full_once(home: Path) -> float:
    """The same figures with the view folded from every fact (the old ``status``)."""
    began = time.perf_counter()
    async with await Journal.open(home) as journal:
        alice = await journal.account()
        folded: Folded = await journal.refold(alice)
        cached = await journal.catalog(alice.server_url)
        assert cached is not None
        learner_view(folded.state, cached[1], alice.plan)
        gamify_view(folded.gamify, cached[1], user_tz=alice.timezone, now_ms=START_MS)
        await journal.pending_count(alice.user_id)
        await journal.rejected(alice.user_id)
    return time.perf_counter() - began


def _cli_once(home: Path) -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cli.main", "status", "--json", "--home", str(home)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


async def _record_rate(home: Path, alice: Account) -> float:
    async with await Journal.open(home) as journal:
        body = {"course": "python-foundations", "lesson": "welcome"}
        began = time.perf_counter()
        for i in range(RECORDS):
            await journal.record(alice, "lesson.opened", body, now_ms=START_MS + i, tz="UTC")
        return RECORDS / (time.perf_counter() - began)


def _record_baseline(path: Path) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE events (device_id TEXT, seq INTEGER, body TEXT)")
        began = time.perf_counter()
        for i in range(RECORDS):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO events VALUES ('d', ?, '{}')", (i,))
            db.execute("COMMIT")
        return RECORDS / (time.perf_counter() - began)
    finally:
        db.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def measure(folder: Path, large: int) -> dict[str, float]:
    """One run of the scenario in ``folder``: the figures, times in ms, rates per second."""
    small_home, large_home = folder / "small", folder / "large"
    entries = feed(large)
    await _journal(small_home, entries[:SMALL])
    alice, applied = await _journal(large_home, entries)
    raw = await asyncio.to_thread(_baseline_pages, folder / "baseline-feed.db", entries)
    out: dict[str, float] = {"apply_per_s": large / applied, "apply_raw_per_s": large / raw}
    for name, home in (("small", small_home), ("large", large_home)):
        await _status_once(home)  # the first builds the view once; status then reads it
        out[f"status_{name}_ms"] = _median([await _status_once(home) for _ in range(STATUS_RUNS)])
        out[f"full_{name}_ms"] = _median([await _full_once(home) for _ in range(3)])
        out[f"cli_{name}_ms"] = _median(
            [await asyncio.to_thread(_cli_once, home) for _ in range(3)]
        )
    out["status_ratio"] = out["status_large_ms"] / out["status_small_ms"]
    out["full_ratio"] = out["full_large_ms"] / out["full_small_ms"]
    out["cli_ratio"] = out["cli_large_ms"] / out["cli_small_ms"]
    after: list[float] = []
    for i in range(3):
        async with await Journal.open(large_home) as journal:
            body = {"course": "python-foundations", "lesson": "welcome"}
            await journal.record(alice, "lesson.opened", body, now_ms=START_MS + i, tz="UTC")
        after.append(await _status_once(large_home))
    out["status_after_record_large_ms"] = _median(after)
    out["record_per_s"] = await _record_rate(large_home, alice)
    out["record_raw_per_s"] = await asyncio.to_thread(_record_baseline, folder / "baseline-ev.db")
    return out


async def device_scenario(bench: Bench) -> Result:
    """The scenario as the bench reports it: end-to-end = feed entries applied per second,
    baseline = the same rows written raw; the status figures as extra fields."""
    opts = bench.options
    result = Result("device", opts.history)
    result.fields = {"small_feed": SMALL, "large_feed": opts.history, "page": FEED_PAGE}
    for run in bench.runs():
        folder = bench.folder / f"device-{run}"
        with bench.phase(bench.label("device", run, f"{opts.history:,} feed entries"), 1) as tick:
            figures = await measure(folder, opts.history)
            tick(1)
        result.e2e.append(figures.pop("apply_per_s"))
        result.base.append(figures.pop("apply_raw_per_s"))
        for key, value in figures.items():
            result.add(result.extra, key, value)
        bench.done(
            f"device run {run}: status {figures['status_small_ms']:.1f} ms on {SMALL} entries,"
            f" {figures['status_large_ms']:.1f} ms on {opts.history:,}"
            f" (x{figures['status_ratio']:.2f}; folded from the feed:"
            f" {figures['full_large_ms']:,.0f} ms); feed pages {result.e2e[-1]:,.0f} entries/s"
        )
    return result


def device_note(figures: dict[str, Any]) -> str:
    """The line under the table that says what the device row means."""
    return (
        f"device: end-to-end = feed entries applied per second ({figures['page']} a page,"
        " one transaction each), baseline = the same rows by executemany; in-process"
        f" status {figures['status_small_ms']:.1f} ms on {figures['small_feed']} entries,"
        f" {figures['status_large_ms']:.1f} ms on {figures['large_feed']:,}"
        f" (x{figures['status_ratio']:.2f}), folded from the whole feed instead"
        f" {figures['full_small_ms']:.1f} / {figures['full_large_ms']:,.0f} ms"
        f" (x{figures['full_ratio']:.1f}); first status after a record"
        f" {figures['status_after_record_large_ms']:,.0f} ms; the waymark status process"
        f" {figures['cli_small_ms']:,.0f} / {figures['cli_large_ms']:,.0f} ms"
        f" (x{figures['cli_ratio']:.2f}); record {figures['record_per_s']:,.0f}/s"
        f" (one durable insert: {figures['record_raw_per_s']:,.0f}/s)."
    )
