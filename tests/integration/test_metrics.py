"""Observability of a real server (``waymark serve``), on SQLite and PostgreSQL: after a real
login, REST actions and a WebSocket sync, ``/metrics`` holds the named metrics with the
values those caused; the server's log is JSON lines, one per request and per merge, with
the fields the operator needs and no secret; a request id is echoed; ``/metrics`` asks
for the metrics token when one is set; ``/v1/ready`` says what each dependency answered."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync.protocol.codec import encode
from sync.protocol.messages import Ack, Feed, Push
from tests.conftest import RunningServer, waymark
from tests.integration.wire import event, http, login, open_session, recv, until

CATALOG = Path(__file__).parent.parent / "fixtures" / "learning_rest.yaml"
PASSWORD = "Correct-Horse-7731"
RIGHT = {"x": ["b"], "y": ["c", "e"]}  # the answers of c1/q1 in the catalog file
HUMAN_LINES = ("Waymark listening on http://", "database: ", "Waymark stopped")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def scrape(server: RunningServer, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = get(f"{server.url}/metrics", headers)
    assert status == 200, body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (exactly one must match)."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def scrape_until(server: RunningServer, ok: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``ok`` holds (the server updates gauges as connections end)."""
    deadline = time.monotonic() + 30
    while True:
        samples = scrape(server)
        if ok(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def log_lines(server: RunningServer) -> list[dict[str, Any]]:
    """The server's log: every line is JSON but its few human lines on stdout."""
    records = []
    for line in server.output:
        if line.startswith(HUMAN_LINES):
            continue
        records.append(json.loads(line))
    return records


async def test_metrics_and_logs_after_a_login_rest_actions_and_a_sync(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    result = waymark("admin", "--db", db_url, "user", "add", "ann", "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    server = start_server(db_url, catalog=CATALOG)
    start = scrape(server)
    assert value(start, "waymark_sync_connections") == 0
    assert value(start, "waymark_logins_failed_total", reason="wrong_password") == 0

    # A wrong password, then two devices of the learner.
    status, _ = http("POST", f"{server.url}/v1/auth/login", {"username": "ann", "password": "nope"})
    assert status == 401
    assert http("GET", f"{server.url}/v1/me/progress")[0] == 401  # refused by authentication
    laptop = login(server.url, "ann", PASSWORD, "laptop")
    phone = login(server.url, "ann", PASSWORD, "phone")
    token = laptop["token"]

    # REST actions go through the merge: two enrollments, one over the free limit, a quiz.
    base = f"{server.url}/v1/me"
    assert http("POST", f"{base}/enrollments/track", token=token)[0] == 201
    assert http("POST", f"{base}/enrollments/p2", token=token)[0] == 201
    assert http("POST", f"{base}/enrollments/p3", token=token)[0] == 409
    status, attempt = http("POST", f"{base}/quizzes/c1/q1/attempts", token=token)
    assert status == 201
    submit = f"{base}/quizzes/c1/q1/attempts/{attempt['attempt']}/submit"
    assert http("POST", submit, {"answers": RIGHT}, token=token)[0] == 200

    before = scrape(server)
    assert value(before, "waymark_logins_failed_total", reason="wrong_password") == 1
    assert value(before, "waymark_enrollments_total", outcome="ok") == 2
    assert value(before, "waymark_enrollments_total", outcome="failed") == 1
    assert value(before, "waymark_assessment_submissions_total", outcome="ok") == 1
    assert value(before, "waymark_assessment_submissions_total", outcome="failed") == 0

    # A sync: the laptop pushes three events and one the server rejects; the phone,
    # connected meanwhile, is sent them by the fan-out.
    ws, welcome = await open_session(server.ws_url, laptop["token"])
    other, _ = await open_session(server.ws_url, phone["token"])
    connection_id = ws.response.headers["x-request-id"]
    during = scrape(server)
    assert value(during, "waymark_sync_connections") == 2
    device = welcome.accounts[0].device_id
    pushed = [event(1), event(2), event(3, lesson="video", position=5), event(4, "lesson.nope")]
    await ws.send(encode(Push(1, device, pushed), binary=True))
    ack = await until(ws, Ack)
    assert (ack.accepted, len(ack.rejected)) == (3, 1)
    seen: set[int] = set()
    while 3 not in seen:  # the phone gets the laptop's events (fan-out)
        msg = await recv(other)
        if isinstance(msg, Feed):
            seen |= {e.seq for e in msg.entries if e.device_id == device and e.seq}
    await ws.close()
    await other.close()

    after = scrape_until(server, lambda s: value(s, "waymark_sync_connections") == 0)
    assert value(after, "waymark_sync_connections") == 0

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("waymark_events_total", outcome="accepted", code="") == 3
    assert value(after, "waymark_events_total", outcome="rejected", code="unknown_type") == 1
    assert delta("waymark_merge_duration_seconds_count") == 1
    assert value(after, "waymark_merge_duration_seconds_sum") > 0
    assert value(after, "waymark_fanout_lag_seconds_count") >= 1
    assert value(after, "waymark_fanout_backlog") == 0
    assert value(after, "waymark_store_errors_total") == 0
    assert value(after, "waymark_learners_stuck_on_milestone", days="7") == 0
    engine = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    pools = [v for (n, ls), v in after.items() if n == "waymark_db_pool_in_use"]
    assert pools and all(0 <= v <= 10 for v in pools)
    rest_merges = value(before, "waymark_merge_duration_seconds_count", engine=engine)
    assert rest_merges >= 5  # one per REST action (a quiz submission may be several)
    # Litestar's HTTP metrics, by route template and status.
    login_path = {"path": "/v1/auth/login", "method": "POST"}
    assert value(after, "waymark_requests_total", **login_path, status_code="401") == 1
    assert value(after, "waymark_requests_total", **login_path, status_code="201") == 2
    progress = {"path": "/v1/me/progress", "method": "GET"}
    assert value(after, "waymark_requests_total", **progress, status_code="401") == 1
    enroll = {"path": "/v1/me/enrollments/{path_id}", "method": "POST"}
    assert value(after, "waymark_request_duration_seconds_count", **enroll, status_code="201")

    # The request id: a client's own is kept and echoed, a bad one replaced.
    status, headers, _ = get(f"{server.url}/v1/health", {"X-Request-ID": "probe-42"})
    assert status == 200 and headers["x-request-id"] == "probe-42"
    status, headers, _ = get(f"{server.url}/v1/health", {"X-Request-ID": 'a "b" ' + "c" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])

    assert server.stop() == 0
    records = log_lines(server)
    requests = [r for r in records if r["logger"] == "waymark.http"]
    for r in requests:
        assert {"method", "path", "status", "duration_ms", "request_id"} <= r.keys(), r
    logins = [r for r in requests if r["path"] == "/v1/auth/login"]
    assert sorted(r["status"] for r in logins) == [201, 201, 401]
    enrolled = [r for r in requests if r["path"] == "/v1/me/enrollments/track"]
    assert [(r["user"], r["device"], r["status"]) for r in enrolled] == [
        ("ann", laptop["device_id"], 201)
    ]
    assert any(r["request_id"] == "probe-42" and r["path"] == "/v1/health" for r in requests)
    merges = [r for r in records if r["logger"] == "waymark.merge"]
    assert len([r for r in merges if r["device"] == f"rest-{laptop['user_id']}"]) == rest_merges
    synced = [r for r in merges if r["device"] == device]
    assert len(synced) == 1 and len(merges) == rest_merges + 1
    line = synced[0]
    assert (line["learner"], line["accepted"], line["duplicates"], line["rejected"]) == (
        laptop["user_id"],
        3,
        0,
        1,
    )
    assert line["duration_ms"] > 0 and line["request_id"] == connection_id
    # Nothing secret: no password, token, answer or event body.
    text = "".join(server.output)
    for secret in (PASSWORD, laptop["token"], phone["token"]):
        assert secret not in text
    for r in records:
        assert not {"password", "token", "answers", "body"} & r.keys(), r


def test_failed_logins_and_the_429s_of_the_login_throttle_are_counted(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url)
    statuses = [
        http("POST", f"{server.url}/v1/auth/login", {"username": "eve", "password": "x"})[0]
        for _ in range(7)
    ]
    # Five free failures for a name, then it is locked out (docs/operations.md, "Logins").
    assert statuses[:5] == [401] * 5 and statuses[5] == 429 and set(statuses) == {401, 429}
    samples = scrape(server)
    failed = sum(
        value(samples, "waymark_logins_failed_total", reason=r)
        for r in ("wrong_password", "locked")
    )
    assert failed == 7
    assert value(samples, "waymark_rate_limited_total", scope="login") == statuses.count(429)
    assert value(samples, "waymark_rate_limited_total", scope="push") == 0


def test_metrics_ask_for_the_token_when_one_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_server: Callable[..., RunningServer]
) -> None:
    monkeypatch.setenv("WAYMARK_METRICS_TOKEN", "scrape-secret")
    server = start_server(f"sqlite:///{tmp_path / 'server.db'}")
    url = f"{server.url}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
        status, answer, body = get(url, headers)
        assert status == 401, headers
        assert answer["content-type"] == "application/problem+json"
        assert json.loads(body)["status"] == 401
    assert value(scrape(server, "scrape-secret"), "waymark_sync_connections") == 0
    assert server.stop() == 0
    assert "scrape-secret" not in "".join(server.output)


def test_ready_names_each_dependency_and_what_it_answered(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url)
    status, ready = http("GET", f"{server.url}/v1/ready")
    assert status == 200 and ready["status"] == "ready"
    database, fanout = ready["checks"]["database"], ready["checks"]["fanout"]
    assert database["ok"] and database["latency_ms"] >= 0
    assert fanout["ok"]
    if db_url.startswith("postgresql"):
        assert "hearing other instances' commits" in fanout["detail"]
    else:
        assert "in-process" in fanout["detail"]
