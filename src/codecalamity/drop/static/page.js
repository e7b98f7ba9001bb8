/* The drop page. Dropzone draws the drop zone and, in its mode, chunks and sends; tus sends by default (one
   resumable stream per file, through tus-js-client). What is sent is shown compactly: one summary line and bar
   for the whole batch, a bar for each big file in flight, the failures with the server's reason, and this
   browser's uploads (from localStorage), the latest SHOWN of them unless asked for all. Dropzone's own preview
   per file is off: with hundreds of files its animated tiles cost the browser more than sending the bytes did.
   The page is redrawn at most once per frame, however many files finish in it. Every name from a file or the
   server is set with textContent, never as HTML. */
"use strict";
(function () {
  const settings = JSON.parse(document.getElementById("drop-config").textContent);
  const STORE = "calamity-drop-uploads";
  const MODE = "calamity-drop-mode";
  const SHOWN = 100; // rows of the uploaded list kept in the page; "show all" draws the rest
  const table = document.getElementById("uploaded");
  const tbody = table.querySelector("tbody");
  const more = document.getElementById("more");
  const panel = document.getElementById("progress");
  const summary = document.getElementById("summary");
  const bar = document.getElementById("total");
  const activeList = document.getElementById("active");
  const failedList = document.getElementById("failed");
  const params = new URLSearchParams(window.location.search);
  let mode = params.get("mode") || localStorage.getItem(MODE) || settings.mode;
  if (mode !== "tus" && mode !== "dropzone") mode = settings.mode;

  function load() {
    try {
      const items = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(items) ? items : [];
    } catch (e) {
      return [];
    }
  }

  function humanSize(n) {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function makeRow(item) {
    const row = document.createElement("tr");
    row.className = "upload";
    cell(row, item.name, "name");
    cell(row, humanSize(item.size), "size");
    cell(row, item.sha256 || "", "sha");
    const link = cell(row, "", "link");
    if (settings.allowDownloads && item.token) {
      const a = document.createElement("a");
      a.href = "/download/" + encodeURIComponent(item.token);
      a.textContent = "download";
      link.appendChild(a);
    }
    return row;
  }

  // Drawing: everything that changed since the last frame is drawn in the next one.
  let items = load(); // this browser's uploads, oldest first
  let showAll = false;
  let fresh = items.slice(); // listed but not yet drawn
  const batch = { files: 0, done: 0, failed: 0, bytes: 0, doneBytes: 0 };
  const active = new Set(); // big files in flight, each with its own bar
  const failures = []; // [name, reason] not yet drawn
  // at most DRAW_EVERY ms apart: a frame for each of fifty files a second made the browser repaint the list
  // (and raster it) fifty times a second, which cost it about as much as sending the files
  const DRAW_EVERY = 200;
  let drawing = false;
  let drawn = 0;
  function redraw() {
    if (drawing) return;
    drawing = true;
    const wait = Math.max(0, drawn + DRAW_EVERY - performance.now());
    setTimeout(function () { window.requestAnimationFrame(draw); }, wait);
  }

  function draw() {
    drawing = false;
    drawn = performance.now();
    if (fresh.length) {
      const rows = document.createDocumentFragment();
      for (const item of showAll ? fresh : fresh.slice(-SHOWN)) rows.appendChild(makeRow(item));
      fresh = [];
      tbody.appendChild(rows);
      while (!showAll && tbody.rows.length > SHOWN) tbody.deleteRow(0);
    }
    const hidden = items.length - tbody.rows.length;
    more.hidden = hidden <= 0;
    more.querySelector("span").textContent = hidden + " earlier " + (hidden === 1 ? "upload" : "uploads") + " not shown.";
    table.dataset.listed = String(items.length);
    if (!batch.files) return;
    panel.hidden = false;
    let sent = batch.doneBytes;
    active.forEach(function (file) { sent += file.calamitySent || 0; });
    bar.value = batch.bytes ? sent / batch.bytes : batch.done / batch.files;
    let text = "Stored " + batch.done + " of " + batch.files + (batch.files === 1 ? " file" : " files");
    text += " (" + humanSize(batch.doneBytes) + " of " + humanSize(batch.bytes) + ")";
    if (batch.failed) text += ", " + batch.failed + " failed";
    summary.textContent = text + ".";
    panel.classList.toggle("finished", batch.done + batch.failed === batch.files);
    activeList.textContent = "";
    active.forEach(function (file) {
      const li = document.createElement("li");
      const progress = document.createElement("progress");
      progress.max = file.size || 1;
      progress.value = file.calamitySent || 0;
      li.appendChild(progress);
      li.appendChild(document.createTextNode(" " + file.name));
      activeList.appendChild(li);
    });
    for (const [name, reason] of failures.splice(0)) {
      const li = document.createElement("li");
      li.textContent = name + ": " + reason;
      failedList.appendChild(li);
    }
  }

  more.querySelector("button").addEventListener("click", function () {
    showAll = true;
    tbody.textContent = "";
    fresh = items.slice();
    redraw();
  });

  // New uploads are added to localStorage at most every half second (and when the page goes away): with
  // thousands of small files, writing the list for each one took longer than sending them. What is there is
  // read again first, so that another tab's uploads stay.
  let saving = null;
  let unsaved = [];
  function flush() {
    if (saving !== null) { clearTimeout(saving); saving = null; }
    if (!unsaved.length) return;
    const stored = load();
    const known = new Set(stored.map(function (x) { return x.id; }));
    unsaved.forEach(function (x) { if (!known.has(x.id)) stored.push(x); });
    unsaved = [];
    localStorage.setItem(STORE, JSON.stringify(stored));
  }
  window.addEventListener("pagehide", flush);
  function remember(info) {
    const item = { id: info.id, name: info.name, size: info.size, sha256: info.sha256, token: info.token };
    items.push(item);
    fresh.push(item);
    unsaved.push(item);
    if (saving === null) saving = setTimeout(flush, 500);
    redraw();
  }

  document.getElementById("clear").addEventListener("click", function () {
    if (saving !== null) { clearTimeout(saving); saving = null; }
    unsaved = [];
    items = [];
    fresh = [];
    localStorage.removeItem(STORE);
    tbody.textContent = "";
    redraw();
  });

  document.querySelectorAll("input[name=mode]").forEach(function (radio) {
    radio.checked = radio.value === mode;
    radio.addEventListener("change", function () {
      mode = radio.value;
      localStorage.setItem(MODE, mode);
    });
  });

  draw(); // the list from earlier visits, at once

  // the batch's counts: a file added when nothing is left in flight starts a new batch
  function added(file) {
    if (batch.done + batch.failed === batch.files) {
      Object.assign(batch, { files: 0, done: 0, failed: 0, bytes: 0, doneBytes: 0 });
      failedList.textContent = "";
    }
    batch.files += 1;
    batch.bytes += file.size;
    redraw();
  }
  function progressed(file, sent) {
    file.calamitySent = Math.min(sent, file.size);
    if (file.size > SMALL) active.add(file);
    redraw();
  }
  function ended(file, reason) {
    if (file.calamityEnded) return; // Dropzone may report a file more than once
    file.calamityEnded = true;
    active.delete(file);
    if (reason === undefined) {
      batch.done += 1;
      batch.doneBytes += file.size;
    } else {
      batch.failed += 1;
      failures.push([file.name, reason]);
    }
    redraw();
  }

  // tus: a small file goes whole with its creation request (one round trip; nothing to resume, so nothing is
  // remembered for it), a big one as a PATCH stream resumed after a dropped connection or a page reload. At most
  // PARALLEL files are in flight (twice the browser's connections per server, so the next one is ready when a
  // connection frees); the others wait their turn in order.
  const SMALL = 8 * 1024 * 1024;
  const PARALLEL = 12;
  const waiting = [];
  let running = 0;
  function next() {
    while (running < PARALLEL && waiting.length) {
      running += 1;
      const job = waiting.shift();
      job(function () { running -= 1; next(); });
    }
  }
  function sendByTus(dz, file) {
    file.status = Dropzone.UPLOADING;
    waiting.push(function (finished) {
      if (file.size <= SMALL) sendSmall(dz, file, finished, 0);
      else startTus(dz, file, finished);
    });
    next();
  }
  function stored(dz, file, id, headers) {
    remember({
      id: id,
      name: file.name,
      size: file.size,
      sha256: headers("Upload-Sha256"),
      token: headers("Upload-Token"),
    });
    file.status = Dropzone.SUCCESS;
    dz.emit("success", file, "");
    dz.emit("complete", file);
  }
  function failed(dz, file, reason) {
    file.status = Dropzone.ERROR;
    dz.emit("error", file, reason);
    dz.emit("complete", file);
  }

  // A small file is one tus creation-with-upload request, sent with fetch: no upload progress events (each one a
  // message from Chromium's network process) and no tus-js-client machinery for it. A dropped connection, 5xx,
  // 409, 423 or 429 is tried again after RETRY_DELAYS[attempt], as tus-js-client does; the server drops what a
  // cut request brought, so the file is sent whole again.
  const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
  function base64(text) {
    let binary = "";
    new TextEncoder().encode(text).forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary);
  }
  function sendSmall(dz, file, finished, attempt) {
    const again = function (reason) {
      if (attempt >= RETRY_DELAYS.length) {
        finished();
        failed(dz, file, reason);
        return;
      }
      setTimeout(function () { sendSmall(dz, file, finished, attempt + 1); }, RETRY_DELAYS[attempt]);
    };
    const headers = {
      "Tus-Resumable": "1.0.0",
      "Upload-Length": String(file.size),
      "Upload-Metadata": "filename " + base64(file.name) + ",filetype " + base64(file.type || "application/octet-stream"),
      "Content-Type": "application/offset+octet-stream",
    };
    fetch("/files/", { method: "POST", headers: headers, body: file, credentials: "same-origin" }).then(
      function (r) {
        if (r.status === 201) {
          finished();
          const url = r.headers.get("Location") || "";
          const id = url.split("/").pop();
          if (r.headers.get("Upload-Token")) {
            stored(dz, file, id, function (name) { return r.headers.get(name); });
            return;
          }
          fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, credentials: "same-origin" })
            .then(function (h) { stored(dz, file, id, function (name) { return h.headers.get(name); }); });
          return;
        }
        r.text().then(function (text) {
          const reason = (text.trim() || "HTTP " + r.status).split("\n")[0];
          if (r.status >= 500 || [409, 423, 429].includes(r.status)) {
            again(reason);
          } else {
            finished();
            failed(dz, file, reason);
          }
        });
      },
      function (err) { again(String((err && err.message) || err)); }
    );
  }

  // A big file: one resumable PATCH stream through tus-js-client, resumed after a reload too.
  function startTus(dz, file, finished) {
    const upload = new tus.Upload(file, {
      endpoint: "/files/",
      retryDelays: RETRY_DELAYS,
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        dz.emit("uploadprogress", file, total ? (100 * sent) / total : 100, sent);
      },
      onError: function (err) {
        finished();
        failed(dz, file, String((err && err.message) || err).split("\n")[0]);
      },
      onSuccess: function (payload) {
        finished();
        const last = payload && payload.lastResponse;
        const id = upload.url.split("/").pop();
        // the reply that finished the upload carries the checksum and token; ask again only if it did not
        if (last && last.getHeader("Upload-Token")) {
          stored(dz, file, id, function (name) { return last.getHeader(name); });
          return;
        }
        fetch(upload.url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, credentials: "same-origin" })
          .then(function (r) { stored(dz, file, id, function (name) { return r.headers.get(name); }); });
      },
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  Dropzone.options.dropper = {
    paramName: "file",
    url: "/upload",
    chunking: true,
    forceChunking: settings.forceChunking,
    parallelChunkUploads: settings.parallelChunkUploads,
    retryChunks: true,
    retryChunksLimit: 5,
    timeout: settings.timeout,
    maxFilesize: settings.maxFilesize,
    chunkSize: settings.chunkSize,
    autoProcessQueue: false,
    parallelUploads: 12, // twice the browser's connections per server: the next file is ready when one frees
    disablePreviews: true, // drawn above instead, see the top of this file
    createImageThumbnails: false,
    init: function () {
      const dz = this;
      this.on("addedfile", function (file) {
        added(file);
        // let Dropzone's own checks (size limit) run first
        setTimeout(function () {
          if (file.status === Dropzone.ERROR) return;
          if (mode === "tus") sendByTus(dz, file);
          else dz.processQueue(); // at most parallelUploads files at a time, in order
        }, 0);
      });
      this.on("uploadprogress", function (file, percent, sent) { progressed(file, sent); });
      this.on("error", function (file, message) {
        ended(file, typeof message === "string" ? message : (message && message.error) || "failed");
      });
      this.on("complete", function () {
        if (mode === "dropzone") dz.processQueue();
      });
      // The reply to the chunk that completed a file (Dropzone passes the last one) says it is stored, with
      // its sha256 and token; ask the server only when it does not (chunks that finished out of order).
      this.on("success", function (file, response) {
        if (mode !== "dropzone") {
          ended(file);
          return;
        }
        if (response && typeof response === "object" && response.state === "done") {
          remember(response);
          ended(file);
          return;
        }
        ask(file, 20);
      });
      // while another request of the same file is finishing it, ask again a little later
      function ask(file, tries) {
        fetch("/upload/" + encodeURIComponent(file.upload.uuid), { credentials: "same-origin" })
          .then((r) => r.json())
          .then((info) => {
            if (info && info.state === "done") {
              remember(info);
              ended(file);
            } else if (tries > 1 && info && (info.state === "finishing" || info.state === "partial")) {
              setTimeout(function () { ask(file, tries - 1); }, 250);
            } else {
              ended(file, "the server did not store it" + (info && info.error ? ": " + info.error : ""));
            }
          });
      }
    },
  };
})();
