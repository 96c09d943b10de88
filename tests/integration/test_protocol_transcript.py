"""``docs/protocol.md`` §10 is a real run: a real server, two real devices (the client
library), and every frame they exchanged, recorded on the wire by a relay between them.

The test plays the session of §10, renders what the relay saw (WebSocket messages decoded
with :mod:`sync.protocol.codec`, ids and tokens shown as placeholders, device clocks
injected so HLCs and times are the same in every run) and compares it with the fenced block
of §10. When they differ it fails with the diff; ``WAYMARK_REGEN_PROTOCOL_DOC=1`` rewrites
the block instead.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from client.api import Device
from client.connection import Change
from sync.protocol.codec import decode_client, decode_server
from sync.protocol.messages import Ack, Hello, Push, Welcome
from tests.conftest import RunningServer, init_db, waymark
from tests.integration.relay import (
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    Connection,
    Message,
    Relay,
    status_of,
)

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"
REGEN = "WAYMARK_REGEN_PROTOCOL_DOC"
HINT = (
    f"regenerate §10 with: {REGEN}=1 .venv/bin/pytest {Path(__file__).relative_to(DOC.parents[1])}"
)
WIDTH = 92
T0 = 1_763_805_600_000  # 2025-11-22 10:00 UTC: the laptop's clock when Ana starts

CATALOG = """\
courses:
  - id: python-foundations
    title: Python Foundations
    modules:
      - id: getting-started
        title: Getting started
        lessons:
          - {id: welcome, title: Welcome to Python, kind: page, completion: viewed}
          - id: installing-python
            title: Installing Python
            kind: video
            duration: 420
            completion: "watched:90"
          - {id: first-progam, title: Your first program, kind: activity, completion: manual}
"""
COURSE = "python-foundations"


def this_week() -> str:
    year, week, _ = datetime.now(ZoneInfo("Europe/Paris")).isocalendar()
    return f"{year}-W{week:02d}"


class Clock:
    """A device's wall clock, moved on by the test."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


# -- rendering -------------------------------------------------------------------------


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def layout(value: Any, col: int, indent: int) -> list[str]:
    """``value`` as JSON starting at column ``col``, wrapped at :data:`WIDTH`; continuation
    lines start at column ``indent``. A container that does not fit is filled item by item,
    a list of containers one element per line; an item too long for a line of its own is
    laid out the same way, one column further in."""
    text = compact(value)
    if col + len(text) <= WIDTH or not isinstance(value, dict | list) or not value:
        return [text]
    if isinstance(value, list) and all(isinstance(v, dict | list) for v in value):
        lines = ["["]
        for i, item in enumerate(value):
            tail = "," if i < len(value) - 1 else "]"
            inner = layout(item, indent + 1, indent + 2)
            lines += [" " * (indent + 1) + inner[0], *inner[1:]]
            lines[-1] += tail
        return lines
    opener, closer = ("{", "}") if isinstance(value, dict) else ("[", "]")
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    lines = [opener]
    for i, (key, item) in enumerate(items):
        label = "" if key is None else compact(key) + ":"
        tail = "," if i < len(items) - 1 else closer
        piece = label + compact(item) + tail
        used = (col if len(lines) == 1 else 0) + len(lines[-1])
        if used + len(piece) <= WIDTH:
            lines[-1] += piece
        elif indent + len(piece) <= WIDTH:
            lines.append(" " * indent + piece)
        elif isinstance(item, list) and item and used + len(label) < WIDTH:
            inner = layout(item, used + len(label), indent)  # "events":[ then one a line
            lines[-1] += label + inner[0]
            lines += inner[1:]
            lines[-1] += tail
        else:
            inner = layout(item, indent + len(label), indent + 1)
            lines += [" " * indent + label + inner[0], *inner[1:]]
            lines[-1] += tail
    return lines


class Names:
    """Run-specific strings (ids, tokens) and the placeholders shown for them."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def add(self, value: str, name: str) -> None:
        self.names[value] = name

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.names.get(value, value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def text(self, text: str) -> str:
        for value, name in self.names.items():
            text = text.replace(value, name)
        return text


def decoded(message: Message) -> dict[str, Any]:
    """A WebSocket message as the map on the wire, after checking the codec reads it as a
    message of its direction and that it holds exactly that message's fields."""
    raw = msgspec.msgpack.decode(message.data) if message.opcode == OP_BINARY else None
    if message.opcode == OP_TEXT:
        raw = msgspec.json.decode(message.data)
    typed = (decode_client if message.upstream else decode_server)(message.data)
    assert msgspec.to_builtins(typed) == raw, f"fields sent beyond {type(typed).__name__}: {raw}"
    return raw  # type: ignore[no-any-return]


def causal_order(conn: Connection) -> list[Message]:
    """One connection's messages in an order that is the same in every run.

    Each direction keeps its own order; a server message is placed right after the device
    message it answers (``welcome``: the ``hello``; ``ack``: its ``push``) and any other one
    right after the message before it, as early as that allows: the wire's own interleaving
    of the two directions is a race (a ``push`` sent on the ``welcome`` may pass a
    ``catalog`` sent after it)."""
    up = [m for m in conn.frames() if m.upstream]
    down = [m for m in conn.frames() if not m.upstream]
    needs: list[int] = []  # per server message: how many device messages come first
    need = 0
    for m in down:
        if m.opcode != OP_CLOSE:
            typed = decode_server(m.data)
            if isinstance(typed, Welcome):
                need = 1
            elif isinstance(typed, Ack):
                need = 1 + next(
                    i
                    for i, u in enumerate(up)
                    if u.opcode != OP_CLOSE
                    and isinstance(p := decode_client(u.data), Push)
                    and p.batch == typed.batch
                )
        else:  # the answer to a device's close, or the server's own
            need = len(up) if up and up[-1].opcode == OP_CLOSE else need
        needs.append(need)
    order: list[Message] = []
    i = 0
    for j, m in enumerate(up):
        while i < len(down) and needs[i] <= j:
            order.append(down[i])
            i += 1
        order.append(m)
    return order + down[i:]


def spoken(conn: Connection) -> list[Message]:
    """HTTP messages and WebSocket messages but pings and pongs."""
    return [m for m in conn.messages if m.opcode in (0, OP_TEXT, OP_BINARY, OP_CLOSE)]


def render_connection(conn: Connection, who: str, names: Names, step: int) -> list[str]:
    lines: list[str] = []
    http = [m for m in conn.messages if m.opcode == 0]
    if not conn.websocket:
        if http[0].step != step:
            return []
        request, response = http
        line = request.head.split("\r\n", 1)[0].rsplit(" ", 1)[0]
        auth = re.search(r"(?im)^authorization: (.*)$", request.head)
        if auth:
            line += f"  (Authorization: {names.text(auth.group(1).strip())})"
        body = names(json.loads(request.data)) if request.data else None
        lines += wrap(line + ("  " if body is not None else ""), body)
        answer = names(json.loads(response.data))
        if request.head.startswith("GET /v1/catalog"):
            answer["catalog"] = "…"
        lines += wrap(f"{status_of(response.head)}  ", answer)
        return [line.replace('"…"', "…") for line in lines]
    if http[0].step == step:
        lines.append(f"({who} opens the WebSocket {http[0].head.split()[1]})")
    for m in causal_order(conn):
        if m.step != step:
            continue
        arrow = ">>" if m.upstream else "<<"
        if m.opcode == OP_CLOSE:
            code = int.from_bytes(m.data[:2]) if m.data else None
            lines.append(f"{who} {arrow} (close {code})")
        else:
            lines += wrap(f"{who} {arrow} ", names(decoded(m)))
    return lines


def wrap(prefix: str, value: Any) -> list[str]:
    if value is None:
        return [prefix.rstrip()]
    body = layout(value, len(prefix), 4)
    return [prefix + body[0], *body[1:]]


def documented_block() -> tuple[str, int, int]:
    """§10's fenced block and where it stands in the document."""
    text = DOC.read_text()
    section = text.index("## 10. ")
    start = text.index("```\n", section) + 4
    end = text.index("```\n", start)
    return text, start, end


# -- the session -------------------------------------------------------------------------


@pytest.fixture
def ana_server(
    db_url: str, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> Iterator[tuple[RunningServer, Path]]:
    v1 = tmp_path / "v1.yaml"
    v1.write_text(CATALOG)
    result = waymark(
        "admin", "--db", init_db(db_url), "user", "add", "ana", "--password", "s3cret",
        "--timezone", "Europe/Paris",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    yield start_server(db_url, catalog=v1), tmp_path


async def run_session(server: RunningServer, tmp: Path) -> list[str]:
    """Play §10 through the relay; returns the rendered transcript."""
    port = int(server.url.rsplit(":", 1)[1])
    names = Names()
    out: list[str] = []
    laptop_clock, phone_clock = Clock(T0), Clock(T0 + 290_000)
    async with (
        Relay(port) as relay,
        Device(tmp / "laptop", clock=laptop_clock, timezone="Europe/Paris") as laptop,
        Device(tmp / "phone", clock=phone_clock, timezone="Europe/Paris") as phone,
    ):
        devices: dict[str, str] = {}  # token -> device name: the relay labels by the wire
        # Late points count toward the week they arrived in (gamification.md, "Weeks").
        names.add(this_week(), "<this week>")

        notes: list[str] = []  # what happened between two steps

        def show(note: str) -> None:
            """End the step: what went by in it is rendered after the session."""
            notes.append(note)
            relay.step += 1

        def label(conn: Connection) -> str:
            first = conn.messages[0]
            if b'"device_name"' in first.data:
                return str(json.loads(first.data)["device_name"]).removeprefix("ana-")
            auth = re.search(r"(?im)^authorization: bearer (\S+)", first.head)
            if auth:
                return devices[auth.group(1)]
            hello = next(m for m in conn.frames() if m.upstream)
            typed = decode_client(hello.data)
            assert isinstance(typed, Hello)
            return devices[typed.accounts[0].token]

        def learn(account: Any, name: str) -> None:
            devices[account.token] = name
            names.add(account.token, f"<{name}-token>")
            names.add(account.refresh_token, f"<{name}-refresh-token>")
            names.add(account.device_id, f"<{name}>")
            names.add(account.user_id, "<ana>")

        # Step 0: Ana logs in on her laptop (REST).
        learn(await laptop.login(relay.url, "ana", "s3cret", "ana-laptop"), "laptop")
        show(
            "(offline, the laptop records three events; the last names the lesson "
            "`first-progam` of the catalog it holds. Meanwhile the author fixes that id: "
            "the server's catalog is now a new version)"
        )
        await laptop.record("lesson.opened", {"course": COURSE, "lesson": "welcome"})
        laptop_clock.now += 90_000
        await laptop.record(
            "lesson.progressed",
            {"course": COURSE, "lesson": "installing-python", "seconds": 90, "position": 90,
             "from": 0, "to": 90},
        )  # fmt: skip
        laptop_clock.now += 30_000
        await laptop.record("lesson.completed", {"course": COURSE, "lesson": "first-progam"})
        fixed = tmp / "v2.yaml"
        fixed.write_text(CATALOG.replace("first-progam", "first-program"))
        result = waymark("admin", "--db", server.db, "catalog", "load", str(fixed))
        assert result.returncode == 0, result.stderr
        laptop_clock.now += 30_000

        # Step 1: the laptop syncs: a new catalog, its push, the rejection, the echo.
        report = await laptop.sync_once()
        assert report.pushed == 3
        assert [a.cursor for a in await laptop.accounts()] == [5]
        show(
            "(the laptop now holds cursor 5: the points the server awarded are feed entries "
            "too. Ana logs in on her phone, which fetches the new catalog, and leaves the "
            "app open: the server sends the phone what the feed holds)"
        )

        # Step 2: the phone logs in and follows: the backlog.
        phone_clock.now += 10_000
        learn(await phone.login(relay.url, "ana", "s3cret", "ana-phone"), "phone")
        changes: list[Change] = []
        arrived = asyncio.Event()
        wanted = [5]

        def on_change(change: Change) -> None:
            changes.append(change)
            if len(changes) >= wanted[0]:
                arrived.set()

        stop = asyncio.Event()
        following = asyncio.create_task(phone.follow(on_change, stop=stop))
        await asyncio.wait_for(arrived.wait(), 30)
        show(
            "(the laptop completes `first-program` and syncs; the phone, still connected, "
            "receives the new entries at once)"
        )

        # Step 3: the laptop pushes; the phone hears of it at once.
        arrived.clear()
        wanted[0] = 8
        laptop_clock.now += 30_000
        await laptop.record("lesson.opened", {"course": COURSE, "lesson": "first-program"})
        laptop_clock.now += 20_000
        await laptop.record("lesson.completed", {"course": COURSE, "lesson": "first-program"})
        laptop_clock.now += 1_000
        await laptop.sync_once()
        await asyncio.wait_for(arrived.wait(), 30)
        show("(Ana closes the app on her phone)")

        # Step 4: the phone leaves.
        stop.set()
        await asyncio.wait_for(following, 30)
        show("")
        for device in (laptop, phone):  # what the text under the block says they show
            status = await device.status()
            lessons = {
                lesson["id"]: (lesson["status"], lesson["watched_percent"])
                for lesson in status["courses"][0]["modules"][0]["lessons"]
            }
            assert lessons == {
                "welcome": ("completed", 0.0),
                "installing-python": ("in_progress", 21.4),
                "first-program": ("completed", 0.0),
            }
            assert status["points"] == 25
        names.add(this_week(), "<this week>")  # a run across midnight on Sunday
        assert [c.entry.user_seq for c in changes] == list(range(1, 9))
        for step, note in enumerate(notes):
            # Connections in the order they spoke in this step: causes before effects.
            said = {
                c.number: [m.index for m in spoken(c) if m.step == step] for c in relay.connections
            }
            spoke = sorted(
                (c for c in relay.connections if said[c.number]), key=lambda c: min(said[c.number])
            )
            for conn in spoke:
                out.extend(render_connection(conn, label(conn), names, step))
            if note:
                out.extend(["", *textwrap.wrap(note, WIDTH)])
    return out


async def test_section_10_is_a_real_session(ana_server: tuple[RunningServer, Path]) -> None:
    server, tmp = ana_server
    transcript = "\n".join(await run_session(server, tmp)) + "\n"
    text, start, end = documented_block()
    if os.environ.get(REGEN):
        DOC.write_text(text[:start] + transcript + text[end:])
        return
    documented = text[start:end]
    diff = "".join(
        difflib.unified_diff(
            documented.splitlines(keepends=True),
            transcript.splitlines(keepends=True),
            "docs/protocol.md §10",
            "this run",
        )
    )
    if documented != transcript:
        pytest.fail(f"docs/protocol.md §10 no longer matches a real run; {HINT}\n{diff}", False)
