"""``waymark``: assembles the command groups of server/, client/ (and tui/), plus the
commands that need both sides at once (``demo``, ``bench``).

Commands are loaded lazily (click's ``LazyGroup`` pattern): ``waymark record`` imports
``client.cli`` only, never litestar, textual or asyncpg, so it starts in well under the
200 ms docs/cli.md promises. ``waymark --help`` loads every command for its help line.

``--home`` is global: ``waymark --home DIR status`` and ``waymark status --home DIR`` are
the same (the commands read it with :func:`client.cli_common.home_option`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from client.cli_common import Group

LAZY: dict[str, str] = {
    # name -> "module:attribute", in the order `waymark --help` lists them
    "serve": "server.cli:serve",
    "admin": "server.cli:admin",
    "config": "server.cli:config",
    "login": "client.cli:login",
    "logout": "client.cli:logout",
    "whoami": "client.cli_info:whoami",
    "learners": "client.cli_info:learners",
    "courses": "client.cli_info:courses",
    "record": "client.cli:record",
    "sync": "client.cli:sync",
    "status": "client.cli:status",
    "quiz": "client.cli:quiz",
    "achievements": "client.cli:achievements",
    "certificate": "client.cli:certificate",
    "leaderboard": "client.cli:leaderboard",
    "report": "client.cli_report:report",
    "tui": "tui.cli:tui",
    "demo": "cli.demo:demo",
    "bench": "cli.bench:bench",
}


class LazyGroup(Group):
    """A group whose commands are imported when first used (click docs, "Lazily Loading
    Subcommands"); its usage errors are one line (:class:`client.cli_common.Group`)."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=LAZY)
@click.version_option(package_name="waymark")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of this device's journal, for every device command "
    "(env WAYMARK_HOME; default ~/.waymark).",
)
def main(home: Path | None) -> None:
    """Waymark: offline-first learner progress.

    Exit status: 0 done, 1 failed, 2 bad usage or input, 3 server unreachable (events
    are kept), 4 not logged in or the server refused this login (docs/cli.md).
    """


if __name__ == "__main__":
    main()
