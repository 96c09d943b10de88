"""The home page's data: what the viewer may see (:func:`server.dashboard.scope.visible_to`)
of the learners, their devices' freshness, the groups and the catalog's courses, as the
``home.html`` template's context."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote, urlencode

from server.dashboard import charts
from server.dashboard.freshness import (
    STALE_MS,
    STATE_LABELS,
    STATES,
    ago,
    freshness,
    iso,
    local_time,
)
from server.dashboard.scope import visible_to
from server.dashboard.urls import COURSES, LIVE, ROOT
from server.storage.store import Store, User

Sort = Literal["name", "last-sync"]


async def overview(store: Store, viewer: User, *, now: int, sort: Sort) -> dict[str, Any]:
    """The home page of ``viewer`` at ``now`` (ms), learners sorted by ``sort``: ``name``,
    or ``last-sync`` (longest silent first)."""
    seen = await visible_to(store, viewer)
    tz = viewer.timezone
    roster = await store.roster(seen.group_ids, stale_before=now - STALE_MS)
    names = {g.id: g.name for g in seen.groups}
    groups_of: dict[str, list[str]] = {}
    for group_id, members in seen.members.items():
        for user_id in members:
            groups_of.setdefault(user_id, []).append(names[group_id])
    if sort == "last-sync":
        roster.sort(key=lambda r: (r.last_sync_at is not None, r.last_sync_at or 0, r.username))
    learners = []
    counts = dict.fromkeys(STATES, 0)
    for r in roster:
        fresh = freshness(r.last_sync_at, now)
        counts[fresh.state] += 1
        unseen = ""
        if r.stale_devices:
            unseen = (
                f"{r.stale_devices} of {r.devices} devices not heard from for a day or more:"
                " may hold offline work not yet seen"
            )
        learners.append(
            {
                "id": r.id,
                "username": r.username,
                "groups": ", ".join(sorted(groups_of.get(r.id, []))),
                "devices": r.devices,
                "iso": iso(r.last_sync_at) if r.last_sync_at is not None else "",
                "local": local_time(r.last_sync_at, tz) if r.last_sync_at is not None else "",
                "ago": ago(r.last_sync_at, now),
                "state": fresh.state,
                "state_label": STATE_LABELS[fresh.state],
                "unseen": unseen,
            }
        )
    catalog = await store.catalog()
    courses = [
        {
            "id": c.id,
            "title": c.title or c.id,
            "url": f"{COURSES}/{quote(c.id, safe='')}",
            "modules": len(c.modules),
            "lessons": sum(len(m.lessons) for m in c.modules),
            "quizzes": sum(len(m.all_quizzes) for m in c.modules),
        }
        for c in catalog.courses
    ]
    member_counts = {g: len(m) for g, m in seen.members.items()}
    groups = [
        {"name": g.name, "created_by": g.created_by, "members": member_counts.get(g.id, 0)}
        for g in seen.groups
    ]
    everyone = seen.group_ids is None
    summary = (
        f"{len(learners)} learner{'s' * (len(learners) != 1)}, "
        f"{len(groups)} group{'s' * (len(groups) != 1)} and "
        f"{len(courses)} course{'s' * (len(courses) != 1)}"
        + (" (you see everyone: administrator)." if everyone else " in the groups you created.")
    )
    chart = charts.bar_chart(
        "Learners by time since their last sync",
        [(STATE_LABELS[s], counts[s]) for s in STATES],
        unit="learners",
    )
    return {
        "summary": summary,
        "learners": learners,
        "groups": groups,
        "groups_caption": ("All groups" if everyone else "Groups you created")
        + f" ({len(groups)})",
        "courses": courses,
        "freshness_chart": chart,
        "timezone": tz,
        "sort": sort,
        "sort_note": "Sorted by name."
        if sort == "name"
        else "Sorted by last sync, longest silent first.",
        "sort_urls": {
            "name": f"{ROOT}?{urlencode({'sort': 'name'})}",
            "last_sync": f"{ROOT}?{urlencode({'sort': 'last-sync'})}",
        },
        "live_url": LIVE,
        "no_learners": "No learners to show yet. Learners appear here once they are in a "
        "group you created."
        if not everyone
        else "No learners yet.",
    }
