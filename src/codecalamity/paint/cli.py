"""The ``calamity paint`` command group."""

from __future__ import annotations

import click

from codecalamity._util.unavailable import not_yet


@click.group("paint", invoke_without_command=True)
@click.pass_context
def paint(ctx: click.Context) -> None:
    """Draw text and pictures in the per-core CPU graph (not available yet)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(not_yet("paint"))


paint.add_command(not_yet("paint"))
