"""Posterior uncertainty figures (issue 14). Each function returns a matplotlib Figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from patchcore.experiments.posterior import gaussian_coverage  # noqa: E402
from patchcore.figures.paper import magnitude  # noqa: E402


def uncertainty_maps(rows, labels):
    """Per cell (one row each): truth, posterior mean, per-pixel std and |error| maps.

    Args:
        rows: list of ``(truth, mean, std)`` arrays ``(C, H, W)`` on the [0, 1] scale.
        labels: one label per row (solver, prior, scheme).
    The std and |error| columns share one colour scale per row, so they can be compared.
    """
    n = len(rows)
    fig, axes = plt.subplots(n, 4, figsize=(7.6, 1.9 * n + 0.3), squeeze=False)
    for r, ((truth, mean, std), label) in enumerate(zip(rows, labels)):
        err = np.abs(magnitude(truth) - magnitude(mean))
        s = magnitude(std)
        top = max(float(err.max()), float(s.max()), 1e-6)
        panels = [(magnitude(truth), "gray", 1.0), (magnitude(mean), "gray", 1.0), (s, "magma", top),
                  (err, "magma", top)]
        for c, (img, cmap, vmax) in enumerate(panels):
            ax = axes[r, c]
            im = ax.imshow(img, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(["truth", "posterior mean", "std", "|error|"][c], fontsize=8)
        fig.colorbar(im, ax=axes[r, 2:].tolist(), fraction=0.05, pad=0.02)
        axes[r, 0].set_ylabel(label, fontsize=7)
    return fig


def reliability(curves, zs):
    """Coverage of ``mean +- z std`` against ``z`` per cell, with the Gaussian ideal.

    Args:
        curves: ``{label: [coverage at each z]}``.
        zs: the z values (x axis).
    Below the ideal: intervals too narrow (over-confident); above: too wide.
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    fine = np.linspace(0, max(zs), 100)
    ax.plot(fine, [gaussian_coverage(z) for z in fine], color="k", linestyle="--", label="Gaussian ideal")
    for i, (label, cov) in enumerate(curves.items()):
        ax.plot(zs, cov, marker=".", color=f"C{i % 10}", label=label, linewidth=1)
    ax.set_xlabel("z (interval mean +- z std)")
    ax.set_ylabel("fraction of pixels covered (std > 0)")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title("Posterior calibration (below the dashed line: over-confident)", fontsize=8)
    fig.tight_layout()
    return fig
