"""``waymark whoami``, ``learners`` and ``courses``: what this device holds, offline.

Each reads the journal only (no server), prints plain lines, and takes ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from client.cli_common import (
    Command,
    Failure,
    home_option,
    json_option,
    print_json,
    run_device,
    user_option,
)

if TYPE_CHECKING:
    from client.api import Device
    from client.journal import Account
    from sync.catalog import Catalog


async def _describe(device: Device, account: Account) -> dict[str, Any]:
    return {
        "user": account.username,
        "user_id": account.user_id,
        "server": account.server_url,
        "device_id": account.device_id,
        "role": account.role,
        "plan": account.plan,
        "timezone": account.timezone,
        "default": account.is_default,
        "pending": await device.journal.pending_count(account.user_id),
        "synced_at": account.synced_at,
    }


def _when(ms: int | None, zone: str) -> str:
    if ms is None:
        return "never"
    from client.cli import _when as when
    from sync.gamify import zone as learner_zone

    return when(ms, tz=learner_zone(zone))


@click.command(cls=Command)
@json_option
@user_option
@home_option
def whoami(as_json: bool, user: str | None, home: Path) -> None:
    """Show the learner commands act for here (--user, else the only or default one)."""

    async def work(device: Device) -> dict[str, Any]:
        return await _describe(device, await device.journal.account(user))

    found = run_device(home, work)
    if as_json:
        print_json(found)
        return
    click.echo(
        f"{found['user']} on {found['server']} (device {found['device_id']}, {found['role']}, "
        f"plan {found['plan']}, zone {found['timezone']}); {found['pending']} pending, "
        f"last sync {_when(found['synced_at'], found['timezone'])}"
    )


@click.command(cls=Command)
@json_option
@home_option
def learners(as_json: bool, home: Path) -> None:
    """List the learners logged in on this device (* marks the default one)."""

    async def work(device: Device) -> list[dict[str, Any]]:
        return [await _describe(device, account) for account in await device.accounts()]

    found = run_device(home, work)
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo("no learner is logged in on this device: run 'waymark login'")
    for item in found:
        mark = "*" if item["default"] else " "
        click.echo(
            f"{mark} {item['user']}  {item['server']}  {item['pending']} pending, "
            f"last sync {_when(item['synced_at'], item['timezone'])}"
        )


def catalog_json(version: str, catalog: Catalog) -> dict[str, Any]:
    """The ids and titles of a catalog: what ``waymark record`` and ``quiz take`` name."""

    def item(thing: Any, **extra: Any) -> dict[str, Any]:
        return {"id": thing.id, "title": thing.title, **extra}

    return {
        "version": version,
        "courses": [
            item(
                course,
                modules=[
                    item(
                        module,
                        lessons=[item(lesson, kind=lesson.kind) for lesson in module.lessons],
                        quizzes=[item(quiz) for quiz in module.all_quizzes],
                        assignments=[item(a) for a in module.assignments],
                    )
                    for module in course.modules
                ],
            )
            for course in catalog.courses
        ],
        "paths": [
            item(path, milestones=[item(m, course=m.course) for m in path.milestones])
            for path in catalog.paths
        ],
    }


def _titled(thing: dict[str, Any]) -> str:
    return f"{thing['id']}  {thing['title']}" if thing["title"] else thing["id"]


@click.command(cls=Command)
@json_option
@user_option
@home_option
def courses(as_json: bool, user: str | None, home: Path) -> None:
    """List the catalog's courses with the ids of their modules, lessons, quizzes and
    assignments, and its paths, as this device last got it from the server (offline)."""

    async def work(device: Device) -> dict[str, Any]:
        account = await device.journal.account(user)
        cached = await device.journal.catalog(account.server_url)
        if cached is None:
            raise Failure(
                f"no catalog of {account.server_url} on this device yet: run 'waymark sync'"
            )
        return catalog_json(*cached)

    found = run_device(home, work)
    if as_json:
        print_json(found)
        return
    for course in found["courses"]:
        click.echo(f"course {_titled(course)}")
        for module in course["modules"]:
            click.echo(f"  module {_titled(module)}")
            for kind in ("lessons", "quizzes", "assignments"):
                for thing in module[kind]:
                    click.echo(f"    {kind[:-1] if kind != 'quizzes' else 'quiz'} {_titled(thing)}")
    for path in found["paths"]:
        click.echo(f"path {_titled(path)}")
        for milestone in path["milestones"]:
            click.echo(f"  milestone {_titled(milestone)} (course {milestone['course']})")
