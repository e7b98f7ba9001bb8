"""Logging set-up for the CLI: ``-v`` raises the level, library modules only log."""

from __future__ import annotations

import logging

from rich.logging import RichHandler


def setup_logging(verbosity: int) -> None:
    """Send log records to stderr; 0 shows warnings, 1 info, 2 or more debug."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
        force=True,
    )
