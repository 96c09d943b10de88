"""The device's commands, mounted on the ``waymark`` group by ``cli/main.py`` from
:data:`COMMANDS`: ``login``, ``record``, ``sync`` and ``status``.

Every command takes ``--home DIR`` (env ``WAYMARK_HOME``, default ``~/.waymark``). Every
bad argument and every error prints one line on stderr and exits non-zero (2 for usage,
1 otherwise); none prints a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import click
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from client.api import Device
from client.errors import ClientError
from sync.events import BODY_TYPES

T = TypeVar("T")
INT_KEYS: Final = frozenset({"seconds", "position", "from", "to"})
STYLES: Final = {"completed": "green", "in_progress": "yellow", "not_started": "dim"}


class OneLineUsageError(click.ClickException):
    """A usage error shown as one line, without click's usage block."""

    exit_code = 2


class _Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            message = err.format_message().rstrip(".")
            raise OneLineUsageError(f"{message} (see '{ctx.command_path} --help')") from None


home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="WAYMARK_HOME",
    default="~/.waymark",
    show_default=True,
    help="Folder of this device's journal.",
)
user_option = click.option(
    "--user", metavar="NAME", help="Learner to act for (default: the only or default one)."
)


def _run(home: Path, work: Callable[[Device], Awaitable[T]]) -> T:
    folder = home.expanduser()

    async def main() -> T:
        async with Device(folder) as device:
            return await work(device)

    try:
        return asyncio.run(main())
    except ClientError as err:
        raise click.ClickException(str(err)) from None


def parse_fields(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("course=c1", "seconds=30")`` -> ``{"course": "c1", "seconds": 30}``.

    ``seconds``, ``position``, ``from`` and ``to`` must be whole numbers; raises
    :class:`OneLineUsageError`.
    """
    body: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise OneLineUsageError(f"expected KEY=VALUE, got {pair!r}")
        if key in body:
            raise OneLineUsageError(f"{key} is given twice")
        if key in INT_KEYS:
            try:
                body[key] = int(value)
            except ValueError:
                raise OneLineUsageError(f"{key} must be a whole number, got {value!r}") from None
        else:
            body[key] = value
    return body


@click.command(cls=_Command)
@click.argument("server_url")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, help="Asked for when not given.")
@click.option(
    "--device-name",
    default=socket.gethostname,
    show_default="this host's name",
    help="How this device is listed on the server.",
)
@click.option(
    "--default", "make_default", is_flag=True, help="Act for NAME when --user is not given."
)
@home_option
def login(
    server_url: str, name: str, password: str, device_name: str, make_default: bool, home: Path
) -> None:
    """Log learner NAME in on this device against SERVER_URL (http:// or https://)."""
    if not server_url.startswith(("http://", "https://")):
        raise OneLineUsageError(
            f"SERVER_URL must start with http:// or https://, got {server_url!r}"
        )
    account = _run(
        home,
        lambda d: d.login(server_url, name, password, device_name, make_default=make_default),
    )
    click.echo(f"logged in as {account.username} (device {account.device_id})")


@click.command(cls=_Command)
@click.argument("event")
@click.argument("fields", nargs=-1, metavar="[KEY=VALUE]...")
@user_option
@home_option
def record(event: str, fields: tuple[str, ...], user: str | None, home: Path) -> None:
    """Record EVENT (e.g. lesson.progressed) with body fields KEY=VALUE.

    \b
    Example:
      waymark record lesson.progressed course=c1 lesson=l2 seconds=30 from=0 to=30
    """
    body = parse_fields(fields)
    known = BODY_TYPES.get(event)
    if known is not None:
        # Bodies accept unknown fields (schema evolution), so a typo would pass silently.
        allowed = known.__struct_encode_fields__
        extra = sorted(set(body) - set(allowed))
        if extra:
            names = ", ".join(allowed)
            raise OneLineUsageError(f"{event} has no field {extra[0]!r} (fields: {names})")
    recorded = _run(home, lambda d: d.record(event, body, user=user))
    click.echo(f"recorded {recorded.type} #{recorded.seq}")
    if recorded.type not in BODY_TYPES:
        click.echo(
            f"note: this client does not know {recorded.type!r}; the server decides", err=True
        )


@click.command(cls=_Command)
@click.option("--once/--follow", default=True, help="Catch up and exit (default), or stay on.")
@click.option("--user", "users", multiple=True, metavar="NAME", help="Only these learners.")
@home_option
def sync(once: bool, users: tuple[str, ...], home: Path) -> None:
    """Send pending events and fetch progress from the server.

    --follow stays connected and prints one line per change from other devices.
    """
    if not once:
        _run(home, lambda d: _follow(d, users))
        return
    report = _run(home, lambda d: d.sync_once(users))
    if report.refused:
        names = "; ".join(f"{r.username} ({r.code}: {r.reason})" for r in report.refused)
        raise click.ClickException(f"not synced: {names}")
    click.echo(f"in sync ({report.pushed} sent, {report.received} received)")


async def _follow(device: Device, users: tuple[str, ...]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
    try:
        await device.follow(lambda change: click.echo(change.describe()), stop=stop, users=users)
    finally:
        with contextlib.suppress(NotImplementedError):
            for sig in signals:
                loop.remove_signal_handler(sig)


@click.command(cls=_Command)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@user_option
@home_option
def status(as_json: bool, user: str | None, home: Path) -> None:
    """Show a learner's progress as this device knows it, pending and rejected events."""
    view = _run(home, lambda d: d.status(user))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(view), indent=2).decode())
    else:
        _render(view, Console())


def _render(view: dict[str, Any], console: Console) -> None:
    synced = view["synced_at"]
    when = datetime.fromtimestamp(synced / 1000).strftime("%Y-%m-%d %H:%M") if synced else "never"
    console.print(f"[bold]{escape(view['user'])}[/]: {view['pending']} pending, last sync {when}")
    if not view["courses"]:
        console.print("no catalog on this device yet: run waymark sync")
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    for course in view["courses"]:
        table.add_row(_name(course, 0, "bold"), *_state(course["status"], f"{course['percent']}%"))
        for module in course["modules"]:
            table.add_row(_name(module, 1), *_state(module["status"], f"{module['percent']}%"))
            for lesson in module["lessons"]:
                table.add_row(_name(lesson, 2, "dim"), *_state(lesson["status"], _details(lesson)))
    console.print(table)
    for event in view["rejected"]:
        console.print(
            f"[red]rejected[/] #{event['seq']} {escape(event['type'])}: "
            f"{escape(event['code'])}: {escape(event['reason'])}"
        )


def _name(item: dict[str, Any], depth: int, style: str = "") -> str:
    text = escape(item["title"] or item["id"])
    return "  " * depth + (f"[{style}]{text}[/]" if style else text)


def _state(status: str, detail: str) -> tuple[str, str]:
    return f"[{STYLES[status]}]{status.replace('_', ' ')}[/]", detail


def _details(lesson: dict[str, Any]) -> str:
    parts = [f"{lesson['seconds']} s"]
    if lesson["position"] is not None:
        parts.append(f"at {lesson['position']} s")
    if lesson["watched_percent"]:
        parts.append(f"{lesson['watched_percent']:g}% watched")
    return ", ".join(parts)


COMMANDS: Final[list[click.Command]] = [login, record, sync, status]
