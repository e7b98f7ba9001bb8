"""The ``calamity images`` command group."""

from __future__ import annotations

import click

from codecalamity._util.unavailable import not_yet


@click.group("images", invoke_without_command=True)
@click.pass_context
def images(ctx: click.Context) -> None:
    """Tell cartoons and drawings from photos (not available yet)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(not_yet("images"))


images.add_command(not_yet("images"))
