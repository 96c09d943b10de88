"""TLS: ``waymark serve --certfile --keyfile`` serves HTTPS and WSS with a real certificate
(self-signed here, made by the test); a device logs in over https and syncs over wss when
it trusts that certificate (``SSL_CERT_FILE``, which Python's default context honours),
and is refused with one line when it does not."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import RunningServer, init_db, waymark


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waymark test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@pytest.fixture
def tls_server(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> tuple[RunningServer, Path]:
    certfile, keyfile = self_signed(tmp_path)
    db = init_db(f"sqlite:///{tmp_path / 'server.db'}")
    added = waymark("admin", "--db", db, "user", "add", "ann", "--password", "pw")
    assert added.returncode == 0, added.stderr
    server = start_server(db, extra=("--certfile", str(certfile), "--keyfile", str(keyfile)))
    return server, certfile


def test_a_device_logs_in_over_https_and_syncs_over_wss(
    tls_server: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    server, certfile = tls_server
    assert server.url.startswith("https://127.0.0.1:"), server.output
    assert f"sync: {server.ws_url}" in "".join(server.output)
    assert server.ws_url.startswith("wss://")
    env = {"WAYMARK_HOME": str(tmp_path / "ann"), "SSL_CERT_FILE": str(certfile)}

    def ann(*args: str) -> str:
        done = waymark(*args, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    ann("login", server.url, "ann", "--password", "pw")
    ann("record", "lesson.completed", "course=c1", "lesson=read")
    ann("sync")
    # A second device sees what the first pushed: it went through the server, over wss.
    env["WAYMARK_HOME"] = str(tmp_path / "ann-phone")
    ann("login", server.url, "ann", "--password", "pw", "--device-name", "phone")
    ann("sync")
    status = json.loads(ann("status", "--json"))
    lessons = {x["id"]: x for c in status["courses"] for m in c["modules"] for x in m["lessons"]}
    assert lessons["read"]["status"] == "completed"


def test_https_answers_carry_hsts_and_the_public_url_is_https(
    tls_server: tuple[RunningServer, Path],
) -> None:
    server, certfile = tls_server
    context = ssl.create_default_context(cafile=str(certfile))
    with urllib.request.urlopen(f"{server.url}/v1/issuer", context=context, timeout=10) as got:
        assert got.headers["Strict-Transport-Security"].startswith("max-age=")
        issuer = json.loads(got.read())
    assert issuer["id"] == f"{server.url}/v1/issuer"


def test_a_device_that_does_not_trust_the_certificate_is_refused_in_one_line(
    tls_server: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    server, _ = tls_server
    done = waymark(
        "login", server.url, "ann", "--password", "pw", env={"WAYMARK_HOME": str(tmp_path / "x")}
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "certificate" in done.stderr.lower(), done.stderr


def test_with_tls_listening_beyond_loopback_does_not_warn_of_plain_http(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    certfile, keyfile = self_signed(tmp_path)
    server = start_server(
        f"sqlite:///{tmp_path / 's.db'}",
        extra=("--host", "0.0.0.0", "--certfile", str(certfile), "--keyfile", str(keyfile)),
    )
    assert server.url.startswith("https://0.0.0.0:")
    assert not any("plain HTTP" in line for line in server.output), server.output


def test_a_bad_certificate_or_key_is_one_line(tmp_path: Path) -> None:
    certfile, keyfile = self_signed(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for extra in (
        ("--certfile", str(garbage)),
        ("--certfile", str(certfile), "--keyfile", str(tmp_path / "missing.pem")),
        ("--keyfile", str(keyfile)),
    ):
        done = waymark("serve", "--db", f"sqlite:///{tmp_path / 's.db'}", "--port", "0", *extra)
        assert done.returncode != 0, done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert "cert" in lines[0] or "keyfile" in lines[0], lines[0]
