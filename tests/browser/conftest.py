"""Browser tests of the dashboard: Playwright driving the system's Chromium
(``/usr/bin/chromium``, Debian's package ``chromium``; ``.ci/run`` installs it). Never a
downloaded browser: no ``playwright install``.

Without Chromium (or Playwright) these tests cannot run: elsewhere they are skipped and
listed at the end of the run, and under CI (``CI`` set) they fail, as the PostgreSQL tests
do (``tests/conftest.py``). Screenshots go to ``$WAYMARK_TEST_ARTEFACTS`` (default
``tests/.artefacts``, not committed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, RunningServer, could_not_run, init_db
from tests.integration.web import seed

CHROMIUM = Path(os.environ.get("WAYMARK_CHROMIUM", "/usr/bin/chromium"))
ARTEFACTS = Path(os.environ.get("WAYMARK_TEST_ARTEFACTS") or ROOT / "tests" / ".artefacts")
TIMEOUT_MS = 15_000
"""How long an expectation waits for the page (a guard against a hang, not a measure)."""


def _problem() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"Playwright is not installed ({err})"
    return None


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Chromium for one test. Playwright's sync API holds an event loop in this thread
    while it runs, so it is started and stopped per test: the asyncio tests that follow
    in the same run get the thread back."""
    problem = _problem()
    if problem is not None:
        could_not_run(request, f"browser tests need Chromium: {problem}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., RunningServer]) -> RunningServer:
    """A real server on 127.0.0.1 with the test catalog, ines (instructor of group A, with
    leo), mia (in no group), ada (admin); passwords ``pw``."""
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    seed(db)
    return start_server(db)


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shot(page, name)``: a full-page screenshot of this test, kept as an artefact."""
    test = re.sub(r"[^\w.-]+", "_", request.node.name)

    def shot(page: Any, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{test}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end in a thread of its own (Playwright's sync API owns this
    thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
