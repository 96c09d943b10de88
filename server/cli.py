"""The server's commands: ``waymark serve``, ``waymark admin …`` and ``waymark config
show``. Mounted by ``cli/``. Every setting is read through :mod:`server.settings`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import msgspec
import uvicorn
from redis.exceptions import RedisError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from server import fanout_redis
from server.app import create_app
from server.errors import ServerError, StoreUnavailable
from server.logs import FORMATS, LEVELS
from server.logs import configure as configure_logging
from server.settings import (
    CONFIG_ENV,
    FIELDS,
    SPECS,
    Loaded,
    Settings,
    SettingsError,
    check_public_url,
    display,
    load_settings,
    shown,
)
from server.storage.accounts import Device
from server.storage.engine import SqliteEngine, open_engine
from server.storage.services import SCOPES as SERVICE_SCOPES
from server.storage.services import check_scopes
from server.storage.store import ROLES, STALE_DEVICE_MS, Group, OutboxEvent, Store
from sync.catalog import QuizDefaults, format_for, parse_catalog
from sync.errors import CatalogError
from sync.event_catalog import GENERATED_BEGIN, GENERATED_END, render_markdown, splice

DEFAULT_DB = Settings().database_url
MAX_FRAME = 1 << 20
PLANS = ("free", "premium")
T = TypeVar("T")

# Options default to None ("not given"): server.settings then looks at the environment,
# the config file and the setting's default, in that order.
db_option = click.option(
    "--db",
    default=None,
    help=f"sqlite:///PATH or postgresql://USER@HOST/DB (env WAYMARK_DATABASE_URL; "
    f"default {DEFAULT_DB}).",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"A TOML file of settings (env {CONFIG_ENV}); options and WAYMARK_* variables win.",
)


SETTINGS_KEY = "waymark.settings"
"""Where ``serve`` and ``admin`` keep their :class:`Settings` in the click context."""


def settings_for(config_file: Path | None, **options: object) -> Loaded:
    """The settings from ``options`` (None: not given), the environment and the config
    file; a bad one is one line and exit 2."""
    try:
        return load_settings(options=options, env=os.environ, config_file=config_file)
    except SettingsError as err:
        raise _UsageLine(err.detail) from None


DRAIN_SECONDS = 10.0
"""How long a stopping server waits for in-flight merges before closing sockets anyway."""


class _Server(uvicorn.Server):
    """uvicorn, but a SIGINT/SIGTERM stop is a clean exit (status 0), not a re-raised
    signal, and drains the sync connections first: it stops accepting, lets each finish
    the message it is handling (a merge commits and is acked), then closes it with 1012."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        await self._drain()
        await super().shutdown(sockets)

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
    _keepalive(sock)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(256)
    return sock


KEEPALIVE_IDLE_S: Final = 60
KEEPALIVE_INTERVAL_S: Final = 15
KEEPALIVE_PROBES: Final = 4


def _keepalive(sock: socket.socket) -> None:
    """TCP keepalive on the listening socket, which the connections it accepts inherit
    (Linux): a peer that vanished without closing (a laptop's lid shut, a cut network) is
    found by the kernel after 60 s of silence and 4 unanswered probes 15 s apart, at no
    cost to the event loop. The server sends no WebSocket pings: 10,000 idle connections
    meant 500 pings a second and 20,000 timers (docs/performance.md); devices ping."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
    ):
        if hasattr(socket, option):  # Linux; elsewhere the system's defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


async def serve_async(
    db: str,
    sock: socket.socket,
    *,
    catalog_file: Path | None = None,
    stale_device_ms: int = STALE_DEVICE_MS,
    wait_for_db: float = 0.0,
    public_url: str | None = None,
    settings: Settings | None = None,
) -> None:
    settings = settings or Settings()
    host, port = sock.getsockname()[:2]
    http, ws = ("https", "wss") if settings.tls else ("http", "ws")
    public = public_url or f"{http}://{_url_host(host)}:{port}"
    # Open (and migrate) the database before serving: a damaged file or an unreachable
    # server is one line and a non-zero exit now, not a failed start-up that hangs.
    await _preflight(db, wait_for_db)
    fanout = settings.fanout or None
    if fanout is not None:
        await _fanout_preflight(fanout)

    def ready(store: Store) -> None:
        click.echo(
            f"Waymark listening on {http}://{host}:{port} (sync: {ws}://{host}:{port}/v1/sync)"
        )
        click.echo(f"database: {db}")

    if catalog_file is not None:
        catalog = _read_catalog(catalog_file, settings.quiz_defaults())
        await _with_store(db, lambda store: store.load_catalog(catalog))
    app = create_app(
        db,
        on_ready=ready,
        stale_device_ms=stale_device_ms,
        public_url=public,
        fanout=fanout,
        fanout_channel_prefix=settings.fanout_channel_prefix,
        policy=settings.policy(),
        login_throttle=settings.login_throttle(),
        cors_origins=settings.cors_origins,
        tls=settings.tls,
        metrics_token=settings.metrics_token or None,
        instrumentation=settings.instrumentation,
        clock_skew_ms=settings.clock_skew_seconds * 1000,
        token_lifetime_s=settings.token_lifetime_days * 86_400,
        refresh_lifetime_s=settings.refresh_token_lifetime_days * 86_400,
        rate_limits=settings.rate_limits(),
        session_policy=settings.session_policy(),
    )
    # After the app: Litestar installs its own handlers when it is made, and these replace them.
    configure_logging(settings.log_format, settings.log_level)
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws_max_size=MAX_FRAME,
        lifespan="on",
        ws="websockets-sansio",
        ws_ping_interval=None,  # devices ping; dead peers are found by TCP keepalive
        log_config=None,  # configure_logging's handler; one line per request is ours
        access_log=False,
        ssl_certfile=settings.certfile,
        ssl_keyfile=settings.keyfile,
    )
    drain = app.state.sync_connections.drain

    async def stop() -> None:
        app.state.event_streams.stop()
        await drain(DRAIN_SECONDS)

    await _Server(config, stop).serve(sockets=[sock])
    click.echo("Waymark stopped")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # every interface: name the machine
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def public_url_option(value: str | None) -> str | None:
    """``--public-url``: an http(s) URL with a host and no query; one line if not."""
    if value is None:
        return None
    try:
        return check_public_url(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _tls_problem(settings: Settings) -> str | None:
    """Why the certificate and key cannot serve TLS, in one line (uvicorn would print a
    traceback), or None."""
    if settings.certfile is None:
        return None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.certfile, settings.keyfile
        )
    except OSError as err:  # ssl.SSLError is an OSError
        name = settings.keyfile if err.filename == settings.keyfile else settings.certfile
        reason = err.strerror or getattr(err, "reason", None) or str(err)
        return f"cannot use the certificate {name}: {reason}"
    return None


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


async def _fanout_preflight(url: str) -> None:
    """Redis answers at ``url``, or one line now (a wrong URL is not an outage to wait out)."""
    try:
        await fanout_redis.ping(url)
    except (RedisError, OSError) as err:
        raise click.ClickException(
            f"cannot reach Redis at {fanout_redis.redacted(url)} (--fanout): {err}"
        ) from None


def fanout_option(value: str | None) -> str | None:
    """``--fanout``: a Redis URL; one line if not."""
    if value is None or value == "":
        return None
    try:
        return fanout_redis.check_url(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


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


class _GlobalOptionsGroup(_OneLineGroup):
    """A group whose own options may also come after its subcommand:
    ``admin user add bob --db URL`` is ``admin --db URL user add bob``.

    Before parsing, those options (and their values) are moved to the front, up to a
    ``--``. A subcommand's own option of the same name would be taken too, so none has one.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist(args, self._valued_options()))

    def _valued_options(self) -> set[str]:
        return {
            name
            for param in self.params
            if isinstance(param, click.Option) and not param.is_flag
            for name in param.opts
        }


def hoist(args: list[str], names: set[str]) -> list[str]:
    """``args`` with every ``--name VALUE`` / ``--name=VALUE`` of ``names`` moved to the
    front, in order; nothing after ``--`` is touched."""
    front: list[str] = []
    rest: list[str] = []
    items = iter(enumerate(args))
    for index, arg in items:
        if arg == "--":
            rest += args[index:]
            break
        name = arg.partition("=")[0]
        if name in names and "=" in arg:
            front.append(arg)
        elif arg in names:
            front.append(arg)
            following = next(items, None)
            if following is not None:
                front.append(following[1])
        else:
            rest.append(arg)
    return front + rest


class _UsageLine(click.ClickException):
    exit_code = 2


def _one_line(ctx: click.Context, err: click.UsageError) -> _UsageLine:
    return _UsageLine(f"{err.format_message().rstrip('.')} (see '{ctx.command_path} --help')")


def _default(name: str) -> str:
    return f"[default: {getattr(Settings(), name)}]"


@click.command(cls=_OneLine)
@config_option
@db_option
@click.option("--host", default=None, help=f"Address to listen on. {_default('host')}")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help=_default("port"))
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Load this catalog file before serving.",
)
@click.option(
    "--stale-device-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="A device silent this long stops holding its learner's settled horizon back. "
    + _default("stale_device_days"),
)
@click.option(
    "--wait-for-db",
    type=click.FloatRange(0, 3600),
    default=None,
    metavar="SECONDS",
    help="Retry an unreachable database for up to this long before giving up.",
)
@click.option(
    "--public-url",
    default=None,
    callback=lambda _ctx, _param, value: public_url_option(value),
    help="Where devices and verifiers reach this server (issuer id, certificate links); "
    "default: http(s)://HOST:PORT as listening. Never taken from a request's Host.",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False),
    default=None,
    help="PEM certificate (chain): serve HTTPS and WSS.",
)
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False),
    default=None,
    help="PEM private key of --certfile (if not inside it).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Allow browser calls from ORIGIN (repeatable; '*' for any). Default: no CORS.",
)
@click.option(
    "--fanout",
    default=None,
    metavar="REDIS_URL",
    callback=lambda _ctx, _param, value: fanout_option(value),
    help="Carry live updates between instances over Redis (redis://host:6379/0) instead of "
    "PostgreSQL LISTEN/NOTIFY.",
)
@click.option(
    "--fanout-channel-prefix",
    default=None,
    help="Redis channel <prefix>:feed; instances sharing a database share it (default: waymark).",
)
@click.option(
    "--metrics-token",
    default=None,
    help="Ask for 'Authorization: Bearer TOKEN' on /metrics (default: /metrics is open).",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default=None,
    help="Logs on stderr: one JSON object per line, or text for a person.",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default=None,
    help="The least severe log lines written (info: one per request and per merge).",
)
@click.option(
    "--clock-skew-seconds",
    type=click.IntRange(0, 86_400),
    default=None,
    help="How far ahead of this server's clock an event's time is taken as sent; "
    "beyond it the event is kept at the time it was received (default: 300).",
)
@click.option(
    "--token-lifetime-days",
    type=int,
    default=None,
    help="A device's bearer token expires this long after it was issued; the device then "
    "refreshes it (default: 30).",
)
def serve(
    config_file: Path | None,
    db: str | None,
    host: str | None,
    port: int | None,
    catalog_file: Path | None,
    stale_device_days: int | None,
    wait_for_db: float | None,
    public_url: str | None,
    certfile: str | None,
    keyfile: str | None,
    cors_origins: tuple[str, ...],
    fanout: str | None,
    fanout_channel_prefix: str | None,
    metrics_token: str | None,
    log_format: str | None,
    log_level: str | None,
    clock_skew_seconds: int | None,
    token_lifetime_days: int | None,
) -> None:
    """Run the sync server (SQLite by default; PostgreSQL with --db postgresql://…).

    Every option can also be set by its WAYMARK_* variable or in the --config file
    ('waymark config show' lists them all)."""
    settings = settings_for(
        config_file,
        database_url=db,
        host=host,
        port=port,
        catalog=None if catalog_file is None else str(catalog_file),
        stale_device_days=stale_device_days,
        wait_for_db=wait_for_db,
        public_url=public_url,
        certfile=certfile,
        keyfile=keyfile,
        cors_origins=cors_origins or None,
        fanout=fanout,
        fanout_channel_prefix=fanout_channel_prefix,
        metrics_token=metrics_token,
        log_format=log_format,
        log_level=None if log_level is None else log_level.lower(),
        clock_skew_seconds=clock_skew_seconds,
        token_lifetime_days=token_lifetime_days,
    ).settings
    click.get_current_context().meta[SETTINGS_KEY] = settings
    if (problem := _tls_problem(settings)) is not None:
        raise click.ClickException(problem)
    sock = bind(settings.host, settings.port)
    if not settings.tls and (warning := _plain_http_warning(settings.host)) is not None:
        click.echo(warning, err=True)
    _run(
        serve_async(
            settings.database_url,
            sock,
            catalog_file=None if settings.catalog is None else Path(settings.catalog),
            stale_device_ms=settings.stale_device_days * 86_400_000,
            wait_for_db=settings.wait_for_db,
            public_url=settings.public_url,
            settings=settings,
        )
    )


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ServerError as err:
        raise click.ClickException(err.detail) from None


async def _with_store(
    db: str, action: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Run ``action`` on the store at ``db``. Only ``create=True`` (``waymark admin init``)
    makes a missing SQLite file: a mistyped path is an error, not a new empty database."""
    # The command's settings (kept in the click context by serve and admin), so a decision
    # an admin command makes (a review after a catalog load, a rebuild, a grade) follows
    # the same enrollment limits as the server.
    ctx = click.get_current_context(silent=True)
    settings = ctx.meta.get(SETTINGS_KEY) if ctx is not None else None
    policy = settings.policy() if isinstance(settings, Settings) else None
    store = Store.for_url(db, policy=policy, create=create)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def _read_catalog(path: Path, quiz_defaults: QuizDefaults):  # type: ignore[no-untyped-def]
    try:
        data = path.read_bytes()
    except OSError as err:
        raise click.ClickException(f"{path}: {err.strerror}") from None
    try:
        return parse_catalog(
            data, format_for(path.name), source=str(path), quiz_defaults=quiz_defaults
        )
    except CatalogError as err:
        raise click.ClickException(str(err)) from None


@click.group(cls=_GlobalOptionsGroup)
@config_option
@db_option
@click.pass_context
def admin(ctx: click.Context, config_file: Path | None, db: str | None) -> None:
    """Administer users, devices and the catalog."""
    loaded = settings_for(config_file, database_url=db)
    ctx.meta[SETTINGS_KEY] = loaded.settings
    ctx.obj = loaded.settings.database_url


async def _migrated(db: str, *, create: bool) -> tuple[list[int], int]:
    store = Store.for_url(db, create=create)
    applied = await store.open()  # opening migrates, under a lock (safe with servers up)
    try:
        version = await store.engine.fetchval("SELECT MAX(version) FROM schema_version")
    finally:
        await store.close()
    return applied, int(version)


@admin.command("init")
@click.pass_obj
def init(db: str) -> None:
    """Create the database (a SQLite file, if it is missing) and its schema.

    The only command that creates one: every other command, ``serve`` included, refuses
    a SQLite path where there is no database."""

    async def run() -> tuple[Path | None, list[int], int]:
        engine = open_engine(db)
        new = engine.path if isinstance(engine, SqliteEngine) and not engine.path.exists() else None
        return (new, *await _migrated(db, create=True))

    new, applied, version = _run(run())
    if new is not None:
        click.echo(f"created SQLite database {new}; schema at version {version}")
    elif applied:
        click.echo(f"database ready; applied migrations {_numbers(applied)}; version {version}")
    else:
        click.echo(f"database ready; schema at version {version}; nothing to do")


def _numbers(applied: list[int]) -> str:
    return ", ".join(str(n) for n in applied)


@admin.command("migrate")
@click.pass_obj
def migrate(db: str) -> None:
    """Upgrade an existing database's schema, then exit: a deployment's step before its
    servers start."""
    applied, version = _run(_migrated(db, create=False))
    if applied:
        click.echo(f"applied migrations {_numbers(applied)}; schema at version {version}")
    else:
        click.echo(f"schema up to date at version {version}; nothing to apply")


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


@user.command("sign-out")
@click.argument("name")
@click.pass_obj
def user_sign_out(db: str, name: str) -> None:
    """End every web session of an instructor or admin at once (a lost laptop, a role
    taken away). Their devices are revoked with 'admin revoke DEVICE'."""

    async def sign_out(store: Store) -> int:
        found = await store.user_by_name(name)
        if found is None:
            raise click.ClickException(f"no user {name!r}")
        return await store.end_web_sessions_of(found.id)

    ended = _run(_with_store(db, sign_out))
    click.echo(f"ended {ended} web session{'' if ended == 1 else 's'} of {name}")


@admin.group()
def catalog() -> None:
    """Manage the catalog."""


@catalog.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def catalog_load(ctx: click.Context, file: Path) -> None:
    """Load a catalog file (JSON, TOML or YAML); a malformed file is refused whole.

    A quiz that leaves out its pass mark, attempt limits or cool-down gets the settings'
    (WAYMARK_ASSESSMENT_PASSING_SCORE, …; 'waymark config show')."""
    db: str = ctx.obj
    settings: Settings = ctx.meta[SETTINGS_KEY]
    parsed = _read_catalog(file, settings.quiz_defaults())
    version = _run(_with_store(db, lambda s: s.load_catalog(parsed)))
    lessons = sum(len(m.lessons) for c in parsed.courses for m in c.modules)
    click.echo(f"catalog {version}: {len(parsed.courses)} courses, {lessons} lessons")


@admin.command("devices")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead.")
@click.pass_obj
def devices(db: str, name: str, as_json: bool) -> None:
    """List a user's devices."""

    async def list_devices(store: Store) -> list[Device]:
        found = await store.user_by_name(name)
        if found is None:
            raise click.ClickException(f"no user {name!r}")
        return list(await store.devices_of(found.id))

    found = _run(_with_store(db, list_devices))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(found), indent=2).decode())
        return
    for device in found:
        state = "revoked" if device.revoked_at else "active"
        # pending: events it said at its last hello it holds unsent (unknown: not shown).
        pending = "" if device.pending is None else f"  pending={device.pending}"
        click.echo(f"{device.id}  {device.name!r}  {state}  acked_seq={device.acked_seq}{pending}")


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


@admin.group("events")
def events() -> None:
    """The event catalog (docs/events.md)."""


@events.command("schema")
@click.option(
    "--write",
    "target",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Rewrite the generated part of this file (docs/events.md) in place.",
)
def events_schema(target: Path | None) -> None:
    """Print the catalog's generated documentation: events, seed names, JSON Schemas."""
    if target is None:
        click.echo(render_markdown(), nl=False)
        return
    try:
        doc = target.read_text()
    except OSError as err:
        raise click.ClickException(f"{target}: {err.strerror}") from None
    try:
        fresh = splice(doc)
    except ValueError:
        raise click.ClickException(
            f"{target}: no generated part (the markers {GENERATED_BEGIN!r} and {GENERATED_END!r})"
        ) from None
    if fresh != doc:
        target.write_text(fresh)
    click.echo(f"{target}: {'rewritten' if fresh != doc else 'up to date'}")


@admin.group("token")
def token() -> None:
    """Service tokens for other systems, with scopes (docs/events.md)."""


@token.command("add")
@click.argument("name")
@click.option(
    "--scopes",
    required=True,
    help=f"Comma-separated: {', '.join(SERVICE_SCOPES)}.",
)
@click.pass_obj
def token_add(db: str, name: str, scopes: str) -> None:
    """Make a service token; it is printed this once (only its hash is kept)."""
    try:
        wanted = check_scopes(scopes.split(","))
    except ServerError as err:
        raise _UsageLine(f"--scopes: {err.detail}") from None
    made, _ = _run(_with_store(db, lambda s: s.add_service_token(name, wanted)))
    click.echo(made)
    click.echo(
        f"service token {name!r} ({', '.join(wanted)}): shown this once, keep it now",
        err=True,
    )


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead.")
@click.pass_obj
def token_list(db: str, as_json: bool) -> None:
    """List the service tokens (never the tokens themselves)."""
    found = _run(_with_store(db, lambda s: s.service_tokens()))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(found), indent=2).decode())
        return
    table = Table("name", "scopes", "created", "last used", "state")
    for item in found:
        table.add_row(
            item.name,
            " ".join(item.scopes),
            _iso(item.created_at),
            _iso(item.last_used_at),
            "revoked " + _iso(item.revoked_at) if item.revoked_at is not None else "active",
        )
    Console().print(table)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@token.command("revoke")
@click.argument("name")
@click.pass_obj
def token_revoke(db: str, name: str) -> None:
    """Revoke a service token at once: its next request is refused (401)."""
    if not _run(_with_store(db, lambda s: s.revoke_service_token(name))):
        raise click.ClickException(f"no live service token named {name!r}")
    click.echo(f"service token {name!r} revoked")


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


@group_.group("teacher")
def group_teacher() -> None:
    """Who teaches a group: instructors who see its learners in reports (besides its
    creator)."""


def _teachers(group: Group, teachers: list[str]) -> str:
    names = ", ".join(teachers) if teachers else "none"
    return f"group {group.name}: created by {group.created_by}, teachers: {names}"


def _set_teacher(db: str, name: str, username: str, teacher: bool) -> str:
    async def change(store: Store) -> str:
        found = await _find_group(store, name)
        user = await store.user_by_name(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        if teacher and user.role != "instructor":
            raise click.ClickException(f"{username} is not an instructor (role {user.role})")
        await store.set_teacher(found.id, user.id, teacher)
        return _teachers(found, await store.teachers(found.id))

    return _run(_with_store(db, change))


@group_teacher.command("add")
@click.argument("name")
@click.argument("user")
@click.pass_obj
def group_teacher_add(db: str, name: str, user: str) -> None:
    """Make instructor USER a teacher of group NAME: they see its learners in reports."""
    click.echo(_set_teacher(db, name, user, True))


@group_teacher.command("remove")
@click.argument("name")
@click.argument("user")
@click.pass_obj
def group_teacher_remove(db: str, name: str, user: str) -> None:
    """USER no longer teaches group NAME."""
    click.echo(_set_teacher(db, name, user, False))


def _due_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date YYYY-MM-DD", param_hint="'DUE'"
        ) from None
    return value


@group_.command("due")
@click.argument("name")
@click.argument("due", required=False, callback=_due_day)
@click.option("--clear", is_flag=True, help="Take the group's due date away.")
@click.pass_obj
def group_due(db: str, name: str, due: str | None, clear: bool) -> None:
    """Set group NAME's due date (DUE, YYYY-MM-DD) or take it away (--clear): reports
    measure predicted completion against it (docs/reports.md)."""
    if (due is None) == (not clear):
        raise _UsageLine("give either DUE (YYYY-MM-DD) or --clear")

    async def change(store: Store) -> Group:
        found = await _find_group(store, name)
        await store.set_group_due(found.id, due)
        return await _find_group(store, found.id)

    group = _run(_with_store(db, change))
    click.echo(f"group {group.name}: due {group.due or 'none'}")


@group_.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, members included.")
@click.pass_obj
def group_list(db: str, as_json: bool) -> None:
    """List every group with its number of members."""

    async def everything(store: Store) -> list[Group]:
        return [await _find_group(store, g.id, members=True) for g in await store.groups()]

    groups = _run(_with_store(db, everything))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(groups), indent=2).decode())
        return
    if not groups:
        click.echo("no groups")
    for group in groups:
        click.echo(f"{_members(group)} (created by {group.created_by})")


@click.group("config", cls=_OneLineGroup)
def config() -> None:
    """The server's settings (options, WAYMARK_* variables, a TOML file)."""


@config.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object: name -> value, source.")
def config_show(config_file: Path | None, as_json: bool) -> None:
    """Print every setting's effective value and where it came from, secrets masked.

    A bad setting is one line and exit 2, as 'waymark serve' would refuse it."""
    rows = shown(settings_for(config_file))
    if as_json:
        data = {
            str(r["name"]): {"value": r["value"], "source": r["source"], "env": r["env"]}
            for r in rows
        }
        click.echo(msgspec.json.encode(data).decode())
        return
    width = max(len(name) for name in FIELDS)
    values = [display(r) for r in rows]
    value_width = min(max(len(v) for v in values), 40)
    for row, value in zip(rows, values, strict=True):
        note = SPECS[str(row["name"])].used_by
        unused = f"  ({note})" if note else ""
        click.echo(f"{row['name']:<{width}}  {value:<{value_width}}  {row['source']}{unused}")


COMMANDS = [serve, admin, config]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve())
