"""The device's commands, mounted lazily on the ``waymark`` group by ``cli/main.py`` (and
listed in :data:`COMMANDS`): ``login``, ``logout``, ``record``, ``sync``, ``status``,
``quiz take``, ``achievements``, ``certificate show`` and ``leaderboard``; ``whoami``,
``learners`` and ``courses`` live in :mod:`client.cli_info`, the status table in
:mod:`client.cli_render`.

Every command takes ``--home DIR`` (env ``WAYMARK_HOME``, default ``~/.waymark``), also
before the command's name. Every bad argument and every error prints one line on stderr
and exits with a status of :class:`client.cli_common.Exit` (docs/cli.md); none prints a
traceback. rich, ``client.present`` and ``sync.gamify`` are imported by the commands that
draw, so ``record`` starts fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import re
import signal
import socket
import time
from collections.abc import Awaitable
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import msgspec

from client import cli_info
from client.api import Device, local_zone
from client.cli_common import (
    Command,
    Failure,
    Group,
    OneLineUsageError,
    home_option,
    json_option,
    print_json,
    run_async,
    run_device,
    user_option,
)
from client.errors import ClientError, ServerUnreachable
from client.journal import Account, celebration
from sync.catalog import Catalog
from sync.errors import split_validation_error
from sync.events import BODY_TYPES, Event, Rejection, check_event
from sync.hlc import ZERO

if TYPE_CHECKING:  # rich, present and gamify load with the commands that draw (fast start)
    from rich.console import Console

    from client.connection import Change, SyncReport
    from sync.gamify import GamifyView

T = TypeVar("T")
INT_KEYS: Final = frozenset({"seconds", "position", "from", "to"})
LIST_KEYS: Final = frozenset({"choices"})
GOOD, UNDERWAY, IDLE, BAD = "green", "yellow", "dim", "red"
STYLES: Final = {
    "completed": GOOD,
    "passed": GOOD,
    "graded": GOOD,
    "mastered": GOOD,
    "in_progress": UNDERWAY,
    "submitted": UNDERWAY,
    "draft": UNDERWAY,
    "enrolled": UNDERWAY,
    "available": UNDERWAY,
    "not_started": IDLE,
    "not_enrolled": IDLE,
    "locked": IDLE,
    "paused": IDLE,
    "failed": BAD,
    "dropped": BAD,
}
OFFLINE_ATTEMPT: Final = "submitted, scored when online"


_Command, _Group = Command, Group
_run, _await = run_device, run_async


def parse_fields(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("course=c1", "seconds=30", "choices=a,b")`` ->
    ``{"course": "c1", "seconds": 30, "choices": ["a", "b"]}``.

    ``seconds``, ``position``, ``from`` and ``to`` must be whole numbers; ``choices`` is a
    comma list (``choices=`` is the empty list); everything else is a string. Raises
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
        elif key in LIST_KEYS:
            body[key] = value.split(",") if value else []
        else:
            body[key] = value
    return body


def parse_answers(values: tuple[str, ...]) -> dict[str, list[str]]:
    """``("q1=a", "q2=b,c")`` or ``("q1=a,q2=b,c",)`` -> ``{"q1": ["a"], "q2": ["b", "c"]}``.

    In one value, a piece with ``=`` starts a question and a piece without one is one more
    choice of the question before it. Catalog ids cannot contain ``=`` or ``,``, so this
    is never ambiguous. Raises :class:`OneLineUsageError`.
    """
    answers: dict[str, list[str]] = {}
    for value in values:
        current: list[str] | None = None
        for piece in (p.strip() for p in value.split(",")):
            question, sep, choice = piece.partition("=")
            if sep and question in answers:
                raise OneLineUsageError(f"question {question!r} is answered twice")
            if not piece or (sep and not (question and choice)) or (not sep and current is None):
                raise OneLineUsageError(f"expected Q=CHOICE[,CHOICE...], got {value!r}")
            if sep:
                current = answers[question] = [choice]
            elif current is not None:
                current.append(piece)
    return answers


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
@click.option(
    "--force",
    is_flag=True,
    help="Log out even with events not synced (they stay here) or the server out of reach "
    "(the token then stays valid until an administrator revokes the device).",
)
@user_option
@home_option
def logout(force: bool, user: str | None, home: Path) -> None:
    """Log a learner out of this device: the server revokes its token, and this device
    forgets it. Events not synced are pushed first; any left stay in the journal and are
    pushed after the learner's next login here."""

    async def work(device: Device) -> tuple[str, int]:
        account = await device.journal.account(user)
        return account.username, await device.logout(account.username, force=force)

    name, pending = _run(home, work)
    kept = f" ({pending} events not synced kept for the next login)" if pending else ""
    click.echo(f"logged out {name}{kept}")


def parse_when(at: str | None, tz: str | None) -> tuple[int | None, str | None]:
    """``--at`` (ISO 8601; without an offset it is wall-clock time in ``--tz``, else in this
    machine's zone) as epoch ms, and ``--tz`` checked to be an IANA zone.

    A wall-clock time the zone skips (spring forward) or has twice (fall back) is refused:
    guessing would move the event by an hour, maybe into another day. Raises
    :class:`OneLineUsageError`.
    """
    zone: ZoneInfo | None = None
    if tz is not None:
        try:
            zone = ZoneInfo(tz)
        except (ValueError, ZoneInfoNotFoundError):
            raise OneLineUsageError(
                f"--tz: {tz!r} is not an IANA time zone (e.g. Europe/Paris)"
            ) from None
    if at is None:
        return None, tz
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise OneLineUsageError(
            f"--at: {at!r} is not an ISO 8601 time (e.g. 2026-03-29T09:30 or ...+02:00)"
        ) from None
    if when.tzinfo is None:
        zone = zone or _machine_zone()
        when = when.astimezone() if zone is None else _wall_clock(when, zone, at)
    return int(when.timestamp() * 1000), tz


def _machine_zone() -> ZoneInfo | None:
    name = local_zone()
    try:
        return ZoneInfo(name) if name else None
    except (ValueError, ZoneInfoNotFoundError):
        return None


def _wall_clock(when: datetime, zone: ZoneInfo, at: str) -> datetime:
    """``when`` (naive) in ``zone``, refusing a time that zone skips or has twice."""
    early, late = when.replace(tzinfo=zone, fold=0), when.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != when:
        raise OneLineUsageError(
            f"--at: {at!r} does not exist in {zone.key} (the clocks skip it): "
            "give a time outside the gap"
        )
    offsets = " or ".join(d.isoformat()[-6:] for d in (early, late))
    raise OneLineUsageError(
        f"--at: {at!r} happens twice in {zone.key} (the clocks go back): add {offsets}"
    )


def _complete_types(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    return [t for t in BODY_TYPES if t.startswith(incomplete)]


@click.command(cls=_Command)
@click.argument("event", shell_complete=_complete_types)
@click.argument("fields", nargs=-1, metavar="[KEY=VALUE]...")
@click.option(
    "--at",
    metavar="ISO-TIME",
    help="When it happened (default: now); without an offset, wall-clock time in --tz.",
)
@click.option("--tz", metavar="ZONE", help="The IANA zone it happened in (default: this one).")
@user_option
@home_option
def record(
    event: str,
    fields: tuple[str, ...],
    at: str | None,
    tz: str | None,
    user: str | None,
    home: Path,
) -> None:
    """Record EVENT (e.g. lesson.progressed) with body fields KEY=VALUE.

    seconds, position, from and to are whole numbers; choices is a comma list; every
    other value is a string (quote text with spaces). An unknown type, a missing field or
    a bad value is refused (exit 2, nothing written); an id this device's catalog does not
    hold is recorded with a warning (the server, which may know a newer catalog, decides).
    The ids are in 'waymark courses'.

    \b
    Types:
      lesson.opened lesson.progressed lesson.completed lesson.uncompleted
      quiz.started quiz.answered quiz.submitted assignment.saved assignment.submitted
      path.enrolled path.paused path.resumed path.dropped
      milestone.started milestone.completed milestone.reset course.reset

    \b
    Examples:
      waymark record lesson.progressed course=c1 lesson=l2 seconds=30 from=0 to=30
      waymark record quiz.answered course=c1 quiz=q1 attempt=a1 question=q2 choices=a,c
      waymark record assignment.saved course=c1 assignment=a1 text="first draft"
      waymark record milestone.completed path=p1 milestone=m1
    """
    body = check_fields(event, parse_fields(fields))
    at_ms, zone = parse_when(at, tz)
    recorded, warning = _run(home, lambda d: _record(d, event, body, user, at_ms, zone))
    click.echo(f"recorded {recorded.type} #{recorded.seq}")
    if warning:
        click.echo(f"warning: {warning}", err=True)


def check_fields(event: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked against ``event``'s schema: the type is known, every field is one of
    its fields, the required ones are there and each value has its type. Returns ``body``;
    raises :class:`OneLineUsageError` with one plain line (nothing is written)."""
    known = BODY_TYPES.get(event)
    if known is None:
        family = [t for t in BODY_TYPES if t.partition(".")[0] == event.partition(".")[0]]
        close = difflib.get_close_matches(event, BODY_TYPES, n=1)
        hint = (
            f": {event.partition('.')[0]} events are {', '.join(family)}"
            if family
            else f": did you mean {close[0]}?"
            if close
            else ""
        )
        raise OneLineUsageError(
            f"unknown event type {event!r}{hint} (the types are in 'waymark record --help')"
        )
    allowed = known.__struct_encode_fields__
    names = ", ".join(allowed)
    # Bodies accept unknown fields (schema evolution), so a typo would pass silently.
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise OneLineUsageError(f"{event} has no field {extra[0]!r} (fields: {names})")
    try:
        msgspec.convert(body, known)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        missing = re.fullmatch(r"Object missing required field `(.+)`", problem)
        if missing is not None:
            raise OneLineUsageError(f"{event} needs {missing[1]}=... (fields: {names})") from None
        field = path.removeprefix("$.") or "the body"
        raise OneLineUsageError(f"{event}: {field}: {problem[:1].lower()}{problem[1:]}") from None
    return body


async def _record(
    device: Device,
    event: str,
    body: dict[str, Any],
    user: str | None,
    at_ms: int | None,
    zone: str | None,
) -> tuple[Event, str]:
    """Record the event; an id the cached catalog does not hold is recorded with a warning
    (the catalog may be older than the server's: the server decides), any other problem
    the catalog shows is refused."""
    account = await device.journal.account(user)
    cached = await device.journal.catalog(account.server_url)
    warning = ""
    if cached is None:
        warning = "no catalog on this device yet, so ids are not checked: run 'waymark sync'"
    else:
        probe = Event(seq=1, hlc=ZERO, at=at_ms or device.clock(), type=event, body=body)
        verdict = check_event(probe, cached[1])
        if isinstance(verdict, Rejection) and verdict.code.startswith("unknown_"):
            warning = f"{verdict.reason} (as this device knows it); recorded, the server decides"
    recorded = await device.record(
        event, body, user=account.username, at_ms=at_ms, tz=zone, unknown_ids=True
    )
    return recorded, warning


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
    report = _run(home, lambda d: _sync_once(d, users))
    if report.refused:
        names = "; ".join(f"{r.username} ({r.code}: {r.reason})" for r in report.refused)
        raise Failure(f"not synced: {names}")
    click.echo(f"in sync ({report.pushed} sent, {report.received} received)")


KEPT: Final = "; your events are kept and will sync later"


async def _sync_once(device: Device, users: tuple[str, ...]) -> SyncReport:
    try:
        return await device.sync_once(users)
    except ServerUnreachable as err:
        raise ServerUnreachable(f"{err}{KEPT}") from None


async def _follow(device: Device, users: tuple[str, ...]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
    from sync.gamify import AWARD_TYPES

    accounts = await device.accounts()
    cached = await device.journal.catalog(accounts[0].server_url) if accounts else None
    catalog = cached[1] if cached else Catalog()

    def show(change: Change) -> None:
        entry = change.entry
        if entry.origin == "server" and entry.type in AWARD_TYPES:
            found = celebration(entry.user_seq, entry.type, entry.body, catalog)
            if found is not None:  # points without a completion are not news
                detail = f" ({found.detail})" if found.detail else ""
                click.echo(f"{change.username}: 🎉 {found.title}{detail}")
            return
        click.echo(change.describe())

    try:
        await device.follow(show, stop=stop, users=users)
    finally:
        with contextlib.suppress(NotImplementedError):
            for sig in signals:
                loop.remove_signal_handler(sig)


@click.command(cls=_Command)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@user_option
@home_option
def status(as_json: bool, user: str | None, home: Path) -> None:
    """Show a learner's progress as this device knows it, pending and rejected events.

    Quiz attempts this device made show as "submitted, scored when online" until the
    server's score arrives with a sync.
    """
    view = _run(home, lambda d: d.status(user))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(view), indent=2).decode())
    else:
        from rich.console import Console

        from client.cli_render import render

        render(view, Console(), time.time_ns() // 1_000_000)


def _attempt_name(attempt: dict[str, Any]) -> str:
    if attempt["number"] is not None:
        return f"attempt #{attempt['number']}"
    return f"attempt {attempt['id'][:8]}"


def _attempt(attempt: dict[str, Any]) -> str:
    """``75%, passed`` / ``submitted, scored when online`` / ``in progress``."""
    if attempt["status"] == "submitted":
        return OFFLINE_ATTEMPT
    if attempt["status"] == "in_progress":
        return "in progress, not submitted"
    text = f"{_percent(attempt['score'])}, {'passed' if attempt['passed'] else 'not passed'}"
    if not attempt["counted"]:
        text += f", not counted: {attempt['reason']}" if attempt["reason"] else ", not counted"
    return text


def _when(ms: int, now_ms: int | None = None, tz: tzinfo = UTC) -> str:
    """``ms`` in the learner's zone ``tz`` (as the terminal app shows it), with the zone's
    abbreviation; only the time of day if ``ms`` is less than a day after ``now_ms``."""
    soon = now_ms is not None and 0 <= ms - now_ms < 86_400_000
    shape = "%H:%M:%S %Z" if soon else "%Y-%m-%d %H:%M %Z"
    return datetime.fromtimestamp(ms / 1000, tz).strftime(shape)


def _percent(score: float) -> str:
    return f"{round(score * 100, 1):g}%"


@click.group(cls=_Group)
def quiz() -> None:
    """Take quizzes, online or offline."""


@quiz.command(cls=_Command)
@click.argument("course")
@click.argument("quiz_id", metavar="QUIZ")
@click.option(
    "--answers",
    "-a",
    multiple=True,
    required=True,
    metavar="Q=CHOICE[,CHOICE...]",
    help="The choice(s) for question Q; repeat for each question, or give several "
    "in one value: q1=a,q2=b,c (a piece without '=' is one more choice for the question "
    "before it).",
)
@click.option(
    "--sync", "sync_now", is_flag=True, help="Sync right away and show the score if online."
)
@user_option
@home_option
def take(
    course: str,
    quiz_id: str,
    answers: tuple[str, ...],
    sync_now: bool,
    user: str | None,
    home: Path,
) -> None:
    """Answer quiz QUIZ of COURSE and submit the attempt.

    The attempt is recorded on this device (offline is fine) and scored by the server when
    it gets it: until then it shows as "submitted, scored when online". Questions left out
    count as wrong.

    \b
    Examples (the demo catalog's quiz), both the same:
      waymark quiz take python-foundations syntax-check \\
          -a assign=b -a loops=for,while -a range=three -a def=def
      waymark quiz take python-foundations syntax-check \\
          -a assign=b,loops=for,while,range=three,def=def
    """
    chosen = parse_answers(answers)
    notes, line = _run(home, lambda d: _take(d, course, quiz_id, chosen, user, sync_now))
    click.echo(line)
    for note in notes:
        click.echo(f"note: {note}", err=True)


async def _take(
    device: Device,
    course: str,
    quiz_id: str,
    answers: dict[str, list[str]],
    user: str | None,
    sync_now: bool,
) -> tuple[list[str], str]:
    """Record the attempt (and sync); returns the notes for stderr and the line for stdout."""
    notes = []
    before = await device.quiz(course, quiz_id, user=user)
    # Hints only: the server decides whether the attempt counts (it may know more).
    if before is not None and before.attempts_left == 0:
        notes.append("no attempts left: the server will keep this attempt but not count it")
    elif before is not None and before.cooldown_until and before.cooldown_until > device.clock():
        from sync.gamify import zone as learner_zone

        zone = learner_zone((await device.journal.account(user)).timezone)
        until = _when(before.cooldown_until, device.clock(), zone)
        notes.append(f"cool-down until {until}: this attempt may not count")
    taken = await device.take_quiz(course, quiz_id, answers, user=user)
    if taken.unanswered:
        notes.append(f"unanswered, counted as wrong: {', '.join(taken.unanswered)}")
    if sync_now:
        account = await device.journal.account(user)
        try:
            report = await device.sync_once([account.username])
        except ClientError as err:
            notes.append(f"not synced: {err}")
        else:
            notes += [f"not synced: {r.code}: {r.reason}" for r in report.refused]
    found = await device.attempt(course, quiz_id, taken.attempt, user=user)
    result = _attempt(msgspec.to_builtins(found[1])) if found else OFFLINE_ATTEMPT
    if found and found[1].number is not None:
        result = f"#{found[1].number}, {result}"
    return notes, f"attempt {taken.attempt}: {result}"


# -- gamification ---------------------------------------------------------------------------


def _print(console: Console, *renderables: Any) -> None:
    """Print within :data:`present.MAX_WIDTH` columns, however wide the terminal."""
    from client import present

    console.print(*renderables, width=min(console.width, present.MAX_WIDTH))


@click.command(cls=_Command)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the achievements and time per day as JSON."
)
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=14,
    show_default=True,
    help="Days of learning time to chart, up to today.",
)
@user_option
@home_option
def achievements(as_json: bool, days: int, user: str | None, home: Path) -> None:
    """Show points, level, streak, badges, certificates and learning time per day.

    Works offline: the streak and the learning time count this device's events at once;
    points, badges and certificates are the server's decisions and arrive with a sync.
    """
    from rich.console import Console

    from client import present
    from sync.gamify import zone as learner_zone

    account, view, per_day = _run(home, lambda d: _achievements(d, user, days))
    if as_json:
        found = present.achievements_json(view, per_day, user=account.username)
        click.echo(msgspec.json.format(msgspec.json.encode(found), indent=2).decode())
        return
    console = Console()
    width = min(console.width, present.MAX_WIDTH)
    tz = learner_zone(account.timezone)
    _print(console, present.achievements(view, per_day, user=account.username, width=width, tz=tz))


async def _achievements(
    device: Device, user: str | None, days: int
) -> tuple[Account, GamifyView, list[tuple[str, int]]]:
    account = await device.journal.account(user)
    view = await device.achievements(account.username)
    per_day = await device.journal.time_per_day(account, days=days, now_ms=device.clock())
    return account, view, per_day


@click.group(cls=_Group)
def certificate() -> None:
    """Verify certificates (anyone holding a code may)."""


@certificate.command("show", cls=_Command)
@click.argument("code")
@click.option(
    "--server",
    "server_url",
    metavar="URL",
    help="The issuing server; no login needed (default: this device's learner's server).",
)
@click.option(
    "--pdf",
    "pdf_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a one-page PDF certificate to FILE.",
)
@json_option
@home_option
def certificate_show(
    code: str, server_url: str | None, pdf_file: Path | None, as_json: bool, home: Path
) -> None:
    """Verify certificate CODE with the server that issued it and show it.

    \b
    Example:
      waymark certificate show K3QF-7XJM-2PZA-L9WD --server https://learn.example.org
    """
    from rich.console import Console

    from client import present
    from sync.gamify import zone as learner_zone

    code = code.strip()
    if not code:
        raise OneLineUsageError("CODE is empty")
    if server_url is not None and not server_url.startswith(("http://", "https://")):
        raise OneLineUsageError(f"--server must start with http:// or https://, got {server_url!r}")
    if server_url is not None:
        # The public endpoint needs no account, so neither does this: no journal is opened.
        url = server_url
        found = _await(lambda: Device(home.expanduser()).certificate(code, server_url=url))
        tz = learner_zone("")
    else:

        async def verify(device: Device) -> tuple[dict[str, Any], str]:
            zone = (await device.journal.account()).timezone
            return await device.certificate(code), zone

        found, zone = _run(home, verify)
        tz = learner_zone(zone)
    console = Console()
    if as_json:
        print_json(found)
    elif not found.get("valid"):
        _print(console, present.certificate_panel(found, tz))
    if not found.get("valid"):
        raise Failure(f"certificate {code!r} is not valid")
    if pdf_file is not None:
        try:
            present.write_certificate_pdf(found, pdf_file)
        except OSError as err:
            raise Failure(f"--pdf: cannot write {pdf_file}: {err.strerror}") from None
    if not as_json:
        _print(console, present.certificate_panel(found, tz))
    if pdf_file is not None:
        click.echo(f"PDF certificate written to {pdf_file}", err=as_json)


def parse_week(week: str) -> str:
    """``2026-W47`` checked to be an ISO week that exists; raises :class:`OneLineUsageError`."""
    found = re.fullmatch(r"(\d{4})-W(\d{2})", week)
    try:
        if found is None:
            raise ValueError(week)
        date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError:
        raise OneLineUsageError(
            f"--week: expected an ISO week YYYY-Www (e.g. 2026-W47), got {week!r}"
        ) from None
    return week


@click.command(cls=_Command)
@click.option("--group", metavar="NAME", help="Only this group's learners.")
@click.option("--course", metavar="ID", help="Only learners with progress in this course.")
@click.option("--week", metavar="YYYY-Www", help="An ISO week (default: this week).")
@click.option(
    "--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="Rows shown."
)
@click.option("--opt-out", is_flag=True, help="Hide yourself from other learners' boards.")
@click.option("--opt-in", is_flag=True, help="Show yourself on other learners' boards again.")
@json_option
@user_option
@home_option
def leaderboard(
    group: str | None,
    course: str | None,
    week: str | None,
    limit: int,
    opt_out: bool,
    opt_in: bool,
    as_json: bool,
    user: str | None,
    home: Path,
) -> None:
    """Show this week's points ranking of everyone, a --group or a --course cohort.

    Needs the server. Learners who opted out appear on nobody's board but their own.
    """
    from rich.console import Console

    from client import present

    if group is not None and course is not None:
        raise OneLineUsageError("give --group or --course, not both")
    if opt_out and opt_in:
        raise OneLineUsageError("give --opt-out or --opt-in, not both")
    if (opt_out or opt_in) and (group, course, week) != (None, None, None):
        raise OneLineUsageError("--opt-out and --opt-in take no --group, --course or --week")
    if opt_out or opt_in:
        hidden = _run(home, lambda d: _online(d.set_leaderboard_opt_out(opt_out, user=user)))
        if hidden:
            click.echo(
                "opted out: other learners no longer see you on leaderboards; "
                "you still see your own place"
            )
        else:
            click.echo("opted in: other learners see you on leaderboards again")
        return
    if week is not None:
        week = parse_week(week)
    board = _run(
        home,
        lambda d: _online(
            d.leaderboard(group=group, course=course, week=week, limit=limit, user=user)
        ),
    )
    if as_json:
        print_json(board)
        return
    scope = f"group {group}" if group else f"course {course}" if course else "everyone"
    _print(Console(), present.leaderboard(board, scope=f"{scope}, top {limit}"))


async def _online(call: Awaitable[T]) -> T:
    try:
        return await call
    except ServerUnreachable as err:
        raise ServerUnreachable(f"leaderboards need the server: {err}") from None


COMMANDS: Final[list[click.Command]] = [
    login,
    logout,
    cli_info.whoami,
    cli_info.learners,
    cli_info.courses,
    record,
    sync,
    status,
    quiz,
    achievements,
    certificate,
    leaderboard,
]
