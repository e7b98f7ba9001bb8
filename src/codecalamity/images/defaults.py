"""Defaults shared by the library and the CLI, in a module light enough for ``--help`` to import."""

from __future__ import annotations

DEFAULT_METHOD = "model"
