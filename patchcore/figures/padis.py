"""PaDIS (Hu et al. 2024) figures at our scale. Each function returns a matplotlib Figure."""

from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from patchcore.figures.paper import magnitude  # noqa: E402


def reconstructions(panels: Sequence, row_labels: Sequence[str], col_labels: Sequence[str],
                    psnrs: Optional[Sequence] = None) -> plt.Figure:
    """Reconstructions side by side: rows are tasks (20, 8 views), columns are methods.

    Args:
        panels: nested list ``[row][col]`` of ``(C, H, W)`` arrays in [0, 1] (None: blank).
        row_labels, col_labels: titles of the rows (tasks) and columns (FBP, methods, truth).
        psnrs: optional nested list ``[row][col]`` of PSNR values (dB) shown under each image.
    """
    n_r, n_c = len(panels), len(col_labels)
    fig, axes = plt.subplots(n_r, n_c, figsize=(1.9 * n_c, 2.0 * n_r), squeeze=False)
    for r in range(n_r):
        for c in range(n_c):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if panels[r][c] is None:
                ax.set_frame_on(False)
                continue
            ax.imshow(magnitude(panels[r][c]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            if r == 0:
                ax.set_title(col_labels[c], fontsize=8)
            value = None if psnrs is None else psnrs[r][c]
            if value is not None and np.isfinite(value):
                ax.set_xlabel(f"{value:.2f} dB", fontsize=7)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    fig.tight_layout()
    return fig


def psnr_vs_patch_size(table: pd.DataFrame, image_size: int) -> plt.Figure:
    """PSNR (left axis) and SSIM (right axis) against the inference patch size.

    Args:
        table: :func:`patchcore.experiments.padis.patch_size_table` output (columns P, psnr, ssim).
        image_size: N; the point at P = N is the whole-image prior.
    """
    df = table.sort_values("P")
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.plot(df["P"], df["psnr"], marker="o", color="C0", label="PSNR")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(df["P"]))
    ax.set_xticklabels([f"{p}" + (" (whole)" if p == image_size else "") for p in df["P"]], fontsize=7)
    ax.set_xlabel("inference patch size P (px)")
    ax.set_ylabel("PSNR (dB)", color="C0")
    twin = ax.twinx()
    twin.plot(df["P"], df["ssim"], marker="s", linestyle="--", color="C1", label="SSIM")
    twin.set_ylabel("SSIM", color="C1")
    ax.set_title(f"PaDIS patch size, {image_size}x{image_size} images", fontsize=9)
    fig.tight_layout()
    return fig


def psnr_vs_training_size(table: pd.DataFrame) -> plt.Figure:
    """PSNR against the number of training images, patch prior vs whole-image prior.

    Args:
        table: :func:`patchcore.experiments.padis.datasize_table` output (columns train_images,
            patch_psnr, whole_psnr); a non-numeric ``train_images`` ("all") is put last.
    """
    labels = [str(v) for v in table["train_images"]]
    numeric = [float(v) if v.isdigit() else np.nan for v in labels]
    top = np.nanmax(numeric) if np.isfinite(numeric).any() else 1.0
    x = [v if np.isfinite(v) else 2 * top for v in numeric]
    order = np.argsort(x)
    xs = np.asarray(x)[order]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for prefix, label, marker in (("patch_", "patch prior (PaDIS)", "o"), ("whole_", "whole-image prior", "s")):
        ax.plot(xs, np.asarray(table[f"{prefix}psnr"], dtype=float)[order], marker=marker, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels(np.asarray(labels)[order], fontsize=7)
    ax.set_xlabel("training images")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=7)
    ax.set_title("PaDIS: training-set size", fontsize=9)
    fig.tight_layout()
    return fig
