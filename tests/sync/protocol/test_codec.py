"""sync.protocol.codec: every message round-trips in both formats; bad frames become DecodeError.

Each test runs twice through the ``binary`` fixture: msgpack in binary frames, JSON in
text frames.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.catalog import Catalog, Course, Lesson, Module, catalog_to_builtins
from sync.errors import DecodeError, ProtocolError
from sync.events import Event
from sync.protocol.codec import CLOSE_BAD_MESSAGE, Frame, decode_client, decode_server, encode
from sync.protocol.messages import (
    Ack,
    CatalogMsg,
    ClientMessage,
    Error,
    EventRejection,
    Feed,
    FeedEntry,
    Hello,
    HelloAccount,
    Pull,
    Push,
    Refusal,
    ServerMessage,
    Welcome,
    WelcomeAccount,
)

T = 1_763_790_000_000
HLC = "1763790000000-0001"

EVENTS = [
    Event(7, HLC, T, "lesson.opened", {"course": "py", "lesson": "intro"}, "Europe/Paris"),
    Event(
        8,
        "1763790000001-0000",
        T + 1,
        "lesson.progressed",
        {"course": "py", "lesson": "intro", "seconds": 30, "from": 0, "to": 30},
    ),
    Event(9, "1763790000002-0000", T + 2, "future.type", {"nested": {"a": [1, 2.5, None]}}),
]

CLIENT_MESSAGES: list[ClientMessage] = [
    Hello([HelloAccount("tok-1", 0), HelloAccount("tok-2", 42)], 1, "waymark-cli/0.1", "abc"),
    Hello([HelloAccount("tok")]),
    Push(1, "dev-1", EVENTS),
    Push(2, "dev-1", []),
    Pull("user-1", 17),
    Pull("user-1"),
]

CATALOG = Catalog([Course("py", "Python", [Module("m", "M", [Lesson("intro", "Intro")])])])

SERVER_MESSAGES: list[ServerMessage] = [
    Welcome(
        [WelcomeAccount("user-1", "ada", "dev-1", 8, 120, "Europe/Paris", "learner")],
        [Refusal(1, "unauthorized", "unknown token")],
        1,
        "waymark/0.1",
        "abc",
    ),
    Welcome([]),
    CatalogMsg(CATALOG.version, catalog_to_builtins(CATALOG)),
    Ack(3, "dev-1", 9, 2, 1, [EventRejection(9, "unknown_type", "unknown event type")], 121),
    Ack(4, "dev-1", 9),
    Feed(
        "user-1",
        [
            FeedEntry(
                120,
                "device",
                "lesson.opened",
                {"course": "py", "lesson": "intro"},
                HLC,
                T,
                "UTC",
                "dev-1",
                7,
            ),
            FeedEntry(
                121,
                "server",
                "event.rejected",
                {"device_id": "dev-1", "seq": 9, "code": "unknown_type"},
                HLC,
                T,
            ),
        ],
        121,
        True,
    ),
    Feed("user-1", [], 0),
    Error("bad_message", "invalid message", "$.events[0].seq"),
    Error("seq_gap", "expected seq 5"),
]


def frame_of(data: object, *, binary: bool) -> Frame:
    """Encode plain data as a frame of the format under test, whatever its shape."""
    if binary:
        return msgspec.msgpack.encode(data)
    return msgspec.json.encode(data).decode()


# -- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("msg", CLIENT_MESSAGES, ids=lambda m: type(m).__name__)
def test_client_message_round_trips(binary: bool, msg: ClientMessage) -> None:
    frame = encode(msg, binary=binary)
    assert isinstance(frame, bytes if binary else str)
    assert decode_client(frame) == msg


@pytest.mark.parametrize("msg", SERVER_MESSAGES, ids=lambda m: type(m).__name__)
def test_server_message_round_trips(binary: bool, msg: ServerMessage) -> None:
    frame = encode(msg, binary=binary)
    assert isinstance(frame, bytes if binary else str)
    assert decode_server(frame) == msg


def test_messages_are_tagged_by_type_and_use_wire_names(binary: bool) -> None:
    frame = encode(Push(1, "dev-1", EVENTS[1:2]), binary=binary)
    data = msgspec.msgpack.decode(frame) if isinstance(frame, bytes) else msgspec.json.decode(frame)
    assert data["type"] == "push"
    assert data["events"][0]["body"]["from"] == 0


def test_unknown_fields_are_ignored_so_newer_peers_interoperate(binary: bool) -> None:
    pull = {"type": "pull", "user_id": "u", "cursor": 3, "since_version": 2}
    assert decode_client(frame_of(pull, binary=binary)) == Pull("u", 3)
    ack = {"type": "ack", "batch": 1, "device_id": "d", "acked_seq": 4, "extra": [1]}
    assert decode_server(frame_of(ack, binary=binary)) == Ack(1, "d", 4)


# -- bad frames ---------------------------------------------------------------------------

# Each breaks the syntax before msgspec (which validates while it parses) sees a bad field.
GARBAGE: dict[bool, list[Frame]] = {
    True: [b"", b"\xc1", b"\x81\xa4type", b"\x81\xa4typ", b"\x81\xa4type\xa5hel", b"\xdb\xff"],
    False: ["", "{", "not json", '{"type" "hello"}', "\ud800", '{"type": "\ud800"}'],
}


@pytest.mark.parametrize("index", range(6))
def test_undecodable_frame_is_bad_frame(binary: bool, index: int) -> None:
    for decode in (decode_client, decode_server):
        with pytest.raises(DecodeError) as caught:
            decode(GARBAGE[binary][index])
        err = caught.value
        assert (err.code, err.close_code, err.path) == ("bad_frame", CLOSE_BAD_MESSAGE, None)
        assert err.message.startswith("not msgpack: " if binary else "not JSON: ")


def test_frame_in_the_other_format_is_refused(binary: bool) -> None:
    # A JSON hello sent in a binary frame, or msgpack bytes smuggled into a text frame.
    hello = {"type": "hello", "accounts": [{"token": "t"}]}
    frame: Frame = (
        msgspec.json.encode(hello) if binary else msgspec.msgpack.encode(hello).decode("latin-1")
    )
    with pytest.raises(DecodeError) as caught:
        decode_client(frame)
    assert caught.value.close_code == CLOSE_BAD_MESSAGE


EVENT = {"seq": 1, "hlc": HLC, "at": T, "type": "lesson.opened", "body": {}}


def push(**event: Any) -> dict[str, Any]:
    return {"type": "push", "batch": 1, "device_id": "d", "events": [EVENT, {**EVENT, **event}]}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param({"type": "hello", "accounts": []}, "$.accounts", id="no-accounts"),
        pytest.param(
            {"type": "hello", "accounts": [{"token": "t"}] * 33}, "$.accounts", id="too-many"
        ),
        pytest.param(
            {"type": "hello", "accounts": [{"token": ""}]}, "$.accounts[0].token", id="token"
        ),
        pytest.param(
            {"type": "hello", "accounts": [{"token": "t"}], "protocol": "1"},
            "$.protocol",
            id="protocol-as-text",
        ),
        pytest.param(push(seq=0), "$.events[1].seq", id="seq-zero"),
        pytest.param(push(hlc=7), "$.events[1].hlc", id="hlc-not-a-string"),
        pytest.param(push(at="noon"), "$.events[1].at", id="at-not-an-int"),
        pytest.param(push(body=[]), "$.events[1].body", id="body-not-object"),
        pytest.param(
            {"type": "push", "batch": -1, "device_id": "d", "events": []}, "$.batch", id="batch"
        ),
        pytest.param({"type": "pull", "user_id": "u", "cursor": -1}, "$.cursor", id="cursor"),
        pytest.param({"type": "pull"}, "$", id="missing-field"),
        pytest.param({"user_id": "u"}, "$", id="missing-type"),
        pytest.param(["pull", "u"], "$", id="array"),
        pytest.param("hello", "$", id="string"),
    ],
)
def test_wrong_shape_is_bad_message_with_path(binary: bool, data: object, path: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_client(frame_of(data, binary=binary))
    err = caught.value
    assert (err.code, err.close_code, err.path) == ("bad_message", CLOSE_BAD_MESSAGE, path)
    assert err.message.startswith("invalid message: ")
    assert "- at `" not in err.message  # the path travels on its own


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"type": "ack", "batch": 1, "device_id": "d"}, "$"),
        ({"type": "feed", "user_id": "u", "head": 1, "entries": [{"user_seq": 1}]}, "$.entries[0]"),
        ({"type": "error", "code": 4400, "message": "m"}, "$.code"),
    ],
)
def test_wrong_shape_from_server_is_bad_message_with_path(
    binary: bool, data: object, path: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_server(frame_of(data, binary=binary))
    assert (caught.value.code, caught.value.path) == ("bad_message", path)


@pytest.mark.parametrize("kind", ["subscribe", "Hello", "", 7])
def test_unknown_message_type_is_bad_message(binary: bool, kind: object) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_client(frame_of({"type": kind, "accounts": [{"token": "t"}]}, binary=binary))
    assert (caught.value.code, caught.value.path) == ("bad_message", "$.type")


def test_each_side_refuses_the_other_sides_messages(binary: bool) -> None:
    with pytest.raises(DecodeError, match="invalid message") as caught:
        decode_server(encode(CLIENT_MESSAGES[0], binary=binary))
    assert caught.value.path == "$.type"
    with pytest.raises(DecodeError, match="invalid message"):
        decode_client(encode(SERVER_MESSAGES[0], binary=binary))


def test_decode_error_is_a_protocol_error() -> None:
    err = DecodeError("bad_frame", "not JSON", CLOSE_BAD_MESSAGE)
    assert isinstance(err, ProtocolError)
    assert (str(err), err.path) == ("not JSON", None)


# -- fuzz ---------------------------------------------------------------------------------

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
texts = st.text() | st.text(st.characters() | surrogates)
plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what msgpack can carry
    | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# Frames that look like messages, so the fuzz also gets past the tag into the fields.
message_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["hello", "push", "pull", "welcome", "catalog", "ack", "feed", "error", "x"]
        )
    },
    optional={
        k: plain
        for k in ("accounts", "events", "batch", "device_id", "user_id", "cursor", "entries")
    },
)


def decodes_or_refuses(frame: Frame) -> None:
    for decode in (decode_client, decode_server):
        try:
            decode(frame)
        except DecodeError as err:
            assert err.code in ("bad_frame", "bad_message")
            assert err.close_code == CLOSE_BAD_MESSAGE


@settings(deadline=None, max_examples=300)
@given(data=st.data())
def test_arbitrary_frames_never_raise_anything_but_decode_error(
    binary: bool, data: st.DataObject
) -> None:
    decodes_or_refuses(data.draw(st.binary()) if binary else data.draw(texts))


@settings(deadline=None, max_examples=300)
@given(data=st.data())
def test_arbitrary_message_shapes_never_raise_anything_but_decode_error(
    binary: bool, data: st.DataObject
) -> None:
    decodes_or_refuses(frame_of(data.draw(message_like | plain), binary=binary))


@given(frame=st.binary())
def test_binary_garbage_in_a_text_frame_never_raises_anything_but_decode_error(
    frame: bytes,
) -> None:
    decodes_or_refuses(frame.decode("utf-8", errors="surrogateescape"))
