"""What the OpenAPI document (``/schema/openapi.json``) says about every operation, so that it
is true of what the server does: the errors it can answer, the token it needs, and the
methods an ``OPTIONS`` lists.

Every error is an RFC 9457 problem detail, ``application/problem+json``
(:class:`ProblemDetails`; ``server/app.py`` maps exceptions to them). :class:`RouteDefaults`
declares, on each operation as it is registered, the ones it can produce:

* 400 when it has parameters or a body (a malformed value; the ``extra`` list says which),
* 401, 403 and 429 when it needs a device token (none, unknown or expired; a revoked
  device; more requests than the device's rate limit, ``server/ratelimit.py``),
* 413 when it takes a body (larger than Litestar's request limit),

and the security requirement ``BearerToken`` on every operation that is not public. What only
a handler knows (404, 409, 429, 503, a 403 for a role) it declares itself with
:func:`errors`. Litestar's own default, a 400 ``application/json {status_code, detail,
extra}`` that this server never sends, is replaced on every operation.

The WebSocket ``/v1/sync`` is not an OpenAPI operation: Litestar leaves WebSocket routes out
of the document, and ``docs/protocol.md`` describes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

from server.auth import PUBLIC

DESCRIPTION: Final = (
    "Waymark's REST API. Errors are RFC 9457 problem details (application/problem+json). "
    'JSON bodies are read strictly (0 is not false, "3" is not 3); text may not contain '
    "NUL (U+0000). Devices sync over the WebSocket /v1/sync, which OpenAPI cannot describe: "
    "see docs/protocol.md."
)
PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
SECURITY_SCHEME: Final = "BearerToken"


class ValidationIssue(msgspec.Struct, frozen=True):
    """One invalid value: what is wrong, which field (``key``) and where it was sent."""

    message: str
    key: str | msgspec.UnsetType = msgspec.UNSET
    source: str | msgspec.UnsetType = msgspec.UNSET
    """``body``, ``query``, ``path``, ``header`` or ``cookie``."""


class ProblemDetails(msgspec.Struct, frozen=True):
    """An RFC 9457 problem detail: the body of every error. ``title`` is the fixed phrase of
    the error, ``detail`` says what happened this time."""

    status: int
    title: str
    detail: str
    type: str | msgspec.UnsetType = msgspec.UNSET
    extra: list[ValidationIssue] | msgspec.UnsetType = msgspec.UNSET
    """The invalid values of a 400 answered for a malformed request."""


DESCRIPTIONS: Final = {
    400: "The request is malformed: a parameter or the body is invalid (the detail says "
    "which; for a value that does not match its schema, `extra` lists each)",
    401: "No device token, or one the server does not know: log in (POST /v1/auth/login); "
    "or one that expired: refresh it (POST /v1/auth/refresh)",
    403: "Not allowed: the device was revoked, or the user's role may not do this",
    404: "An id in the path does not exist (or the learner is not enrolled)",
    409: "Refused by the server's rules, or by what the catalog says about the item (a "
    "position past the lesson's end, a choice the question does not have); the detail says why",
    413: "The body is larger than the server accepts",
    429: "Too many attempts or requests for now; retry after the seconds in Retry-After",
    503: "A dependency (the store, the fan-out) is not available",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries of the problem details an endpoint can answer; :class:`RouteDefaults`
    adds the ones every operation of its kind has (400, 401, 403, 413, 429)."""
    return {
        status: ResponseSpec(
            ProblemDetails,
            description=DESCRIPTIONS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


def components() -> Components:
    """The document's shared parts: the device token scheme."""
    return Components(
        security_schemes={
            SECURITY_SCHEME: SecurityScheme(
                type="http",
                scheme="bearer",
                description="A device token from POST /v1/auth/login, sent as "
                "`Authorization: Bearer <token>`.",
            )
        }
    )


def _default_statuses(route: HTTPRoute, handler: HTTPRouteHandler) -> list[int]:
    has_body = handler.parsed_data_field is not None
    model = next((kwargs for h, kwargs in route.route_handler_map.values() if h is handler), None)
    has_parameters = has_body or (
        model is not None
        and bool(
            model.expected_path_params
            or model.expected_query_params
            or model.expected_header_params
            or model.expected_cookie_params
        )
    )
    statuses = [400] if has_parameters else []
    if not handler.opt.get(PUBLIC):
        statuses += [401, 403, 429]  # 429: the device's rate limit (server/auth.py)
    if has_body:
        statuses.append(413)
    return statuses


def _is_automatic_options(handler: HTTPRouteHandler) -> bool:
    """Litestar's own ``OPTIONS`` handler (``HTTPRoute.create_options_handler``)."""
    fn: Any = handler.fn
    return getattr(fn, "__module__", "") == "litestar.routes.http" and (
        getattr(fn, "__name__", "") == "options_handler"
    )


def _answer_options_from(route: HTTPRoute) -> None:
    """Make the route's automatic ``OPTIONS`` list every method the route has.

    Litestar 2 registers a controller's handlers one by one, rebuilding the route each time;
    the ``OPTIONS`` handler made for the first keeps listing only the methods that route had
    (litestar-org/litestar#4169, fixed in Litestar 3). One made for the final route lists
    them all."""
    found = route.route_handler_map.get("OPTIONS")
    if found is None or not _is_automatic_options(found[0]):
        return
    stale = found[0]
    fresh = route.create_options_handler(route.path)
    fresh.owner = stale.owner
    fresh.on_registration(stale.ownership_layers[0])  # type: ignore[arg-type]  # the app
    route.route_handlers[route.route_handlers.index(stale)] = fresh
    route.route_handler_map["OPTIONS"] = (
        fresh,
        fresh.create_kwargs_model(path_parameters=route.path_parameters),
    )


class RouteDefaults(ReceiveRoutePlugin):
    """Declares, on every operation as Litestar registers it, the problem details and the
    security requirement it has by its kind (see the module docstring); a handler's own
    ``responses`` win. Fixes the ``Allow`` of automatic ``OPTIONS`` answers too."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        _answer_options_from(route)
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            own: Mapping[int, ResponseSpec] = handler.responses or {}
            handler.responses = {**errors(*_default_statuses(route, handler)), **own}
            if not handler.opt.get(PUBLIC) and not handler.security:
                handler.security = [{SECURITY_SCHEME: []}]
