"""``waymark serve``'s options for device tokens and per-device rate limits, gathered into
the keyword arguments of :func:`server.app.create_app` (so ``serve`` takes one more
parameter, not six). Each has a ``WAYMARK_*`` variable; ``docs/operations.md`` ("Tokens",
"Rate limits") says what they mean."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from server.ratelimit import RateLimits
from server.storage.accounts import DAY_MS, TokenPolicy

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULT_LIMITS = RateLimits()
_DEFAULT_TOKENS = TokenPolicy()


def access_options(command: F) -> F:
    """Add the options to ``command``, which receives them as ``access``: the keyword
    arguments for ``create_app``."""

    @functools.wraps(command)
    def run(
        *args: Any,
        token_lifetime_days: int,
        refresh_lifetime_days: int,
        rate_rest_per_minute: int,
        rate_push_per_minute: int,
        rate_connect_per_minute: int,
        **kwargs: Any,
    ) -> Any:
        if refresh_lifetime_days < token_lifetime_days:
            raise click.ClickException(
                f"--refresh-lifetime-days {refresh_lifetime_days} is shorter than "
                f"--token-lifetime-days {token_lifetime_days}: a refresh token must outlive "
                "the token it renews"
            )
        access = {
            "token_lifetime_s": token_lifetime_days * 86_400,
            "refresh_lifetime_s": refresh_lifetime_days * 86_400,
            "rate_limits": RateLimits(
                rest=rate_rest_per_minute,
                push=rate_push_per_minute,
                connect=rate_connect_per_minute,
            ),
        }
        return command(*args, access=access, **kwargs)

    options = [
        click.option(
            "--token-lifetime-days",
            envvar="WAYMARK_TOKEN_LIFETIME_DAYS",
            type=click.IntRange(1, 3650),
            default=_DEFAULT_TOKENS.access_ms // DAY_MS,
            show_default=True,
            help="A device's bearer token expires this long after it was issued; the device "
            "then refreshes it.",
        ),
        click.option(
            "--refresh-lifetime-days",
            envvar="WAYMARK_REFRESH_LIFETIME_DAYS",
            type=click.IntRange(1, 3650),
            default=_DEFAULT_TOKENS.refresh_ms // DAY_MS,
            show_default=True,
            help="A refresh token expires this long after it was issued (the learner then "
            "logs in again).",
        ),
        _rate("rest", "REST requests", _DEFAULT_LIMITS.rest),
        _rate("push", "WebSocket pushes", _DEFAULT_LIMITS.push),
        _rate("connect", "WebSocket connection attempts", _DEFAULT_LIMITS.connect),
    ]
    for option in reversed(options):
        run = option(run)
    return run  # type: ignore[return-value]


def _rate(scope: str, what: str, default: int) -> Callable[[F], F]:
    return click.option(
        f"--rate-{scope}-per-minute",
        envvar=f"WAYMARK_RATE_{scope.upper()}_PER_MINUTE",
        type=click.IntRange(0, 10_000_000),
        default=default,
        show_default=True,
        help=f"{what} one device may make per minute (a minute's worth at once); 0: no limit.",
    )
