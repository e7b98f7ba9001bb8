/* The drop page. Dropzone draws the drop zone and the previews; the bytes go either by tus (one resumable
   stream per file, through tus-js-client: the default, measured about 4x faster in Chromium) or by Dropzone's
   own chunked, parallel, retried uploads (the tutorial's protocol). This browser's uploads are listed from
   localStorage. Every name from a file or the server is set with textContent, never as HTML. */
"use strict";
(function () {
  const settings = JSON.parse(document.getElementById("drop-config").textContent);
  const STORE = "calamity-drop-uploads";
  const MODE = "calamity-drop-mode";
  const tbody = document.querySelector("#uploaded tbody");
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

  function save(items) {
    localStorage.setItem(STORE, JSON.stringify(items));
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

  function addRow(item) {
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
    tbody.appendChild(row);
  }

  // The list is read once and written back at most every half second (and when the page goes away): with
  // thousands of small files, reading and writing it whole for each one took longer than sending them.
  let items = null;
  let saving = null;
  function flush() {
    if (saving !== null) { clearTimeout(saving); saving = null; }
    if (items !== null) save(items);
  }
  window.addEventListener("pagehide", flush);
  function remember(info) {
    const item = { id: info.id, name: info.name, size: info.size, sha256: info.sha256, token: info.token };
    if (items === null) items = load().filter((x) => x.id !== item.id);
    items.push(item);
    if (saving === null) saving = setTimeout(flush, 500);
    addRow(item);
  }

  document.getElementById("clear").addEventListener("click", function () {
    if (saving !== null) { clearTimeout(saving); saving = null; }
    items = [];
    localStorage.removeItem(STORE);
    tbody.textContent = "";
  });

  document.querySelectorAll("input[name=mode]").forEach(function (radio) {
    radio.checked = radio.value === mode;
    radio.addEventListener("change", function () {
      mode = radio.value;
      localStorage.setItem(MODE, mode);
    });
  });

  load().forEach(addRow);

  // tus: one PATCH stream per file, resumed after a dropped connection or a page reload. A small file goes
  // with its creation request (one round trip instead of two): nothing to resume there, so nothing is
  // remembered for it either. At most PARALLEL files are in flight (twice the browser's connections per server,
  // so the next one is ready when a connection frees); the others wait their turn in order.
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
    waiting.push(function (finished) { startTus(dz, file, finished); });
    next();
  }
  function startTus(dz, file, finished) {
    const small = file.size <= SMALL;
    const upload = new tus.Upload(file, {
      endpoint: "/files/",
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      uploadDataDuringCreation: small,
      storeFingerprintForResuming: !small,
      removeFingerprintOnSuccess: true,
      // Dropzone recounts every file's progress on each event: with thousands of small files that made the
      // page slower with every file. A small file's bar just fills when it is stored.
      onProgress: small ? null : function (sent, total) {
        dz.emit("uploadprogress", file, total ? (100 * sent) / total : 100, sent);
      },
      onError: function (err) {
        finished();
        dz.emit("error", file, String((err && err.message) || err).split("\n")[0]);
        dz.emit("complete", file);
      },
      onSuccess: function (payload) {
        finished();
        const last = payload && payload.lastResponse;
        const stored = function (headers) {
          remember({
            id: upload.url.split("/").pop(),
            name: file.name,
            size: file.size,
            sha256: headers("Upload-Sha256"),
            token: headers("Upload-Token"),
          });
          file.status = Dropzone.SUCCESS;
          dz.emit("success", file, "");
          dz.emit("complete", file);
        };
        // the reply that finished the upload carries the checksum and token; ask again only if it did not
        if (last && last.getHeader("Upload-Token")) {
          stored(function (name) { return last.getHeader(name); });
          return;
        }
        fetch(upload.url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, credentials: "same-origin" })
          .then(function (r) { stored(function (name) { return r.headers.get(name); }); });
      },
    });
    if (small) {
      upload.start();
      return;
    }
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
    init: function () {
      const dz = this;
      this.on("addedfile", function (file) {
        // let Dropzone's own checks (size limit) run first
        setTimeout(function () {
          if (file.status === Dropzone.ERROR) return;
          if (mode === "tus") sendByTus(dz, file);
          else dz.processQueue(); // at most parallelUploads files at a time, in order
        }, 0);
      });
      this.on("complete", function () {
        if (mode === "dropzone") dz.processQueue();
      });
      // The reply to the chunk that completed a file (Dropzone passes the last one) says it is stored, with
      // its sha256 and token; ask the server only when it does not (chunks that finished out of order).
      this.on("success", function (file, response) {
        if (mode !== "dropzone") return;
        if (response && typeof response === "object" && response.state === "done") {
          remember(response);
          return;
        }
        fetch("/upload/" + encodeURIComponent(file.upload.uuid), { credentials: "same-origin" })
          .then((r) => r.json())
          .then((info) => { if (info && info.state === "done") remember(info); });
      });
    },
  };
})();
