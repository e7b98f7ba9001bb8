"""Property tests: any order, any duplication, any parallelism of chunks gives back the exact bytes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Server, send_chunk, start_server

CHUNK = 512


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("prop")
    server = start_server(root / "storage", root / "chunks", "-a")
    yield server
    server.stop()


@st.composite
def uploads(draw: st.DrawFn) -> tuple[bytes, list[int], int]:
    size = draw(st.integers(min_value=1, max_value=6 * CHUNK))
    data = draw(st.binary(min_size=size, max_size=size))
    count = -(-size // CHUNK)
    order = draw(st.permutations(range(count)))
    extra = draw(st.lists(st.sampled_from(range(count)), max_size=4))
    mixed = draw(st.permutations([*order, *extra]))
    workers = draw(st.sampled_from([1, 2, 4]))
    return data, list(mixed), workers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=uploads())
def test_shuffled_duplicated_parallel_chunks(shared_server: Server, case: tuple[bytes, list[int], int]) -> None:
    data, order, workers = case
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        with ThreadPoolExecutor(workers) as pool:
            codes = list(
                pool.map(lambda i: send_chunk(client, shared_server.url, uid, data, i, CHUNK).status_code, order)
            )
        # a duplicate racing its twin may be told to retry (409); every first delivery lands
        assert set(codes) <= {200, 409}
        status = client.get(f"{shared_server.url}upload/{uid}").json()
        missing = [
            i for i in range(-(-len(data) // CHUNK)) if status["state"] != "done" and i not in status["received"]
        ]
        for index in missing:
            assert send_chunk(client, shared_server.url, uid, data, index, CHUNK).status_code == 200
        status = client.get(f"{shared_server.url}upload/{uid}").json()
        assert status["state"] == "done"
        assert status["sha256"] == hashlib.sha256(data).hexdigest()
        assert client.get(shared_server.origin + status["download"]).content == data
