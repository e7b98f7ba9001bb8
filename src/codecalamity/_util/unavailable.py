"""A placeholder command for a tool whose issue has not landed yet (exit 2)."""

from __future__ import annotations

import click

from codecalamity._errors import UsageError


def not_yet(tool: str) -> click.Command:
    """Return a command named ``status`` that says ``tool`` is not available in this version."""

    @click.command("status")
    def status() -> None:
        """Say whether this tool is available yet."""
        raise UsageError(f"'calamity {tool}' is not available yet in this version")

    return status
