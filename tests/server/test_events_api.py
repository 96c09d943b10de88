"""The event stream and service tokens over REST (``server/api/events.py``,
``server/api/admin.py``, ``server/auth.py``), on SQLite and PostgreSQL: who may read the
stream, scopes enforced (403 without, 401 revoked or unknown), pages resumed from their
``next``, the types filter, bad input as problem details; and the admin commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.cli import admin
from server.storage.store import Store
from sync.event_catalog import render_markdown
from sync.events import Event
from tests.server.conftest import T0, Clock, catalog

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")


class Tokens:
    db_url: str
    admin: str
    instructor: str
    learner: str
    learner_device: str


async def setup(db_url: str) -> Tokens:
    store = Store.for_url(db_url)
    await store.open()
    out = Tokens()
    out.db_url = db_url
    try:
        await store.load_catalog(catalog())
        ada = await store.create_user("ada", "pw", role="admin")
        ines = await store.create_user("ines", "pw", role="instructor")
        leo = await store.create_user("leo", "pw")
        out.admin = (await store.register_device(ada.id, "admin laptop"))[1]
        out.instructor = (await store.register_device(ines.id, "laptop"))[1]
        device, out.learner = await store.register_device(leo.id, "phone")
        out.learner_device = device.id
        events = [
            Event(seq, f"{T0 + seq:013d}-0000", T0 + seq, type_, {"course": "c1", "lesson": "read"})
            for seq, type_ in ((1, "lesson.completed"), (2, "lesson.uncompleted"))
        ]
        await store.merge(device.id, events)
    finally:
        await store.close()
    return out


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[tuple[AsyncTestClient[Any], Tokens]]:
    tokens = await setup(db_url)
    app = create_app(db_url, clock=Clock())
    async with AsyncTestClient(app=app) as test_client:
        yield test_client, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_token(client: AsyncTestClient[Any], admin: str, name: str, *scopes: str) -> str:
    made = await client.post(
        "/v1/admin/tokens", json={"name": name, "scopes": list(scopes)}, headers=bearer(admin)
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["service"]["scopes"] == list(scopes) and body["token"].startswith("wst_")
    return str(body["token"])


async def outbox_size(db_url: str) -> int:
    store = Store.for_url(db_url)  # the app's store runs on the test client's own loop
    await store.open()
    try:
        return int(await store.engine.fetchval("SELECT count(*) FROM outbox"))
    finally:
        await store.close()


async def all_events(
    client: AsyncTestClient[Any], token: str, count: int, **params: Any
) -> list[dict[str, Any]]:
    """Page with ``limit=1`` until ``count`` events (the PostgreSQL horizon can lag behind
    another test's transaction: wait for it)."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(6000):
        query = {"limit": 1, **params, **({"after": after} if after else {})}
        page = await client.get("/v1/events", params=query, headers=bearer(token))
        assert page.status_code == 200, page.text
        body = page.json()
        out += body["events"]
        if len(out) >= count:
            return out
        if not body["events"]:
            assert body["next"] == (after or "0.0")
            await asyncio.sleep(0.01)
        after = body["next"]
    raise AssertionError(f"read {len(out)} of {count}")


async def test_admins_and_scoped_service_tokens_read_the_stream(
    client: tuple[AsyncTestClient[Any], Tokens],
) -> None:
    http, tokens = client
    reader = await make_token(http, tokens.admin, "analytics", "events:read")
    count = await outbox_size(tokens.db_url)
    by_admin = await all_events(http, tokens.admin, count)
    by_token = await all_events(http, reader, count)
    assert by_admin == by_token and count >= 3
    assert len({e["id"] for e in by_admin}) == count
    assert by_admin[0]["type"] == "progress.lesson.completed"
    assert by_admin[-1]["type"] == "progress.updated"
    assert by_admin[-1]["data"]["percent"] == 0
    first = by_admin[0]
    assert first["learner"]["username"] == "leo" and first["version"] == 1
    assert set(first) == {"id", "type", "version", "learner", "occurred_at", "recorded_at", "data"}
    only = await all_events(http, reader, 1, types="progress.lesson.*")
    assert [e["type"] for e in only] == ["progress.lesson.completed"]
    # Learners and instructors may not; nor a token without the scope.
    for token in (tokens.learner, tokens.instructor):
        assert (await http.get("/v1/events", headers=bearer(token))).status_code == 403
    progress_only = await make_token(http, tokens.admin, "dashboard", "progress:read")
    refused = await http.get("/v1/events", headers=bearer(progress_only))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this service token lacks the scope 'events:read'"


async def test_bad_cursors_and_patterns_are_problem_details(
    client: tuple[AsyncTestClient[Any], Tokens],
) -> None:
    http, tokens = client
    for params, detail in (
        ({"after": "12"}, "after: not a cursor: '12' (expected T.P, as a page's next)"),
        ({"after": "1.x"}, "after: not a cursor: '1.x' (expected T.P, as a page's next)"),
        ({"types": "progress.quiz.*"}, "types: 'progress.quiz.*' matches no event of the catalog"),
    ):
        answer = await http.get("/v1/events", params=params, headers=bearer(tokens.admin))
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"] == detail
    answer = await http.get("/v1/events", params={"limit": 0}, headers=bearer(tokens.admin))
    assert answer.status_code == 400
    big = "99999999999999999999.1"
    answer = await http.get("/v1/events", params={"after": big}, headers=bearer(tokens.admin))
    assert answer.status_code == 400, answer.text


async def test_service_tokens_reach_only_their_scopes_routes(
    client: tuple[AsyncTestClient[Any], Tokens],
) -> None:
    http, tokens = client
    dashboard = await make_token(http, tokens.admin, "dashboard", "progress:read")
    seen = await http.get("/v1/users/leo/progress", headers=bearer(dashboard))
    assert seen.status_code == 200, seen.text
    assert seen.json()["user"] == "leo"
    for path in ("/v1/users/leo/achievements", "/v1/users/leo/competencies"):
        assert (await http.get(path, headers=bearer(dashboard))).status_code == 200, path
    # A route that does not accept service tokens refuses every one, whatever its scopes.
    everything = await make_token(
        http, tokens.admin, "all", "events:read", "progress:read", "users:write", "catalog:write"
    )
    for method, path in (("GET", "/v1/me/progress"), ("GET", "/v1/admin/tokens")):
        answer = await http.request(method, path, headers=bearer(everything))
        assert answer.status_code == 403, path
        assert answer.json()["detail"] == "service tokens may not use this endpoint"
    events = await make_token(http, tokens.admin, "events-only", "events:read")
    answer = await http.get("/v1/users/leo/progress", headers=bearer(events))
    assert answer.status_code == 403
    assert answer.json()["detail"] == "this service token lacks the scope 'progress:read'"
    # Revoked: 401 at once; unknown: 401.
    revoked = await http.delete("/v1/admin/tokens/dashboard", headers=bearer(tokens.admin))
    assert revoked.status_code == 204
    answer = await http.get("/v1/users/leo/progress", headers=bearer(dashboard))
    assert (answer.status_code, answer.json()["detail"]) == (401, "this service token was revoked")
    answer = await http.get("/v1/users/leo/progress", headers=bearer("wst_nope"))
    assert (answer.status_code, answer.json()["detail"]) == (401, "unknown service token")
    again = await http.delete("/v1/admin/tokens/dashboard", headers=bearer(tokens.admin))
    assert again.status_code == 404


async def test_only_admins_manage_tokens_and_the_list_never_shows_one(
    client: tuple[AsyncTestClient[Any], Tokens],
) -> None:
    http, tokens = client
    token = await make_token(http, tokens.admin, "analytics", "events:read", "progress:read")
    listed = (await http.get("/v1/admin/tokens", headers=bearer(tokens.admin))).json()
    assert [t["name"] for t in listed["tokens"]] == ["analytics"]
    assert token not in json.dumps(listed)
    for who in (tokens.instructor, tokens.learner):
        assert (await http.get("/v1/admin/tokens", headers=bearer(who))).status_code == 403
        made = await http.post(
            "/v1/admin/tokens", json={"name": "x", "scopes": ["events:read"]}, headers=bearer(who)
        )
        assert made.status_code == 403
    taken = {"name": "analytics", "scopes": ["events:read"]}
    answer = await http.post("/v1/admin/tokens", json=taken, headers=bearer(tokens.admin))
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"].startswith("a service token named 'analytics' exists")
    for body, field in (
        ({"name": "x", "scopes": ["events:write"]}, "scopes[0]"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "Bad Name", "scopes": ["events:read"]}, "name"),
    ):
        answer = await http.post("/v1/admin/tokens", json=body, headers=bearer(tokens.admin))
        assert answer.status_code == 400, answer.text
        assert [issue["key"] for issue in answer.json()["extra"]] == [field], answer.text


async def test_the_token_stored_is_a_hash(db_url: str) -> None:
    store = Store.for_url(db_url)
    await store.open()
    try:
        token, made = await store.add_service_token("bi", ["events:read"])
        hashes = [r["token_hash"] for r in await store.engine.fetch("SELECT * FROM service_tokens")]
        assert token not in hashes and len(hashes) == 1
        assert (await store.service_token(token)) == made
    finally:
        await store.close()


def test_admin_token_commands_add_list_revoke(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        admin, ["--db", db_url, "token", "add", "bi", "--scopes", "events:read,progress:read"]
    )
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("wst_") and "shown this once" in added.stderr
    listed = runner.invoke(admin, ["--db", db_url, "token", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert (entry["name"], entry["scopes"], entry["revoked_at"]) == (
        "bi",
        ["events:read", "progress:read"],
        None,
    )
    assert token not in listed.stdout
    table = runner.invoke(admin, ["--db", db_url, "token", "list"])
    assert "bi" in table.stdout and "active" in table.stdout
    bad = runner.invoke(admin, ["--db", db_url, "token", "add", "x", "--scopes", "events:write"])
    assert bad.exit_code == 2
    assert (
        bad.output.strip()
        .splitlines()[-1]
        .endswith(
            "unknown scope 'events:write': the"
            " scopes are events:read, progress:read,"
            " users:write, catalog:write"
        )
    )
    assert runner.invoke(admin, ["--db", db_url, "token", "revoke", "bi"]).exit_code == 0
    again = runner.invoke(admin, ["--db", db_url, "token", "revoke", "bi"])
    assert again.exit_code == 1 and "no live service token named 'bi'" in again.output


def test_admin_events_schema_prints_and_writes_the_generated_doc(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(admin, ["events", "schema"])
    assert printed.exit_code == 0 and printed.stdout == render_markdown()
    doc = tmp_path / "events.md"
    doc.write_text(render_markdown().replace('"version"', '"stale"').join(["# t\n", "tail\n"]))
    written = runner.invoke(admin, ["events", "schema", "--write", str(doc)])
    assert written.exit_code == 0 and "rewritten" in written.stdout
    assert doc.read_text() == "# t\n" + render_markdown() + "tail\n"
    again = runner.invoke(admin, ["events", "schema", "--write", str(doc)])
    assert "up to date" in again.stdout
    (tmp_path / "plain.md").write_text("no markers\n")
    missing = runner.invoke(admin, ["events", "schema", "--write", str(tmp_path / "plain.md")])
    assert missing.exit_code == 1 and "no generated part" in missing.output
