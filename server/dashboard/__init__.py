"""The instructors' web dashboard at ``/dashboard`` (``docs/dashboard.md``).

Server-rendered HTML (Jinja templates in ``templates/``), one stylesheet and one small
script in ``static/``, nothing from elsewhere. :func:`dashboard_router` is what the app
mounts, :func:`template_config` its templates; :class:`~server.dashboard.live.LiveFeed`
feeds open pages from the hub. Pages: ``pages`` (sign-in, sign-out, home), ``live``
(server-sent events), ``overview`` (the home page's data), ``charts`` (SVG), ``scope``
(who sees which learners), ``freshness``, ``errors`` (error pages), ``urls``. A report page
is one more handler here: ``viewer(request)``, the report's function, a template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from server.auth import PUBLIC
from server.dashboard.errors import EXCEPTION_HANDLERS
from server.dashboard.live import LiveFeed, live
from server.dashboard.pages import course_page, home, sign_in, sign_in_page, sign_out
from server.dashboard.urls import STATIC

__all__ = ["LiveFeed", "dashboard_router", "template_config"]

HERE: Final = Path(__file__).parent


def _static(name: str) -> str:
    return f"{STATIC}/{name}"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The dashboard's templates, autoescaped; an undefined name is an error, not blank."""
    env = Environment(
        loader=PackageLoader("server.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = _static
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def dashboard_router() -> Router:
    """Every dashboard route, left out of the OpenAPI document (they answer HTML), with
    HTML error pages. The static files are public (the sign-in page needs its CSS)."""
    static = create_static_files_router(
        path=STATIC,
        directories=[HERE / "static"],
        opt={PUBLIC: True},
        include_in_schema=False,
        name="dashboard:static",
    )
    return Router(
        path="/",
        route_handlers=[sign_in_page, sign_in, sign_out, home, course_page, live, static],
        include_in_schema=False,
        exception_handlers=EXCEPTION_HANDLERS,
    )
