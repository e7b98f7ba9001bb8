"""Cleaning up after uploads in S3: an upload's staging objects and multipart upload when it ends or expires, and
what dead nodes left behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codecalamity.drop.storage.s3_parts import INCOMING, parse_ref

if TYPE_CHECKING:
    from codecalamity.drop.storage.s3 import S3Storage


def discard_partial(storage: S3Storage, upload_id: str) -> None:
    """Delete the upload's staging objects and abort its multipart upload (or, completed but not the file
    the upload shows, delete its object); what another upload's recorded pieces refer to stays."""
    with storage.lock:
        storage.assembled.pop(upload_id, None)
    upload = storage.ledger.get(upload_id)
    done = upload is not None and upload.state == "done"
    recorded = [where for _, _, where in storage.ledger.pieces(upload_id) if parse_ref(where) is None]
    # a finished upload's staging objects are the recorded ones (a request that failed deleted its own; what
    # a dead node left, abandon() finds); one that goes unfinished may have others
    listed = [] if done else [key for key, _ in storage.listing(storage.full_key(f"{INCOMING}/{upload_id}/"))]
    assembly = storage.ledger.assembly(upload_id)
    keys = [k for k in dict.fromkeys(recorded + listed) if assembly is None or k != storage.full_key(assembly.key)]
    shared = storage.ledger.referenced_by_others(keys, upload_id)
    # a 1 GiB upload of 1 MB chunks leaves a thousand staging objects: deleted a few at a time, not one by one
    list(storage.pool.map(storage.delete_quietly, [k for k in keys if k not in shared]))
    if assembly is None:
        return
    shown = upload is not None and upload.stored == assembly.key
    if not shown:  # (a shown one was completed: nothing to abort)
        storage.abort_quietly(assembly.key, assembly.mpu)
        if not storage.ledger.referenced_elsewhere(storage.full_key(assembly.key), upload_id):
            storage.delete_quietly(storage.full_key(assembly.key))
    storage.ledger.drop_assembly(upload_id, assembly.mpu)


def idle_partials(storage: S3Storage, before: float) -> list[str]:
    """Upload ids with staging objects, none written since ``before`` (the sweeper removes those of uploads
    that have no ledger row: a node died while a plain upload streamed, or before recording one)."""
    newest: dict[str, float] = {}
    token: dict[str, str] = {}
    while True:
        page = storage.call("list_objects_v2", Prefix=storage.full_key(f"{INCOMING}/"), **token)
        for item in page.get("Contents", []):
            upload_id = str(item["Key"]).rsplit("/", 2)[-2]
            newest[upload_id] = max(newest.get(upload_id, 0.0), item["LastModified"].timestamp())
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    return [upload_id for upload_id, when in newest.items() if when < before]


def abandon(storage: S3Storage, before: float) -> int:
    """Abort multipart uploads that a dead node left behind, started before ``before``: those of uploads that
    are gone, and those the ledger never recorded (a node died between starting and recording one)."""
    aborted = 0
    for assembly in storage.ledger.orphan_assemblies(before):
        storage.abort_quietly(assembly.key, assembly.mpu)
        storage.ledger.drop_assembly(assembly.upload_id, assembly.mpu)
        aborted += 1
    known = storage.ledger.assembly_ids()
    marker: dict[str, str] = {}
    while True:
        page = storage.call("list_multipart_uploads", Prefix=storage.full_key(""), **marker)
        for item in page.get("Uploads", []):
            if item["UploadId"] not in known and item["Initiated"].timestamp() < before:
                storage.abort_quietly(str(item["Key"]), str(item["UploadId"]), full=True)
                aborted += 1
        if not page.get("IsTruncated"):
            return aborted
        marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
