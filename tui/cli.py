"""``waymark tui``: the terminal app, mounted on the ``waymark`` group by ``cli/main.py``.

Textual is imported only when the app is built, so other commands start fast. Other
entry points (``waymark demo``) build the app with :func:`build_app` and run it with
``app.run()`` or ``await app.run_async()``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from client.cli_common import Command, Exit, Failure, home_option

if TYPE_CHECKING:
    from tui.app import WaymarkApp


def build_app(
    home: Path,
    *,
    user: str | None = None,
    idle_timeout: float | None = None,
    sync: bool = True,
    device_name: str = "",
    kiosk: bool = False,
) -> WaymarkApp:
    """The app on the device journal in ``home`` (the learner ``user``, else the only or
    default one; ``idle_timeout``: kiosk sign-out after that many idle seconds; ``kiosk``:
    learners open with their PIN or password, see :class:`tui.app.WaymarkApp`)."""
    from client.api import Device
    from tui.app import WaymarkApp

    return WaymarkApp(
        Device(home.expanduser()),
        user=user,
        idle_timeout=idle_timeout,
        sync=sync,
        device_name=device_name,
        kiosk=kiosk,
    )


def in_terminal() -> bool:
    """Whether stdin and stdout are both a terminal (the app needs one)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


KIOSK_IDLE: float = 300.0
"""``waymark tui --kiosk`` signs out after this many idle seconds unless told otherwise."""


@click.command(cls=Command)
@home_option
@click.option("--user", metavar="NAME", help="Learner to open (default: the only or default one).")
@click.option(
    "--kiosk",
    is_flag=True,
    help="A shared device: learners open with their PIN or password, sign-out after idle time.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Sign out after this many seconds without input; implies --kiosk "
    f"(default: {KIOSK_IDLE:.0f} with --kiosk, else never; 0: never).",
)
@click.option("--no-sync", is_flag=True, help="Stay offline (no background sync).")
def tui(
    home: Path, user: str | None, kiosk: bool, idle_timeout: float | None, no_sync: bool
) -> None:
    """Open the terminal app: works offline, syncs in the background."""
    if not in_terminal():
        # Textual would write its escape codes into the pipe or file, or wait on no keys.
        raise Failure(
            "waymark tui needs a terminal (stdin and stdout are not both one); "
            "for scripts use 'waymark status' or 'waymark status --json'",
            Exit.USAGE,
        )
    if idle_timeout is None:
        idle_timeout = KIOSK_IDLE if kiosk else 0
    app = build_app(
        home, user=user, idle_timeout=idle_timeout or None, sync=not no_sync, kiosk=kiosk
    )
    app.run()


COMMANDS = [tui]
