"""What every ledger query is written against: a connection inside a transaction, in either SQL dialect."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from codecalamity.drop.ledger import Upload

if TYPE_CHECKING:
    from codecalamity.drop.storage import Piece


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


def insert_pieces(db: Db, upload_id: str, pieces: Sequence[Piece]) -> None:
    """Record ``pieces`` (an object store's parts and staging objects) as bytes of ``upload_id``."""
    for start, size, key in pieces:
        db.execute(
            "INSERT INTO pieces (upload_id, start, size, key) VALUES (?, ?, ?, ?)", (upload_id, start, size, key)
        )


def upload_row(row: Any) -> Upload:
    """An ``uploads`` row as an :class:`Upload`."""
    return Upload(**{k: row[k] for k in row.keys()})
