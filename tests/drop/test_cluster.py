"""Three drop nodes on one SeaweedFS and one PostgreSQL, behind haproxy: any node takes any request."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from codecalamity.drop import services
from codecalamity.drop.cluster import start_node
from codecalamity.drop.config import DropConfig
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger.postgres import PostgresLedger
from codecalamity.drop.services import Service
from codecalamity.drop.storage.s3 import S3Storage

from .conftest import chunk_fields

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
pytestmark = pytest.mark.slow


def _data(n: int, seed: int) -> bytes:
    return hashlib.shake_256(f"cluster-{seed}".encode()).digest(n)


@dataclass
class Nodes:
    """The running cluster of this module."""

    nodes: list[Service]
    haproxy: Service
    folder: Path
    s3: Service
    ledger: str
    prefix: str

    def url(self, i: int) -> str:
        return self.nodes[i % len(self.nodes)].url

    def restart(self, i: int) -> None:
        """Start node ``i`` again (after a kill) on its port."""
        old = self.nodes[i]
        self.nodes[i] = start_node(
            old.port, self.folder / old.name, self.s3, self.ledger, ["-a"], old.name, self.prefix
        )

    def objects(self) -> dict[str, int]:
        client: Any = services.s3_client(self.s3.url)
        found = client.list_objects_v2(Bucket=services.S3_BUCKET, Prefix=self.prefix + "/").get("Contents", [])
        return {str(o["Key"])[len(self.prefix) + 1 :]: int(o["Size"]) for o in found}

    def published(self) -> dict[str, int]:
        return {k: v for k, v in self.objects().items() if not k.startswith(".")}

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.ledger) as conn:
            return list(conn.execute(sql, args).fetchall())


@pytest.fixture(scope="module")
def cluster(postgres: Service, seaweedfs: Service) -> Iterator[Nodes]:
    folder = Path(tempfile.mkdtemp(prefix="calamity-cluster-"))
    name = f"c_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    ledger = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    prefix = f"cluster-{uuid.uuid4().hex[:8]}"
    ports = services.free_ports(3)
    nodes: list[Service] = []
    try:
        for i, port in enumerate(ports, 1):
            nodes.append(start_node(port, folder / f"node{i}", seaweedfs, ledger, ["-a"], f"node{i}", prefix))
        lb = services.start_haproxy(folder / "haproxy", ports)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    state = Nodes(nodes, lb, folder, seaweedfs, ledger, prefix)
    yield state
    lb.stop()
    for node in state.nodes:
        node.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _chunk(client: httpx.Client, url: str, uid: str, data: bytes, index: int, size: int) -> httpx.Response:
    piece = data[index * size : (index + 1) * size]
    return client.post(url + "upload", data=chunk_fields(uid, index, len(data), size), files={"file": ("c.bin", piece)})


@pytest.mark.parametrize(
    ("total", "size"),
    [
        (7 * MIB + 5, 1_000_000),  # small chunks: staging objects, joined into parts when the upload finishes
        (16 * MIB + 5, 5 * MIB),  # chunks of 5 MiB: each is a part of its own, uploaded by whichever node took it
    ],
)
def test_dropzone_chunks_spread_over_every_node(cluster: Nodes, total: int, size: int) -> None:
    data = _data(total, 1)
    uid = str(uuid.uuid4())
    count = -(-len(data) // size)
    with httpx.Client(timeout=60) as client:
        for n, index in enumerate(reversed(range(count))):
            reply = _chunk(client, cluster.url(n), uid, data, index, size)
            assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["sha256"] == hashlib.sha256(data).hexdigest()
        # any node serves the download, through the load balancer too
        for url in (cluster.url(1), cluster.haproxy.url):
            assert client.get(url.rstrip("/") + body["download"]).content == data
    ((stored,),) = cluster.rows("SELECT stored FROM uploads WHERE id = %s", uid)
    assert cluster.published()[stored] == len(data)
    assert not [k for k in cluster.objects() if k.startswith(f".incoming/{uid}")]  # no pieces left
    parts = cluster.rows("SELECT COUNT(*) FROM pieces WHERE upload_id = %s AND key LIKE '#%%'", uid)[0][0]
    assert parts == (count if size >= 5 * MIB else 0)


def test_tus_patches_spread_over_every_node(cluster: Nodes) -> None:
    data = _data(20 * MIB + 77, 2)
    with httpx.Client(timeout=60) as client:
        meta = "filename " + base64.b64encode(b"tus-spread.bin").decode()
        made = client.post(
            cluster.url(0) + "files/", headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
        )
        path = made.headers["location"]
        offset = 0
        for n, stop in enumerate((9 * MIB, 9 * MIB + 300, 18 * MIB, len(data)), 1):
            node = cluster.url(n).rstrip("/")
            head = client.head(node + path, headers=TUS)
            assert int(head.headers["upload-offset"]) == offset
            patch = client.patch(
                node + path,
                content=data[offset:stop],
                headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            )
            assert patch.status_code == 204, patch.text
            offset = stop
        assert patch.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
        got = client.get(cluster.haproxy.url.rstrip("/") + patch.headers["upload-download"])
        assert got.content == data


def test_a_node_killed_mid_upload_the_client_goes_on_through_the_others(cluster: Nodes) -> None:
    data = _data(40 * MIB, 3)
    sent = threading.Event()

    def slow_body() -> Iterator[bytes]:
        step = MIB
        for i in range(0, len(data), step):
            if i >= 20 * MIB:
                sent.set()
                time.sleep(0.5)  # the client is slow from here on; the node dies meanwhile
            yield data[i : i + step]

    victim = cluster.nodes[0]
    with httpx.Client(timeout=60) as client:
        made = client.post(victim.url + "files/", headers={**TUS, "Upload-Length": str(len(data))})
        path = made.headers["location"]

        def stream() -> None:
            try:
                client_two = httpx.Client(timeout=60)
                client_two.patch(
                    victim.url.rstrip("/") + path,
                    content=slow_body(),
                    headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                )
            except httpx.TransportError:
                pass  # the node died under it, as planned

        writer = threading.Thread(target=stream)
        writer.start()
        assert sent.wait(60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # what the node has committed is visible to the others
            offset = int(client.head(cluster.url(1).rstrip("/") + path, headers=TUS).headers["upload-offset"])
            if offset >= 16 * MIB:
                break
            time.sleep(0.2)
        victim.kill()
        writer.join(60)
        try:
            offset = int(client.head(cluster.url(1).rstrip("/") + path, headers=TUS).headers["upload-offset"])
            assert 16 * MIB <= offset < len(data)
            done = client.patch(
                cluster.url(2).rstrip("/") + path,
                content=data[offset:],
                headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            )
            assert done.status_code == 204, done.text
            assert done.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
            assert client.get(cluster.url(2).rstrip("/") + done.headers["upload-download"]).content == data
        finally:
            cluster.restart(0)


def test_two_nodes_racing_to_finish_store_one_object_and_one_row(cluster: Nodes) -> None:
    data = _data(3 * MIB, 4)
    size = MIB
    uploads = [str(uuid.uuid4()) for _ in range(2)]
    with httpx.Client(timeout=60) as client:
        for uid in uploads:
            for index in (0, 1):
                assert _chunk(client, cluster.url(index), uid, data, index, size).status_code == 200
    replies: list[httpx.Response] = []

    def last_chunk(uid: str, node: int) -> None:
        with httpx.Client(timeout=60) as own:
            replies.append(_chunk(own, cluster.url(node), uid, data, 2, size))

    # the same last chunk of one upload to two nodes at once, and a second upload of the same content at once
    racers = [threading.Thread(target=last_chunk, args=(uploads[0], n)) for n in (0, 1)]
    racers.append(threading.Thread(target=last_chunk, args=(uploads[1], 2)))
    for t in racers:
        t.start()
    for t in racers:
        t.join(60)
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    sha = hashlib.sha256(data).hexdigest()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = cluster.rows("SELECT state FROM uploads WHERE id = ANY(%s)", uploads)
        if [s for (s,) in states] == ["done", "done"]:
            break
        time.sleep(0.2)
    assert sorted(s for (s,) in states) == ["done", "done"]
    assert cluster.rows("SELECT COUNT(*) FROM blobs WHERE sha256 = %s", sha) == [(1,)]
    (path,) = cluster.rows("SELECT path FROM blobs WHERE sha256 = %s", sha)[0]
    assert [k for k, v in cluster.published().items() if v == len(data) and k.startswith("c")] == [path]


def test_every_node_sweeping_at_once_removes_each_upload_once(
    cluster: Nodes, tmp_path: Path, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    size = MIB
    data = _data(3 * MIB, 5)
    abandoned = [str(uuid.uuid4()) for _ in range(4)]
    with httpx.Client(timeout=60) as client:
        for n, uid in enumerate(abandoned):
            assert _chunk(client, cluster.url(n), uid, data, 0, size).status_code == 200
    assert len([k for k in cluster.objects() if k.startswith(".incoming/")]) >= 4
    cfg = DropConfig(storage=tmp_path / "s", chunks=tmp_path / "c", partial_ttl=1.0)
    sweepers = []
    for _ in range(3):
        ledger = PostgresLedger(cluster.ledger)
        storage = S3Storage(f"s3://{services.S3_BUCKET}/{cluster.prefix}", ledger, cluster.s3.url)
        sweepers.append(Inbox(cfg, storage, ledger))
    counts: list[int] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(3)

    def sweep(inbox: Inbox) -> None:
        gate.wait()
        try:
            counts.append(inbox.expire(now=time.time() + 10))
        except BaseException as err:  # re-raised on the test's thread
            errors.append(err)

    threads = [threading.Thread(target=sweep, args=(s,)) for s in sweepers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for inbox in sweepers:
            inbox.storage.close()
            inbox.ledger.close()
    if errors:
        raise errors[0]
    assert sum(counts) >= len(abandoned)  # other tests' leftovers may be swept too, but each only once
    assert cluster.rows("SELECT COUNT(*) FROM uploads WHERE id = ANY(%s)", abandoned) == [(0,)]
    for uid in abandoned:
        assert not [k for k in cluster.objects() if k.startswith(f".incoming/{uid}")]


def test_a_copy_under_another_name_is_made_of_part_copies(
    seaweedfs: Service, pg_url: str, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object store has no hard links: a copy is made server-side, part by part (UploadPartCopy), so an
    object over CopyObject's 5 GiB limit is copied too (here 17 MiB in 8 MiB parts)."""
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    prefix = f"copy-{uuid.uuid4().hex[:8]}"
    data = _data(17 * MIB, 6)
    client: Any = services.s3_client(seaweedfs.url)
    client.put_object(Bucket=services.S3_BUCKET, Key=f"{prefix}/orig.bin", Body=data)
    ledger = PostgresLedger(pg_url)
    storage = S3Storage(f"s3://{services.S3_BUCKET}/{prefix}", ledger, seaweedfs.url)
    try:
        assert storage.link("orig.bin", "copy.bin") == "copy.bin"
        assert storage.link("orig.bin", "copy.bin") == "copy (1).bin"  # never over another file
    finally:
        storage.close()
        ledger.close()
    for name in ("copy.bin", "copy (1).bin"):
        got = client.get_object(Bucket=services.S3_BUCKET, Key=f"{prefix}/{name}")
        assert got["Body"].read() == data
        assert got["ETag"].strip('"').endswith("-3")  # three parts
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM assemblies").fetchone() == (0,)  # no name left reserved
