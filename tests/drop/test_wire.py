"""send's HTTP client: keep-alive per thread, a connection the server closed while idle opened again once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from codecalamity.drop.wire import TransportError, Wire


class OneShotServer:
    """Answers each request 200 with ``Content-Length`` (keep-alive), then closes the connection anyway, as a
    server does when its idle timeout passes between two requests."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.bodies: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.bodies.append(body)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Seen: yes\r\n\r\nok")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def one_shot() -> Iterator[OneShotServer]:
    server = OneShotServer()
    yield server
    server.close()


def test_a_connection_closed_while_idle_is_opened_again(one_shot: OneShotServer) -> None:
    wire = Wire(f"http://127.0.0.1:{one_shot.port}/")
    first = wire.request("POST", "files/", {"X-Test": "1"}, b"abc")
    second = wire.request("POST", "/files/", {}, b"defg")  # the kept connection is dead: sent again on a new one
    wire.close()
    assert (first.status_code, first.text, first.headers.get("x-seen")) == (200, "ok", "yes")
    assert second.status_code == 200
    assert one_shot.bodies == [b"abc", b"defg"]
    assert one_shot.connections == 2


def test_a_streamed_body_is_never_sent_twice(one_shot: OneShotServer) -> None:
    """A body read from a file cannot be rewound: the failure goes to the caller, which resumes from the offset."""
    wire = Wire(f"http://127.0.0.1:{one_shot.port}/")
    wire.request("GET", "/", {})
    with pytest.raises(TransportError):
        wire.request("PATCH", "/files/x", {"Content-Length": "6"}, iter([b"abc", b"def"]))
    assert one_shot.bodies == [b""]
    assert wire.request("PATCH", "/files/x", {"Content-Length": "3"}, iter([b"ghi"])).status_code == 200
    wire.close()


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        Wire("ftp://example.org/")
