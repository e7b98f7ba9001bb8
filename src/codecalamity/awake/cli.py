"""The ``calamity awake`` command group."""

from __future__ import annotations

import click

from codecalamity._util.unavailable import not_yet


@click.group("awake", invoke_without_command=True)
@click.pass_context
def awake(ctx: click.Context) -> None:
    """Keep the computer awake while work runs (not available yet)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(not_yet("awake"))


awake.add_command(not_yet("awake"))
