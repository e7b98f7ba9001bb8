"""Publishing a finished upload: its content shown under the upload's own name (sharing a copy stored already),
with the intent recorded before, so a publisher killed half-way leaves nothing that the next start cannot undo
(mixed into :class:`~codecalamity.drop.inbox.Inbox`)."""

from __future__ import annotations

import contextlib
import errno
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator

from codecalamity.drop.chunks import WholeSink, disk_error
from codecalamity.drop.errors import Conflict, DropError, Unavailable
from codecalamity.drop.ledger import Upload
from codecalamity.drop.ledger.publishing import KeyTaken
from codecalamity.drop.ledger.sql import SqlLedger
from codecalamity.drop.names import disk_name, numbered, shown_as
from codecalamity.drop.plumbing import ledger_error
from codecalamity.drop.storage import Storage, WholePuts

logger = logging.getLogger(__name__)


class Publisher:
    """How the inbox makes finished uploads visible."""

    storage: Storage
    ledger: SqlLedger
    live: set[str]
    """Partial contents this process is publishing now (see :meth:`unpublish_orphans`)."""

    def _store(self, upload: Upload, sha: str) -> None:
        """Make the content visible under the upload's own name (sharing a copy stored already, by any node),
        then mark the upload done."""
        with self._publishing(upload.id):
            self._store_live(upload, sha)

    def _store_live(self, upload: Upload, sha: str) -> None:
        for _ in range(3):
            key, how = self._publish(upload.id, upload.id, upload.name, upload.size, sha)
            if how != "linked":  # new content, or the same file again whose record went meanwhile
                blob = self.ledger.blob(sha)
                # a recorded copy known to be gone is replaced; when another process stored the same content
                # first, its record stays: under the same name it is this upload's file too (one object), under
                # another name this copy stays the upload's own name
                gone = blob is not None and blob[0] != key and not self.storage.exists(blob[0], upload.size)
                recorded = self.ledger.add_blob(sha, key, upload.size, replace=blob[0] if gone and blob else None)
                if recorded != key and shown_as(recorded, upload.name) and self.storage.exists(recorded, upload.size):
                    self.storage.remove(key)
                    key = recorded
            if self.ledger.finish(upload.id, sha, secrets.token_urlsafe(24), key, intent=upload.id):
                return
            if how != "same":  # the stored content was dropped meanwhile: store it again
                self.storage.remove(key)
        self.ledger.published(upload.id)
        raise OSError(errno.EAGAIN, "the stored file kept disappearing")

    def _publish(self, partial_id: str, upload_id: str, name: str, size: int, sha: str) -> tuple[str, str]:
        """Show the content under ``name``: the key, and how (``same``, ``linked`` or ``placed``).

        The same content under the same name again is the earlier file; under another name, a link to the
        stored copy (the content takes its space once); new content is placed from the partial file. A new
        name is first recorded as intended (see :mod:`codecalamity.drop.ledger.publishing`); the caller's
        record of the upload as done removes the intent.
        """
        same = self.ledger.stored_as(sha, name)
        if same is not None and self.storage.exists(same, size):
            return same, "same"
        blob = self.ledger.blob(sha) if self.storage.links_cheaply else None
        shared = blob[0] if blob is not None and self.storage.exists(blob[0], size) else None
        self.ledger.intend(partial_id, upload_id, name, size, sha, shared)
        if shared is not None:
            return self.storage.link(shared, name), "linked"
        return self.storage.place(partial_id, name), "placed"

    @contextlib.contextmanager
    def _publishing(self, partial_id: str) -> Iterator[None]:
        """While the block runs, this process is publishing ``partial_id``: its intent is not a dead one."""
        self.live.add(partial_id)
        try:
            yield
        finally:
            self.live.discard(partial_id)

    def unpublish_orphans(self, grace: float) -> int:
        """Remove what publishers that died left visible with no upload row; return how many files.

        Intents older than ``grace`` seconds and not this process's own are dead publishers' (the cluster's
        sweepers use a grace far longer than a publication takes). A file counts as the intent's only when it
        is shown under the intended name, not recorded by any upload, and holds that very content.
        """
        removed = 0
        for intent in self.ledger.intents(time.time() - grace):
            if intent.id in self.live:
                continue
            source = intent.shared if intent.shared is not None else intent.id
            for key in self.storage.copies(intent.name, intent.size, intent.sha256, source, intent.shared is None):
                if not self.ledger.shows(key):
                    logger.warning("removing %s: its upload was cut short before it was recorded", key)
                    self.storage.remove(key)
                    removed += 1
            self.ledger.published(intent.id)
        return removed

    def _finish_whole_sync(self, sink: WholeSink, sha: str, tus_metadata: str | None) -> Upload:
        try:
            with self._publishing(sink.partial_id):
                return self._record_whole(sink, sha, tus_metadata)
        finally:
            self.storage.discard_partial(sink.partial_id)

    def _record_whole(self, sink: WholeSink, sha: str, tus_metadata: str | None) -> Upload:
        try:
            sink.flush()
            self.storage.digest(sink.partial_id, sink.written, sha)
            key, how = self._publish(sink.partial_id, sink.upload_id, sink.name, sink.written, sha)
        except OSError as err:
            raise disk_error(err) from err
        try:
            upload = self._add_whole(sink, sha, key, how, tus_metadata, sink.partial_id if how != "same" else None)
        except sqlite3.OperationalError as err:
            if how != "same":
                self.storage.remove(key)
                with contextlib.suppress(sqlite3.OperationalError):
                    self.ledger.published(sink.partial_id)
            raise ledger_error(err) from err
        return self._recorded_whole(sink, sha, key, how, upload)

    def _add_whole(
        self,
        sink: WholeSink,
        sha: str,
        key: str,
        how: str,
        tus_metadata: str | None,
        intent: str | None,
        *,
        free_key: bool = False,
        existing: Upload | None = None,
    ) -> Upload | None:
        """Record an upload that arrived whole as done, stored at ``key`` (``how``: placed, linked or same)."""
        chunk_size = sink.chunk.chunk_size if sink.chunk is not None else max(sink.written, 1)
        return self.ledger.add_done(
            sink.upload_id,
            sink.name,
            sink.written,
            chunk_size,
            sha,
            secrets.token_urlsafe(24),
            key,
            tus_metadata=tus_metadata,
            new_blob=how == "placed",
            intent=intent,
            free_key=free_key,
            existing=existing,
        )

    def _recorded_whole(self, sink: WholeSink, sha: str, key: str, how: str, upload: Upload | None) -> Upload:
        """The upload as recorded; when another request recorded it first, the copy this one stored goes."""
        if upload is not None:
            logger.info("received %s (%d bytes, sha256 %s)", sink.name, sink.written, sha)
            return upload
        # another request stored this very upload meanwhile (the only chunk of a Dropzone upload, sent twice)
        if how != "same":
            self.storage.remove(key)
        self.ledger.published(sink.partial_id)
        if self.ledger.chunk_sha(sink.upload_id, 0) != sha:
            raise Conflict("chunk 0 was already received with different content")
        existing = self.ledger.get(sink.upload_id)
        if existing is None:
            raise DropError(404, "no such upload")
        return existing

    def _put_whole_sync(
        self, puts: WholePuts, sink: WholeSink, sha: str, tus_metadata: str | None, existing: Upload | None = None
    ) -> Upload:
        """An upload held whole in memory: put in the store in one request, at a key no other file and no
        multipart upload has, and recorded in one transaction (two ledger transactions in all: the intent, with
        the checks for the same file under the same name and for reserved keys, then the record). ``existing``
        is the tus upload whose one PATCH carried every byte, if it was created before."""
        body = b"".join(sink.pieces or [])
        size = len(body)
        base = disk_name(sink.name)
        with self._publishing(sink.partial_id):
            try:
                same, skip = self.ledger.prepare_whole(
                    sink.partial_id, sink.upload_id, sink.name, size, sha, [numbered(base, n) for n in range(4)]
                )
            except sqlite3.OperationalError as err:
                raise ledger_error(err) from err
            for _ in range(3):
                try:
                    if same is not None and self.storage.exists(same, size):
                        key, how = same, "same"
                    else:
                        key, how = puts.put_whole(sink.name, body, skip), "placed"
                except (OSError, Unavailable) as err:
                    with contextlib.suppress(sqlite3.OperationalError, Unavailable):
                        self.ledger.published(sink.partial_id)  # nothing was put
                    if isinstance(err, OSError):
                        raise disk_error(err) from err
                    raise
                try:
                    upload = self._add_whole(
                        sink, sha, key, how, tus_metadata, sink.partial_id, free_key=how == "placed", existing=existing
                    )
                except KeyTaken:  # a multipart upload reserved the key meanwhile: it keeps it
                    self.storage.remove(key)
                    skip.add(key)
                    same = None
                    continue
                except (sqlite3.OperationalError, Unavailable) as err:
                    if how != "same":
                        self.storage.remove(key)
                    with contextlib.suppress(sqlite3.OperationalError, Unavailable):
                        self.ledger.published(sink.partial_id)
                    if isinstance(err, sqlite3.OperationalError):
                        raise ledger_error(err) from err
                    raise
                if upload is None and existing is not None:  # another PATCH of this upload came first
                    if how != "same":
                        self.storage.remove(key)
                    self.ledger.published(sink.partial_id)
                    raise DropError(409, "superseded by a newer PATCH for this upload")
                return self._recorded_whole(sink, sha, key, how, upload)
        raise DropError(503, "every free name was taken meanwhile; send the file again")
