"""Errors of the drop server, each with the HTTP status the client gets."""

from __future__ import annotations

from codecalamity._errors import CalamityError


class DropError(CalamityError):
    """A request the server refuses; ``status`` is the HTTP status, the message its one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(DropError):
    """400: malformed or inconsistent fields."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Conflict(DropError):
    """409: the request disagrees with what the server already holds."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class TooLarge(DropError):
    """413: over a size limit."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class NoSpace(DropError):
    """507: the disk is full or would drop below the reserve."""

    def __init__(self, message: str) -> None:
        super().__init__(507, message)


class Unavailable(DropError):
    """503: a shared service (the ledger database, the object store) cannot be reached; retry later."""

    retry_after = 5
    """Seconds the client is asked to wait (``Retry-After``): long enough for a restart, short for a user."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)
