"""``waymark tui``: the terminal app, mounted on the ``waymark`` group by ``cli/main.py``.

Textual is imported only when the command runs, so other commands start fast.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="WAYMARK_HOME",
    default="~/.waymark",
    show_default=True,
    help="Folder of this device's journal.",
)
@click.option("--user", metavar="NAME", help="Learner to open (default: the only or default one).")
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Kiosk: sign out after this many seconds without input (0: never).",
)
@click.option("--no-sync", is_flag=True, help="Stay offline (no background sync).")
def tui(home: Path, user: str | None, idle_timeout: float, no_sync: bool) -> None:
    """Open the terminal app: works offline, syncs in the background."""
    from client.api import Device
    from tui.app import WaymarkApp

    app = WaymarkApp(
        Device(home.expanduser()),
        user=user,
        idle_timeout=idle_timeout or None,
        sync=not no_sync,
    )
    app.run()


COMMANDS = [tui]
