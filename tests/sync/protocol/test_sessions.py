"""sync.protocol.sessions: the sans-I/O sessions of both ends of /v1/sync."""

from __future__ import annotations

import msgspec
import pytest

from sync.errors import DecodeError, ProtocolError, UsageError
from sync.events import Event
from sync.protocol.codec import (
    CLOSE_BAD_MESSAGE,
    CLOSE_BATCH_TOO_LARGE,
    CLOSE_FORBIDDEN,
    CLOSE_UNSUPPORTED_PROTOCOL,
    Frame,
    decode_client,
    decode_server,
    encode,
)
from sync.protocol.messages import (
    MAX_BATCH,
    PROTOCOL_VERSION,
    Ack,
    Error,
    Feed,
    Hello,
    HelloAccount,
    Pull,
    Push,
    Welcome,
    WelcomeAccount,
)
from sync.protocol.sessions import ClientSession, ServerSession

T = 1_763_790_000_000

HELLO = Hello([HelloAccount("tok-ada", 3), HelloAccount("tok-bob")], client="test/1")
WELCOME = Welcome(
    [
        WelcomeAccount("user-ada", "ada", "dev-ada", 4, 10),
        WelcomeAccount("user-bob", "bob", "dev-bob", 0, 0),
    ]
)


def events(*seqs: int) -> list[Event]:
    return [
        Event(s, f"{T + s:013d}-0000", T + s, "lesson.opened", {"course": "c", "lesson": "l"})
        for s in seqs
    ]


def other_format(frame: Frame) -> Frame:
    """The same message in the other wire format."""
    msg = decode_client(frame)
    return encode(msg, binary=not isinstance(frame, bytes))


@pytest.fixture
def server(binary: bool) -> ServerSession:
    """A server session past the handshake, in the format under test."""
    session = ServerSession()
    assert session.receive(encode(HELLO, binary=binary)) == HELLO
    session.welcome(WELCOME)
    return session


def refused(session: ServerSession, frame: Frame) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        session.receive(frame)
    return caught.value


# -- ServerSession: the handshake ---------------------------------------------------------


@pytest.mark.parametrize(
    "first", [Push(1, "dev-ada", events(5)), Pull("user-ada", 0)], ids=["push", "pull"]
)
def test_first_message_must_be_hello(binary: bool, first: Push | Pull) -> None:
    err = refused(ServerSession(), encode(first, binary=binary))
    assert (err.code, err.close_code) == ("bad_message", CLOSE_BAD_MESSAGE)
    assert err.message == "the first message must be hello"


def test_hello_is_returned_for_the_shell_to_authenticate(binary: bool) -> None:
    session = ServerSession()
    assert session.receive(encode(HELLO, binary=binary)) == HELLO
    assert not session.greeted
    assert (session.devices, session.users) == ({}, set())


def test_welcome_records_the_accepted_accounts(binary: bool) -> None:
    session = ServerSession()
    session.receive(encode(HELLO, binary=binary))
    frame = session.welcome(WELCOME)
    assert decode_server(frame) == WELCOME
    assert session.greeted
    assert session.devices == {"dev-ada": "user-ada", "dev-bob": "user-bob"}
    assert session.users == {"user-ada", "user-bob"}


@pytest.mark.parametrize(
    ("account", "path"),
    [
        ({"token": "t", "clock": "yesterday"}, "$.accounts[0].clock"),
        ({"token": "t", "clock": "1763790000000-0000", "recorded": -1}, "$.accounts[0].recorded"),
    ],
)
def test_a_hello_clock_must_be_an_hlc_and_recorded_a_seq(
    binary: bool, account: dict[str, object], path: str
) -> None:
    frame = msgspec.json.encode({"type": "hello", "accounts": [account]})
    if binary:
        frame = msgspec.msgpack.encode({"type": "hello", "accounts": [account]})
    err = refused(ServerSession(), frame if binary else frame.decode())
    assert (err.code, err.close_code, err.path) == ("bad_message", CLOSE_BAD_MESSAGE, path)


def test_a_hello_clock_is_optional_and_kept(binary: bool) -> None:
    hello = Hello([HelloAccount("t", 3, "1763790000000-0000", 7)])
    session = ServerSession()
    assert session.receive(encode(hello, binary=binary)) == hello
    assert decode_client(encode(Hello([HelloAccount("t")]), binary=binary)) == Hello(
        [HelloAccount("t", 0, None, 0)]
    )


def test_second_hello_is_refused(server: ServerSession, binary: bool) -> None:
    err = refused(server, encode(HELLO, binary=binary))
    assert (err.code, err.close_code, err.message) == (
        "bad_message",
        CLOSE_BAD_MESSAGE,
        "hello sent twice",
    )


def test_second_hello_is_refused_while_the_first_is_being_authenticated(binary: bool) -> None:
    session = ServerSession()
    session.receive(encode(HELLO, binary=binary))
    err = refused(session, encode(HELLO, binary=binary))
    assert (err.code, err.message) == ("bad_message", "hello sent twice")


def test_push_before_welcome_is_forbidden(binary: bool) -> None:
    session = ServerSession()
    session.receive(encode(HELLO, binary=binary))
    err = refused(session, encode(Push(1, "dev-ada", events(5)), binary=binary))
    assert (err.code, err.close_code) == ("forbidden", CLOSE_FORBIDDEN)


@pytest.mark.parametrize("version", [0, PROTOCOL_VERSION + 1])
def test_protocol_version_mismatch_is_refused(binary: bool, version: int) -> None:
    session = ServerSession()
    hello = Hello([HelloAccount("tok")], protocol=version)
    err = refused(session, encode(hello, binary=binary))
    assert (err.code, err.close_code) == ("unsupported_protocol", CLOSE_UNSUPPORTED_PROTOCOL)
    assert f"protocol {version} is not supported" in err.message
    # The refusal is still answered in the hello's format.
    assert isinstance(session.error(err), bytes if binary else str)


def test_welcome_twice_is_a_usage_error(server: ServerSession) -> None:
    with pytest.raises(UsageError, match="welcome\\(\\) called twice"):
        server.welcome(WELCOME)


def test_undecodable_frame_is_a_protocol_error(binary: bool) -> None:
    session = ServerSession()
    with pytest.raises(DecodeError) as caught:
        session.receive(b"\xc1" if binary else "{")
    assert (caught.value.code, caught.value.close_code) == ("bad_frame", CLOSE_BAD_MESSAGE)
    assert isinstance(session.error(caught.value), bytes if binary else str)


# -- ServerSession: push and pull ---------------------------------------------------------


def test_push_for_a_welcomed_device_is_returned(server: ServerSession, binary: bool) -> None:
    push = Push(7, "dev-bob", events(1, 2, 5))
    assert server.receive(encode(push, binary=binary)) == push


def test_empty_push_is_accepted(server: ServerSession, binary: bool) -> None:
    push = Push(7, "dev-bob", [])
    assert server.receive(encode(push, binary=binary)) == push


def test_push_for_a_device_not_welcomed_is_forbidden(server: ServerSession, binary: bool) -> None:
    err = refused(server, encode(Push(1, "dev-eve", events(1)), binary=binary))
    assert (err.code, err.close_code) == ("forbidden", CLOSE_FORBIDDEN)
    assert "'dev-eve'" in err.message


def test_batch_of_max_size_is_accepted(server: ServerSession, binary: bool) -> None:
    push = Push(1, "dev-ada", events(*range(5, 5 + MAX_BATCH)))
    assert server.receive(encode(push, binary=binary)) == push


def test_batch_over_max_is_refused(server: ServerSession, binary: bool) -> None:
    err = refused(
        server, encode(Push(1, "dev-ada", events(*range(5, 6 + MAX_BATCH))), binary=binary)
    )
    assert (err.code, err.close_code) == ("batch_too_large", CLOSE_BATCH_TOO_LARGE)
    assert str(MAX_BATCH + 1) in err.message


@pytest.mark.parametrize(
    ("seqs", "path"),
    [
        ((5, 5), "$.events[1].seq"),
        ((5, 6, 4), "$.events[2].seq"),
        ((9, 3), "$.events[1].seq"),
    ],
)
def test_non_increasing_seq_is_refused_with_path(
    server: ServerSession, binary: bool, seqs: tuple[int, ...], path: str
) -> None:
    err = refused(server, encode(Push(1, "dev-ada", events(*seqs)), binary=binary))
    assert (err.code, err.close_code, err.path) == ("bad_message", CLOSE_BAD_MESSAGE, path)
    # The shell sends the error with its path.
    sent = decode_server(server.error(err))
    assert sent == Error("bad_message", err.message, path)


def test_pull_for_a_welcomed_user_is_returned(server: ServerSession, binary: bool) -> None:
    assert server.receive(encode(Pull("user-bob", 3), binary=binary)) == Pull("user-bob", 3)


def test_pull_for_an_unknown_user_is_forbidden(server: ServerSession, binary: bool) -> None:
    err = refused(server, encode(Pull("user-eve"), binary=binary))
    assert (err.code, err.close_code) == ("forbidden", CLOSE_FORBIDDEN)


# -- ServerSession: reply format ----------------------------------------------------------


def test_replies_use_the_format_of_the_hello(server: ServerSession, binary: bool) -> None:
    kind = bytes if binary else str
    assert isinstance(server.send(Ack(1, "dev-ada", 5)), kind)
    assert isinstance(server.send(Feed("user-ada", [], 10)), kind)
    assert isinstance(server.error(ProtocolError("seq_gap", "gap", CLOSE_BAD_MESSAGE)), kind)


def test_welcome_uses_the_format_of_the_hello(binary: bool) -> None:
    session = ServerSession()
    session.receive(encode(HELLO, binary=binary))
    assert isinstance(session.welcome(WELCOME), bytes if binary else str)


def test_a_frame_in_the_other_format_does_not_switch_the_reply_format(binary: bool) -> None:
    session = ServerSession()
    session.receive(encode(HELLO, binary=binary))
    # While the shell authenticates, a frame arrives in the other format.
    with pytest.raises(ProtocolError):
        session.receive(other_format(encode(HELLO, binary=binary)))
    assert isinstance(session.welcome(WELCOME), bytes if binary else str)
    # Later frames may come in either format; replies stay in the hello's.
    session.receive(other_format(encode(Pull("user-ada"), binary=binary)))
    assert isinstance(session.send(Feed("user-ada", [], 10)), bytes if binary else str)


def test_error_carries_code_message_and_path(server: ServerSession) -> None:
    err = ProtocolError("bad_message", "events out of order", CLOSE_BAD_MESSAGE, "$.events[1]")
    assert decode_server(server.error(err)) == Error(
        "bad_message", "events out of order", "$.events[1]"
    )


# -- ClientSession ------------------------------------------------------------------------


def test_client_hello_encodes_a_hello(binary: bool) -> None:
    client = ClientSession(binary=binary)
    frame = client.hello([HelloAccount("tok", 12)], client="waymark/0.1", catalog_version="v9")
    assert isinstance(frame, bytes if binary else str)
    assert decode_client(frame) == Hello(
        [HelloAccount("tok", 12)], PROTOCOL_VERSION, "waymark/0.1", "v9"
    )


def test_client_defaults_to_msgpack() -> None:
    frame = ClientSession().pull("user-ada", 0)
    assert isinstance(frame, bytes)


def test_client_push_numbers_batches_and_tracks_them_in_flight(binary: bool) -> None:
    client = ClientSession(binary=binary)
    first, frame = client.push("dev-ada", events(5, 6))
    second, _ = client.push("dev-bob", events(1))
    assert (first, second) == (1, 2)
    assert decode_client(frame) == Push(1, "dev-ada", events(5, 6))
    assert client.in_flight == {1: ("dev-ada", 6), 2: ("dev-bob", 1)}


def test_client_push_without_events_is_a_usage_error() -> None:
    client = ClientSession()
    with pytest.raises(UsageError, match="at least one event"):
        client.push("dev-ada", [])
    assert client.in_flight == {}


def test_client_pull_encodes_a_pull(binary: bool) -> None:
    assert decode_client(ClientSession(binary=binary).pull("user-ada", 17)) == Pull("user-ada", 17)


def test_ack_clears_only_its_batch_from_in_flight(binary: bool) -> None:
    client = ClientSession(binary=binary)
    client.push("dev-ada", events(5))
    client.push("dev-ada", events(6))
    ack = Ack(1, "dev-ada", 5, accepted=1, feed_head=11)
    assert client.receive(encode(ack, binary=binary)) == ack
    assert client.in_flight == {2: ("dev-ada", 6)}
    # An ack for a batch not in flight (say, from before a reconnect) is harmless.
    client.receive(encode(Ack(99, "dev-ada", 5), binary=binary))
    assert client.in_flight == {2: ("dev-ada", 6)}


def test_other_server_messages_leave_in_flight_alone(binary: bool) -> None:
    client = ClientSession(binary=binary)
    client.push("dev-ada", events(5))
    for msg in (WELCOME, Feed("user-ada", [], 3), Error("seq_gap", "expected seq 5")):
        assert client.receive(encode(msg, binary=binary)) == msg
    assert client.in_flight == {1: ("dev-ada", 5)}


def test_client_receive_refuses_garbage(binary: bool) -> None:
    with pytest.raises(DecodeError):
        ClientSession(binary=binary).receive(b"\xc1" if binary else "{")


# -- both ends ----------------------------------------------------------------------------


def test_a_whole_exchange_between_the_two_sessions(binary: bool) -> None:
    client, server = ClientSession(binary=binary), ServerSession()
    hello = server.receive(client.hello([HelloAccount("tok-ada")], client="t", catalog_version=""))
    assert isinstance(hello, Hello)
    assert client.receive(server.welcome(WELCOME)) == WELCOME

    batch, frame = client.push("dev-ada", events(5, 6))
    push = server.receive(frame)
    assert isinstance(push, Push)
    ack = Ack(push.batch, push.device_id, push.events[-1].seq, accepted=2, feed_head=12)
    assert client.receive(server.send(ack)) == ack
    assert batch == push.batch
    assert client.in_flight == {}

    pull = server.receive(client.pull("user-ada", 10))
    assert pull == Pull("user-ada", 10)


def test_sessions_do_not_share_state() -> None:
    a, b = ServerSession(), ServerSession()
    a.receive(msgspec.msgpack.encode({"type": "hello", "accounts": [{"token": "t"}]}))
    a.welcome(WELCOME)
    assert (b.greeted, b.hello_received, b.devices) == (False, False, {})
