"""The OpenAPI document tells the truth: schemathesis, with every one of its checks, finds no
failure against a real running server on SQLite and on PostgreSQL.

The checks (all of them, as ``schemathesis run --checks all``) include: every status and
content type answered is declared (problem details are ``application/problem+json``),
responses match their schemas, requests the schema calls valid are accepted and ones it calls
invalid are refused, operations that declare a token refuse requests without one, ``OPTIONS``
and ``405`` answers list the right methods. It runs all of schemathesis's phases (the
schema's examples, boundary coverage, fuzzing, stateful sequences) on a bounded, seeded
budget, so a run is the same every time and takes well under two minutes per engine.

The token is an admin's from a real login, so the staff-only operations are exercised too
(a learner's 403 on them is covered in ``test_learning_rest.py``). Path parameters that name
catalog items are the catalog's real ids (:data:`REAL_IDS`), so requests get past the
look-up into each operation's own rules instead of stopping at a 404. No check is left out
for any operation.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import schemathesis
from schemathesis.engine import Status, from_schema
from schemathesis.engine import events as st_events

from tests.conftest import RunningServer, waymark
from tests.integration.test_learning_rest import CATALOG
from tests.integration.wire import login, raw_http

# Enough examples per operation to reach each kind of input; deterministic (the same
# examples every run, no random seed).
MAX_EXAMPLES = 20
# Ids in tests/fixtures/learning_rest.yaml. (User and group names are left to schemathesis:
# it creates groups and follows the links to them.)
REAL_IDS = {
    "course": "c1",
    "lesson": "video",
    "quiz": "q1",
    "assignment": "essay",
    "path_id": "track",
    "milestone_id": "first",
    "kind": "courses",
    "ref": "c1",
}
# The one check left out, for one operation, and why.
EXCLUDED = [
    {
        # DELETE /v1/me/enrollments/{path_id} unenrolls: the enrollment becomes "dropped"
        # and stays readable with its history (docs/domain.md, seed 001's "DELETE
        # enrollment"), so reading it after the DELETE is right, not a use after free.
        "include-path": "/v1/me/enrollments/{path_id}",
        "include-method": "GET",
        "checks": {"use_after_free": {"enabled": False}},
    },
]


def _run(server: RunningServer, token: str) -> tuple[list[str], Counter[str]]:
    """Every failure schemathesis reports, and how often each check ran."""
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {token}"},
            "parameters": REAL_IDS,
            "operations": EXCLUDED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # Text may not hold NUL: PostgreSQL cannot store it, and the document says so
                # (its description; a NUL in a body is 400 on both engines, asked below).
                "allow-x00": False,
            },
        }
    )
    schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json", config=config)
    failures: list[str] = []
    ran: Counter[str] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, st_events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    ran[check.name] += 1
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{event.label}: {check.name}: {failure.title}: {failure.message}\n"
                            f"    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, st_events.NonFatalError | st_events.FatalError):
            failures.append(f"schemathesis could not run: {event.info.format()}")
    return failures, ran


def test_schemathesis_finds_no_failure(
    db_url: str, start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    made = waymark(
        "admin", "--db", db_url, "user", "add", "ada", "--password", "pw", "--role", "admin"
    )
    assert made.returncode == 0, made.stderr
    # One token sends every request: the device's REST rate limit (1,200 a minute, 429 as
    # declared) would refuse valid requests that schemathesis expects to be accepted.
    settings = tmp_path / "unlimited.toml"
    settings.write_text("rest_per_device_per_minute = 1000000\n")
    server = start_server(db_url, catalog=CATALOG, extra=("--config", str(settings)))
    token = login(server.url, "ada")["token"]

    failures, ran = _run(server, token)

    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    # It really ran, and with the checks that matter here (not only "no 5xx").
    for check in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
        "ignored_auth",
        "unsupported_method",
    ):
        assert ran[check] > 0, f"check {check} never ran: {dict(ran)}"


def test_the_answers_schemathesis_once_found_wrong(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    """The findings on the old main, each asked once on purpose (the run above samples)."""
    add = waymark("admin", "--db", db_url, "user", "add", "lea", "--password", "pw")
    assert add.returncode == 0, add.stderr
    server = start_server(db_url)
    token = login(server.url, "lea")["token"]
    # A bool is a JSON bool: 0 is not false.
    status, headers, raw = raw_http("PUT", f"{server.url}/v1/me/leaderboard", {"opt_out": 0}, token)
    assert status == 400 and b"application/problem+json" in headers.lower(), raw
    assert json.loads(raw)["extra"] == [
        {"message": "Expected `bool`, got `int`", "key": "opt_out", "source": "body"}
    ]
    # OPTIONS lists every method of the path, not only the first handler's.
    for path, methods in (
        ("/v1/me/leaderboard", "GET, OPTIONS, PUT"),
        ("/v1/me/enrollments/p1", "DELETE, GET, OPTIONS, POST"),
        ("/v1/groups/g/members/u", "DELETE, OPTIONS, PUT"),
    ):
        status, headers, _ = raw_http("OPTIONS", f"{server.url}{path}")
        assert status == 204 and f"allow: {methods}".encode() in headers, headers
    # NUL cannot be stored in PostgreSQL text: bad input (400), never a 500.
    status, _, raw = raw_http("POST", f"{server.url}/v1/groups", {"name": "a\x00b"}, token)
    assert status == 400 and b"NUL" in raw, raw
    status, headers, raw = raw_http("GET", f"{server.url}/v1/certificates/a%00b")
    assert status in {400, 404} and b"application/problem+json" in headers.lower(), raw
    # The document declares the problem details and the token on every operation.
    doc = json.loads(raw_http("GET", f"{server.url}/schema/openapi.json")[2])
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code >= "400":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        code,
                    )
            if operation.get("security"):
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
