"""sync.errors.ERROR_CODES is the one mapping from error codes to close codes and HTTP
statuses: the protocol document's §8 says the same, the sessions close with it, the
device reads the closes back with it, and the server's errors take their status from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server import errors
from sync.errors import ERROR_CODES, ProtocolError, close_code_for
from sync.protocol.sessions import RETRYABLE, ClientSession, ServerSession

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
SECTION_8 = DOC[DOC.index("## 8. Rejections") : DOC.index("## 9. Reconnecting")]
DOCUMENTED = {
    code: int(close)
    for code, close in re.findall(r"^\| `(\w+)` \|.*\| close (\d+) \|$", SECTION_8, re.M)
}


def test_the_document_lists_every_code_sent_over_the_socket_with_its_close_code() -> None:
    sent = {code: d.close for code, d in ERROR_CODES.items() if d.close and code != "internal"}
    assert sent == DOCUMENTED
    assert "| `seq_gap` |" in SECTION_8 and "seq_gap" not in ERROR_CODES  # never closes


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_a_session_closes_with_the_documented_code(code: str) -> None:
    effects = ServerSession().fail(code, "why")
    assert effects[-1].code == DOCUMENTED[code] == ProtocolError(code, "why").close_code


def test_the_device_retries_exactly_after_the_closes_the_document_says() -> None:
    closes = SECTION_8[SECTION_8.index("Close codes:") :]
    retry = {
        int(code)
        for code, then in re.findall(r"^\| (\d{4}) \|.*\| (.*) \|$", closes, re.M)
        if "reconnect with backoff" in then
    }
    assert retry == RETRYABLE - {1000}
    session = ClientSession([])
    assert {c for c in range(1000, 5000) if session.closed(c, "")[0] == "retry"} == RETRYABLE


def test_every_server_error_takes_its_status_from_the_mapping() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.ServerError)
    ]
    assert len(classes) >= 9
    for cls in classes:
        assert cls.status == ERROR_CODES[cls.code].status, cls
    assert errors.StoreUnavailable.status == 503
    assert close_code_for(errors.StoreUnavailable.code) == 1013
    assert close_code_for("not_found") == close_code_for("no-such-code") == 1011
