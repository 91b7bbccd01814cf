"""Roy et al. Fig. 1-3 at our scale. Each function returns a matplotlib Figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show(ax, img, title, vmin=0.0, vmax=1.0, cmap="gray"):
    ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def magnitude(img):
    """``(C, H, W)`` array to a displayable ``(H, W)`` magnitude."""
    img = np.asarray(img)
    return np.sqrt((img**2).sum(0)) if img.shape[0] == 2 else img[0]


def fig1_padding(recons, measures, image=0):
    """Zero vs reflection padding on one reconstruction, with the error maps.

    Args:
        recons: ``{pad: array (k, 3, C, H, W)}`` of (ground truth, baseline, reconstruction).
        measures: ``{pad: dict}`` from :func:`patchcore.analysis.edge_artifact` (means over images).
    """
    pads = list(recons)
    fig, axes = plt.subplots(2, len(pads) + 1, figsize=(2.6 * (len(pads) + 1), 5.4))
    gt = magnitude(recons[pads[0]][image, 0])
    _show(axes[0, 0], gt, "ground truth")
    axes[1, 0].axis("off")
    for j, pad in enumerate(pads, start=1):
        x = magnitude(recons[pad][image, 2])
        m = measures[pad]
        _show(axes[0, j], x, f"{pad} padding")
        _show(axes[1, j], np.abs(x - gt), f"|error|, border/interior RMSE {m['ratio']:.2f}",
              vmax=0.2, cmap="magma")
    fig.suptitle("Shifted-grid patch inference: zero vs reflection padding", fontsize=9)
    fig.tight_layout()
    return fig


def fig2_grid(panels, row_labels, col_labels):
    """The qualitative grid: rows are tasks, columns are (reference, measurement, methods).

    Args:
        panels: nested list ``[row][col]`` of ``(C, H, W)`` arrays (None leaves a blank).
        row_labels, col_labels: titles.
    """
    n_r, n_c = len(panels), len(col_labels)
    fig, axes = plt.subplots(n_r, n_c, figsize=(1.9 * n_c, 2.0 * n_r), squeeze=False)
    for r in range(n_r):
        for c in range(n_c):
            ax = axes[r, c]
            if panels[r][c] is None:
                ax.axis("off")
                continue
            _show(ax, magnitude(panels[r][c]), col_labels[c] if r == 0 else "")
        axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    fig.tight_layout()
    return fig


def fig3_memory(table):
    """Peak memory vs inference patch size, one line per image size and micro-batch setting.

    Args:
        table: a DataFrame with columns image_size, infer, micro_batch, peak_mb.
    """
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    df = table.copy()
    df["patch"] = [int(s) if str(i) == "full" else int(i) for i, s in zip(df["infer"], df["image_size"])]
    for (size, mb), g in df.groupby(["image_size", "micro_batch"], dropna=False):
        g = g.sort_values("patch")
        label = f"{size}px" + ("" if str(mb) in ("nan", "None", "") else f", micro-batch {int(mb)}")
        ax.plot(g["patch"], g["peak_mb"], marker="o", label=label,
                linestyle="-" if str(mb) in ("nan", "None", "") else "--")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("inference patch size (px); last point of a line = whole image")
    ax.set_ylabel("peak memory (MB)")
    ax.set_title("DiffPIR denoising: peak memory vs patch size", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
