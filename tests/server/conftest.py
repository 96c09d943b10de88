"""The storage contract's fixtures: a store on each engine (``db_url``) with the test catalog
and a clock that moves by one millisecond per reading."""

from __future__ import annotations

import pytest

from server.storage.store import Store
from sync.catalog import Catalog, parse_catalog
from tests.conftest import CATALOG

T0 = 1_763_790_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1
        return self.now


def catalog() -> Catalog:
    return parse_catalog(CATALOG.read_text(), "yaml")


@pytest.fixture
async def store(db_url: str):  # type: ignore[no-untyped-def]
    store = Store.for_url(db_url, clock=Clock())
    await store.open()
    await store.load_catalog(catalog())
    yield store
    await store.close()
