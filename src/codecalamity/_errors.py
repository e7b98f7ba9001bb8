"""The error type that every user-facing failure derives from."""

from __future__ import annotations


class CalamityError(Exception):
    """A failure the user can act on; the CLI prints its message as one line.

    Parameters
    ----------
    message
        What went wrong, in one line, saying what to do about it where possible.
    exit_code
        The process exit code: 1 when the job found a problem, 2 for a usage error.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CalamityError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2
