"""The cluster's services as ``make cluster``, the tests and the benchmark start them."""

from __future__ import annotations

import json
import re

import pytest

from codecalamity.drop import services
from codecalamity.drop.services import Service


def _admin(weed: Service) -> tuple[str, str]:
    """The master's and the filer's ``host:port.grpcPort``, from the flags the server was started with."""
    argv = [str(a) for a in weed.proc.args]  # type: ignore[union-attr]
    flags = dict(a.split("=", 1) for a in argv if a.startswith("-") and "=" in a)
    return (
        f"127.0.0.1:{flags['-master.port']}.{flags['-master.port.grpc']}",
        f"127.0.0.1:{flags['-filer.port']}.{flags['-filer.port.grpc']}",
    )


def _locations(weed: Service) -> dict[str, dict[str, object]]:
    out = services.weed_shell(*_admin(weed), "fs.configure")
    found = re.search(r"\{.*\}", out, re.S)
    assert found, out
    return {loc["locationPrefix"]: loc for loc in json.loads(found.group(0)).get("locations", [])}


def test_seaweedfs_fsyncs_every_bucket_before_it_answers(seaweedfs: Service) -> None:
    # SeaweedFS answers a write before its bytes are on disk unless a path is configured to fsync
    assert _locations(seaweedfs)["/buckets/"]["fsync"] is True


def test_a_failing_weed_shell_command_is_a_clear_error(seaweedfs: Service) -> None:
    with pytest.raises(services.ServiceError, match="weed shell"):
        services.weed_shell(*_admin(seaweedfs), "fs.configure -locationPrefix=/x/ -replication=9z9 -apply")
