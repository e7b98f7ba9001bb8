"""Fixtures for the cluster's real services, started once per test session: PostgreSQL and SeaweedFS.

Each test gets its own database and its own key prefix in the bucket, so tests share the processes but no
data. A service that cannot be started here skips its tests with the reason.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codecalamity.drop import services


@pytest.fixture(scope="session")
def service_root() -> Iterator[Path]:
    """A folder outside pytest's private tmp (PostgreSQL's unprivileged user must be able to enter it)."""
    root = Path(tempfile.mkdtemp(prefix="calamity-services-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(service_root: Path) -> Iterator[services.Service]:
    """A private PostgreSQL on a free loopback port."""
    try:
        service = services.start_postgres(service_root / "postgres", durable=False)
    except services.ServiceError as err:
        pytest.skip(f"PostgreSQL cannot run here: {err}")
    yield service
    service.stop()


@pytest.fixture
def pg_url(postgres: services.Service) -> str:
    """A URL of a new, empty database on the session's PostgreSQL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def seaweedfs(service_root: Path) -> Iterator[services.Service]:
    """A private SeaweedFS (``weed server -s3``) with the bucket made."""
    try:
        service = services.start_seaweedfs(service_root / "seaweedfs")
    except services.ServiceError as err:
        pytest.skip(f"SeaweedFS cannot run here: {err}")
    yield service
    service.stop()


@pytest.fixture
def s3_url(seaweedfs: services.Service) -> str:
    """``s3://BUCKET/PREFIX`` with a prefix of this test's own."""
    return f"s3://{services.S3_BUCKET}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_env(seaweedfs: services.Service) -> dict[str, str]:
    """The environment a node needs to reach the session's SeaweedFS, the standard AWS way."""
    return {
        "AWS_ENDPOINT_URL": seaweedfs.url,
        "AWS_ACCESS_KEY_ID": services.S3_KEYS[0],
        "AWS_SECRET_ACCESS_KEY": services.S3_KEYS[1],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
