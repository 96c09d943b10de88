"""REST API v1 for gamification: achievements, certificates and their verification, Open
Badges 3.0 credentials, leaderboards (with the opt-out) and the groups instructors define.

Public (no token): ``GET /v1/certificates/{code}`` (a certificate's shareable link),
``GET /v1/certificates/{code}/credential``, ``POST /v1/credentials/verify``, the issuer
profile ``GET /v1/issuer``, achievement definitions under ``/v1/achievements`` and the
signing keys at ``GET /.well-known/jwks.json``. Everything else needs the learner's token.

Awards themselves are never made here: the merge makes them (:mod:`sync.gamify`); these
handlers read them back and sign them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.api.common import AuthRequest, errors
from server.auth import SERVICE_SCOPE, Principal
from server.credentials import (
    AchievementInfo,
    CredentialError,
    jwks,
    open_badge_credential,
    sign_credential,
)
from server.credentials import verify_credential as verify_token
from server.errors import Conflict, Forbidden, NotFound
from server.storage.store import WEEK_PATTERN, Group, Store, User
from sync.gamify import GamifyView, Leaderboard

ISSUER_NAME: Final = "Waymark"
_NAMESPACE: Final = uuid.UUID("6f0b8a51-3c39-4d8e-9a55-1f0e54a7c0de")
Week = Annotated[str, msgspec.Meta(pattern=WEEK_PATTERN, examples=["2026-W47"])]


class CertificateVerification(msgspec.Struct, frozen=True):
    """What anyone holding a certificate's code may check: it is genuine, whose it is, for
    what, when issued; ``credential`` is where its signed Open Badges 3.0 form is."""

    valid: bool
    code: str
    learner: str
    kind: Literal["course", "path"]
    ref: str
    title: str
    issued_at: int
    issuer: str
    credential: str


class SignedCredential(msgspec.Struct, frozen=True):
    """An Open Badges 3.0 credential: ``jwt`` is the signed form (VC-JWT, EdDSA, key in
    ``/.well-known/jwks.json``), ``credential`` the same JSON unsigned, for reading."""

    jwt: str
    credential: dict[str, Any]


class VerifyRequest(msgspec.Struct, frozen=True):
    jwt: Annotated[str, msgspec.Meta(max_length=100_000)]


class Verified(msgspec.Struct, frozen=True):
    """``valid``: this server signed the credential and it is unchanged; then ``credential``
    is its content. Otherwise ``reason`` says what is wrong and ``credential`` is empty."""

    valid: bool
    credential: dict[str, Any]
    reason: str = ""


class OptOut(msgspec.Struct, frozen=True):
    opt_out: bool


GroupName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^/]+$", examples=["cohort-a"])
]


class NewGroup(msgspec.Struct, frozen=True):
    name: GroupName
    """Anything but "/" (the name goes into URLs)."""


class GroupList(msgspec.Struct, frozen=True):
    groups: list[Group]


class GroupTeachers(msgspec.Struct, frozen=True):
    """A group's teachers: instructors who see its learners in reports, besides the
    instructor who created it (``created_by``)."""

    group: str
    created_by: str
    teachers: list[str]


def _base(request: Request[Any, Any, Any]) -> str:
    """The server's public URL, from its configuration (``waymark serve --public-url``),
    never from the request's ``Host``: a client must not choose the issuer's id."""
    return str(request.app.state.public_url)


def _subject(user_id: str) -> str:
    return f"urn:uuid:{uuid.UUID(user_id)}"


def _key(store: Store) -> Any:
    assert store.signing_key is not None, "the store opens before requests are served"
    return store.signing_key


async def _learner(store: Store, viewer: Principal, name: str) -> User:
    """``name``'s account, if ``viewer`` may see it (self, instructors, admins, service
    tokens with scope progress:read)."""
    if viewer.user.username != name and not viewer.can_see_others:
        raise Forbidden("only instructors and admins see other learners")
    user = await store.user_by_name(name)
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def _staff(user: User) -> None:
    if user.role not in ("instructor", "admin"):
        raise Forbidden("only instructors and admins manage groups")


async def _group(store: Store, name: str, *, members: bool = False) -> Group:
    group = await store.group(name, members=members)
    if group is None:
        raise NotFound(f"no group {name!r}")
    return group


class AchievementsController(Controller):
    path = "/v1"
    tags = ["gamification"]

    @get("/me/achievements")
    async def mine(self, request: AuthRequest, store: Store) -> GamifyView:
        """Points, level (next level and points still needed), streak (current, longest,
        freezes), badges earned and not, certificates, the points ledger and this week's
        points."""
        return await store.achievements(request.user.user.id)

    @get(
        "/users/{name:str}/achievements",
        responses=errors(403, 404),
        opt={SERVICE_SCOPE: "progress:read"},
    )
    async def of_user(self, request: AuthRequest, store: Store, name: str) -> GamifyView:
        """Another learner's achievements; instructors and admins only."""
        user = await _learner(store, request.user, name)
        return await store.achievements(user.id)

    @get("/me/badges/{badge_id:str}/credential", responses=errors(404))
    async def badge_credential(
        self, request: AuthRequest, store: Store, badge_id: str
    ) -> SignedCredential:
        """An earned badge as a signed Open Badges 3.0 credential."""
        user = request.user.user
        badge = await store.badge(user.id, badge_id)
        if badge is None:
            raise NotFound(f"you have not earned badge {badge_id!r}")
        catalog = await store.catalog()
        known = {b.id: b for b in store.rules(catalog).badges}.get(badge_id)
        base = _base(request)
        credential = open_badge_credential(
            issuer_url=f"{base}/v1/issuer",
            issuer_name=ISSUER_NAME,
            credential_id=f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'badge/{user.id}/{badge_id}')}",
            subject_id=_subject(user.id),
            subject_name=user.username,
            achievement=AchievementInfo(
                f"{base}/v1/achievements/badges/{badge_id}",
                "Badge",
                badge.name or badge_id,
                known.description if known else "",
                "; ".join(badge.evidence),
                known.image_url if known else "",
            ),
            issued_at_ms=badge.earned_at,
            evidence=badge.evidence,
        )
        return SignedCredential(sign_credential(_key(store), credential), credential)


class CertificateController(Controller):
    path = "/v1"
    tags = ["certificates"]

    @get("/certificates/{code:str}", responses=errors(404), exclude_from_auth=True)
    async def verify(
        self, request: Request[Any, Any, Any], store: Store, code: str
    ) -> CertificateVerification:
        """Verify a certificate by its code (no sign-in: the code is the shareable link).
        404 when no certificate has this code."""
        cert = await store.certificate(code)
        if cert is None:
            raise NotFound(f"no certificate has code {code!r}")
        return CertificateVerification(
            True,
            cert.code,
            cert.username,
            "course" if cert.kind == "course" else "path",
            cert.ref,
            cert.title,
            cert.issued_at,
            ISSUER_NAME,
            f"{_base(request)}/v1/certificates/{cert.code}/credential",
        )

    @get("/certificates/{code:str}/credential", responses=errors(404), exclude_from_auth=True)
    async def credential(
        self, request: Request[Any, Any, Any], store: Store, code: str
    ) -> SignedCredential:
        """The certificate as a signed Open Badges 3.0 credential (no sign-in)."""
        cert = await store.certificate(code)
        if cert is None:
            raise NotFound(f"no certificate has code {code!r}")
        base = _base(request)
        kind = "courses" if cert.kind == "course" else "paths"
        credential = open_badge_credential(
            issuer_url=f"{base}/v1/issuer",
            issuer_name=ISSUER_NAME,
            credential_id=f"{base}/v1/certificates/{cert.code}/credential",
            subject_id=_subject(cert.user_id),
            subject_name=cert.username,
            achievement=AchievementInfo(
                f"{base}/v1/achievements/{kind}/{cert.ref}",
                "Certificate",
                cert.title or cert.ref,
                f"Completed the {cert.kind} {cert.title or cert.ref!r}",
                f"Complete every part of the {cert.kind} its completion rules require.",
            ),
            issued_at_ms=cert.issued_at,
            evidence=[f"certificate {cert.code}"],
            verification_url=f"{base}/v1/certificates/{cert.code}",
        )
        return SignedCredential(sign_credential(_key(store), credential), credential)

    @post("/credentials/verify", status_code=HTTP_200_OK, exclude_from_auth=True)
    async def verify_credential(self, store: Store, data: VerifyRequest) -> Verified:
        """Check a credential (no sign-in): ``valid`` is true for one this server signed and
        nobody changed; otherwise false with the ``reason`` (malformed, tampered with, signed
        by another key). The answer is 200 either way, as for OAuth token introspection
        (RFC 7662): the request was understood, the credential is what failed."""
        try:
            return Verified(True, verify_token(data.jwt, [_key(store)]))
        except CredentialError as err:
            return Verified(False, {}, err.detail)

    @get("/issuer", exclude_from_auth=True)
    async def issuer(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """The Open Badges issuer profile of this server."""
        base = _base(request)
        return {
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
            ],
            "id": f"{base}/v1/issuer",
            "type": ["Profile"],
            "name": ISSUER_NAME,
            "url": base,
        }

    @get("/achievements/{kind:str}/{ref:str}", responses=errors(404), exclude_from_auth=True)
    async def achievement(
        self, request: Request[Any, Any, Any], store: Store, kind: str, ref: str
    ) -> dict[str, Any]:
        """The definition an Open Badges credential points at: a badge, course or path."""
        catalog = await store.catalog()
        name = description = ""
        if kind == "badges":
            badge = {b.id: b for b in store.rules(catalog).badges}.get(ref)
            if badge is not None:
                name, description = badge.name or badge.id, badge.description
        elif kind == "courses":
            course = catalog.course(ref)
            if course is not None:
                name = course.title or course.id
                description = f"Completion of the course {name!r}"
        elif kind == "paths":
            path = catalog.path(ref)
            if path is not None:
                name = path.title or path.id
                description = f"Completion of the learning path {name!r}"
        if not name:
            raise NotFound(f"no {kind.rstrip('s')} {ref!r}")
        return {
            "id": f"{_base(request)}/v1/achievements/{kind}/{ref}",
            "type": ["Achievement"],
            "achievementType": "Badge" if kind == "badges" else "Certificate",
            "name": name,
            "description": description,
        }


@get("/.well-known/jwks.json", tags=["certificates"], exclude_from_auth=True)
async def well_known_jwks(store: Store) -> dict[str, Any]:
    """The public keys credentials are signed with (JWK Set, Ed25519)."""
    return jwks([_key(store)])


class LeaderboardController(Controller):
    path = "/v1"
    tags = ["leaderboards"]

    @get("/leaderboards/weekly", responses=errors(403, 404))
    async def weekly(
        self,
        request: AuthRequest,
        store: Store,
        group: str | None = None,
        course: str | None = None,
        week: Week | None = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 10,
    ) -> Leaderboard:
        """Weekly points, ranked: of every learner, of a ``group`` (name or id) or of a
        ``course``'s cohort (learners with progress in it). ``you`` is the caller's own
        place. Learners who opted out appear on nobody's board but their own. ``week``
        defaults to this week in the caller's time zone."""
        found = await _group(store, group) if group is not None else None
        if course is not None and (await store.catalog()).course(course) is None:
            raise NotFound(f"no course {course!r}")
        return await store.leaderboard(
            request.user.user, group=found, course=course, week=week, limit=limit
        )

    @get("/me/leaderboard")
    async def opt_out_status(self, request: AuthRequest) -> OptOut:
        """Whether the caller is hidden from other learners' leaderboards."""
        return OptOut(request.user.user.leaderboard_opt_out)

    @put("/me/leaderboard")
    async def set_opt_out(self, request: AuthRequest, store: Store, data: OptOut) -> OptOut:
        """Opt out of (``true``) or back into leaderboards. Opting out hides you from every
        other learner's leaderboard at once; you still see your own place."""
        await store.set_leaderboard_opt_out(request.user.user.id, data.opt_out)
        return OptOut(data.opt_out)


class GroupController(Controller):
    path = "/v1/groups"
    tags = ["groups"]

    @get("/")
    async def list_groups(self, request: AuthRequest, store: Store) -> GroupList:
        """Instructors and admins: every group with its members. Learners: their groups."""
        user = request.user.user
        if user.role in ("instructor", "admin"):
            groups = [await _group(store, g.id, members=True) for g in await store.groups()]
            return GroupList(groups)
        return GroupList(await store.groups(member=user.id))

    @post("/", status_code=HTTP_201_CREATED, responses=errors(403, 409))
    async def create(self, request: AuthRequest, store: Store, data: NewGroup) -> Group:
        """Create a group (instructors and admins)."""
        _staff(request.user.user)
        return await store.create_group(data.name, request.user.user.username)

    @get("/{name:str}", responses=errors(403, 404))
    async def show(self, request: AuthRequest, store: Store, name: str) -> Group:
        """A group with its members (instructors and admins)."""
        _staff(request.user.user)
        return await _group(store, name, members=True)

    @delete("/{name:str}", status_code=HTTP_200_OK, responses=errors(403, 404))
    async def remove(self, request: AuthRequest, store: Store, name: str) -> Group:
        """Delete a group (its members keep their points)."""
        _staff(request.user.user)
        group = await _group(store, name, members=True)
        await store.delete_group(group.id)
        return group

    @put("/{name:str}/members/{username:str}", responses=errors(403, 404))
    async def add_member(
        self, request: AuthRequest, store: Store, name: str, username: str
    ) -> Group:
        """Put a learner in the group."""
        return await self._member(request, store, name, username, True)

    @delete(
        "/{name:str}/members/{username:str}", status_code=HTTP_200_OK, responses=errors(403, 404)
    )
    async def remove_member(
        self, request: AuthRequest, store: Store, name: str, username: str
    ) -> Group:
        """Take a learner out of the group."""
        return await self._member(request, store, name, username, False)

    @put("/{name:str}/teachers/{username:str}", responses=errors(403, 404, 409))
    async def add_teacher(
        self, request: AuthRequest, store: Store, name: str, username: str
    ) -> GroupTeachers:
        """Make an instructor one of the group's teachers (admins and the group's creator):
        they see its learners in reports."""
        return await self._teacher(request, store, name, username, True)

    @delete(
        "/{name:str}/teachers/{username:str}",
        status_code=HTTP_200_OK,
        responses=errors(403, 404),
    )
    async def remove_teacher(
        self, request: AuthRequest, store: Store, name: str, username: str
    ) -> GroupTeachers:
        """No longer a teacher of the group (admins and the group's creator)."""
        return await self._teacher(request, store, name, username, False)

    async def _teacher(
        self, request: AuthRequest, store: Store, name: str, username: str, teacher: bool
    ) -> GroupTeachers:
        viewer = request.user.user
        _staff(viewer)
        group = await _group(store, name)
        if viewer.role != "admin" and viewer.username != group.created_by:
            raise Forbidden(f"only admins and {group.created_by} manage the group's teachers")
        user = await store.user_by_name(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        if teacher and user.role != "instructor":
            raise Conflict(f"{username} is not an instructor (role {user.role})")
        await store.set_teacher(group.id, user.id, teacher)
        return GroupTeachers(group.name, group.created_by, await store.teachers(group.id))

    async def _member(
        self, request: AuthRequest, store: Store, name: str, username: str, member: bool
    ) -> Group:
        _staff(request.user.user)
        group = await _group(store, name)
        user = await store.user_by_name(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        await store.set_member(group.id, user.id, member)
        return await _group(store, group.id, members=True)
