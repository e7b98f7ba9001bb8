"""Removing uploads: one that a client deleted, and what the sweeper finds abandoned or past ``--keep``
(mixed into :class:`~codecalamity.drop.inbox.Inbox`)."""

from __future__ import annotations

import logging
import time

from codecalamity.drop.chunks import Owners
from codecalamity.drop.config import DropConfig
from codecalamity.drop.ledger import Upload
from codecalamity.drop.ledger.sql import SqlLedger
from codecalamity.drop.storage import Piece, Storage

logger = logging.getLogger(__name__)


class Housekeeping:
    """How the inbox forgets uploads and expires what is left behind."""

    config: DropConfig
    storage: Storage
    ledger: SqlLedger
    owners: Owners

    def forget(self, upload: Upload) -> None:
        """Remove an upload: its partial bytes, its ledger rows, and its stored file when nobody else shares it."""
        pieces = self.ledger.pieces(upload.id)
        self.ledger.delete(upload.id)
        self._remove_bytes(upload, pieces)

    def _remove_bytes(self, upload: Upload, pieces: list[Piece]) -> None:
        # pieces: as recorded before the upload's rows went (an object store's joined parts lie elsewhere)
        self.storage.discard_pieces(pieces)
        self.storage.discard_partial(upload.id)
        if upload.state != "done" or not upload.sha256:
            return
        if upload.stored is not None:
            if self.ledger.release_stored(upload.sha256, upload.stored):
                self.storage.remove(upload.stored)
            return
        key = self.ledger.drop_blob_if_unused(upload.sha256)
        if key is not None:
            self.storage.remove(key)

    def expire(self, now: float | None = None) -> int:
        """Remove abandoned partial uploads and, with ``keep``, old finished ones; return how many."""
        now = time.time() if now is None else now
        removed = 0
        for state in ("partial", "failed"):
            for upload in self.ledger.stale(state, now - self.config.partial_ttl):
                if self.owners.busy(upload.id):
                    continue
                removed += self._expire_one(upload)
        # partial files with no ledger row: a server killed between creating the file and recording the upload,
        # or while a plain (non-chunked) upload was streaming, which is recorded only once it is whole
        for upload_id in self.storage.idle_partials(now - self.config.partial_ttl):
            if self.ledger.get(upload_id) is None and not self.owners.busy(upload_id):
                self.storage.discard_partial(upload_id)
                removed += 1
        if self.config.keep is not None:
            for upload in self.ledger.stale("done", now - self.config.keep, column="finished"):
                removed += self._expire_one(upload)
        removed += self.storage.abandon(now - self.config.partial_ttl)
        self.ledger.forget_gone(now - 2 * self.config.partial_ttl)
        if removed:
            logger.info("expired %d upload(s)", removed)
        return removed

    def _expire_one(self, upload: Upload) -> int:
        # sweepers of several nodes may see the same stale upload: only the one whose delete matched removes it
        pieces = self.ledger.pieces(upload.id)
        gone = None
        if upload.state != "done":
            gone = f"nothing arrived for {_duration(self.config.partial_ttl)}, so it expired"
        if not self.ledger.delete_if_unchanged(upload, gone=gone):
            return 0
        self._remove_bytes(upload, pieces)
        return 1


def _duration(seconds: float) -> str:
    """``seconds`` as people say it: 90 s, 15 min, 24 h."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"
