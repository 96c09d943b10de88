"""The assessment and engagement reports through a real server (``waymark serve`` on
127.0.0.1) over the fixture of tests/server/reports/quiz_fixture.py: JSON, CSV with the
same rows, and problem details for every bad request."""

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
from tests.integration.wire import login, raw_http
from tests.server.conftest import Clock
from tests.server.reports.quiz_fixture import CATALOG_PATH, NOW, PASSWORD, record


@pytest.fixture
def server(db_url: str, start_server: Callable[..., RunningServer]) -> RunningServer:
    init_db(db_url)

    async def fill() -> None:
        clock = Clock()
        clock.now = NOW
        store = Store.for_url(db_url, clock=clock)
        await store.open()
        try:
            await record(store)
        finally:
            await store.close()

    asyncio.run(fill())
    return start_server(db_url, catalog=CATALOG_PATH)


def get(server: RunningServer, path: str, user: str) -> tuple[int, str, Any]:
    token = login(server.url, user, PASSWORD)["token"]
    status, headers, raw = raw_http("GET", f"{server.url}{path}", token=token)
    text = headers.decode().lower()
    if "text/csv" in text:
        return status, text, raw.decode()
    return status, text, json.loads(raw)


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_quiz_report_over_rest_in_json_and_csv(server: RunningServer) -> None:
    status, _, report = get(server, "/v1/reports/courses/cq/quizzes/q", "root")
    assert status == 200, report
    assert (report["attempts"], report["pass_rate"], report["median_score"]) == (8, 0.75, 0.5)
    assert [r["facility"] for r in report["rows"]] == [0.75, 0.5, 0.5, 0.375]
    assert [r["discrimination"] for r in report["rows"]] == [0.0, 1.0, 1.0, 1.0]
    assert [d["question_id"] for d in report["difficult"]] == ["q1", "q4"]
    status, headers, text = get(server, "/v1/reports/courses/cq/quizzes/q?format=csv", "root")
    assert status == 200 and "text/csv" in headers
    assert 'filename="quiz-cq-q.csv"' in headers
    rows = parsed(text)
    assert [r["question_id"] for r in rows] == [r["question_id"] for r in report["rows"]]
    assert [float(r["facility"]) for r in rows] == [r["facility"] for r in report["rows"]]
    assert rows[3]["wrong_answer_text"] == "Apple" and rows[3]["difficult"] == "true"
    assert list(rows[0]) == list(report["rows"][0])  # the same columns, in order
    # The instructor of group a sees its four learners; first attempts; a date range.
    status, _, mine = get(server, "/v1/reports/courses/cq/quizzes/q?attempts=first", "ivy")
    assert (status, mine["attempts"], mine["mean_score"]) == (200, 4, 0.75)
    status, _, none = get(
        server, "/v1/reports/courses/cq/quizzes/q?since=2025-11-25&until=2025-11-30", "root"
    )
    assert (status, none["attempts"]) == (200, 0)
    status, _, course = get(server, "/v1/reports/courses/cq/quizzes", "root")
    assert status == 200 and [q["quiz_id"] for q in course["rows"]] == ["q"]
    status, _, text = get(server, "/v1/reports/courses/cq/quizzes?format=csv", "root")
    assert status == 200 and [r["difficult_questions"] for r in parsed(text)] == ["2"]


def test_engagement_over_rest_in_json_and_csv(server: RunningServer) -> None:
    status, _, report = get(server, "/v1/reports/engagement?by=week", "root")
    assert status == 200, report
    assert [(r["period"], r["course_id"], r["seconds"]) for r in report["rows"]] == [
        ("2025-W47", "cq", 360),
        ("2025-W48", "c2", 100),
        ("2025-W48", "cq", 795),
    ]
    assert [t["active_learners"] for t in report["totals"]] == [2, 3]
    status, headers, text = get(server, "/v1/reports/engagement?by=week&format=csv", "root")
    assert status == 200 and 'filename="engagement-week.csv"' in headers
    assert parsed(text) == [{k: str(v) for k, v in r.items()} for r in report["rows"]]
    # A range that ends before it starts is empty, not an error.
    status, _, empty = get(
        server, "/v1/reports/engagement?since=2025-11-25&until=2025-11-24", "root"
    )
    assert (status, empty["rows"], empty["totals"]) == (200, [], [])
    status, _, ivy = get(server, "/v1/reports/engagement?course=cq&since=2025-11-24", "ivy")
    assert status == 200 and [(r["period"], r["seconds"]) for r in ivy["rows"]] == [
        ("2025-11-24", 720)
    ]


BAD = [
    ("/v1/reports/courses/nope/quizzes/q", "root", 404, "no course 'nope'"),
    ("/v1/reports/courses/cq/quizzes/nope", "root", 404, "no quiz 'nope'"),
    ("/v1/reports/courses/nope/quizzes", "root", 404, "no course 'nope'"),
    ("/v1/reports/engagement?course=nope", "root", 404, "no course 'nope'"),
    ("/v1/reports/engagement?group=nope", "root", 404, "no group 'nope'"),
    ("/v1/reports/engagement?since=2025-13-01", "root", 400, ""),
    ("/v1/reports/engagement?since=", "root", 400, ""),
    ("/v1/reports/courses/cq/quizzes/q?until=yesterday", "root", 400, ""),
    ("/v1/reports/courses/cq/quizzes?since=20251124", "root", 400, ""),
    ("/v1/reports/engagement?by=month", "root", 400, ""),
    ("/v1/reports/courses/cq/quizzes/q?attempts=best", "root", 400, ""),
    ("/v1/reports/courses/cq/quizzes/q?format=xml", "root", 400, ""),
    ("/v1/reports/courses/cq/quizzes/q", "l1", 403, "reports are for instructors"),
    ("/v1/reports/engagement", "l1", 403, "reports are for instructors"),
    ("/v1/reports/courses/cq/quizzes/q?group=b", "ivy", 403, "you do not teach group 'b'"),
    ("/v1/reports/engagement?group=b", "ivy", 403, "you do not teach group 'b'"),
]
"""Bad requests: (path, who asks, status, what the detail says)."""


def test_bad_requests_are_problem_details(server: RunningServer) -> None:
    for path, user, status, detail in BAD:
        got, headers, body = get(server, path, user)
        assert got == status, (path, body)
        assert "application/problem+json" in headers, path
        assert body["status"] == status and detail in body["detail"], (path, body)
        if status == 400:  # which value is wrong, and where
            assert body["extra"][0]["source"] == "query", (path, body)
