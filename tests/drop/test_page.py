"""The drop page in headless Chromium: a multi-chunk upload through Dropzone, and names shown as text."""

from __future__ import annotations

import base64
import hashlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    return path


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        page = context.new_page()
        yield page
        context.close()
        browser.close()


HOSTILE = "<img src=x onerror=\"document.title='pwned'\">.bin"


@pytest.mark.parametrize("mode", ["tus", "dropzone"])
def test_upload_through_the_real_page(serve: Callable[..., Server], page: Any, tmp_path: Path, mode: str) -> None:
    server = serve("-a", "--chunk-size", "65536")
    data = hashlib.shake_256(b"page").digest(300_000)  # dropzone: 5 chunks, sent in parallel
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url.removeprefix(server.url)}"))
    page.goto(server.url + ("?mode=dropzone" if mode == "dropzone" else ""))
    assert page.locator(f"input[name=mode][value={mode}]").is_checked()
    page.wait_for_function("typeof Dropzone !== 'undefined' && Dropzone.instances.length === 1")
    page.set_input_files(
        "input.dz-hidden-input",
        files=[{"name": HOSTILE, "mimeType": "application/octet-stream", "buffer": data}],
    )
    row = page.locator("#uploaded tr.upload")
    row.wait_for(timeout=30_000)

    assert row.locator("td.name").inner_text() == HOSTILE  # shown as text, not markup
    assert page.locator("#uploaded img").count() == 0
    assert page.title() != "pwned"
    assert row.locator("td.sha").inner_text() == hashlib.sha256(data).hexdigest()
    stored = server.stored_files()
    assert list(stored.values()) == [data]
    assert "<" not in next(iter(stored))
    href = row.locator("a").get_attribute("href")
    assert href is not None and href.startswith("/download/")
    assert errors == []
    with sqlite3.connect(server.storage / ".calamity-drop.sqlite3") as db:  # which protocol carried it
        (chunks,) = db.execute("SELECT chunk_count FROM uploads").fetchone()
        (via_tus,) = db.execute("SELECT COUNT(*) FROM tus").fetchone()
    assert (chunks, via_tus) == ((1, 1) if mode == "tus" else (5, 0))
    if mode == "tus":  # a small file: one creation request carries it, and its reply the checksum and token
        assert [r for r in requests if "files" in r] == ["POST files/"]

    page.locator("#progress.finished").wait_for(timeout=10_000)
    assert page.locator("#summary").inner_text() == "Stored 1 of 1 file (300.0 kB of 300.0 kB)."
    assert page.locator("#failed li").count() == 0
    page.screenshot(path=str(tmp_path / f"drop-page-{mode}.png"), full_page=True)

    # the list survives a reload (this browser's own uploads), still as text
    page.reload()
    assert page.locator("#uploaded td.name").inner_text() == HOSTILE


def test_tus_js_client_parallel_uploads_become_one_file(serve: Callable[..., Server], page: Any) -> None:
    server = serve("-a")
    data = hashlib.shake_256(b"parallel").digest(1_000_003)
    concat: list[str] = []
    page.on("request", lambda r: concat.append(r.headers.get("upload-concat", "")) if r.method == "POST" else None)
    page.goto(server.url)
    page.wait_for_function("typeof tus !== 'undefined'")
    result = page.evaluate(
        """async (b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const file = new File([bytes], "parallel.bin");
          return await new Promise((resolve, reject) => {
            const upload = new tus.Upload(file, {
              endpoint: "/files/",
              parallelUploads: 4,
              metadata: { filename: file.name },
              onError: (err) => reject(String(err)),
              onSuccess: (done) => resolve({ sha: done.lastResponse.getHeader("Upload-Sha256") }),
            });
            upload.start();
          });
        }""",
        base64.b64encode(data).decode(),
    )
    assert result["sha"] == hashlib.sha256(data).hexdigest()
    assert concat[:4] == ["partial"] * 4  # four parts, sent at once, then the final upload naming them
    assert len(concat) == 5 and concat[4].startswith("final;") and len(concat[4].split()) == 4
    assert server.stored_files() == {"parallel.bin": data}
    assert list(server.chunks.iterdir()) == []


@pytest.mark.parametrize("mode", ["tus", "dropzone"])
def test_many_small_files_through_the_page(serve: Callable[..., Server], page: Any, mode: str) -> None:
    """Files wait their turn (a few in flight), each is listed once, the list is saved, and no extra requests."""
    server = serve()
    files = [
        {
            "name": f"f{i:02}.bin",
            "mimeType": "application/octet-stream",
            "buffer": hashlib.shake_256(b"%d" % i).digest(5000 + i),
        }
        for i in range(40)
    ]
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url.removeprefix(server.url)}"))
    page.goto(server.url + f"?mode={mode}")
    page.wait_for_function("typeof Dropzone !== 'undefined' && Dropzone.instances.length === 1")
    page.set_input_files("input.dz-hidden-input", files=files)
    page.locator("#uploaded tr.upload").nth(len(files) - 1).wait_for(timeout=60_000)
    assert server.stored_files() == {f["name"]: f["buffer"] for f in files}
    sent = [r for r in requests if r.startswith(("POST", "GET upload/", "HEAD"))]
    assert len(sent) == len(files), sent  # one request per file: no status or HEAD request after it
    page.reload()
    names = page.locator("#uploaded td.name").all_inner_texts()
    assert sorted(names) == [f["name"] for f in files]


def test_a_refused_file_is_listed_with_the_servers_reason(serve: Callable[..., Server], page: Any) -> None:
    server = serve("--reserve", "100000000")  # more free disk than any machine has: every upload is refused
    page.goto(server.url + "?mode=dropzone")
    page.wait_for_function("typeof Dropzone !== 'undefined' && Dropzone.instances.length === 1")
    files = [{"name": f"r{i}.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 1000} for i in range(2)]
    page.set_input_files("input.dz-hidden-input", files=files)
    page.locator("#progress.finished").wait_for(timeout=30_000)
    assert page.locator("#summary").inner_text() == "Stored 0 of 2 files (0 B of 2.0 kB), 2 failed."
    failed = sorted(page.locator("#failed li").all_inner_texts())
    assert failed == [f"r{i}.bin: not enough free disk space for 1000 more bytes" for i in range(2)]
    assert page.locator("#uploaded tr.upload").count() == 0
    assert server.stored_files() == {}


def test_the_list_shows_the_latest_uploads_and_the_rest_on_demand(serve: Callable[..., Server], page: Any) -> None:
    server = serve()
    page.goto(server.url)
    items = [{"id": str(i), "name": f"old{i:03}.bin", "size": i, "sha256": "", "token": ""} for i in range(150)]
    page.evaluate("(items) => localStorage.setItem('calamity-drop-uploads', JSON.stringify(items))", items)
    page.reload()
    rows = page.locator("#uploaded td.name")
    page.wait_for_function("() => document.getElementById('uploaded').dataset.listed === '150'")
    assert rows.all_inner_texts() == [f"old{i:03}.bin" for i in range(50, 150)]  # the latest 100, in order
    assert page.locator("#more span").inner_text() == "50 earlier uploads not shown."
    page.locator("#more button").click()
    page.wait_for_function("() => document.querySelectorAll('#uploaded tr.upload').length === 150")
    assert rows.all_inner_texts() == [f"old{i:03}.bin" for i in range(150)]
    assert page.locator("#more").is_hidden()
