"""One grid cell: measure, reconstruct and score a set of evaluation images.

Pure orchestration of the engine (operators, patch denoiser, solvers, metrics); the workflow
script `workflow_scripts/evaluate.py` loads the inputs and writes the outputs.
"""

from typing import Any, Callable, Optional, Union

import torch

from patchcore.experiments import grid
from patchcore.inverse import metrics, schemes, solvers
from patchcore.inverse.operators import Operator, make_operator


def build_operator(task_options: dict, image_size: int) -> Operator:
    """The task's operator from its config entry (``operator`` name plus its parameters)."""
    params = {k: v for k, v in task_options.items() if k not in ("operator", "sigma_y")}
    return make_operator(task_options["operator"], image_size, **params)


def clip_image(x: torch.Tensor) -> torch.Tensor:
    """Clip to the image range: [0, 1] for magnitude (C = 1); complex (C = 2) magnitude <= 1,
    phase kept. Metrics then score the magnitude (``patchcore.inverse.metrics``)."""
    if x.shape[1] == 1:
        return x.clamp(0, 1)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1.0)


def score(x: torch.Tensor, gt: torch.Tensor) -> dict:
    """PSNR and SSIM of one image (LPIPS is scored apart, from the saved reconstructions:
    :func:`lpips_rows`)."""
    return {"psnr": float(metrics.psnr(x, gt)), "ssim": float(metrics.ssim(x, gt))}


def lpips_rows(recons: Any, weights: Optional[str], chunk: int = 16) -> list[dict]:
    """LPIPS of the reconstructions and baselines of one cell.

    Args:
        recons: ``(n, 3, C, H, W)`` of (ground truth, baseline, reconstruction) per image,
            as :func:`run_cell` returns them.
        weights: the AlexNet checkpoint file, or None: then every value is NaN (no number
            from a random trunk).
        chunk: images per LPIPS call (memory bound).

    Returns:
        one dict ``{image, lpips, baseline_lpips}`` per image.
    """
    recons = torch.as_tensor(recons)
    n = recons.shape[0]
    if weights is None:
        nan = float("nan")
        return [{"image": i, "lpips": nan, "baseline_lpips": nan} for i in range(n)]
    values = {"lpips": [], "baseline_lpips": []}
    for start in range(0, n, chunk):
        part = recons[start : start + chunk]
        values["lpips"] += metrics.lpips(part[:, 2], part[:, 0], weights=weights).tolist()
        values["baseline_lpips"] += metrics.lpips(part[:, 1], part[:, 0], weights=weights).tolist()
    return [{"image": i, "lpips": values["lpips"][i], "baseline_lpips": values["baseline_lpips"][i]}
            for i in range(n)]


def make_solver(prior: Optional[Callable], cell: dict, options: dict, device: Union[str, torch.device],
                sigma_y: float, op: Operator, seed: Optional[int] = None) -> Callable:
    """``solve(y) -> x``: the cell's solver with its schedule, parameters, generator and denoiser
    (generator and the shifted grid's shifts seeded by ``seed``, by default the cell seed)."""
    algorithm, sigmas, params = solvers.solver_schedule(cell["solver"], options["solver_options"])
    sigmas = sigmas.to(device) if sigmas is not None else None
    generator = torch.Generator(device=device).manual_seed(options["seed"] if seed is None else seed)
    denoiser = schemes.make_denoiser(prior, cell["infer"], cell["pad"], generator,
                                     options["evaluation"].get("micro_batch"))
    return lambda y: solvers.SOLVERS[algorithm](denoiser, y, op, sigmas, generator=generator,
                                                sigma_y=sigma_y, **params)


def _one_image(solve, op, gt, sigma_y, seed):
    """Measure ``gt`` ``(1, C, H, W)`` with noise from ``seed``, reconstruct and score it:
    ``(row, (gt, baseline, reconstruction))``."""
    y = op.measure(gt, sigma_y, torch.Generator().manual_seed(seed))
    baseline = clip_image(op.baseline(y))
    x = clip_image(solve(y))
    row = score(x, gt)
    row.update({f"baseline_{k}": v for k, v in score(baseline, gt).items()})
    return row, torch.stack([gt[0], baseline[0], x[0]]).cpu()


def run_cell(prior: Optional[Callable], images: torch.Tensor, cell: dict, options: dict, *,
             device: Union[str, torch.device] = "cpu",
             progress: Optional[Callable[[int, int], None]] = None) -> tuple[list[dict], torch.Tensor]:
    """Reconstruct every image of ``images`` for one cell and score it.

    Args:
        prior: a Prior (``prior(x, sigma, coords=None)`` on the [0, 1] scale), or None for
            classical solvers that take no denoiser.
        images: ground truth, float tensor ``(n, C, H, W)`` in [0, 1].
        cell: dict with the grid axes (dataset, task, solver, prior, infer, pad).
        options: the cell's resolved options (``seed``, ``data_seed``, ``task_options``,
            ``solver_options``, ``evaluation``), as written beside the results.
        progress: optional callable ``progress(i, n)`` called after each image.

    Returns:
        (rows, recons): one dict of PSNR and SSIM per image (the reconstruction's and the task
        baseline's), and a tensor ``(n, 3, C, H, W)`` of (ground truth, baseline,
        reconstruction) for every image (LPIPS is scored from it; figures take the first
        ``evaluation.keep``).
    """
    op = build_operator(options["task_options"], images.shape[-1])
    sigma_y = float(options["task_options"]["sigma_y"])
    solve = make_solver(prior, cell, options, device, sigma_y, op)
    rows, recons = [], []
    for i in range(images.shape[0]):
        seed = grid.measurement_seed(options["data_seed"], cell["dataset"], cell["task"], i)
        row, recon = _one_image(solve, op, images[i : i + 1].to(device), sigma_y, seed)
        rows.append({"image": i, **row})
        recons.append(recon)
        if progress:
            progress(i + 1, images.shape[0])
    shape = (0, 3) + tuple(images.shape[1:])
    return rows, (torch.stack(recons) if recons else torch.empty(shape))
