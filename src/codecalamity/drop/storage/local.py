"""The embedded default storage: a folder on the local disk.

Partial uploads are sparse files in the chunks folder, written at each chunk's offset. A finished upload is
hashed, then appears in the storage folder through one hard link (or, across file systems, a copy to a hidden
temporary name and then a link), so a reader never sees a half-written file and nothing is ever overwritten.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from codecalamity.drop.names import disk_name, numbered, shown_as
from codecalamity.drop.storage import ChunkWriter, Piece

HASH_BLOCK = 256 * 1024
# Read size when hashing or copying a finished upload. Small on purpose: each finishing thread keeps one buffer,
# and with 4 MiB the worker threads' malloc arenas held some 40 MB (server RSS 84 MB taking Dropzone chunks).
COMMIT_EVERY = 4 * 1024 * 1024
LEDGER_NAME = ".calamity-drop.sqlite3"
INCOMING = ".incoming"
_NO_COPY_RANGE = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)


class _FileWriter:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY)
        self._end = -1

    def write_at(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written
        self._end = offset

    def expect(self, end: int) -> None:
        pass  # written in place as the bytes come anyway

    async def drain(self) -> None:
        pass  # written in place, synchronously

    async def checkpoint(self) -> tuple[int, list[Piece]] | None:
        return None if self._end < 0 else (self._end, [])

    async def flush(self) -> list[Piece]:
        return []

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


class LocalStorage:
    """The embedded default: finished files in ``root``, partial uploads in ``chunks``.

    Parameters
    ----------
    root
        The storage folder; also holds the ledger and a hidden ``.incoming`` folder.
    chunks
        The folder for partial uploads (``<upload id>.part``).
    """

    def __init__(self, root: Path, chunks: Path) -> None:
        self.root = root.resolve()
        self.chunks = chunks.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.chunks.mkdir(parents=True, exist_ok=True)
        self.preallocates = hasattr(os, "posix_fallocate")
        self._root_sync = DirSync(self.root)
        self.commit_every = COMMIT_EVERY
        self.writes_in_place = True
        self.links_cheaply = True

    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger beside the stored files."""
        return self.root / LEDGER_NAME

    def _partial(self, upload_id: str) -> Path:
        # upload ids are canonical UUIDs by the time they get here (see chunks.parse_upload_id)
        return self.chunks / f"{upload_id}.part"

    def prepare(self, upload_id: str, size: int) -> None:
        path = self._partial(upload_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return
        try:
            self._allocate(fd, size)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)

    def _allocate(self, fd: int, size: int) -> None:
        # Reserve the whole upload up front: a disk that fills up later cannot fail it half-way.
        if self.preallocates and size > 0:
            try:
                os.posix_fallocate(fd, 0, size)
                return
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                self.preallocates = False
        os.ftruncate(fd, size)

    def resize(self, upload_id: str, size: int) -> None:
        fd = os.open(self._partial(upload_id), os.O_WRONLY)
        try:
            os.ftruncate(fd, size)  # bytes past the length (from a refused PATCH) go
            self._allocate(fd, size)
        finally:
            os.close(fd)

    def writer(self, upload_id: str) -> ChunkWriter:
        return _FileWriter(self._partial(upload_id))

    def read_partial(self, upload_id: str, offset: int, size: int) -> bytes:
        with open(self._partial(upload_id), "rb", buffering=0) as f:
            return os.pread(f.fileno(), size, offset)

    def has_partial(self, upload_id: str) -> bool:
        return self._partial(upload_id).is_file()

    def digest(self, upload_id: str, size: int, known: str | None = None) -> str:
        path = self._partial(upload_id)
        actual = path.stat().st_size
        if actual != size:
            raise OSError(errno.EIO, f"partial file is {actual} bytes, expected {size}")
        if known is not None:
            with open(path, "rb") as f:
                os.fsync(f.fileno())
            return known
        return _sha256(path, sync=True)

    def concatenate(self, upload_id: str, parts: list[tuple[str, int]]) -> list[Piece]:
        # copy_file_range: the kernel copies (a reflink, no data written, on btrfs or XFS); the bytes never pass
        # through this process. The final upload's sha256 is then read once, by digest().
        total = sum(size for _, size in parts)
        fd = os.open(self._partial(upload_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            self._allocate(fd, total)
            position = 0
            for part_id, size in parts:
                src = os.open(self._partial(part_id), os.O_RDONLY)
                try:
                    if os.fstat(src).st_size != size:
                        raise OSError(errno.EIO, f"partial upload {part_id} is not {size} bytes")
                    _copy_range(src, fd, size, position)
                finally:
                    os.close(src)
                position += size
            os.fsync(fd)
        except OSError:
            os.close(fd)
            self.discard_partial(upload_id)
            raise
        os.close(fd)
        return []

    def place(self, upload_id: str, name: str) -> str:
        src = self._partial(upload_id)
        try:
            return self._link_unique(src, disk_name(name))
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
        incoming = self.root / INCOMING
        incoming.mkdir(exist_ok=True)
        tmp = incoming / f"{upload_id}.part"
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, HASH_BLOCK)
                fout.flush()
                os.fsync(fout.fileno())
            return self._link_unique(tmp, disk_name(name))
        finally:
            tmp.unlink(missing_ok=True)

    def _link_unique(self, src: Path, name: str) -> str:
        for n in range(10000):
            candidate = numbered(name, n)
            try:
                os.link(src, self.root / candidate)
            except FileExistsError:
                continue
            self._root_sync.sync()
            return candidate
        raise OSError(errno.EEXIST, f"no free name for {name!r}")

    def link(self, key: str, name: str) -> str:
        return self._link_unique(self.path(key), disk_name(name))

    def copies(self, name: str, size: int, sha256: str, source: str, partial: bool) -> list[str]:
        """Stored files shown as ``name`` that are the content of ``source`` (a partial id when ``partial``,
        else a stored key): hard links to it, or, when it is on another disk, copies of it."""
        origin_path = self._partial(source) if partial else self.path(source)
        try:
            origin = origin_path.stat()
        except FileNotFoundError:
            return []
        found = []
        for entry in os.scandir(self.root):
            if entry.name.startswith(".") or not shown_as(entry.name, name):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.st_size != size:
                continue
            if os.path.samestat(stat, origin) or (stat.st_dev != origin.st_dev and _sha256(entry.path) == sha256):
                found.append(entry.name)
        return found

    def exists(self, key: str, size: int) -> bool:
        try:
            return self.path(key).stat().st_size == size
        except (OSError, ValueError):
            return False

    def path(self, key: str) -> Path:
        path = self.root / key
        if path.parent != self.root or key.startswith("."):
            raise ValueError(f"not a stored file: {key!r}")
        return path

    def discard_partial(self, upload_id: str) -> None:
        self._partial(upload_id).unlink(missing_ok=True)

    def idle_partials(self, before: float) -> list[str]:
        ids = []
        for entry in os.scandir(self.chunks):
            name, dot, ext = entry.name.rpartition(".")
            try:
                if dot and ext == "part" and entry.stat().st_mtime < before:
                    ids.append(name)
            except FileNotFoundError:
                continue
        return ids

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def free_bytes(self) -> int:
        return min(shutil.disk_usage(self.chunks).free, shutil.disk_usage(self.root).free)

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        with open(self.path(key), "rb") as f:
            f.seek(start)
            while start < stop and (block := f.read(min(HASH_BLOCK, stop - start))):
                start += len(block)
                yield block

    def discard_pieces(self, pieces: list[Piece]) -> None:
        pass  # bytes are written in place: there are never pieces

    def abandon(self, before: float) -> int:
        return 0  # partial files belong to ledger rows, which expire with them

    def close(self) -> None:
        pass


def _sha256(path: Path | str, *, sync: bool = False) -> str:
    """The file's sha256, read in small blocks; with ``sync``, flushed to disk too."""
    sha = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(HASH_BLOCK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            sha.update(view[:n])
        if sync:
            os.fsync(f.fileno())
    return sha.hexdigest()


def _copy_range(src: int, dst: int, size: int, at: int) -> None:
    """Copy ``size`` bytes from the start of ``src`` to ``at`` in ``dst``, in the kernel when it can."""
    done = 0
    while done < size:
        try:
            n = os.copy_file_range(src, dst, size - done, done, at + done)
        except (AttributeError, OSError) as err:  # no copy_file_range here, or not between these files
            if isinstance(err, OSError) and err.errno not in _NO_COPY_RANGE:
                raise
            n = os.pwrite(dst, os.pread(src, min(HASH_BLOCK, size - done), done), at + done)
        if n == 0:
            raise OSError(errno.EIO, "partial upload ended early")
        done += n


class DirSync:
    """fsync of one folder, shared by every thread that asks while one runs (a group commit).

    Each finished upload must have its new name on disk before it is reported stored; uploads finishing together
    then wait for one or two folder flushes between them instead of one each.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._asked = 0
        self._done = 0
        self._running = False

    def sync(self) -> None:
        """Return once a flush that started after this call has finished. Raises OSError."""
        with self._cond:
            self._asked += 1
            ticket = self._asked
            while self._done < ticket and self._running:
                self._cond.wait()
            if self._done >= ticket:
                return
            self._running = True
            covers = self._asked  # every name linked before now is in this flush
        ok = False
        try:
            _fsync_dir(self.path)
            ok = True
        finally:
            with self._cond:
                self._running = False
                if ok:
                    self._done = max(self._done, covers)
                self._cond.notify_all()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
