"""``waymark demo``: everything on embedded defaults, in one process.

A temporary SQLite server with the shipped demo catalog, the demo learners and a class
of 28 more with five weeks of history for the reports (:mod:`cli.demo_class`, the
instructor's account and the dashboard's URL printed); then a
two-device story: Maya's laptop works offline while her phone follows live; the laptop
reconnects and the phone sees every change at once; both end with the same progress.
Then, in a terminal, it opens the terminal app (``waymark tui``) on a kiosk where Maya
and Leo are signed in, against the same server; after it, the server keeps running for
the command line until Ctrl-C. ``--script`` plays the story and exits (0 when both
devices agree with the server and the instructor can read a learner's progress);
``--no-tui`` skips the app.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.demo_class import GROUPS, INSTRUCTOR, NAMES, Summary, seed_class, seeding_store
from client.api import Device
from client.connection import Backoff, Change
from client.journal import Celebration, celebration
from server.app import create_app
from server.cli import DRAIN_SECONDS, _Server, bind
from server.storage.store import wall_clock_ms
from sync.catalog import Catalog, format_for, parse_catalog
from sync.gamify import AWARD_TYPES
from tui.cli import build_app

DEMO_CATALOG = Path(__file__).parent / "demo_catalog.yaml"
LEARNERS = (("maya", "maya-demo", "Europe/Berlin"), ("leo", "leo-demo", "America/Sao_Paulo"))
COURSE = "python-foundations"


def _progress_table(title: str, status: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("course / module", "status", "percent"):
        table.add_column(column)
    for course in status["courses"]:
        table.add_row(f"[bold]{course['title']}[/bold]", course["status"], f"{course['percent']}%")
        for module in course["modules"]:
            table.add_row(f"  {module['id']}", module["status"], f"{module['percent']}%")
    return table


async def _story(console: Console, url: str, homes: Path) -> bool:
    catalog = parse_catalog(DEMO_CATALOG.read_bytes(), format_for(DEMO_CATALOG.name))
    say: Callable[[str], None] = lambda text: console.print(text)  # noqa: E731
    laptop = Device(homes / "maya-laptop", timezone="Europe/Berlin")
    phone = Device(homes / "maya-phone", timezone="Europe/Berlin")
    async with laptop, phone:
        await laptop.login(url, "maya", "maya-demo", "laptop")
        await phone.login(url, "maya", "maya-demo", "phone")
        say("[bold]1.[/bold] Maya signs in on her laptop and her phone; the phone follows live.")

        arrived: asyncio.Queue[tuple[float, Change]] = asyncio.Queue()
        stop = asyncio.Event()

        cheers: list[Celebration] = []

        def on_change(change: Change) -> None:
            entry = change.entry
            if entry.origin == "server" and entry.type in AWARD_TYPES:
                found = celebration(entry.user_seq, entry.type, entry.body, catalog)
                if found is not None:
                    cheers.append(found)
                return
            arrived.put_nowait((time.perf_counter(), change))

        follower = asyncio.create_task(
            phone.follow(on_change, stop=stop, backoff=Backoff(base=0.1, cap=1.0))
        )
        lesson: dict[str, Any] = {"course": COURSE}
        await laptop.record("lesson.opened", lesson | {"lesson": "welcome"})
        await laptop.sync_once()
        await asyncio.wait_for(arrived.get(), 30)  # the phone is connected once it sees this

        say("[bold]2.[/bold] The laptop loses its connection. Maya keeps learning offline:")
        offline: list[tuple[str, dict[str, Any]]] = [
            ("lesson.opened", {"lesson": "installing-python"}),
            (
                "lesson.progressed",
                {"lesson": "installing-python", "seconds": 200, "from": 0, "to": 200},
            ),
            (
                "lesson.progressed",
                {"lesson": "installing-python", "seconds": 190, "from": 200, "to": 400},
            ),
            ("lesson.progressed", {"lesson": "first-program", "seconds": 150}),
            ("lesson.completed", {"lesson": "first-program"}),
        ]
        for type_, body in offline:
            await laptop.record(type_, lesson | body)
            say(f"   recorded [cyan]{type_}[/cyan] {body}")
        pending = (await laptop.status())["pending"]
        say(f"   the laptop's journal holds [bold]{pending}[/bold] events waiting to sync")

        say("[bold]3.[/bold] The laptop reconnects and syncs; the phone sees each change live:")
        sent = time.perf_counter()
        await laptop.sync_once()
        for _ in offline:
            when, change = await asyncio.wait_for(_next_from_device(arrived), 30)
            say(f"   phone ← {change.describe()}  [dim]({(when - sent) * 1000:.0f} ms)[/dim]")
        _cheer(say, cheers)

        say("[bold]4.[/bold] On the phone Maya enrolls in the Python and data track.")
        await phone.record("path.enrolled", {"path": "python-data-track"})
        await phone.sync_once()
        path = (await laptop_view(laptop))["paths"][0]
        say(
            f"   the server decides: enrollment {path['status']}; milestones "
            + ", ".join(f"{m['id']} {m['status']}" for m in path["milestones"])
        )

        say("[bold]5.[/bold] Offline again, the laptop takes the syntax quiz:")
        taken = await laptop.take_quiz(
            COURSE,
            "syntax-check",
            {"assign": ["b"], "loops": ["for", "while"], "range": ["three"], "def": ["def"]},
        )
        found = await laptop.attempt(COURSE, "syntax-check", taken.attempt)
        assert found is not None
        say(f"   attempt {taken.attempt[:8]}: {found[1].status}, scored when online")
        await laptop.sync_once()
        _, change = await asyncio.wait_for(_next_of(arrived, "quiz.scored"), 30)
        body = change.entry.body
        say(
            f"   phone ← the server scored attempt #{body['number']}: "
            f"{body['score']:.0%}, {'passed' if body['passed'] else 'not passed'}"
        )
        _cheer(say, cheers)

        say("[bold]6.[/bold] On the phone Maya reads the next page; the laptop picks it up.")
        await phone.record("lesson.opened", lesson | {"lesson": "control-flow"})
        stop.set()
        await follower
        await phone.sync_once()
        await laptop.sync_once()

        on_laptop, on_phone = await laptop.status(), await phone.status()
        console.print(_progress_table("Maya's laptop", on_laptop))
        console.print(_progress_table("Maya's phone", on_phone))
        streak = on_phone["streak"]
        say(
            f"Maya has [bold]{on_phone['points']}[/bold] points (level {on_phone['level']}), "
            f"a {streak['current']}-day streak and the badges "
            + (", ".join(b["name"] for b in on_phone["badges"]) or "none yet")
            + "."
        )
        token = (await laptop.accounts())[0].token
        on_server = await asyncio.to_thread(_server_progress, url, token)
        agree = bool(on_laptop["courses"] == on_phone["courses"] == on_server["courses"])
        mine = ("points", "level", "badges", "certificates")
        agree = agree and all(on_laptop[k] == on_phone[k] for k in mine)
        if agree:
            say("[green]Both devices and the server show the same progress.[/green]")
        else:
            say("[red]The devices and the server disagree — this is a bug.[/red]")
        return agree


async def laptop_view(device: Device) -> dict[str, Any]:
    await device.sync_once()
    return await device.status()


async def _next_of(
    arrived: asyncio.Queue[tuple[float, Change]], type_: str
) -> tuple[float, Change]:
    while True:
        when, change = await arrived.get()
        if change.entry.type == type_:
            return when, change


async def _next_from_device(
    arrived: asyncio.Queue[tuple[float, Change]],
) -> tuple[float, Change]:
    while True:
        when, change = await arrived.get()
        if change.entry.origin == "device":
            return when, change


def _cheer(say: Callable[[str], None], cheers: list[Celebration]) -> None:
    for found in cheers:
        say(
            f"   phone 🎉 {found.title}" + (f" [dim]({found.detail})[/dim]" if found.detail else "")
        )
    cheers.clear()


def _server_progress(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/v1/me/progress", headers={"authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def _seed(console: Console, db: str, catalog: Catalog) -> Summary:
    """The story's two learners, then the class (:mod:`cli.demo_class`), with a bar."""
    now = wall_clock_ms()
    store = seeding_store(db, now)
    await store.open()
    try:
        await store.load_catalog(catalog)
        for name, password, zone in LEARNERS:
            await store.create_user(name, password, timezone=zone)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            console=console, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("seeding the class: five weeks of learning", total=len(NAMES))
            return await seed_class(
                store,
                catalog,
                now,
                extra={LEARNERS[0][0]: GROUPS[0], LEARNERS[1][0]: GROUPS[1]},
                progress=lambda done, _total: bar.update(task, completed=done),
            )
    finally:
        await store.close()


def _class_line(summary: Summary) -> str:
    groups = ", ".join(f"{len(names)} in {group}" for group, names in summary.learners.items())
    return (
        f"{sum(len(n) for n in summary.learners.values())} learners ({groups}); "
        f"{summary.stalled} is stuck on a milestone, "
        f"{len(summary.offline)} have offline work not synced yet"
    )


STAFF_CHECKS: tuple[tuple[str, str], ...] = (
    ("Maya's progress", f"/v1/users/{LEARNERS[0][0]}/progress"),
    ("the course report", f"/v1/reports/courses/{COURSE}"),
    ("the quiz report", f"/v1/reports/courses/{COURSE}/quizzes/syntax-check"),
)
"""What ``--script`` checks the instructor can read (label, path), after the story."""


def _staff_check(console: Console, url: str) -> bool:
    """The instructor signs in and reads each of :data:`STAFF_CHECKS`."""
    body = json.dumps(
        {"username": INSTRUCTOR[0], "password": INSTRUCTOR[1], "device_name": "demo-check"}
    ).encode()
    request = urllib.request.Request(
        f"{url}/v1/auth/login", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["token"]
    for label, path in STAFF_CHECKS:
        request = urllib.request.Request(
            f"{url}{path}", headers={"authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                found = json.loads(response.read())
        except urllib.error.HTTPError as err:
            console.print(f"[red]The instructor cannot read {label}: {err.code}.[/red]")
            return False
        if isinstance(found, dict) and found.get("learners") == 0:
            console.print(f"[red]{label.capitalize()} counts no learner.[/red]")
            return False
        console.print(f"The instructor {INSTRUCTOR[0]} reads {label} ({_shown(found)}).")
    return True


def _shown(found: Any) -> str:
    if isinstance(found, dict) and isinstance(found.get("courses"), list):
        return ", ".join(f"{c.get('id')} {c.get('percent')}%" for c in found["courses"])
    if isinstance(found, dict) and "pass_rate" in found:
        rate = found["pass_rate"]
        passed = "no pass rate" if rate is None else f"pass rate {rate:.0%}"
        return f"{found['attempts']} attempts by {found['learners']} learners, {passed}"
    if isinstance(found, dict) and "completion_rate" in found:
        return f"{found['learners']} learners, {found['completed']} completed"
    return "ok"


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


async def _enter_pressed() -> bool:
    """Wait for a line on stdin without a thread (a thread blocked in ``input()`` would
    keep the process alive after Ctrl-C); False at end of input."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not line.done():
            line.set_result(sys.stdin.readline())

    loop.add_reader(fd, readable)
    try:
        return bool(await line)
    finally:
        loop.remove_reader(fd)


async def _kiosk(console: Console, url: str, home: Path) -> None:
    """Open the terminal app on a kiosk where both demo learners are signed in (Maya
    shown first), once the user is ready for it."""
    async with Device(home) as kiosk:
        for name, password, _zone in LEARNERS:
            await kiosk.login(url, name, password, "kiosk")
    console.print(
        Panel.fit(
            "Next: Waymark's terminal app, on a kiosk where Maya and Leo are\n"
            "signed in. It shows Maya's progress from her laptop and phone, and\n"
            "syncs in the background. Its keys are in its footer: enter opens,\n"
            "a shows achievements, l switches learner, esc goes back, ctrl+q quits.",
            title="the terminal app",
        )
    )
    console.print("Press Enter to open it (Ctrl-C stops the demo)… ", end="")
    if not await _enter_pressed():
        return
    await build_app(home, user=LEARNERS[0][0], device_name="kiosk").run_async()


def waymark_command() -> str:
    """How to run ``waymark`` from another terminal, as typed: ``waymark`` if that is on
    PATH and is this one, else this script's absolute path (a venv's ``bin/waymark`` is
    not on PATH until the venv is activated), else ``python -m cli.main``."""
    script = Path(sys.argv[0])
    if script.name == "waymark" and script.exists():
        found = shutil.which("waymark")
        if found is not None and Path(found).resolve() == script.resolve():
            return "waymark"
        return shlex.quote(str(script.resolve()))
    return f"{shlex.quote(sys.executable)} -m cli.main"


def _your_turn(url: str, home: Path) -> str:
    waymark = waymark_command()
    return (
        "The server keeps running. Try, in another terminal:\n"
        f"  export WAYMARK_HOME={shlex.quote(str(home))}\n"
        f"  {waymark} login {url} leo --password leo-demo\n"
        f"  {waymark} tui                # the terminal app, as leo\n"
        f"  {waymark} courses            # the ids the commands take\n"
        f"  {waymark} record lesson.opened course={COURSE} lesson=welcome\n"
        f"  {waymark} sync --once && {waymark} status\n"
        f"  {waymark} sync --follow      # live changes from your other devices\n"
        f"The class's reports: open {url}/dashboard in a browser and sign in as "
        f"{INSTRUCTOR[0]} (password {INSTRUCTOR[1]}).\n"
        "Press Ctrl-C to stop."
    )


async def _demo(script: bool, tui: bool, console: Console, port: int = 0) -> bool:
    agree = False
    with tempfile.TemporaryDirectory(prefix="waymark-demo-") as tmp:
        folder = Path(tmp)
        db = f"sqlite:///{folder / 'server.db'}"
        catalog = parse_catalog(DEMO_CATALOG.read_bytes(), format_for(DEMO_CATALOG.name))
        class_ = await _seed(console, db, catalog)

        sock = bind("127.0.0.1", port)
        host, port = sock.getsockname()[:2]
        url = f"http://{host}:{port}"
        ready = asyncio.Event()
        app = create_app(db, on_ready=lambda _store: ready.set(), public_url=url)
        # The story is the output: the server's request lines would interleave with it.
        logging.getLogger("waymark").setLevel(logging.WARNING)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
        server = _Server(config, lambda: app.state.sync_connections.drain(DRAIN_SECONDS))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await ready.wait()
        console.print(
            Panel.fit(
                f"Waymark demo server at [bold]{url}[/bold] (SQLite in {folder})\n"
                f"catalog: {DEMO_CATALOG.name}; learners: maya / maya-demo, leo / leo-demo\n"
                f"the class: {_class_line(class_)}\n"
                f"dashboard: [bold]{url}/dashboard[/bold] as the instructor "
                f"{INSTRUCTOR[0]} / {INSTRUCTOR[1]}",
                title="waymark demo",
            )
        )
        try:
            agree = await _story(console, url, folder / "devices")
            agree = await asyncio.to_thread(_staff_check, console, url) and agree
            if not script and tui and _interactive():
                await _kiosk(console, url, folder / "devices" / "kiosk")
            if not script:
                # Plain lines, never wrapped: they are meant to be copied into a shell.
                console.rule("your turn")
                console.print(
                    _your_turn(url, folder / "you"), soft_wrap=True, markup=False, highlight=False
                )
                await serving
        finally:
            server.should_exit = True
            await serving
    return agree


@click.command()
@click.option("--script", is_flag=True, help="Play the two-device story and exit (no input).")
@click.option("--no-tui", is_flag=True, help="Do not open the terminal app after the story.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the demo server on 127.0.0.1 (default: a free one).",
)
def demo(script: bool, no_tui: bool, port: int) -> None:
    """Run Waymark on embedded defaults: two devices syncing, then the terminal app."""
    console = Console()
    if not asyncio.run(_demo(script, not no_tui, console, port)):
        raise SystemExit(1)
