"""``calamity paint``: draw text, a picture, levels or an X in the per-core CPU usage graph."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from codecalamity._errors import UsageError
from codecalamity._util.durations import parse_duration


@click.command("paint")
@click.argument("text", required=False)
@click.option("--levels", default=None, help="A load per core, e.g. 100,90,80 (the tutorial's staircase).")
@click.option("--shape", type=click.Choice(["x"]), default=None, help="A shape across the grid of cores.")
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Picture to draw.")
@click.option("--invert", is_flag=True, help="With --image: bright pixels are high load.")
@click.option("--cores", default=None, help="Cores to use, e.g. 0,2,4 or 0-3 (default: all).")
@click.option("--physical", is_flag=True, help="One logical core per physical core (skip hyper-threads).")
@click.option("--duration", default="60s", show_default=True, help="How long to run (90s, 2m).")
@click.option("--columns", default=30, show_default=True, type=click.IntRange(2, 600), help="Columns per 60 s.")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Draw the target.")
@click.option("--watch", is_flag=True, help="Show live per-core usage beside the target.")
@click.option("--dry-run", is_flag=True, help="Only write --preview; burn no CPU.")
@click.option(
    "--own-share",
    is_flag=True,
    help="Hold our own CPU share at the target, on top of other programs (default: the core's total).",
)
def paint(
    text: str | None,
    levels: str | None,
    shape: str | None,
    image: Path | None,
    invert: bool,
    cores: str | None,
    physical: bool,
    duration: str,
    columns: int,
    preview: Path | None,
    watch: bool,
    dry_run: bool,
    own_share: bool,
) -> None:
    """Draw TEXT (or --levels, --shape x, --image) in the per-core CPU usage graph.

    \b
    calamity paint "HI" --duration 90s --watch
    calamity paint --levels 100,90,80,70,60,50,40,30,20,10
    calamity paint --image logo.png --preview what.png --dry-run

    Each core's total load (what the monitor shows) follows the picture: the workers burn only what other
    programs leave. Where they alone are above the target, the cell cannot go lower (marked in --preview and
    --watch).
    """
    from codecalamity.paint import cores as topology
    from codecalamity.paint import pattern as patterns

    chosen_kinds = [k for k, v in (("TEXT", text), ("--levels", levels), ("--shape", shape), ("--image", image)) if v]
    if len(chosen_kinds) != 1:
        raise UsageError("give exactly one of TEXT, --levels, --shape or --image")
    seconds = parse_duration(duration)
    if seconds <= 0:
        raise UsageError("--duration must be longer than zero")
    chosen = topology.parse(cores, topology.usable())
    if physical:
        chosen = topology.physical(chosen)
    if levels is not None:
        try:
            values = [float(v) for v in levels.split(",")]
        except ValueError:
            raise UsageError(f"--levels must be numbers 0-100, got {levels!r}") from None
        plan = patterns.levels(values, len(chosen))
    elif shape is not None:
        plan = patterns.shape_x(len(chosen))
    elif image is not None:
        plan = patterns.image(image, len(chosen), window_columns=columns, invert=invert)
    else:
        plan = patterns.text(text or "", len(chosen), window_columns=columns)
    if preview is not None:
        from codecalamity.paint.preview import draw
        from codecalamity.paint.sensor import busy_shares

        floor = None if own_share else {c: 100.0 * v for c, v in busy_shares(chosen, PREVIEW_SAMPLE).items()}
        at, low = draw(plan, chosen, preview, seconds, floor)
        click.echo(f"preview (at {at:.0f} s): {preview}", err=True)
        if low:
            cells = ", ".join(f"core {core} (others use {floor[core]:.0f}%)" for core in low if floor)
            click.echo(f"cannot go lower (hatched in the preview) on {cells}", err=True)
    if dry_run:
        return
    _run(plan, chosen, seconds, watch, own_share)


PREVIEW_SAMPLE = 0.5
# Seconds of the cores' current load that the preview marks as the floor no target can go below.


def _run(plan: object, chosen: list[int], seconds: float, watch: bool, own_share: bool) -> None:
    from codecalamity.paint import cores as topology
    from codecalamity.paint.pattern import Pattern
    from codecalamity.paint.workers import Painter, stop_on_signals

    assert isinstance(plan, Pattern)
    pin = topology.can_pin()
    if not pin:
        click.echo(
            "warning: this system cannot pin a process to a core (macOS); running unpinned, adding our own share",
            err=True,
        )
    with stop_on_signals() as stop, Painter(plan, chosen, seconds, pin=pin, own_share=own_share) as painter:
        mode = "our own share" if own_share else "each core's total"
        cores = ",".join(map(str, chosen))
        click.echo(f"painting {mode} on cores {cores} for {seconds:g} s (Ctrl+C stops)", err=True)
        viewer = None
        if watch:
            from codecalamity.paint.watch import watch as show

            viewer = threading.Thread(target=show, args=(plan, chosen, painter, stop), daemon=True)
            viewer.start()
        achieved = painter.wait(stop)
        stop.set()
        if viewer is not None:
            viewer.join(timeout=3)
    if achieved:
        parts = []
        for core, held in sorted(achieved.items()):
            if held.total is None:
                parts.append(f"{core}: {held.own:.1f}%")
            else:
                parts.append(f"{core}: {held.total:.1f}% (ours {held.own:.1f}%, others {held.background:.1f}%)")
        click.echo(f"mean load per core, as a monitor saw it: {', '.join(parts)}", err=True)
    else:
        click.echo("stopped", err=True)
