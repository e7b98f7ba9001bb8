"""`calamity drop`: a self-hosted, resumable drop box for large files from the browser.

The server speaks Dropzone.js's chunk protocol (the tutorial's *pyfiledrop*) and plain multipart uploads, keeps
its state in an SQLite ledger beside the files, and never shows a half-written file.
"""

from __future__ import annotations

from codecalamity.drop.app import create_app
from codecalamity.drop.config import DropConfig

__all__ = ["DropConfig", "create_app"]
