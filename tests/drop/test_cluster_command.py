"""``calamity drop cluster`` (``make cluster``): everything up with one command, everything gone on SIGTERM."""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow


def test_the_cluster_command_starts_serves_and_stops_everything() -> None:
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    data = Path(tempfile.mkdtemp(prefix="calamity-drop-data-"))
    data.chmod(0o755)
    log = data / "supervisor.log"
    cmd = [sys.executable, "-m", "codecalamity", "drop", "cluster", "--data", str(data / "d"), "--lb-port", "0"]
    with open(log, "w") as out:
        proc = subprocess.Popen([*cmd, "--nodes", "2", "-a"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            match = re.search(r"Open (http://127\.0\.0\.1:\d+/)", log.read_text())
            url = match.group(1) if match else time.sleep(0.2)
        assert url is not None, log.read_text()
        parts = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in parts)
        assert "postgres" in names and "weed" in names and "haproxy" in names
        nodes = [p for p in parts if "serve" in p.cmdline()]
        assert len(nodes) == 2 and all("cluster" not in " ".join(p.cmdline()[1:]) for p in nodes)
        body = b"through the load balancer" * 1000
        with httpx.Client(timeout=60) as client:
            reply = client.post(url + "upload", files={"file": ("lb.txt", body)}).json()
            assert reply["sha256"] == hashlib.sha256(body).hexdigest()
            assert client.get(url.rstrip("/") + reply["download"]).content == body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
        gone, alive = psutil.wait_procs(parts, timeout=10)
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
