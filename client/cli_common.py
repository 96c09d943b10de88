"""What every device command shares: one-line usage errors, the ``--home``/``--user``/
``--json`` options, running a coroutine on a :class:`~client.api.Device`, and the exit
statuses of docs/cli.md (:class:`Exit`).

Kept light on purpose (no rich, no textual): ``waymark record`` imports only this,
``client.cli`` and what a journal needs.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import msgspec
from click.core import ParameterSource

from client.errors import (
    AccessDenied,
    BadEventArgs,
    ClientError,
    LoginFailed,
    NotLoggedIn,
    ServerUnreachable,
    UnknownUser,
)

if TYPE_CHECKING:
    from client.api import Device

T = TypeVar("T")
HOME_ENV = "WAYMARK_HOME"
DEFAULT_HOME = "~/.waymark"


class Exit(enum.IntEnum):
    """The exit statuses of every ``waymark`` command (docs/cli.md, "Exit status")."""

    OK = 0
    FAILED = 1
    """The command could not do its work (a refusal by the server, a journal problem)."""
    USAGE = 2
    """Bad usage or bad input: nothing was done."""
    UNREACHABLE = 3
    """The server could not be reached; events recorded here are kept and sync later."""
    LOGIN = 4
    """No learner is logged in here, or the server refused the login or this device."""


class Failure(click.ClickException):
    """One line on stderr and an :class:`Exit` status."""

    def __init__(self, message: str, code: Exit = Exit.FAILED) -> None:
        super().__init__(message)
        self.exit_code = int(code)  # type: ignore[misc]


class OneLineUsageError(Failure):
    """A usage error shown as one line, without click's usage block (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Exit.USAGE)


def exit_for(err: ClientError) -> Exit:
    """The exit status a :class:`ClientError` maps to."""
    match err:
        case ServerUnreachable():
            return Exit.UNREACHABLE
        case NotLoggedIn() | LoginFailed() | AccessDenied():
            return Exit.LOGIN
        case BadEventArgs() | UnknownUser():
            return Exit.USAGE
        case _:
            return Exit.FAILED


def failure(err: ClientError, prefix: str = "") -> Failure:
    return Failure(f"{prefix}{err}", exit_for(err))


def _one_line(ctx: click.Context, err: click.UsageError) -> OneLineUsageError:
    message = err.format_message().rstrip(".")
    return OneLineUsageError(f"{message} (see '{ctx.command_path} --help')")


class Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            raise _one_line(ctx, err) from None


class Group(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as err:
            raise _one_line(ctx, err) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise _one_line(ctx, err) from None


def _home(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """``--home`` given to this command, else to ``waymark`` itself, else the variable or
    the default: the option is global, before or after the command's name."""
    if param.name is not None and ctx.get_parameter_source(param.name) in (
        ParameterSource.COMMANDLINE,
        ParameterSource.PROMPT,
    ):
        return value
    parent = ctx.parent
    while parent is not None:
        given = parent.params.get("home")
        if isinstance(given, Path):
            return given
        parent = parent.parent
    return value


home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=HOME_ENV,
    default=DEFAULT_HOME,
    show_default=True,
    callback=_home,
    help="Folder of this device's journal (also 'waymark --home DIR COMMAND').",
)
user_option = click.option(
    "--user", metavar="NAME", help="Learner to act for (default: the only or default one)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")


def print_json(value: Any) -> None:
    """``value`` (builtins or msgspec Structs) as indented JSON on stdout."""
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def run_device(home: Path, work: Callable[[Device], Awaitable[T]]) -> T:
    """Open the journal in ``home`` and run ``work`` on it; see :func:`run_async`."""
    from client.api import Device

    folder = home.expanduser()

    async def main() -> T:
        async with Device(folder) as device:
            return await work(device)

    return run_async(main)


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main``; a :class:`ClientError` becomes one line on stderr and its
    :class:`Exit` status."""

    async def run() -> T:
        return await main()

    try:
        return asyncio.run(run())
    except ClientError as err:
        raise failure(err) from None
