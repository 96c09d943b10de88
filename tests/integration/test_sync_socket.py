"""``/v1/sync`` against a real server process: bad input gets a specific answer and close
code, learners are isolated, revoked devices are refused, and nobody else is disturbed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sync.protocol.codec import encode
from sync.protocol.messages import (
    Ack,
    CatalogMsg,
    Error,
    Feed,
    Hello,
    HelloAccount,
    Pull,
    Push,
    Welcome,
)
from tests.conftest import RunningServer, init_db, launch_server, waymark
from tests.integration.wire import event, http, login, open_session, recv, until

DOCUMENTED_CLOSE_CODES = {1000, 1009, 1012, 1013, 4400, 4401, 4403, 4406, 4413}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module; every test logs in afresh, so each has its own devices."""
    db = init_db(f"sqlite:///{tmp_path_factory.mktemp('sock') / 'server.db'}")
    for name, role in (("ann", "learner"), ("bob", "learner"), ("ivy", "instructor")):
        result = waymark(
            "admin", "--db", db, "user", "add", name, "--password", "pw", "--role", role
        )
        assert result.returncode == 0, result.stderr
    server = launch_server(db)
    yield server
    assert server.stop() == 0


async def closed_with(ws) -> tuple[int | None, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    await ws.close()
    rcvd = info.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, "")


async def error_then_close(ws) -> tuple[Error, int | None]:  # type: ignore[no-untyped-def]
    """Skip what comes first (welcome, catalog, feed) up to the error, then the close."""
    while not isinstance(msg := await recv(ws), Error):
        pass
    code, _ = await closed_with(ws)
    return msg, code


@pytest.mark.parametrize("frame", ["not json", b"\xc1\xff\x00", "{}", '{"type": "nope"}'])
async def test_malformed_frames_get_an_error_and_close_4400(server: RunningServer, frame) -> None:  # type: ignore[no-untyped-def]
    async with connect(server.ws_url) as ws:
        await ws.send(frame)
        error, code = await error_then_close(ws)
    assert code == 4400 and error.code in ("bad_frame", "bad_message")


async def test_invalid_message_error_names_the_path(server: RunningServer) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send('{"type": "hello", "accounts": [{"token": 5}]}')
        error, code = await error_then_close(ws)
    assert code == 4400 and error.path == "$.accounts[0].token"


async def test_a_message_before_hello_is_refused(server: RunningServer) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Pull("x", 0), binary=True))
        error, code = await error_then_close(ws)
    assert code == 4400 and "first message must be hello" in error.message


async def test_an_unknown_token_is_refused_with_4401(server: RunningServer) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Hello([HelloAccount("bogus")]), binary=True))
        error, code = await error_then_close(ws)
    assert (error.code, code) == ("unauthorized", 4401)


async def test_an_unsupported_protocol_version_is_refused_with_4406(server: RunningServer) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Hello([HelloAccount("x")], protocol=99), binary=False))
        error, code = await error_then_close(ws)
    assert (error.code, code) == ("unsupported_protocol", 4406)


async def test_a_revoked_device_is_refused_with_a_clear_reason(server: RunningServer) -> None:
    ann = login(server.url, "ann")
    result = waymark("admin", "--db", server.db, "revoke", ann["device_id"])
    assert result.returncode == 0, result.stderr
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Hello([HelloAccount(ann["token"])]), binary=True))
        error, code = await error_then_close(ws)
    assert (error.code, code) == ("device_revoked", 4403) and "revoked" in error.message
    status, problem = http("GET", f"{server.url}/v1/me/progress", token=ann["token"])
    assert status == 403 and "revoked" in problem["detail"]


async def test_a_kiosk_hello_accepts_good_accounts_and_names_refused_ones(
    server: RunningServer,
) -> None:
    ann, bob = login(server.url, "ann"), login(server.url, "bob")
    waymark("admin", "--db", server.db, "revoke", bob["device_id"])
    ws, welcome = await open_session(server.ws_url, ann["token"], bob["token"], "bogus")
    await ws.close()
    assert [a.username for a in welcome.accounts] == ["ann"]
    assert [(r.index, r.code) for r in welcome.refused] == [
        (1, "device_revoked"),
        (2, "unauthorized"),
    ]


async def test_a_learner_cannot_push_or_pull_for_another_learner(server: RunningServer) -> None:
    ann, bob = login(server.url, "ann"), login(server.url, "bob")
    ws, _ = await open_session(server.ws_url, ann["token"])
    await ws.send(encode(Push(1, bob["device_id"], [event(1)]), binary=True))
    error, code = await error_then_close(ws)
    assert (error.code, code) == ("forbidden", 4403)
    ws, _ = await open_session(server.ws_url, ann["token"])
    await ws.send(encode(Pull(bob["user_id"], 0), binary=True))
    error, code = await error_then_close(ws)
    assert (error.code, code) == ("forbidden", 4403)
    _, progress = http("GET", f"{server.url}/v1/me/progress", token=bob["token"])
    assert progress["feed_head"] == 0


async def test_rest_shows_other_learners_only_to_instructors(server: RunningServer) -> None:
    ann, ivy = login(server.url, "ann"), login(server.url, "ivy")
    status, problem = http("GET", f"{server.url}/v1/users/bob/progress", token=ann["token"])
    assert status == 403 and problem["title"] == "Forbidden"
    status, body = http("GET", f"{server.url}/v1/users/bob/progress", token=ivy["token"])
    assert status == 200 and body["user"] == "bob"
    status, problem = http("GET", f"{server.url}/v1/users/nobody/progress", token=ivy["token"])
    assert status == 404 and problem["status"] == 404


@pytest.mark.parametrize(
    ("type_", "body", "code"),
    [
        ("lesson.teleported", {}, "unknown_type"),
        ("lesson.opened", {"course": "nope"}, "unknown_course"),
        ("lesson.opened", {"lesson": "nope"}, "unknown_lesson"),
        ("lesson.progressed", {"seconds": -5}, "invalid_body"),
        ("lesson.progressed", {"seconds": 10**9}, "invalid_body"),
        ("lesson.opened", {"note": b"\x00"}, "invalid_body"),  # MessagePack bin
        ("lesson.progressed", {"lesson": "video", "position": 5000}, "invalid_value"),
        ("lesson.progressed", {"lesson": "video", "from": 50, "to": 10}, "invalid_value"),
    ],
)
async def test_bad_events_are_rejected_for_good_and_the_connection_goes_on(
    server: RunningServer, type_: str, body: dict[str, object], code: str
) -> None:
    ann = login(server.url, "ann")
    ws, welcome = await open_session(server.ws_url, ann["token"])
    device = welcome.accounts[0].device_id
    await ws.send(encode(Push(1, device, [event(1, type_, **body), event(2)]), binary=True))
    ack = await until(ws, Ack)
    assert ack.acked_seq == 2 and ack.accepted == 1
    assert [(r.seq, r.code) for r in ack.rejected] == [(1, code)]
    assert "msgspec" not in ack.rejected[0].reason  # says what is wrong, in our words
    msg = await until(ws, Feed)  # the rejection is also in the learner's feed
    assert msg.entries[0].type == "event.rejected" and msg.entries[0].body["code"] == code
    await ws.send(encode(Push(2, device, [event(3)]), binary=True))
    assert (await until(ws, Ack)).acked_seq == 3
    await ws.close()


async def test_an_oversized_batch_is_refused_with_4413(server: RunningServer) -> None:
    ann = login(server.url, "ann")
    ws, welcome = await open_session(server.ws_url, ann["token"])
    events = [event(i) for i in range(1, 502)]
    await ws.send(encode(Push(1, welcome.accounts[0].device_id, events), binary=True))
    msg = await until(ws, Error)
    code, _ = await closed_with(ws)
    assert (msg.code, code) == ("batch_too_large", 4413)


async def test_a_frame_over_one_mebibyte_is_closed_with_1009(server: RunningServer) -> None:
    async with connect(server.ws_url, max_size=None) as ws:
        await ws.send(b"\x00" * (1 << 20 + 1))
        code, _ = await closed_with(ws)
    assert code == 1009


async def test_a_seq_gap_is_reported_and_the_prefix_acked(server: RunningServer) -> None:
    ann = login(server.url, "ann")
    ws, welcome = await open_session(server.ws_url, ann["token"])
    await ws.send(encode(Push(1, welcome.accounts[0].device_id, [event(1), event(3)]), binary=True))
    ack = await until(ws, Ack)
    gap = await until(ws, Error)
    assert ack.acked_seq == 1 and gap.code == "seq_gap" and "resend from 2" in gap.message
    await ws.close()


async def test_a_bad_client_does_not_disturb_a_good_one(server: RunningServer) -> None:
    ann, bob = login(server.url, "ann"), login(server.url, "bob")
    good, welcome = await open_session(server.ws_url, ann["token"])
    async with connect(server.ws_url) as bad:
        await bad.send(b"\xff" * 100)
        await closed_with(bad)
    await good.send(encode(Push(1, welcome.accounts[0].device_id, [event(1)]), binary=True))
    assert (await until(good, Ack)).accepted == 1
    await good.close()
    assert http("GET", f"{server.url}/v1/me/progress", token=bob["token"])[0] == 200


async def test_replies_use_the_format_of_the_hello(server: RunningServer) -> None:
    ann = login(server.url, "ann")
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Hello([HelloAccount(ann["token"])]), binary=False))
        assert isinstance(await ws.recv(), str)
    async with connect(server.ws_url) as ws:
        await ws.send(encode(Hello([HelloAccount(ann["token"])]), binary=True))
        assert isinstance(await ws.recv(), bytes)


async def test_the_catalog_is_sent_only_when_the_device_has_another_version(
    server: RunningServer,
) -> None:
    ann = login(server.url, "ann")
    ws, welcome = await open_session(server.ws_url, ann["token"])
    assert isinstance(await recv(ws), CatalogMsg)
    await ws.close()
    async with connect(server.ws_url) as ws:
        far = 10**12  # a cursor past the head: no backlog either
        hello = Hello([HelloAccount(ann["token"], far)], catalog_version=welcome.catalog_version)
        await ws.send(encode(hello, binary=True))
        assert isinstance(await recv(ws), Welcome)
        await ws.send(encode(Pull(welcome.accounts[0].user_id, far), binary=True))
        reply = await recv(ws)  # the pull's answer comes next: no catalog was queued before it
        assert isinstance(reply, Feed) and reply.entries == []


messages = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.dictionaries(
        st.sampled_from(["type", "accounts", "batch", "device_id", "events", "token", "cursor"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=5,
    ).map(lambda d: msgspec.json.encode({"type": "hello", **d}).decode()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=st.lists(messages, min_size=1, max_size=3))
def test_random_bytes_and_messages_get_documented_answers(server: RunningServer, frames) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with connect(server.ws_url, max_size=None) as ws:
            try:
                for frame in frames:
                    await ws.send(frame)
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code in DOCUMENTED_CLOSE_CODES
        assert http("GET", f"{server.url}/v1/health")[0] == 200

    asyncio.run(run())
