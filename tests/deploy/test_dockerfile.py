"""The Dockerfile and .dockerignore, checked by their text (no Docker daemon here): a
multi-stage build on python:3.11-slim that runs as an unprivileged user, whose entry point
is ``waymark`` and whose health check asks a route a real server answers."""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.request

from tests.deploy.contract import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _last(word: str) -> str:
    return [rest for w, rest in _instructions() if w == word][-1]


def test_two_stages_on_python_311_slim() -> None:
    stages = [rest for word, rest in _instructions() if word == "FROM"]
    assert len(stages) == 2
    assert all(stage.split()[0] == "python:3.11-slim" for stage in stages)
    assert any("pip install ." in rest for word, rest in _instructions() if word == "RUN")


def test_it_runs_as_an_unprivileged_user() -> None:
    words = [word for word, _ in _instructions()]
    last = {word: i for i, word in enumerate(words)}  # each word's last place
    assert last["FROM"] < last["USER"] < last["ENTRYPOINT"]  # set in the image that runs
    assert _last("USER").split(":")[0] not in {"root", "0"}


def test_the_entry_point_is_waymark_serving_on_every_interface() -> None:
    assert json.loads(_last("ENTRYPOINT")) == ["waymark"]
    assert json.loads(_last("CMD")) == ["serve", "--host", "0.0.0.0"]
    assert _last("EXPOSE") == "8765"


def test_the_healthcheck_asks_a_route_a_real_server_answers(start_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    found = re.search(r"http://127\.0\.0\.1:8765(/\S+?)'", _last("HEALTHCHECK"))
    assert found is not None
    assert found.group(1) == "/v1/health"
    server = start_server(f"sqlite:///{tmp_path / 'server.db'}")
    with urllib.request.urlopen(server.url + found.group(1), timeout=10) as answer:
        assert answer.status == 200


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for word, rest in _instructions()
        if word == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    ]
    assert {"pyproject.toml", "README.md", "sync", "server", "cli"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, p) for p in patterns), source
    for left_out in (".venv", ".git", "tests", "waymark.db"):
        assert any(fnmatch.fnmatch(left_out, p) for p in patterns), left_out
