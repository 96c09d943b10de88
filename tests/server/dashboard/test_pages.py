"""The dashboard's pages in-process on both engines, the clock injected: sign-in and
sign-out forms (CSRF in a hidden field, the login throttle, learners refused, safe
returns), redirects to sign-in, who sees which learners, freshness, error pages for bad
input (never a 500), the strict CSP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.dashboard.freshness import DAY_MS
from server.security import DASHBOARD_CSP
from server.storage.accounts import LoginThrottle
from server.storage.store import Store
from tests.server.conftest import Clock, catalog

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")

Client = AsyncTestClient[Any]


async def seed(db_url: str, clock: Clock) -> dict[str, str]:
    """ines (instructor) made group A with leo; olga (instructor) made group B with mia;
    nia is in no group; ada is an admin. leo's phone synced an hour and a half ago, mia's
    tablet two days ago, and mia's laptop just now."""
    store = Store.for_url(db_url, clock=clock)
    await store.open()
    try:
        await store.load_catalog(catalog())
        ids = {}
        for name, role in [
            ("ines", "instructor"),
            ("olga", "instructor"),
            ("ada", "admin"),
            ("leo", "learner"),
            ("mia", "learner"),
            ("nia", "learner"),
        ]:
            ids[name] = (await store.create_user(name, "pw", role=role)).id
        a = await store.create_group("Group A", "ines")
        b = await store.create_group("Group B", "olga")
        await store.set_member(a.id, ids["leo"], True)
        await store.set_member(b.id, ids["mia"], True)
        start = clock.now
        phone, _ = await store.register_device(ids["leo"], "phone")
        tablet, _ = await store.register_device(ids["mia"], "tablet")
        laptop, _ = await store.register_device(ids["mia"], "laptop")
        clock.now = start
        await store.device_heard(tablet, None, 0)
        clock.now = start + 2 * DAY_MS - 90 * 60_000
        await store.device_heard(phone, None, 0)
        clock.now = start + 2 * DAY_MS
        await store.device_heard(laptop, None, 0)
        return ids
    finally:
        await store.close()


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    clock = Clock()
    ids = await seed(db_url, clock)
    application = create_app(db_url, clock=clock, login_throttle=LoginThrottle(user_free=2))
    async with AsyncTestClient(app=application) as client:
        yield client, ids


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def sign_in(
    client: Client, name: str = "ines", password: str = "pw", next_: str = "/dashboard"
) -> Any:
    page = await client.get("/dashboard/sign-in")
    assert page.status_code == 200
    form = {"username": name, "password": password, "csrf": csrf_of(page.text), "next": next_}
    return await client.post("/dashboard/sign-in", data=form, follow_redirects=False)


def learners(html: str) -> list[str]:
    return re.findall(r'<tr data-learner="[^"]+">\s*<th scope="row">([^<]+)</th>', html)


async def test_a_page_without_a_session_redirects_to_sign_in_and_back(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    away = await client.get("/dashboard?sort=last-sync", follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == "/dashboard/sign-in?next=/dashboard%3Fsort%3Dlast-sync"
    form = await client.get(away.headers["location"])
    assert 'name="next" value="/dashboard?sort=last-sync"' in form.text
    back = await sign_in(client, next_="/dashboard?sort=last-sync")
    assert back.status_code == 303 and back.headers["location"] == "/dashboard?sort=last-sync"
    assert client.cookies.get("waymark_session")
    home = await client.get("/dashboard?sort=last-sync")
    assert home.status_code == 200 and "Signed in as <strong>ines</strong>" in home.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/dashboard", "/v1/groups", "/dashboardx"]
)
async def test_sign_in_never_sends_the_browser_elsewhere(
    app: tuple[Client, dict[str, str]], target: str
) -> None:
    client, _ = app
    reply = await sign_in(client, next_=target)
    assert reply.status_code == 303 and reply.headers["location"] == "/dashboard"


async def test_wrong_passwords_show_an_error_and_count_in_the_login_throttle(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    for _ in range(2):
        wrong = await sign_in(client, password="nope")
        assert wrong.status_code == 401
        assert 'role="alert"' in wrong.text and "Wrong user name or password." in wrong.text
        assert 'value="ines"' in wrong.text  # the name is kept, the password is not
        assert "waymark_session" not in client.cookies
    locked = await sign_in(client, password="nope")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in locked.text
    # The throttle is the API's too: the JSON sign-in is locked as well.
    api = await client.post("/v1/auth/session", json={"username": "ines", "password": "pw"})
    assert api.status_code == 429


async def test_a_learner_is_refused(app: tuple[Client, dict[str, str]]) -> None:
    client, _ = app
    refused = await sign_in(client, name="leo")
    assert refused.status_code == 403 and "learner" in refused.text
    assert "waymark_session" not in client.cookies


async def test_the_sign_in_form_needs_its_csrf_token(app: tuple[Client, dict[str, str]]) -> None:
    client, _ = app
    await client.get("/dashboard/sign-in")
    form = {"username": "ines", "password": "pw", "csrf": "forged", "next": "/dashboard"}
    forged = await client.post("/dashboard/sign-in", data=form, follow_redirects=False)
    assert forged.status_code == 403 and "expired or did not come from this site" in forged.text
    assert "waymark_session" not in client.cookies
    client.cookies.clear()  # another site's page: no sign-in cookie at all
    form["csrf"] = csrf_of(forged.text)
    bare = await client.post("/dashboard/sign-in", data=form, follow_redirects=False)
    assert bare.status_code == 403 and "waymark_session" not in client.cookies


async def test_signing_out_needs_the_session_s_token_and_ends_the_session(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    await sign_in(client)
    home = await client.get("/dashboard")
    kept = client.cookies["waymark_session"]
    forged = await client.post("/dashboard/sign-out", data={"csrf": "x"}, follow_redirects=False)
    assert forged.status_code == 403 and forged.headers["content-type"].startswith("text/html")
    assert (await client.get("/dashboard")).status_code == 200  # still signed in
    out = await client.post(
        "/dashboard/sign-out", data={"csrf": csrf_of(home.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert out.headers["location"] == "/dashboard/sign-in?signed_out=true"
    assert "waymark_session" not in client.cookies
    notice = await client.get(out.headers["location"])
    assert "You are signed out." in notice.text
    client.cookies.set("waymark_session", kept)  # the old cookie is dead on the server
    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 303


async def test_an_instructor_sees_the_learners_of_the_groups_they_created_an_admin_everyone(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    await sign_in(client, "ines")
    ines = (await client.get("/dashboard")).text
    assert learners(ines) == ["leo"]
    assert "Group A" in ines and "Group B" not in ines
    assert "Course One" in ines and "<code>c1</code>" in ines
    client.cookies.clear()
    await sign_in(client, "olga")
    assert learners((await client.get("/dashboard")).text) == ["mia"]
    client.cookies.clear()
    await sign_in(client, "ada")
    ada = (await client.get("/dashboard")).text
    assert learners(ada) == ["leo", "mia", "nia"]
    assert "Group A" in ada and "Group B" in ada
    by_sync = (await client.get("/dashboard?sort=last-sync")).text
    assert learners(by_sync) == ["nia", "leo", "mia"]  # never, 1.5 h ago, just now


async def test_each_learner_shows_when_their_devices_last_synced(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    await sign_in(client, "ada")
    html = (await client.get("/dashboard")).text
    rows = dict(re.findall(r'<th scope="row">(\w+)</th>(.*?)</tr>', html, re.S))
    assert "(1 h ago)" in rows["leo"] and "Synced within a day" in rows["leo"]
    assert "(just now)" in rows["mia"] and "Synced within an hour" in rows["mia"]
    # mia's tablet has been silent for two days: it may hold offline work.
    assert "1 of 2 devices not heard from for a day or more" in rows["mia"]
    assert "never" in rows["nia"] and "Never synced" in rows["nia"]
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">', rows["leo"])


async def test_bad_input_gets_an_html_error_page_never_a_500(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    page = await client.get("/dashboard/sign-in")
    csrf = csrf_of(page.text)
    cases: list[dict[str, Any]] = [
        {"json": {"username": "ines"}},
        {"content": b"\xff\xfe", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        {"content": b"username=a&username=b&password=pw&csrf=" + csrf.encode()},
        {"data": {"username": "ines", "csrf": csrf}},
        {"files": {"username": ("a.txt", b"x")}, "data": {"password": "pw", "csrf": csrf}},
        {"data": {"username": "ines\x00", "password": "pw", "csrf": csrf}},
    ]
    for case in cases:
        headers = case.pop("headers", {})
        if "content" in case and not headers:
            headers = {"content-type": "application/x-www-form-urlencoded"}
        reply = await client.post(
            "/dashboard/sign-in", headers=headers, follow_redirects=False, **case
        )
        assert reply.status_code == 400, (case, reply.text)
        assert reply.headers["content-type"].startswith("text/html"), case
        assert "<h1>Bad Request</h1>" in reply.text
    await sign_in(client)
    bad_sort = await client.get("/dashboard?sort=bogus")
    assert bad_sort.status_code == 400 and "sort" in bad_sort.text
    assert bad_sort.headers["content-type"].startswith("text/html")
    bad_flag = await client.get("/dashboard/sign-in?signed_out=maybe")
    assert bad_flag.status_code == 400
    empty = await client.post(
        "/dashboard/sign-out", content=b"", headers={"content-type": "text/plain"}
    )
    assert empty.status_code == 400


async def test_a_device_token_is_not_a_dashboard_session(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    login = await client.post(
        "/v1/auth/login", json={"username": "ines", "password": "pw", "device_name": "t"}
    )
    token = login.json()["token"]
    reply = await client.get("/dashboard", headers={"authorization": f"Bearer {token}"})
    assert reply.status_code == 403 and "needs a web session" in reply.text


async def test_dashboard_answers_carry_the_strict_csp_and_are_left_out_of_openapi(
    app: tuple[Client, dict[str, str]],
) -> None:
    client, _ = app
    for path in ("/dashboard/sign-in", "/dashboard/static/dashboard.css", "/dashboard"):
        reply = await client.get(path, follow_redirects=False)
        assert reply.headers["content-security-policy"] == DASHBOARD_CSP, path
    await sign_in(client)
    home = await client.get("/dashboard")
    assert home.headers["content-security-policy"] == DASHBOARD_CSP
    assert home.headers["cache-control"] == "no-store"
    assert " style=" not in home.text and "<style" not in home.text
    assert re.findall(r"<script[^>]*>", home.text) == [
        '<script src="/dashboard/static/live.js" defer>'
    ]
    schema = (await client.get("/schema/openapi.json")).json()
    assert not [p for p in schema["paths"] if p.startswith("/dashboard")]


async def test_a_course_page_shows_the_course_report_of_the_viewer_s_learners(
    app: tuple[Client, dict[str, str]], db_url: str
) -> None:
    client, ids = app
    await sign_in(client, "ines")
    home = (await client.get("/dashboard")).text
    assert '<a href="/dashboard/courses/c1">Course One</a>' in home
    # leo (ines's group A) is in the course's learners only once he has started it.
    empty = (await client.get("/dashboard/courses/c1")).text
    assert "No learner you can see has started this course." in empty
    store = Store.for_url(db_url, clock=Clock())
    await store.open()
    try:
        for name in ("leo", "mia"):
            body = {"course": "c1", "lesson": "read"}
            await store.record_action(ids[name], "lesson.completed", body)
    finally:
        await store.close()
    page = await client.get("/dashboard/courses/c1")
    assert page.status_code == 200
    html = page.text
    table = html.split("Each learner's progress")[1]
    rows = re.findall(r'<tr>\s*<th scope="row">(\w+)</th>', table)
    assert rows == ["leo"]  # mia is in group B, which ines does not teach
    assert "1 of 4" in html  # leo's lessons: read, of the four (read, intro, video, lab)
    assert 'href="/v1/reports/courses/c1?format=csv"' in html
    assert html.count("<svg") == 2 and "Completion by module" in html
    # A group ines does not teach: the reports' 403, as an HTML page.
    refused = await client.get("/dashboard/courses/c1?group=Group%20B")
    assert refused.status_code == 403 and "you do not teach group" in refused.text
    assert "<html" in refused.text
    missing = await client.get("/dashboard/courses/nope")
    assert missing.status_code == 404 and "<html" in missing.text
