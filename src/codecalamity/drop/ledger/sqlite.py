"""The SQLite ledger (WAL), the embedded default: one file beside the stored files.

One connection, guarded by one lock, owns all writes: the request handlers and the finishing thread each
hold it only for one short statement or transaction. The queries are :class:`SqlLedger`'s.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codecalamity.drop.ledger.db import Db
from codecalamity.drop.ledger.migrations import SQLITE
from codecalamity.drop.ledger.sql import SqlLedger


class SqliteLedger(SqlLedger):
    """The drop box's bookkeeping in one SQLite file.

    Parameters
    ----------
    path
        The database file; created, or brought to the current schema, when opened.
    """

    dialect = SQLITE
    single_process = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._claims: set[str] = set()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[Db]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Db]:
        with self._lock:
            yield self._db

    @contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        # one process owns a SQLite ledger, so an in-process set is the whole story
        with self._lock:
            taken = key not in self._claims
            self._claims.add(key)
        try:
            yield taken
        finally:
            if taken:
                with self._lock:
                    self._claims.discard(key)
