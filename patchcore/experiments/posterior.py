"""Posterior samples of one grid cell and their calibration (issue 14).

A cell with ``evaluation.samples = K`` draws K reconstructions per measurement, each from its
own generator: sample 0 from the cell seed itself (so ``K = 1`` is exactly today's cell, byte
for byte), sample ``k > 0`` from :func:`sample_seed`. The posterior mean is the cell's
reconstruction; the per-pixel standard deviation (over the K samples, ``ddof = 1``) is its
uncertainty map. Pure functions: tensors and dicts in, tensors and dicts out.
"""

import math

import torch

from patchcore.experiments import cell as cells
from patchcore.experiments import grid
from patchcore.seeds import derived_seed


def sample_seed(seed, k):
    """Seed of posterior sample ``k`` of a cell whose seed is ``seed``: the cell seed for
    ``k = 0`` (the single-sample cell), a SHA-256 derivation for the others."""
    return int(seed) if k == 0 else derived_seed(seed, "posterior-sample", k)


def draw_samples(sample, count):
    """``count`` samples ``sample(k)`` for ``k = 0 .. count-1``, stacked: ``(K, *shape)``."""
    if int(count) < 1:
        raise ValueError(f"samples must be a positive number, got {count!r}")
    return torch.stack([sample(k) for k in range(int(count))])


def summarise(samples):
    """Posterior mean and per-pixel standard deviation (``ddof = 1``; zeros for one sample)
    of ``samples`` ``(K, B, C, H, W)``; both ``(B, C, H, W)``."""
    if samples.shape[0] == 1:
        return samples[0], torch.zeros_like(samples[0])
    return samples.mean(0), samples.std(0, correction=1)


def _posterior_image(solves, op, gt, sigma_y, seed):
    """Measure ``gt`` with noise from ``seed`` and draw one reconstruction per ``solves`` entry:
    ``(row, (gt, baseline, mean), (std, sample 0))``."""
    y = op.measure(gt, sigma_y, torch.Generator().manual_seed(seed))
    baseline = cells.clip_image(op.baseline(y))
    draws = draw_samples(lambda k: cells.clip_image(solves[k](y)), len(solves))
    x, std = summarise(draws)
    row = cells.score(x, gt)
    row.update({f"baseline_{k}": v for k, v in cells.score(baseline, gt).items()})
    if len(solves) > 1:
        row.update({f"sample_{k}": v for k, v in cells.score(draws[0], gt).items()})
        row["mean_std"] = float(std.mean())
    return row, torch.stack([gt[0], baseline[0], x[0]]).cpu(), torch.stack([std[0], draws[0, 0]]).cpu()


def run_posterior_cell(prior, images, cell, options, *, device="cpu", progress=None):
    """:func:`patchcore.experiments.cell.run_cell` with ``options['evaluation']['samples']``
    (default 1) reconstructions per measurement.

    Sample ``k`` has its own generator (seed :func:`sample_seed`) and its own denoiser (the
    shifted grid draws its shifts from that generator); each generator runs through the images
    in order, as the single generator of a one-sample cell does.

    Returns:
        (rows, recons, posterior): ``rows`` and ``recons`` as ``run_cell`` returns them, with
        the posterior mean as the reconstruction (for ``K > 1`` each row also has the
        ``sample_psnr`` and ``sample_ssim`` of sample 0 and the image's ``mean_std``);
        ``posterior`` ``(n, 2, C, H, W)``: per image the per-pixel std and sample 0.
    """
    count = int(options["evaluation"].get("samples", 1))
    if count < 1:
        raise ValueError(f"samples must be a positive number, got {count!r}")
    op = cells.build_operator(options["task_options"], images.shape[-1])
    sigma_y = float(options["task_options"]["sigma_y"])
    solves = [cells.make_solver(prior, cell, options, device, sigma_y, op, sample_seed(options["seed"], k))
              for k in range(count)]
    rows, recons, posterior = [], [], []
    for i in range(images.shape[0]):
        seed = grid.measurement_seed(options["data_seed"], cell["dataset"], cell["task"], i)
        row, recon, post = _posterior_image(solves, op, images[i : i + 1].to(device), sigma_y, seed)
        rows.append({"image": i, **row})
        recons.append(recon)
        posterior.append(post)
        if progress:
            progress(i + 1, images.shape[0])
    shape = tuple(images.shape[1:])
    if not recons:
        return rows, torch.empty((0, 3) + shape), torch.empty((0, 2) + shape)
    return rows, torch.stack(recons), torch.stack(posterior)


# ---- calibration --------------------------------------------------------------------------


def gaussian_coverage(z):
    """Fraction of a Gaussian within ``mean +- z std``: ``erf(z / sqrt 2)``."""
    return math.erf(float(z) / math.sqrt(2.0))


def coverage(truth, mean, std, z):
    """Fraction of pixels whose truth lies within ``mean +- z std`` (``|truth - mean| <= z std``;
    a pixel with zero std counts only when its error is exactly zero)."""
    return float(((truth - mean).abs() <= float(z) * std).double().mean())


def calibration(truth, mean, std, zs=(1, 2, 3)):
    """Calibration of a posterior mean and std map against the truth, pooled over all pixels.

    Args:
        truth, mean, std: tensors of one shape (e.g. ``(n, C, H, W)``), [0, 1] scale.
        zs: the widths ``z`` of the intervals ``mean +- z std``.

    Returns:
        dict: ``coverage_z{z}`` (empirical) and ``ideal_z{z}`` (Gaussian) per ``z``;
        ``corr_std_error``, the Pearson correlation of the per-pixel std with the absolute
        error (NaN where either is constant); ``mean_std`` and ``rmse`` (of the mean);
        ``zero_std``, the fraction of pixels whose samples all agree (std 0, e.g. clipped
        to 0 in the air around a CT body: covered exactly when the mean is exact there);
        ``spread_coverage_z{z}``, the coverage over the other pixels.
    """
    truth, mean, std = (torch.as_tensor(t).double() for t in (truth, mean, std))
    err = (truth - mean).abs()
    out = {}
    spread = std > 0
    for z in zs:
        out[f"coverage_z{z:g}"] = coverage(truth, mean, std, z)
        out[f"ideal_z{z:g}"] = gaussian_coverage(z)
    for z in zs:  # over the pixels where the samples differ (clipped pixels left out)
        out[f"spread_coverage_z{z:g}"] = (coverage(truth[spread], mean[spread], std[spread], z)
                                          if spread.any() else float("nan"))
    a, b = std.flatten() - std.mean(), err.flatten() - err.mean()
    denom = float(a.norm() * b.norm())
    out["corr_std_error"] = float(a @ b) / denom if denom > 0 else float("nan")
    out["mean_std"] = float(std.mean())
    out["rmse"] = float(err.pow(2).mean().sqrt())
    out["zero_std"] = float((std == 0).double().mean())
    return out


def reliability_curve(truth, mean, std, zs, spread=False):
    """Empirical coverage at each ``z`` of ``zs`` (the reliability plot's y values); with
    ``spread``, over the pixels with a non-zero std only."""
    truth, mean, std = (torch.as_tensor(t).double() for t in (truth, mean, std))
    if spread:
        keep = std > 0
        truth, mean, std = truth[keep], mean[keep], std[keep]
    return [coverage(truth, mean, std, z) for z in zs]


def confidence(cov, ideal, tolerance=0.05):
    """``over-confident`` (intervals too narrow: coverage below the Gaussian ideal by more than
    ``tolerance``), ``under-confident`` (above it by more), else ``calibrated``."""
    if cov < ideal - tolerance:
        return "over-confident"
    if cov > ideal + tolerance:
        return "under-confident"
    return "calibrated"


def calibration_row(truth, mean, std, metrics_rows, zs=(1, 2, 3)):
    """One row of the calibration table for one cell.

    Args:
        truth, mean, std: ``(n, C, H, W)`` of the cell's images (ground truth, posterior mean,
            per-pixel std).
        metrics_rows: the cell's per-image metrics (dicts with ``psnr``, ``ssim``,
            ``sample_psnr``, ``sample_ssim``).
    Returns:
        dict: PSNR/SSIM of the mean and of one sample (averages over images), the
        :func:`calibration` numbers, and ``verdict`` from the spread-pixel coverage at the first ``z``
        (at z = 1 the ideal, 68.3%, leaves room on both sides; at z = 2 a too-wide interval
        can exceed the ideal by at most 4.6 points).
    """
    n = len(metrics_rows)
    row = {k: sum(float(r[k]) for r in metrics_rows) / n
           for k in ("psnr", "ssim", "sample_psnr", "sample_ssim")}
    row.update(calibration(truth, mean, std, zs))
    z = zs[0]
    row["verdict"] = confidence(row[f"spread_coverage_z{z:g}"], row[f"ideal_z{z:g}"])
    return row


def calibration_markdown(table, about):
    """The calibration table as Markdown: one line per cell, coverage against the ideal."""
    zs = [c[len("coverage_z"):] for c in table.columns if c.startswith("coverage_z")]
    head = (["solver", "prior", "infer", "PSNR mean", "PSNR sample"]
            + [f"cover z={z} all / spread (ideal {100 * table[f'ideal_z{z}'].iloc[0]:.1f}%)" for z in zs]
            + ["corr(std, err)", "mean std", "RMSE", "std = 0", "verdict"])
    lines = [f"# Posterior calibration ({about})", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = ([r.solver, r.prior, str(r.infer), f"{r.psnr:.2f}", f"{r.sample_psnr:.2f}"]
                 + [f"{100 * r[f'coverage_z{z}']:.1f}% / {100 * r[f'spread_coverage_z{z}']:.1f}%" for z in zs]
                 + [f"{r.corr_std_error:.3f}", f"{r.mean_std:.4f}", f"{r.rmse:.4f}", f"{100 * r.zero_std:.1f}%",
                    r.verdict])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
