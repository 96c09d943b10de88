"""The server's commands: ``waymark serve`` and ``waymark admin …``. Mounted by ``cli/``."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import msgspec
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from server.access_options import access_options
from server.app import create_app
from server.errors import ServerError, StoreUnavailable
from server.storage.store import ROLES, STALE_DEVICE_MS, Group, OutboxEvent, Store
from sync.catalog import format_for, parse_catalog
from sync.errors import CatalogError

DEFAULT_DB = "sqlite:///waymark.db"
MAX_FRAME = 1 << 20
PLANS = ("free", "premium")
T = TypeVar("T")

db_option = click.option(
    "--db",
    envvar="WAYMARK_DATABASE_URL",
    default=DEFAULT_DB,
    show_default=True,
    help="sqlite:///PATH or postgresql://USER@HOST/DB (env WAYMARK_DATABASE_URL).",
)


class _Server(uvicorn.Server):
    """uvicorn, but a SIGINT/SIGTERM stop is a clean exit (status 0), not a re-raised signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns TCP_NODELAY on only for sockets whose proto says
    # TCP, and without it Nagle's algorithm holds every other small ack back ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(256)
    return sock


async def serve_async(
    db: str,
    sock: socket.socket,
    *,
    catalog_file: Path | None = None,
    stale_device_ms: int = STALE_DEVICE_MS,
    wait_for_db: float = 0.0,
    public_url: str | None = None,
    access: dict[str, Any] | None = None,
) -> None:
    host, port = sock.getsockname()[:2]
    public = public_url or f"http://{_url_host(host)}:{port}"
    # Open (and migrate) the database before serving: a damaged file or an unreachable
    # server is one line and a non-zero exit now, not a failed start-up that hangs.
    await _preflight(db, wait_for_db)

    def ready(store: Store) -> None:
        click.echo(f"Waymark listening on http://{host}:{port} (sync: ws://{host}:{port}/v1/sync)")
        click.echo(f"database: {db}")

    if catalog_file is not None:
        catalog = _read_catalog(catalog_file)
        await _with_store(db, lambda store: store.load_catalog(catalog))
    app = create_app(
        db, on_ready=ready, stale_device_ms=stale_device_ms, public_url=public, **(access or {})
    )
    config = uvicorn.Config(
        app, log_level="warning", ws_max_size=MAX_FRAME, lifespan="on", ws="websockets-sansio"
    )
    await _Server(config).serve(sockets=[sock])
    click.echo("Waymark stopped")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # every interface: name the machine
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def public_url_option(value: str | None) -> str | None:
    """``--public-url``: an http(s) URL with a host and no query; one line if not."""
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL of this server")
    return value.rstrip("/")


def _plain_http_warning(host: str) -> str | None:
    """A warning when devices beyond this machine would send passwords in clear."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"warning: listening on {host} over plain HTTP: passwords and tokens cross the "
        "network in clear; put a TLS proxy in front (docs/operations.md) and set --public-url"
    )


async def _preflight(
    db: str, wait_for_db: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> None:
    """Open the store once; with ``wait_for_db`` seconds, retry an unavailable one with
    backoff (0.5 s doubling to 5 s) until then, saying once what it waits for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_for_db
    delay = 0.5
    said = False
    while True:
        try:
            await _with_store(db, lambda store: store.ping())
            return
        except StoreUnavailable as err:
            left = deadline - loop.time()
            if left <= 0:
                raise
            if not said:
                click.echo(
                    f"waiting up to {wait_for_db:g} s for the database: {err.detail}", err=True
                )
                said = True
            await sleep(min(delay, left))
            delay = min(delay * 2, 5.0)


class _OneLine(click.Command):
    """Usage errors as one line, without click's usage block (as the device commands)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            raise _one_line(ctx, err) from None


class _OneLineGroup(click.Group):
    command_class = _OneLine
    group_class = type  # its subgroups are one-line groups too

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


class _UsageLine(click.ClickException):
    exit_code = 2


def _one_line(ctx: click.Context, err: click.UsageError) -> _UsageLine:
    return _UsageLine(f"{err.format_message().rstrip('.')} (see '{ctx.command_path} --help')")


@click.command(cls=_OneLine)
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Load this catalog file before serving.",
)
@click.option(
    "--stale-device-days",
    envvar="WAYMARK_STALE_DEVICE_DAYS",
    type=click.IntRange(1, 3650),
    default=STALE_DEVICE_MS // 86_400_000,
    show_default=True,
    help="A device silent this long stops holding its learner's settled horizon back.",
)
@click.option(
    "--wait-for-db",
    type=click.FloatRange(0, 3600),
    default=0,
    metavar="SECONDS",
    help="Retry an unreachable database for up to this long before giving up.",
)
@click.option(
    "--public-url",
    envvar="WAYMARK_PUBLIC_URL",
    default=None,
    callback=lambda _ctx, _param, value: public_url_option(value),
    help="Where devices and verifiers reach this server (issuer id, certificate links); "
    "default: http://HOST:PORT as listening. Never taken from a request's Host.",
)
@access_options
def serve(
    db: str,
    host: str,
    port: int,
    catalog_file: Path | None,
    stale_device_days: int,
    wait_for_db: float,
    public_url: str | None,
    access: dict[str, Any],
) -> None:
    """Run the sync server (SQLite by default; PostgreSQL with --db postgresql://…)."""
    sock = bind(host, port)
    if (warning := _plain_http_warning(host)) is not None:
        click.echo(warning, err=True)
    _run(
        serve_async(
            db,
            sock,
            catalog_file=catalog_file,
            stale_device_ms=stale_device_days * 86_400_000,
            wait_for_db=wait_for_db,
            public_url=public_url,
            access=access,
        )
    )


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ServerError as err:
        raise click.ClickException(err.detail) from None


async def _with_store(db: str, action: Callable[[Store], Awaitable[T]]) -> T:
    store = Store.for_url(db)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def _read_catalog(path: Path):  # type: ignore[no-untyped-def]
    try:
        data = path.read_bytes()
    except OSError as err:
        raise click.ClickException(f"{path}: {err.strerror}") from None
    try:
        return parse_catalog(data, format_for(path.name), source=str(path))
    except CatalogError as err:
        raise click.ClickException(str(err)) from None


@click.group(cls=_OneLineGroup)
@db_option
@click.pass_context
def admin(ctx: click.Context, db: str) -> None:
    """Administer users, devices and the catalog."""
    ctx.obj = db


@admin.group()
def user() -> None:
    """Manage users."""


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


@user.command("add")
@click.argument("name")
@click.option("--password", required=True)
@click.option("--timezone", default="UTC", show_default=True, callback=_zone)
@click.option("--role", type=click.Choice(ROLES), default="learner", show_default=True)
@click.option(
    "--plan",
    type=click.Choice(PLANS),
    default="free",
    show_default=True,
    help="premium: no enrollment limit, and max_attempts_free does not apply.",
)
@click.pass_obj
def user_add(db: str, name: str, password: str, timezone: str, role: str, plan: str) -> None:
    """Create a user."""
    created = _run(
        _with_store(
            db, lambda s: s.create_user(name, password, role=role, timezone=timezone, plan=plan)
        )
    )
    shown = "" if created.plan == "free" else f", {created.plan}"
    click.echo(
        f"user {created.username} ({created.role}, {created.timezone}{shown}) id {created.id}"
    )


@user.command("plan")
@click.argument("name")
@click.argument("plan", type=click.Choice(PLANS))
@click.pass_obj
def user_plan(db: str, name: str, plan: str) -> None:
    """Put a user on the free or the premium plan (from their next action on)."""

    async def set_plan(store: Store) -> None:
        found = await store.user_by_name(name)
        if found is None:
            raise click.ClickException(f"no user {name!r}")
        await store.set_plan(found.id, plan)

    _run(_with_store(db, set_plan))
    click.echo(f"user {name} is on the {plan} plan")


@admin.group()
def catalog() -> None:
    """Manage the catalog."""


@catalog.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
def catalog_load(db: str, file: Path) -> None:
    """Load a catalog file (JSON, TOML or YAML); a malformed file is refused whole."""
    parsed = _read_catalog(file)
    version = _run(_with_store(db, lambda s: s.load_catalog(parsed)))
    lessons = sum(len(m.lessons) for c in parsed.courses for m in c.modules)
    click.echo(f"catalog {version}: {len(parsed.courses)} courses, {lessons} lessons")


@admin.command("devices")
@click.argument("name")
@click.pass_obj
def devices(db: str, name: str) -> None:
    """List a user's devices."""

    async def list_devices(store: Store) -> None:
        found = await store.user_by_name(name)
        if found is None:
            raise click.ClickException(f"no user {name!r}")
        for device in await store.devices_of(found.id):
            state = "revoked" if device.revoked_at else "active"
            click.echo(f"{device.id}  {device.name!r}  {state}  acked_seq={device.acked_seq}")

    _run(_with_store(db, list_devices))


@admin.command("revoke")
@click.argument("device_id")
@click.pass_obj
def revoke(db: str, device_id: str) -> None:
    """Revoke a device's token: it is refused from now on."""
    device = _run(_with_store(db, lambda s: s.revoke_device(device_id)))
    click.echo(f"device {device.id} ({device.name!r}) revoked")


async def _learners(store: Store, name: str | None) -> list[tuple[str, str]]:
    """(id, name) of the learner called ``name``, or of every user."""
    if name is not None:
        found = await store.user_by_name(name)
        if found is None:
            raise click.ClickException(f"no user {name!r}")
        return [(found.id, found.username)]
    users = [await store.user_by_id(user_id) for user_id in await store.learner_ids()]
    return [(u.id, u.username) for u in users if u is not None]


def _progress() -> Progress:
    # On stderr: stdout stays what the command reports.
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@admin.command("rebuild")
@click.option("--user", "name", help="Only this learner (default: every user).")
@click.pass_obj
def rebuild(db: str, name: str | None) -> None:
    """Recompute the learners' state, award tables and scopes from their feeds."""

    async def run(store: Store) -> int:
        learners = await _learners(store, name)
        with _progress() as bar:
            task = bar.add_task("rebuilding from the feed", total=len(learners))
            for user_id, _ in learners:
                await store.rebuild(user_id)
                bar.advance(task)
        return len(learners)

    count = _run(_with_store(db, run))
    click.echo(f"rebuilt {count} learner{'' if count == 1 else 's'} from their feeds")


@admin.command("verify")
@click.option("--user", "name", help="Only this learner (default: every user).")
@click.pass_obj
def verify(db: str, name: str | None) -> None:
    """Recompute from the feeds and compare; exit 1 and list what differs."""

    async def run(store: Store) -> tuple[int, list[str]]:
        learners = await _learners(store, name)
        found: list[str] = []
        with _progress() as bar:
            task = bar.add_task("verifying against the feed", total=len(learners))
            for user_id, username in learners:
                found += [f"{username}: {line}" for line in await store.verify(user_id)]
                bar.advance(task)
        return len(learners), found

    count, found = _run(_with_store(db, run))
    for line in found:
        click.echo(line)
    learners = f"{count} learner{'' if count == 1 else 's'}"
    if found:
        click.echo(f"{len(found)} difference(s) in {learners}; 'waymark admin rebuild' fixes them")
        sys.exit(1)
    click.echo(f"verified {learners}: every cache matches the feed")


@admin.group("outbox")
def outbox() -> None:
    """Domain events for other systems, as the merges wrote them."""


@outbox.command("tail")
@click.option("-n", "--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--user", "name", help="Only this learner's events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def outbox_tail(db: str, limit: int, name: str | None, as_json: bool) -> None:
    """Print the latest outbox events, oldest first."""

    async def tail(store: Store) -> list[OutboxEvent]:
        user_id = None
        if name is not None:
            found = await store.user_by_name(name)
            if found is None:
                raise click.ClickException(f"no user {name!r}")
            user_id = found.id
        return await store.outbox_tail(limit, user_id=user_id)

    for event in _run(_with_store(db, tail)):
        if as_json:
            click.echo(msgspec.json.encode(event).decode())
        else:
            when = datetime.fromtimestamp(event.recorded_at / 1000, UTC).isoformat(
                timespec="seconds"
            )
            body = msgspec.json.encode(event.body).decode()
            click.echo(f"{when}  {event.id}  {event.type}  {body}")


@admin.command("grade")
@click.argument("name")
@click.argument("course")
@click.argument("assignment")
@click.argument("score", type=float)
@click.option("--feedback", default="", help="Feedback shown to the learner.")
@click.option("--by", "graded_by", default="admin", show_default=True, help="Grader's name.")
@click.pass_obj
def grade(
    db: str, name: str, course: str, assignment: str, score: float, feedback: str, graded_by: str
) -> None:
    """Grade a learner's latest submission of an assignment."""

    async def record(store: Store) -> str:
        found = await store.user_by_name(name)
        if found is None:
            raise click.ClickException(f"no user {name!r}")
        catalog = await store.catalog()
        item = catalog.assignment(course, assignment)
        if item is None:
            where = f"course {course!r}" if catalog.course(course) else "the catalog"
            raise click.ClickException(f"no assignment {assignment!r} in {where}")
        decisions = await store.grade_assignment(
            found.id, course, assignment, score=score, feedback=feedback, graded_by=graded_by
        )
        passed = "passed" if score >= item.passing_score else "not passed"
        others = [d.type for d in decisions if d.type != "assignment.graded"]
        then = f"; then {', '.join(others)}" if others else ""
        return (
            f"graded {name} {course}/{assignment}: {score:g}/{item.max_score:g} {passed}"
            f" (by {graded_by}){then}"
        )

    click.echo(_run(_with_store(db, record)))


@admin.group("group")
def group_() -> None:
    """Manage learner groups (leaderboards of a group: waymark leaderboard --group)."""


def _group_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    # The name goes into URLs (/v1/groups/NAME, ?group=NAME): no slash, nothing blank.
    if not value.strip() or len(value) > 200 or "/" in value or not value.isprintable():
        raise click.BadParameter(
            f"{value!r}: 1 to 200 printable characters, no '/'", param_hint="'NAME'"
        )
    return value


async def _find_group(store: Store, name: str, *, members: bool = False) -> Group:
    found = await store.group(name, members=members)
    if found is None:
        raise click.ClickException(f"no group {name!r}")
    return found


def _members(group: Group) -> str:
    count = len(group.members)
    return f"group {group.name}: {count} member{'' if count == 1 else 's'}"


@group_.command("add")
@click.argument("name", callback=_group_name)
@click.option("--by", "created_by", default="admin", show_default=True, help="Who created it.")
@click.pass_obj
def group_add(db: str, name: str, created_by: str) -> None:
    """Create group NAME (empty; add members with 'admin group members NAME --add USER')."""
    created = _run(_with_store(db, lambda s: s.create_group(name, created_by)))
    click.echo(f"group {created.name} created (id {created.id})")


@group_.command("remove")
@click.argument("name")
@click.pass_obj
def group_remove(db: str, name: str) -> None:
    """Delete group NAME; its members keep their points."""

    async def remove(store: Store) -> Group:
        found = await _find_group(store, name, members=True)
        await store.delete_group(found.id)
        return found

    removed = _run(_with_store(db, remove))
    click.echo(f"{_members(removed)}, removed")


@group_.command("members")
@click.argument("name")
@click.option("--add", "added", multiple=True, metavar="USER", help="Put USER in the group.")
@click.option("--remove", "removed", multiple=True, metavar="USER", help="Take USER out.")
@click.pass_obj
def group_members(db: str, name: str, added: tuple[str, ...], removed: tuple[str, ...]) -> None:
    """Change (--add, --remove, repeatable) and list the members of group NAME.

    Every user is checked before anything changes.
    """
    both = sorted(set(added) & set(removed))
    if both:
        raise _UsageLine(f"{both[0]!r} is both added and removed")

    async def change(store: Store) -> Group:
        found = await _find_group(store, name)
        changes = []
        for username, member in [*((u, True) for u in added), *((u, False) for u in removed)]:
            user = await store.user_by_name(username)
            if user is None:
                raise click.ClickException(f"no user {username!r}")
            changes.append((user.id, member))
        for user_id, member in changes:
            await store.set_member(found.id, user_id, member)
        return await _find_group(store, found.id, members=True)

    group = _run(_with_store(db, change))
    click.echo(_members(group))
    for member in group.members:
        click.echo(f"  {member}")


@group_.command("list")
@click.pass_obj
def group_list(db: str) -> None:
    """List every group with its number of members."""

    async def everything(store: Store) -> list[Group]:
        return [await _find_group(store, g.id, members=True) for g in await store.groups()]

    groups = _run(_with_store(db, everything))
    if not groups:
        click.echo("no groups")
    for group in groups:
        click.echo(f"{_members(group)} (created by {group.created_by})")


COMMANDS = [serve, admin]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve())
