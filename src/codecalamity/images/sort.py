"""``sort``: move (or copy) images into DEST/cartoon, DEST/photo, DEST/unsure, journaled so it can be undone.

Crash-safe by construction: before each file is touched, an intent line (source, destination) is appended to
the journal and flushed to disk; the move itself is one rename that never replaces an existing file
(``renameat2(RENAME_NOREPLACE)`` on Linux, a hard link then unlink elsewhere), and copies are written to a hidden
temporary folder first. Killed at any instant, every file is either untouched or moved and journaled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import errno
import json
import os
import shutil
import time
from pathlib import Path

from codecalamity._errors import CalamityError

JOURNAL_PREFIX = "calamity-sort-journal-"
TMP_DIR = ".calamity-tmp"
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


class SortError(CalamityError):
    """A file could not be sorted or put back."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One journaled operation: ``op`` is move or copy."""

    op: str
    src: str
    dst: str


def _libc_renameat2() -> object | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    fn = getattr(ctypes.CDLL(name, use_errno=True), "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


_RENAMEAT2 = _libc_renameat2()


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` atomically; FileExistsError if ``dst`` exists; OSError(EXDEV) across devices."""
    if _RENAMEAT2 is not None:
        rc = _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)  # type: ignore[operator]
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: the file system does not support the flag
            raise (
                OSError(err, os.strerror(err), str(dst))
                if err != errno.EEXIST
                else FileExistsError(err, os.strerror(err), str(dst))
            )
    os.link(src, dst)  # fails with FileExistsError, never replaces
    os.unlink(src)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (n).ext`` for the first n that is free."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate = folder / name
    n = 1
    while candidate.exists():
        candidate = folder / f"{stem} ({n}){suffix}"
        n += 1
    return candidate


class Journal:
    """An append-only JSON-lines record of every operation, flushed and fsynced before each one is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # closed in close()

    @classmethod
    def create(cls, dest: Path) -> Journal:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = free_name(dest, f"{JOURNAL_PREFIX}{stamp}.jsonl")
        return cls(path)

    def intend(self, entry: Entry) -> None:
        self._file.write(json.dumps(dataclasses.asdict(entry)) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def read(path: Path) -> list[Entry]:
        """Every complete line of a journal (a line cut short by a crash is ignored)."""
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(Entry(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return entries


def place(journal: Journal, src: Path, folder: Path, *, copy: bool) -> Path:
    """Move or copy ``src`` into ``folder`` under a free name, journaling the intent first; return the new path."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        dst = free_name(folder, src.name)
        journal.intend(Entry("copy" if copy else "move", str(src.resolve()), str(dst.resolve())))
        try:
            if copy:
                _copy_noreplace(src, dst)
            else:
                try:
                    rename_noreplace(src, dst)
                except OSError as err:
                    if err.errno != errno.EXDEV:
                        raise
                    _copy_noreplace(src, dst)
                    os.unlink(src)
            return dst
        except FileExistsError:
            continue  # someone took the name between the check and the rename: pick another
    raise SortError(f"no free name for {src.name} in {folder}")


def _copy_noreplace(src: Path, dst: Path) -> None:
    tmp_dir = dst.parent.parent / TMP_DIR
    tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / f"{os.getpid()}-{time.monotonic_ns()}{src.suffix}"
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        rename_noreplace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        tmp_dir.rmdir()
    except OSError:
        pass


@dataclasses.dataclass
class UndoReport:
    """What ``undo`` did: files put back, copies removed, and problems."""

    restored: int = 0
    removed: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)


def undo(journal_path: Path) -> UndoReport:
    """Put every moved file back and remove every copy, newest first; files already back are skipped."""
    if not journal_path.is_file():
        raise SortError(f"no journal at {journal_path}")
    report = UndoReport()
    for entry in reversed(Journal.read(journal_path)):
        src, dst = Path(entry.src), Path(entry.dst)
        if not dst.exists():
            continue  # the operation never happened (killed after the intent), or was undone already
        try:
            if entry.op == "copy":
                dst.unlink()
                report.removed += 1
            else:
                src.parent.mkdir(parents=True, exist_ok=True)
                rename_noreplace(dst, src)
                report.restored += 1
        except FileExistsError:
            report.problems.append(f"{src} exists again; left {dst} where it is")
        except OSError as err:
            report.problems.append(f"{dst}: {err.strerror or err}")
    return report
