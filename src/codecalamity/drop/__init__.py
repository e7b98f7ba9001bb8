"""`calamity drop`: a self-hosted, resumable drop box for large files from the browser.

The server speaks the tus protocol and Dropzone.js's chunk protocol (the tutorial's *pyfiledrop*) and plain
multipart uploads, keeps its state in an SQLite ledger beside the files, and never shows a half-written file.
The names below are imported on first use, so that ``calamity --help`` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codecalamity._util.lazy import lazy_getattr

if TYPE_CHECKING:
    from codecalamity.drop.app import create_app
    from codecalamity.drop.config import DropConfig

__all__ = ["DropConfig", "create_app"]
__getattr__ = lazy_getattr(__name__, {"create_app": "app", "DropConfig": "config"})
