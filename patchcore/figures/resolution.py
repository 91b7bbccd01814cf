"""Larger-than-training figure (issue 14). Returns a matplotlib Figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from patchcore.figures.paper import magnitude  # noqa: E402


def resolution(table, panels, panel_labels, title):
    """PSNR, peak memory and CPU time per NFE (not inflated by other work on the machine) against image size per method (top), and the
    reconstructions of one image at the largest size (bottom).

    Args:
        table: :func:`patchcore.experiments.resolution.resolution_table` output.
        panels: ``(C, H, W)`` arrays in [0, 1]: truth, baseline, then one per method.
        panel_labels: a title per panel.
        title: the figure's title.
    """
    n = max(len(panels), 3)
    fig = plt.figure(figsize=(2.0 * n, 5.6))
    grid = fig.add_gridspec(2, n, height_ratios=[1.1, 1.0])
    plots = [fig.add_subplot(grid[0, i * n // 3:(i + 1) * n // 3]) for i in range(3)]
    sizes = sorted(table["image_size"].unique())
    for i, (method, rows) in enumerate(table.groupby("method", sort=False)):
        rows = rows.sort_values("image_size")
        for ax, col in zip(plots, ("psnr", "peak_mb", "cpu_time_per_nfe_s")):
            ax.plot(rows["image_size"], rows[col], marker="o", color=f"C{i}", label=method)
    base = table.groupby("image_size")["baseline_psnr"].mean()
    plots[0].plot(base.index, base.values, color="k", linestyle=":", label="baseline")
    for ax, ylabel in zip(plots, ("PSNR (dB)", "peak memory (MiB)", "CPU time per NFE (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(s) for s in sizes])
        ax.set_xlabel("image size (px)")
        ax.set_ylabel(ylabel)
    plots[1].set_yscale("log")
    plots[0].legend(fontsize=6)
    for i, (img, label) in enumerate(zip(panels, panel_labels)):
        ax = fig.add_subplot(grid[1, i])
        ax.imshow(magnitude(img), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
