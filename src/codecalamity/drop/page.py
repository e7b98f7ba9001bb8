"""The drop page: Dropzone configured as the tutorial does, and this browser's uploads listed as text."""

from __future__ import annotations

import html
import json

from codecalamity import __version__
from codecalamity.drop.config import DropConfig

TUS_JS_VERSION = "4.3.1"
# tus-js-client from npm, vendored in static/vendor (MIT); the page's default mode, see page.js.

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>calamity drop</title>
  <link rel="icon" href="/favicon.ico" type="image/svg+xml">
  <link rel="stylesheet" href="{dz}/min/dropzone.min.css">
  <link rel="stylesheet" href="{dz}/min/basic.min.css">
  <link rel="stylesheet" href="/static/page.css?v={version}">
  <script src="{dz}/min/dropzone.min.js"></script>
  <script src="/static/vendor/tus-js-client/{tus_version}/tus.min.js"></script>
  <script type="application/json" id="drop-config">{config}</script>
</head>
<body>
  <main id="content">
    <h2>Upload new files</h2>
    <p class="mode">Send with
      <label><input type="radio" name="mode" value="tus"> tus (resumable, fastest)</label>
      <label><input type="radio" name="mode" value="dropzone"> Dropzone chunks</label>
    </p>
    <form method="POST" action="/upload" class="dropzone dz-clickable" id="dropper"
          enctype="multipart/form-data"></form>
    <section id="progress" hidden>
      <p><progress id="total" max="1" value="0"></progress> <span id="summary"></span></p>
      <ul id="active"></ul>
      <ul id="failed"></ul>
    </section>
    <h2>Uploaded <button type="button" id="clear">Clear</button></h2>
    <p id="more" hidden><span></span> <button type="button">Show all</button></p>
    <table id="uploaded">
      <colgroup><col class="name"><col class="size"><col class="sha"><col class="link"></colgroup>
      <thead><tr><th>name</th><th>size</th><th>sha256</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="note">Listed from this browser's storage only. Max file size {max_mb} MB.</p>
  </main>
  <script src="/static/page.js?v={version}"></script>
</body>
</html>
"""


def render_page(config: DropConfig) -> str:
    """The page's HTML; settings travel as JSON in a non-executed script element."""
    settings = {
        "chunkSize": config.chunk_size,
        "timeout": config.timeout_ms,
        "maxFilesize": config.max_size_mb,
        "parallelChunkUploads": config.parallel_chunks,
        "forceChunking": config.force_chunking,
        "allowDownloads": config.allow_downloads,
        "mode": config.page_mode,
    }
    config_json = json.dumps(settings).replace("<", "\\u003c")
    dz = html.escape(f"{config.dropzone_base}/{config.dropzone_version}", quote=True)
    return _PAGE.format(
        dz=dz, config=config_json, version=__version__, max_mb=config.max_size_mb, tus_version=TUS_JS_VERSION
    )
