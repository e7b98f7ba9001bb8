"""The HTTP/1.1 client under ``calamity drop send``: one keep-alive connection per sending thread.

The standard library's :mod:`http.client` is all a tus client needs (requests with a known length, bodies streamed
from a file, replies read whole). It keeps ``send`` quick to start and cheap per request: a run of 200 small files
is over in about a second, and importing a full-featured client (and building its TLS context for a plain-http
server) took a fifth of that.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin, urlsplit

# What a failed exchange raises: the connection broke, timed out, or the reply was not HTTP.
TransportError = (OSError, http.client.HTTPException)


@dataclass
class Reply:
    """A reply read in full: status, headers (case-insensitive ``get``) and body text."""

    status_code: int
    headers: Message
    text: str


class Wire:
    """Requests to one server, each thread on its own keep-alive connection.

    Parameters
    ----------
    base
        The server's base URL (``http://host:port/`` or ``https://...``); requests name paths or absolute URLs on it.
    password
        Sent with HTTP Basic auth (user ``calamity``) on every request when given.
    timeout
        Seconds to wait for the connection and for each read, unless a request names its own.
    """

    def __init__(self, base: str, password: str | None = None, timeout: float = 60.0) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base!r}")
        self.base = base
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self.timeout = timeout
        self._auth = {}
        if password:
            token = base64.b64encode(f"calamity:{password}".encode()).decode()
            self._auth = {"Authorization": f"Basic {token}"}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[http.client.HTTPConnection] = []
        self._tls: ssl.SSLContext | None = None

    def url(self, ref: str) -> str:
        """``ref`` (a path or a URL, e.g. a ``Location`` header) as an absolute URL on this server."""
        return urljoin(self.base, ref)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | Iterable[bytes] = b"",
        timeout: float | None = None,
    ) -> Reply:
        """Send one request and read its reply; a body that is not ``bytes`` needs a ``Content-Length`` header.

        A reused connection that the server had closed while idle is opened again once, as browsers do; any
        other failure raises one of :data:`TransportError`, and the connection is dropped.
        """
        parts = urlsplit(self.url(url))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = {**self._auth, **headers}
        if isinstance(body, bytes):
            sent.setdefault("Content-Length", str(len(body)))
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.timeout = timeout or self.timeout
                if conn.sock is not None:
                    conn.sock.settimeout(conn.timeout)
                conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
            except TransportError as err:
                self._drop(conn)
                stale = isinstance(err, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 0 and reused and stale and isinstance(body, bytes):
                    continue
                raise
            if response.will_close:
                self._drop(conn)
            return Reply(response.status, response.headers, data.decode("utf-8", "replace"))
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        if self._https:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=self._tls)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        self._local.conn = conn
        with self._lock:
            self._open.append(conn)
        return conn, False

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
