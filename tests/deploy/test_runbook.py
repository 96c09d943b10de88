"""docs/operations.md as a runbook: its in-page links lead somewhere, and each alert's
entry says what it means, what to check first and how to fix it."""

from __future__ import annotations

import re

import yaml

from tests.deploy.contract import OPERATIONS, PROMETHEUS, anchors


def _entries() -> dict[str, str]:
    """Alert name -> the text of its ``### Name`` entry under ``## Alerts``."""
    alerts = OPERATIONS.read_text().split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (\S+)\n", alerts, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_in_page_link_leads_to_a_heading() -> None:
    links = re.findall(r"\]\(#([^)]+)\)", OPERATIONS.read_text())
    assert links
    assert set(links) <= anchors(OPERATIONS)


def test_every_alert_has_an_entry_with_meaning_checks_and_fixes() -> None:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    alerts = [rule["alert"] for group in groups for rule in group["rules"]]
    entries = _entries()
    assert list(entries) == alerts  # in the rules' order, none missing, none extra
    for name, text in entries.items():
        for part in ("**Means:**", "**First checks:**", "**Fixes:**"):
            assert part in text, f"{name}: no {part}"
