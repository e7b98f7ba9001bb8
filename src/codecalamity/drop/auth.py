"""The drop box's password: HTTP Basic, checked in constant time, shared by every endpoint."""

from __future__ import annotations

import base64
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class PasswordGate:
    """Lets a request through when no password is set, or when it carries the right one.

    Parameters
    ----------
    password
        The shared password, or None for an open drop box.
    """

    def __init__(self, password: str | None) -> None:
        self._password = password.encode() if password else None

    def authorised(self, request: Request) -> bool:
        """Whether ``request`` may go on."""
        if self._password is None:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, given = base64.b64decode(value, validate=True).partition(b":")
        except ValueError:
            return False
        return hmac.compare_digest(given, self._password)

    def denied(self) -> Response:
        """The reply to a request without the right password."""
        return JSONResponse(
            {"error": "password required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="calamity drop", charset="UTF-8"'},
        )
