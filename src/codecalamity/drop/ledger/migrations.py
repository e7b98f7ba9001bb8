"""The ledger's schema as numbered migrations, one list for SQLite and PostgreSQL alike.

Each step runs once, in order, in one transaction with its version row in ``schema_migrations``; a backend
applies them under its own writer lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level
advisory lock), so nodes that start at the same time migrate a shared database exactly once.
To change the schema, append a step; never edit one that has shipped.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Dialect:
    """What differs between the two databases in DDL and row locking."""

    name: str
    real: str
    """A timestamp column: seconds since the epoch with sub-second precision."""
    bigint: str
    """Byte counts and offsets (PostgreSQL's ``integer`` is 32-bit)."""
    without_rowid: str
    lock_for_update: str
    """Appended to a SELECT that must lock its rows until the transaction ends (SQLite locks the database)."""
    lock_for_share: str


SQLITE = Dialect("sqlite", "REAL", "INTEGER", " WITHOUT ROWID", "", "")
POSTGRESQL = Dialect("postgresql", "DOUBLE PRECISION", "BIGINT", "", " FOR UPDATE", " FOR SHARE")


@dataclasses.dataclass(frozen=True)
class Migration:
    """One schema step; ``sql`` is a ``str.format`` template over the :class:`Dialect`'s fields."""

    version: int
    description: str
    sql: str

    def statements(self, dialect: Dialect) -> list[str]:
        """The step's statements for ``dialect``, one per entry."""
        text = self.sql.format(**dataclasses.asdict(dialect))
        return [s.strip() for s in text.split(";") if s.strip()]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "uploads, chunks, blobs and tus offsets",
        # IF NOT EXISTS: ledgers made before versioned migrations already have these tables.
        """
        CREATE TABLE IF NOT EXISTS uploads (
            id          TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            size        {bigint} NOT NULL,
            chunk_size  {bigint} NOT NULL,
            chunk_count {bigint} NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('partial', 'finishing', 'done', 'failed')),
            sha256      TEXT,
            token       TEXT UNIQUE,
            error       TEXT,
            created     {real} NOT NULL,
            updated     {real} NOT NULL,
            finished    {real}
        );
        CREATE TABLE IF NOT EXISTS chunks (
            upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
            idx       {bigint} NOT NULL,
            size      {bigint} NOT NULL,
            sha256    TEXT NOT NULL,
            PRIMARY KEY (upload_id, idx)
        ){without_rowid};
        CREATE TABLE IF NOT EXISTS blobs (
            sha256  TEXT PRIMARY KEY,
            path    TEXT NOT NULL UNIQUE,
            size    {bigint} NOT NULL,
            created {real} NOT NULL
        );
        CREATE INDEX IF NOT EXISTS uploads_state ON uploads(state, updated);
        CREATE TABLE IF NOT EXISTS tus (
            upload_id TEXT PRIMARY KEY REFERENCES uploads(id) ON DELETE CASCADE,
            "offset"  {bigint} NOT NULL,
            metadata  TEXT NOT NULL
        ){without_rowid}
        """,
    ),
    Migration(
        2,
        "pieces: where each received byte range of an upload lies in an object store",
        """
        CREATE TABLE pieces (
            upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
            start     {bigint} NOT NULL,
            size      {bigint} NOT NULL,
            key       TEXT NOT NULL,
            PRIMARY KEY (upload_id, start)
        ){without_rowid}
        """,
    ),
    Migration(
        3,
        "tus_ext: concatenation role and deferred length of tus uploads that use those extensions",
        # concat is 'partial' or the final's 'final;<id> <id> ...'; deferred is 1 while the length is unknown
        # (creation-defer-length; uploads.size is 0 until then). IF NOT EXISTS: made by an earlier build.
        """
        CREATE TABLE IF NOT EXISTS tus_ext (
            upload_id TEXT PRIMARY KEY REFERENCES uploads(id) ON DELETE CASCADE,
            concat    TEXT,
            deferred  INTEGER NOT NULL DEFAULT 0
        ){without_rowid}
        """,
    ),
    Migration(
        4,
        "uploads.stored: the key each finished upload is visible under (its own name; the content may be shared)",
        # uploads finished before this step have it empty: they show the content's key (blobs.path)
        """
        ALTER TABLE uploads ADD COLUMN stored TEXT;
        CREATE INDEX IF NOT EXISTS uploads_sha256 ON uploads(sha256)
        """,
    ),
    Migration(
        5,
        "assemblies: the multipart upload that each upload's bytes go into in an object store, and its key",
        # No foreign key: the row is the object store's own bookkeeping, removed by the storage when it aborts or
        # publishes the multipart upload (after the upload's row may be gone). key is UNIQUE: a key being
        # assembled is reserved, so no other upload or copy can be published under it meanwhile.
        """
        CREATE TABLE assemblies (
            upload_id TEXT PRIMARY KEY,
            key       TEXT NOT NULL UNIQUE,
            mpu       TEXT NOT NULL,
            part_size {bigint} NOT NULL,
            created   {real} NOT NULL
        );
        CREATE INDEX pieces_key ON pieces(key)
        """,
    ),
    Migration(
        6,
        "publishing: a finished upload about to appear under its name, recorded before it appears; "
        "gone: uploads that expired unfinished, so that a late chunk is refused rather than restarting them",
        # publishing.id is the partial content being published; shared is the stored key it is linked to (the same
        # content stored already) or NULL when it is placed from the partial content. The row goes in the
        # transaction that records the upload done; one left behind is a publisher that died in between
        # (Inbox.recover). gone rows are kept for one more --partial-ttl.
        """
        CREATE TABLE publishing (
            id        TEXT PRIMARY KEY,
            upload_id TEXT NOT NULL,
            name      TEXT NOT NULL,
            size      {bigint} NOT NULL,
            sha256    TEXT NOT NULL,
            shared    TEXT,
            started   {real} NOT NULL
        ){without_rowid};
        CREATE TABLE gone (
            id     TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            since  {real} NOT NULL
        ){without_rowid}
        """,
    ),
)

VERSIONS_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied {real} NOT NULL)"
