"""Leave-one-source-out machinery: folds never see their own source, thresholds keep their precision, the ridge
head fitted from per-source sums is the ridge head of the rows."""

from __future__ import annotations

import numpy as np

from codecalamity.images import ridge
from codecalamity.images.loso import choose_thresholds, pooled_scores, summarise


def test_each_source_is_scored_by_a_fit_that_never_saw_it() -> None:
    groups = ["a", "a", "b", "c", "c", "c"]
    seen: list[set[str]] = []

    def fit(idx: np.ndarray):  # type: ignore[no-untyped-def]
        trained_on = {groups[i] for i in idx}
        seen.append(trained_on)
        return lambda held: np.array([0.9 if groups[i] in trained_on else 0.1 for i in held])

    scores = pooled_scores(groups, fit)
    assert np.allclose(scores, 0.1)  # a leak would have scored 0.9
    assert seen == [{"b", "c"}, {"a", "c"}, {"a", "b"}]


def test_thresholds_keep_moved_files_right_at_the_target() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    scores = np.clip(labels * 0.4 + 0.3 + rng.normal(0, 0.15, 2000), 0, 1)
    high, low = choose_thresholds(scores, labels, precision=0.99)
    assert 0.5 <= high <= 1.0 and 0.0 <= low < 0.5
    summary = summarise(scores, labels, ["g"] * 2000, ["k"] * 2000, high, low)
    assert summary.precision >= 0.99
    assert 0.0 < summary.coverage < 1.0
    looser = summarise(scores, labels, ["g"] * 2000, ["k"] * 2000, 0.5, 0.5)
    assert looser.coverage == 1.0 and looser.precision < 0.99


def test_summary_counts() -> None:
    scores = np.array([0.99, 0.6, 0.4, 0.01])
    labels = np.array([1, 0, 0, 0])
    s = summarise(scores, labels, ["x", "x", "y", "y"], ["c", "p", "p", "p"], 0.9, 0.1)
    assert s.accuracy == 0.75 and s.recall == {"cartoon": 1.0, "photo": 2 / 3}
    assert s.by_group == {"x": (1, 2), "y": (2, 2)}
    assert s.precision == 1.0 and s.coverage == 0.5


def test_ridge_from_sums_matches_ridge_on_rows() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    groups = [str(i % 3) for i in range(60)]
    rows = [x[i : i + 1] for i in range(60)]
    (fitted,) = ridge.fit(ridge.cells(rows, list(y), groups), {"0", "1", "2"}, [0.5])
    # the same problem solved directly: balanced weights, standardised, (C + l2 I) w = c
    w = np.where(y == 1, 1 / (2 * y.sum()), 1 / (2 * (60 - y.sum())))
    t = np.where(y == 1, 1.0, -1.0)
    mean = (w[:, None] * x).sum(axis=0)
    scale = np.sqrt((w[:, None] * (x - mean) ** 2).sum(axis=0)) + 1e-6
    z = (x - mean) / scale
    direct = np.linalg.solve(z.T @ (w[:, None] * z) + 0.5 * np.eye(5), z.T @ (w * (t - (w * t).sum())))
    assert np.allclose(fitted.weights, direct, atol=1e-8)
    assert ((fitted(x) > 0) == y).mean() > 0.9
    (without,) = ridge.fit(ridge.cells(rows, list(y), groups), {"0", "1"}, [0.5])
    assert not np.allclose(without.weights, fitted.weights)  # a group left out changes the fit


def test_kinds_within_a_source_are_damped_as_if_they_were_sources() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(90, 4))
    y = (x[:, 1] + 0.5 * rng.normal(size=90) > 0).astype(int)
    groups = [str(i % 3) for i in range(90)]
    kinds = ["a" if i < 70 else "b" for i in range(90)]
    rows = [x[i : i + 1] for i in range(90)]
    (by_kind,) = ridge.fit(ridge.cells(rows, list(y), groups, kinds), {"0", "1", "2"}, [0.5], 0.5)
    split = [f"{g}/{k}" for g, k in zip(groups, kinds, strict=True)]
    (as_sources,) = ridge.fit(ridge.cells(rows, list(y), split), set(split), [0.5], 0.5)
    assert np.allclose(by_kind.weights, as_sources.weights, atol=1e-10)
    (plain,) = ridge.fit(ridge.cells(rows, list(y), groups), {"0", "1", "2"}, [0.5], 0.5)
    assert not np.allclose(by_kind.weights, plain.weights)  # the smaller kind weighs more than it did
    (left_out,) = ridge.fit(ridge.cells(rows, list(y), groups, kinds), {"0", "1"}, [0.5], 0.5)
    (left_out_split,) = ridge.fit(
        ridge.cells(rows, list(y), split), {s for s in split if not s.startswith("2/")}, [0.5], 0.5
    )
    assert np.allclose(left_out.weights, left_out_split.weights, atol=1e-10)  # a source leaves with all its kinds
