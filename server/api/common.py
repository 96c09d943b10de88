"""What the REST features share: the request type, the problem details of errors, the
catalog look-ups and views several learning features use, and :class:`Learning`, the base of
their services.

REST API v1 for learning: enrollments, milestones, assessments, assignments,
competencies and course progress (the endpoints of seeds 001 and 003, under ``/v1``).

Learner state changes one way only: every action is one event recorded through the same
merge as sync (:meth:`Store.record_action`, from the learner's server-side ``rest`` device).
The server's decisions on it (a score, an enrollment or its refusal, an unlocked milestone)
are made inside that merge; :class:`Learning` reads them back from the learner's feed to
answer the call, then pokes the learner's other devices to pull them. Reads are views of the
fold (:meth:`Store.learner`). Quiz answers never appear in a response: quiz details are
built from :func:`sync.catalog.public_catalog`.

Controllers decode, call one :class:`Learning` method and return a Struct. Errors are
:mod:`server.errors`, answered as RFC 9457 problem details: an unknown id is 404, a
malformed request 400, a refused action 409 with the server's reason (also a well-formed
value the catalog does not allow, such as a position past the lesson's end), a staff-only
endpoint 403 for learners.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request
from litestar.di import Provide

from server.api.openapi import errors as errors  # what handlers declare
from server.auth import Principal
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.fanout import Hub
from server.storage.store import Store, User
from sync.catalog import Catalog, Course, Path
from sync.protocol.messages import FeedEntry
from sync.views import CourseView, LearnerView, MilestoneView, PathView

AuthRequest = Request[Principal, str, Any]


# Rejection codes (sync.events.check_event) that name something that does not exist.
NOT_FOUND_CODES: Final = frozenset(
    {
        "unknown_path",
        "unknown_milestone",
        "unknown_course",
        "unknown_lesson",
        "unknown_quiz",
        "unknown_assignment",
    }
)


# Rejection codes for a well-formed value the catalog does not allow for that item (a
# position past the lesson's end, a choice the question does not have): a refusal (409),
# since no schema can say what the catalog holds.
REFUSED_CODES: Final = frozenset({"invalid_value", "unknown_question"})


def _path(catalog: Catalog, path_id: str) -> Path:
    path = catalog.path(path_id)
    if path is None:
        raise NotFound(f"no path {path_id!r} in the catalog")
    return path


def _course(catalog: Catalog, course_id: str) -> Course:
    course = catalog.course(course_id)
    if course is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    return course


def _path_view(view: LearnerView, path_id: str) -> PathView:
    found = next((p for p in view.paths if p.id == path_id), None)
    if found is None:  # the catalog changed between the check and the read
        raise NotFound(f"no path {path_id!r} in the catalog")
    return found


def _course_view(view: LearnerView, course_id: str) -> CourseView:
    found = next((c for c in view.courses if c.id == course_id), None)
    if found is None:
        raise NotFound(f"no course {course_id!r} in the catalog")
    return found


def _content_percent(courses: dict[str, CourseView], step: MilestoneView) -> int:
    course = courses.get(step.course)
    if course is None:
        return 0
    if step.module is None:
        return course.percent
    module = next((m for m in course.modules if m.id == step.module), None)
    return module.percent if module else 0


def _caused(entries: list[FeedEntry], head: int) -> list[FeedEntry]:
    """The decisions of the action whose merge left the feed at ``head``: the server entries
    after its device entry. One learner's merges are serialized, so an action's entries are
    contiguous and end at ``head``; entries of a merge that came between sit before them."""
    mine = [e for e in entries if e.user_seq <= head]
    for index in range(len(mine) - 1, -1, -1):
        if mine[index].origin == "device":
            return mine[index + 1 :]
    return []


def _refuse_on(decisions: list[FeedEntry], refusal: str) -> None:
    """Raise :class:`Conflict` with the server's reason if it refused the action."""
    for entry in decisions:
        if entry.type == refusal:
            raise Conflict(str(entry.body.get("reason", "refused")))


def _staff(principal: Principal, what: str) -> None:
    if not principal.can_see_others:
        raise Forbidden(f"only instructors and admins {what}")


class Learning:
    """What the learning endpoints do, one method per endpoint; each raises
    :class:`~server.errors.NotFound`, :class:`~server.errors.BadRequest`,
    :class:`~server.errors.Conflict` (a refusal, with the server's reason) or
    :class:`~server.errors.Forbidden`."""

    def __init__(self, store: Store, hub: Hub) -> None:
        self.store = store
        self.hub = hub

    async def _act(self, user_id: str, type_: str, body: dict[str, Any]) -> list[FeedEntry]:
        """Record one learner action through the merge; returns the decisions it caused.
        A rejected event raises (404 for an unknown id, 400 otherwise)."""
        head = await self.store.feed_head(user_id)
        with self.hub.local_write(user_id):
            result = await self.store.record_action(user_id, type_, body)
            # The feed grew either way (the event or its rejection): the devices get it.
            self.hub.committed(user_id, result.entries)
        if result.rejected:
            rejection = result.rejected[0]
            error = (
                NotFound
                if rejection.code in NOT_FOUND_CODES
                else Conflict
                if rejection.code in REFUSED_CODES
                else BadRequest
            )
            raise error(rejection.reason)
        entries = await self.store.feed_after(user_id, head, max(1, result.feed_head - head))
        return _caused(entries, result.feed_head)

    def _poke(self, user_id: str) -> None:
        """The learner's feed grew by a write that kept no entries: their devices read it."""
        self.hub.committed(user_id, None)

    async def _user(self, principal: Principal, name: str, what: str) -> User:
        """``name``'s account, if the caller may see it (themselves, or staff)."""
        if principal.user.username != name:
            _staff(principal, what)
        user = await self.store.user_by_name(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        return user


def learning_dependency(service: type[Learning]) -> dict[str, Provide]:
    """A learning controller's ``learning`` dependency: its feature's service."""

    def provide_learning(store: Store, hub: Hub) -> Learning:
        return service(store, hub)

    return {"learning": Provide(provide_learning, sync_to_thread=False)}


class LearningController(Controller):
    """The learning controllers' base: under ``/v1``; each sets ``tags`` and
    ``dependencies = learning_dependency(ItsService)``."""

    path = "/v1"
