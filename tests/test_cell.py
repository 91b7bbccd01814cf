"""One grid cell against the engine's pieces put together by hand: the cell's outputs are the
bytes of measuring with the paired seed, building the scheme's denoiser and calling the
solver, so a refactor of the cell's plumbing cannot change a number unnoticed."""

import pytest
import torch

from patchcore.experiments import grid
from patchcore.experiments.cell import build_operator, clip_image, run_cell
from patchcore.inverse import patches, schedules, solvers


class ToyPrior:
    """Nonlinear, sigma- and position-dependent; wants coordinates like a PaDIS prior."""

    coord_channels = 2
    coord_pad = 4

    def __call__(self, x, sigma, coords=None):
        s = sigma.reshape(-1, 1, 1, 1)
        return torch.tanh(x) / (1 + s**2) + 0.1 * x.mean(dim=(1, 2, 3), keepdim=True) + 0.05 * coords[:, :1]


SOLVERS = {
    "dps": {"nfe": 3, "zeta": 0.3, "sigma_min": 0.01, "sigma_max": 1.0, "rho": 7},
    "diffpir": {"nfe": 3, "lambda": 7.0, "zeta": 0.3, "sigma_min": 0.01, "sigma_max": 1.0, "rho": 7},
    "padis-init": {"algorithm": "padis", "init": "baseline", "levels": 2, "inner": 2, "zeta": 1.0, "eps": 0.5,
                   "sigma_min": 0.01, "sigma_max": 0.3, "rho": 7},
    "admm_tv": {"lam": 1e-3, "iters": 3, "tv_iters": 5},
}


def by_hand(prior, images, cell, options):
    """The cell written out from the engine's primitives, without the cell module's helpers."""
    op = build_operator(options["task_options"], images.shape[-1])
    sigma_y = options["task_options"]["sigma_y"]
    entry = dict(options["solver_options"])
    algorithm = entry.pop("algorithm", cell["solver"])
    if algorithm == "admm_tv":
        sigmas, params = None, entry
    else:
        count = "levels" if algorithm == "padis" else "nfe"
        spacing = schedules.quad_sigmas if algorithm == "diffpir" else schedules.karras_sigmas
        sigmas = spacing(entry[count], entry["sigma_min"], entry["sigma_max"], entry["rho"])
        params = {k: v for k, v in entry.items() if k not in schedules.SCHEDULE_KEYS}
    g = torch.Generator().manual_seed(options["seed"])
    micro, infer = options["evaluation"]["micro_batch"], cell["infer"]
    if infer.startswith("avg"):
        den = patches.PatchAveragingDenoiser(prior, patch=int(infer[3:]), micro_batch=micro)
    elif infer.startswith("stitch"):
        den = patches.StitchingDenoiser(prior, int(infer[6:]), cell["pad"], g, micro)
    else:
        den = patches.ShiftedGridDenoiser(prior, infer if infer == "full" else int(infer), cell["pad"], g, micro)
    out = []
    for i in range(images.shape[0]):
        gt = images[i : i + 1]
        seed = grid.measurement_seed(options["data_seed"], cell["dataset"], cell["task"], i)
        y = op.A(gt) + sigma_y * torch.randn(op.A(gt).shape, generator=torch.Generator().manual_seed(seed))
        x = solvers.SOLVERS[algorithm](den if prior else None, y, op, sigmas, generator=g, sigma_y=sigma_y, **params)
        out.append(torch.stack([gt[0], clip_image(op.baseline(y))[0], clip_image(x)[0]]))
    return torch.stack(out)


SCHEMES = [("full", "zero"), ("8", "reflect"), ("8", "zero"), ("avg8", "zero"), ("stitch8", "reflect")]
CASES = [(s, i, p) for s in sorted(SOLVERS) for i, p in SCHEMES if s != "admm_tv" or i == "full"]


@pytest.mark.parametrize("solver,infer,pad", CASES)
def test_cell_equals_the_pieces_by_hand(solver, infer, pad):
    prior = None if solver == "admm_tv" else ToyPrior()
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    cell = {"dataset": "knee", "task": "sr2", "solver": solver, "prior": "p", "infer": infer, "pad": pad}
    options = {"seed": 5, "data_seed": 0, "task_options": {"operator": "sr2", "sigma_y": 0.01},
               "solver_options": SOLVERS[solver], "evaluation": {"micro_batch": 3}}
    rows, recons = run_cell(prior, images, cell, options)
    assert torch.equal(recons, by_hand(prior, images, cell, options))
    again = run_cell(prior, images, cell, options)
    assert again[0] == rows and torch.equal(again[1], recons)
    assert [r["image"] for r in rows] == [0, 1] and all(r["psnr"] > 0 for r in rows)


def test_cells_of_a_task_share_their_measurements():
    """Every cell of a (dataset, task) scores the same baseline: the comparison is paired."""
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    base = {"dataset": "knee", "task": "sr2", "prior": "p", "pad": "zero"}
    opts = {"data_seed": 0, "task_options": {"operator": "sr2", "sigma_y": 0.01}, "evaluation": {"micro_batch": None}}
    a = run_cell(ToyPrior(), images, {**base, "solver": "dps", "infer": "8"},
                 {**opts, "seed": 1, "solver_options": SOLVERS["dps"]})[1]
    b = run_cell(None, images, {**base, "solver": "admm_tv", "infer": "full"},
                 {**opts, "seed": 2, "solver_options": SOLVERS["admm_tv"]})[1]
    assert torch.equal(a[:, :2], b[:, :2]) and not torch.equal(a[:, 2], b[:, 2])


def test_a_classical_solver_refuses_schedule_keys():
    with pytest.raises(KeyError, match="solvers.admm_tv: this solver takes no noise schedule"):
        solvers.solver_schedule("admm_tv", {"nfe": 1, "sigma_min": 1.0, "lam": 1e-3})
    assert solvers.solver_nfe("admm_tv", {"lam": 1e-3}) == 0


def test_every_solver_declares_its_schedule():
    for name, fn in solvers.SOLVERS.items():
        assert hasattr(fn, "schedule"), name
    assert solvers.solver_nfe("padis-init", SOLVERS["padis-init"]) == 4
    assert solvers.solver_nfe("diffpir", SOLVERS["diffpir"]) == 3
    source = open(schedules.__file__).read()
    assert not any(f'"{name}"' in source for name in solvers.SOLVERS), "schedules must not know solver names"
