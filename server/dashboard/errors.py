"""Errors on dashboard pages are pages too: HTML with the status, what went wrong and a
way back, never problem-details JSON or a traceback. A page asked for without a session
redirects to the sign-in form instead (303)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from server.auth import Principal
from server.dashboard.pages import base_context, sign_in_redirect
from server.errors import ServerError, TooManyRequests

log = logging.getLogger("waymark.dashboard")


def _page(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
) -> Template:
    found = request.scope.get("user")
    principal = found if isinstance(found, Principal) else None
    context = {
        **base_context(request, principal),
        "status": status,
        "title": HTTPStatus(status).phrase,
        "detail": detail,
    }
    return Template("error.html", context=context, status_code=status, headers=headers or {})


def _wants_events(request: Request[Any, Any, Any]) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    if (
        isinstance(exc, NotAuthorizedException)
        and request.method in ("GET", "HEAD")
        and not _wants_events(request)
    ):
        return sign_in_redirect(request)
    detail = str(exc.detail)
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        issues = [
            f"{i.get('key') or 'value'}: {i.get('message')}"
            for i in exc.extra
            if isinstance(i, dict)
        ]
        detail = f"{detail} ({'; '.join(issues)})" if issues else detail
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "retry-after"}
    return _page(request, exc.status_code, detail, headers)


def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, ServerError)
    if exc.status == 401 and request.method in ("GET", "HEAD") and not _wants_events(request):
        return sign_in_redirect(request)
    if exc.status >= 500:  # the detail may name the database: for the log only
        log.warning("dashboard page failed: %s", exc.detail)
        return _page(request, exc.status, "The server cannot answer now; try again later.")
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return _page(request, exc.status, exc.detail, headers)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled error on a dashboard page", exc_info=exc)
    return _page(request, 500, "The server failed; it was logged.")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HTTPException: http_error,
    ServerError: server_error,
    Exception: internal_error,
}
