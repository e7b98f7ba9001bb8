/* The drop page: Dropzone with chunked, parallel, retried uploads; this browser's uploads in localStorage.
   Every name from a file or the server is set with textContent, never as HTML. */
"use strict";
(function () {
  const settings = JSON.parse(document.getElementById("drop-config").textContent);
  const STORE = "calamity-drop-uploads";
  const tbody = document.querySelector("#uploaded tbody");

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

  function remember(info) {
    const item = { id: info.id, name: info.name, size: info.size, sha256: info.sha256, token: info.token };
    const items = load().filter((x) => x.id !== item.id);
    items.push(item);
    save(items);
    addRow(item);
  }

  document.getElementById("clear").addEventListener("click", function () {
    localStorage.removeItem(STORE);
    tbody.textContent = "";
  });

  load().forEach(addRow);

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
    // After the last chunk the server has verified and stored the file: ask it for the sha256 and token.
    chunksUploaded: function (file, done) {
      fetch("/upload/" + encodeURIComponent(file.upload.uuid), { credentials: "same-origin" })
        .then((r) => r.json())
        .then((info) => { file.dropInfo = info; done(); })
        .catch(() => done());
    },
    init: function () {
      this.on("success", function (file, response) {
        let info = file.dropInfo;
        if (!info && response && typeof response === "object") info = response;
        if (info && info.state === "done") remember(info);
      });
    },
  };
})();
