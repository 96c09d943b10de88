"""The dashboard's pages: sign-in and sign-out forms and the home page.

Pages are server-rendered and work without JavaScript. Every page but the sign-in form
is behind the web session (the ``waymark_session`` cookie, checked by the authentication
middleware like any API request); without one a page redirects to the sign-in form (303)
and the form brings the browser back. Form posts cannot carry the ``X-CSRF-Token`` header,
so the two forms are public handlers that check the CSRF token of a hidden field
themselves: sign-out against the session's token, sign-in against a token bound to a
``waymark_signin`` cookie the form page set (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import Cookie, UploadFile
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.response import Redirect, Template

from server.api.auth import authenticate, start_web_session
from server.auth import PUBLIC, SESSION_COOKIE, WEB_ROLES, Principal
from server.dashboard.course import course_context
from server.dashboard.freshness import (
    local_time,
)
from server.dashboard.overview import Sort, overview
from server.dashboard.urls import COURSES, ROOT, SIGN_IN, SIGN_OUT
from server.errors import TooManyRequests
from server.reports.course import course_report
from server.reports.scope import report_scope
from server.storage.accounts import csrf_token
from server.storage.store import Store

SIGNIN_COOKIE: Final = "waymark_signin"
"""Binds the sign-in form's CSRF token to this browser (a page of another site cannot
read it, so cannot sign the browser in to an account of its choosing)."""
NAV: Final = (("Overview", ROOT),)
"""The navigation, in order; report pages add themselves here."""


class BadForm(ClientException):
    """A form post that is not the form the page sent (400)."""


def now_ms(request: Request[Any, Any, Any]) -> int:
    store: Store = request.app.state.store
    return store.clock()


def base_context(request: Request[Any, Any, Any], principal: Principal | None) -> dict[str, Any]:
    """What every page's layout needs: the viewer, the session's CSRF token for the
    sign-out form, the navigation and the server's time."""
    now = now_ms(request)
    if principal is not None and principal.session is None:
        principal = None  # a device's token: no sign-out form to offer
    tz = principal.user.timezone if principal else "UTC"
    path = request.url.path
    return {
        "viewer": principal.user if principal else None,
        "csrf": csrf_token(str(request.scope.get("auth"))) if principal else "",
        "nav": [{"label": label, "url": url, "current": path == url} for label, url in NAV],
        "home_url": ROOT,
        "sign_out_url": SIGN_OUT,
        "now_text": local_time(now, tz),
    }


def viewer(request: Request[Any, Any, Any]) -> Principal:
    """The signed-in instructor or admin of a dashboard page. A device's bearer token
    gets a 403 page: the dashboard is for web sessions."""
    principal = request.user
    if not isinstance(principal, Principal) or principal.session is None:
        raise PermissionDeniedException(
            "the dashboard needs a web session: sign in at /dashboard/sign-in"
        )
    return principal


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path of this server, never elsewhere
    (no ``//host``, no scheme), and never the sign-in form itself."""
    if (
        not target
        or not (target == ROOT or target.startswith(ROOT + "/") or target.startswith(ROOT + "?"))
        or "\\" in target
        or any(ord(c) < 0x20 for c in target)
        or target.startswith(SIGN_IN)
        or "/.." in target
    ):
        return ROOT
    return target


async def read_form(
    request: Request[Any, Any, Any], required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, str]:
    """The form's fields, each sent once as text (``optional`` ones may be missing: then
    empty). Raises :class:`BadForm` for anything else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise BadForm("send the form as application/x-www-form-urlencoded")
    try:
        form = await request.form()
    except Exception as err:  # the parser's errors are many; any means "not a form"
        raise BadForm(f"the form could not be read: {type(err).__name__}") from None
    fields: dict[str, str] = {}
    for name in (*required, *optional):
        values = form.getall(name) if name in form else []
        if not values and name in optional:
            fields[name] = ""
            continue
        if len(values) != 1:
            raise BadForm(f"the form needs one {name!r} field (got {len(values)})")
        value = values[0]
        if isinstance(value, UploadFile) or not isinstance(value, str):
            raise BadForm(f"the {name!r} field must be text, not a file")
        if len(value) > 2000 or "\x00" in value:
            raise BadForm(f"the {name!r} field is too long or holds NUL")
        fields[name] = value
    return fields


def _same(sent: str, expected: str) -> bool:
    return hmac.compare_digest(sent.encode(), expected.encode())


def _cookie(request: Request[Any, Any, Any], key: str, value: str, **kw: Any) -> Cookie:
    secure = bool(getattr(request.app.state, "secure_cookies", False))
    return Cookie(key=key, value=value, httponly=True, samesite="strict", secure=secure, **kw)


def _sign_in_form(
    request: Request[Any, Any, Any],
    *,
    next_: str,
    status: int = 200,
    error: str = "",
    notice: str = "",
    username: str = "",
    headers: Mapping[str, str] | None = None,
) -> Template:
    """The sign-in page; sets its ``waymark_signin`` cookie when the browser lacks one."""
    token = request.cookies.get(SIGNIN_COOKIE) or ""
    cookies = []
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
        cookies.append(_cookie(request, SIGNIN_COOKIE, token, path=ROOT))
    context = {
        **base_context(request, None),
        "csrf": csrf_token(token),
        "next": safe_next(next_),
        "sign_in_url": SIGN_IN,
        "error": error,
        "notice": notice,
        "username": username,
    }
    return Template(
        "sign_in.html",
        context=context,
        status_code=status,
        cookies=cookies,
        headers=dict(headers or {}),
    )


@get(SIGN_IN, opt={PUBLIC: True}, name="dashboard:sign-in", sync_to_thread=False)
def sign_in_page(
    request: Request[Any, Any, Any], next: str | None = None, signed_out: bool = False
) -> Template:
    """The sign-in form; ``next``: the dashboard page to return to."""
    notice = "You are signed out." if signed_out else ""
    return _sign_in_form(request, next_=next or ROOT, notice=notice)


@post(SIGN_IN, opt={PUBLIC: True}, name="dashboard:sign-in-post", status_code=303)
async def sign_in(request: Request[Any, Any, Any], store: Store) -> Template | Redirect:
    """Check the form's CSRF token, then the name and password (failures count in the
    login throttle as every login does); sign the browser in and go to ``next``."""
    form = await read_form(request, ("username", "password", "csrf"), ("next",))
    target = safe_next(form["next"])
    bound = request.cookies.get(SIGNIN_COOKIE) or ""
    if not bound or not _same(form["csrf"], csrf_token(bound)):
        return _sign_in_form(
            request,
            next_=target,
            status=403,
            error="This sign-in form expired or did not come from this site. Please sign in again.",
            username=form["username"],
        )
    if not form["username"] or not form["password"]:
        return _sign_in_form(
            request,
            next_=target,
            status=400,
            error="Enter your user name and your password.",
            username=form["username"],
        )
    try:
        user = await authenticate(store, request, form["username"], form["password"])
    except NotAuthorizedException:
        return _sign_in_form(
            request,
            next_=target,
            status=401,
            error="Wrong user name or password.",
            username=form["username"],
        )
    except TooManyRequests as err:
        return _sign_in_form(
            request,
            next_=target,
            status=429,
            error=f"Too many failed sign-ins: try again in {err.retry_after} s.",
            username=form["username"],
            headers={"Retry-After": str(err.retry_after)},
        )
    if user.role not in WEB_ROLES:
        return _sign_in_form(
            request,
            next_=target,
            status=403,
            error="This is a learner's account. The dashboard is for instructors and "
            "administrators; learners sign in on their devices.",
            username=form["username"],
        )
    _, cookie = await start_web_session(store, request, user)
    gone = Cookie(key=SIGNIN_COOKIE, value="", path=ROOT, max_age=0, expires=0)
    return Redirect(target, status_code=303, cookies=[cookie, gone])


@post(SIGN_OUT, opt={PUBLIC: True}, name="dashboard:sign-out", status_code=303)
async def sign_out(request: Request[Any, Any, Any], store: Store) -> Redirect:
    """End this browser's session (the form's CSRF token must be the session's) and go to
    the sign-in form. Without a session there is nothing to end: straight there."""
    form = await read_form(request, ("csrf",))
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        if not _same(form["csrf"], csrf_token(session)):
            raise PermissionDeniedException(
                "this sign-out form did not come from your session: reload the page"
            )
        await store.end_web_session(session)
        request.app.state.dashboard_live.signed_out(session)
    gone = Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0, expires=0)
    return Redirect(f"{SIGN_IN}?signed_out=true", status_code=303, cookies=[gone])


@get(ROOT, name="dashboard:home")
async def home(request: Request[Any, Any, Any], store: Store, sort: Sort = "name") -> Template:
    """The viewer's learners (with their devices' freshness), groups and the catalog's
    courses. ``sort``: ``name`` or ``last-sync`` (longest silent first)."""
    principal = viewer(request)
    data = await overview(store, principal.user, now=now_ms(request), sort=sort)
    return Template("home.html", context={**base_context(request, principal), **data})


@get(f"{COURSES}/{{course:str}}", name="dashboard:course")
async def course_page(
    request: Request[Any, Any, Any], store: Store, course: str, group: str | None = None
) -> Template:
    """A course's report: the funnel, the weeks, each learner (``group``: one group's)."""
    principal = viewer(request)
    scope = await report_scope(store, principal.user, group=group)
    report = await course_report(store, scope, course)
    context = course_context(report, principal.user, group)
    return Template("course.html", context={**base_context(request, principal), **context})


def sign_in_redirect(request: Request[Any, Any, Any]) -> Redirect:
    """To the sign-in form, to come back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"{SIGN_IN}?next={quote(here, safe='/')}", status_code=303)
