"""``classify``: one image in, a verdict out; and the parallel batch version the commands use."""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from codecalamity.images import methods
from codecalamity.images.defaults import DEFAULT_METHOD
from codecalamity.images.loading import ImageError, is_image_path, load_image
from codecalamity.images.types import Source

T = TypeVar("T")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a method says about one image: ``label`` is cartoon, photo or unsure; ``score`` is P(cartoon)."""

    label: str
    score: float
    method: str


@dataclasses.dataclass(frozen=True)
class Result:
    """One file's outcome in a batch: a verdict, or the reason it failed."""

    path: Path
    verdict: Verdict | None
    error: str | None = None


def label_for(score: float, cartoon_above: float, photo_below: float) -> str:
    """``cartoon`` at or above ``cartoon_above``, ``photo`` at or below ``photo_below``, else ``unsure``."""
    if score >= cartoon_above:
        return "cartoon"
    if score <= photo_below:
        return "photo"
    return "unsure"


def classify(
    source: Source,
    method: str = DEFAULT_METHOD,
    *,
    cartoon_above: float | None = None,
    photo_below: float | None = None,
) -> Verdict:
    """Say whether an image is a cartoon or a photo.

    Parameters
    ----------
    source
        A path, the file's bytes, or a decoded array (BGR or grayscale, optionally with alpha).
    method
        A registered method name (see :func:`codecalamity.images.methods.names`).
    cartoon_above, photo_below
        Score thresholds for the label; the method's defaults when None.

    Raises
    ------
    ImageError
        The image could not be loaded.
    UsageError
        Unknown method or thresholds out of order.
    """
    chosen = methods.get(method)
    high, low = thresholds(method, cartoon_above, photo_below)
    (score,) = chosen.score_batch([load_image(source, size=chosen.size, background=chosen.background)])
    return Verdict(label_for(score, high, low), score, chosen.name)


def thresholds(method: str, cartoon_above: float | None, photo_below: float | None) -> tuple[float, float]:
    """The sort thresholds to use: the given ones, else the method's defaults; checked to be in order.

    Raises
    ------
    UsageError
        Unknown method, or not 0 <= photo_below <= cartoon_above <= 1.
    """
    from codecalamity._errors import UsageError

    chosen = methods.get(method)
    high = chosen.cartoon_above if cartoon_above is None else cartoon_above
    low = chosen.photo_below if photo_below is None else photo_below
    if not 0.0 <= low <= high <= 1.0:
        raise UsageError(f"thresholds must satisfy 0 <= --photo-below ({low}) <= --cartoon-above ({high}) <= 1")
    return high, low


def find_images(paths: Iterable[Path]) -> list[Path]:
    """Image files among ``paths``, looking into folders recursively, sorted, hidden files skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and is_image_path(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def classify_many(
    paths: list[Path],
    method: str,
    cartoon_above: float,
    photo_below: float,
    *,
    workers: int | None = None,
    on_done: Callable[[Result], None] | None = None,
) -> Iterator[Result]:
    """Classify many files on all cores (OpenCV and Pillow release the GIL); results in input order."""
    chosen = methods.get(method)

    def one(path: Path) -> Result:
        try:
            (score,) = chosen.score_batch([load_image(path, size=chosen.size, background=chosen.background)])
        except ImageError as err:
            return Result(path, None, str(err))
        return Result(path, Verdict(label_for(score, cartoon_above, photo_below), score, chosen.name))

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = (
            bounded_map(pool, one, paths, 4 * (os.cpu_count() or 1))
            if chosen.batch == 1
            else _batched(pool, chosen, paths, cartoon_above, photo_below)
        )
        for result in results:
            if on_done is not None:
                on_done(result)
            yield result


def bounded_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """``pool.map`` in order, but with at most ``window`` items in flight, so memory stays flat."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _batched(
    pool: ThreadPoolExecutor, method: methods.Method, paths: list[Path], cartoon_above: float, photo_below: float
) -> Iterator[Result]:
    """Decode on the pool's threads while the method scores batches (a model uses every core itself)."""

    def load(path: Path) -> tuple[Path, object]:
        try:
            return path, load_image(path, size=method.size, background=method.background)
        except ImageError as err:
            return path, err

    pending: list[tuple[Path, object]] = []

    def flush() -> Iterator[Result]:
        good = [(p, img) for p, img in pending if not isinstance(img, ImageError)]
        scores = iter(method.score_batch([img for _, img in good]))  # type: ignore[misc]
        for path, img in pending:
            if isinstance(img, ImageError):
                yield Result(path, None, str(img))
            else:
                score = next(scores)
                yield Result(path, Verdict(label_for(score, cartoon_above, photo_below), score, method.name))
        pending.clear()

    for item in bounded_map(pool, load, paths, 2 * method.batch):
        pending.append(item)
        if len(pending) >= method.batch:
            yield from flush()
    yield from flush()
