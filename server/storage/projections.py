"""What a learner's progress shows, read from their materialized state."""

from __future__ import annotations

from server.errors import NotFound
from server.storage.accounts import AccountsStore
from server.storage.feed import FeedStore
from sync.views import LearnerView, learner_view


class ProjectionsStore(AccountsStore, FeedStore):
    """The learner's views."""

    async def learner(self, user_id: str) -> LearnerView:
        """Everything the learner's progress shows (``sync.views.learner_view``)."""
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return learner_view(await self.user_state(user_id), await self.catalog(), user.plan)
