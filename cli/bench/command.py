"""The ``waymark bench`` command line."""

from __future__ import annotations

import asyncio
import json
import resource
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from websockets.exceptions import WebSocketException

from cli.bench.report import notes, summary, table
from cli.bench.scenarios import SCENARIOS, Bench, Options, phases, run_all
from cli.bench.wire import BenchError
from client.cli_common import Command, OneLineUsageError
from server.errors import ServerError

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _usage(ctx: click.Context, message: str) -> OneLineUsageError:
    return OneLineUsageError(f"{message.rstrip('.')} (see '{ctx.command_path} --help')")


def _db(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if value in ("sqlite", "postgresql") or value.startswith(("postgresql://", "postgres://")):
        return value
    raise click.BadParameter(
        f"{value!r}: use sqlite, postgresql or a postgresql:// URL", param_hint="'--db'"
    )


def _open_files(needed: int, console: Console) -> None:
    """Raise this process's open-file limit (inherited by the server it starts) when the
    live load needs more sockets than the soft limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise click.ClickException(
            f"bench: the live load needs {needed:,} open files but the hard limit is {hard:,}:"
            " lower --idle/--active or raise `ulimit -Hn`"
        )
    target = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, 2 * soft))
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    console.print(f"raised the open-file limit from {soft:,} to {target:,} for the live load")


async def _pg_version(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=15)
    try:
        return str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()


@click.command(cls=Command)
@click.option(
    "--db",
    envvar="WAYMARK_BENCH_DB",
    default="postgresql",
    show_default=True,
    callback=_db,
    help="sqlite, postgresql (at --pg-url) or a postgresql:// URL.",
)
@click.option(
    "--pg-url",
    envvar="WAYMARK_BENCH_PG",
    default=DEFAULT_PG,
    show_default=True,
    help="PostgreSQL for --db postgresql: a scratch schema per run, dropped after.",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(SCENARIOS),
    help="Run only this scenario (repeatable; default: all).",
)
@click.option(
    "--events",
    default=20_000,
    show_default=True,
    type=click.IntRange(1, 10_000_000),
    help="Events of one-learner and many-learners.",
)
@click.option(
    "--learners",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Learners of many-learners.",
)
@click.option(
    "--history",
    default=100_000,
    show_default=True,
    type=click.IntRange(1, 10_000_000),
    help="Events of history under long-history's push; feed entries of device's large feed.",
)
@click.option(
    "--push",
    default=3_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Events of long-history's measured push.",
)
@click.option(
    "--samples",
    default=500,
    show_default=True,
    type=click.IntRange(2, 1_000_000),
    help="Latency samples of each live run.",
)
@click.option(
    "--active",
    default=100,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="live-loaded: active learners (two devices each).",
)
@click.option(
    "--idle",
    default=1_000,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="live-loaded: idle connections.",
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.01, 3600),
    help="live-loaded: seconds between two pushes of an active device.",
)
@click.option(
    "--flood-rate",
    default=100.0,
    show_default=True,
    type=click.FloatRange(1, 10_000),
    help="login-flood: wrong-password logins per second.",
)
@click.option(
    "--batch",
    default=200,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Events per push (the device client's batch).",
)
@click.option(
    "--repeat",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Runs of each scenario, each followed by its baseline.",
)
@click.option(
    "--report-learners",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="reports: learners of the course.",
)
@click.option(
    "--report-lessons",
    default=50,
    show_default=True,
    type=click.IntRange(5, 1_000),
    help="reports: lessons of the course.",
)
@click.option(
    "--report-attempts",
    default=100_000,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="reports: quiz attempts, shared among the learners.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def bench(
    ctx: click.Context, /, db: str, pg_url: str, scenarios: tuple[str, ...], **rest: Any
) -> None:
    """Measure sync end to end through a real server, each scenario alternated with the
    physical limit of its durable write on the same database (docs/performance.md)."""
    as_json = rest.pop("as_json")
    if db.startswith(("postgresql://", "postgres://")):
        db, pg_url = "postgresql", db
    options = Options(db=db, pg_url=pg_url, scenarios=scenarios or SCENARIOS, **rest)
    if "many-learners" in options.scenarios and options.events < options.learners:
        raise _usage(ctx, f"--events {options.events} is fewer than --learners {options.learners}")
    console = Console(stderr=as_json)
    if "live" in options.scenarios:
        _open_files(options.idle + 2 * options.active + 256, console)
    try:
        version = asyncio.run(_pg_version(pg_url)) if db == "postgresql" else sqlite3.sqlite_version
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
        raise click.ClickException(
            f"bench: cannot connect to PostgreSQL at {pg_url}: {err}"
        ) from None
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    try:
        with progress, tempfile.TemporaryDirectory(prefix="waymark-bench-") as folder:
            runner = Bench(options, progress, Path(folder))
            runner.overall = progress.add_task("bench", total=phases(options))
            results = asyncio.run(run_all(runner))
            baseline = runner.baseline_name
    except BenchError as err:
        raise click.ClickException(str(err)) from None
    except ServerError as err:
        raise click.ClickException(f"bench: {err.detail}") from None
    except (
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        sqlite3.Error,
        WebSocketException,
    ) as err:
        raise click.ClickException(f"bench: {type(err).__name__}: {err}") from None
    figures = [summary(r, db, baseline) for r in results]
    if as_json:
        click.echo(json.dumps({"scenarios": figures}))
        return
    engine = f"PostgreSQL {version}" if db == "postgresql" else f"SQLite {version}"
    console.print(
        table(figures, f"waymark bench · {engine} · {options.repeat} runs of each, alternated")
    )
    for line in notes(figures):
        console.print(line, highlight=False)
