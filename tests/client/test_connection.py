"""The WebSocket shell against a fake server on 127.0.0.1 (``fake_server.py``)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from client.connection import Backoff, Change, follow, sync_once, sync_url
from client.errors import AccessDenied, DeviceRevoked, ServerUnreachable, TokenExpired
from client.journal import Account, Journal
from sync.protocol.messages import Hello
from tests.client.conftest import T0, Clock, account
from tests.client.fake_server import FakeServer

READ = {"course": "c1", "lesson": "read"}
WAIT = 5  # seconds; a guard against hangs, never slept


async def record(
    journal: Journal, n: int, name: str = "alice", type: str = "lesson.opened"
) -> None:
    who = await journal.account(name)
    for i in range(n):
        await journal.record(who, type, READ, now_ms=T0 + i, tz="UTC")


class Sleeps:
    """A backoff sleep that returns at once and remembers what it was asked."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sync_url_swaps_the_scheme_and_adds_the_path() -> None:
    assert sync_url("http://h:8000/") == "ws://h:8000/v1/sync"
    assert sync_url("https://h") == "wss://h/v1/sync"


def test_backoff_is_full_jitter_up_to_a_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0, random=lambda: 0.5)
    assert [backoff.delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert Backoff(random=lambda: 0.999).delay(10_000) < 60


async def test_pending_events_are_pushed_and_marked_acked(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    await record(journal, 3)
    report = await sync_once(journal, now_ms=T0 + 100)
    assert (report.pushed, report.received, report.refused) == (3, 3, [])
    assert sorted(server.held["d-alice"]) == [1, 2, 3]
    alice = await journal.account()
    assert (alice.acked_seq, alice.cursor, alice.synced_at) == (3, 3, T0 + 100)
    assert await journal.pending_count(alice.user_id) == 0
    assert (await sync_once(journal, now_ms=T0 + 200)).pushed == 0


async def test_the_first_sync_caches_the_catalog_and_pulls_the_feed(
    journal: Journal, server: FakeServer
) -> None:
    alice = await journal.add_account(server.add("alice"))
    await server.append(alice.user_id, type="lesson.completed")
    await sync_once(journal, now_ms=T0)
    cached = await journal.catalog(server.url)
    assert cached is not None and cached[0] == server.catalog.version
    view = await journal.view(alice)
    assert view.courses[0].modules[0].lessons[0].status == "completed"
    await sync_once(journal, now_ms=T0)
    assert [h.catalog_version for h in server.hellos] == ["", server.catalog.version]
    assert [h.accounts[0].cursor for h in server.hellos] == [0, 1]


async def test_a_sync_with_nothing_to_send_or_receive_still_waits_for_a_new_catalog(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    report = await sync_once(journal, now_ms=T0)
    assert (report.pushed, report.received) == (0, 0)
    cached = await journal.catalog(server.url)
    assert cached is not None and cached[0] == server.catalog.version


async def test_more_than_one_batch_goes_out_in_pushes_of_at_most_500(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    await record(journal, 1201)
    report = await sync_once(journal, now_ms=T0)
    spans = [(p.events[0].seq, p.events[-1].seq) for p in server.pushes]
    assert spans == [(1, 500), (501, 1000), (1001, 1201)]
    assert (report.pushed, server.duplicates, await journal.pending_count("u-alice")) == (
        1201,
        [],
        0,
    )


async def test_a_rate_limited_push_is_pushed_again_after_the_servers_wait(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    await record(journal, 3)
    server.limit_pushes = 1
    report = await asyncio.wait_for(sync_once(journal, now_ms=T0 + 100), WAIT)
    assert sorted(server.held["d-alice"]) == [1, 2, 3]
    assert report.pushed == 6  # the refused push counts, and is sent again whole
    assert [p.batch for p in server.pushes] == [2]  # only the second was merged
    assert await journal.pending_count("u-alice") == 0


async def test_learners_with_expired_tokens_are_renewed_and_synced_on_a_second_connection(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    bob = await journal.add_account(server.add("bob"))
    await record(journal, 1, "alice")
    await record(journal, 2, "bob")
    server.expired.add(bob.token)
    renewed: list[str] = []

    async def refresh(account: Account) -> Account:
        renewed.append(account.username)

        async def exchange(refresh_token: str) -> tuple[str, str]:
            return server.renew(account.token), refresh_token

        return await journal.refresh_tokens(account, exchange)

    report = await sync_once(journal, now_ms=T0, refresh=refresh)
    assert renewed == ["bob"] and report.refused == []
    assert (server.watermark("d-alice"), server.watermark("d-bob")) == (1, 2)
    assert [len(h.accounts) for h in server.hellos] == [2, 1]
    # Every token expired: the refusal closes (4440), all are renewed, and synced.
    await record(journal, 1, "alice")
    server.expired = {a.token for a in await journal.accounts()}
    with pytest.raises(TokenExpired, match="token expired: refresh it"):
        await sync_once(journal, now_ms=T0)  # nothing to renew them with
    await sync_once(journal, now_ms=T0, refresh=refresh)
    assert renewed == ["bob", "alice", "bob"] and server.watermark("d-alice") == 2


async def test_a_learner_whose_token_cannot_be_renewed_is_reported_and_the_rest_sync(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    bob = await journal.add_account(server.add("bob"))
    await record(journal, 1, "alice")
    server.expired.add(bob.token)

    async def refresh(account: Account) -> Account:
        raise AccessDenied("bob: refresh token expired: log in again")

    report = await sync_once(journal, now_ms=T0, refresh=refresh)
    assert [(r.username, r.code, r.reason) for r in report.refused] == [
        ("bob", "token_expired", "bob: refresh token expired: log in again")
    ]
    assert server.watermark("d-alice") == 1
    server.expired.add("t-alice")  # every one expired, none renewed: that is the error
    with pytest.raises(AccessDenied, match="log in again"):
        await sync_once(journal, now_ms=T0, refresh=refresh)


async def test_an_event_the_server_rejects_shows_as_rejected(
    journal: Journal, server: FakeServer
) -> None:
    alice = await journal.add_account(server.add("alice"))
    await record(journal, 1, type="badge.polished")
    await sync_once(journal, now_ms=T0)
    [rejected] = await journal.rejected(alice.user_id)
    assert (rejected.seq, rejected.code) == (1, "unknown_type")
    assert await journal.pending_count(alice.user_id) == 0


async def test_events_committed_but_not_acked_are_resent_and_the_server_drops_duplicates(
    journal: Journal, server: FakeServer
) -> None:
    alice = await journal.add_account(server.add("alice"))
    await record(journal, 2)
    server.drop_after_commit = 1
    with pytest.raises(ServerUnreachable, match="1006"):
        await sync_once(journal, now_ms=T0)
    assert sorted(server.held["d-alice"]) == [1, 2]
    assert await journal.pending_count(alice.user_id) == 2  # no ack, so still pending
    # The reconnect's handshake is answered before the dropped push's commit is visible.
    server.welcome_acked["d-alice"] = 0
    await sync_once(journal, now_ms=T0)
    assert server.duplicates == [("d-alice", 1), ("d-alice", 2)]
    assert await journal.pending_count(alice.user_id) == 0
    assert len(server.feeds[alice.user_id]) == 2  # applied once


async def test_a_reconnect_resends_nothing_the_welcome_says_is_held(
    journal: Journal, server: FakeServer
) -> None:
    alice = await journal.add_account(server.add("alice"))
    await record(journal, 2)
    server.drop_after_commit = 1
    with pytest.raises(ServerUnreachable):
        await sync_once(journal, now_ms=T0)
    await record(journal, 1)
    await sync_once(journal, now_ms=T0)
    assert [[e.seq for e in p.events] for p in server.pushes] == [[1, 2], [3]]
    assert server.duplicates == []
    assert await journal.pending_count(alice.user_id) == 0


async def test_two_learners_share_one_connection(journal: Journal, server: FakeServer) -> None:
    await journal.add_account(server.add("alice"))
    await journal.add_account(server.add("bob"))
    await record(journal, 2, "alice")
    await record(journal, 1, "bob")
    await sync_once(journal, now_ms=T0)
    [hello] = server.hellos
    assert isinstance(hello, Hello) and len(hello.accounts) == 2
    assert (server.watermark("d-alice"), server.watermark("d-bob")) == (2, 1)


async def test_a_revoked_device_raises_device_revoked_with_the_reason(
    journal: Journal, server: FakeServer
) -> None:
    server.revoke(await journal.add_account(server.add("alice")))
    with pytest.raises(DeviceRevoked, match="revoked by an admin"):
        await sync_once(journal, now_ms=T0)


async def test_an_unknown_token_raises_access_denied(journal: Journal, server: FakeServer) -> None:
    await journal.add_account(account("alice", server_url=server.url))
    with pytest.raises(AccessDenied, match="unknown token"):
        await sync_once(journal, now_ms=T0)


async def test_learners_refused_one_by_one_are_reported_and_the_rest_sync(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    server.revoke(await journal.add_account(server.add("bob")))
    await record(journal, 1, "alice")
    report = await sync_once(journal, now_ms=T0)
    assert [(r.username, r.code) for r in report.refused] == [("bob", "device_revoked")]
    assert server.watermark("d-alice") == 1


async def test_an_unreachable_server_raises_server_unreachable(journal: Journal) -> None:
    await journal.add_account(account("alice", server_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(
        ServerUnreachable,
        match=r"^cannot reach the server at http://127\.0\.0\.1:\d+: connection refused$",
    ):
        await sync_once(journal, now_ms=T0)


async def test_follow_pushes_new_events_and_reports_changes_from_other_devices(
    journal: Journal, server: FakeServer
) -> None:
    alice = await journal.add_account(server.add("alice"))
    changes: asyncio.Queue[Change] = asyncio.Queue()
    stop = asyncio.Event()
    task = asyncio.create_task(
        follow(journal, changes.put_nowait, stop=stop, clock=Clock(), backoff=Backoff())
    )
    await asyncio.wait_for(server.live.get(), WAIT)
    await record(journal, 1)
    push = await asyncio.wait_for(server.pushed.get(), WAIT)
    assert [e.seq for e in push.events] == [1]
    await server.append(alice.user_id, type="lesson.completed", seq=9)
    change = await asyncio.wait_for(changes.get(), WAIT)
    assert change.describe() == "alice: lesson.completed course=c1 lesson=read (from device phone)"
    stop.set()
    await asyncio.wait_for(task, WAIT)
    assert changes.empty()  # its own event, echoed by the feed, is not a change
    assert (await journal.account()).cursor == 2


async def test_follow_reconnects_with_jittered_backoff_when_the_server_goes_away(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    server.close_at_hello = [(1001, "restarting"), (1001, "restarting")]
    sleeps = Sleeps()
    stop = asyncio.Event()
    backoff = Backoff(base=1.0, random=lambda: 0.5, sleep=sleeps)
    task = asyncio.create_task(follow(journal, print, stop=stop, clock=Clock(), backoff=backoff))
    await asyncio.wait_for(server.live.get(), WAIT)
    assert sleeps.delays == [0.5, 1.0]  # growing while no connection got in sync
    await record(journal, 1)
    await asyncio.wait_for(server.pushed.get(), WAIT)
    await server.kick(1001, "restarting")
    await asyncio.wait_for(server.live.get(), WAIT)
    assert sleeps.delays == [0.5, 1.0, 0.5]  # ... and starting over after one did
    await record(journal, 1)
    push = await asyncio.wait_for(server.pushed.get(), WAIT)
    assert [e.seq for e in push.events] == [2]
    stop.set()
    await asyncio.wait_for(task, WAIT)


async def test_follow_stops_with_device_revoked(journal: Journal, server: FakeServer) -> None:
    server.revoke(await journal.add_account(server.add("alice")))
    stop = asyncio.Event()
    with pytest.raises(DeviceRevoked):
        await asyncio.wait_for(
            follow(journal, print, stop=stop, clock=Clock(), backoff=Backoff()), WAIT
        )


async def test_follow_goes_on_for_the_others_when_one_kiosk_learner_is_revoked(
    journal: Journal, server: FakeServer
) -> None:
    await journal.add_account(server.add("alice"))
    bob = await journal.add_account(server.add("bob"))
    stop = asyncio.Event()
    sleeps = Sleeps()
    backoff = Backoff(sleep=sleeps)
    task = asyncio.create_task(follow(journal, print, stop=stop, clock=Clock(), backoff=backoff))
    await asyncio.wait_for(server.live.get(), WAIT)
    server.revoke(bob)
    await server.kick(4403, "device_revoked")
    await asyncio.wait_for(server.live.get(), WAIT)
    assert len(sleeps.delays) == 1
    assert len(server.hellos) == 2
    await record(journal, 1, "alice")
    push = await asyncio.wait_for(server.pushed.get(), WAIT)
    assert push.device_id == "d-alice"
    stop.set()
    await asyncio.wait_for(task, WAIT)


async def test_the_welcome_updates_the_learners_plan(journal: Journal, server: FakeServer) -> None:
    alice = await journal.add_account(server.add("alice"))
    server.learner(alice).plan = "premium"  # upgraded since the login
    await sync_once(journal, now_ms=T0)
    assert (await journal.account()).plan == "premium"
    server.learner(alice).plan = "free"
    await sync_once(journal, now_ms=T0)
    assert (await journal.account()).plan == "free"


async def test_a_synced_attempt_shows_the_servers_score(
    journal: Journal, server: FakeServer
) -> None:
    alice = await journal.add_account(server.add("alice"))
    await sync_once(journal, now_ms=T0)  # the catalog
    ref = {"course": "c2", "quiz": "q1", "attempt": "a1"}
    answers = [
        ("quiz.answered", {**ref, "question": "one", "choices": ["a"]}),
        ("quiz.answered", {**ref, "question": "two", "choices": ["x", "z"]}),
    ]
    events = [("quiz.started", ref), *answers, ("quiz.submitted", ref)]
    await journal.record_many(alice, events, now_ms=T0, tz="UTC")
    [quiz] = (await journal.view(alice)).courses[1].modules[0].quizzes
    assert [(a.status, a.number) for a in quiz.attempts] == [("submitted", None)]
    await sync_once(journal, now_ms=T0)
    [quiz] = (await journal.view(alice)).courses[1].modules[0].quizzes
    [attempt] = quiz.attempts
    assert (attempt.status, attempt.number, attempt.score, attempt.counted) == (
        "scored",
        1,
        1.0,
        True,
    )
    assert (quiz.status, quiz.passed) == ("passed", True)
    [skill] = (await journal.view(alice)).competencies
    assert skill.status == "mastered"  # q1 is its only evidence
