"""HTTPS with a certificate the test makes, the plain-text password warning, and wrong-password limits."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from codecalamity.drop.auth import FailureLimiter

from .conftest import Server

PASSWORD = "correct horse"


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed (Debian package openssl)"
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_with_a_certificate(serve: Callable[..., Server], tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server = serve("--tls-cert", str(cert), "--tls-key", str(key), env={"CALAMITY_DROP_PASSWORD": PASSWORD})
    assert server.url.startswith("https://127.0.0.1:")
    assert "TLS:             on" in server.log.read_text()
    trusting = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(verify=trusting) as client:
        reply = client.post(server.url + "upload", files={"file": ("secret.txt", b"over tls")}, auth=("u", PASSWORD))
        assert reply.status_code == 200, reply.text
        assert reply.json()["state"] == "done"
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):  # the system does not trust it
        client.get(server.url)
    plain = server.url.replace("https://", "http://")
    with httpx.Client() as client, pytest.raises(httpx.TransportError):
        client.get(plain + "favicon.ico")
    assert server.stored_files() == {"secret.txt": b"over tls"}


def test_send_over_https_trusts_what_the_system_trusts(serve: Callable[..., Server], tmp_path: Path) -> None:
    """`send` checks the server's certificate against the system's trust store; SSL_CERT_FILE adds a private one."""
    cert, key = _certificate(tmp_path)
    server = serve("--tls-cert", str(cert), "--tls-key", str(key))
    path = tmp_path / "report.txt"
    path.write_bytes(b"sent over tls")
    cmd = [sys.executable, "-m", "codecalamity", "drop", "send", str(path), "--to", server.url]
    env = {"CALAMITY_SEND_STATE": str(tmp_path / "state.json"), "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    assert server.stored_files() == {}
    trusted = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**env, "SSL_CERT_FILE": str(cert)})
    assert trusted.returncode == 0, trusted.stderr
    assert server.stored_files() == {"report.txt": b"sent over tls"}


def _serve_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "codecalamity", "drop", "-s", str(tmp_path / "s"), "-c", str(tmp_path / "c"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_tls_options_are_checked_before_starting(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    alone = _serve_cli("--tls-cert", str(cert), tmp_path=tmp_path)
    assert alone.returncode != 0
    assert "--tls-cert and --tls-key go together" in alone.stderr
    swapped = _serve_cli("--tls-cert", str(key), "--tls-key", str(cert), tmp_path=tmp_path)
    assert swapped.returncode != 0
    assert "cannot use --tls-cert" in swapped.stderr


WARNING = "Warning: --password without TLS"


@pytest.mark.parametrize(
    ("host", "tls", "warned"),
    [("0.0.0.0", False, True), ("0.0.0.0", True, False), ("127.0.0.1", False, False)],
)
def test_password_without_tls_off_loopback_is_warned_about(
    serve: Callable[..., Server], tmp_path: Path, host: str, tls: bool, warned: bool
) -> None:
    args = ["--host", host]
    if tls:
        cert, key = _certificate(tmp_path)
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    server = serve(*args, env={"CALAMITY_DROP_PASSWORD": PASSWORD})
    assert (WARNING in server.log.read_text()) is warned


def test_wrong_passwords_are_limited_per_address(serve: Callable[..., Server]) -> None:
    server = serve(env={"CALAMITY_DROP_PASSWORD": PASSWORD})
    here = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.1"))
    there = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with here, there:
        # the right password is never slowed, however often it comes
        assert all(here.get(server.url, auth=("u", PASSWORD)).status_code == 200 for _ in range(40))
        # asking without a password (the browser's first request) costs nothing either
        assert all(here.get(server.url).status_code == 401 for _ in range(20))
        statuses = [here.get(server.url, auth=("u", f"guess {i}")).status_code for i in range(12)]
        assert set(statuses[:9]) == {401}
        assert statuses[-1] == 429
        refused = here.post(server.url + "upload", files={"file": ("a", b"x")}, auth=("u", PASSWORD))
        assert refused.status_code == 429  # while locked out the password is not even checked
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        tus = here.post(server.url + "files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1"})
        assert tus.status_code == 429
        # another address is not affected
        assert there.post(server.url + "upload", files={"file": ("b", b"y")}, auth=("u", PASSWORD)).status_code == 200
    assert server.stored_files() == {"b": b"y"}


def test_failure_budget_refills_with_time() -> None:
    now = [1000.0]
    limiter = FailureLimiter(burst=3, refill=5.0, clock=lambda: now[0])
    assert limiter.retry_after("a") == 0
    for _ in range(3):
        limiter.failed("a")
    assert limiter.retry_after("a") == 5
    assert limiter.retry_after("b") == 0
    now[0] += 4.2
    assert limiter.retry_after("a") == 1
    now[0] += 0.8
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    assert limiter.retry_after("a") == 5
    now[0] += 3600
    assert limiter.retry_after("a") == 0
    limiter.failed("a")  # a full bucket again after a long pause, not more than the burst
    limiter.failed("a")
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    assert limiter.retry_after("a") == 5
