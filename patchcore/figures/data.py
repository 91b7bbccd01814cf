"""Montage of the prepared data: per dataset a row of training and evaluation slices."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def data_montage(rows: dict, per_split: int = 4) -> plt.Figure:
    """One row per dataset: ``per_split`` training slices, then ``per_split`` evaluation slices.

    Args:
        rows: ``{dataset: {"train": array (n, C, H, W), "eval": array (m, C, H, W), "note": str,
            "measures": str}}`` with values in [0, 1]; slices are taken evenly spaced through
            each array; the optional ``measures`` text is written right of the row.
    Returns:
        a matplotlib Figure.
    """
    names = list(rows)
    fig, axes = plt.subplots(len(names), 2 * per_split, squeeze=False,
                             figsize=(1.4 * 2 * per_split + 1.0, 1.6 * len(names) + 0.3))
    for r, name in enumerate(names):
        for half, split in enumerate(("train", "eval")):
            data = np.asarray(rows[name][split])
            picks = np.linspace(0, len(data) - 1, per_split).round().astype(int) if len(data) else []
            for j in range(per_split):
                ax = axes[r, half * per_split + j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(picks):
                    img = data[picks[j]]
                    img = np.sqrt((img ** 2).sum(0)) if img.shape[0] == 2 else img[0]
                    ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                else:
                    ax.axis("off")
                if r == 0 and j == 0:
                    ax.set_title(f"{split} slices", fontsize=8, loc="left")
        axes[r, 0].set_ylabel(f"{name}\n{rows[name].get('note', '')}", fontsize=7)
        if rows[name].get("measures"):
            axes[r, -1].text(1.08, 0.5, rows[name]["measures"], transform=axes[r, -1].transAxes,
                             fontsize=6, va="center", ha="left", family="monospace")
    fig.tight_layout()
    return fig
