"""``/v1/ready`` (``server.api.health``): 200 with each dependency's check while all pass;
503 problem details naming the one that failed, with every check in ``extra``."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.errors import StoreUnavailable
from tests.server.conftest import Clock


# The app in-process warns of Litestar 3.0 deprecations (inferred dependencies) in
# handlers that are not this test's subject (as in test_shard_ready.py).
@pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
async def test_ready_lists_each_check_and_answers_503_naming_the_one_that_fails(
    db_url: str,
) -> None:
    app = create_app(db_url, clock=Clock())
    async with AsyncTestClient(app=app) as client:
        ready = await client.get("/v1/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["database"]["ok"] and checks["database"]["latency_ms"] >= 0
        assert checks["fanout"]["ok"]

        app.state.hub.backend.healthy = False  # the LISTEN connection dropped
        answer = await client.get("/v1/ready")
        if db_url.startswith("postgresql"):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["detail"].startswith("fanout: postgresql down")
            assert problem["checks"]["database"]["ok"]
            assert not problem["checks"]["fanout"]["ok"]
        else:  # one process owns a SQLite database: there is no listener to lose
            assert answer.status_code == 200, answer.text
        app.state.hub.backend.healthy = True

        async def gone() -> None:  # what the engines raise when the database went away
            raise StoreUnavailable("PostgreSQL is unavailable: connection refused")

        app.state.store.ping = gone
        answer = await client.get("/v1/ready")
        assert answer.status_code == 503, answer.text
        problem = answer.json()
        assert problem["detail"].endswith(
            "does not answer: PostgreSQL is unavailable: connection refused"
        )
        assert problem["detail"].startswith("database: ")
        assert not problem["checks"]["database"]["ok"]
        assert "latency_ms" not in problem["checks"]["database"]
