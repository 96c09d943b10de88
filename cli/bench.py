"""``waymark bench``: end-to-end events per second through a real server into PostgreSQL,
against a raw asyncpg insert of the same rows measured in the same run.

End-to-end = K WebSocket devices push batches to a ``waymark serve`` subprocess, which
validates, dedupes, appends to the feed, folds into the materialized state and commits
before acking; the clock runs from the first push to the last ack. Raw = K asyncpg
connections insert the same feed rows with the same batch size, one transaction per batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from websockets.asyncio.client import connect

from server.storage.store import Store
from sync.catalog import format_for, parse_catalog
from sync.codec import decode_server, encode
from sync.events import Event
from sync.hlc import HybridClock
from sync.messages import Ack, Hello, HelloAccount, Push

DEMO_CATALOG = Path(__file__).parent / "demo_catalog.yaml"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class BenchResult:
    events: int
    devices: int
    batch: int
    e2e_seconds: float
    e2e_events_per_second: float
    raw_seconds: float
    raw_events_per_second: float
    ratio: float


def _events(count: int, lessons: list[tuple[str, str]], start_ms: int) -> list[Event]:
    clock = HybridClock()
    out = []
    for i in range(count):
        course, lesson = lessons[i % len(lessons)]
        at = start_ms + i * 1000
        out.append(
            Event(
                i + 1,
                clock.tick(at),
                at,
                "lesson.progressed",
                {"course": course, "lesson": lesson, "seconds": 10},
                "UTC",
            )
        )
    return out


def _login(base: str, name: str) -> dict[str, str]:
    request = urllib.request.Request(
        f"{base}/v1/auth/login",
        data=json.dumps({"username": name, "password": "bench", "device_name": "bench"}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def _push_all(ws_url: str, token: str, events: list[Event], batch: int, tick) -> None:  # type: ignore[no-untyped-def]
    async with connect(ws_url, max_size=None) as ws:
        await ws.send(encode(Hello([HelloAccount(token, 10**15)]), binary=True))
        welcome = decode_server(await ws.recv())
        device_id = welcome.accounts[0].device_id  # type: ignore[union-attr]
        for number, start in enumerate(range(0, len(events), batch), 1):
            chunk = events[start : start + batch]
            await ws.send(encode(Push(number, device_id, chunk), binary=True))
            while not isinstance(msg := decode_server(await ws.recv()), Ack):
                pass
            if msg.acked_seq != chunk[-1].seq:
                raise click.ClickException(
                    f"bench: server acked {msg.acked_seq}, sent {chunk[-1].seq}"
                )
            tick(len(chunk))


async def _raw(url: str, per_device: list[list[Event]], batch: int, tick) -> float:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE raw_feed (user_id TEXT, user_seq BIGINT, origin TEXT, device_id TEXT,"
        " seq BIGINT, hlc TEXT, at BIGINT, tz TEXT, type TEXT, body TEXT, recorded_at BIGINT,"
        " PRIMARY KEY (user_id, user_seq))"
    )
    await conn.close()

    async def insert(index: int, events: list[Event]) -> None:
        c = await asyncpg.connect(url)
        try:
            for start in range(0, len(events), batch):
                rows = [
                    (
                        f"u{index}",
                        e.seq,
                        "device",
                        f"d{index}",
                        e.seq,
                        e.hlc,
                        e.at,
                        e.tz,
                        e.type,
                        json.dumps(e.body),
                        e.at,
                    )
                    for e in events[start : start + batch]
                ]
                async with c.transaction():
                    await c.executemany(
                        "INSERT INTO raw_feed VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)", rows
                    )
                tick(len(rows))
        finally:
            await c.close()

    began = time.perf_counter()
    await asyncio.gather(*(insert(i, ev) for i, ev in enumerate(per_device)))
    return time.perf_counter() - began


async def _prepare(db: str, devices: int) -> None:
    store = Store.for_url(db)
    await store.open()
    try:
        for i in range(devices):
            await store.create_user(f"bench{i}", "bench")
    finally:
        await store.close()


def run_bench(
    base_url: str, events: int, devices: int, batch: int, console: Console
) -> BenchResult:
    schema = f"waymark_bench_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in base_url else "?"
    db = f"{base_url}{sep}search_path={schema}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE SCHEMA {schema}"))
    server = None
    try:
        asyncio.run(_prepare(db, devices))
        server, url = _start_server(db)
        catalog = parse_catalog(DEMO_CATALOG.read_bytes(), format_for(DEMO_CATALOG.name))
        lessons = [(c.id, x.id) for c in catalog.courses for m in c.modules for x in m.lessons]
        per_device = [
            _events(events // devices, lessons, 1_763_790_000_000) for _ in range(devices)
        ]
        total = sum(len(x) for x in per_device)
        tokens = [_login(url, f"bench{i}")["token"] for i in range(devices)]
        ws_url = url.replace("http://", "ws://") + "/v1/sync"
        with _bar(console) as bar:
            task = bar.add_task("end-to-end (server → PostgreSQL)", total=total)

            def tick(n: int) -> None:
                bar.advance(task, n)

            async def e2e() -> float:
                began = time.perf_counter()
                await asyncio.gather(
                    *(
                        _push_all(ws_url, t, ev, batch, tick)
                        for t, ev in zip(tokens, per_device, strict=True)
                    )
                )
                return time.perf_counter() - began

            e2e_seconds = asyncio.run(e2e())
            raw_task = bar.add_task("raw asyncpg insert (baseline)", total=total)
            raw_seconds = asyncio.run(
                _raw(db, per_device, batch, lambda n: bar.advance(raw_task, n))
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
            if server.stdout is not None:
                server.stdout.close()
        asyncio.run(admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    e2e_rate, raw_rate = total / e2e_seconds, total / raw_seconds
    return BenchResult(
        total, devices, batch, e2e_seconds, e2e_rate, raw_seconds, raw_rate, e2e_rate / raw_rate
    )


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _start_server(db: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--db",
            db,
            "--port",
            "0",
            "--catalog",
            str(DEMO_CATALOG),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise click.ClickException("bench: the server did not start")


@click.command()
@click.option(
    "--db",
    envvar="WAYMARK_BENCH_DB",
    default=DEFAULT_PG,
    show_default=True,
    help="PostgreSQL to measure on (a scratch schema is created and dropped).",
)
@click.option("--events", default=20_000, show_default=True, type=click.IntRange(100, 10_000_000))
@click.option("--devices", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(db: str, events: int, devices: int, batch: int, as_json: bool) -> None:
    """Measure end-to-end sync throughput against a raw asyncpg baseline, same run."""
    if not db.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter(
            "bench measures PostgreSQL: pass --db postgresql://…", param_hint="--db"
        )
    console = Console(stderr=as_json)
    try:
        result = run_bench(db, events, devices, batch, console)
    except (OSError, asyncpg.PostgresError) as err:
        raise click.ClickException(f"bench: cannot use {db}: {err}") from None
    if as_json:
        click.echo(json.dumps(asdict(result)))
        return
    table = Table(title=f"{result.events} events, {devices} devices, batches of {batch}")
    for column in ("path", "seconds", "events/s"):
        table.add_column(column, justify="right" if column != "path" else "left")
    table.add_row(
        "end-to-end (WebSocket → server → PostgreSQL)",
        f"{result.e2e_seconds:.2f}",
        f"{result.e2e_events_per_second:,.0f}",
    )
    table.add_row(
        "raw asyncpg insert of the same rows",
        f"{result.raw_seconds:.2f}",
        f"{result.raw_events_per_second:,.0f}",
    )
    console.print(table)
    console.print(f"ratio end-to-end / raw: [bold]{result.ratio:.2f}[/bold]")
