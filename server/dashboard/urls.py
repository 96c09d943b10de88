"""The dashboard's paths, in one place (pages link to each other by these)."""

from __future__ import annotations

from typing import Final

ROOT: Final = "/dashboard"
SIGN_IN: Final = f"{ROOT}/sign-in"
SIGN_OUT: Final = f"{ROOT}/sign-out"
LIVE: Final = f"{ROOT}/live"
STATIC: Final = f"{ROOT}/static"
COURSES: Final = f"{ROOT}/courses"
"""A course's report page is ``{COURSES}/{course}``."""
