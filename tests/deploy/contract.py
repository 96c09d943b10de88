"""What the deployment files are checked against: the metrics contract
(``deploy/prometheus/metrics.txt``), promtool, and the runbook's anchors."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
OPERATIONS = ROOT / "docs" / "operations.md"

# Prometheus's own series, which every scrape has.
BUILTIN = {"up"}
# Metric names in PromQL: a word starting with the prefix, wherever it stands.
_NAME = re.compile(r"\bwaymark_[a-z0-9_]+")


def metric_types() -> dict[str, str]:
    """name -> type from metrics.txt (comment lines start with #)."""
    found: dict[str, str] = {}
    for line in (PROMETHEUS / "metrics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind = line.split()[:2]
            found[name] = kind
    return found


def series_names() -> set[str]:
    """Every series name a scrape can hold: a histogram's three, the others' own."""
    names = set(BUILTIN)
    for name, kind in metric_types().items():
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def names_in(expr: str) -> set[str]:
    """The waymark_* metric names a PromQL expression reads (and ``up``)."""
    found = set(_NAME.findall(expr))
    if re.search(r"\bup\s*[{(\[]", expr):
        found.add("up")
    return found


def promtool() -> str:
    """promtool's path. Missing: a failure under CI (``.ci/run`` installs it), else a skip."""
    path = shutil.which("promtool")
    if path is None:
        why = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the alert rules' tests")
        pytest.skip(why)
    return path


def anchors(markdown: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped,
    spaces to hyphens."""
    found = set()
    for line in markdown.read_text().splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            found.add(text.replace(" ", "-"))
    return found
