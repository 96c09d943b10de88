"""Decisions from the server reach the open path and course screens without another
change to prompt them: enrollment, milestones unlocked and completed, modules completed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from client.api import Device
from sync.catalog import parse_catalog
from tests.client.conftest import entry
from tests.conftest import RunningServer, init_db
from tests.tui.conftest import CATALOG_YAML, SERVER, arrive, started
from tests.tui.test_live import FAST, add_user, login
from tests.tui.wait import shows, until
from tui.app import WaymarkApp
from tui.screens.course import CourseScreen
from tui.screens.path import PathScreen


async def test_server_decisions_appear_on_the_open_path_and_course_screens(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_YAML)
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    add_user(db, "alice")
    server = await asyncio.to_thread(start_server, db, catalog=catalog)
    await login(tmp_path / "kiosk", server.url, "alice")
    app = WaymarkApp(Device(tmp_path / "kiosk"), backoff=FAST, status_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await shows(pilot, "● online")
        await pilot.press("down", "down", "enter")  # Path: Track
        await shows(pilot, "Track  ○ not enrolled")
        assert isinstance(app.screen, PathScreen)
        await pilot.press("e")  # the server decides: enrolled, the first milestone unlocked
        text = await until(
            pilot,
            lambda text: "Track  ◐ enrolled" in text and "requested" not in text,
            what="the enrollment decided",
        )
        assert "○ available" in text and "⊘ locked" in text  # First steps, then Checks
        assert "d Drop" in text  # offered again once the server answered
        await pilot.press("enter")  # First steps: Course One
        await shows(pilot, "Basics  ○ not started")
        assert isinstance(app.screen, CourseScreen)
        async with Device(tmp_path / "phone") as phone:  # the learner's other device
            await phone.login(server.url, "alice", "pw", "phone")
            for lesson in ("read", "video"):
                await phone.record("lesson.completed", {"course": "c1", "lesson": lesson})
            await phone.sync_once()
        await shows(pilot, "Basics  ✓ completed  100%", "✓ completed  Track / First steps")
        await pilot.press("escape")  # back on the path: the next milestone is unlocked
        await shows(pilot, "1/2 milestones")
        assert isinstance(app.screen, PathScreen)


async def test_a_requested_action_clears_when_its_ack_lands_after_the_decision(
    make_app: Callable[..., WaymarkApp], home: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("down", "down", "enter", "e")  # Path: Track, enroll
        await shows(pilot, "Enrollment requested")
        enrolled = {"path": "p1", "to": "enrolled", "from": None, "reason": "enroll"}
        decided = entry(1, "enrollment.changed", origin="server", body=enrolled)
        await arrive(pilot, [decided])  # the decision, and the reload it prompts
        await shows(pilot, "Track  ◐ enrolled", "Enrollment requested")  # not acked yet
        await app.device.journal.mark_acked("d-alice", 1)  # the ack, a moment later
        app.request_status()  # as the status line's timer does every second
        text = await until(pilot, lambda text: "requested" not in text, what="no request")
        assert "Track  ◐ enrolled" in text and "d Drop" in text


async def test_a_completion_from_another_device_reaches_the_open_lesson(
    make_app: Callable[..., WaymarkApp],
) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter", "down", "enter")  # Course One > Reading
        await shows(pilot, "◐ in progress", "c Mark complete")
        done = entry(1, "lesson.completed", body={"course": "c1", "lesson": "read"})
        await arrive(pilot, [done])  # from the learner's phone
        text = await shows(pilot, "✓ completed", "u Mark incomplete")
        assert "c Mark complete" not in text


async def test_a_new_catalog_redraws_the_open_lesson(
    make_app: Callable[..., WaymarkApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("enter", "down", "enter")  # Course One > Reading
        await shows(pilot, "Read slowly, then read again.")
        newer = CATALOG_YAML.replace("Read **slowly**, then read again.", "Read it aloud.")
        await app.device.journal.store_catalog(SERVER, "v2", parse_catalog(newer, "yaml"))
        app.request_load()  # the next reload (a sync does not prompt one for a catalog)
        text = await shows(pilot, "Read it aloud.", "sync off · ")
        assert "read again" not in text and "c Mark complete" in text
        await pilot.press("c")  # the keys still work on the redrawn screen
        await shows(pilot, "✓ completed")
