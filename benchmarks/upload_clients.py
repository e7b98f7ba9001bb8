"""The clients that `upload.py` times: our page in both modes and copyparty's in headless Chromium, Dropzone
chunks and tus from Python, `calamity drop send`, and copyparty's u2c. Each takes the server's URL and the files."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

PY = sys.executable


def env_for(src: Path | None) -> dict[str, str]:
    """The environment that runs our code from ``src`` (another checkout's ``src`` folder) instead of this one."""
    return {**os.environ, "PYTHONPATH": str(src)} if src else dict(os.environ)


def dropzone_fields(upload_id: str, index: int, size: int, chunk: int) -> dict[str, str]:
    """The form fields Dropzone sends with chunk ``index`` of a file of ``size`` bytes in chunks of ``chunk``."""
    return {
        "dzuuid": upload_id,
        "dzchunkindex": str(index),
        "dztotalfilesize": str(size),
        "dzchunksize": str(chunk),
        "dztotalchunkcount": str(max(1, -(-size // chunk))),
        "dzchunkbyteoffset": str(index * chunk),
    }


def dropzone_python(url: str, files: list[Path], chunk: int = 1_000_000, conns: int = 6) -> None:
    """Dropzone's protocol as the page sends it: 1 MB chunks, every chunk of a file in parallel (6 connections)."""
    jobs = []
    for path in files:
        size = path.stat().st_size
        count = max(1, -(-size // chunk))
        uid = str(uuid.uuid4())
        jobs += [(path, uid, i, size, count) for i in range(count)]
    with httpx.Client(limits=httpx.Limits(max_connections=conns), timeout=120) as client:

        def post(job: tuple[Path, str, int, int, int]) -> None:
            path, uid, index, size, count = job
            with open(path, "rb") as f:
                f.seek(index * chunk)
                piece = f.read(chunk)
            fields = dropzone_fields(uid, index, size, chunk)
            for attempt in range(6):  # Dropzone retries a failed chunk (retryChunks); say so when it happens
                r = client.post(url + "upload", data=fields, files={"file": (path.name, piece)})
                if r.status_code == 200:
                    return
                print(f"    chunk {index} of {path.name}: HTTP {r.status_code} (try {attempt + 1})")
            r.raise_for_status()

        with ThreadPoolExecutor(conns) as pool:
            list(pool.map(post, jobs))


def page_tus(url: str, files: list[Path]) -> float:
    """The real page in headless Chromium, in its default mode: tus-js-client, one stream per file."""
    return dropzone_page(url + "?mode=tus", files)


def page_dropzone(url: str, files: list[Path]) -> float:
    """The real page in headless Chromium, Dropzone mode: Dropzone itself chunking and sending."""
    return dropzone_page(url + "?mode=dropzone", files)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A page in headless Debian Chromium (driven by Playwright)."""
    from playwright.sync_api import sync_playwright

    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def dropzone_page(url: str, files: list[Path]) -> float:
    """Drive the drop page in headless Chromium with ``files``; return when every one is listed as stored, with
    the seconds from choosing the files to the last one stored, timed in the page (a user's browser has the page
    open already; Playwright's polling for the list would add up to half a second)."""
    with chromium() as page:
        page.goto(url)
        page.wait_for_function("typeof Dropzone !== 'undefined' && Dropzone.instances.length === 1")
        page.evaluate(
            """() => { window.benchDone = 0; window.benchStart = performance.now();
            Dropzone.instances[0].on("success", () => { window.benchDone += 1; window.benchEnd = performance.now(); });
            }"""
        )
        page.set_input_files("input.dz-hidden-input", files=[str(p) for p in files])
        page.wait_for_function(  # every file stored and listed (the page keeps only the latest rows drawn)
            "(n) => window.benchDone >= n && Number(document.getElementById('uploaded').dataset.listed) >= n",
            arg=len(files),
            timeout=600_000,
        )
        return float(page.evaluate("(window.benchEnd - window.benchStart) / 1000"))


def copyparty_page(url: str, files: list[Path]) -> float:
    """copyparty's own web uploader (up2k.js: hashes each file in the browser, then parallel chunks) in headless
    Chromium, timed in the page like ours: from choosing the files until up2k marks the last one done."""
    with chromium() as page:
        page.add_init_script("localStorage.setItem('ask_up', '0')")  # no "upload these files?" dialog
        page.goto(url)
        page.wait_for_function("typeof up2k !== 'undefined' && up2k !== null && !!up2k.st")
        page.evaluate(
            """(n) => { window.benchStart = performance.now();
            const timer = setInterval(() => {
              const f = up2k.st.files;
              if (f.length < n || !f.every((t) => t.done)) return;
              window.benchEnd = performance.now();
              clearInterval(timer);
            }, 5); }""",
            len(files),
        )
        page.set_input_files("input[type=file][id^=file]", files=[str(p) for p in files])
        page.wait_for_function("() => window.benchEnd !== undefined", timeout=600_000)
        return float(page.evaluate("(window.benchEnd - window.benchStart) / 1000"))


def tus_tuspy(url: str, files: list[Path]) -> None:
    """tus with the standard Python client (16 MiB PATCHes), 4 files at a time."""
    from tusclient import client as tus_client

    def one(path: Path) -> None:
        with open(path, "rb") as stream:
            tus_client.TusClient(url + "files/").uploader(
                file_stream=stream, chunk_size=16 * 1024 * 1024, metadata={"filename": path.name}
            ).upload()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, files))


def calamity_send(url: str, files: list[Path], src: Path | None = None) -> None:
    env = {**env_for(src), "CALAMITY_SEND_STATE": tempfile.mktemp()}
    subprocess.run(
        [PY, "-m", "codecalamity", "drop", "send", *map(str, files), "--to", url],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def calamity_send_streams(url: str, files: list[Path]) -> None:
    """`send --streams 4`: a file of 64 MiB or more as 4 tus partial uploads at once, joined by the server."""
    env = {**os.environ, "CALAMITY_SEND_STATE": tempfile.mktemp()}
    subprocess.run(
        [PY, "-m", "codecalamity", "drop", "send", *map(str, files), "--to", url, "--streams", "4"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def u2c(url: str, files: list[Path]) -> None:
    import copyparty

    script = Path(copyparty.__file__).parent / "web" / "a" / "u2c.py"
    subprocess.run(
        [PY, str(script), url, *map(str, files)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
