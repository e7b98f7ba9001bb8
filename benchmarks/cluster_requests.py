"""Benchmark: what one small file costs a cluster node in requests: ledger statements and S3 calls per file.

    python benchmarks/cluster_requests.py [--files 10] [--size 1048576]

Starts a private PostgreSQL and SeaweedFS (as the tests do), runs the drop app in this process on them, and
sends ``--files`` random files each way a client sends a small file: tus creation-with-upload (``send``, the page),
tus POST then one PATCH (tuspy), Dropzone in 1 MB chunks (two per 1 MiB file) and Dropzone in one chunk. It
counts, per file: SQL statements the ledger sent and its transactions (``BEGIN``/``COMMIT`` not counted as
statements; a finishing claim's lock and unlock count as two), and every S3 call by name. With another
checkout's ``src`` first on ``PYTHONPATH``, it counts that checkout's (before and after a change).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from upload_clients import dropzone_fields


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    args = parser.parse_args()

    import botocore.client
    from starlette.testclient import TestClient

    from codecalamity.drop import services
    from codecalamity.drop.app import create_app
    from codecalamity.drop.config import DropConfig
    from codecalamity.drop.ledger import postgres

    counts: collections.Counter[str] = collections.Counter()
    execute, transaction, claim = postgres._Db.execute, postgres.PostgresLedger._tx, postgres.PostgresLedger.claim
    api_call = botocore.client.BaseClient._make_api_call

    def counted_execute(self: Any, sql: str, args: Any = ()) -> Any:
        counts["sql"] += 1
        return execute(self, sql, args)

    @contextlib.contextmanager
    def counted_tx(self: Any) -> Iterator[Any]:
        counts["transactions"] += 1
        with transaction(self) as db:
            yield db

    @contextlib.contextmanager
    def counted_claim(self: Any, key: str) -> Iterator[bool]:
        counts["sql"] += 2
        with claim(self, key) as mine:
            yield mine

    def counted_api(self: Any, name: str, params: Any) -> Any:
        counts["s3 " + name] += 1
        return api_call(self, name, params)

    postgres._Db.execute = counted_execute  # type: ignore[method-assign]
    postgres.PostgresLedger._tx = counted_tx  # type: ignore[method-assign]
    postgres.PostgresLedger.claim = counted_claim  # type: ignore[method-assign]
    botocore.client.BaseClient._make_api_call = counted_api  # type: ignore[method-assign]

    root = Path(tempfile.mkdtemp(prefix="calamity-requests-"))
    root.chmod(0o755)  # PostgreSQL's unprivileged user must enter it
    pg = services.start_postgres(root / "postgres", durable=False)
    weed = services.start_seaweedfs(root / "seaweedfs")
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=weed.url,
            AWS_ACCESS_KEY_ID=services.S3_KEYS[0],
            AWS_SECRET_ACCESS_KEY=services.S3_KEYS[1],
            AWS_DEFAULT_REGION="us-east-1",
        )
        config = DropConfig(
            storage=root / "storage",
            chunks=root / "chunks",
            object_store=f"s3://{services.S3_BUCKET}/requests",
            ledger=pg.url,
            reserve_mb=0,
        )
        with TestClient(create_app(config)) as client:
            tus = {"Tus-Resumable": "1.0.0"}
            body = {"Content-Type": "application/offset+octet-stream"}

            def meta(name: str) -> str:
                return "filename " + base64.b64encode(name.encode()).decode()

            def creation_with_upload(data: bytes, name: str) -> None:
                headers = {**tus, **body, "Upload-Length": str(len(data)), "Upload-Metadata": meta(name)}
                assert client.post("/files/", content=data, headers=headers).status_code == 201

            def post_then_patch(data: bytes, name: str) -> None:
                created = client.post(
                    "/files/", headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta(name)}
                )
                reply = client.patch(
                    created.headers["Location"], content=data, headers={**tus, **body, "Upload-Offset": "0"}
                )
                assert reply.status_code == 204 and "Upload-Sha256" in reply.headers

            def dropzone(chunk: int) -> Callable[[bytes, str], None]:
                def send(data: bytes, name: str) -> None:
                    uid, count = str(uuid.uuid4()), max(1, -(-len(data) // chunk))
                    for index in range(count):
                        fields = dropzone_fields(uid, index, len(data), chunk)
                        piece = data[index * chunk : (index + 1) * chunk]
                        reply = client.post("/upload", data=fields, files={"file": (name, piece)})
                        assert reply.status_code == 200
                    assert reply.json()["state"] == "done"

                return send

            ways: list[tuple[str, Callable[[bytes, str], None]]] = [
                ("tus creation-with-upload (send)", creation_with_upload),
                ("tus POST + one PATCH (tuspy)", post_then_patch),
                ("Dropzone, 1 MB chunks", dropzone(1_000_000)),
                ("Dropzone, one chunk", dropzone(max(args.size, 1))),
            ]
            print(f"per file of {args.size} bytes, {args.files} files each way")
            for label, send in ways:
                counts.clear()
                for _ in range(args.files):
                    send(os.urandom(args.size), f"{uuid.uuid4().hex[:12]}.bin")
                per = {k: round(v / args.files, 1) for k, v in sorted(counts.items())}
                s3 = {k[3:]: v for k, v in per.items() if k.startswith("s3 ")}
                named = ", ".join(f"{name} {n:g}" for name, n in s3.items())
                sql, txs = per.get("sql", 0), per.get("transactions", 0)
                print(f"{label:32} SQL {sql:5.1f}  transactions {txs:4.1f}  S3 calls {sum(s3.values()):4.1f}  {named}")
    finally:
        weed.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
