"""The reports over REST, through a real server on SQLite and PostgreSQL: every endpoint as
JSON, CSV (the same rows, a file name) and, for a learner, PDF; the scopes (an instructor
of group A gets 403 for group B and sees only A's learners; a learner only their own
report); problem details for bad parameters; group teachers added and removed.

The world (``tests/server/reports/world.py``) is written into the database through the
store's real merge before the server starts; the numbers themselves are checked by hand in
``tests/server/reports/test_reports.py``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from server.storage.store import Store
from tests.conftest import RunningServer, init_db
from tests.integration.wire import http, login, raw_http
from tests.server.reports.world import CATALOG_FILE, Clock, build

PASSWORD = "pw-long-enough"


async def _world(db: str) -> None:
    clock = Clock()
    store = Store.for_url(db, clock=clock)
    await store.open()
    try:
        await build(store, clock)
    finally:
        await store.close()


@pytest.fixture
def server(db_url: str, start_server: Callable[..., RunningServer]) -> RunningServer:
    init_db(db_url)
    asyncio.run(_world(db_url))
    return start_server(db_url, catalog=CATALOG_FILE)


def tokens(server: RunningServer, *names: str) -> dict[str, str]:
    return {n: login(server.url, n, PASSWORD)["token"] for n in names}


def header(headers: bytes, name: str) -> str:
    for line in headers.decode().splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    raise KeyError(name)


def _cell(name: str, value: Any) -> str:
    from datetime import UTC, datetime

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name.endswith("_at") and isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")
    return str(value)


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = _cell(key, value)
    return out


REPORTS = [
    ("/v1/reports/courses/c1", "course-c1.csv"),
    ("/v1/reports/courses/c1?group=A&since=2025-12-01&until=2026-01-31", "course-c1.csv"),
    ("/v1/reports/courses/c1/modules/m2", "course-c1-m2.csv"),
    ("/v1/reports/paths/p1?stuck_days=10", "path-p1.csv"),
    ("/v1/reports/competencies", "competencies.csv"),
    ("/v1/reports/groups/A", "group-A.csv"),
    ("/v1/reports/learners/ada", "learner-ada.csv"),
]


def test_every_report_as_json_and_the_same_rows_as_csv(server: RunningServer) -> None:
    token = tokens(server, "root")["root"]
    for path, filename in REPORTS:
        status, report = http("GET", f"{server.url}{path}", token=token)
        assert status == 200, (path, report)
        assert report["rows"], path  # the world has rows for every report
        sep = "&" if "?" in path else "?"
        status, headers, raw = raw_http("GET", f"{server.url}{path}{sep}format=csv", token=token)
        assert status == 200, (path, raw)
        assert header(headers, "content-type").startswith("text/csv")
        assert header(headers, "content-disposition") == f'attachment; filename="{filename}"'
        parsed = list(csv.DictReader(io.StringIO(raw.decode())))
        assert parsed == [_flat(r) for r in report["rows"]], path
    # The numbers are the store's (test_reports.py); two of them, as a client sees them.
    _, course = http("GET", f"{server.url}/v1/reports/courses/c1", token=token)
    assert (course["learners"], course["completed"], course["completion_rate"]) == (4, 1, 0.25)
    _, path = http("GET", f"{server.url}/v1/reports/paths/p1", token=token)
    assert [f["mean_days_to_complete"] for f in path["funnel"]] == [7.0, 13.0]


def test_the_learner_report_as_pdf(server: RunningServer) -> None:
    token = tokens(server, "ada")["ada"]
    status, headers, raw = raw_http(
        "GET", f"{server.url}/v1/reports/learners/ada?format=pdf", token=token
    )
    assert status == 200
    assert header(headers, "content-type") == "application/pdf"
    assert header(headers, "content-disposition") == 'attachment; filename="learner-ada.pdf"'
    assert raw.startswith(b"%PDF") and b"%%EOF" in raw[-10:]


def problem(server: RunningServer, path: str, token: str) -> tuple[int, str]:
    status, headers, raw = raw_http("GET", f"{server.url}{path}", token=token)
    assert header(headers, "content-type").startswith("application/problem+json"), raw
    return status, json.loads(raw)["detail"]


def test_scopes_and_bad_parameters_are_problem_details(server: RunningServer) -> None:
    t = tokens(server, "ivy", "ian", "ada", "root")
    # ivy created A (ada, bo): she sees those two, and not group B.
    _, mine = http("GET", f"{server.url}/v1/reports/courses/c1", token=t["ivy"])
    assert [s["learner"] for s in mine["summary"]] == ["ada", "bo"]
    assert problem(server, "/v1/reports/courses/c1?group=B", t["ivy"]) == (
        403,
        "you do not teach group 'B'",
    )
    assert problem(server, "/v1/reports/groups/B", t["ivy"])[0] == 403
    assert problem(server, "/v1/reports/learners/cy", t["ivy"]) == (
        403,
        "cy is in none of your groups",
    )
    assert http("GET", f"{server.url}/v1/reports/learners/ada", token=t["ivy"])[0] == 200
    # A learner: her own report only, and no other report.
    assert http("GET", f"{server.url}/v1/reports/learners/ada", token=t["ada"])[0] == 200
    assert problem(server, "/v1/reports/learners/bo", t["ada"])[0] == 403
    assert problem(server, "/v1/reports/learners/nobody", t["ada"])[0] == 403
    assert problem(server, "/v1/reports/courses/c1", t["ada"])[0] == 403
    assert problem(server, "/v1/reports/competencies", t["ada"])[0] == 403
    # Unknown things are 404, malformed values 400.
    root = t["root"]
    assert problem(server, "/v1/reports/courses/nope", root) == (
        404,
        "no course 'nope' in the catalog",
    )
    assert problem(server, "/v1/reports/courses/c1/modules/nope", root)[0] == 404
    assert problem(server, "/v1/reports/paths/nope", root)[0] == 404
    assert problem(server, "/v1/reports/groups/nope", root)[0] == 404
    assert problem(server, "/v1/reports/learners/nobody", root)[0] == 404
    assert problem(server, "/v1/reports/courses/c1?group=nope", root)[0] == 404
    status, detail = problem(server, "/v1/reports/courses/c1?since=2026-02-30", root)
    assert status == 400 and "since" in detail
    assert problem(server, "/v1/reports/courses/c1?until=tomorrow", root)[0] == 400
    assert problem(server, "/v1/reports/courses/c1?until=2026-1-5", root)[0] == 400
    status, empty = http(
        "GET", f"{server.url}/v1/reports/courses/c1?since=2026-01-02&until=2026-01-01", token=root
    )
    assert (status, empty["learners"], empty["rows"]) == (200, 0, [])
    assert problem(server, "/v1/reports/courses/c1?format=xml", root)[0] == 400
    assert problem(server, "/v1/reports/courses/c1?format=pdf", root)[0] == 400
    assert problem(server, "/v1/reports/paths/p1?stuck_days=0", root)[0] == 400


def test_group_teachers_over_rest(server: RunningServer) -> None:
    t = tokens(server, "ivy", "ian", "bo", "root")
    base = f"{server.url}/v1/groups/A/teachers"
    # ian teaches B only: A's report is refused until ivy (A's creator) adds him.
    assert problem(server, "/v1/reports/groups/A", t["ian"])[0] == 403
    status, body = http("PUT", f"{base}/ian", token=t["ivy"])
    assert (status, body) == (200, {"group": "A", "created_by": "ivy", "teachers": ["ian"]})
    assert http("GET", f"{server.url}/v1/reports/groups/A", token=t["ian"])[0] == 200
    # Only admins and the creator manage teachers; only instructors teach.
    assert http("PUT", f"{server.url}/v1/groups/B/teachers/ivy", token=t["ivy"])[0] == 403
    assert http("DELETE", f"{base}/ian", token=t["bo"])[0] == 403
    assert http("PUT", f"{base}/bo", token=t["root"])[0] == 409
    assert http("PUT", f"{base}/nobody", token=t["root"])[0] == 404
    status, body = http("DELETE", f"{base}/ian", token=t["root"])
    assert (status, body["teachers"]) == (200, [])
    assert problem(server, "/v1/reports/groups/A", t["ian"])[0] == 403
