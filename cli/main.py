"""``waymark``: assembles the command groups of server/, client/ (and tui/), plus the
commands that need both sides at once (``demo``, ``bench``)."""

from __future__ import annotations

import click

from cli.bench import bench
from cli.demo import demo
from client.cli import COMMANDS as CLIENT_COMMANDS
from server.cli import COMMANDS as SERVER_COMMANDS
from tui.cli import COMMANDS as TUI_COMMANDS


@click.group()
@click.version_option(package_name="waymark")
def main() -> None:
    """Waymark: offline-first learner progress."""


for _command in [*SERVER_COMMANDS, *CLIENT_COMMANDS, *TUI_COMMANDS, demo, bench]:
    main.add_command(_command)


if __name__ == "__main__":
    main()
