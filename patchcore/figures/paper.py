"""Roy et al. Fig. 1-3 at our scale. Each function returns a matplotlib Figure."""

import textwrap
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from patchcore.inverse import schemes  # noqa: E402


def _show(ax, img, title, vmin=0.0, vmax=1.0, cmap="gray"):
    ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def magnitude(img: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` array to a displayable ``(H, W)`` magnitude."""
    img = np.asarray(img)
    return np.sqrt((img**2).sum(0)) if img.shape[0] == 2 else img[0]


BASELINES = {"denoise": "noisy input", "sr": "bicubic", "deblur": "blurred input",
             "ct": "FBP (Hann)", "mri": "zero-filled"}


def baseline_name(operator: str) -> str:
    """What an operator's ``baseline(y)`` is, for figure labels (``sr2`` -> ``bicubic``)."""
    for prefix, name in BASELINES.items():
        if operator.startswith(prefix):
            return name
    return "baseline"


def psnr(x: np.ndarray, gt: np.ndarray) -> float:
    """PSNR in dB of two displayable arrays on the [0, 1] scale (figure labels only)."""
    mse = float(np.mean((np.asarray(x, dtype=np.float64) - np.asarray(gt, dtype=np.float64)) ** 2))
    return 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")


def _label(ax, text):
    """A small label in the lower-left corner of an image panel."""
    ax.text(0.03, 0.04, text, transform=ax.transAxes, fontsize=7, color="yellow",
            bbox={"facecolor": "black", "alpha": 0.55, "pad": 1.5, "linewidth": 0})


def fig1_padding(recons: dict, measures: dict, context: str, image: int = 0, vmax: float = 0.2) -> plt.Figure:
    """Zero vs reflection padding on one reconstruction, with the error maps and a colour bar.

    Args:
        recons: ``{pad: array (k, 3, C, H, W)}`` of (ground truth, baseline, reconstruction).
        measures: ``{pad: dict}`` from :func:`patchcore.experiments.analysis.edge_artifact` (means over images).
        context: what the reconstructions are (dataset, task, solver, prior, patch size), the title.
        vmax: upper end of the error colour scale (errors above it saturate).
    """
    pads = list(recons)
    n = 1 + 2 * len(pads)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n + 0.6, 2.9), squeeze=False,
                             gridspec_kw={"wspace": 0.06})
    axes = axes[0]
    gt = magnitude(recons[pads[0]][image, 0])
    _show(axes[0], gt, "ground truth")
    for j, pad in enumerate(pads):
        x = magnitude(recons[pad][image, 2])
        _show(axes[1 + j], x, f"{pad} padding")
        _label(axes[1 + j], f"PSNR {psnr(x, gt):.2f} dB")
    for j, pad in enumerate(pads):
        ax = axes[1 + len(pads) + j]
        err = np.abs(magnitude(recons[pad][image, 2]) - gt)
        _show(ax, err, f"|error|, {pad} padding", vmax=vmax, cmap="magma")
        _label(ax, f"border/interior RMSE {measures[pad]['ratio']:.2f}")
    fig.suptitle(f"Shifted-grid patch inference, zero vs reflection padding: {context}", fontsize=8)
    fig.subplots_adjust(left=0.01, right=0.92, top=0.80, bottom=0.03)
    last = axes[-1].get_position()
    cax = fig.add_axes((last.x1 + 0.01, last.y0, 0.012, last.height))
    bar = fig.colorbar(axes[-1].images[0], cax=cax, extend="max")
    bar.set_label("|reconstruction - ground truth|", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    return fig


def fig2_grid(panels: Sequence, row_labels: Sequence[str], col_labels: Sequence[str],
              baseline_labels: Optional[Sequence[str]] = None) -> plt.Figure:
    """The qualitative grid: rows are tasks, columns are (reference, baseline, methods).

    Args:
        panels: nested list ``[row][col]`` of ``(C, H, W)`` arrays; column 0 is the ground
            truth, every other panel is labelled with its PSNR against it.
        row_labels, col_labels: titles (column titles on the first row).
        baseline_labels: per row, the name of column 1 (the task baseline: noisy input,
            bicubic, ...), shown above that panel in every row.
    """
    n_r, n_c = len(panels), len(col_labels)
    fig, axes = plt.subplots(n_r, n_c, figsize=(1.9 * n_c, 2.1 * n_r), squeeze=False)
    for r in range(n_r):
        gt = magnitude(panels[r][0])
        for c in range(n_c):
            ax = axes[r, c]
            img = magnitude(panels[r][c])
            title = col_labels[c] if r == 0 else ""
            if c == 1 and baseline_labels:
                title = baseline_labels[r]
            _show(ax, img, title)
            if c > 0:
                _label(ax, f"{psnr(img, gt):.2f} dB")
        axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    fig.tight_layout()
    return fig


def _memory_points(table):
    """The memory table with a ``patch`` column (the tile side; the image size for ``full``)
    and a ``bound`` column (the micro-batch bound, None without one)."""
    df = table.copy()
    df["patch"] = [schemes.parse(i).size(s) for i, s in zip(df["infer"], df["image_size"])]
    df["bound"] = [None if str(m) in ("nan", "None", "") else int(float(m)) for m in df["micro_batch"]]
    return df


def _memory_panel(ax, part, sizes, patches, bound):
    """One panel of Fig. 3: peak memory against patch size, a line per image size."""
    markers = ["o", "s", "^", "D", "v", "P"]
    for k, size in enumerate(sizes):
        g = part[part["image_size"] == size].sort_values("patch")
        # Larger hollow markers under smaller ones: coinciding lines stay visible.
        ax.plot(g["patch"], g["peak_mb"], marker=markers[k % len(markers)], ms=9 - 2.2 * k,
                mfc="none" if k == 0 else None, lw=1.6 - 0.4 * k, label=f"{size} px",
                linestyle=["-", "--", ":", "-."][k % 4], zorder=2 + k)
    ax.set_xscale("log", base=2)
    ax.set_xticks(patches, [str(p) for p in patches])
    ax.set_yscale("log")
    ax.set_xlabel("inference patch size (px)\nlast point of a line = whole image")
    ax.set_title("all tiles in one network call" if bound is None
                 else f"micro-batch bound: {bound} tiles per call", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(title="image size", fontsize=7, title_fontsize=7)


MEMORY_NOTE = ("Why patches without a bound can cost more than the whole image: the shifted grid covers "
               "a padded canvas of K x K tiles (K = N // P + 1, so (K P)^2 > N^2 pixels), and without a "
               "bound all tiles go through the network in one call, so the activations scale with the "
               "padded canvas, not with the patch. Bounding the tiles per call (micro-batch) caps them at "
               "a few tiles: memory then hardly depends on the image size (Roy et al.'s point).")


def fig3_memory(table: pd.DataFrame, method: Optional[str] = None) -> plt.Figure:
    """Peak memory vs inference patch size: one panel without and one with a micro-batch bound,
    one line per image size, and a note on why unbounded patches can cost more than the image.

    Args:
        table: a DataFrame with columns image_size, infer, micro_batch, peak_mb (and
            padded_size, tiles).
        method: how memory was measured (a sentence), printed under the figure.
    """
    df = _memory_points(table)
    settings = [None] + sorted({int(b) for b in df["bound"].dropna()})
    sizes = sorted(df["image_size"].unique())
    patches = sorted(df["patch"].unique())
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 4.4), sharey=True,
                             squeeze=False)
    for ax, bound in zip(axes[0], settings):
        part = df[df["bound"].isna()] if bound is None else df[df["bound"] == bound]
        _memory_panel(ax, part, sizes, patches, bound)
    axes[0, 0].set_ylabel("peak memory of one denoiser call (MiB)")
    lines = textwrap.wrap(MEMORY_NOTE, 150)
    if method:
        lines += textwrap.wrap("Measured: " + method, 150)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, va="bottom")
    fig.suptitle("DiffPIR denoiser call: peak memory vs inference patch size", fontsize=10)
    fig.tight_layout(rect=(0, 0.035 * len(lines) + 0.01, 1, 0.95))
    return fig
