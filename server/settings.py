"""The server's settings: one validated object, read at start.

Each setting comes from, in this order of precedence: a command-line option, the
environment variable ``WAYMARK_<NAME>``, the TOML file named by ``--config`` or
``WAYMARK_CONFIG`` (flat ``name = value`` keys), and last its default.
:func:`load_settings` returns the :class:`Settings` and where each value came from;
a bad value raises :class:`SettingsError`, one line naming its source
("WAYMARK_PORT: expected an integer from 0 to 65535, got 'abc'"). The table in
``docs/operations.md`` ("Configuration") lists them all; ``waymark config show`` prints
the effective values (:func:`shown`, secrets masked).
"""

from __future__ import annotations

import tomllib
import typing
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec
import msgspec.inspect

from server import fanout_redis
from server.errors import ServerError
from server.ratelimit import RateLimits
from server.storage.accounts import LoginThrottle, SessionPolicy
from sync.catalog import QuizDefaults
from sync.merge.decide import Policy

ENV_PREFIX: Final = "WAYMARK_"
CONFIG_ENV: Final = "WAYMARK_CONFIG"
UNLIMITED: Final = "unlimited"

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Hours = Annotated[float, msgspec.Meta(ge=0, le=8760)]
Positive = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Limit = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
"""A per-device rate limit; 0 turns it off."""
Enrollments = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None
"""An enrollment limit; ``None`` (written ``unlimited``) for none."""
Attempts = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None
"""An attempt limit; ``None`` (written ``unlimited``) for none."""


class SettingsError(ServerError):
    """A setting that cannot be used; ``detail`` is one line naming where it came from."""

    status = 500
    title = "Bad setting"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting of the server, with its default. See :data:`SPECS` for what each means."""

    # -- serving
    database_url: str = "sqlite:///waymark.db"
    host: str = "127.0.0.1"
    port: Port = 8765
    catalog: str | None = None
    stale_device_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    wait_for_db: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0.0
    public_url: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    cors_origins: tuple[str, ...] = ()
    # -- the seed's rules (seed 001, "Environment Variables")
    free_enrollment_limit: Enrollments = 2
    premium_enrollment_limit: Enrollments = None
    enrollment_cooldown_hours: Hours = 0.0
    assessment_passing_score: Annotated[float, msgspec.Meta(ge=0, le=100)] = 70.0
    free_assessment_attempt_limit: Attempts = 3
    premium_assessment_attempt_limit: Attempts = None
    assessment_cooldown_hours: Hours = 24.0
    progress_notifications_enabled: bool = True
    completion_celebrations_enabled: bool = True
    milestone_unlock_notifications_enabled: bool = True
    # -- security and operations
    token_lifetime_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    refresh_token_lifetime_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 180
    web_session_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 12
    web_session_idle_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 30
    metrics_token: str = ""
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    instrumentation: bool = True
    login_failures_per_name: Positive = 5
    login_failures_per_address: Positive = 20
    login_window_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 15
    rest_per_device_per_minute: Limit = 1200
    pushes_per_device_per_minute: Limit = 6000
    connects_per_device_per_minute: Limit = 120
    clock_skew_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 300
    fanout: str = ""
    fanout_channel_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = (
        "waymark"
    )

    # -- what the rest of the server is built from

    def policy(self) -> Policy:
        """The enrollment limits the merge enforces (:mod:`sync.merge.decide`)."""
        return Policy(
            free_enrollment_limit=self.free_enrollment_limit,
            premium_enrollment_limit=self.premium_enrollment_limit,
        )

    def quiz_defaults(self) -> QuizDefaults:
        """What a loaded catalog's quiz gets for a field it leaves out. The premium limit
        applies to everyone (a quiz's ``max_attempts``), the free one to free learners on
        top (``max_attempts_free``): a free learner gets the lower of the two."""
        return QuizDefaults(
            passing_score=self.assessment_passing_score / 100,
            max_attempts=self.premium_assessment_attempt_limit,
            max_attempts_free=self.free_assessment_attempt_limit,
            cooldown_seconds=round(self.assessment_cooldown_hours * 3600),
        )

    def login_throttle(self) -> LoginThrottle:
        return LoginThrottle(
            user_free=self.login_failures_per_name,
            address_free=self.login_failures_per_address,
            window_ms=self.login_window_minutes * 60_000,
        )

    def session_policy(self) -> SessionPolicy:
        """How long an instructor's or admin's web session lives (``server.auth``)."""
        return SessionPolicy(
            absolute_ms=self.web_session_hours * 3_600_000,
            idle_ms=self.web_session_idle_minutes * 60_000,
        )

    def rate_limits(self) -> RateLimits:
        """Each device's limits (``server.ratelimit``)."""
        return RateLimits(
            rest=self.rest_per_device_per_minute,
            push=self.pushes_per_device_per_minute,
            connect=self.connects_per_device_per_minute,
        )

    @property
    def tls(self) -> bool:
        return self.certfile is not None


class Spec(NamedTuple):
    """What a setting means, and how it is given besides its environment variable."""

    help: str
    option: str | None = None
    secret: bool = False
    used_by: str = ""
    """Empty when this branch uses the setting; else which piece of work will."""


SPECS: Final[dict[str, Spec]] = {
    "database_url": Spec(
        "sqlite:///PATH or postgresql://USER@HOST/DB (a password in it is masked)", "--db"
    ),
    "host": Spec("Address to listen on.", "--host"),
    "port": Spec("Port to listen on (0: any free port).", "--port"),
    "catalog": Spec("A catalog file to load before serving.", "--catalog"),
    "stale_device_days": Spec(
        "A device silent this long stops holding its learner's settled horizon back.",
        "--stale-device-days",
    ),
    "wait_for_db": Spec(
        "Seconds to retry an unreachable database before giving up.", "--wait-for-db"
    ),
    "public_url": Spec(
        "Where devices and verifiers reach this server (issuer id, certificate links); "
        "default: the listening address. Never taken from a request's Host.",
        "--public-url",
    ),
    "certfile": Spec("PEM certificate (chain): serve HTTPS and WSS.", "--certfile"),
    "keyfile": Spec("PEM private key of the certificate (if not in the certfile).", "--keyfile"),
    "cors_origins": Spec(
        "Origins allowed to call the API from a browser, comma-separated (or '*'); "
        "empty: no CORS headers at all.",
        "--cors-origin",
    ),
    "free_enrollment_limit": Spec("Active path enrollments of a free learner (or unlimited)."),
    "premium_enrollment_limit": Spec("Active path enrollments of a premium learner."),
    "enrollment_cooldown_hours": Spec(
        "Wait before re-enrolling in a dropped path.",
        used_by="not yet used: enrollments have no cool-down; only 0 is accepted",
    ),
    "assessment_passing_score": Spec(
        "Pass mark in percent for a quiz whose catalog entry sets no passing_score."
    ),
    "free_assessment_attempt_limit": Spec(
        "Counted attempts of a free learner at a quiz whose catalog entry sets no "
        "max_attempts_free (or unlimited)."
    ),
    "premium_assessment_attempt_limit": Spec(
        "Counted attempts of every learner at a quiz whose catalog entry sets no "
        "max_attempts (or unlimited)."
    ),
    "assessment_cooldown_hours": Spec(
        "Wait between counted attempts at a quiz whose catalog entry sets no cooldown_seconds."
    ),
    "progress_notifications_enabled": Spec(
        "Notify learners of progress.",
        used_by="not yet used: the server sends no notifications; devices show progress",
    ),
    "completion_celebrations_enabled": Spec(
        "Celebrate completions, badges and levels.",
        used_by="not yet used: devices celebrate from their feed; no switch reaches them",
    ),
    "milestone_unlock_notifications_enabled": Spec(
        "Notify learners when a milestone unlocks.",
        used_by="not yet used: the server sends no notifications",
    ),
    "token_lifetime_days": Spec(
        "A device's bearer token expires this long after it was issued; the device then "
        "refreshes it.",
        "--token-lifetime-days",
    ),
    "refresh_token_lifetime_days": Spec(
        "A refresh token expires this long after it was issued (the learner then logs in "
        "again); at least the token lifetime."
    ),
    "web_session_hours": Spec(
        "An instructor's or admin's web session (the web pages' sign-in) ends this long "
        "after it began."
    ),
    "web_session_idle_minutes": Spec("A web session ends after this long without a request."),
    "metrics_token": Spec(
        "Bearer token /metrics asks for (empty: open).", "--metrics-token", secret=True
    ),
    "log_format": Spec(
        "Logs on stderr: json (one object per line) or text for a person.", "--log-format"
    ),
    "log_level": Spec(
        "The least severe log lines written: debug, info (one per request and per merge),"
        " warning or error.",
        "--log-level",
    ),
    "instrumentation": Spec(
        "Metrics at /metrics and the log line per request and per merge; false drops them"
        " (only to measure what they cost: waymark bench --scenario overhead)."
    ),
    "login_failures_per_name": Spec(
        "Failed logins per user name within the window before lock-outs start."
    ),
    "login_failures_per_address": Spec(
        "Failed logins per client address within the window before lock-outs start."
    ),
    "login_window_minutes": Spec("The window failed logins are counted in."),
    "rest_per_device_per_minute": Spec(
        "REST requests one device may make per minute (a minute's worth at once); over it:"
        " 429. 0: no limit."
    ),
    "pushes_per_device_per_minute": Spec(
        "WebSocket pushes one device may make per minute; over it: rate_limited, push"
        " later. 0: no limit."
    ),
    "connects_per_device_per_minute": Spec(
        "WebSocket connection attempts one device may make per minute; over it: close"
        " 4429. 0: no limit."
    ),
    "clock_skew_seconds": Spec(
        "How far ahead of the server's clock an event's time is taken as sent; beyond it"
        " the event is kept at the time the server received it (docs/protocol.md, Time).",
        "--clock-skew-seconds",
    ),
    "fanout": Spec(
        "Empty (the database's own fan-out: PostgreSQL LISTEN/NOTIFY) or a Redis URL"
        " (redis://, rediss://, unix://) carrying live updates between instances.",
        "--fanout",
    ),
    "fanout_channel_prefix": Spec(
        "Redis channel <prefix>:feed; instances sharing a database share it.",
        "--fanout-channel-prefix",
    ),
}

_HINTS: Final = typing.get_type_hints(Settings, include_extras=True)
_STRUCT: Final = typing.cast(msgspec.inspect.StructType, msgspec.inspect.type_info(Settings))
_INFO: Final = {f.name: f.type for f in _STRUCT.fields}
FIELDS: Final = tuple(_HINTS)


def env_var(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


class Loaded(NamedTuple):
    settings: Settings
    sources: dict[str, str]
    """Setting name -> ``default``, ``file PATH``, ``env VAR`` or ``option --NAME``."""


def load_settings(
    *,
    options: Mapping[str, object] | None = None,
    env: Mapping[str, str],
    config_file: str | Path | None = None,
) -> Loaded:
    """The settings from ``options`` (name -> value; ``None`` means not given), ``env`` and
    the TOML file ``config_file`` (else ``env[WAYMARK_CONFIG]``, else none), validated.

    Raises :class:`SettingsError` for the first bad value, an unknown file key or an
    unreadable file.
    """
    values: dict[str, Any] = {}
    sources = dict.fromkeys(FIELDS, "default")
    labels: dict[str, str] = {}
    path = config_file if config_file is not None else env.get(CONFIG_ENV) or None
    if path is not None:
        for name, raw in _read_file(Path(path)).items():
            labels[name] = f"{path}: {name}"
            values[name] = _value(name, raw, labels[name], text=False)
            sources[name] = f"file {path}"
    for name in FIELDS:
        var = env_var(name)
        if var in env:
            labels[name] = var
            values[name] = _value(name, env[var], var, text=True)
            sources[name] = f"env {var}"
    for name, raw in (options or {}).items():
        if raw is not None:
            option = SPECS[name].option or name
            labels[name] = option
            values[name] = _value(name, raw, option, text=False)
            sources[name] = f"option {option}"
    settings = Settings(**values)
    _check_together(settings, labels)
    return Loaded(settings, sources)


def _read_file(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"{path}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: not valid TOML: {err}") from None
    for key in data:
        if key not in _HINTS:
            raise SettingsError(f"{path}: unknown setting {key!r} (see 'waymark config show')")
    return data


def _value(name: str, raw: object, label: str, *, text: bool) -> object:
    """``raw`` as setting ``name`` holds it; ``text`` when it came from the environment."""
    value = raw
    if text and isinstance(raw, str):
        if _INFO[name] == _STR_OR_NONE and raw == "":
            return None
        if isinstance(_INFO[name], msgspec.inspect.VarTupleType):
            value = tuple(item.strip() for item in raw.split(",") if item.strip())
    if raw == UNLIMITED and _nullable_int(_INFO[name]):
        return None
    try:
        return msgspec.convert(value, _HINTS[name], strict=not text)
    except msgspec.ValidationError:
        raise SettingsError(f"{label}: expected {_expects(_INFO[name])}, got {raw!r}") from None


_STR_OR_NONE: Final = msgspec.inspect.type_info(str | None)


def _nullable_int(info: msgspec.inspect.Type) -> bool:
    return isinstance(info, msgspec.inspect.UnionType) and any(
        isinstance(t, msgspec.inspect.IntType) for t in info.types
    )


def _expects(info: msgspec.inspect.Type) -> str:
    """What a value of ``info`` looks like, in words ("an integer from 0 to 65535")."""
    match info:
        case msgspec.inspect.IntType(ge=ge, le=le) | msgspec.inspect.FloatType(ge=ge, le=le):
            kind = "an integer" if isinstance(info, msgspec.inspect.IntType) else "a number"
            return f"{kind} from {ge} to {le}" if ge is not None and le is not None else kind
        case msgspec.inspect.BoolType():
            return "true or false"
        case msgspec.inspect.LiteralType(values=values):
            return "one of " + ", ".join(str(v) for v in values)
        case msgspec.inspect.UnionType(types=types):
            inner = [_expects(t) for t in types if not isinstance(t, msgspec.inspect.NoneType)]
            extra = f" or {UNLIMITED!r}" if _nullable_int(info) else ""
            return " or ".join(inner) + extra
        case msgspec.inspect.VarTupleType() | msgspec.inspect.ListType():
            return "a list of text (comma-separated in the environment)"
        case _:
            return "text"


def _check_together(settings: Settings, labels: dict[str, str]) -> None:
    """What a single value's type cannot say: URLs, and settings that need each other."""

    def bad(name: str, problem: str) -> SettingsError:
        return SettingsError(f"{labels.get(name, name)}: {problem}")

    if settings.public_url is not None:
        try:
            check_public_url(settings.public_url)
        except ValueError as err:
            raise bad("public_url", str(err)) from None
    if settings.keyfile is not None and settings.certfile is None:
        raise bad("keyfile", "a keyfile needs a certfile too")
    for origin in settings.cors_origins:
        parts = urllib.parse.urlsplit(origin)
        if origin != "*" and (
            parts.scheme not in ("http", "https") or not parts.hostname or parts.path
        ):
            raise bad("cors_origins", f"{origin!r} is not '*' or an origin like https://host")
    if settings.fanout:
        try:
            fanout_redis.check_url(settings.fanout)
        except ValueError as err:
            raise bad("fanout", str(err)) from None
    if settings.refresh_token_lifetime_days < settings.token_lifetime_days:
        raise bad(
            "refresh_token_lifetime_days",
            f"{settings.refresh_token_lifetime_days} days is shorter than the token lifetime "
            f"({settings.token_lifetime_days}): a refresh token must outlive the token it renews",
        )
    if settings.enrollment_cooldown_hours:
        raise bad("enrollment_cooldown_hours", "enrollments have no cool-down yet; only 0")


def check_public_url(value: str) -> str:
    """An http(s) URL with a host and no query, without a trailing slash; else ValueError."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an http:// or https:// URL of this server")
    return value.rstrip("/")


# -- showing them --------------------------------------------------------------------------

MASK: Final = "****"


def shown(loaded: Loaded) -> list[dict[str, object]]:
    """One row per setting (name, env, value, source), secrets masked: what
    ``waymark config show`` prints."""
    rows: list[dict[str, object]] = []
    for name in FIELDS:
        value = getattr(loaded.settings, name)
        if SPECS[name].secret and value:
            value = MASK
        elif isinstance(value, str) and "://" in value:
            value = mask_url(value)
        elif isinstance(value, tuple):
            value = list(value)
        rows.append(
            {"name": name, "env": env_var(name), "value": value, "source": loaded.sources[name]}
        )
    return rows


def mask_url(url: str) -> str:
    """``url`` with the password of its user part (if any) replaced by ``****``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{name}:{MASK}@{host}"))


def display(row: Mapping[str, object]) -> str:
    """A row's value as the text table shows it (as the environment would take it)."""
    value = row["value"]
    if value is None:
        return UNLIMITED if _nullable_int(_INFO[str(row["name"])]) else "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or '""'
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else '""'
