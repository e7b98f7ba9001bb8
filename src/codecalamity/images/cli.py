"""``calamity images``: classify, sort (and undo), evaluate, explain."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from codecalamity._errors import CalamityError, UsageError
from codecalamity._util.output import print_json
from codecalamity._util.progress import progress
from codecalamity.images.defaults import DEFAULT_METHOD

METHOD_HELP = "Method: model (the default), blur, palette or edges."


@click.group("images")
def images() -> None:
    """Tell cartoons and drawings from photos; sort folders into cartoon/photo/unsure."""


def _thresholds(method: str, cartoon_above: float | None, photo_below: float | None) -> tuple[float, float]:
    from codecalamity.images.classifier import thresholds

    return thresholds(method, cartoon_above, photo_below)


F = TypeVar("F", bound=Callable[..., Any])


def _use_model(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None:
        from codecalamity.images.methods.model import use_head_file

        use_head_file(value)
    return value


def _threshold_options(f: F) -> F:
    f = click.option("--photo-below", type=float, default=None, help="Score at or below which it is a photo.")(f)
    f = click.option("--cartoon-above", type=float, default=None, help="Score at or above which it is a cartoon.")(f)
    f = _model_option(f)
    return click.option("--method", "-m", default=DEFAULT_METHOD, show_default=True, help=METHOD_HELP)(f)


def _model_option(f: F) -> F:
    return click.option(
        "--model",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        callback=_use_model,
        expose_value=False,
        is_eager=True,
        help="A head trained by `calamity images train` to use as the model method.",
    )(f)


@images.command("classify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_threshold_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.pass_context
def classify_cmd(
    ctx: click.Context,
    paths: tuple[Path, ...],
    method: str,
    cartoon_above: float | None,
    photo_below: float | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Say for each image (folders: recursively) whether it is a cartoon, a photo, or unsure."""
    from codecalamity.images.classifier import classify_many, find_images

    high, low = _thresholds(method, cartoon_above, photo_below)
    files = find_images(paths)
    if not files:
        raise UsageError("no image files found")
    results = list(classify_many(files, method, high, low))
    rows: list[dict[str, Any]] = [
        {"file": str(r.path), "label": r.verdict.label, "score": round(r.verdict.score, 4), "method": r.verdict.method}
        if r.verdict
        else {"file": str(r.path), "label": "error", "score": None, "method": method, "error": r.error}
        for r in results
    ]
    if as_json:
        print_json(rows)
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=["file", "label", "score", "method", "error"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("label", "score", "method", "file")
        table.columns[3].overflow = "fold"
        for row in rows:
            score = "" if row["score"] is None else f"{row['score']:.3f}"
            table.add_row(str(row["label"]), score, str(row["method"]), row["file"])
        Console(soft_wrap=True).print(table)
    failed = [r for r in results if r.verdict is None]
    for r in failed:
        click.echo(f"failed: {r.path}: {r.error}", err=True)
    if failed:
        ctx.exit(1)


@images.command("sort")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "dest", required=True, type=click.Path(file_okay=False, path_type=Path), help="Destination.")
@_threshold_options
@click.option("--copy", is_flag=True, help="Copy instead of moving.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
@click.option("--keep-awake", is_flag=True, help="Keep the computer awake while sorting.")
@click.pass_context
def sort_cmd(
    ctx: click.Context,
    src: Path,
    dest: Path,
    method: str,
    cartoon_above: float | None,
    photo_below: float | None,
    copy: bool,
    dry_run: bool,
    keep_awake: bool,
) -> None:
    """Move every image under SRC into DEST/cartoon, DEST/photo or DEST/unsure; never overwrite."""
    import contextlib

    from codecalamity.images.classifier import classify_many, find_images
    from codecalamity.images.sort import Journal, place

    high, low = _thresholds(method, cartoon_above, photo_below)
    dest_resolved = dest.resolve()
    files = [p for p in find_images([src]) if not p.resolve().is_relative_to(dest_resolved)]
    if not files:
        raise UsageError(f"no image files under {src}")
    counts = {"cartoon": 0, "photo": 0, "unsure": 0}
    failed: list[tuple[Path, str]] = []
    awake: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if keep_awake:
        from codecalamity.awake import keep_awake as keep

        awake = keep(reason="calamity images sort")
    journal = None
    if not dry_run:
        dest.mkdir(parents=True, exist_ok=True)
        journal = Journal.create(dest)
        click.echo(f"journal: {journal.path}  (undo with: calamity images undo {journal.path})", err=True)
    try:
        with awake, progress(disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("sorting", total=len(files))
            for result in classify_many(files, method, high, low):
                bar.advance(task)
                if result.verdict is None:
                    failed.append((result.path, result.error or ""))
                    continue
                label = result.verdict.label
                counts[label] += 1
                if journal is None:
                    click.echo(f"would {'copy' if copy else 'move'} {result.path} -> {dest / label}")
                else:
                    try:
                        place(journal, result.path, dest / label, copy=copy)
                    except (OSError, CalamityError) as err:
                        failed.append((result.path, str(err)))
    finally:
        if journal is not None:
            journal.close()
    click.echo(
        f"{'would sort' if dry_run else 'sorted'}: {counts['cartoon']} cartoon, {counts['photo']} photo, "
        f"{counts['unsure']} unsure; {len(failed)} failed",
        err=True,
    )
    for path, reason in failed:
        click.echo(f"failed (left in place): {path}: {reason}", err=True)
    if failed:
        ctx.exit(1)


@images.command("undo")
@click.argument("journal", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def undo_cmd(ctx: click.Context, journal: Path) -> None:
    """Put back every file a sort moved (and remove the copies it made), from its JOURNAL."""
    from codecalamity.images.sort import undo

    report = undo(journal)
    click.echo(f"restored {report.restored} file(s), removed {report.removed} copy(ies)", err=True)
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if report.problems:
        ctx.exit(1)


@images.command("evaluate")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_model_option
@click.option("--method", "-m", "method_names", multiple=True, help="A method to evaluate (repeatable; default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write score histograms.")
def evaluate_cmd(folder: Path, method_names: tuple[str, ...], as_json: bool, plot: Path | None) -> None:
    """Accuracy, recall per class, confusion and speed of each method on FOLDER/cartoon and FOLDER/photo."""
    from codecalamity.images import methods
    from codecalamity.images.evaluate import evaluate_method, labeled_files, summary_json
    from codecalamity.images.evaluate import plot as draw

    chosen = list(method_names) or methods.names()
    for name in chosen:
        methods.get(name)
    files = labeled_files(folder)
    reports = [evaluate_method(name, files) for name in chosen]
    if as_json:
        print_json(summary_json(reports))
    else:
        click.echo(f"{len(files)} images")
        for r in reports:
            c = r.confusion
            click.echo(
                f"{r.name:8} accuracy {r.accuracy:6.1%}  recall cartoon {r.recall['cartoon']:6.1%} "
                f"photo {r.recall['photo']:6.1%}  unsure {r.unsure:5.1%}  {r.images_per_second:7.1f} images/s  "
                f"confusion [cartoon->{c['cartoon']['cartoon']}/{c['cartoon']['photo']}, "
                f"photo->{c['photo']['cartoon']}/{c['photo']['photo']}]"
            )
    if plot is not None:
        draw(reports, plot)
        click.echo(f"plot: {plot}", err=True)


@images.command("explain")
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG sheet to write.")
def explain_cmd(image: Path, out: Path) -> None:
    """Draw what each measure sees in IMAGE, with the scores, into a PNG sheet."""
    from codecalamity.images.explain import explain

    scores = explain(image, out, title=image.name)
    click.echo(" ".join(f"{k}={v:.3f}" for k, v in scores.items()))
    click.echo(f"sheet: {out}", err=True)


@images.command("train")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file to write.")
@click.option("--seed", default=0, show_default=True, help="Seed for the validation split.")
def train_cmd(folder: Path, out: Path, seed: int) -> None:
    """Train the model method on FOLDER/cartoon and FOLDER/photo; use it with --model OUT."""
    from codecalamity.images.train import train

    with progress(disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("features", total=None)
        report = train(
            folder,
            out,
            seed=seed,
            progress=lambda n: bar.advance(task, n),
            on_count=lambda n: bar.update(task, total=n),
        )
    click.echo(
        f"held-out accuracy {report.accuracy:.1%} (cartoon recall {report.recall['cartoon']:.1%}, "
        f"photo recall {report.recall['photo']:.1%}) on {report.n_validation} images; "
        f"trained on {report.n_train}"
    )
    click.echo(f"model: {out}  (use it with: calamity images classify --model {out} ...)", err=True)
