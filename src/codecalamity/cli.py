"""The root ``calamity`` command: wires the four tools' groups together and maps errors to exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from codecalamity import __version__
from codecalamity._errors import CalamityError
from codecalamity._util.logs import setup_logging

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# Each tool's group, imported only when it is used: `calamity drop send` starts without loading the others.
TOOLS = {
    "images": "codecalamity.images.cli",
    "drop": "codecalamity.drop.cli",
    "awake": "codecalamity.awake.cli",
    "paint": "codecalamity.paint.cli",
}


class _Root(click.Group):
    """The root group: loads a tool's group on first use; turns a :class:`CalamityError` into one line and its exit
    code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(TOOLS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in TOOLS:
            return None
        command = getattr(importlib.import_module(TOOLS[cmd_name]), cmd_name)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CalamityError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"error: {err}", err=True, fg="red")
            ctx.exit(err.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except OSError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"error: {err} (run with --debug for the traceback)", err=True, fg="red")
            ctx.exit(1)


@click.group(cls=_Root, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="calamity")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, debug: bool) -> None:
    """Practical tools that grew out of tutorials.

    \b
    images  tell cartoons/drawings from photos, sort folders
    drop    a self-hosted drop box for large files from the browser
    awake   keep the computer awake while work runs
    paint   draw text and pictures in the per-core CPU usage graph
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    setup_logging(verbose + (2 if debug else 0))


def main() -> None:
    """Entry point of the ``calamity`` console script."""
    try:
        cli.main(prog_name="calamity")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
