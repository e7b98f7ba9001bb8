"""File names from untrusted clients made safe to show and to store."""

from __future__ import annotations

import re
import unicodedata

# Longest stored name in UTF-8 bytes; most file systems allow 255, and collisions add a suffix.
MAX_NAME_BYTES = 200

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_ON_DISK = re.compile(r'[<>:"|?*]')


def display_name(raw: str) -> str:
    """The name as the user gave it, less any folders and control characters, cut to a sane length."""
    # browsers send '"' in a multipart file name as %22 (WHATWG HTML, "multipart/form-data encoding")
    name = raw.replace("%22", '"').replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", unicodedata.normalize("NFC", name)).strip()
    return _fit(name, 1000) or "upload"


def disk_name(raw: str) -> str:
    """A name that is safe as one path component on Linux, macOS and Windows, keeping the extension."""
    name = _UNSAFE_ON_DISK.sub("_", display_name(raw))
    name = name.strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        stem = "_" + stem
    name = _fit(stem + (f".{ext}" if ext else ""), MAX_NAME_BYTES).strip(" .")
    return name or "upload"


def numbered(name: str, n: int) -> str:
    """``report.pdf`` becomes ``report (n).pdf``: the n-th alternative when the name is taken."""
    if n == 0:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"


def shown_as(key: str, name: str) -> bool:
    """Whether ``key`` is one of the names a file called ``name`` is stored under (``name``, ``name (n)``)."""
    base = disk_name(name)
    return key == base or any(numbered(base, int(n)) == key for n in re.findall(r" \((\d+)\)", key))


def _fit(name: str, max_bytes: int) -> str:
    """Cut ``name`` to ``max_bytes`` of UTF-8, shortening the stem so that a short extension survives."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 20:
        return _truncate(name, max_bytes)
    return _truncate(stem, max_bytes - len(ext.encode()) - 1) + "." + ext


def _truncate(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")
