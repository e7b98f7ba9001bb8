"""``explain``: what each measure sees, side by side with its score, as one PNG sheet (works headless)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from codecalamity.images import methods
from codecalamity.images.loading import load_image
from codecalamity.images.methods import blur, edges, palette
from codecalamity.images.types import Source


def explain(source: Source, out: Path, title: str = "") -> dict[str, float]:
    """Draw the sheet to ``out``; return each measure's score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image, mask = load_image(source)
    scores: dict[str, float] = {}
    panels: list[tuple[str, np.ndarray]] = []

    m = methods.get("blur")
    small, content = m.prepare(image, mask)
    scores["blur"] = m.score_raw(m.measure(small, content))
    panels.append(("original", small))
    panels.append(
        (
            f"bilateral blur: similarity {blur.similarity(small, content):.4f}\nscore {scores['blur']:.2f}",
            blur.blurred_preview(small),
        )
    )

    m = methods.get("palette")
    small, content = m.prepare(image, mask)
    top, covered = palette.top_colours(small, content)
    scores["palette"] = m.score_raw(covered)
    keep = np.isin(palette.packed_colours(small), top) & content
    recon = np.full_like(small, 255)
    recon[keep] = small[keep]
    panels.append((f"top {top.size} colours: {covered:.1%} of pixels\nscore {scores['palette']:.2f}", recon))

    m = methods.get("edges")
    small, content = m.prepare(image, mask)
    before, after = edges.edge_maps(small)
    scores["edges"] = m.score_raw(m.measure(small, content))
    change = edges.change(small, content)
    panels.append((f"edges: {np.count_nonzero(before == 0)} dark px", before))
    panels.append((f"edges after median blur\nchange {change:.4f}, score {scores['edges']:.2f}", after))

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.9))
    for ax, (label, panel) in zip(axes, panels, strict=True):
        shown = cv2.cvtColor(panel, cv2.COLOR_BGR2RGB) if panel.ndim == 3 else panel
        ax.imshow(shown, cmap="gray" if panel.ndim == 2 else None)
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    verdicts = ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
    fig.suptitle(f"{title}  P(cartoon): {verdicts}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return scores
