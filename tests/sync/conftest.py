"""Fixtures shared by the tests of ``sync``."""

from __future__ import annotations

import pytest


# Module scope, not function scope: Hypothesis refuses function-scoped fixtures in @given
# tests, and this one holds no state.
@pytest.fixture(scope="module", params=[True, False], ids=["msgpack", "json"])
def binary(request: pytest.FixtureRequest) -> bool:
    """Run a suite once per wire format: binary frames (msgpack) and text frames (JSON)."""
    value: bool = request.param
    return value
