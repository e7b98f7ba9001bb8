"""The soak test's server: `calamity drop` in a subprocess, restartable, its RSS sampled; and the checks made
once the clients are done (what is on disk, what is left, whether the RSS stayed flat)."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`calamity drop` in a subprocess on a fixed port, restartable, with its RSS sampled."""

    def __init__(self, root: Path, port: int, ttl: float) -> None:
        self.root, self.port, self.ttl = root, port, ttl
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        self.generation = 0
        self.samples: list[tuple[int, float, int]] = []  # generation, time, rss
        self._stop = False

    def start(self) -> None:
        self.generation += 1
        cmd = [sys.executable, "-m", "codecalamity", "drop", "-p", str(self.port), "-a", "--reserve", "0"]
        cmd += ["-s", str(self.root / "storage"), "-c", str(self.root / "chunks"), "--partial-ttl", f"{self.ttl}s"]
        log = open(self.root / f"server-{self.generation}.log", "wb")  # kept open for the server
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "favicon.ico", timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("the server did not start: " + (self.root / f"server-{self.generation}.log").read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self._stop = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def sample(self) -> None:
        while not self._stop:
            proc = self.proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    self.samples.append((self.generation, time.monotonic(), psutil.Process(proc.pid).memory_info().rss))
            time.sleep(0.25)


# checks after the run ---------------------------------------------------------------------------------------


def visible_hashes(storage: Path) -> set[str]:
    out = set()
    for path in storage.iterdir():
        if path.is_file() and not path.name.startswith("."):
            sha = hashlib.sha256()
            with open(path, "rb") as f:
                while block := f.read(4 * MIB):
                    sha.update(block)
            out.add(sha.hexdigest())
    return out


def stray_files(root: Path) -> list[str]:
    """Files anywhere under the soak folder but outside storage/ and chunks/ (server logs excepted)."""
    stray = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("storage", "chunks") or (len(rel.parts) == 1 and rel.name.startswith("server-")):
            if rel.parts[0] == "storage" and len(rel.parts) > 1 and path.is_dir() and rel.parts[1] != ".incoming":
                stray.append(str(rel))
            continue
        stray.append(str(rel))
    return stray


def unfinished_rows(storage: Path) -> int:
    with contextlib.closing(sqlite3.connect(storage / ".calamity-drop.sqlite3")) as db:
        (n,) = db.execute("SELECT COUNT(*) FROM uploads WHERE state != 'done'").fetchone()
    return int(n)


def rss_report(samples: list[tuple[int, float, int]]) -> tuple[list[str], bool]:
    """Per server process: RSS medians of its 2nd and last quarter and its peak; flat when the longest-lived one's
    last quarter is within 25 % (+16 MiB) of its 2nd (the first server only ramps up before it is killed)."""
    lines, flat = [], True
    generations = sorted({g for g, _, _ in samples})
    longest = max(generations, key=lambda g: sum(1 for s in samples if s[0] == g), default=0)
    for generation in generations:
        rss = [r / MIB for g, _, r in samples if g == generation]
        quarter = max(1, len(rss) // 4)
        early, late = statistics.median(rss[quarter : 2 * quarter] or rss), statistics.median(rss[3 * quarter :] or rss)
        verdict = ""
        if generation == longest:
            flat = late <= 1.25 * early + 16
            verdict = " -> " + ("flat" if flat else "GROWING")
        lines.append(
            f"  server {generation}: {len(rss) / 4:.0f} s, 2nd-quarter median {early:.0f} MiB, last-quarter median "
            f"{late:.0f} MiB, peak {max(rss):.0f} MiB{verdict}"
        )
    return lines, flat
