"""The catalog's competencies and learners' levels in them."""

from __future__ import annotations

import msgspec
from litestar import get

from server.api.common import AuthRequest, Learning, LearningController, errors, learning_dependency
from server.auth import SERVICE_SCOPE, Principal
from sync.views import CompetencyView, competency_evidence


class CompetencyDefinition(msgspec.Struct, frozen=True):
    """A competency of the catalog; ``evidence`` lists what counts, as ``kind:course/id``."""

    id: str
    name: str
    category: str
    level: str
    description: str
    mastery: int
    evidence: list[str]


class CompetencyCatalog(msgspec.Struct, frozen=True):
    competencies: list[CompetencyDefinition]


class LearnerCompetencies(msgspec.Struct, frozen=True):
    user: str
    competencies: list[CompetencyView]


class Competencies(Learning):
    """What the competency endpoints do."""

    async def competency_catalog(self) -> CompetencyCatalog:
        catalog = await self.store.catalog()
        return CompetencyCatalog(
            [
                CompetencyDefinition(
                    c.id,
                    c.name,
                    c.category,
                    c.level,
                    c.description,
                    c.mastery,
                    [f"{k}:{course}/{item}" for k, course, item in competency_evidence(catalog, c)],
                )
                for c in catalog.competencies
            ]
        )

    async def competencies(self, principal: Principal, name: str | None) -> LearnerCompetencies:
        user = (
            principal.user
            if name is None
            else await self._user(principal, name, "see other learners")
        )
        view = await self.store.learner(user.id)
        return LearnerCompetencies(user.username, view.competencies)


class CompetencyController(LearningController):
    tags = ["competencies"]
    dependencies = learning_dependency(Competencies)

    @get("/competencies")
    async def definitions(self, learning: Competencies) -> CompetencyCatalog:
        """The catalog's competencies and what gives evidence for each."""
        return await learning.competency_catalog()

    @get("/me/competencies")
    async def mine(self, request: AuthRequest, learning: Competencies) -> LearnerCompetencies:
        """The learner's level (0-100), status and evidence per competency."""
        return await learning.competencies(request.user, None)

    @get(
        "/users/{name:str}/competencies",
        responses=errors(403, 404),
        opt={SERVICE_SCOPE: "progress:read"},
    )
    async def of_user(
        self, request: AuthRequest, learning: Competencies, name: str
    ) -> LearnerCompetencies:
        """Another learner's competencies; instructors and admins only."""
        return await learning.competencies(request.user, name)
