"""Gamification end to end, on SQLite and PostgreSQL, through a real server: a badge earned
on one device appears live on the other; a certificate verifies through the public endpoint
and as an Open Badges 3.0 credential checked by an independent library (PyJWT, with the key
from the well-known URL), a tampered copy fails; the leaderboard opt-out hides the learner
in every endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from client.connection import Backoff, Change
from tests.conftest import RunningServer
from tests.integration.test_spine import Clock, add_users, device
from tests.integration.wire import RouteValues, get_routes, http, raw_http
from tests.sync.test_gamify import CATALOG_YAML


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "gamify.yaml"
    path.write_text(CATALOG_YAML)
    return path


@pytest.fixture
def server(
    start_server: Callable[..., RunningServer], db_url: str, catalog_file: Path
) -> RunningServer:
    add_users(db_url, "ann", "bob", "cy")
    return start_server(db_url, catalog=catalog_file)


async def test_a_badge_earned_on_one_device_appears_live_on_the_other(
    server: RunningServer, tmp_path: Path
) -> None:
    laptop = await device(tmp_path / "laptop", server, "ann")
    phone = await device(tmp_path / "phone", server, "ann", Clock())
    stop, connected, badge = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen: list[Change] = []

    def on_change(change: Change) -> None:
        seen.append(change)
        connected.set()
        if change.entry.type == "achievement.earned":
            badge.set()

    follower = asyncio.create_task(
        phone.follow(on_change, stop=stop, backoff=Backoff(base=0.05, cap=0.2))
    )
    try:
        await laptop.record("lesson.opened", {"course": "c1", "lesson": "l1"})
        await laptop.sync_once()
        await asyncio.wait_for(connected.wait(), 30)  # the phone is connected
        assert (await phone.status())["badges"] == []
        await laptop.record("lesson.completed", {"course": "c1", "lesson": "l1"})
        await laptop.sync_once()
        await asyncio.wait_for(badge.wait(), 5)
        [earned] = [c.entry.body for c in seen if c.entry.type == "achievement.earned"]
        assert earned["achievement_id"] == "first-steps"
        status = await phone.status()
        assert [b["id"] for b in status["badges"]] == ["first-steps"]
        assert status["points"] == (await laptop.status())["points"] > 0
        assert {"current", "longest", "freezes"} <= set(status["streak"])
    finally:
        stop.set()
        await follower
        await laptop.__aexit__(None, None, None)
        await phone.__aexit__(None, None, None)


def _tamper(token: str, change: Callable[[dict[str, Any]], None]) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


async def test_a_certificate_verifies_publicly_and_as_an_open_badge(
    server: RunningServer, tmp_path: Path
) -> None:
    ann = await device(tmp_path / "ann", server, "ann")
    try:
        await ann.record("lesson.completed", {"course": "c2", "lesson": "k1"})
        await ann.sync_once()
        [cert] = (await ann.status())["certificates"]
        assert cert["course"] == "c2" and cert["title"] == "Course two"
    finally:
        await ann.__aexit__(None, None, None)

    # The public endpoint: no token.
    status, found = http("GET", f"{server.url}/v1/certificates/{cert['code']}")
    assert status == 200, found
    assert (found["valid"], found["learner"], found["kind"], found["ref"]) == (
        True,
        "ann",
        "course",
        "c2",
    )
    status, problem = http("GET", f"{server.url}/v1/certificates/AAAA-BBBB-CCCC-DDDD")
    assert status == 404 and "no certificate" in problem["detail"]

    # The Open Badges 3.0 form, verified by PyJWT with the key published at the well-known URL.
    status, signed = http("GET", found["credential"])
    assert status == 200, signed
    token = signed["jwt"]
    keys = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json", cache_keys=False)
    key = keys.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["EdDSA"],
        options={"require": ["iss", "jti", "nbf", "sub"], "verify_aud": False},
    )
    assert "OpenBadgeCredential" in claims["type"]
    assert claims["iss"] == claims["issuer"]["id"] == f"{server.url}/v1/issuer"
    assert claims["credentialSubject"]["achievement"]["name"] == "Course two"
    assert claims["credentialSubject"]["achievement"]["achievementType"] == "Certificate"
    assert claims["jti"] == claims["id"] == found["credential"]

    # Tampered copies fail: with PyJWT, and at the server's own verify endpoint.
    def other_course(c: dict[str, Any]) -> None:
        c["credentialSubject"]["achievement"]["name"] = "Course one"

    def other_learner(c: dict[str, Any]) -> None:
        c["sub"] = c["credentialSubject"]["id"] = "urn:uuid:00000000-0000-0000-0000-000000000000"

    for change in (other_course, other_learner):
        forged = _tamper(token, change)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(forged, key=key, algorithms=["EdDSA"], options={"verify_aud": False})
        status, refused = http("POST", f"{server.url}/v1/credentials/verify", {"jwt": forged})
        assert status == 200 and refused["valid"] is False, refused
        assert "signature" in refused["reason"] and refused["credential"] == {}, refused
    status, checked = http("POST", f"{server.url}/v1/credentials/verify", {"jwt": token})
    assert status == 200 and checked["credential"]["id"] == found["credential"]
    assert checked["valid"] is True and checked["reason"] == ""


async def test_leaderboard_opt_out_hides_the_learner_in_every_endpoint(
    server: RunningServer, tmp_path: Path, db_url: str
) -> None:
    from tests.conftest import waymark

    teacher = waymark(
        "admin", "--db", db_url, "user", "add", "tina", "--password", "pw", "--role", "instructor"
    )
    assert teacher.returncode == 0, teacher.stderr
    homes = {}
    for name, lessons in (("ann", ["l1", "l2", "l3"]), ("bob", ["l1"]), ("cy", ["l1", "l2"])):
        dev = await device(tmp_path / name, server, name)
        for lesson in lessons:
            await dev.record("lesson.completed", {"course": "c1", "lesson": lesson})
        await dev.sync_once()
        homes[name] = (await dev.accounts())[0].token
        await dev.__aexit__(None, None, None)
    _, tina = http(
        "POST",
        f"{server.url}/v1/auth/login",
        {"username": "tina", "password": "pw", "device_name": "desk"},
    )
    staff = tina["token"]
    status, group = http("POST", f"{server.url}/v1/groups/", {"name": "cohort-a"}, token=staff)
    assert status == 201, group
    for name in ("ann", "bob"):
        status, _ = http("PUT", f"{server.url}/v1/groups/cohort-a/members/{name}", token=staff)
        assert status == 200

    boards = [
        "/v1/leaderboards/weekly",
        "/v1/leaderboards/weekly?group=cohort-a",
        "/v1/leaderboards/weekly?course=c1",
        "/v1/leaderboards/weekly?course=c1&limit=100",
    ]
    values: RouteValues = {
        frozenset(): [{}],
        frozenset({"name"}): [{"name": "ann"}, {"name": "cohort-a"}],
        frozenset({"course"}): [{"course": "c1"}, {"course": "c2"}],
        frozenset({"course", "quiz"}): [{"course": "c1", "quiz": "q1"}],
        frozenset({"course", "module"}): [{"course": "c1", "module": "none"}],
        frozenset({"course", "assignment"}): [{"course": "c1", "assignment": "none"}],
        frozenset({"path_id"}): [{"path_id": "p1"}],
        frozenset({"path_id", "milestone_id"}): [{"path_id": "p1", "milestone_id": "s1"}],
        frozenset({"current", "new"}): [{"current": "enrolled", "new": "in_progress"}],
        frozenset({"badge_id"}): [{"badge_id": "first-steps"}],
        frozenset({"code"}): [{"code": "AAAA-BBBB-CCCC-DDDD"}],
        frozenset({"kind", "ref"}): [{"kind": "badges", "ref": "first-steps"}],
    }
    urls = get_routes(server.url, values, {"ids": "c1,c2", "status": "enrolled"})
    urls += [f"{server.url}{b}" for b in boards]

    def scan(token: str) -> dict[str, bytes]:
        seen = {}
        for url in urls:
            status, _, body = raw_http("GET", url, token=token)
            assert status < 500, (url, body)
            seen[url] = body
        return seen

    # Before: ann (top of the week) is on bob's boards, so the scan below can see a leak.
    before = scan(homes["bob"])
    assert all(b'"ann"' in before[f"{server.url}{b}"] for b in boards), before

    status, answer = http("PUT", f"{server.url}/v1/me/leaderboard", {"opt_out": True}, homes["ann"])
    assert status == 200 and answer == {"opt_out": True}
    for viewer in ("bob", "cy"):
        for url, body in scan(homes[viewer]).items():
            assert b'"ann"' not in body and b"ann'" not in body, (viewer, url, body[:300])
    # She still sees her own place; instructors' group admin still lists her as a member.
    status, own = http("GET", f"{server.url}/v1/leaderboards/weekly", token=homes["ann"])
    assert status == 200 and own["you"]["user"] == "ann" and own["you"]["rank"] == 1
    assert all(r["user"] != "ann" for r in own["rows"])
    status, shown = http("GET", f"{server.url}/v1/leaderboards/weekly", token=staff)
    assert status == 200 and all(r["user"] != "ann" for r in shown["rows"])


async def test_sync_follow_prints_a_celebration_for_a_badge_from_another_device(
    server: RunningServer, tmp_path: Path
) -> None:
    import os
    import sys

    from tests.conftest import ROOT, waymark

    home = tmp_path / "terminal"
    done = waymark("login", server.url, "ann", "--password", "pw", "--home", str(home))
    assert done.returncode == 0, done.stderr
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "cli.main", "sync", "--follow", "--home", str(home)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert proc.stdout is not None
    out = proc.stdout

    async def until(text: str) -> list[str]:
        seen: list[str] = []
        while True:
            line = (await asyncio.wait_for(out.readline(), 30)).decode()
            assert line, f"sync --follow ended: {seen}"
            seen.append(line)
            if text in line:
                return seen

    laptop = await device(tmp_path / "laptop", server, "ann")
    try:
        await laptop.record("lesson.opened", {"course": "c1", "lesson": "l2"})
        await laptop.sync_once()
        await until("lesson.opened")  # the follower is connected
        await laptop.record("lesson.completed", {"course": "c1", "lesson": "l1"})
        await laptop.sync_once()
        seen = await until("Badge earned")
        assert any("ann: 🎉 Badge earned: First steps" in line for line in seen), seen
        assert not any("points.awarded" in line for line in seen), seen
    finally:
        await laptop.__aexit__(None, None, None)
        proc.terminate()
        await proc.wait()
