"""``server.logs``: one JSON object per line with the record's fields and the request id,
request ids kept only when safe, and one line per request with its real status, errors
raised by a later middleware (authentication) included."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import ASGIMiddleware
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from server.errors import Conflict
from server.logs import (
    JsonFormatter,
    RequestLogging,
    TextFormatter,
    echo_request_id,
    fields,
    new_request_id,
    request_id,
    status_of,
)


def record(msg: str = "merge", **extra: Any) -> logging.LogRecord:
    rec = logging.LogRecord("waymark.merge", logging.INFO, __file__, 1, msg, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_holds_the_fields_and_the_request_id() -> None:
    token = request_id.set("req-1")
    try:
        line = JsonFormatter().format(record(**fields(learner="u1", accepted=3)))
    finally:
        request_id.reset(token)
    parsed = json.loads(line)
    assert parsed["msg"] == "merge" and parsed["level"] == "info"
    assert parsed["logger"] == "waymark.merge" and parsed["request_id"] == "req-1"
    assert (parsed["learner"], parsed["accepted"]) == ("u1", 3)
    assert parsed["ts"].endswith("+00:00")


def test_a_traceback_stays_on_the_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed", exc_info=sys.exc_info())
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]
    assert "request_id" not in json.loads(line)  # none outside a request


def test_the_text_format_is_for_people() -> None:
    text = TextFormatter().format(record(**fields(accepted=3)))
    assert "INFO" in text and "waymark.merge merge accepted=3" in text


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("abc-123", True),
        ("0f3a.b:c_d", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("two words", False),
        ('quote"', False),
        ("line\nbreak", False),
        ("é", False),
        (None, False),
    ],
)
def test_an_offered_request_id_is_kept_only_when_short_and_plain(
    offered: str | None, kept: bool
) -> None:
    rid = new_request_id(offered)
    assert (rid == offered) is kept
    assert 1 <= len(rid) <= 64


def test_the_status_of_an_error_is_what_litestar_answers() -> None:
    assert status_of(NotAuthorizedException("no")) == 401
    assert status_of(Conflict("refused")) == 409
    assert status_of(RuntimeError("bug")) == 500


class Deny(ASGIMiddleware):
    """Refuses ``/deny`` the way the authentication middleware does: by raising."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"] == "/deny":
            raise NotAuthorizedException("no token")
        await next_app(scope, receive, send)


@get(["/ok", "/deny"])
async def answer() -> str:
    return "ok"


def test_one_line_per_request_with_its_status_and_the_id_echoed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Litestar(
        [answer],
        middleware=[RequestLogging(), Deny()],
        before_send=[echo_request_id],
        logging_config=None,  # Litestar's would replace the capture's handler
    )
    with caplog.at_level(logging.INFO, logger="waymark.http"), TestClient(app) as client:
        ok = client.get("/ok", headers={"X-Request-ID": "mine-1"})
        denied = client.get("/deny")
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "mine-1"
    assert denied.status_code == 401 and len(denied.headers["x-request-id"]) == 32
    lines = [r.fields for r in caplog.records if r.name == "waymark.http"]  # type: ignore[attr-defined]
    assert [(x["path"], x["status"]) for x in lines] == [("/ok", 200), ("/deny", 401)]
    assert all(x["duration_ms"] >= 0 and x["method"] == "GET" for x in lines)
    assert "user" not in lines[0]  # not authenticated
