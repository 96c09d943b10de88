"""sync.protocol.sessions: every protocol rule of both ends of /v1/sync, without a socket.

Each test feeds a session frames and effect results and checks the effects it returns: the
frames it would send (decoded), the close code, and the store or journal work it asks for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from sync.catalog import catalog_from_server, parse_catalog
from sync.errors import ERROR_CODES, ProtocolError, UsageError
from sync.events import Event
from sync.protocol.codec import Frame, decode_client, decode_server, encode
from sync.protocol.messages import (
    FEED_PAGE,
    MAX_BATCH,
    PROTOCOL_VERSION,
    Ack,
    CatalogMsg,
    Error,
    EventRejection,
    Feed,
    FeedEntry,
    Hello,
    HelloAccount,
    Pull,
    Push,
    Refusal,
    Welcome,
    WelcomeAccount,
)
from sync.protocol.sessions import (
    PIPELINE,
    ApplyFeed,
    Authenticate,
    Changed,
    ClientSession,
    Close,
    Credential,
    DeviceHeard,
    Follow,
    Login,
    MarkAcked,
    Merge,
    Publish,
    ReadFeed,
    ReadPending,
    Refused,
    ResetFeed,
    ResumeLater,
    Send,
    ServerSession,
    SetPlan,
    SetSynced,
    StoreCatalog,
)

T = 1_763_790_000_000
CATALOG = parse_catalog(
    (Path(__file__).parents[2] / "fixtures" / "catalog.yaml").read_text(), "yaml"
)
CLOCK = f"{T:013d}-0000"

HELLO = Hello(
    [HelloAccount("tok-ada", 3, CLOCK, 9), HelloAccount("tok-bob", 0, CLOCK, 0)],
    client="test/1",
    catalog_version=CATALOG.version,
)
ADA = Credential("dev-ada", "user-ada", "ada", 4, 10, plan="premium")
BOB = Credential("dev-bob", "user-bob", "bob", 0, 0)


def events(*seqs: int) -> list[Event]:
    return [
        Event(s, f"{T + s:013d}-0000", T + s, "lesson.opened", {"course": "c", "lesson": "l"})
        for s in seqs
    ]


def entries(first: int, last: int, device: str | None = "dev-other") -> list[FeedEntry]:
    return [
        FeedEntry(n, "device", "lesson.opened", {}, f"{T + n:013d}-0000", T + n, "", device, n)
        for n in range(first, last + 1)
    ]


def sent(effects: list[Any]) -> list[Any]:
    """The messages the effects send, decoded from their frames."""
    out = []
    for effect in effects:
        if isinstance(effect, Send):
            frame = effect.frame
            msg = decode_server(frame) if _is_server(effect.message) else decode_client(frame)
            assert msg == effect.message
            out.append(msg)
    return out


def _is_server(msg: object) -> bool:
    return isinstance(msg, Welcome | CatalogMsg | Ack | Feed | Error)


def work(effects: list[Any]) -> list[Any]:
    """The effects other than sends."""
    return [e for e in effects if not isinstance(e, Send)]


def wire(msg: Any, binary: bool) -> Frame:
    return encode(msg, binary=binary)


def refusal(effects: list[Any]) -> tuple[str, str, str | None, int]:
    """(code, message, path, close code) of effects that refuse and close."""
    (error,) = sent(effects)
    (close,) = work(effects)
    assert isinstance(error, Error) and isinstance(close, Close)
    assert effects[-1] == close  # the error goes out first
    return error.code, error.message, error.path, close.code


@pytest.fixture
def server(binary: bool) -> ServerSession:
    """A server session past the handshake (ada and bob, cursors at their heads)."""
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    effects = session.authenticated([ADA, BOB], CATALOG)
    for read in [e for e in effects if isinstance(e, ReadFeed)]:
        if read.user_id == "user-ada":
            session.feed_read(read, entries(4, 10), 10)
        else:
            session.feed_read(read, [], 0)
    return session


# == ServerSession: the handshake =============================================================


@pytest.mark.parametrize(
    "first", [Push(1, "dev-ada", events(5)), Pull("user-ada", 0)], ids=["push", "pull"]
)
def test_first_message_must_be_hello(binary: bool, first: Push | Pull) -> None:
    session = ServerSession()
    assert refusal(session.receive(wire(first, binary))) == (
        "bad_message",
        "the first message must be hello",
        None,
        4400,
    )
    assert session.closed and session.receive(wire(HELLO, binary)) == []


def test_a_hello_asks_the_shell_to_authenticate_its_accounts(binary: bool) -> None:
    session = ServerSession()
    assert session.receive(wire(HELLO, binary)) == [Authenticate(HELLO.accounts)]
    assert not session.greeted and session.users == []


@pytest.mark.parametrize(
    ("account", "path"),
    [
        ({"token": "t", "clock": "yesterday"}, "$.accounts[0].clock"),
        ({"token": "t", "clock": "1763790000000-0000", "recorded": -1}, "$.accounts[0].recorded"),
        ({"token": ""}, "$.accounts[0].token"),
    ],
)
def test_a_malformed_hello_is_refused_with_the_path(
    binary: bool, account: dict[str, object], path: str
) -> None:
    data = {"type": "hello", "accounts": [account]}
    frame = msgspec.msgpack.encode(data) if binary else msgspec.json.encode(data).decode()
    code, message, where, close = refusal(ServerSession().receive(frame))
    assert (code, where, close) == ("bad_message", path, 4400)
    assert "msgspec" not in message and message.startswith("invalid message: ")


@pytest.mark.parametrize(
    ("account", "heard"),
    [
        ({"token": "t", "clock": CLOCK, "recorded": 7}, DeviceHeard(0, CLOCK, 7)),
        ({"token": "t", "clock": CLOCK, "recorded": 0}, DeviceHeard(0, CLOCK, 0)),
        # A client before ``recorded``: what it holds is unknown (None), not 0.
        ({"token": "t", "clock": CLOCK}, DeviceHeard(0, CLOCK, None)),
        ({"token": "t"}, DeviceHeard(0, None, None)),
        # A field this server does not know (a newer client's) is ignored.
        ({"token": "t", "recorded": 2, "unsent_bytes": 5}, DeviceHeard(0, None, 2)),
    ],
)
def test_the_device_is_heard_with_what_it_recorded_or_none_when_it_did_not_say(
    binary: bool, account: dict[str, object], heard: DeviceHeard
) -> None:
    data = {"type": "hello", "accounts": [account], "pending_total": 3}
    frame = msgspec.msgpack.encode(data) if binary else msgspec.json.encode(data).decode()
    session = ServerSession()
    (auth,) = session.receive(frame)
    assert isinstance(auth, Authenticate)
    effects = session.authenticated([BOB], CATALOG)
    assert [e for e in effects if isinstance(e, DeviceHeard)] == [heard]


def test_a_hello_without_recorded_is_sent_without_it_and_null_is_refused(binary: bool) -> None:
    """Older servers must read a newer client's hello: ``recorded`` is sent as an integer
    or not at all, never as null (which no server accepts)."""
    frame = wire(Hello([HelloAccount("t", 0, CLOCK)]), binary)
    raw = msgspec.msgpack.decode(frame) if binary else msgspec.json.decode(frame)
    assert "recorded" not in raw["accounts"][0]
    null = {"type": "hello", "accounts": [{"token": "t", "recorded": None}]}
    frame = msgspec.msgpack.encode(null) if binary else msgspec.json.encode(null).decode()
    code, _, where, close = refusal(ServerSession().receive(frame))
    assert (code, where, close) == ("bad_message", "$.accounts[0].recorded", 4400)


def test_a_second_hello_is_refused_also_while_the_first_is_authenticated(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    assert refusal(session.receive(wire(HELLO, binary)))[::3] == ("bad_message", 4400)
    greeted = ServerSession()
    greeted.receive(wire(HELLO, binary))
    greeted.authenticated([ADA, BOB], CATALOG)
    code, message, _, close = refusal(greeted.receive(wire(HELLO, binary)))
    assert (code, message, close) == ("bad_message", "hello sent twice", 4400)


def test_nothing_but_hello_may_come_before_the_welcome(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    code, message, _, close = refusal(session.receive(wire(Pull("user-ada"), binary)))
    assert (code, message, close) == (
        "bad_message",
        "nothing but hello may come before the welcome",
        4400,
    )


@pytest.mark.parametrize("version", [0, PROTOCOL_VERSION + 1])
def test_another_protocol_version_is_refused_in_the_hellos_format(
    binary: bool, version: int
) -> None:
    effects = ServerSession().receive(wire(Hello([HelloAccount("t")], protocol=version), binary))
    code, message, _, close = refusal(effects)
    assert (code, close) == ("unsupported_protocol", 4406)
    assert message == f"protocol {version} is not supported; this server speaks 1"
    assert isinstance(effects[0].frame, bytes if binary else str)


def test_an_undecodable_frame_is_refused(binary: bool) -> None:
    code, message, _, close = refusal(ServerSession().receive(b"\xc1" if binary else "{"))
    assert (code, close) == ("bad_frame", 4400)
    assert message.startswith("not msgpack" if binary else "not JSON")


def test_the_welcome_names_every_accepted_account_and_hears_its_device(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    effects = session.authenticated([ADA, BOB], CATALOG)
    assert sent(effects) == [
        Welcome(
            [
                WelcomeAccount("user-ada", "ada", "dev-ada", 4, 10, "UTC", "learner", "premium"),
                WelcomeAccount("user-bob", "bob", "dev-bob", 0, 0),
            ],
            [],
            server="waymark",
            catalog_version=CATALOG.version,
        )
    ]
    # The device catalog is current: no catalog. Follow before reading the backlog.
    assert work(effects) == [
        DeviceHeard(0, CLOCK, 9),
        DeviceHeard(1, CLOCK, 0),
        Follow(["user-ada", "user-bob"]),
        ReadFeed("user-ada", 3),
        ReadFeed("user-bob", 0),
    ]
    assert session.greeted and session.devices == {"dev-ada": "user-ada", "dev-bob": "user-bob"}


def test_an_older_catalog_on_the_device_is_refreshed_without_the_answers(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(Hello([HelloAccount("tok-ada")], catalog_version="old"), binary))
    msgs = sent(session.authenticated([ADA], CATALOG))
    assert [type(m) for m in msgs] == [Welcome, CatalogMsg]
    catalog = msgs[1]
    assert catalog.version == CATALOG.version
    assert "correct" not in msgspec.json.encode(catalog.catalog).decode()
    assert catalog_from_server(catalog.catalog).version == CATALOG.version


def test_refused_accounts_are_listed_and_the_others_accepted(binary: bool) -> None:
    session = ServerSession()
    hello = Hello([HelloAccount("x"), HelloAccount("tok-ada"), HelloAccount("r")])
    session.receive(wire(hello, binary))
    revoked = msgspec.structs.replace(BOB, revoked=True)
    (welcome, _) = sent(session.authenticated([None, ADA, revoked], CATALOG))
    assert welcome.refused == [
        Refusal(0, "unauthorized", "unknown token: log in again"),
        Refusal(2, "device_revoked", "this device was revoked by an administrator"),
    ]
    assert [a.user_id for a in welcome.accounts] == ["user-ada"]
    assert session.devices == {"dev-ada": "user-ada"}


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ([None, None], ("unauthorized", "unknown token: log in again", None, 4401)),
        (
            [None, "revoked"],
            ("device_revoked", "this device was revoked by an administrator", None, 4403),
        ),
        ([None, "expired"], ("token_expired", "token expired: refresh it", None, 4440)),
        (
            ["expired", "revoked"],
            ("device_revoked", "this device was revoked by an administrator", None, 4403),
        ),
    ],
    ids=["unknown", "one-revoked", "one-expired", "revoked-before-expired"],
)
def test_when_every_account_is_refused_the_connection_closes(
    binary: bool, found: list[Any], expected: tuple[Any, ...]
) -> None:
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    credentials = [None if f is None else msgspec.structs.replace(BOB, **{f: True}) for f in found]
    assert refusal(session.authenticated(credentials, CATALOG)) == expected
    assert not session.greeted and session.closed


def test_an_expired_token_is_refused_as_such_and_the_others_accepted(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    expired = Credential("", "", "", 0, 0, expired=True)
    (welcome,) = sent(session.authenticated([ADA, expired], CATALOG))
    assert welcome.refused == [Refusal(1, "token_expired", "token expired: refresh it")]
    assert session.devices == {"dev-ada": "user-ada"}


def test_a_device_over_its_connection_limit_is_refused_before_its_tokens_are_read(
    binary: bool,
) -> None:
    session = ServerSession()
    assert session.receive(wire(HELLO, binary)) == [Authenticate(HELLO.accounts)]
    effects = session.connect_limited(30)
    assert refusal(effects) == (
        "rate_limited",
        "too many connection attempts from this device: try again in 30 s",
        None,
        4429,
    )
    assert sent(effects)[0].retry_after == 30


def test_a_push_over_the_devices_limit_is_refused_and_the_connection_goes_on(
    server: ServerSession, binary: bool
) -> None:
    (merge,) = server.receive(wire(Push(7, "dev-ada", events(11)), binary))
    assert isinstance(merge, Merge)
    effects = server.push_limited(merge, 4)
    assert sent(effects) == [
        Error(
            "rate_limited",
            "too many pushes from this device: send batch 7 again in 4 s",
            retry_after=4,
            batch=7,
        )
    ]
    assert work(effects) == [] and not server.closed


def test_a_cursor_past_the_head_is_taken_as_the_head_and_a_learner_twice_as_the_smaller(
    binary: bool,
) -> None:
    session = ServerSession()
    hello = Hello([HelloAccount("a", 50), HelloAccount("b", 7), HelloAccount("c", 9)])
    session.receive(wire(hello, binary))
    other_device = msgspec.structs.replace(ADA, device_id="dev-ada-2")
    third = msgspec.structs.replace(BOB, feed_head=20)
    effects = session.authenticated([ADA, other_device, third], CATALOG)
    # ada: the server restored from a backup (head 10 < 50), and her second device's 7.
    assert [e for e in effects if isinstance(e, ReadFeed)] == [
        ReadFeed("user-ada", 7),
        ReadFeed("user-bob", 9),
    ]


def test_authenticated_without_a_hello_waiting_is_a_usage_error(server: ServerSession) -> None:
    with pytest.raises(UsageError):
        server.authenticated([ADA], CATALOG)
    with pytest.raises(UsageError):
        ServerSession().authenticated([ADA], CATALOG)


def test_replies_use_the_hellos_format_whatever_later_frames_use(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(HELLO, binary))
    for read in work(session.authenticated([ADA, BOB], CATALOG))[-2:]:
        session.feed_read(read, [], 0)
    effects = session.receive(wire(Pull("user-bob", 0), not binary))  # the other format
    assert effects == [ReadFeed("user-bob", 0)]
    (feed,) = session.feed_read(effects[0], [], 0)
    assert isinstance(feed, Send) and isinstance(feed.frame, bytes if binary else str)


# == ServerSession: pushes ====================================================================


def test_a_push_of_a_welcomed_device_is_merged(server: ServerSession, binary: bool) -> None:
    push = Push(7, "dev-bob", events(1, 2, 5))
    assert server.receive(wire(push, binary)) == [Merge(push, "user-bob")]
    empty = Push(8, "dev-bob", [])
    assert server.receive(wire(empty, binary)) == [Merge(empty, "user-bob")]
    full = Push(9, "dev-ada", events(*range(5, 5 + MAX_BATCH)))
    assert server.receive(wire(full, binary)) == [Merge(full, "user-ada")]


def test_a_push_for_a_device_not_welcomed_is_forbidden(server: ServerSession, binary: bool) -> None:
    code, message, _, close = refusal(server.receive(wire(Push(1, "dev-eve", events(1)), binary)))
    assert (code, close) == ("forbidden", 4403)
    assert message == "device 'dev-eve' is not signed in on this connection"


def test_a_push_over_the_limit_is_refused(server: ServerSession, binary: bool) -> None:
    push = Push(1, "dev-ada", events(*range(5, 6 + MAX_BATCH)))
    code, message, _, close = refusal(server.receive(wire(push, binary)))
    assert (code, close) == ("batch_too_large", 4413)
    assert message == f"a push carries at most {MAX_BATCH} events, this one {MAX_BATCH + 1}"


@pytest.mark.parametrize(
    ("seqs", "path"),
    [((5, 5), "$.events[1].seq"), ((5, 6, 4), "$.events[2].seq"), ((9, 3), "$.events[1].seq")],
)
def test_seq_not_increasing_in_a_push_is_refused_with_the_path(
    server: ServerSession, binary: bool, seqs: tuple[int, ...], path: str
) -> None:
    effects = server.receive(wire(Push(1, "dev-ada", events(*seqs)), binary))
    assert refusal(effects) == (
        "bad_message",
        "events in a push must have strictly increasing seq",
        path,
        4400,
    )


class Outcome(msgspec.Struct):
    acked_seq: int
    accepted: int = 0
    duplicates: int = 0
    rejected: list[EventRejection] = []
    feed_head: int = 0
    gap_at: int | None = None
    entries: list[FeedEntry] = []


def test_a_merge_is_acked_and_its_entries_published_for_the_echo_and_fan_out(
    server: ServerSession,
) -> None:
    push = Push(3, "dev-ada", events(5, 6, 7))
    rejected = [EventRejection(7, "unknown_lesson", "no lesson l")]
    written = entries(11, 13, "dev-ada")
    effects = server.merged(
        Merge(push, "user-ada"), Outcome(7, 2, 0, rejected, 13, entries=written)
    )
    assert sent(effects) == [Ack(3, "dev-ada", 7, 2, 0, rejected, 13)]
    assert work(effects) == [Publish("user-ada", written)]


def test_a_gap_is_acked_up_to_it_and_then_named(server: ServerSession) -> None:
    effects = server.merged(
        Merge(Push(4, "dev-ada", events(5, 7)), "user-ada"), Outcome(5, 1, feed_head=11, gap_at=7)
    )
    assert sent(effects) == [
        Ack(4, "dev-ada", 5, 1, 0, [], 11),
        Error("seq_gap", "seq 6 is missing before 7: resend from 6"),
    ]


@pytest.mark.parametrize(
    ("code", "close"),
    [("store_unavailable", 1013), ("device_revoked", 4403), ("forbidden", 4403)],
)
def test_a_domain_error_closes_with_its_one_close_code(
    server: ServerSession, code: str, close: int
) -> None:
    assert refusal(server.fail(code, "why")) == (code, "why", None, close)
    assert ERROR_CODES[code].close == close
    assert server.fail(code, "again") == []  # closed once


def test_an_internal_error_closes_with_1011_and_tells_nothing(server: ServerSession) -> None:
    assert server.fail("internal", "KeyError: 'x'") == [Close(1011, "internal error")]
    assert server.receive(wire(Pull("user-ada"), True)) == []
    assert server.offered("user-ada", entries(11, 11)) == []


# == ServerSession: the feed ==================================================================


def test_the_backlog_goes_out_in_pages_and_nothing_when_there_is_none(binary: bool) -> None:
    session = ServerSession()
    session.receive(wire(Hello([HelloAccount("a"), HelloAccount("b", 0)]), binary))
    bob = msgspec.structs.replace(BOB, feed_head=0)
    reads = [e for e in session.authenticated([ADA, bob], CATALOG) if isinstance(e, ReadFeed)]
    assert reads == [ReadFeed("user-ada", 0), ReadFeed("user-bob", 0)]
    head = FEED_PAGE + 2
    page1 = entries(1, FEED_PAGE)
    effects = session.feed_read(reads[0], page1, head)
    assert sent(effects) == [Feed("user-ada", page1, head, True)]
    assert work(effects) == [ReadFeed("user-ada", FEED_PAGE)]
    page2 = entries(FEED_PAGE + 1, head)
    assert sent(session.feed_read(work(effects)[0], page2, head)) == [
        Feed("user-ada", page2, head, False)
    ]
    assert session.position("user-ada") == head
    assert session.feed_read(reads[1], [], 0) == []  # bob: nothing after his cursor


def test_a_pull_is_answered_even_when_empty(server: ServerSession, binary: bool) -> None:
    effects = server.receive(wire(Pull("user-bob", 0), binary))
    assert effects == [ReadFeed("user-bob", 0)]
    assert sent(server.feed_read(effects[0], [], 0)) == [Feed("user-bob", [], 0, False)]


def test_a_pull_resends_from_its_cursor(server: ServerSession, binary: bool) -> None:
    (read,) = server.receive(wire(Pull("user-ada", 0), binary))
    assert read == ReadFeed("user-ada", 0)
    assert sent(server.feed_read(read, entries(1, 10), 10)) == [
        Feed("user-ada", entries(1, 10), 10, False)
    ]
    assert server.position("user-ada") == 10


def test_a_pull_for_a_learner_not_signed_in_is_forbidden(
    server: ServerSession, binary: bool
) -> None:
    code, message, _, close = refusal(server.receive(wire(Pull("user-eve"), binary)))
    assert (code, message, close) == (
        "forbidden",
        "user 'user-eve' is not signed in on this connection",
        4403,
    )


def test_a_continuation_offered_by_the_hub_is_sent_as_it_is(server: ServerSession) -> None:
    assert sent(server.offered("user-ada", entries(11, 12))) == [
        Feed("user-ada", entries(11, 12), 12, False)
    ]
    assert server.position("user-ada") == 12
    assert server.offered("user-ada", entries(11, 12)) == []  # sent already
    # Overlapping: only what is new.
    assert sent(server.offered("user-ada", entries(12, 13))) == [
        Feed("user-ada", entries(13, 13), 13, False)
    ]


def test_a_large_continuation_is_paged(server: ServerSession) -> None:
    many = entries(11, 10 + FEED_PAGE + 1)
    assert sent(server.offered("user-ada", many)) == [
        Feed("user-ada", many[:FEED_PAGE], 11 + FEED_PAGE, True),
        Feed("user-ada", many[FEED_PAGE:], 11 + FEED_PAGE, False),
    ]


@pytest.mark.parametrize("offer", [entries(12, 13), None], ids=["out-of-order", "catch-up"])
def test_an_offer_that_does_not_continue_is_read_from_the_cursor(
    server: ServerSession, offer: list[FeedEntry] | None
) -> None:
    assert server.offered("user-ada", offer) == [ReadFeed("user-ada", 10)]


def test_offers_during_a_read_wait_for_it_and_then_read_again(server: ServerSession) -> None:
    (read,) = server.offered("user-ada", None)
    assert server.offered("user-ada", entries(11, 11)) == []
    assert server.offered("user-ada", None) == []  # one more read after, not two
    effects = server.feed_read(read, entries(11, 11), 11)
    assert work(effects) == [ReadFeed("user-ada", 11)]
    assert server.feed_read(work(effects)[0], [], 11) == []
    assert server.offered("user-ada", entries(12, 12)) != []  # reading is over


def test_a_pull_during_a_read_is_answered_after_it(server: ServerSession, binary: bool) -> None:
    (read,) = server.offered("user-ada", None)
    assert server.receive(wire(Pull("user-ada", 4), binary)) == []
    assert server.receive(wire(Pull("user-ada", 2), binary)) == []  # the smaller cursor
    effects = server.feed_read(read, [], 10)
    assert effects == [ReadFeed("user-ada", 2)]
    assert sent(server.feed_read(effects[0], entries(3, 10), 10)) == [
        Feed("user-ada", entries(3, 10), 10, False)
    ]


def test_an_offer_for_a_learner_not_on_the_connection_is_ignored(server: ServerSession) -> None:
    assert server.offered("user-eve", entries(1, 1)) == []
    assert server.position("user-eve") == 0


# == ClientSession ============================================================================

LOGINS = [
    Login("tok-ada", "ada", "user-ada", "dev-ada", cursor=3, recorded=9),
    Login("tok-bob", "bob", "user-bob", "dev-bob", plan="free"),
]


def welcome(*accounts: WelcomeAccount, refused: list[Refusal] | None = None) -> Welcome:
    return Welcome(list(accounts), refused or [], catalog_version="v1")


W_ADA = WelcomeAccount("user-ada", "ada", "dev-ada", 4, 10, plan="premium")
W_BOB = WelcomeAccount("user-bob", "bob", "dev-bob", 0, 0)


def client_session(binary: bool = True, **kw: Any) -> ClientSession:
    return ClientSession(
        LOGINS, catalog_version="v1", clock=CLOCK, client="t/1", binary=binary, **kw
    )


def welcomed(binary: bool = True, **kw: Any) -> ClientSession:
    session = client_session(binary, **kw)
    session.start()
    session.receive(wire(welcome(W_ADA, W_BOB), binary))
    return session


def test_the_client_starts_with_a_hello_of_every_login(binary: bool) -> None:
    """Each account says what the journal recorded, 0 included (the server counts the
    device's unsent work from it)."""
    effects = client_session(binary).start()
    raw = effects[0].frame
    decoded = msgspec.msgpack.decode(raw) if binary else msgspec.json.decode(raw)
    assert [a["recorded"] for a in decoded["accounts"]] == [9, 0]
    assert sent(effects) == [
        Hello(
            [HelloAccount("tok-ada", 3, CLOCK, 9), HelloAccount("tok-bob", 0, CLOCK, 0)],
            PROTOCOL_VERSION,
            "t/1",
            "v1",
        )
    ]
    assert isinstance(effects[0].frame, bytes if binary else str)


def test_the_welcome_sets_watermarks_plans_and_starts_pushing(binary: bool) -> None:
    session = client_session(binary)
    session.start()
    effects = session.receive(wire(welcome(W_ADA, W_BOB), binary))
    assert effects == [
        MarkAcked("dev-ada", 4),
        SetPlan("user-ada", "premium"),  # upgraded since the login
        MarkAcked("dev-bob", 0),
        ReadPending("dev-ada", 4),
        ReadPending("dev-bob", 0),
    ]
    assert session.users == ["user-ada", "user-bob"] and not session.settled


def test_refused_learners_are_reported(binary: bool) -> None:
    session = client_session(binary)
    session.start()
    refused = [Refusal(1, "device_revoked", "revoked"), Refusal(7, "unauthorized", "who?")]
    session.receive(wire(welcome(W_ADA, refused=refused), binary))
    assert session.refused == [
        Refused("bob", "device_revoked", "revoked"),
        Refused("?", "unauthorized", "who?"),
    ]
    assert session.users == ["user-ada"]


def test_a_welcome_for_a_device_not_signed_in_is_a_protocol_error(binary: bool) -> None:
    session = client_session(binary)
    session.start()
    eve = WelcomeAccount("user-eve", "eve", "dev-eve", 0, 0)
    with pytest.raises(ProtocolError, match="welcome for a device not signed in: dev-eve"):
        session.receive(wire(welcome(eve), binary))


def test_a_second_welcome_is_a_protocol_error_unless_the_same_frame_came_twice(
    binary: bool,
) -> None:
    session = welcomed(binary)
    assert session.receive(wire(welcome(W_ADA, W_BOB), binary)) == []
    with pytest.raises(ProtocolError, match="second welcome"):
        session.receive(wire(welcome(W_ADA), binary))


@pytest.mark.parametrize(
    "msg", [Ack(1, "dev-ada", 1), Feed("user-ada", [], 0), CatalogMsg("v2", {})]
)
def test_only_a_welcome_or_an_error_may_come_first(binary: bool, msg: Any) -> None:
    session = client_session(binary)
    session.start()
    with pytest.raises(ProtocolError, match=f"expected a welcome, got {type(msg).__name__}"):
        session.receive(wire(msg, binary))


def test_an_unreadable_server_frame_is_a_protocol_error(binary: bool) -> None:
    with pytest.raises(ProtocolError, match="unreadable message from the server"):
        client_session(binary).receive(b"\xc1" if binary else "{")


def test_a_server_restored_from_a_backup_makes_the_device_read_the_feed_again(
    binary: bool,
) -> None:
    session = client_session(binary)
    session.start()
    restored = WelcomeAccount("user-ada", "ada", "dev-ada", 2, 1)  # head 1 < cursor 3
    effects = session.receive(wire(welcome(restored), binary))
    assert work(effects) == [
        MarkAcked("dev-ada", 2),  # its events past 2 are pending again
        ResetFeed("user-ada"),
        ReadPending("dev-ada", 2),
    ]
    assert sent(effects) == [Pull("user-ada", 0)]
    session.pending_read(ReadPending("dev-ada", 2), [])
    assert not session.settled  # the pull's answer is due
    assert session.receive(wire(Feed("user-ada", entries(1, 1), 1), binary)) == [
        ApplyFeed("user-ada", entries(1, 1))
    ]
    assert session.settled


def test_a_newer_catalog_is_due_after_the_welcome_and_stored(binary: bool) -> None:
    session = client_session(binary)
    session.start()
    session.receive(wire(Welcome([W_BOB], catalog_version=CATALOG.version), binary))
    session.pending_read(ReadPending("dev-bob", 0), [])
    assert session.catalog_due and not session.settled
    data = msgspec.to_builtins(CATALOG)
    effects = session.receive(wire(CatalogMsg(CATALOG.version, data), binary))
    assert effects == [StoreCatalog(CATALOG.version, catalog_from_server(data))]
    assert session.settled


def test_a_bad_catalog_is_a_protocol_error(binary: bool) -> None:
    session = welcomed(binary)
    with pytest.raises(ProtocolError, match="the server sent a bad catalog"):
        session.receive(wire(CatalogMsg("v2", {"courses": "nope"}), binary))


# -- ClientSession: pushes, three in flight ----------------------------------------------------


def test_pushes_fill_a_pipeline_of_three_and_refill_on_each_ack(binary: bool) -> None:
    session = welcomed(binary)
    session.pending_read(ReadPending("dev-bob", 0), [])
    effects = session.pending_read(ReadPending("dev-ada", 4), events(*range(5, 505)))
    assert sent(effects) == [Push(1, "dev-ada", events(*range(5, 505)))]
    assert work(effects) == [ReadPending("dev-ada", 504)]
    effects = session.pending_read(ReadPending("dev-ada", 504), events(*range(505, 1005)))
    assert work(effects) == [ReadPending("dev-ada", 1004)]
    effects = session.pending_read(ReadPending("dev-ada", 1004), events(*range(1005, 1505)))
    assert work(effects) == []  # three in flight: wait for an ack
    assert len(session.in_flight) == PIPELINE
    effects = session.receive(wire(Ack(1, "dev-ada", 504, 500, feed_head=510), binary))
    assert effects == [MarkAcked("dev-ada", 504), ReadPending("dev-ada", 1504)]
    # A short read: everything is out.
    effects = session.pending_read(ReadPending("dev-ada", 1504), events(1505))
    assert sent(effects) == [Push(4, "dev-ada", events(1505))] and work(effects) == []
    for batch, last in ((2, 1004), (3, 1504), (4, 1505)):
        session.receive(wire(Ack(batch, "dev-ada", last, feed_head=3), binary))
    assert session.pushed == 1501
    assert not session.settled  # ada's feed: cursor 3, head 510
    session.receive(wire(Feed("user-ada", entries(4, 510), 510), binary))
    assert session.settled


def test_an_ack_short_of_its_push_starts_over_from_the_watermark(binary: bool) -> None:
    session = welcomed(binary)
    session.pending_read(ReadPending("dev-bob", 0), [])
    session.pending_read(ReadPending("dev-ada", 4), events(*range(5, 505)))
    session.pending_read(ReadPending("dev-ada", 504), events(*range(505, 1005)))
    # Batch 1 applied only up to 300 (a gap): push again from 301; batch 2's ack (also
    # 300, as it comes after the gap) is from before the restart and changes nothing.
    effects = session.receive(wire(Ack(1, "dev-ada", 300), binary))
    assert effects == [MarkAcked("dev-ada", 300)]  # the read of 1004+ is still out
    assert session.pending_read(ReadPending("dev-ada", 1004), events(1005)) == [
        ReadPending("dev-ada", 300)
    ]  # ... and is dropped: pushing started over
    effects = session.pending_read(ReadPending("dev-ada", 300), events(*range(301, 801)))
    assert sent(effects) == [Push(3, "dev-ada", events(*range(301, 801)))]
    session.receive(wire(Error("seq_gap", "seq 301 is missing"), binary))
    assert session.error is None  # a seq_gap is no close
    assert work(effects) == [ReadPending("dev-ada", 800)]
    assert session.receive(wire(Ack(2, "dev-ada", 300), binary)) == [MarkAcked("dev-ada", 300)]
    assert session.outgoing["dev-ada"].sent == 800


def test_a_rate_limited_push_is_sent_again_from_the_watermark_after_the_wait(
    binary: bool,
) -> None:
    session = welcomed(binary)
    session.pending_read(ReadPending("dev-bob", 0), [])
    session.pending_read(ReadPending("dev-ada", 4), events(*range(5, 10)))
    session.pending_read(ReadPending("dev-ada", 9), [])
    limited = Error("rate_limited", "too many pushes", retry_after=3, batch=1)
    assert session.receive(wire(limited, binary)) == [ResumeLater(3)]
    assert session.error is None  # no close follows
    assert not session.settled and session.in_flight == {}
    # Nothing of ada's device is pushed while it waits, whatever is recorded meanwhile
    # (bob's device is not limited).
    assert session.recorded() == [ReadPending("dev-bob", 0)]
    session.pending_read(ReadPending("dev-bob", 0), [])
    assert session.resume() == [ReadPending("dev-ada", 4)]
    effects = session.pending_read(ReadPending("dev-ada", 4), events(*range(5, 11)))
    assert sent(effects) == [Push(2, "dev-ada", events(*range(5, 11)))]
    # A refusal for no push in flight (seen twice) changes nothing.
    assert session.receive(wire(limited, binary)) == []


def test_an_ack_for_no_push_in_flight_is_ignored(binary: bool) -> None:
    session = welcomed(binary)
    session.pending_read(ReadPending("dev-ada", 4), events(5))
    assert session.receive(wire(Ack(1, "dev-ada", 5), binary))[0] == MarkAcked("dev-ada", 5)
    # The same ack again (or one from an older connection) must not move the watermark.
    assert session.receive(wire(Ack(1, "dev-ada", 5), binary)) == []
    assert session.receive(wire(Ack(9, "dev-ada", 1), binary)) == []


def test_events_recorded_during_a_read_are_read_next(binary: bool) -> None:
    session = welcomed(binary)
    session.pending_read(ReadPending("dev-bob", 0), [])
    assert session.recorded() == [ReadPending("dev-bob", 0)]  # bob was drained
    assert session.recorded() == []  # ada's and bob's reads are out
    # Both reads may have missed the new event: each reads once more.
    assert session.pending_read(ReadPending("dev-bob", 0), []) == [ReadPending("dev-bob", 0)]
    assert session.pending_read(ReadPending("dev-bob", 0), []) == []
    effects = session.pending_read(ReadPending("dev-ada", 4), events(5))
    assert work(effects) == [ReadPending("dev-ada", 5)]


# -- ClientSession: the feed --------------------------------------------------------------------


def test_feed_entries_past_the_cursor_are_applied_and_others_changes_reported(
    binary: bool,
) -> None:
    session = welcomed(binary)
    page = entries(1, 5)[:2] + entries(4, 6, "dev-ada")  # ada holds up to 3
    effects = session.receive(wire(Feed("user-ada", page, 12), binary))
    assert effects == [ApplyFeed("user-ada", entries(4, 6, "dev-ada"))]
    assert session.incoming["user-ada"].cursor == 6 and session.incoming["user-ada"].head == 12
    mine = entries(4, 4, "dev-ada")
    other = entries(5, 5, "dev-phone")
    decision = [FeedEntry(6, "server", "quiz.scored", {}, CLOCK, T)]
    changed = session.feed_applied(ApplyFeed("user-ada", []), mine + other + decision)
    assert changed == [Changed("ada", other[0]), Changed("ada", decision[0])]
    assert session.received == 3


def test_a_feed_that_skips_ahead_is_pulled_from_the_cursor_once(binary: bool) -> None:
    session = welcomed(binary)
    effects = session.receive(wire(Feed("user-ada", entries(6, 7), 7), binary))
    assert sent(effects) == [Pull("user-ada", 3)] and work(effects) == []
    assert session.receive(wire(Feed("user-ada", entries(8, 8), 8), binary)) == []
    # The pull's answer.
    assert session.receive(wire(Feed("user-ada", entries(1, 8), 8), binary)) == [
        ApplyFeed("user-ada", entries(4, 8))
    ]


def test_a_feed_for_a_learner_not_signed_in_is_a_protocol_error(binary: bool) -> None:
    with pytest.raises(ProtocolError, match="feed for a learner not signed in: user-eve"):
        welcomed(binary).receive(wire(Feed("user-eve", [], 0), binary))


def test_settle_notes_the_sync_time_once_per_change(binary: bool) -> None:
    session = welcomed(binary)
    assert session.settle() == []
    session.pending_read(ReadPending("dev-ada", 4), [])
    session.pending_read(ReadPending("dev-bob", 0), [])
    session.receive(wire(Feed("user-ada", entries(4, 10), 10), binary))
    assert session.settle() == [SetSynced(["user-ada", "user-bob"])]
    assert session.settle() == [] and session.synced


# -- ClientSession: closes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (4403, "revoked"),
        (4401, "unauthorized"),
        (4440, "expired"),
        (4429, "retry"),
        (None, "retry"),
        (1000, "retry"),
        (1001, "retry"),
        (1006, "retry"),
        (1011, "retry"),
        (1012, "retry"),
        (1013, "retry"),
        (4400, "fatal"),
        (4406, "fatal"),
        (4413, "fatal"),
    ],
)
def test_what_a_close_means_for_the_device(code: int | None, kind: str) -> None:
    assert client_session().closed(code, "bye") == (kind, "bye")


def test_the_servers_error_is_the_reason_of_its_close(binary: bool) -> None:
    session = client_session(binary)
    session.start()
    assert session.receive(wire(Error("unauthorized", "unknown token: log in again"), binary)) == []
    assert session.closed(4401, "unauthorized") == ("unauthorized", "unknown token: log in again")


def test_a_stopping_server_closes_with_1012_once() -> None:
    session = ServerSession()
    assert session.restarting() == [Close(1012, "the server is restarting; reconnect")]
    assert session.restarting() == []
    assert session.fail("internal", "late") == []
