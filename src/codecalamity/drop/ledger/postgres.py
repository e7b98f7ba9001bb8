"""The PostgreSQL ledger, shared by every node of a cluster (``--ledger postgresql://...``, psycopg 3).

Connections come from a small pool (autocommit; a transaction per method), with ``synchronous_commit = off``:
the durability of the embedded SQLite ledger (WAL, ``synchronous=NORMAL``): a commit survives the node that made
it; a crash of the database server itself may lose its last fraction of a second, never its consistency (every
step is redone from what the store and the ledger hold). It saves a WAL flush per commit, and a node's event
loop waits for every commit. Cross-process exclusion uses
the database's own means: row locks and compare-and-set updates in :class:`SqlLedger`'s queries, a
transaction-level advisory lock around migrations, and session-level advisory locks for :meth:`claim`,
which the server releases by itself when a node dies, so another node can take over its work.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from codecalamity.drop.errors import Unavailable as LedgerUnavailable
from codecalamity.drop.ledger.db import Cursor, Db
from codecalamity.drop.ledger.migrations import POSTGRESQL
from codecalamity.drop.ledger.sql import SqlLedger

logger = logging.getLogger(__name__)

MIGRATION_LOCK = 0x63616C616D697479  # "calamity": one advisory lock key for schema changes
SESSION_OPTIONS = "-c synchronous_commit=off"


class _Db:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[object] = ()) -> Cursor:
        return self._conn.execute(sql.replace("?", "%s"), tuple(args))


class PostgresLedger(SqlLedger):
    """The drop box's bookkeeping in a PostgreSQL database.

    Parameters
    ----------
    url
        A libpq connection URL, ``postgresql://user@host:port/db``.
    pool_size
        Most connections kept open at once (request handlers and finishing threads share them).
    """

    dialect = POSTGRESQL

    def __init__(self, url: str, pool_size: int = 16) -> None:
        self.url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self.migrate()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=5, options=SESSION_OPTIONS
            )
        except psycopg.OperationalError as err:
            raise LedgerUnavailable(f"the ledger database is unavailable: {_first_line(err)}") from err

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        if not self._slots.acquire(timeout=30):
            raise LedgerUnavailable("the ledger database is busy")
        conn: psycopg.Connection[Any] | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                yield conn
            except psycopg.OperationalError as err:
                conn.close()
                conn = None
                self.close()  # the server went away: the idle connections are dead too
                raise LedgerUnavailable(f"the ledger database is unavailable: {_first_line(err)}") from err
            except BaseException:
                if conn.closed or conn.broken:
                    conn = None
                raise
        finally:
            if conn is not None and not conn.closed:
                self._idle.put(conn)
            self._slots.release()

    @contextmanager
    def _tx(self) -> Iterator[Db]:
        with self._conn() as conn, conn.transaction():
            yield _Db(conn)

    @contextmanager
    def _read(self) -> Iterator[Db]:
        with self._conn() as conn:
            yield _Db(conn)

    def _migration_lock(self, db: Db) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))

    @contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        with self._conn() as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS ok", (key,)).fetchone()
            taken = bool(row and row["ok"])
            try:
                yield taken
            finally:
                if taken and not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
