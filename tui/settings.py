"""The terminal app's own settings, kept in the device home next to the journal
(``tui.json``), so a restart restores them. Today: the theme.

Reads never fail: a missing, unreadable or malformed file gives the defaults.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from tui.theme import DEFAULT

FILE: Final = "tui.json"


@dataclass(frozen=True)
class Settings:
    theme: str = DEFAULT


def load(home: Path) -> Settings:
    try:
        data = json.loads((home / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    theme = data.get("theme") if isinstance(data, dict) else None
    return Settings(theme=theme) if isinstance(theme, str) else Settings()


def save(home: Path, settings: Settings) -> None:
    """Write ``settings`` atomically (a crash leaves the old file or the new one)."""
    home.mkdir(parents=True, exist_ok=True)
    temporary = home / f".{FILE}.tmp"
    temporary.write_text(json.dumps(asdict(settings)) + "\n", encoding="utf-8")
    os.replace(temporary, home / FILE)
