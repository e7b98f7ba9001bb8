#!/usr/bin/env python3
"""Fine-tune the last blocks of nsfwjs's MobileNetV2 end to end with augmentation, scored by grouped k-fold by
source against the frozen backbone's ridge head on the same folds; optionally fit on everything and export.

    python tools/model/finetune_cache.py CACHE            # once: frozen early blocks, whole/center/augmented
    python tools/model/finetune.py CACHE [--folds 5] [--epochs 3] [--export backbone.onnx]

The blocks after the cache's cut (block_15, block_16, Conv_1 with their batch-norm scales) train with AdamW at a
small learning rate, under a new logistic layer on the 1280 pooled features (started from a fit on the frozen
features); every epoch each training picture contributes one of its views (whole, center or an augmented copy)
at random; pictures are weighted like the ridge head's (each class half, a source of n pictures n ** -0.5 per
picture). Each held-out fold is scored three ways, pooled over folds: the frozen features' ridge recipe (the
baseline), the fine-tuned net's own logistic layer, and the ridge recipe refitted on the fine-tuned features;
both views' scores averaged, as the shipped method does.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "model"))

from convert_nsfwjs import convert  # noqa: E402
from torchnet import KerasNet  # noqa: E402

from codecalamity.images.loso import choose_thresholds, summarise  # noqa: E402
from codecalamity.images.recipe import RECIPE  # noqa: E402

CUT = "block_14_add"


def grouped_folds(groups: list[str], k: int) -> np.ndarray:
    """Fold number per picture: whole sources, the largest first, each into the emptiest fold."""
    names, counts = np.unique(groups, return_counts=True)
    load = np.zeros(k)
    fold_of = {}
    for i in np.argsort(-counts, kind="stable"):
        f = int(np.argmin(load))
        fold_of[names[i]] = f
        load[f] += counts[i]
    return np.array([fold_of[g] for g in groups])


def weights(labels: np.ndarray, groups: list[str], damping: float = 0.5) -> np.ndarray:
    """Per-picture weights: a source of n pictures n ** -damping each, then each class half the total."""
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -damping
    for c in (0, 1):
        w[labels == c] *= 0.5 / w[labels == c].sum()
    return w * len(w)


def back(net: KerasNet, acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features and the package head's 128 units, from the cut's activations."""
    out = net.run({CUT: acts.float().contiguous(memory_format=torch.channels_last)}, CUT, "dense_2")
    return out["flatten_1"], out["dense_2"]


def frozen_features(net: KerasNet, acts: np.ndarray, views: list[int], batch: int = 128) -> np.ndarray:
    """(N, len(views), 1408): pooled + 128 of each listed view."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(acts), batch):
            x = torch.from_numpy(np.asarray(acts[start : start + batch][:, views]))
            n = x.shape[0]
            pooled, dense = back(net, x.reshape(n * len(views), *x.shape[2:]))
            rows.append(torch.cat([pooled, dense], 1).reshape(n, len(views), -1).numpy())
    return np.concatenate(rows)


def ridge_scores(feats: np.ndarray, labels: np.ndarray, groups: list[str], train: np.ndarray) -> np.ndarray:
    """The ridge recipe fitted on ``train`` pictures (their whole and center rows), mean raw score of every
    picture's two views."""
    idx = np.flatnonzero(train)
    linear = RECIPE.fit([feats[i] for i in idx], labels[idx], [groups[i] for i in idx])
    return np.array([linear(f).mean() for f in feats])


def logistic_init(pooled: np.ndarray, labels: np.ndarray, w: np.ndarray, steps: int = 300) -> nn.Linear:
    """A logistic layer on frozen pooled features (all views), standardisation folded into its weights."""
    x = torch.from_numpy(pooled.reshape(-1, pooled.shape[-1]))
    v = pooled.shape[1]
    y = torch.from_numpy(np.repeat(labels, v).astype(np.float32))
    sw = torch.from_numpy(np.repeat(w, v).astype(np.float32))
    mean, sd = x.mean(0), x.std(0) + 1e-3
    layer = nn.Linear(x.shape[1], 1)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=steps, line_search_fn="strong_wolfe")
    xs = (x - mean) / sd

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (F.binary_cross_entropy_with_logits(layer(xs)[:, 0], y, reduction="none") * sw).mean()
        loss = loss + 1e-3 * (layer.weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out = nn.Linear(x.shape[1], 1)
    with torch.no_grad():
        out.weight.copy_(layer.weight / sd)
        out.bias.copy_(layer.bias - (layer.weight * mean / sd).sum())
    return out


def finetune(
    base: KerasNet,
    acts: np.ndarray,
    labels: np.ndarray,
    w: np.ndarray,
    pooled0: np.ndarray,
    train: np.ndarray,
    epochs: int,
    lr: float,
    seed: int,
) -> tuple[KerasNet, nn.Linear]:
    """The fine-tuned copy of ``base`` and its logistic layer, trained on the ``train`` pictures."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = copy.deepcopy(base)
    idx = np.flatnonzero(train)
    head = logistic_init(pooled0[idx], labels[idx], w[idx])
    for p in net.parameters():
        p.requires_grad_(False)
    tuned = net.layer_params(CUT)
    for p in tuned:
        p.requires_grad_(True)
    start = [p.detach().clone() for p in tuned]
    opt = torch.optim.AdamW(
        [{"params": tuned, "lr": lr}, {"params": head.parameters(), "lr": 10 * lr}], weight_decay=0.0
    )
    views = acts.shape[1]
    steps = epochs * ((len(idx) + 31) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [lr, 10 * lr], total_steps=steps, pct_start=0.15)
    done = 0
    for epoch in range(epochs):
        order = rng.permutation(idx)
        total = 0.0
        for b in range(0, len(order), 32):
            rows = np.sort(order[b : b + 32])
            pick = rng.integers(0, views, len(rows))
            x = torch.from_numpy(np.stack([acts[r, v] for r, v in zip(rows, pick, strict=True)]))
            pooled, _ = back(net, x)
            logit = head(F.dropout(pooled, 0.2, training=True))[:, 0]
            y = torch.from_numpy(labels[rows].astype(np.float32))
            sw = torch.from_numpy(w[rows].astype(np.float32))
            loss = (F.binary_cross_entropy_with_logits(logit, y, reduction="none") * sw).mean()
            loss = loss + 1e-3 * sum(((p - s) ** 2).sum() for p, s in zip(tuned, start, strict=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            total += float(loss) * len(rows)
        print(f"    epoch {epoch + 1}: loss {total / len(idx):.4f}", flush=True)
    net.eval()
    return net, head


def head_scores(net: KerasNet, head: nn.Linear, acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean logit of the whole and center views, and the (N, 2, 1408) features of those views."""
    feats = frozen_features(net, acts, [0, 1])
    with torch.no_grad():
        logits = head(torch.from_numpy(feats[:, :, :1280].reshape(-1, 1280))).numpy().reshape(-1, 2)
    return logits.mean(1), feats


def report(name: str, raw: np.ndarray, labels: np.ndarray, groups: list[str], kinds: list[str]) -> dict:  # type: ignore[type-arg]
    from codecalamity.images.train import fit_platt

    a, b = fit_platt(raw.astype(np.float64), labels.astype(np.float64))
    p = 1 / (1 + np.exp(-np.clip(a * raw + b, -50, 50)))
    high, low = choose_thresholds(p, labels)
    s = summarise(p, labels, groups, kinds, high, low)
    print(
        f"{name:24} acc {s.accuracy:.4f} recall cartoon {s.recall['cartoon']:.4f} photo {s.recall['photo']:.4f} "
        f"| thresholds {high:.3f}/{low:.3f} precision {s.precision:.4f} unsure {1 - s.coverage:.3f}",
        flush=True,
    )
    return {"by_group": s.by_group, "by_kind": s.by_kind, "p": p}


def export(net: KerasNet, cache: Path, out: Path) -> None:
    """The fine-tuned weights, float32, through convert_nsfwjs.py's graph into ONNX."""
    import onnx

    model = json.loads((cache / "model.json").read_text())
    new = net.keras_weights()
    manifest, parts = [], []
    for spec in model["weightsManifest"][0]["weights"]:
        arr = new[spec["name"]].reshape(spec["shape"])
        manifest.append({"name": spec["name"], "shape": spec["shape"], "dtype": "float32"})
        parts.append(arr.astype(np.float32).tobytes())
    model["weightsManifest"][0]["weights"] = manifest
    onnx.save(convert(model, b"".join(parts)), out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cache", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", default="")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--export", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.cache / "items.csv") as f:
        rows = list(csv.DictReader(f))
    ok = np.array([r["ok"] == "1" for r in rows])
    acts = np.load(args.cache / "acts.npy", mmap_mode="r")
    moments = np.load(args.cache / "moments.npy")
    keep = np.flatnonzero(ok)
    acts = np.asarray(acts[keep])
    moments = moments[keep]
    rows = [rows[i] for i in keep]
    labels = np.array([int(r["label"] == "cartoon") for r in rows])
    groups = [r["group"] for r in rows]
    kinds = [r["kind"] for r in rows]
    model = json.loads((args.cache / "model.json").read_text())
    from torchnet import dequantize

    base = KerasNet(model, dequantize(model, (args.cache / "weights.bin").read_bytes())).eval()
    w = weights(labels, groups)
    started = time.perf_counter()
    f0 = frozen_features(base, acts, list(range(acts.shape[1])))
    print(f"{len(rows)} pictures, {len(set(groups))} sources; frozen features in {time.perf_counter() - started:.0f} s")
    pooled0 = f0[:, :, :1280]
    full0 = np.concatenate([f0[:, :2], moments[:, :2]], axis=2)
    fold = grouped_folds(groups, args.folds)
    raw = {"frozen ridge": np.zeros(len(rows)), "tuned head": np.zeros(len(rows)), "tuned ridge": np.zeros(len(rows))}
    wanted = [int(x) for x in args.only_folds.split(",")] if args.only_folds else list(range(args.folds))
    for k in wanted:
        held = fold == k
        t = time.perf_counter()
        print(f"fold {k}: {int(held.sum())} held out ({', '.join(sorted(set(np.array(groups)[held])))})", flush=True)
        raw["frozen ridge"][held] = ridge_scores(full0, labels, groups, ~held)[held]
        net, head = finetune(base, acts, labels, w, pooled0, ~held, args.epochs, args.lr, seed=k)
        logits, feats = head_scores(net, head, acts)
        raw["tuned head"][held] = logits[held]
        full = np.concatenate([feats, moments[:, :2]], axis=2)
        raw["tuned ridge"][held] = ridge_scores(full, labels, groups, ~held)[held]
        for name, r in raw.items():
            acc = float(((r[held] >= 0) == labels[held]).mean())
            print(f"  {name:14} fold accuracy {acc:.4f} (raw sign)", flush=True)
        print(f"  fold {k} took {time.perf_counter() - t:.0f} s", flush=True)
    sel = np.isin(fold, wanted)
    results = {}
    for name, r in raw.items():
        results[name] = report(
            name, r[sel], labels[sel], [groups[i] for i in np.flatnonzero(sel)], [kinds[i] for i in np.flatnonzero(sel)]
        )
    print("per source: frozen ridge | tuned head | tuned ridge")
    for g in sorted(results["frozen ridge"]["by_group"], key=lambda g: -results["frozen ridge"]["by_group"][g][1]):
        cells = [results[n]["by_group"][g] for n in raw]
        print(f"  {g:34} n {cells[0][1]:5d} " + " ".join(f"{r / n:7.1%}" for r, n in cells))
    print("per kind:")
    for g in sorted(results["frozen ridge"]["by_kind"]):
        cells = [results[n]["by_kind"][g] for n in raw]
        print(f"  {g:34} n {cells[0][1]:5d} " + " ".join(f"{r / n:7.1%}" for r, n in cells))
    np.savez(
        args.cache / "fold_scores.npz", fold=fold, labels=labels, **{k.replace(" ", "_"): v for k, v in raw.items()}
    )
    if args.export:
        net, head = finetune(base, acts, labels, w, pooled0, np.ones(len(rows), bool), args.epochs, args.lr, seed=99)
        export(net, args.cache, args.export)
        print(f"wrote {args.export}")


if __name__ == "__main__":
    main()
