"""Security headers on every HTTP response, and the CORS policy (off unless configured).

:func:`security_headers` returns a Litestar ``before_send`` hook: it sees every response
start the application sends, the ones made from errors too (401, 404, problem details,
the OpenAPI pages), which route middleware would not. WebSocket messages pass untouched.
:func:`cors_config` is Litestar's own CORS middleware, or ``None`` for no CORS headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from litestar.config.cors import CORSConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

JSON_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
"""An API answer is data: nothing in it may load, run or be framed."""

HTML_CSP: Final = (
    "default-src 'self'; "
    # The OpenAPI pages (/schema) load their viewer's script and styles from these CDNs.
    "script-src 'self' 'unsafe-inline' https://cdn.redoc.ly https://cdn.jsdelivr.net "
    "https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com "
    "https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
    "worker-src 'self' blob:; frame-ancestors 'none'"
)

DASHBOARD_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The dashboard's pages (``/dashboard``): their own stylesheet, script and live stream,
nothing inline (no inline script or style: the templates have none), nothing from
elsewhere, forms posting only here."""

DASHBOARD_PREFIX: Final = "/dashboard"

HSTS: Final = "max-age=31536000"
"""One year; sent only when the server is reached over HTTPS (RFC 6797 §7.2)."""

_ALWAYS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

Hook = Callable[[Message, Scope], Awaitable[None]]


def security_headers(*, https: bool) -> Hook:
    """The ``before_send`` hook; ``https`` when TLS is on or the public URL is https (then
    ``Strict-Transport-Security`` too). A header the handler set itself is kept."""
    always = dict(_ALWAYS)
    if https:
        always["Strict-Transport-Security"] = HSTS

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in always.items():
            if name not in headers:
                headers[name] = value
        if "Content-Security-Policy" not in headers:
            path = str(scope.get("path", ""))
            html = headers.get("content-type", "").startswith("text/html")
            if path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/"):
                headers["Content-Security-Policy"] = DASHBOARD_CSP
            else:
                headers["Content-Security-Policy"] = HTML_CSP if html else JSON_CSP
        # An answer to a request with credentials is that user's data: never stored by a
        # browser or a shared cache.
        if _has_credentials(scope) and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"

    return add


def _has_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"cookie") for name, _ in scope.get("headers", ()))


def cors_config(origins: Sequence[str]) -> CORSConfig | None:
    """CORS for ``origins`` (``*`` for any), or ``None`` when there are none: then no
    ``Access-Control-*`` header is ever sent and browsers keep their same-origin rule.
    Tokens travel in ``Authorization``, so credentials (cookies) are not allowed."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,
        max_age=600,
    )
