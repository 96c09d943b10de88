"""The scenarios. Each run gets a fresh database and a fresh ``waymark serve``; each
end-to-end run is followed by its baseline (``e2e, base, e2e, base, …``)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.progress import Progress, TaskID

from cli.bench.database import PostgresTarget, SqliteTarget, Target, Tick, seed
from cli.bench.flood import FloodProcess
from cli.bench.load import LoadProcess
from cli.bench.server import ServerProcess
from cli.bench.wire import BenchError, Device, LiveRun, live
from cli.bench.workload import feed_rows, make_events
from sync.protocol.messages import MAX_BATCH

SCENARIOS: Final = (
    "one-learner",
    "many-learners",
    "long-history",
    "live",
    "login-flood",
    "overhead",
    "device",
    "reports",
)
INSTRUMENTATION_OFF: Final = {
    "WAYMARK_INSTRUMENTATION": "false",
    "WAYMARK_REST_PER_DEVICE_PER_MINUTE": "0",
    "WAYMARK_PUSHES_PER_DEVICE_PER_MINUTE": "0",
    "WAYMARK_CONNECTS_PER_DEVICE_PER_MINUTE": "0",
}
"""The server's environment for ``overhead``'s baseline: no metrics, no request or merge
log lines, no rate limits."""
LIVE_WARMUP: Final = 10
"""Live pushes before the clock starts (connection pools warm up), on both sides."""
LOAD_SETTLE: Final = 3.0
"""Seconds of load before the live samples start."""


@dataclass(frozen=True)
class Options:
    db: str
    """``postgresql`` or ``sqlite``."""
    pg_url: str
    scenarios: tuple[str, ...]
    events: int
    learners: int
    history: int
    push: int
    samples: int
    active: int
    idle: int
    interval: float
    batch: int
    repeat: int
    flood_rate: float = 100.0
    """login-flood: wrong-password logins per second."""
    report_learners: int = 10_000
    report_lessons: int = 50
    report_attempts: int = 100_000
    """reports: learners, lessons of the course and quiz attempts in all."""


@dataclass
class Result:
    """One scenario: per-run end-to-end and baseline rates (events/s), and more fields."""

    name: str
    events: int
    e2e: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)
    """``p50_ms`` etc. → one value per run."""
    extra: dict[str, list[float]] = field(default_factory=dict)
    """More per-run figures, reported as medians."""
    fields: dict[str, Any] = field(default_factory=dict)

    def add(self, target: dict[str, list[float]], key: str, value: float) -> None:
        target.setdefault(key, []).append(value)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds of samples in seconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "p99_ms": cuts[98] * 1000}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Bench:
    """What every scenario needs: options, scratch databases, servers, progress."""

    def __init__(self, options: Options, progress: Progress, folder: Path) -> None:
        self.options = options
        self.progress = progress
        self.folder = folder
        self.overall: TaskID | None = None

    @property
    def baseline_name(self) -> str:
        if self.options.db == "postgresql":
            return "COPY into a table of the feed's shape, a transaction per batch"
        return "executemany into a table of the feed's shape, a transaction per batch"

    @asynccontextmanager
    async def database(self) -> AsyncIterator[Target]:
        target: Target = (
            PostgresTarget(self.options.pg_url)
            if self.options.db == "postgresql"
            else SqliteTarget(self.folder)
        )
        await target.create()
        try:
            yield target
        finally:
            await target.drop()

    @asynccontextmanager
    async def server(
        self, url: str, env: dict[str, str] | None = None
    ) -> AsyncIterator[ServerProcess]:
        server = await asyncio.to_thread(ServerProcess, url, env)
        try:
            yield server
        except (OSError, BenchError, TimeoutError) as err:
            if not server.alive():
                raise BenchError(f"bench: the server died: {server.last_words()}") from err
            raise
        finally:
            await asyncio.to_thread(server.stop)

    @contextmanager
    def phase(self, label: str, total: int) -> Iterator[Tick]:
        task = self.progress.add_task(label, total=total)

        def tick(n: int) -> None:
            self.progress.advance(task, n)

        try:
            yield tick
        finally:
            self.progress.remove_task(task)

    def done(self, line: str) -> None:
        self.progress.console.print(line, highlight=False)
        if self.overall is not None:
            self.progress.advance(self.overall, 1)

    def runs(self) -> range:
        return range(1, self.options.repeat + 1)

    def label(self, name: str, run: int, what: str) -> str:
        return f"{name} · run {run}/{self.options.repeat} · {what}"


def _noop(_: int) -> None:
    pass


# -- one-learner, many-learners ------------------------------------------------------------


async def throughput(bench: Bench, name: str, learners: int) -> Result:
    opts = bench.options
    result = Result(name, opts.events)
    result.fields = {"learners": learners, "devices": learners, "batch": opts.batch}
    for run in bench.runs():
        async with bench.database() as target:
            seconds, logins, events = await _push_run(bench, target, name, run, learners)
            result.e2e.append(opts.events / seconds)
            bench.done(f"{name} run {run}: end-to-end {result.e2e[-1]:,.0f} events/s")
            now = _now_ms()
            rows = [
                feed_rows(x[0].user_id, x[0].device_id, e, now=now)
                for x, e in zip(logins, events, strict=True)
            ]
            with bench.phase(bench.label(name, run, "baseline"), opts.events) as tick:
                written = await target.baseline(rows, opts.batch, tick)
            result.base.append(opts.events / written.seconds)
            bench.done(f"{name} run {run}: baseline {result.base[-1]:,.0f} events/s")
    return result


async def _push_run(
    bench: Bench,
    target: Target,
    name: str,
    run: int,
    learners: int,
    env: dict[str, str] | None = None,
    what: str = "end-to-end",
    cpu: list[float] | None = None,
) -> tuple[float, list[list[Any]], list[list[Any]]]:
    """Seconds for ``learners`` fresh learners to push ``--events`` between them, each
    from one device, through a fresh server (with ``env``); their logins and events.
    ``cpu`` gets the server process's CPU seconds (user + system) over the push."""
    opts = bench.options
    counts = _split(opts.events, learners)
    with bench.phase(bench.label(name, run, "creating learners"), learners) as tick:
        version, logins = await seed(target.url, [1] * learners, tick)
    events = [make_events(n) for n in counts]
    async with bench.server(target.url, env) as server:
        devices = [await Device.connect(server.ws_url, x[0], version) for x in logins]
        with bench.phase(bench.label(name, run, what), opts.events) as tick:
            used = server.cpu_seconds()
            began = time.perf_counter()
            await asyncio.gather(
                *(d.push_all(e, opts.batch, tick) for d, e in zip(devices, events, strict=True))
            )
            seconds = time.perf_counter() - began
            if cpu is not None and used is not None and (now := server.cpu_seconds()):
                cpu.append(now - used)
        for device in devices:
            await device.close()
    return seconds, logins, events


# -- overhead ------------------------------------------------------------------------------


async def overhead(bench: Bench) -> Result:
    """``one-learner``'s push through the server as it ships (metrics, request and merge
    logs, rate limits) against the same with instrumentation off, in turn."""
    opts = bench.options
    result = Result("overhead", opts.events)
    result.fields = {
        "measures": "one-learner's push with metrics and logs on; baseline = the same"
        " server with them off",
        "baseline_env": INSTRUMENTATION_OFF,
        "learners": 1,
        "batch": opts.batch,
    }
    on_cpu: list[float] = []
    off_cpu: list[float] = []
    for run in bench.runs():
        arms = [
            (None, result.e2e, on_cpu, "on"),
            (INSTRUMENTATION_OFF, result.base, off_cpu, "off"),
        ]
        # ABBA: every other run measures the baseline first, so whatever favours the first
        # (or the second) server of a pair (a warm page cache, a neighbour's load) falls on
        # both arms alike.
        for env, rates, cpu, what in arms if run % 2 else arms[::-1]:
            async with bench.database() as target:
                seconds, _, _ = await _push_run(
                    bench, target, "overhead", run, 1, env, f"instrumentation {what}", cpu
                )
            rates.append(opts.events / seconds)
        bench.done(
            f"overhead run {run}: {result.e2e[-1]:,.0f} events/s instrumented,"
            f" {result.base[-1]:,.0f} without ({result.e2e[-1] / result.base[-1]:.3f})"
        )
    if len(on_cpu) == len(off_cpu) == len(result.e2e) and all(off_cpu):
        # The server's own CPU per 1,000 events: what instrumentation costs the server,
        # whatever else the machine is doing (throughput also moves with the neighbours).
        for on, off in zip(on_cpu, off_cpu, strict=True):
            result.add(result.extra, "cpu_ms_per_1k_on", on * 1e6 / opts.events)
            result.add(result.extra, "cpu_ms_per_1k_off", off * 1e6 / opts.events)
            result.add(result.extra, "cpu_ratio", on / off)
    return result


# -- long-history --------------------------------------------------------------------------


async def long_history(bench: Bench) -> Result:
    """The same push on top of a long history, then on an empty one, in turn."""
    opts = bench.options
    result = Result("long-history", opts.push)
    result.fields = {"history": opts.history, "learners": 1, "batch": opts.batch}
    for run in bench.runs():
        result.e2e.append(opts.push / await _tail_push(bench, run, opts.history))
        bench.done(
            f"long-history run {run}: {result.e2e[-1]:,.0f} events/s"
            f" on {opts.history:,} events of history"
        )
        result.base.append(opts.push / await _tail_push(bench, run, 0))
        bench.done(f"long-history run {run}: {result.base[-1]:,.0f} events/s on an empty history")
    return result


async def _tail_push(bench: Bench, run: int, history: int) -> float:
    """Seconds to push ``--push`` events from a learner's second device after ``history``
    events from the first (none: a learner with one device and no history). The second
    device syncs after each tenth of the history, as a phone that is opened now and then
    does: its hello's clock then lets the server sum what came before (``sync.merge.horizon``)."""
    opts = bench.options
    async with bench.database() as target:
        version, logins = await seed(target.url, [2 if history else 1], _noop)
        measured, builder = logins[0][0], logins[0][-1]
        tail = make_events(opts.push, first=opts.history)  # the same events either way
        async with bench.server(target.url) as server:
            clock = None  # the second device's clock: it has recorded nothing yet
            if history:
                device = await Device.connect(server.ws_url, builder, version)
                label = bench.label("long-history", run, f"building {history:,} events of history")
                events = make_events(history)
                step = -(-history // 10)
                with bench.phase(label, history) as tick:
                    for start in range(0, history, step):
                        part = events[start : start + step]
                        await device.push_all(part, MAX_BATCH, tick)
                        idle = await Device.connect(server.ws_url, measured, version, part[-1].hlc)
                        await idle.close()
                await device.close()
                clock = events[-1].hlc
            device = await Device.connect(server.ws_url, measured, version, clock)
            what = f"push on {history:,} events" if history else "push on an empty history"
            with bench.phase(bench.label("long-history", run, what), opts.push) as tick:
                began = time.perf_counter()
                await device.push_all(tail, opts.batch, tick)
                seconds = time.perf_counter() - began
            await device.close()
    return seconds


# -- live ----------------------------------------------------------------------------------


async def live_latency(bench: Bench, loaded: bool) -> Result:
    opts = bench.options
    name = "live-loaded" if loaded else "live"
    result = Result(name, opts.samples)
    result.fields = {
        "measures": "push sent by device A → its feed entry received by device B (same learner)",
        "batch": 1,
        "warmup": LIVE_WARMUP,
    }
    loads: list[dict[str, Any]] = []
    for run in bench.runs():
        measured, written, load = await _live_run(bench, name, run, loaded)
        result.e2e.append(opts.samples / measured.seconds)
        for key, value in percentiles(measured.received).items():
            result.add(result.latency, key, value)
        result.add(result.extra, "ack_p50_ms", percentiles(measured.acked)["p50_ms"])
        p = result.latency
        bench.done(
            f"{name} run {run}: p50 {p['p50_ms'][-1]:.1f} ms, p95 {p['p95_ms'][-1]:.1f} ms,"
            f" p99 {p['p99_ms'][-1]:.1f} ms"
            + (f" under {load['events_per_s']:,.0f} events/s of load" if load else "")
        )
        result.base.append(opts.samples / written.seconds)
        commits = percentiles(written.commits)
        result.add(result.extra, "baseline_p50_ms", commits["p50_ms"])
        result.add(result.extra, "baseline_p99_ms", commits["p99_ms"])
        bench.done(
            f"{name} run {run}: baseline {result.base[-1]:,.0f} commits/s,"
            f" p50 {commits['p50_ms']:.1f} ms"
        )
        if load is not None:
            loads.append(load)
    if loaded:
        result.fields["load"] = {
            "active_learners": opts.active,
            "devices_per_active_learner": 2,
            "idle_connections": opts.idle,
            "push_interval_s": opts.interval,
            "events_per_s": statistics.median(x["events_per_s"] for x in loads),
            "push_ack_p50_ms": statistics.median(x["ack_p50_ms"] or 0.0 for x in loads),
            "push_ack_p99_ms": statistics.median(x["ack_p99_ms"] or 0.0 for x in loads),
            "connections": min(x["connections"] for x in loads),
            "failed_connections": max(x["failed_connections"] for x in loads),
            "errors": sum(x["errors"] for x in loads),
            "first_error": next((x["first_error"] for x in loads if x["first_error"]), ""),
        }
        for key in ("server_rss_mb", "server_rss_kb_per_connection"):
            values = [x[key] for x in loads if x.get(key) is not None]
            result.fields["load"][key] = statistics.median(values) if values else None
    return result


async def _live_run(
    bench: Bench, name: str, run: int, loaded: bool
) -> tuple[LiveRun, Any, dict[str, Any] | None]:
    opts = bench.options
    shape = [2] + ([2] * opts.active + [1] * opts.idle if loaded else [])
    events = make_events(LIVE_WARMUP + opts.samples)
    async with bench.database() as target:
        with bench.phase(bench.label(name, run, "creating learners"), len(shape)) as tick:
            version, logins = await seed(target.url, shape, tick)
        a_login, b_login = logins[0]
        rss_before: float | None = None
        report = None
        async with bench.server(target.url) as server:
            load = None
            try:
                if loaded:
                    rss_before = server.rss_mb()
                    active = [d for learner in logins[1 : 1 + opts.active] for d in learner]
                    idle = [learner[0] for learner in logins[1 + opts.active :]]
                    label = bench.label(
                        name, run, f"connecting {len(active) + len(idle):,} devices"
                    )
                    with bench.phase(label, len(active) + len(idle)) as tick:
                        load = await asyncio.to_thread(
                            LoadProcess, server.ws_url, version, active, idle, opts.interval, tick
                        )
                    await asyncio.sleep(LOAD_SETTLE)
                a = await Device.connect(server.ws_url, a_login, version)
                b = await Device.connect(server.ws_url, b_login, version)
                if load is not None:
                    load.mark()
                label = bench.label(name, run, "A pushes one event at a time, B receives")
                with bench.phase(label, opts.samples) as tick:
                    measured = await live(a, b, events, LIVE_WARMUP, tick)
                if load is not None:
                    rss = server.rss_mb()  # every load connection still open
                    report = await asyncio.to_thread(load.stop)
                    report["server_rss_mb"] = rss
                    if rss is not None and rss_before is not None and report["connections"]:
                        grown = (rss - rss_before) * 1024 / report["connections"]
                        report["server_rss_kb_per_connection"] = grown
                await a.close()
                await b.close()
            finally:
                if load is not None:
                    load.close()
        rows = feed_rows(a_login.user_id, a_login.device_id, events, now=_now_ms())
        with bench.phase(bench.label(name, run, "baseline"), opts.samples) as tick:
            written = await target.baseline([rows], 1, tick, warmup=LIVE_WARMUP)
    return measured, written, report


# -- login-flood ---------------------------------------------------------------------------


async def login_flood(bench: Bench) -> Result:
    """The live figure (A pushes, B receives) while a login flood runs, each run followed
    by the same without the flood: the ratio of the p99s says what the flood costs."""
    opts = bench.options
    result = Result("login-flood", opts.samples)
    result.fields = {
        "measures": "live latency during a flood of wrong-password logins; baseline ="
        " the same without the flood",
        "flood_rate_asked": opts.flood_rate,
    }
    floods: list[dict[str, Any]] = []
    for run in bench.runs():
        flooded, flood = await _flood_run(bench, run, opts.flood_rate)
        quiet, _ = await _flood_run(bench, run, None)
        assert flood is not None
        floods.append(flood)
        result.e2e.append(opts.samples / flooded.seconds)
        result.base.append(opts.samples / quiet.seconds)
        for key, value in percentiles(flooded.received).items():
            result.add(result.latency, key, value)
        calm = percentiles(quiet.received)
        result.add(result.extra, "quiet_p50_ms", calm["p50_ms"])
        result.add(result.extra, "quiet_p99_ms", calm["p99_ms"])
        result.add(result.extra, "p99_vs_quiet", result.latency["p99_ms"][-1] / calm["p99_ms"])
        bench.done(
            f"login-flood run {run}: p99 {result.latency['p99_ms'][-1]:.1f} ms under"
            f" {flood['attempts_per_s']:,.0f} logins/s, {calm['p99_ms']:.1f} ms without"
        )
    result.fields["flood"] = {
        "attempts_per_s": statistics.median(f["attempts_per_s"] for f in floods),
        "statuses": floods[-1]["statuses"],
    }
    return result


async def _flood_run(bench: Bench, run: int, rate: float | None) -> tuple[LiveRun, Any]:
    opts = bench.options
    what = f"live under {rate:g} logins/s" if rate else "live without the flood"
    events = make_events(LIVE_WARMUP + opts.samples)
    async with bench.database() as target:
        version, logins = await seed(target.url, [2], _noop)
        a_login, b_login = logins[0]
        async with bench.server(target.url) as server:
            flood = None
            report = None
            try:
                if rate:
                    flood = await asyncio.to_thread(FloodProcess, server.url, "bench0", rate)
                a = await Device.connect(server.ws_url, a_login, version)
                b = await Device.connect(server.ws_url, b_login, version)
                with bench.phase(bench.label("login-flood", run, what), opts.samples) as tick:
                    measured = await live(a, b, events, LIVE_WARMUP, tick)
                if flood is not None:
                    report = await asyncio.to_thread(flood.stop)
                await a.close()
                await b.close()
            finally:
                if flood is not None:
                    flood.close()
    return measured, report


# -- all -----------------------------------------------------------------------------------


def phases(options: Options) -> int:
    """How many end-to-end and baseline runs ``options`` asks for."""
    live = 4 if options.active or options.idle else 2
    per = {
        "one-learner": 2,
        "many-learners": 2,
        "long-history": 2,
        "live": live,
        "login-flood": 1,
        "overhead": 1,
        "device": 1,
        "reports": 2,
    }
    return sum(per[s] for s in options.scenarios) * options.repeat


async def _device(bench: Bench) -> Result:
    from cli.bench.device import device_scenario  # it builds on this module

    return await device_scenario(bench)


async def _reports(bench: Bench) -> list[Result]:
    from cli.bench.reports import reports_scenario  # it builds on this module

    return await reports_scenario(bench)


async def run_all(bench: Bench) -> list[Result]:
    runners: dict[str, Callable[[], Any]] = {
        "one-learner": lambda: throughput(bench, "one-learner", 1),
        "many-learners": lambda: throughput(bench, "many-learners", bench.options.learners),
        "long-history": lambda: long_history(bench),
        "login-flood": lambda: login_flood(bench),
        "overhead": lambda: overhead(bench),
        "device": lambda: _device(bench),
    }
    results: list[Result] = []
    for scenario in SCENARIOS:
        if scenario not in bench.options.scenarios:
            continue
        if scenario == "reports":
            results.extend(await _reports(bench))
        elif scenario == "live":
            results.append(await live_latency(bench, loaded=False))
            if bench.options.active or bench.options.idle:
                results.append(await live_latency(bench, loaded=True))
        else:
            results.append(await runners[scenario]())
    return results
