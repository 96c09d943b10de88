"""The server's public URL comes from its configuration, never from a request's ``Host``:
the issuer's id and every link in a credential name the configured URL whatever Host a
client sends; without ``--public-url`` they name the address it listens on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

from tests.conftest import RunningServer, waymark


def issuer(server: RunningServer, host: str) -> dict[str, object]:
    request = urllib.request.Request(f"{server.url}/v1/issuer", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
    return data


def test_the_issuer_is_the_configured_url_whatever_the_host_header(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url, extra=("--public-url", "https://progress.example.edu/"))
    for host in ("evil.example", "127.0.0.1"):
        assert issuer(server, host)["id"] == "https://progress.example.edu/v1/issuer"


def test_without_a_public_url_the_issuer_is_the_listening_address(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url)
    assert issuer(server, "evil.example")["id"] == f"{server.url}/v1/issuer"


def test_a_bad_public_url_is_one_line() -> None:
    for bad in ("progress.example.edu", "ftp://x", "https://x/?a=1"):
        done = waymark("serve", "--port", "0", "--public-url", bad)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--public-url" in lines[0] and "is not an http" in lines[0]


def test_listening_beyond_loopback_over_plain_http_warns(
    db_url: str, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(db_url, extra=("--host", "0.0.0.0"))
    assert any("over plain HTTP" in line for line in server.output), server.output
    quiet = start_server(db_url)
    assert not any("plain HTTP" in line for line in quiet.output)
