"""Classical (untrained) reconstruction methods with the common solver signature.

``admm_tv`` is the ADMM-TV row of the PaDIS table (Hu et al. 2024): it ignores the denoiser
and the noise levels, and is registered in :data:`patchcore.inverse.solvers.SOLVERS` so the grid runs
it like any other solver (with the prior ``none``).
"""

from typing import Callable, Optional

import torch
from deepinv.optim import TVPrior

from patchcore.inverse.operators import Operator


def tv_objective(x: torch.Tensor, y: torch.Tensor, op: Operator, lam: float) -> torch.Tensor:
    """``0.5 ||A x - y||^2 + lam ||D x||_{1,2}`` per image, a ``(B,)`` tensor.

    ``D`` is deepinv's forward-difference gradient, ``||.||_{1,2}`` the isotropic TV.
    """
    data = 0.5 * ((op.A(x) - y) ** 2).flatten(1).sum(1)
    return data + float(lam) * TVPrior().fn(x)


def _admm_weights(lam, penalty, iters, init):
    """``(lam, penalty)`` as floats (penalty defaults to ``10 * lam``), after checking the options."""
    lam = float(lam)
    penalty = float(penalty) if penalty is not None else 10.0 * lam
    if lam <= 0 or penalty <= 0 or int(iters) < 1:
        raise ValueError(f"admm_tv: need lam > 0, penalty > 0, iters >= 1; got {lam}, {penalty}, {iters}")
    if init not in ("baseline", "noise"):
        raise ValueError(f"admm_tv: init must be 'baseline' or 'noise', got {init!r}")
    return lam, penalty


@torch.no_grad()
def admm_tv(denoiser: None, y: torch.Tensor, op: Operator, sigmas: None, *,
            generator: Optional[torch.Generator], sigma_y: float,
            callback: Optional[Callable[[dict], None]] = None, lam: float = 1e-3,
            penalty: Optional[float] = None, iters: int = 50, tv_iters: int = 200, init: str = "baseline"
    ) -> torch.Tensor:
    """ADMM for ``min_x 0.5 ||A x - y||^2 + lam TV(x)`` with the splitting ``x = z``.

    Scaled-form ADMM (Boyd et al. 2011, Sec. 3.1.1) from ``z = baseline(y)`` (``init='baseline'``)
    or ``z = 0.5`` (``init='noise'``; no noise is drawn, the method is deterministic), ``u = 0``:
    data step ``x = argmin 0.5||A x - y||^2 + penalty/2 ||x - (z - u)||^2`` (``op.prox``); TV step
    ``z = argmin lam TV(z) + penalty/2 ||z - (x + u)||^2`` (deepinv's Chambolle-Pock TV prox,
    ``gamma = lam / penalty``); dual step ``u += x - z``. ``denoiser``, ``sigmas``,
    ``generator`` and ``sigma_y`` are unused (common solver signature; no noise schedule).
    ``lam`` is the TV weight, ``penalty`` the ADMM penalty (default ``10 * lam``; not ``rho``,
    which in a solver entry is a schedule key), ``iters`` the ADMM and ``tv_iters`` each TV
    prox's iterations. ``callback`` gets ``{i, x, z, u, v, denoised, sigma}`` every iteration
    (``v = z - u``, the prox centre of ``x``; ``denoised`` is ``z``, ``sigma`` ``lam / penalty``).
    Returns ``z`` (the TV-regularised variable), ``(B, C, N, N)``, not clipped.
    """
    lam, penalty = _admm_weights(lam, penalty, iters, init)
    tv = TVPrior(def_crit=1e-6, n_it_max=int(tv_iters))  # fresh warm-start state per call
    z = op.baseline(y)
    if init == "noise":
        z = torch.full_like(z, 0.5)
    u = torch.zeros_like(z)
    for i in range(int(iters)):
        v = z - u
        # Data step: prox of the least-squares term around z - u.
        x = op.prox(v, y, penalty)
        # TV step: prox of (lam / penalty) TV around x + u.
        z = tv.prox(x + u, gamma=lam / penalty)
        # Dual ascent on the constraint x = z.
        u = u + x - z
        if callback is not None:
            callback({"i": i, "x": x, "z": z, "u": u, "v": v, "denoised": z, "sigma": lam / penalty})
    return z


admm_tv.schedule = None  # a classical method takes no noise schedule (patchcore.inverse.schedules.Need)
