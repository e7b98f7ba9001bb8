"""What every ledger query is written against: a connection inside a transaction, in either SQL dialect."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the queries use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


class Db(Protocol):
    """A connection inside a transaction; ``?`` placeholders in either dialect."""

    def execute(self, sql: str, args: Sequence[object] = ()) -> Cursor: ...


class Queries:
    """A group of ledger queries; the backend (SQLite or PostgreSQL) supplies the transactions."""

    def _tx(self) -> AbstractContextManager[Db]:
        """A write transaction."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Db]:
        """A consistent read."""
        raise NotImplementedError
