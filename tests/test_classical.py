"""ADMM-TV (patchcore.inverse.classical): better than FBP on a piecewise-constant phantom, exact data step."""

import pytest
import torch

from patchcore.inverse import metrics
from patchcore.inverse.classical import admm_tv, tv_objective
from patchcore.inverse.operators import make_operator
from patchcore.inverse.solvers import SOLVERS

N = 32


def phantom(n=N):
    """Piecewise-constant ellipses in [0, 1], shape (1, 1, n, n)."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    x = torch.full((n, n), 0.1)
    x[(xx / 0.8) ** 2 + (yy / 0.6) ** 2 < 1] = 0.5
    x[((xx - 0.3) / 0.2) ** 2 + (yy / 0.25) ** 2 < 1] = 0.8
    x[((xx + 0.3) / 0.15) ** 2 + ((yy + 0.1) / 0.3) ** 2 < 1] = 0.3
    return x[None, None].double()


@pytest.fixture(scope="module")
def ct20_problem():
    op = make_operator("ct20", N)
    x = phantom()
    y = op.measure(x, 0.002, torch.Generator().manual_seed(0))
    return op, x, y


def run(op, y, **kw):
    steps = []
    out = admm_tv(None, y, op, None, generator=None, sigma_y=0.002, callback=steps.append, **kw)
    return out, steps


def test_registered_as_solver():
    assert SOLVERS["admm_tv"] is admm_tv


def test_beats_fbp_on_piecewise_constant_phantom(ct20_problem):
    op, x, y = ct20_problem
    out, _ = run(op, y, lam=1e-4, iters=20)
    fbp = op.baseline(y).clamp(0, 1)
    gain = metrics.psnr(out.clamp(0, 1), x) - metrics.psnr(fbp, x)
    assert gain > 3.0, f"ADMM-TV only {gain:.2f} dB above FBP"
    # The TV objective went down from the FBP starting point.
    assert tv_objective(out, y, op, 1e-4) < tv_objective(op.baseline(y), y, op, 1e-4)


def test_data_step_solves_its_normal_equations(ct20_problem):
    op, _, y = ct20_problem
    penalty = 1e-3
    _, steps = run(op, y, lam=1e-4, penalty=penalty, iters=3)
    for s in steps:
        # x = argmin 0.5||Ax - y||^2 + penalty/2 ||x - v||^2  <=>  A^T(Ax - y) + penalty (x - v) = 0.
        grad = op.A_adjoint(op.A(s["x"]) - y) + penalty * (s["x"] - s["v"])
        scale = op.A_adjoint(y).norm() + penalty * s["v"].norm()
        assert grad.norm() / scale < 1e-4
        # Scaled dual update: u_k - u_{k-1} = x_k - z_k.
    for a, b in zip(steps, steps[1:]):
        assert torch.allclose(b["u"] - a["u"], b["x"] - b["z"], atol=1e-10)


def test_stronger_tv_weight_gives_smaller_total_variation(ct20_problem):
    op, _, y = ct20_problem
    weak, _ = run(op, y, lam=1e-5, iters=10)
    strong, _ = run(op, y, lam=1e-3, iters=10)
    tv = lambda v: float(tv_objective(v, y, op, 1.0) - tv_objective(v, y, op, 0.0))
    assert tv(strong) < tv(weak)


def test_bad_parameters_raise(ct20_problem):
    op, _, y = ct20_problem
    with pytest.raises(ValueError, match="lam"):
        run(op, y, lam=0.0)
    with pytest.raises(ValueError, match="init"):
        run(op, y, init="zeros")
